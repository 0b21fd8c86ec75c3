"""The FastAPI application: wires speech, retrieval, knowledge base, accounts and call sessions
together, behind one access policy (``security.policy``) applied to every route."""

from __future__ import annotations

import asyncio
import hmac
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.requests import Request
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from fastapi.staticfiles import StaticFiles

from security.http import BodySizeLimitMiddleware, SecurityHeadersMiddleware, cors_middleware_kwargs
from security.policy import missing_rules
from ui import STATIC_DIR

from .api import accounts, analytics, assist, audit, calls, dashboard, demo, floor, gaps, history, kb, pages, privacy, quality, telephony
from .api.auth import AUTHORIZE, AuthError, Caller, auth_error_handler
from .config import Settings
from .logs import setup_logging
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .retention import purge_loop
from .services import Services, build_services
from .telephony.audiosocket import AudioSocketServer
from .users_cli import ensure_bootstrap_admin, ensure_demo_accounts, print_demo_passwords

log = logging.getLogger(__name__)


async def _start_audiosocket(svc: Services) -> AudioSocketServer | None:
    """The Asterisk AudioSocket TCP listener(s), unless RAFIQ_AUDIOSOCKET_PORT is 0."""
    settings = svc.settings
    if not settings.audiosocket_port:
        return None
    roles = list(settings.audiosocket_roles)
    if not roles or len(set(roles)) != len(roles) or not set(roles) <= {"customer", "agent"}:
        raise ValueError(f"RAFIQ_AUDIOSOCKET_ROLES must list customer and/or agent once each, not {roles}")
    server = AudioSocketServer(svc, settings.host, settings.audiosocket_port, roles)
    try:
        await server.start()
    except OSError as exc:
        # The HTTP API and the WebSocket ingests still work; the log says why AudioSocket does not.
        log.error("audiosocket port unavailable", extra={"port": settings.audiosocket_port, "error": str(exc)})
        await server.close()
        return None
    return server


def route_keys(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every HTTP route and WebSocket the application serves, included
    routers' routes with their full paths."""
    keys = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIWebSocketRoute):
            keys.append(("WS", context.path))
        elif isinstance(route, APIRoute):
            keys.extend((method, context.path) for method in sorted(context.methods - {"HEAD"}))
    return keys


def _first_accounts(svc: Services) -> None:
    settings = svc.settings
    ensure_bootstrap_admin(svc.accounts, settings.bootstrap_admin)
    if settings.demo_accounts:
        print_demo_passwords(ensure_demo_accounts(svc.accounts), f"http://{settings.host}:{settings.port}")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    setup_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.services = svc = await asyncio.to_thread(build_services, settings)
        await asyncio.to_thread(_first_accounts, svc)
        log.info("rafiq ready", extra={"host": settings.host, "port": settings.port,
                                       "max_calls": svc.calls.max_calls or "unlimited"})
        if svc.cluster is not None:
            await svc.cluster.start()
        audiosocket = await _start_audiosocket(svc)
        purger = asyncio.get_running_loop().create_task(purge_loop(svc))
        yield
        purger.cancel()
        if audiosocket is not None:
            await audiosocket.close()
        for session in list(svc.calls.live.values()):
            await session.finish("server_shutdown")
        await svc.floor.close()
        if svc.cluster is not None:
            await svc.cluster.stop()
        await svc.engine.close()
        svc.kb.index.close()

    # FastAPI's /docs pages load scripts from a CDN, which Rafiq never does: /openapi.json stays.
    app = FastAPI(title="Rafiq", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  summary="Real-time agent assist for multilingual call centres",
                  dependencies=[AUTHORIZE])
    # history before calls: its /v1/calls/export must win over /v1/calls/{call_id}.
    for module in (accounts, history, calls, assist, floor, kb, gaps, demo, telephony, privacy, audit, quality, analytics,
                   dashboard, pages):
        app.include_router(module.router)
    app.add_exception_handler(AuthError, auth_error_handler)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        """Ready for new calls: models loaded, database (and Redis in a cluster) reachable, not draining."""
        svc = getattr(app.state, "services", None)
        problems = [] if svc is not None else ["starting"]
        if svc is not None:
            if svc.calls.draining:
                problems.append("draining")
            if not await asyncio.to_thread(_database_reachable, svc):
                problems.append("database_unreachable")
            if svc.cluster is not None and not await svc.cluster.ready():
                problems.append("redis_unreachable")
        return JSONResponse({"status": "not_ready" if problems else "ready", "problems": problems},
                            status_code=503 if problems else 200)

    @app.get("/metrics", tags=["health"], response_class=Response)
    async def prometheus_metrics(request: Request) -> Response:
        """Prometheus text format. With RAFIQ_METRICS_TOKEN set, the scraper sends it as a bearer
        token; without, anyone who reaches the port reads it (keep it on an internal network)."""
        token = settings.metrics_token
        sent = request.headers.get("authorization", "")
        if token and not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return JSONResponse({"detail": {"code": "bad_metrics_token",
                                            "message": "send 'Authorization: Bearer <RAFIQ_METRICS_TOKEN>'"}},
                                status_code=401)
        svc = services_of(app)
        return Response(svc.metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/v1/metrics", tags=["health"])
    async def metrics(caller: Caller) -> dict:
        svc = services_of(app)
        finals, partials = svc.engine.pending()
        return {
            "live_calls": len(svc.calls.live),
            "asr_busy_seconds": round(svc.engine.busy_seconds, 3),
            "asr_audio_seconds": round(svc.engine.decoded_audio_seconds, 3),
            "asr_dropped_partials": svc.engine.dropped_partials,
            "asr_pending_finals": finals,
            "asr_pending_partials": partials,
        }

    unruled = missing_rules(route_keys(app))
    if unruled:  # a route nobody decided on is a hole: refuse to start
        raise RuntimeError(f"routes without an access rule in security/policy.py: {unruled}")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes,
                       overrides={"/v1/kb/import": settings.kb_import_max_bytes + (64 << 10)})
    cors = cors_middleware_kwargs(settings.cors_origins)
    if cors is not None:
        app.add_middleware(CORSMiddleware, **cors)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def _database_reachable(svc: Services) -> bool:
    try:
        with svc.records.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except Exception:
        return False


def services_of(app: FastAPI) -> Services:
    return app.state.services
