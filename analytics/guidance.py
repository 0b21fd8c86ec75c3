"""Guidance through a live call, and its quality score at the end: a call observer (the
``assistant.sessions.CallObserver`` hooks, implemented here without importing ``assistant``).

On the call's event stream it adds:

* ``script.loaded`` once the call starts: the checklist the call follows (its steps: id, label,
  required), so the agent's panel can draw it, on a replay too;
* ``script.step`` when one of the agent's final utterances satisfies a step (``item_id``,
  ``passed: true``, ``method`` phrase/meaning, ``score``, ``evidence`` {segment_id, text, start});
* ``script.reminder`` once, when the call is near its end and required steps are still open
  (``open``: their ids and labels; ``trigger``). *Near the end* is the first of: the agent says
  a step marked ``marks_end`` (the closing formula), the customer says goodbye (« au revoir »,
  « merci beaucoup », « adiós », « مع السلامة », « bslama »...), or the call has lasted the
  checklist's ``remind_after_s`` (default ``RAFIQ_SCRIPT_REMIND_AFTER_S``, 300 s; 0 = never by
  time). A step said after the reminder still ticks;
* ``fact`` for each new key fact heard from either side (amount, date, reference number, one of
  the checklist's product names, masked personal data), at most once per text per call.

When the call ends its score is computed from the same detections and stored
(``QualityStore.save_score``), so the live checklist and the score never disagree.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from .checklist import CallProgress, Detector, Utterance, says_goodbye
from .facts import extract_facts
from .quality import QualityStore, checklist_items, meaning_threshold

log = logging.getLogger(__name__)


@dataclass
class _Call:
    checklist: dict[str, Any] | None
    progress: CallProgress | None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    reminded: bool = False
    facts: set[str] = field(default_factory=set)
    fact_count: int = 0


class GuidanceObserver:
    def __init__(self, store: QualityStore, detector: Detector, remind_after_s: float = 300.0):
        self.store = store
        self.detector = detector
        self.remind_after_s = remind_after_s
        self._calls: dict[str, _Call] = {}

    async def annotate(self, session, event: dict[str, Any]) -> dict[str, Any]:
        return event

    async def _state(self, session) -> _Call:
        state = self._calls.get(session.call_id)
        if state is None:
            checklist = await asyncio.to_thread(self.store.for_call, session.tenant, session.campaign)
            state = self._calls.setdefault(session.call_id, _Call(
                checklist, CallProgress(checklist_items(checklist)) if checklist else None))
        return state

    async def on_event(self, session, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "call.started":
            state = await self._state(session)
            if state.checklist is not None:
                checklist = state.checklist
                await session.registry.emit(session.call_id, {
                    "type": "script.loaded", "call_id": session.call_id, "checklist_id": checklist["id"],
                    "name": checklist["name"], "campaign": checklist["campaign"],
                    "items": [{"item_id": item.id, "label": item.label, "required": item.required}
                              for item in state.progress.items]})
            return
        if kind == "transcript.final":
            await self._final(session, event)
        elif kind in ("call.ended", "script.reminder", "script.step", "script.loaded", "fact"):
            return
        state = self._calls.get(session.call_id)
        if state is not None and state.progress is not None and not state.reminded:
            limit = state.checklist.get("remind_after_s")
            limit = self.remind_after_s if limit is None else limit
            if limit and event.get("end", 0) and float(event.get("end") or 0) >= limit:
                await self._remind(session, state, "duration")

    async def _final(self, session, event: dict[str, Any]) -> None:
        state = await self._state(session)
        text = event.get("text") or ""
        if not text.strip():
            return
        async with state.lock:
            await self._facts(session, state, event)
            if state.progress is None:
                return
            if event.get("speaker") == "agent":
                utterance = Utterance(event["segment_id"], text, float(event.get("start") or 0.0), event.get("language"))
                found = await asyncio.to_thread(self.detector.detect, state.progress.items, utterance,
                                                meaning_threshold(state.checklist))
                fresh = state.progress.add(found)
                for detection in fresh:
                    await session.registry.emit(session.call_id, {
                        "type": "script.step", "call_id": session.call_id, "checklist_id": state.checklist["id"],
                        "item_id": detection.item_id, "passed": True, "method": detection.method,
                        "score": round(detection.score, 3), "evidence": utterance.evidence()})
                if state.progress.ends_here(found):
                    await self._remind(session, state, "closing")
            elif says_goodbye(text):
                await self._remind(session, state, "goodbye")

    async def _remind(self, session, state: _Call, trigger: str) -> None:
        if state.reminded or state.progress is None:
            return
        open_items = state.progress.open_required()
        if not open_items:
            return
        state.reminded = True
        await session.registry.emit(session.call_id, {
            "type": "script.reminder", "call_id": session.call_id, "checklist_id": state.checklist["id"],
            "trigger": trigger, "open": [{"item_id": item.id, "label": item.label} for item in open_items]})

    async def _facts(self, session, state: _Call, event: dict[str, Any]) -> None:
        products = (state.checklist or {}).get("products") or []
        for fact in extract_facts(event["text"], event.get("language"), products):
            key = f"{fact.kind}:{fact.text.lower()}"
            if key in state.facts:
                continue
            state.facts.add(key)
            state.fact_count += 1
            await session.registry.emit(session.call_id, {
                "type": "fact", "call_id": session.call_id, "fact_id": f"{event['segment_id']}-f{state.fact_count}",
                **fact.to_dict(), "speaker": event.get("speaker"), "segment_id": event["segment_id"]})

    async def on_end(self, session) -> None:
        state = self._calls.pop(session.call_id, None)
        if state is None:
            state = await self._state(session)
            self._calls.pop(session.call_id, None)
        if state.checklist is None or state.progress is None:
            return
        async with state.lock:
            result = state.progress.result()
        call = {"call_id": session.call_id, "tenant": session.tenant, "agent": session.agent, "team": session.team,
                "campaign": session.campaign, "started_at": session.started_at}
        await asyncio.to_thread(self.store.save_score, call, state.checklist, result)
        log.info("call scored", extra={"call_id": session.call_id, "score": result["score"],
                                       "checklist_id": state.checklist["id"]})
