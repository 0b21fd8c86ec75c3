"""The role matrix: for every HTTP route and WebSocket, who may call it and what the audit log
records. It is the one place access is decided; ``assistant`` applies it to every route and
refuses to start when a route has no rule here.

Roles (a user may hold several): ``agent`` (their own calls, knowledge-base answers),
``supervisor`` (every call of their tenant, or of their team when they have one), ``trainer``
(knowledge-base curation and gaps), ``admin`` (users, API keys, settings, audit, erasure), and
``ingest`` for machines (API keys) that stream audio. Rows of other tenants are never visible:
the routes look them up within the caller's tenant, so they answer 404 as for a missing id.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """``roles``: who may (empty = anyone signed in); ``public``: no credentials at all;
    ``platform``: a telephony platform, authenticated by that platform's own scheme;
    ``page``: a web page, which sends a browser without a session to the sign-in page;
    ``audit``: the action recorded in the audit log for each call of the route."""

    roles: frozenset[str] = frozenset()
    public: bool = False
    platform: bool = False
    page: bool = False
    audit: str | None = None

    def allows(self, roles: frozenset[str]) -> bool:
        return not self.roles or bool(self.roles & roles)


def _r(*roles: str, audit: str | None = None) -> Rule:
    return Rule(roles=frozenset(roles), audit=audit)


PUBLIC = Rule(public=True)
PLATFORM = Rule(platform=True)
SIGNED_IN = Rule()
PAGE = Rule(page=True)
CALL_READERS = ("agent", "supervisor")  # agents: their own calls only (checked by the route)
KB_READERS = ("agent", "supervisor", "trainer")
CURATORS = ("trainer", "supervisor")

# (method, path template) → rule. "WS" is a WebSocket.
RULES: dict[tuple[str, str], Rule] = {
    # health, sign-in, the API description
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    # Prometheus: no user credential; the route asks for RAFIQ_METRICS_TOKEN (a scrape token) when set
    ("GET", "/metrics"): PUBLIC,  # load balancers and Kubernetes probes: says ready or why not, nothing else
    ("GET", "/openapi.json"): PUBLIC,
    ("POST", "/v1/auth/token"): PUBLIC,  # audited by the route: success and failure
    ("POST", "/v1/auth/login"): PUBLIC,
    ("POST", "/v1/auth/logout"): SIGNED_IN,
    ("GET", "/v1/me"): SIGNED_IN,
    ("POST", "/v1/redact"): SIGNED_IN,
    # analytics: sentiment of any texts (chat logs, quality reviews); people only, not ingest keys
    ("POST", "/v1/analytics/sentiment"): _r("agent", "supervisor", "trainer", "admin"),
    ("GET", "/v1/metrics"): _r("supervisor", "admin"),
    # web pages (the data they show comes through the API, under the rules below)
    ("GET", "/"): PAGE,
    ("GET", "/trainer"): PAGE,
    ("GET", "/admin"): PAGE,
    ("GET", "/checklists"): PAGE,
    ("GET", "/supervisor"): PAGE,
    ("GET", "/supervisor/alerts"): PAGE,
    ("GET", "/supervisor/analytics"): PAGE,
    ("GET", "/login"): Rule(public=True),
    ("GET", "/supervisor/calls"): PAGE,
    ("GET", "/supervisor/calls/{call_id}"): PAGE,
    # calls
    ("WS", "/v1/calls/{call_id}/audio"): _r("ingest"),
    ("WS", "/v1/calls/{call_id}/events"): _r(*CALL_READERS, audit="call.open"),
    ("WS", "/v1/agents/me/calls"): _r("agent"),
    ("GET", "/v1/calls"): _r(*CALL_READERS),
    ("GET", "/v1/calls/{call_id}"): _r(*CALL_READERS, audit="call.open"),
    ("DELETE", "/v1/calls/{call_id}"): _r("admin", audit="call.erase"),
    ("PUT", "/v1/calls/{call_id}/agent"): _r("supervisor", "admin", "ingest", audit="call.assign"),
    ("POST", "/v1/calls/{call_id}/suggestions/{suggestion_id}/feedback"): _r("agent"),
    ("GET", "/v1/calls/{call_id}/answers"): _r(*CALL_READERS),  # a typed search, the call's campaign
    ("POST", "/v1/demo/calls"): _r("agent"),
    # the supervisors' live floor, alerts and notes (rows scoped by the route: tenant or team)
    ("WS", "/v1/floor"): _r("supervisor", "admin"),
    ("POST", "/v1/calls/{call_id}/notes"): _r("supervisor", audit="call.note"),
    ("POST", "/v1/calls/{call_id}/alerts/{alert_id}/ack"): _r("supervisor", audit="call.alert.ack"),
    ("GET", "/v1/alert-rules"): _r("supervisor", "admin"),
    ("POST", "/v1/alert-rules"): _r("supervisor", audit="alert_rule.create"),
    ("PATCH", "/v1/alert-rules/{rule_id}"): _r("supervisor", audit="alert_rule.update"),
    ("DELETE", "/v1/alert-rules/{rule_id}"): _r("supervisor", audit="alert_rule.delete"),
    # call history, post-call summary and wrap-up (agents: their own calls, checked by the routes)
    ("GET", "/v1/calls/export"): _r(*CALL_READERS, audit="calls.export"),
    ("PUT", "/v1/calls/{call_id}/wrap_up"): _r(*CALL_READERS, audit="call.wrap_up"),
    ("GET", "/v1/wrap-up-codes"): _r(*CALL_READERS, "admin"),
    ("PUT", "/v1/wrap-up-codes"): _r("supervisor", "admin", audit="wrap_up_codes.update"),
    # telephony ingress: each platform signs its own connections
    ("WS", "/v1/ingest/twilio"): PLATFORM,
    ("WS", "/v1/ingest/audiohook"): PLATFORM,
    ("WS", "/v1/ingest/freeswitch"): PLATFORM,
    ("GET", "/v1/telephony/ingress"): _r("admin"),  # which ingresses are open without authentication
    # knowledge base: agents read published answers, trainers write, supervisors review
    ("GET", "/v1/kb/articles"): _r(*KB_READERS),
    ("POST", "/v1/kb/articles"): _r("trainer", audit="kb.article.create"),
    ("GET", "/v1/kb/articles/{article_id}"): _r(*KB_READERS),
    ("PATCH", "/v1/kb/articles/{article_id}"): _r("trainer", audit="kb.article.edit"),
    ("POST", "/v1/kb/articles/{article_id}/submit"): _r("trainer", audit="kb.article.submit"),
    ("POST", "/v1/kb/articles/{article_id}/reject"): _r("trainer", audit="kb.article.reject"),
    ("POST", "/v1/kb/articles/{article_id}/publish"): _r("trainer", audit="kb.article.publish"),
    ("POST", "/v1/kb/articles/{article_id}/archive"): _r("trainer", audit="kb.article.archive"),
    ("POST", "/v1/kb/articles/{article_id}/restore"): _r("trainer", audit="kb.article.restore"),
    ("GET", "/v1/kb/articles/{article_id}/versions"): _r(*CURATORS),
    ("GET", "/v1/kb/articles/{article_id}/diff"): _r(*CURATORS),
    ("POST", "/v1/kb/articles/{article_id}/rollback"): _r("trainer", audit="kb.article.rollback"),
    ("GET", "/v1/kb/articles/{article_id}/translations"): _r(*KB_READERS),
    ("POST", "/v1/kb/articles/{article_id}/translations"): _r("trainer", audit="kb.article.translate"),
    ("GET", "/v1/kb/search"): _r(*KB_READERS),
    ("GET", "/v1/kb/answers"): _r(*KB_READERS),
    ("POST", "/v1/kb/import"): _r("trainer", audit="kb.import"),
    ("GET", "/v1/kb/imports/{import_id}"): _r(*CURATORS),
    ("GET", "/v1/kb/export"): _r(*CURATORS, audit="kb.export"),
    ("GET", "/v1/kb/gaps"): _r(*CURATORS),
    ("GET", "/v1/kb/gaps/{gap_id}"): _r(*CURATORS),
    ("POST", "/v1/kb/gaps/{gap_id}/dismiss"): _r("trainer", audit="kb.gap.dismiss"),
    ("POST", "/v1/kb/gaps/{gap_id}/reopen"): _r("trainer", audit="kb.gap.reopen"),
    ("POST", "/v1/kb/gaps/{gap_id}/draft"): _r("trainer", audit="kb.gap.draft"),
    # quality checklists / call scripts: trainers and supervisors write, agents read (their panel
    # draws the call's script); scores: the call's readers; overrides and aggregates: supervisors
    ("GET", "/v1/checklists"): _r(*KB_READERS),
    ("GET", "/v1/checklists/template"): _r(*CURATORS),
    ("POST", "/v1/checklists"): _r(*CURATORS, audit="checklist.create"),
    ("GET", "/v1/checklists/{checklist_id}"): _r(*KB_READERS),
    ("PUT", "/v1/checklists/{checklist_id}"): _r(*CURATORS, audit="checklist.update"),
    ("DELETE", "/v1/checklists/{checklist_id}"): _r(*CURATORS, audit="checklist.delete"),
    ("GET", "/v1/calls/{call_id}/quality"): _r(*CALL_READERS),
    ("PUT", "/v1/calls/{call_id}/quality/items/{item_id}"): _r("supervisor", audit="quality.override"),
    ("GET", "/v1/quality/agents"): _r("supervisor"),
    ("GET", "/v1/quality/campaigns"): _r("supervisor"),
    # the supervisors' dashboard (a supervisor with a team: that team's calls only, checked by the route)
    ("GET", "/v1/analytics/charts"): _r("supervisor"),
    ("GET", "/v1/analytics/charts/{name}"): _r("supervisor"),
    # administration of the tenant
    ("GET", "/v1/users"): _r("admin"),
    ("POST", "/v1/users"): _r("admin", audit="user.create"),
    ("GET", "/v1/users/{user_id}"): _r("admin"),
    ("PATCH", "/v1/users/{user_id}"): _r("admin", audit="user.update"),
    ("DELETE", "/v1/users/{user_id}"): _r("admin", audit="user.delete"),
    ("GET", "/v1/apikeys"): _r("admin"),
    ("POST", "/v1/apikeys"): _r("admin", audit="apikey.create"),
    ("DELETE", "/v1/apikeys/{key_id}"): _r("admin", audit="apikey.revoke"),
    ("GET", "/v1/settings"): _r("admin"),
    ("PUT", "/v1/settings"): _r("admin", audit="settings.update"),
    ("GET", "/v1/audit"): _r("admin"),
    ("GET", "/v1/audit/export"): _r("admin", audit="audit.export"),
    ("GET", "/v1/audit/verify"): _r("admin"),
}


def rule_for(method: str, path: str) -> Rule | None:
    return RULES.get((method, path))


def missing_rules(routes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (method, path) pairs that have no rule: the service refuses to start with any."""
    return [key for key in routes if key not in RULES]
