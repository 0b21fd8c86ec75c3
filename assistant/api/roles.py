"""Who is asking: the acting user and role, declared in request headers.

There is no authentication yet: ``X-Rafiq-User`` names the user (recorded as the author of
each version) and ``X-Rafiq-Role`` (agent, supervisor, trainer) decides what the request may
do. They are declarations, not proofs; a deployment must put an authenticating proxy in front
until real auth lands. A request without a role gets ``RAFIQ_KB_DEFAULT_ROLE``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException, Request

from .deps import services

Role = Literal["agent", "supervisor", "trainer"]
ROLES: tuple[str, ...] = ("agent", "supervisor", "trainer")
USER_NAME = re.compile(r"^[\w.@+ -]{1,128}$")


@dataclass(frozen=True)
class Actor:
    user: str
    role: Role

    @property
    def curator(self) -> bool:
        """Trainers and supervisors see every status; agents see published content only."""
        return self.role in ("trainer", "supervisor")


def actor(request: Request) -> Actor:
    role = (request.headers.get("x-rafiq-role") or services(request).settings.kb_default_role).strip().lower()
    if role not in ROLES:
        raise HTTPException(400, {"code": "bad_role", "message": f"X-Rafiq-Role must be one of {', '.join(ROLES)}"})
    user = (request.headers.get("x-rafiq-user") or "").strip() or f"anonymous-{role}"
    if not USER_NAME.match(user):
        raise HTTPException(400, {"code": "bad_user", "message": "X-Rafiq-User: 1-128 letters, digits, . _ @ + - or spaces"})
    return Actor(user=user, role=role)  # type: ignore[arg-type]


def require_trainer(request: Request) -> Actor:
    """Writing the knowledge base (content, workflow, imports, gaps) is the trainers' job."""
    who = actor(request)
    if who.role != "trainer":
        raise HTTPException(403, {"code": "trainer_role_required",
                                  "message": f"this needs the trainer role; the request has {who.role!r}"})
    return who


def require_curator(request: Request) -> Actor:
    """Drafts, version history and knowledge gaps are for trainers and supervisors."""
    who = actor(request)
    if not who.curator:
        raise HTTPException(403, {"code": "curator_role_required",
                                  "message": f"this needs the trainer or supervisor role; the request has {who.role!r}"})
    return who
