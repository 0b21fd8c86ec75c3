"""The records of identity: users, API keys, who is acting (a ``Principal``), tenant settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

# People sign in with one or several of these; machines (API keys) hold "ingest".
HUMAN_ROLES: tuple[str, ...] = ("agent", "supervisor", "trainer", "admin")
ROLES: tuple[str, ...] = HUMAN_ROLES + ("ingest",)
NAME_PATTERN = r"^[A-Za-z0-9_.@+-]{1,64}$"  # usernames, tenants, teams: safe in URLs, logs and CSV
TENANT_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"

Role = Literal["agent", "supervisor", "trainer", "admin"]


class User(BaseModel):
    id: str
    username: str
    display_name: str
    roles: list[str]
    tenant: str
    team: str | None = None
    disabled: bool = False
    created_at: datetime
    updated_at: datetime


class ApiKey(BaseModel):
    id: str
    name: str
    tenant: str
    roles: list[str]
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class TenantSettings(BaseModel):
    tenant: str
    redact: list[str] = Field(description="kinds of personal data redacted from transcripts")
    retention_days: int = Field(ge=0, description="calls, events and suggestions kept this long; 0 = forever")


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a signed-in user (bearer token or session cookie) or an API key."""

    kind: Literal["user", "api_key", "internal"]
    id: str  # user id or API key id
    name: str  # username, or the key's name
    tenant: str
    roles: frozenset[str]
    team: str | None = None
    display_name: str = ""
    credential: str = ""  # the hash of the token or key used, to re-check it while a socket is open
    via: Literal["bearer", "cookie", "query", "api_key", "internal"] = "bearer"
    csrf: str = field(default="", repr=False)  # session cookies only: the token a changing request must echo

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))
