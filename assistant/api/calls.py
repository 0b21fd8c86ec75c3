"""Calls: audio ingest and event WebSockets, call records, suggestion feedback."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field

from assistant.events import OVERFLOW
from assistant.ingest import AudioInput, ProtocolError, parse_start
from assistant.sessions import CallError

from .deps import services

log = logging.getLogger(__name__)
router = APIRouter(tags=["calls"])


async def _send_error(ws: WebSocket, code: str, message: str, close_code: int) -> None:
    try:
        await ws.send_text(json.dumps({"type": "error", "code": code, "message": message}))
        await ws.close(close_code)
    except (RuntimeError, WebSocketDisconnect):
        pass  # the peer is already gone


async def _receive_start(ws: WebSocket, timeout: float) -> dict:
    try:
        message = await asyncio.wait_for(ws.receive(), timeout)
    except asyncio.TimeoutError:
        raise ProtocolError("start_timeout", f"no start message within {timeout:g} s") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    if message.get("text") is None:
        raise ProtocolError("expected_start", "audio arrived before the start message")
    return _parse_json(message["text"])


def _parse_json(text: str) -> dict:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError("bad_json", f"text frame is not JSON: {exc.msg}", close_code=1003) from None
    if not isinstance(payload, dict):
        raise ProtocolError("bad_json", "text frame must be a JSON object", close_code=1003)
    return payload


@router.websocket("/v1/calls/{call_id}/audio")
async def ingest_audio(ws: WebSocket, call_id: str) -> None:
    svc = services(ws)
    await ws.accept()
    try:
        start = parse_start(await _receive_start(ws, svc.settings.start_timeout_s), svc.settings.languages)
        call = await svc.calls.open(call_id, start.tenant, list(start.roles), start.language)
    except ProtocolError as exc:
        log.info("ingest refused", extra={"call_id": call_id, "code": exc.code, "detail": exc.message})
        await _send_error(ws, exc.code, exc.message, exc.close_code)
        return
    except CallError as exc:
        log.info("ingest refused", extra={"call_id": call_id, "code": exc.code, "detail": exc.message})
        await _send_error(ws, exc.code, exc.message, exc.close_code)
        return
    except WebSocketDisconnect:
        return

    audio = AudioInput.for_start(start)
    reason, error = "disconnected", None
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes")
            if data is not None:
                if len(data) > svc.settings.max_frame_bytes:
                    raise ProtocolError("frame_too_large",
                                        f"binary frames are limited to {svc.settings.max_frame_bytes} bytes")
                call.feed(audio.push(data))
                continue
            payload = _parse_json(message.get("text") or "")
            kind = payload.get("type")
            if kind == "stop":
                reason = "stop"
                break
            if kind == "start":
                raise ProtocolError("unexpected_start", "the call has already started")
            raise ProtocolError("unknown_message", f"unknown message type {kind!r}")
    except ProtocolError as exc:
        reason, error = f"error:{exc.code}", exc
        log.info("ingest error", extra={"call_id": call_id, "code": exc.code, "detail": exc.message})
    except WebSocketDisconnect:
        pass
    # Whatever happened, audio already accepted is transcribed and recorded.
    call.feed(audio.flush())
    # The native protocol's rule: the call ends with its connection (a drop too, as "disconnected").
    await call.end(reason)
    if error is not None:
        await _send_error(ws, error.code, error.message, error.close_code)
    elif reason == "stop":
        try:
            await ws.close(1000)
        except RuntimeError:
            pass


@router.websocket("/v1/calls/{call_id}/events")
async def call_events(ws: WebSocket, call_id: str) -> None:
    svc = services(ws)
    await ws.accept()
    queue = svc.bus.subscribe(call_id)
    try:
        if call_id not in svc.calls.live and await asyncio.to_thread(svc.records.get, call_id) is None:
            await _send_error(ws, "unknown_call", f"no call {call_id!r}", 1008)
            return
        # Subscribed before reading the history, so nothing falls between the two;
        # the live queue may repeat what the history holds, hence the seq check.
        history = await asyncio.to_thread(svc.records.events, call_id)
        last_seq = 0
        for event in history:
            await ws.send_text(json.dumps(event, ensure_ascii=False))
            last_seq = event["seq"]
        closer = asyncio.ensure_future(ws.receive())
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, closer}, return_when=asyncio.FIRST_COMPLETED)
            if closer in done:
                getter.cancel()
                message = closer.result()
                if message["type"] == "websocket.disconnect":
                    return
                closer = asyncio.ensure_future(ws.receive())  # clients have nothing to say; ignore
                continue
            event = getter.result()
            if event is OVERFLOW:
                await ws.close(1013)  # try again later: the client reconnects and is replayed
                return
            if event["seq"] <= last_seq:
                continue
            await ws.send_text(json.dumps(event, ensure_ascii=False))
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        svc.bus.unsubscribe(call_id, queue)


@router.get("/v1/calls")
async def list_calls(request: Request, limit: int = 100) -> dict:
    svc = services(request)
    return {"calls": await asyncio.to_thread(svc.records.list, max(1, min(limit, 1000)))}


@router.get("/v1/calls/{call_id}")
async def get_call(request: Request, call_id: str) -> dict:
    view = await services(request).calls.call_view(call_id)
    if view is None:
        raise HTTPException(404, {"code": "unknown_call", "message": f"no call {call_id!r}"})
    return view


class FeedbackIn(BaseModel):
    action: Literal["used", "edited", "dismissed"]
    text: str | None = Field(default=None, max_length=20_000)


@router.post("/v1/calls/{call_id}/suggestions/{suggestion_id}/feedback")
async def suggestion_feedback(request: Request, call_id: str, suggestion_id: str, body: FeedbackIn) -> dict:
    try:
        return await services(request).calls.feedback(call_id, suggestion_id, body.action, body.text)
    except CallError as exc:
        raise HTTPException(404, {"code": exc.code, "message": exc.message}) from None
