"""Keeps each call's row of figures (``analytics.stats``) in step with its record: rebuilt when
the call ends and whenever an event reaches it afterwards (feedback, notes after the call)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from analytics.stats import CallStats

from .records import CallRecords

log = logging.getLogger(__name__)


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class CallStatsObserver:
    """A ``CallObserver`` (see ``assistant.sessions``) that writes ``call_stats``."""

    def __init__(self, records: CallRecords, stats: CallStats):
        self.records = records
        self.stats = stats

    def refresh(self, call_id: str) -> dict[str, Any] | None:
        call = self.records.get(call_id)
        if call is None:
            return None
        call = {**call, "started_at": _moment(call["started_at"]), "ended_at": _moment(call["ended_at"])}
        return self.stats.update(call, self.records.events(call_id))

    async def on_event(self, session, event: dict[str, Any]) -> None:
        if event["type"] == "call.ended":  # the record is closed: its figures are final
            await asyncio.to_thread(self.refresh, session.call_id)

    async def on_late_event(self, call_id: str, event: dict[str, Any]) -> None:
        await asyncio.to_thread(self.refresh, call_id)
