"""The audit log over HTTP, for the tenant's administrators: list with filters, export, verify."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from security.audit import to_csv_lines, to_jsonl_lines

from .auth import Caller
from .deps import services

router = APIRouter(prefix="/v1/audit", tags=["audit"])


def _aware(moment: datetime | None, name: str) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise HTTPException(422, {"code": "naive_time", "message": f"{name} needs a time zone, e.g. 2026-12-01T08:00:00Z"})
    return moment


def _filters(actor: str | None, action: str | None, target: str | None, outcome: str | None,
             since: datetime | None, until: datetime | None) -> dict:
    return dict(actor=actor, action=action, target=target, outcome=outcome, since=_aware(since, "since"),
                until=_aware(until, "until"))


@router.get("")
async def list_audit(request: Request, caller: Caller, actor: str | None = None,
                     action: str | None = Query(None, description="exact, or a prefix ending in '.' (e.g. 'auth.')"),
                     target: str | None = None, outcome: str | None = None, since: datetime | None = None,
                     until: datetime | None = None, limit: int = Query(100, ge=1, le=1000),
                     before_id: int | None = Query(None, description="cursor: the last id of the previous page")) -> dict:
    """Newest first. ``next_before_id`` is the cursor of the next page (null at the end)."""
    entries = await asyncio.to_thread(services(request).audit.list, caller.tenant, limit=limit, before_id=before_id,
                                      **_filters(actor, action, target, outcome, since, until))
    return {"entries": entries, "next_before_id": entries[-1]["id"] if len(entries) == limit else None}


@router.get("/export")
async def export_audit(request: Request, caller: Caller, format: Literal["jsonl", "csv"] = "jsonl",
                       actor: str | None = None, action: str | None = None, target: str | None = None,
                       outcome: str | None = None, since: datetime | None = None,
                       until: datetime | None = None) -> StreamingResponse:
    """Oldest first, with each entry's hash and its predecessor's, so the chain can be checked
    outside Rafiq."""
    audit = services(request).audit
    entries = await asyncio.to_thread(lambda: list(audit.iter_all(caller.tenant, **_filters(
        actor, action, target, outcome, since, until))))
    lines = to_csv_lines(entries) if format == "csv" else to_jsonl_lines(entries)
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(iter(list(lines)), media_type=f"{media}; charset=utf-8",
                             headers={"content-disposition": f'attachment; filename="audit-{caller.tenant}.{format}"'})


@router.get("/verify")
async def verify_audit(request: Request, caller: Caller) -> dict:
    """Recompute the tenant's hash chain: ``ok`` false and ``first_bad_id`` when an entry was
    changed or removed outside Rafiq."""
    return await asyncio.to_thread(services(request).audit.verify, caller.tenant)
