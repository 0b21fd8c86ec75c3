"""What the agent asks the knowledge base during a call: a typed search, answered from the
articles of the call's tenant and campaign (and those shared by every campaign)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Query, Request

from .auth import Caller
from .calls import unknown_call, visible_call
from .deps import services
from .kb import AnswerOut, _language

router = APIRouter(tags=["calls"])


@router.get("/v1/calls/{call_id}/answers")
async def call_answers(request: Request, call_id: str, q: str = Query("", max_length=500),
                       language: str | None = None, k: int = Query(3, ge=1, le=10), *, caller: Caller) -> dict:
    """Published answers to a question the agent typed, in any of the call languages, from the
    articles the call's suggestions come from (its campaign's and the shared ones); in
    ``language`` (the customer's) when a variant exists. Another tenant's call, or a call the
    caller may not see, answers 404 whatever the question (checked first, so the answer tells
    nothing about other tenants' call ids)."""
    svc = services(request)
    call = await visible_call(svc, caller, call_id)
    if call is None:
        raise unknown_call(call_id)
    if not q.strip():
        raise HTTPException(422, {"code": "empty_query", "message": "type a few words to search"})
    session = svc.calls.live.get(call_id)
    campaign = session.campaign if session is not None else call.get("campaign")
    found = await asyncio.to_thread(svc.kb.answers, q.strip(), caller.tenant, _language(language), campaign, k)
    return {"campaign": campaign, "answers": [AnswerOut(
        article_id=a.article.id, group_id=a.article.group_id, title=a.article.title, language=a.article.language,
        requested_language=a.requested_language, language_fallback=a.language_fallback,
        matched_language=a.matched_language, text=a.text, score=round(a.score, 4)).model_dump() for a in found]}
