"""Authentication and the role matrix on every route: who is calling (bearer token, API key,
session cookie, or ``?access_token=`` on WebSockets) and whether ``security.policy`` lets them.

``authorize`` is the application-wide dependency: it runs before every HTTP route and WebSocket,
applies the route's rule, checks the CSRF token of cookie-authenticated changes, and writes the
route's audit entry. Routes take the caller as ``caller: Caller`` (the same, cached, result).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, AsyncIterator

from fastapi import Depends, HTTPException
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketState

from accounts import Principal
from accounts.store import same_secret
from security.policy import Rule, rule_for

from .deps import services

log = logging.getLogger(__name__)

SESSION_COOKIE = "rafiq_session"
CSRF_COOKIE = "rafiq_csrf"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class AuthError(Exception):
    """Refused: 401 (who are you?) or 403 (you may not). Answered as JSON on HTTP, and as the
    WebSocket handshake's HTTP response on sockets."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse({"detail": {"code": self.code, "message": self.message}}, self.status, headers=headers)


async def auth_error_handler(conn: HTTPConnection, exc: AuthError):
    if isinstance(conn, WebSocket):
        await conn.send_denial_response(exc.response())
        return None
    return exc.response()


def route_key(conn: HTTPConnection) -> tuple[str, str]:
    route = conn.scope.get("route")
    path = getattr(route, "path", conn.url.path)
    if conn.scope["type"] == "websocket":
        return "WS", path
    method = conn.scope["method"]
    return ("GET" if method == "HEAD" else method), path


def presented_credential(conn: HTTPConnection) -> tuple[str, str] | None:
    """(secret, how it came) from the Authorization header, ``?access_token=`` (WebSockets) or the
    session cookie, in that order."""
    header = conn.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError(401, "unauthenticated", "Authorization must be 'Bearer <token or API key>'")
        return value.strip(), "bearer"
    if conn.scope["type"] == "websocket" and conn.query_params.get("access_token"):
        return conn.query_params["access_token"], "query"
    cookie = conn.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, "cookie"
    return None


async def identify(conn: HTTPConnection) -> Principal | None:
    """The caller, None when no credential was presented; ``AuthError`` for a bad one."""
    found = presented_credential(conn)
    if found is None:
        return None
    secret, via = found
    svc = services(conn)
    internal = svc.internal_credentials.get(secret)
    if internal is not None:
        return internal
    principal = await asyncio.to_thread(svc.accounts.resolve, secret, via)
    if principal is None:
        raise AuthError(401, "unauthenticated", "the token or API key is invalid, expired or revoked")
    return principal


def client_ip(conn: HTTPConnection) -> str | None:
    return conn.client.host if conn.client else None


def audit_target(conn: HTTPConnection) -> str | None:
    """What an action was done to: the id a route created (``set_audit_target``), else the ids in
    its path."""
    created = getattr(conn.state, "audit_target", None)
    return created or "/".join(str(v) for v in conn.path_params.values()) or None


def set_audit_target(conn: HTTPConnection, target: str) -> None:
    """A route that creates something names it for its audit entry."""
    conn.state.audit_target = target


async def record_audit(conn: HTTPConnection, principal: Principal | None, action: str, *, tenant: str | None = None,
                       outcome: str = "ok", target: str | None = None, detail: dict | None = None) -> None:
    svc = services(conn)
    tenant = tenant or (principal.tenant if principal else "default")
    actor = principal.name if principal else None
    detail = {"method": conn.scope.get("method", "WS"), "path": conn.url.path, **(detail or {})}
    await asyncio.to_thread(svc.audit.record, tenant, actor, action, target=target or audit_target(conn),
                            outcome=outcome, detail=detail, ip=client_ip(conn))


def _check_same_origin(conn: HTTPConnection) -> None:
    """A browser's cookie on a WebSocket from another site (cross-site WebSocket hijacking)."""
    origin = conn.headers.get("origin")
    host = conn.headers.get("host")
    if origin and host and origin.split("://", 1)[-1] != host:
        raise AuthError(403, "bad_origin", "a session cookie is only accepted from Rafiq's own pages")


async def authorize(conn: HTTPConnection) -> AsyncIterator[Principal | None]:
    method, path = route_key(conn)
    rule = rule_for(method, path)
    if rule is None:  # the start-up check makes this unreachable; refuse rather than allow
        raise AuthError(403, "no_rule", f"{method} {path} has no access rule")
    if rule.platform:
        yield None  # the telephony adapters authenticate their platform themselves
        return
    try:
        principal = await identify(conn)
    except AuthError:
        if not (rule.public or rule.page):
            raise
        principal = None
    conn.state.principal = principal
    if rule.public or rule.page:
        yield principal
        return
    if principal is None:
        raise AuthError(401, "unauthenticated", "sign in: send 'Authorization: Bearer <token>' "
                                                "(POST /v1/auth/token) or an API key")
    if not rule.allows(principal.roles):
        raise AuthError(403, "forbidden", f"this needs one of the roles {', '.join(sorted(rule.roles))}")
    if principal.via == "cookie":
        if conn.scope["type"] == "websocket":
            _check_same_origin(conn)
        elif method in UNSAFE_METHODS and not same_secret(conn.headers.get(CSRF_HEADER, ""), principal.csrf):
            raise AuthError(403, "csrf_failed", f"a change made with the session cookie needs the "
                                                f"{CSRF_HEADER} header (the {CSRF_COOKIE} cookie's value)")
    # A context manager, not ``async for`` over a generator: an exception the route raises is
    # thrown in here at the ``yield`` and must reach _audited's handler (an ``async for`` body
    # would not pass it on, and refusals went unaudited).
    async with _audited(conn, rule, principal):
        yield principal


@contextlib.asynccontextmanager
async def _audited(conn: HTTPConnection, rule: Rule, principal: Principal) -> AsyncIterator[None]:
    if rule.audit is None:
        yield
        return
    if conn.scope["type"] == "websocket":
        await record_audit(conn, principal, rule.audit)
        yield
        return
    try:
        yield
    except (HTTPException, AuthError) as exc:
        if isinstance(exc, AuthError):  # e.g. an admin creating a user in another tenant
            status, code = exc.status, exc.code
        else:
            status, code = exc.status_code, exc.detail.get("code") if isinstance(exc.detail, dict) else None
        await record_audit(conn, principal, rule.audit, outcome=f"refused:{status}",
                           detail={"code": code} if code else None)
        raise
    else:
        await record_audit(conn, principal, rule.audit)


# scope="function": the audit entry is written before the response leaves, so a client that reads
# the log right after its request sees it, and a crash cannot answer an action without its entry.
AUTHORIZE = Depends(authorize, scope="function")
Caller = Annotated[Principal, AUTHORIZE]


@contextlib.asynccontextmanager
async def credential_watch(ws: WebSocket, principal: Principal | None) -> AsyncIterator[None]:
    """While the socket is open, re-check its credential every ``RAFIQ_AUTH_RECHECK_S``: a revoked
    or expired token or key, or a disabled user, closes the socket (1008)."""
    if principal is None or principal.kind == "internal":
        yield
        return
    svc = services(ws)
    interval = svc.settings.auth_recheck_s

    async def watch() -> None:
        while True:
            await asyncio.sleep(interval)
            still = await asyncio.to_thread(svc.accounts.check_credential, principal.credential, principal.via)
            if still is None:
                log.info("credential revoked on an open socket", extra={"principal": principal.name,
                                                                      "path": ws.url.path})
                if ws.application_state == WebSocketState.CONNECTED:
                    with contextlib.suppress(RuntimeError):
                        await ws.close(1008, "credential revoked or expired")
                return

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        yield
    finally:
        watcher.cancel()
