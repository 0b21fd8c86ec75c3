"""The curation workflow's rules: which status each action leads to, and from where.

    draft ──submit──▶ in_review ──publish──▶ published
      ▲                  │                      │
      └──────reject──────┘                      │
      ▲                                         │
      └── edit (of in_review or published) ─────┘   (the published version stays live)
    any but archived ──archive──▶ archived ──restore──▶ draft

Editing a published article does not take it away from agents: they keep the published
version until the edited one is reviewed and published in turn.
"""

from __future__ import annotations

from dataclasses import dataclass

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({"draft"}), "in_review"),
    "publish": (frozenset({"in_review"}), "published"),
    "reject": (frozenset({"in_review"}), "draft"),
    "archive": (frozenset({"draft", "in_review", "published"}), "archived"),
    "restore": (frozenset({"archived"}), "draft"),
}
# Past tense of each action, as recorded in the version history.
RECORDED_AS = {"submit": "submitted", "publish": "published", "reject": "rejected", "archive": "archived",
               "restore": "restored"}


@dataclass
class WorkflowError(Exception):
    """An action the article's status does not allow; ``code`` is the API's error code."""

    code: str
    message: str

    def __str__(self) -> str:
        return self.message


def next_status(action: str, current: str) -> str:
    if action not in TRANSITIONS:
        raise WorkflowError("unknown_action", f"no action {action!r}; one of {', '.join(TRANSITIONS)}")
    allowed_from, target = TRANSITIONS[action]
    if current not in allowed_from:
        raise WorkflowError("bad_transition",
                            f"cannot {action} an article that is {current} (only from {', '.join(sorted(allowed_from))})")
    return target


def status_after_edit(current: str) -> str:
    """A content change sends the article back to draft: what was reviewed is not what is there now."""
    if current == "archived":
        raise WorkflowError("archived", "an archived article cannot be edited; restore it first")
    return "draft"


def check_publishable(body: str, reply: str) -> None:
    if not body.strip() and not reply.strip():
        raise WorkflowError("incomplete_article", "an article needs a body or a short reply before review")
