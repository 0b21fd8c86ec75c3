"""Telephony ingest WebSockets: each route hands its socket to that platform's protocol module;
and the admin's view of how each ingress is authenticated."""

from __future__ import annotations

from fastapi import APIRouter, Request, WebSocket

from assistant.telephony import audiohook, freeswitch, twilio

from .auth import Caller
from .deps import services

router = APIRouter(tags=["telephony"])


@router.websocket("/v1/ingest/twilio")
async def twilio_media_stream(ws: WebSocket) -> None:
    await twilio.handle(ws, services(ws))


@router.websocket("/v1/ingest/audiohook")
async def genesys_audiohook(ws: WebSocket) -> None:
    await audiohook.handle(ws, services(ws))


@router.websocket("/v1/ingest/freeswitch")
async def freeswitch_audio_fork(ws: WebSocket) -> None:
    await freeswitch.handle(ws, services(ws))


@router.get("/v1/telephony/ingress")
async def telephony_ingress(request: Request, caller: Caller) -> dict:
    """Each telephony ingress of this server and how it authenticates its connections; ``open``
    lists those that accept anyone who knows the address (no credential configured).
    ``bound_here``: some credential of it puts its calls in the caller's tenant (other tenants'
    names are never shown)."""
    ingress = services(request).ingress
    rows = [{"ingress": row["ingress"], "path": row["path"], "authenticated": row["authenticated"],
             "method": row["method"], "bound_here": caller.tenant in row["bound_tenants"]}
            for row in (ingress.ingresses() if ingress is not None else [])]
    return {"ingresses": rows, "open": [row["ingress"] for row in rows if not row["authenticated"]]}
