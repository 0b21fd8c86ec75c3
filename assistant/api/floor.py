"""The supervisors' live floor (one WebSocket: a snapshot, then each change), their alert rules,
acknowledging alerts, and notes to an agent on a live call."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

from fastapi import APIRouter, HTTPException, Query, Request, Response, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field

from accounts import Principal
from analytics.alerts import KINDS, RuleError
from assistant.events import AlertAck, NoteEvent
from assistant.floor import floor_channel
from assistant.records import iso, utcnow

from .auth import Caller, credential_watch, set_audit_target
from .calls import bus_messages, may_see, unknown_call, visible_call
from .deps import services

log = logging.getLogger(__name__)
router = APIRouter(tags=["floor"])

CAMPAIGN_PATTERN = r"^[^\x00-\x1f]{1,64}$"


def sees_on_floor(caller: Principal, call: dict) -> bool:
    """A floor row is shown to whoever may open the call (``may_see``); an admin without the
    supervisor role sees the tenant's rows too (who is on a call, not what is said)."""
    return may_see(caller, call) or (caller.has("admin") and call["tenant"] == caller.tenant)


@router.websocket("/v1/floor")
async def live_floor(ws: WebSocket, caller: Caller) -> None:
    """``{"type": "floor.snapshot", "calls": [...]}``, then ``floor.call`` (a row changed or
    appeared) and ``floor.call.ended`` as they happen, for the caller's tenant (or team)."""
    svc = services(ws)
    await ws.accept()
    channel = floor_channel(caller.tenant)
    queue = svc.bus.subscribe(channel)
    try:
        rows = svc.floor.snapshot(caller.tenant, lambda call: sees_on_floor(caller, call))
        await ws.send_text(json.dumps({"type": "floor.snapshot", "calls": rows}, ensure_ascii=False))
        async with credential_watch(ws, caller):
            await _follow_floor(ws, caller, queue)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        svc.bus.unsubscribe(channel, queue)


async def _follow_floor(ws: WebSocket, caller: Principal, queue: asyncio.Queue) -> None:
    async for message in bus_messages(ws, queue):  # closed 1013 on overflow: the page takes a new snapshot
        row = message.get("call") or message
        if not sees_on_floor(caller, {"tenant": caller.tenant, "agent": row.get("agent"), "team": row.get("team")}):
            continue
        await ws.send_text(json.dumps(message, ensure_ascii=False))


# --- notes and acknowledgements ----------------------------------------------------------------

class NoteIn(BaseModel):
    # No NUL: PostgreSQL cannot store one in a text or JSON value.
    text: str = Field(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")


@router.post("/v1/calls/{call_id}/notes", status_code=201)
async def post_note(request: Request, call_id: str, body: NoteIn, caller: Caller) -> dict:
    """A note to the agent of a live call: a ``note`` event on its stream (recorded with the
    call), which the agent's panel shows at once."""
    svc = services(request)
    if await visible_call(svc, caller, call_id) is None:
        raise unknown_call(call_id)
    session = svc.calls.live.get(call_id)
    if session is None or session.finishing:
        raise HTTPException(409, {"code": "call_not_live", "message": "notes go to live calls; this one has ended"})
    text = body.text.strip()
    if not text:
        raise HTTPException(422, {"code": "empty_note", "message": "the note has no text"})
    note = NoteEvent(call_id=call_id, note_id=f"note-{uuid.uuid4().hex[:12]}", author=caller.name, text=text,
                     at=iso(utcnow()))
    set_audit_target(request, f"{call_id}/{note.note_id}")
    event = await svc.calls.emit(call_id, note.model_dump())
    log.info("note sent", extra={"call_id": call_id, "note_id": note.note_id, "by": caller.name})
    return event


@router.post("/v1/calls/{call_id}/alerts/{alert_id}/ack")
async def ack_alert(request: Request, call_id: str, alert_id: str, caller: Caller) -> dict:
    """A supervisor has seen the alert: an ``alert.ack`` event on the call's stream."""
    svc = services(request)
    if await visible_call(svc, caller, call_id) is None:
        raise unknown_call(call_id)
    events = await asyncio.to_thread(svc.records.events, call_id)
    if not any(e["type"] == "alert" and e.get("alert_id") == alert_id for e in events):
        raise HTTPException(404, {"code": "unknown_alert", "message": f"no alert {alert_id!r} in call {call_id!r}"})
    done = next((e for e in events if e["type"] == "alert.ack" and e.get("alert_id") == alert_id), None)
    if done is not None:
        raise HTTPException(409, {"code": "already_acknowledged",
                                  "message": f"{done['by']} acknowledged this alert at {done['at']}"})
    ack = AlertAck(call_id=call_id, alert_id=alert_id, by=caller.name, at=iso(utcnow()))
    set_audit_target(request, f"{call_id}/{alert_id}")
    return await svc.calls.emit_on_record(call_id, ack.model_dump())


# --- alert rules ---------------------------------------------------------------------------------

class RuleIn(BaseModel):
    kind: str = Field(description=f"one of {', '.join(KINDS)}")
    title: str = Field(min_length=1, max_length=200)
    campaign: str | None = Field(default=None, pattern=CAMPAIGN_PATTERN)
    params: dict
    enabled: bool = True


class RulePatch(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    campaign: str | None = Field(default=None, pattern=CAMPAIGN_PATTERN)
    params: dict | None = None
    enabled: bool | None = None


def _rule_error(exc: RuleError) -> HTTPException:
    return HTTPException(422, {"code": exc.code, "message": exc.message})


def _unknown_rule(rule_id: str) -> HTTPException:
    return HTTPException(404, {"code": "unknown_rule", "message": f"no alert rule {rule_id!r}"})


@router.get("/v1/alert-rules")
async def list_rules(request: Request, caller: Caller,
                     campaign: str | None = Query(None, pattern=CAMPAIGN_PATTERN)) -> dict:
    """The tenant's alert rules (a campaign's only, with ``campaign``)."""
    rules = await asyncio.to_thread(services(request).floor.rules.list, caller.tenant, campaign)
    return {"rules": [rule.as_dict() for rule in rules], "kinds": list(KINDS)}


@router.post("/v1/alert-rules", status_code=201)
async def create_rule(request: Request, body: RuleIn, caller: Caller) -> dict:
    svc = services(request)
    campaign = body.campaign.strip() if body.campaign else None
    try:
        rule = await asyncio.to_thread(svc.floor.rules.create, caller.tenant, body.kind, body.title, body.params,
                                       campaign=campaign or None, enabled=body.enabled, created_by=caller.name)
    except RuleError as exc:
        raise _rule_error(exc) from None
    set_audit_target(request, rule.rule_id)
    await svc.floor.rules_changed(caller.tenant)
    return rule.as_dict()


@router.patch("/v1/alert-rules/{rule_id}")
async def update_rule(request: Request, rule_id: str, body: RulePatch, caller: Caller) -> dict:
    svc = services(request)
    changes = body.model_dump(exclude_unset=True)
    if "campaign" in changes:
        changes["campaign"] = (changes["campaign"] or "").strip() or None
    for key in ("title", "params", "enabled"):
        if key in changes and changes[key] is None:
            raise HTTPException(422, {"code": "bad_" + key, "message": f"{key} cannot be null"})
    try:
        rule = await asyncio.to_thread(svc.floor.rules.update, caller.tenant, rule_id, changes)
    except RuleError as exc:
        raise _rule_error(exc) from None
    if rule is None:
        raise _unknown_rule(rule_id)
    await svc.floor.rules_changed(caller.tenant)
    return rule.as_dict()


@router.delete("/v1/alert-rules/{rule_id}", status_code=204)
async def delete_rule(request: Request, rule_id: str, caller: Caller) -> Response:
    svc = services(request)
    if not await asyncio.to_thread(svc.floor.rules.delete, caller.tenant, rule_id):
        raise _unknown_rule(rule_id)
    await svc.floor.rules_changed(caller.tenant)
    return Response(status_code=204)
