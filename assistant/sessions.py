"""Live call sessions: audio in, transcript and suggestions out, every event recorded."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import numpy as np

from speech.engine import SpeechEngine
from speech.streaming import CallTranscriber, StreamingConfig, TranscriptSegment

from .events import CallEnded, CallStarted, EventBus, SuggestionFeedback, TranscriptEvent
from .records import CallRecords, iso, utcnow
from .suggestions import Suggester

log = logging.getLogger(__name__)

CALL_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class CallError(Exception):
    """A request about a call that cannot be honoured; ``code`` is part of the API."""

    def __init__(self, code: str, message: str, close_code: int = 1008):
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


class CallSession:
    def __init__(self, call_id: str, tenant: str, roles: list[str], language: str | None,
                 registry: "CallRegistry"):
        self.call_id = call_id
        self.tenant = tenant
        self.roles = roles
        self.language = language
        self.registry = registry
        self.started_at = utcnow()
        self._suggestion_tasks: set[asyncio.Task] = set()
        self.transcriber = CallTranscriber(call_id, roles, registry.engine, self._on_segment, language,
                                           registry.streaming_config)

    def feed(self, audio: np.ndarray) -> None:
        self.transcriber.feed(audio)

    async def _on_segment(self, segment: TranscriptSegment) -> None:
        event = TranscriptEvent(
            type="transcript.final" if segment.final else "transcript.partial",
            call_id=self.call_id, segment_id=segment.segment_id, speaker=segment.speaker,
            language=segment.language, text=segment.text, start=segment.start, end=segment.end,
            confidence=segment.confidence, dialect=segment.dialect, stable_text=segment.stable_text,
        )
        await self.registry.emit(self.call_id, event.model_dump(), persist=segment.final)
        if segment.final and segment.speaker == "customer":
            task = asyncio.get_running_loop().create_task(self._suggest(event))
            self._suggestion_tasks.add(task)
            task.add_done_callback(self._suggestion_tasks.discard)

    async def _suggest(self, segment: TranscriptEvent) -> None:
        try:
            suggestion = await self.registry.suggester.suggest(segment, self.tenant)
        except Exception:
            log.exception("suggestion failed", extra={"call_id": self.call_id, "segment_id": segment.segment_id})
            return
        if suggestion is not None:
            await self.registry.emit(self.call_id, suggestion.model_dump())

    async def finish(self, reason: str) -> None:
        """Transcribe what was received, let suggestions land, then close the record."""
        try:
            await self.transcriber.finish()
            if self._suggestion_tasks:
                await asyncio.gather(*self._suggestion_tasks, return_exceptions=True)
        finally:
            ended_at = utcnow()
            await asyncio.to_thread(self.registry.records.end, self.call_id, reason, ended_at)
            await self.registry.emit(self.call_id, CallEnded(call_id=self.call_id, ended_at=iso(ended_at),
                                                             reason=reason,
                                                             dropped_segments=self.transcriber.dropped).model_dump())
            self.registry.live.pop(self.call_id, None)
            self.registry.forget_sequence(self.call_id)
            log.info("call ended", extra={"call_id": self.call_id, "reason": reason,
                                          "dropped_segments": self.transcriber.dropped})


class CallRegistry:
    """The live calls of this process, and the one place their events are numbered,
    recorded and published."""

    def __init__(self, engine: SpeechEngine, records: CallRecords, bus: EventBus, suggester: Suggester,
                 streaming_config: StreamingConfig, max_calls: int = 0):
        self.engine = engine
        self.records = records
        self.bus = bus
        self.suggester = suggester
        self.streaming_config = streaming_config
        self.max_calls = max_calls
        self.live: dict[str, CallSession] = {}
        self._seq: dict[str, int] = {}
        self._write_lock = asyncio.Lock()

    async def start(self, call_id: str, tenant: str, roles: list[str], language: str | None) -> CallSession:
        if not CALL_ID_PATTERN.match(call_id):
            raise CallError("bad_call_id", "call_id must be 1-128 letters, digits, '.', '_', ':' or '-'")
        if call_id in self.live:
            raise CallError("call_busy", f"call {call_id!r} is already streaming")
        if await asyncio.to_thread(self.records.get, call_id) is not None:
            raise CallError("call_exists", f"call {call_id!r} already took place; use a new call_id")
        if self.max_calls and len(self.live) >= self.max_calls:
            # 1013 "try again later": the speech engine would fall behind every live call.
            raise CallError("too_many_calls", f"this server is at its limit of {self.max_calls} live calls",
                            close_code=1013)
        session = CallSession(call_id, tenant, roles, language, self)
        self.live[call_id] = session
        await asyncio.to_thread(self.records.create, call_id, tenant, roles, language, session.started_at)
        self._seq[call_id] = 0
        await self.emit(call_id, CallStarted(call_id=call_id, tenant=tenant, roles=roles, language=language,
                                             started_at=iso(session.started_at)).model_dump())
        log.info("call started", extra={"call_id": call_id, "tenant": tenant, "roles": roles, "language": language})
        return session

    async def emit(self, call_id: str, event: dict[str, Any], persist: bool = True) -> dict[str, Any]:
        # Numbering and recording under one lock keeps seq order equal to record order.
        async with self._write_lock:
            seq = self._seq.get(call_id, 0) + 1
            self._seq[call_id] = seq
            event = {**event, "seq": seq}
            if persist:
                await asyncio.to_thread(self.records.append, call_id, seq, event)
        self.bus.publish(call_id, event)
        return event

    def forget_sequence(self, call_id: str) -> None:
        """An ended call's numbering is read back from its record if it is ever needed again."""
        self._seq.pop(call_id, None)

    async def feedback(self, call_id: str, suggestion_id: str, action: str, text: str | None) -> dict[str, Any]:
        call = await asyncio.to_thread(self.records.get, call_id)
        if call is None:
            raise CallError("unknown_call", f"no call {call_id!r}")
        events = await asyncio.to_thread(self.records.events, call_id)
        if not any(e["type"] == "suggestion" and e["suggestion_id"] == suggestion_id for e in events):
            raise CallError("unknown_suggestion", f"no suggestion {suggestion_id!r} in call {call_id!r}")
        if call_id not in self._seq:
            self._seq[call_id] = max((e["seq"] for e in events), default=0)
        event = SuggestionFeedback(call_id=call_id, suggestion_id=suggestion_id, action=action, text=text)
        published = await self.emit(call_id, event.model_dump())
        if call_id not in self.live:
            self.forget_sequence(call_id)
        return published

    async def call_view(self, call_id: str) -> dict[str, Any] | None:
        call = await asyncio.to_thread(self.records.get, call_id)
        if call is None:
            return None
        events = await asyncio.to_thread(self.records.events, call_id)
        feedback = {e["suggestion_id"]: e for e in events if e["type"] == "suggestion.feedback"}
        call["segments"] = [e for e in events if e["type"] == "transcript.final"]
        call["suggestions"] = [
            {**e, "feedback": ({"action": feedback[e["suggestion_id"]]["action"],
                                "text": feedback[e["suggestion_id"]]["text"]}
                               if e["suggestion_id"] in feedback else None)}
            for e in events if e["type"] == "suggestion"
        ]
        return call
