"""Telephony ingest WebSockets: each route hands its socket to that platform's protocol module."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from assistant.telephony import audiohook, freeswitch, twilio

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
