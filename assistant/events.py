"""Call events (the panel's protocol) and the bus that carries them to subscribers."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, Literal, Protocol

from pydantic import BaseModel

Speaker = Literal["customer", "agent"]


class CallStarted(BaseModel):
    type: Literal["call.started"] = "call.started"
    call_id: str
    tenant: str
    roles: list[Speaker]
    language: str | None
    agent: str | None = None
    started_at: str


class SentimentOut(BaseModel):
    label: Literal["negative", "neutral", "positive"]
    score: float  # calibrated probability of the label


class TranscriptEvent(BaseModel):
    type: Literal["transcript.partial", "transcript.final"]
    call_id: str
    segment_id: str
    speaker: Speaker
    language: str
    text: str
    start: float
    end: float
    confidence: float | None = None
    dialect: str | None = None
    stable_text: str = ""
    sentiment: SentimentOut | None = None  # on finals (analytics.sentiment), of either speaker


class Source(BaseModel):
    article_id: str
    title: str
    score: float
    language: str


class SuggestionEvent(BaseModel):
    type: Literal["suggestion"] = "suggestion"
    call_id: str
    suggestion_id: str
    for_segment_id: str
    language: str
    text: str
    sources: list[Source]
    # Shown before the customer finished (searched on the stable words of the partials); a later
    # suggestion for the segment confirms or replaces it.
    provisional: bool = False
    replaces: str | None = None  # the suggestion this one takes the place of, on the panel too


class SuggestionRetracted(BaseModel):
    """A provisional suggestion the customer's final words did not bear out: the panel drops it."""

    type: Literal["suggestion.retracted"] = "suggestion.retracted"
    call_id: str
    suggestion_id: str
    for_segment_id: str


class SuggestionFeedback(BaseModel):
    type: Literal["suggestion.feedback"] = "suggestion.feedback"
    call_id: str
    suggestion_id: str
    action: Literal["used", "edited", "dismissed"]
    text: str | None = None


class CallEnded(BaseModel):
    type: Literal["call.ended"] = "call.ended"
    call_id: str
    ended_at: str
    reason: str
    dropped_segments: dict[str, int] = {}


class AlertEvent(BaseModel):
    """A supervisor's alert rule fired on the call (``analytics.alerts``)."""

    type: Literal["alert"] = "alert"
    call_id: str
    alert_id: str
    rule_id: str
    kind: Literal["sentiment", "phrase", "silence", "duration", "overtalk"]
    title: str
    detail: str
    segment_id: str | None = None
    at: str


class AlertAck(BaseModel):
    type: Literal["alert.ack"] = "alert.ack"
    call_id: str
    alert_id: str
    by: str
    at: str


class NoteEvent(BaseModel):
    """A supervisor's note to the call's agent, shown at once in their panel."""

    type: Literal["note"] = "note"
    call_id: str
    note_id: str
    author: str
    text: str
    at: str


Event = dict[str, Any]  # a model above, dumped, plus its ``seq`` in the call


class Bus(Protocol):
    """What carries each channel's events (a call id, or an agent's channel) to its subscribers:
    ``EventBus`` in one process, ``cluster.bus.RedisEventBus`` across a cluster's nodes. A
    subscriber's queue ends with ``OVERFLOW`` when it fell too far behind (it reconnects)."""

    def subscribe(self, channel: str) -> asyncio.Queue: ...

    def unsubscribe(self, channel: str, queue: asyncio.Queue) -> None: ...

    def publish(self, channel: str, event: Event) -> None: ...


class EventBus:
    """In-process fan-out of each call's events to its live subscribers.

    Subscribers get a bounded queue; one that falls too far behind is cut off rather than
    let memory grow (it reconnects and is replayed the history).
    """

    def __init__(self, queue_size: int = 1000):
        self._subscribers: dict[str, set[asyncio.Queue]] = defaultdict(set)
        self._queue_size = queue_size

    def subscribe(self, call_id: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(self._queue_size)
        self._subscribers[call_id].add(queue)
        return queue

    def unsubscribe(self, call_id: str, queue: asyncio.Queue) -> None:
        subscribers = self._subscribers.get(call_id)
        if subscribers is not None:
            subscribers.discard(queue)
            if not subscribers:
                del self._subscribers[call_id]

    def publish(self, call_id: str, event: Event) -> None:
        for queue in list(self._subscribers.get(call_id, ())):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                # The reader finds the marker, closes, and the client reconnects for a replay.
                self.unsubscribe(call_id, queue)
                queue.get_nowait()
                queue.put_nowait(OVERFLOW)


OVERFLOW: Event = {"type": "_overflow"}
