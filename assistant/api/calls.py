"""Calls: audio ingest and event WebSockets, call records, suggestion feedback."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from accounts import Principal
from assistant.events import OVERFLOW
from assistant.ingest import AudioInput, ProtocolError, parse_start
from assistant.retention import erase_calls
from assistant.sessions import CallError, CallRegistry

from .auth import Caller, credential_watch
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


def unknown_call(call_id: str) -> HTTPException:
    return HTTPException(404, {"code": "unknown_call", "message": f"no call {call_id!r}"})


def may_see(caller: Principal, call: dict) -> bool:
    """The role matrix's rows for one call: same tenant always; agents their own calls; a
    supervisor with a team that team's calls and the calls no agent has taken yet (a queue's,
    a PBX's before it names the agent), without a team every call of the tenant."""
    if call["tenant"] != caller.tenant:
        return False
    if caller.has("supervisor") and (caller.team is None or call.get("team") in (caller.team, None)):
        return True
    return caller.has("agent") and call.get("agent") == caller.name


async def visible_call(svc, caller: Principal, call_id: str) -> dict | None:
    session = svc.calls.live.get(call_id)
    if session is not None:
        call = {"tenant": session.tenant, "agent": session.agent, "team": session.team}
    else:
        call = await asyncio.to_thread(svc.records.get, call_id)
    return call if call is not None and may_see(caller, call) else None


@router.websocket("/v1/calls/{call_id}/audio")
async def ingest_audio(ws: WebSocket, call_id: str, caller: Caller) -> None:
    svc = services(ws)
    await ws.accept()
    try:
        start = parse_start(await _receive_start(ws, svc.settings.start_timeout_s), svc.settings.languages)
        if start.tenant is not None and start.tenant != caller.tenant:
            raise ProtocolError("wrong_tenant", "the start message names another tenant than the API key's")
        call = await svc.calls.open(call_id, caller.tenant, list(start.roles), start.language, agent=start.agent,
                                    campaign=start.campaign)
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
    async with credential_watch(ws, caller):
        reason, error = await _receive_audio(ws, svc, call, audio)
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


async def _receive_audio(ws: WebSocket, svc, call, audio: AudioInput) -> tuple[str, ProtocolError | None]:
    """Feed the call until stop, a drop or bad input: (end reason, the error to answer)."""
    call_id = call.call_id
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
    except (WebSocketDisconnect, RuntimeError):
        pass  # a drop, or the socket closed under us (its credential was revoked)
    return reason, error


@router.websocket("/v1/calls/{call_id}/events")
async def call_events(ws: WebSocket, call_id: str, caller: Caller) -> None:
    svc = services(ws)
    await ws.accept()
    queue = svc.bus.subscribe(call_id)
    try:
        if await visible_call(svc, caller, call_id) is None:
            await _send_error(ws, "unknown_call", f"no call {call_id!r}", 1008)
            return
        async with credential_watch(ws, caller):
            await _replay_then_follow(ws, svc, call_id, queue)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        svc.bus.unsubscribe(call_id, queue)


async def _replay_then_follow(ws: WebSocket, svc, call_id: str, queue: asyncio.Queue) -> None:
    # Subscribed before reading the history, so nothing falls between the two;
    # the live queue may repeat what the history holds, hence the seq check.
    history = await asyncio.to_thread(svc.records.events, call_id)
    last_seq = 0
    for event in history:
        await ws.send_text(json.dumps(event, ensure_ascii=False))
        last_seq = event["seq"]
    await _forward(ws, queue, after_seq=last_seq)


async def bus_messages(ws: WebSocket, queue: asyncio.Queue):
    """What the bus delivers on ``queue``, until the client goes. A subscriber that fell too far
    behind is closed 1013 (try again later): it reconnects and starts again from the record."""
    closer = asyncio.ensure_future(ws.receive())
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, closer}, return_when=asyncio.FIRST_COMPLETED)
            if closer in done:
                getter.cancel()
                if closer.result()["type"] == "websocket.disconnect":
                    return
                closer = asyncio.ensure_future(ws.receive())  # clients have nothing to say; ignore
                continue
            message = getter.result()
            if message is OVERFLOW:
                await ws.close(1013)
                return
            yield message
    finally:
        closer.cancel()


async def _forward(ws: WebSocket, queue: asyncio.Queue, after_seq: int | None = None) -> None:
    """Send what the bus delivers until the client goes; events numbered ``after_seq`` or lower
    were already sent."""
    async for event in bus_messages(ws, queue):
        if after_seq is not None and event["seq"] <= after_seq:
            continue
        await ws.send_text(json.dumps(event, ensure_ascii=False))


@router.websocket("/v1/agents/me/calls")
async def my_calls(ws: WebSocket, caller: Caller) -> None:
    """The signed-in agent's calls as they start and end, so their panel follows them: first
    ``{"type": "agent.calls", "live": [...]}``, then ``agent.call.started`` / ``agent.call.ended``."""
    svc = services(ws)
    await ws.accept()
    channel = CallRegistry.agent_channel(caller.tenant, caller.name)
    queue = svc.bus.subscribe(channel)
    try:
        live = svc.calls.live_calls_of(caller.tenant, caller.name)
        if svc.cluster is not None:  # their calls streaming on any node
            live = [{"call_id": call_id, "started_at": entry["started_at"]}
                    for call_id, entry in (await svc.cluster.live_calls()).items()
                    if entry["tenant"] == caller.tenant and entry.get("agent") == caller.name]
        await ws.send_text(json.dumps({"type": "agent.calls", "live": live}))
        async with credential_watch(ws, caller):
            await _forward(ws, queue)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        svc.bus.unsubscribe(channel, queue)


# GET /v1/calls (search, filters, pages) is in assistant/api/history.py.


@router.get("/v1/calls/{call_id}")
async def get_call(request: Request, call_id: str, caller: Caller) -> dict:
    svc = services(request)
    if await visible_call(svc, caller, call_id) is None:
        raise unknown_call(call_id)
    view = await svc.calls.call_view(call_id)
    if view is None:
        raise unknown_call(call_id)
    view["quality"] = await asyncio.to_thread(svc.quality.quality_of, call_id)  # analytics/quality.py; null until scored
    # summary, wrap-up, alerts and notes
    events = await asyncio.to_thread(svc.records.events, call_id)
    view = {**(await asyncio.to_thread(svc.post_call.view_fields, view, events)), **view}
    return view


@router.delete("/v1/calls/{call_id}", status_code=204)
async def erase_call(request: Request, call_id: str, caller: Caller) -> Response:
    """Erase a call and everything derived from it: its record, events, suggestions, feedback and
    the knowledge-gap questions it raised. A live call must end first."""
    svc = services(request)
    call = await asyncio.to_thread(svc.records.get, call_id)
    if call is None or call["tenant"] != caller.tenant:
        raise unknown_call(call_id)
    if call_id in svc.calls.live:
        raise HTTPException(409, {"code": "call_live", "message": "the call is live; erase it once it has ended"})
    counts = await asyncio.to_thread(erase_calls, svc, [call_id])
    log.info("call erased", extra={"call_id": call_id, "by": caller.name, **counts})
    return Response(status_code=204)


class AgentIn(BaseModel):
    agent: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.@+-]+$")


@router.put("/v1/calls/{call_id}/agent")
async def assign_agent(request: Request, call_id: str, body: AgentIn, caller: Caller) -> JSONResponse:
    """Give the call to an agent: from the PBX when its protocol carries no agent id (Asterisk
    AudioSocket: the dialplan names the agent for the call's UUID before ``AudioSocket()`` runs,
    answered 202 and applied when the call starts), or a transfer of a live or past call (200)."""
    svc = services(request)
    call = await asyncio.to_thread(svc.records.get, call_id)
    ours = call is not None and call["tenant"] == caller.tenant
    if not ours and body.agent is not None:
        # Not started yet — or another tenant's, answered alike so that nothing tells them apart
        # (a mapping for a call id that already exists elsewhere is never applied).
        try:
            svc.calls.expect_agent(call_id, caller.tenant, body.agent)
        except CallError as exc:
            raise HTTPException(422, {"code": exc.code, "message": exc.message}) from None
        return JSONResponse({"call_id": call_id, "agent": body.agent, "status": "pending"}, status_code=202)
    if not ours or (not caller.has("admin", "ingest") and not may_see(caller, call)):
        raise unknown_call(call_id)
    try:
        await svc.calls.assign_agent(call_id, body.agent)
    except CallError as exc:
        raise HTTPException(404, {"code": exc.code, "message": exc.message}) from None
    return JSONResponse(await asyncio.to_thread(svc.records.get, call_id))


class FeedbackIn(BaseModel):
    action: Literal["used", "edited", "dismissed"]
    text: str | None = Field(default=None, max_length=20_000)


@router.post("/v1/calls/{call_id}/suggestions/{suggestion_id}/feedback")
async def suggestion_feedback(request: Request, call_id: str, suggestion_id: str, body: FeedbackIn,
                              caller: Caller) -> dict:
    """What the agent did with a suggestion on their own call."""
    call = await visible_call(services(request), caller, call_id)
    if call is None or call.get("agent") != caller.name:
        raise unknown_call(call_id)
    try:
        return await services(request).calls.feedback(call_id, suggestion_id, body.action, body.text)
    except CallError as exc:
        raise HTTPException(404, {"code": exc.code, "message": exc.message}) from None
