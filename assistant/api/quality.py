"""Quality checklists (the campaigns' call scripts), each call's quality score with its evidence,
a supervisor's override of one item, and the scores aggregated per agent and per campaign.

Checklists are written by trainers and supervisors and read by agents too (their panel draws
the script of the call); scores are read by supervisors (their tenant, or their team) and by the
agent of the call; only supervisors override. Another tenant's rows answer 404 as if missing.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field, field_validator, model_validator

from analytics.checklist import default_items
from analytics.quality import ChecklistConflict

from .auth import Caller
from .calls import unknown_call, may_see
from .deps import services

router = APIRouter(tags=["quality"])

ITEM_ID = r"^[a-z0-9][a-z0-9_-]{0,39}$"


class ItemIn(BaseModel):
    id: str = Field(pattern=ITEM_ID, description="stable id of the step (lower case, digits, _ or -)")
    label: str = Field(min_length=1, max_length=200)
    required: bool = True
    weight: float = Field(default=1.0, ge=0, le=100)
    phrases: list[str] = Field(default_factory=list, max_length=100)
    examples: list[str] = Field(default_factory=list, max_length=50)
    marks_end: bool = False

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the label is empty")
        return value.strip()

    @field_validator("phrases", "examples")
    @classmethod
    def _texts(cls, values: list[str]) -> list[str]:
        cleaned = [value.strip() for value in values if value and value.strip()]
        if any(len(value) > 300 for value in cleaned):
            raise ValueError("each phrase or example is at most 300 characters")
        return cleaned

    @model_validator(mode="after")
    def _detectable(self) -> "ItemIn":
        if not self.phrases and not self.examples:
            raise ValueError(f"item {self.id!r} needs at least one phrase or example sentence to be detected")
        return self


class ChecklistIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    campaign: str | None = Field(default=None, max_length=64, description="null: every campaign of the tenant")
    items: list[ItemIn] | None = Field(default=None, max_length=40,
                                       description="the steps; omitted on creation: the default template")
    products: list[str] = Field(default_factory=list, max_length=200)
    remind_after_s: float | None = Field(default=None, ge=0, le=24 * 3600)
    meaning_threshold: float | None = Field(default=None, ge=0.2, le=0.95)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the name is empty")
        return value.strip()

    @field_validator("campaign")
    @classmethod
    def _campaign(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None

    @field_validator("products")
    @classmethod
    def _products(cls, values: list[str]) -> list[str]:
        return [value.strip()[:100] for value in values if value and value.strip()]

    @model_validator(mode="after")
    def _unique_items(self) -> "ChecklistIn":
        if self.items is not None:
            ids = [item.id for item in self.items]
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"item ids must be unique: {', '.join(duplicates)}")
            if not ids:
                raise ValueError("a checklist needs at least one item")
        return self

    def stored(self) -> dict:
        data = self.model_dump()
        data["items"] = ([item.model_dump() for item in self.items] if self.items is not None else default_items())
        return data


def _missing(checklist_id: str) -> HTTPException:
    return HTTPException(404, {"code": "unknown_checklist", "message": f"no checklist {checklist_id!r}"})


def _conflict(campaign: str | None) -> HTTPException:
    which = f"campaign {campaign!r}" if campaign else "every campaign"
    return HTTPException(409, {"code": "checklist_exists", "message": f"this tenant already has a checklist for {which}"})


@router.get("/v1/checklists/template")
async def checklist_template(caller: Caller) -> dict:
    """The steps a new checklist starts from (greeting, identity, need, answer, closing) in the five languages."""
    return {"items": default_items()}


@router.get("/v1/checklists")
async def list_checklists(request: Request, caller: Caller, campaign: str | None = Query(None, max_length=64)) -> dict:
    svc = services(request)
    return {"checklists": await asyncio.to_thread(svc.quality.list, caller.tenant, campaign)}


@router.post("/v1/checklists", status_code=201)
async def create_checklist(request: Request, body: ChecklistIn, caller: Caller) -> dict:
    svc = services(request)
    try:
        return await asyncio.to_thread(svc.quality.create, caller.tenant, body.stored(), caller.name)
    except ChecklistConflict:
        raise _conflict(body.campaign) from None


@router.get("/v1/checklists/{checklist_id}")
async def get_checklist(request: Request, checklist_id: str, caller: Caller) -> dict:
    found = await asyncio.to_thread(services(request).quality.get, caller.tenant, checklist_id)
    if found is None:
        raise _missing(checklist_id)
    return found


@router.put("/v1/checklists/{checklist_id}")
async def replace_checklist(request: Request, checklist_id: str, body: ChecklistIn, caller: Caller) -> dict:
    """Replace the checklist (it applies to calls that start from now on; scored calls keep theirs)."""
    svc = services(request)
    if body.items is None:
        raise HTTPException(422, {"code": "items_required", "message": "a replaced checklist lists its items"})
    try:
        found = await asyncio.to_thread(svc.quality.update, caller.tenant, checklist_id, body.stored(), caller.name)
    except ChecklistConflict:
        raise _conflict(body.campaign) from None
    if found is None:
        raise _missing(checklist_id)
    return found


@router.delete("/v1/checklists/{checklist_id}", status_code=204)
async def delete_checklist(request: Request, checklist_id: str, caller: Caller) -> Response:
    if not await asyncio.to_thread(services(request).quality.delete, caller.tenant, checklist_id):
        raise _missing(checklist_id)
    return Response(status_code=204)


async def _visible_record(request: Request, caller, call_id: str) -> dict:
    call = await asyncio.to_thread(services(request).records.get, call_id)
    if call is None or not may_see(caller, call):
        raise unknown_call(call_id)
    return call


def _not_scored(call_id: str) -> HTTPException:
    return HTTPException(404, {"code": "not_scored",
                               "message": f"call {call_id!r} has no quality score (live, or no checklist applied)"})


@router.get("/v1/calls/{call_id}/quality")
async def call_quality(request: Request, call_id: str, caller: Caller) -> dict:
    await _visible_record(request, caller, call_id)
    found = await asyncio.to_thread(services(request).quality.quality_of, call_id)
    if found is None:
        raise _not_scored(call_id)
    return found


class OverrideIn(BaseModel):
    passed: bool
    reason: str | None = Field(default=None, max_length=1000)


@router.put("/v1/calls/{call_id}/quality/items/{item_id}")
async def override_item(request: Request, call_id: str, item_id: str, body: OverrideIn, caller: Caller) -> dict:
    """A supervisor decides one item by hand; the score is recomputed (who and when are kept)."""
    await _visible_record(request, caller, call_id)
    try:
        found = await asyncio.to_thread(services(request).quality.override, call_id, item_id, body.passed,
                                        caller.name, body.reason)
    except KeyError:
        raise HTTPException(404, {"code": "unknown_item", "message": f"the call's checklist has no item {item_id!r}"}) from None
    if found is None:
        raise _not_scored(call_id)
    return found


def _moment(value: str | None, name: str) -> datetime | None:
    """An ISO date or date-time (UTC when no zone is given)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, {"code": "bad_date", "message": f"{name} must be an ISO date or date-time"}) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


async def _aggregates(request: Request, caller, by: str, from_: str | None, to: str | None,
                      campaign: str | None, agent: str | None) -> dict:
    start, end = _moment(from_, "from"), _moment(to, "to")
    if start and end and end <= start:
        raise HTTPException(422, {"code": "bad_range", "message": "to must be after from"})
    rows = await asyncio.to_thread(services(request).quality.aggregate, caller.tenant, by, start=start, end=end,
                                   team=caller.team, campaign=campaign, agent=agent)
    return {"group": by, "from": from_, "to": to, "rows": rows}


FROM = Query(None, alias="from", description="ISO date or date-time (UTC unless zoned), inclusive")
TO = Query(None, description="ISO date or date-time, exclusive")


@router.get("/v1/quality/agents")
async def quality_per_agent(request: Request, caller: Caller, from_: str | None = FROM, to: str | None = TO,
                            campaign: str | None = Query(None, max_length=64),
                            agent: str | None = Query(None, max_length=64)) -> dict:
    """Scores per agent over the calls started in [from, to): calls, mean, min, max, and each
    item's pass rate (overrides count). A supervisor with a team sees that team's calls."""
    return await _aggregates(request, caller, "agent", from_, to, campaign, agent)


@router.get("/v1/quality/campaigns")
async def quality_per_campaign(request: Request, caller: Caller, from_: str | None = FROM, to: str | None = TO,
                               campaign: str | None = Query(None, max_length=64),
                               agent: str | None = Query(None, max_length=64)) -> dict:
    """Scores per campaign (null: calls without one), as for agents."""
    return await _aggregates(request, caller, "campaign", from_, to, campaign, agent)
