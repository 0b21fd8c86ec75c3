"""Sentiment on live calls: every final transcript event, of the customer and of the agent, gets
``sentiment: {label, score}`` before it is numbered, recorded and published."""

from __future__ import annotations

import asyncio
from typing import Any

from analytics.sentiment import SentimentModel

from .sessions import CallObserver, CallSession


class SentimentObserver(CallObserver):
    def __init__(self, model: SentimentModel):
        self.model = model

    async def annotate(self, session: CallSession, event: dict[str, Any]) -> dict[str, Any]:
        # A few milliseconds of numpy per utterance: off the event loop, which carries every call.
        (sentiment,) = await asyncio.to_thread(self.model.classify, [event.get("text") or ""])
        return {**event, "sentiment": sentiment.as_dict()}
