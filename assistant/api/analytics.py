"""Supervisors' analytics over HTTP. Sentiment of any texts (chat logs, quality reviews) with the
model that annotates live calls."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from .auth import Caller
from .deps import services

router = APIRouter(tags=["analytics"])

MAX_TEXTS = 100
MAX_TEXT_CHARS = 5_000


class SentimentIn(BaseModel):
    texts: list[str] = Field(description=f"at most {MAX_TEXTS} texts of at most {MAX_TEXT_CHARS} characters each")
    language: Literal["fr", "ar", "es", "en", "pt"] | None = Field(
        default=None, description="informative: the model reads every supported language without being told")


class SentimentResult(BaseModel):
    label: Literal["negative", "neutral", "positive"]
    score: float = Field(description="calibrated probability of the label, 0..1")


class SentimentOut(BaseModel):
    results: list[SentimentResult]


@router.post("/v1/analytics/sentiment")
async def sentiment(body: SentimentIn, request: Request, caller: Caller) -> SentimentOut:
    """One result per text, in the order given."""
    if not body.texts:
        raise HTTPException(422, {"code": "no_texts", "message": "texts must hold at least one text"})
    if len(body.texts) > MAX_TEXTS:
        raise HTTPException(422, {"code": "too_many_texts",
                                  "message": f"{len(body.texts)} texts; at most {MAX_TEXTS} per request"})
    too_long = [i for i, text in enumerate(body.texts) if len(text) > MAX_TEXT_CHARS]
    if too_long:
        raise HTTPException(422, {"code": "text_too_long",
                                  "message": f"texts {too_long[:10]} exceed {MAX_TEXT_CHARS} characters"})
    results = await asyncio.to_thread(services(request).sentiment.classify, body.texts)
    return SentimentOut(results=[SentimentResult(label=r.label, score=r.score) for r in results])
