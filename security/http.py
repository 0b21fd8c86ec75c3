"""HTTP hygiene: security headers, request-body size limits, and (opt-in) CORS.

Both middlewares are pure ASGI (not ``BaseHTTPMiddleware``, which buffers streaming responses and
does not handle WebSockets), so they sit in front of WebSocket routes and ``StreamingResponse``
without changing them. Use them with ``app.add_middleware(...)``::

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=1 << 20, overrides={"/v1/kb/imports": 50 << 20})
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.hsts)
    if (kwargs := cors_middleware_kwargs(settings.cors_origins)) is not None:
        app.add_middleware(CORSMiddleware, **kwargs)

CORS is closed by default: without configured origins no CORS headers are sent at all, so browsers
refuse cross-origin reads. The Content-Security-Policy allows only same-origin scripts, styles,
images (plus ``data:`` URIs, used for the favicon), fonts and connections (``connect-src 'self'``
covers same-origin ``ws:``/``wss:`` in CSP Level 3 browsers); no inline scripts or style attributes.
FastAPI's Swagger/ReDoc pages need a CDN and inline script, so Rafiq disables them
(``docs_url=None``, ``redoc_url=None``); ``/openapi.json`` is plain JSON and unaffected.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "SECURITY_HEADERS",
    "HSTS_VALUE",
    "SecurityHeadersMiddleware",
    "BodySizeLimitMiddleware",
    "cors_middleware_kwargs",
]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("permissions-policy", "microphone=(), camera=(), geolocation=()"),
    ("cross-origin-opener-policy", "same-origin"),
)

HSTS_VALUE = "max-age=31536000"


class SecurityHeadersMiddleware:
    """Add the security headers to every HTTP response; WebSocket handshakes pass through untouched.

    A header the route already set is left as it is. ``Strict-Transport-Security`` is added when
    ``hsts`` is True (e.g. behind a TLS-terminating proxy) or when the request itself came over https.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        extra = list(SECURITY_HEADERS)
        if self.hsts or scope.get("scheme") == "https":
            extra.append(("strict-transport-security", HSTS_VALUE))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(name).lower() for name, _ in headers}
                for name, value in extra:
                    key = name.encode("latin-1")
                    if key not in present:
                        headers.append((key, value.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit.

    It is an ``HTTPException`` because FastAPI turns any other exception raised while it reads a
    body into a 400 and re-raises HTTPExceptions; whatever response the app then produces is
    replaced by the middleware's own 413.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=_detail(limit))


def _detail(limit: int) -> dict[str, str]:
    return {"code": "body_too_large", "message": f"request body exceeds the limit of {limit} bytes for this path"}


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps({"detail": _detail(limit)}).encode()
    await send({
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            # The rest of an oversized body is not worth reading: let the server drop the connection.
            (b"connection", b"close"),
        ],
    })
    await send({"type": "http.response.body", "body": body, "more_body": False})


class BodySizeLimitMiddleware:
    """Reject HTTP request bodies over ``max_bytes`` with 413 ``{"detail": {"code": "body_too_large", ...}}``.

    A declared ``Content-Length`` over the limit is refused before the app runs at all. A body with no
    (or a smaller) length, e.g. chunked transfer encoding, is counted as the app reads it; once it
    passes the limit the app's read fails and the client gets the 413 instead of the app's response
    (if the app had already started responding, the connection is cut instead). ``overrides`` maps a
    path prefix (matched on whole path segments, longest first) to its own limit. WebSocket and
    lifespan scopes pass through untouched.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, overrides: dict[str, int] | None = None) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.app = app
        self.max_bytes = int(max_bytes)
        self.overrides = sorted(
            ((prefix.rstrip("/") or "/", int(limit)) for prefix, limit in (overrides or {}).items()),
            key=lambda item: len(item[0]),
            reverse=True,
        )
        if any(limit < 0 for _, limit in self.overrides):
            raise ValueError("override limits must be >= 0")

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.overrides:
            if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, limit)
            return

        state: dict[str, Any] = {"received": 0, "exceeded": False, "started": False, "replaced": False}

        async def receive_limited() -> Message:
            if state["exceeded"]:
                raise _BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["exceeded"] = True
                    raise _BodyTooLarge(limit)
            return message

        async def send_guarded(message: Message) -> None:
            if state["replaced"]:
                return  # the app's own (error) response to the failed read is dropped
            if message["type"] == "http.response.start":
                if state["exceeded"]:
                    state["replaced"] = True
                    state["started"] = True
                    await _send_413(send, limit)
                    return
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, receive_limited, send_guarded)
        except Exception:
            if not state["exceeded"]:
                raise
            if not state["started"]:
                state["started"] = state["replaced"] = True
                await _send_413(send, limit)
            # Otherwise the response had already begun: returning without completing it makes the
            # server close the connection, which is all that can be done at that point.


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def cors_middleware_kwargs(origins: tuple[str, ...]) -> dict | None:
    """Keyword arguments for Starlette's ``CORSMiddleware`` when a deployment lists origins, else None.

    ``origins`` comes from ``RAFIQ_CORS_ORIGINS``. Credentials (cookies) are never allowed
    cross-origin; a cross-origin client sends its ``Authorization`` header explicitly.
    """
    cleaned = tuple(o.strip().rstrip("/") for o in origins if o and o.strip())
    if not cleaned:
        return None
    return {
        "allow_origins": list(cleaned),
        "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        "allow_headers": ["Authorization", "Content-Type", "Accept", "Accept-Language"],
        "allow_credentials": False,
        "max_age": 600,
    }
