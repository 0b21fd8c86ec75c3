"""Call history: the searchable, filtered list of calls (``GET /v1/calls``), its CSV and JSON
Lines export, the wrap-up of a call and the tenant's wrap-up codes."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from typing import Any, Iterator

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from accounts import Principal
from analytics.history import EXPORT_COLUMNS, BadQuery, Filters, Scope, parse_moment
from analytics.wrapup import BadCodes

from ..records import PLATFORM_COLUMNS, utcnow
from .auth import Caller
from .calls import may_see
from .deps import services

log = logging.getLogger(__name__)
router = APIRouter(tags=["history"])

FILTERS = ("q", "from", "to", "agent", "team", "campaign", "language", "sentiment", "min_duration", "wrap_up",
           "has_alert", "suggestion_used", *PLATFORM_COLUMNS)
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def _bad(code: str, message: str) -> HTTPException:
    return HTTPException(422, {"code": code, "message": message})


def _flag(params, name: str) -> bool | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise _bad("bad_parameter", f"{name} must be true or false, not {value!r}")


def _filters(request: Request, allowed: tuple[str, ...]) -> Filters:
    params = request.query_params
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise _bad("unknown_parameter", f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(allowed)}")
    for name in params:
        if len(params.getlist(name)) > 1:
            raise _bad("bad_parameter", f"{name} is given more than once")
        if len(params[name]) > 500:
            raise _bad("bad_parameter", f"{name} is longer than 500 characters")

    def text(name: str) -> str | None:
        value = (params.get(name) or "").strip()
        return value or None

    min_duration = text("min_duration")
    try:
        seconds = float(min_duration) if min_duration is not None else None
    except ValueError:
        raise _bad("bad_parameter", f"min_duration must be a number of seconds, not {min_duration!r}") from None
    if seconds is not None and not 0 <= seconds < 1e7:
        raise _bad("bad_parameter", "min_duration must be between 0 and 10,000,000 seconds")
    try:
        return Filters(q=text("q"), since=parse_moment(text("from"), "from"),
                       until=parse_moment(text("to"), "to", end_of_day=True), agent=text("agent"), team=text("team"),
                       campaign=text("campaign"), language=(text("language") or "").lower() or None,
                       sentiment=text("sentiment"), min_duration=seconds, wrap_up=text("wrap_up"),
                       has_alert=_flag(params, "has_alert"), suggestion_used=_flag(params, "suggestion_used"),
                       exact={name: text(name) for name in PLATFORM_COLUMNS if text(name) is not None})
    except BadQuery as exc:
        raise _bad(exc.code, exc.message) from None


def scope_of(caller: Principal) -> Scope:
    """The role matrix's rows for the history: a supervisor's tenant (or team); an agent's own calls."""
    if caller.has("supervisor"):
        return Scope(caller.tenant, team=caller.team)
    return Scope(caller.tenant, agent=caller.name)


def _limit(request: Request, default: int, maximum: int) -> int:
    value = request.query_params.get("limit")
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise _bad("bad_parameter", f"limit must be a whole number from 1 to {maximum}")
    return int(value)


@router.get("/v1/calls")
async def list_calls(request: Request, caller: Caller) -> dict:
    """Newest first, filtered and searched: an agent's own calls; a supervisor's tenant (or team).
    ``next_cursor`` fetches the next page (null on the last)."""
    svc = services(request)
    filters = _filters(request, FILTERS + ("limit", "cursor"))
    limit = _limit(request, 100, 1000)
    try:
        calls, cursor = await asyncio.to_thread(svc.history.page, scope_of(caller), filters, limit,
                                                request.query_params.get("cursor") or None)
    except BadQuery as exc:
        raise _bad(exc.code, exc.message) from None
    if svc.cluster is not None:  # the records are the cluster's; say which node streams each live call
        owners = await svc.cluster.live_calls()
        for call in calls:
            if call["status"] == "live" and call["call_id"] in owners:
                call["node"] = owners[call["call_id"]]["node"]
    return {"calls": calls, "next_cursor": cursor}


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def _export_lines(rows: Iterator[dict[str, Any]], fmt: str) -> Iterator[str]:
    if fmt == "jsonl":
        for row in rows:
            yield json.dumps(row, ensure_ascii=False) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    yield "\ufeff" + buffer.getvalue()  # a BOM, so spreadsheet programs read Arabic text as UTF-8
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_csv_cell(row.get(column)) for column in EXPORT_COLUMNS])
        yield buffer.getvalue()


@router.get("/v1/calls/export")
async def export_calls(request: Request, caller: Caller) -> StreamingResponse:
    """The filtered list (same parameters as ``GET /v1/calls``), every page, as CSV or JSON Lines."""
    svc = services(request)
    fmt = request.query_params.get("format", "csv")
    if fmt not in ("csv", "jsonl"):
        raise _bad("bad_format", "format must be csv or jsonl")
    filters = _filters(request, FILTERS + ("format",))
    # The first page is read here so a bad filter is a 422, not a broken download.
    scope = scope_of(caller)
    try:
        first, cursor = await asyncio.to_thread(svc.history.page, scope, filters, 500, None)
    except BadQuery as exc:
        raise _bad(exc.code, exc.message) from None

    def rows() -> Iterator[dict[str, Any]]:
        yield from first
        if cursor is not None:
            next_cursor = cursor
            while next_cursor is not None:
                page, next_cursor = svc.history.page(scope, filters, 500, next_cursor)
                yield from page

    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson; charset=utf-8"
    log.info("calls exported", extra={"by": caller.name, "format": fmt})
    return StreamingResponse(_export_lines(rows(), fmt), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="calls.{fmt}"'})


class WrapUpIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)


@router.put("/v1/calls/{call_id}/wrap_up")
async def confirm_wrap_up(request: Request, call_id: str, body: WrapUpIn, caller: Caller) -> dict:
    """The agent of the call (or a supervisor who sees it) confirms or changes its wrap-up code."""
    svc = services(request)
    session = svc.calls.live.get(call_id)
    call = ({"tenant": session.tenant, "agent": session.agent, "team": session.team} if session is not None
            else await asyncio.to_thread(svc.records.get, call_id))
    if call is None or not may_see(caller, call) or not (caller.has("supervisor") or call.get("agent") == caller.name):
        raise HTTPException(404, {"code": "unknown_call", "message": f"no call {call_id!r}"})
    code = await asyncio.to_thread(svc.post_call.codes.find, caller.tenant, body.code)
    if code is None:
        raise _bad("unknown_wrap_up_code", f"{body.code!r} is not one of this centre's wrap-up codes")
    await asyncio.to_thread(svc.post_call.summaries.confirm, call_id, caller.tenant, body.code, caller.name, utcnow())
    log.info("wrap-up confirmed", extra={"call_id": call_id, "code": body.code, "by": caller.name})
    record = await asyncio.to_thread(svc.records.get, call_id)
    events = await asyncio.to_thread(svc.records.events, call_id)
    fields = await asyncio.to_thread(svc.post_call.view_fields, record, events)
    return {"call_id": call_id, "wrap_up": fields["wrap_up"], "wrap_up_detail": fields["wrap_up_detail"]}


@router.get("/v1/wrap-up-codes")
async def get_codes(request: Request, caller: Caller) -> dict:
    codes, default = await asyncio.to_thread(services(request).post_call.codes.codes, caller.tenant)
    return {"codes": codes, "default": default}


class CodesIn(BaseModel):
    codes: list[Any]


@router.put("/v1/wrap-up-codes")
async def put_codes(request: Request, body: CodesIn, caller: Caller) -> dict:
    """Replace the tenant's list (calls keep the codes they were given)."""
    svc = services(request)
    try:
        codes = await asyncio.to_thread(svc.post_call.codes.replace, caller.tenant, body.codes, caller.name, utcnow())
    except BadCodes as exc:
        raise _bad(exc.code, exc.message) from None
    return {"codes": codes, "default": False}
