"""After a call: its transcript indexed for history search, its extractive summary and suggested
wrap-up code (``analytics.history``, ``analytics.summary``, ``analytics.wrapup``), and the
fields ``GET /v1/calls/{id}`` adds from them.

The search text is written in ``on_end`` — after the last final, before the record closes — so
a call is searchable as soon as it shows as ended. The summary needs the end reason, so it is
written on ``call.ended``; a call read before that (or ended by an older Rafiq) is summarised
when it is first read.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from analytics.history import CallHistory
from analytics.summary import CallSummaries, customer_utterances, summarise
from analytics.wrapup import WrapUpCodes, label_of

from .records import CallRecords, iso

log = logging.getLogger(__name__)


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class PostCall:
    """A ``CallObserver`` (see ``assistant.sessions``) and the call view's post-call fields."""

    def __init__(self, records: CallRecords, history: CallHistory, summaries: CallSummaries,
                 codes: WrapUpCodes, embed):
        self.records = records
        self.history = history
        self.summaries = summaries
        self.codes = codes
        self.embed = embed

    # --- observer -------------------------------------------------------------------------

    def index(self, call_id: str) -> None:
        call = self.records.get(call_id)
        if call is None:
            return
        texts = [e.get("text") or "" for e in self.records.events(call_id) if e.get("type") == "transcript.final"]
        self.history.index(call_id, call["tenant"], _moment(call["started_at"]), texts)

    def summarise(self, call_id: str) -> dict[str, Any] | None:
        call = self.records.get(call_id)
        if call is None:
            return None
        events = self.records.events(call_id)
        summary = summarise(call, events, self.embed)
        finals = sorted((e for e in events if e.get("type") == "transcript.final"), key=lambda e: e.get("start") or 0)
        code, score = self.codes.suggest(call["tenant"], [e["text"] for e in customer_utterances(finals)])
        self.summaries.save_summary(call_id, call["tenant"], summary, code, score)
        log.info("call summarised", extra={"call_id": call_id, "language": summary["detail"]["language"],
                                           "wrap_up_suggested": code, "wrap_up_score": score})
        return self.summaries.get(call_id)

    async def on_end(self, session) -> None:
        await asyncio.to_thread(self.index, session.call_id)

    async def on_event(self, session, event: dict[str, Any]) -> None:
        if event["type"] == "call.ended":
            await asyncio.to_thread(self.summarise, session.call_id)

    async def on_late_event(self, call_id: str, event: dict[str, Any]) -> None:
        # Feedback given after the call changes what the summary says was done with each answer.
        if event.get("type") == "suggestion.feedback":
            await asyncio.to_thread(self.summarise, call_id)

    # --- the call view --------------------------------------------------------------------

    def view_fields(self, call: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
        """``summary``, ``wrap_up`` and their details for ``GET /v1/calls/{id}``; the alerts (with
        their acknowledgement) and notes of the record when nothing else listed them."""
        row = self.summaries.get(call["call_id"])
        if call["status"] == "ended" and (row is None or row.get("summary") is None):
            row = self.summarise(call["call_id"])
        row = row or {}
        language = (row.get("detail") or {}).get("language") or call.get("language")
        chosen = row.get("wrap_up_confirmed") or row.get("wrap_up_suggested")
        code = self.codes.find(call["tenant"], chosen) if chosen else None
        acks = {e.get("alert_id"): e for e in events if e.get("type") == "alert.ack"}
        return {
            "summary": row.get("summary"),
            "summary_detail": row.get("detail"),
            "wrap_up": chosen,
            "wrap_up_detail": {
                "suggested": row.get("wrap_up_suggested"), "suggested_score": row.get("wrap_up_score"),
                "confirmed": row.get("wrap_up_confirmed"), "by": row.get("wrap_up_by"),
                "at": iso(row.get("wrap_up_at")), "label": label_of(code, language) if code else None,
            },
            "alerts": [{**e, "acknowledged": acks.get(e.get("alert_id"))} for e in events if e.get("type") == "alert"],
            "notes": [e for e in events if e.get("type") == "note"],
        }
