"""Knowledge gaps over HTTP: the unanswered customer questions, grouped, for trainers to act on."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field, field_validator

from knowledge_base.articles import Article, check_language
from knowledge_base.gaps import Gap
from knowledge_base.service import WorkflowError

from accounts import Principal

from .auth import Caller
from .deps import services

router = APIRouter(prefix="/v1/kb/gaps", tags=["knowledge gaps"])


class GapList(BaseModel):
    gaps: list[Gap]


class DraftFromGap(BaseModel):
    language: str | None = Field(default=None, description="default: the gap's most frequent language")
    title: str | None = Field(default=None, min_length=1, max_length=500, description="default: an example question")

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        return check_language(value) if value else None


def _unknown(gap_id: str) -> HTTPException:
    return HTTPException(404, {"code": "unknown_gap", "message": f"no knowledge gap {gap_id!r}"})


@router.get("")
async def list_gaps(request: Request, caller: Caller,
                    status: Literal["open", "dismissed", "drafted", "all"] = "open", campaign: str | None = None,
                    limit: int = Query(100, ge=1, le=1000)) -> GapList:
    """Most asked first, each with its count, example questions and their languages."""
    gaps = await asyncio.to_thread(services(request).gaps.list, caller.tenant, None if status == "all" else status,
                                   campaign, limit)
    return GapList(gaps=gaps)


async def _own(request: Request, caller: Principal, gap_id: str) -> Gap:
    """The gap, if it is of the caller's tenant; another tenant's answers 404 like a missing one."""
    gap = await asyncio.to_thread(services(request).gaps.get, gap_id)
    if gap is None or gap.tenant != caller.tenant:
        raise _unknown(gap_id)
    return gap


@router.get("/{gap_id}")
async def get_gap(request: Request, gap_id: str, caller: Caller) -> Gap:
    return await _own(request, caller, gap_id)


async def _set_status(request: Request, caller: Principal, gap_id: str, status: str) -> Gap:
    await _own(request, caller, gap_id)
    try:
        return await asyncio.to_thread(services(request).gaps.set_status, gap_id, status)
    except KeyError:
        raise _unknown(gap_id) from None


@router.post("/{gap_id}/dismiss")
async def dismiss_gap(request: Request, gap_id: str, caller: Caller) -> Gap:
    """Not worth an article: hidden from the open gaps (its questions are still counted)."""
    return await _set_status(request, caller, gap_id, "dismissed")


@router.post("/{gap_id}/reopen")
async def reopen_gap(request: Request, gap_id: str, caller: Caller) -> Gap:
    return await _set_status(request, caller, gap_id, "open")


@router.post("/{gap_id}/draft", status_code=201)
async def draft_from_gap(request: Request, gap_id: str, caller: Caller, body: DraftFromGap | None = None) -> Article:
    """Start a draft article from the gap, its questions filled in as example questions."""
    svc = services(request)
    body = body or DraftFromGap()
    await _own(request, caller, gap_id)
    try:
        return await asyncio.to_thread(svc.gaps.start_draft, svc.kb, gap_id, caller.name, body.language, body.title)
    except KeyError:
        raise _unknown(gap_id) from None
    except WorkflowError as exc:
        raise HTTPException(409, {"code": exc.code, "message": exc.message}) from None
