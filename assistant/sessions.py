"""Live call sessions: audio in, transcript and suggestions out, every event recorded."""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
from typing import Any, Awaitable, Callable

import numpy as np

from privacy import redact

from speech.engine import SAMPLE_RATE, SpeechEngine
from speech.streaming import CallTranscriber, StreamingConfig, TranscriptSegment

from .events import CallEnded, CallStarted, EventBus, SuggestionFeedback, TranscriptEvent
from .records import CallRecords, iso, utcnow
from .suggestions import Suggester

log = logging.getLogger(__name__)

CALL_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def call_campaign(value: Any) -> str | None:
    """A call's campaign as the knowledge base stores one (stripped, at most 64 characters), or None."""
    return (str(value).strip()[:64] or None) if value is not None else None


PHONE_FIELDS = ("caller_number", "called_number")


def platform_record(platform: dict[str, str | None] | None, redact_kinds: list[str]) -> dict[str, str | None]:
    """A telephony call's platform fields for its record (``records.PLATFORM_COLUMNS``), the
    caller and called numbers masked when the tenant redacts phone numbers."""
    fields = {name: value for name, value in (platform or {}).items() if value is not None}
    if "phone" in redact_kinds:
        fields.update({name: "[PHONE]" for name in PHONE_FIELDS if fields.get(name)})
    return fields


class CallObserver:
    """Something that follows every live call beside the transcript and the suggestions
    (analytics, alerts, quality, scripts). The registry calls it, in the order given:

    - ``annotate`` on each final transcript event before it is numbered, recorded and published,
      to add fields to it (e.g. ``sentiment``); it returns the event;
    - ``on_event`` after each event of the call is published (partials included), to react:
      it may ``session.registry.emit`` events of its own (and then sees them too). Events reach
      ``on_event`` in order, through one task per call, after the transcript and suggestions
      have moved on: an observer's work never delays them;
    - ``on_end`` once the call's audio is transcribed and its suggestions landed, before its
      record closes and ``call.ended`` is published;
    - ``on_late_event(call_id, event)`` for an event recorded on a call that is no longer live
      (feedback or a note after the call).

    Each method is optional: an observer defines those it needs (``analytics`` classes do so
    without importing this one).

    An observer that fails is logged and skipped: it never costs the call its transcript.
    Blocking work belongs in a thread (``asyncio.to_thread``): these run on the event loop.
    """

    async def annotate(self, session: "CallSession", event: dict[str, Any]) -> dict[str, Any]:
        return event

    async def on_event(self, session: "CallSession", event: dict[str, Any]) -> None:
        return None

    async def on_end(self, session: "CallSession") -> None:
        return None

    async def on_late_event(self, call_id: str, event: dict[str, Any]) -> None:
        return None


def _hooks(observers: list[Any], name: str) -> list[tuple[Any, Callable]]:
    """(observer, its method ``name``) for each observer that defines it."""
    return [(observer, hook) for observer in observers if (hook := getattr(observer, name, None)) is not None]


class CallError(Exception):
    """A request about a call that cannot be honoured; ``code`` is part of the API."""

    def __init__(self, code: str, message: str, close_code: int = 1008):
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


class CallSession:
    """One live call. Connections attach to it (``Attachment``) and feed the roles they carry.

    A call whose connection drops is *detached*: if it is resumable (telephony), it stays live
    for the resume grace period so a reconnect with the same call id continues it (same record,
    event numbering and segment ids go on); otherwise, or when the grace runs out, it ends.
    """

    def __init__(self, call_id: str, tenant: str, roles: list[str], language: str | None,
                 registry: "CallRegistry", resumable: bool = False, source: dict[str, Any] | None = None,
                 agent: str | None = None, team: str | None = None, redact_kinds: list[str] | None = None,
                 campaign: str | None = None):
        self.call_id = call_id
        self.tenant = tenant
        # Suggestions search this campaign's articles and those shared by all (no campaign); a call
        # without one searches every article of the tenant. Telephony: the platform's "campaign".
        self.campaign = call_campaign(campaign if campaign is not None else (source or {}).get("campaign"))
        self.agent = agent  # the agent's username: their panel follows this call
        self.team = team
        # Kinds of personal data masked in every transcript event before it is published or stored.
        self.redact_kinds = list(redact_kinds or [])
        self.roles = roles
        self.language = language
        self.registry = registry
        self.resumable = resumable
        self.source = source
        self.started_at = utcnow()
        self.attached_roles: set[str] = set()
        self.attachments: set[Attachment] = set()  # the connections feeding the call now
        self.end_reason: str | None = None  # set by the first explicit end (stop, hangup, close, error)
        self._grace: asyncio.TimerHandle | None = None
        self._finishing: asyncio.Task | None = None
        self._suggestion_tasks: set[asyncio.Task] = set()
        # Events waiting for the observers, handled in order by one task per call so that an
        # observer's work (a model, a query) never delays the transcript or the suggestions.
        self._observed: asyncio.Queue | None = None
        # Suggestions follow the conversation: speculative on partials, confirmed on finals.
        self.conversation = registry.suggester.conversation(
            call_id, tenant, self.campaign, lambda event: registry.emit(call_id, event))
        self.transcriber = CallTranscriber(call_id, roles, registry.engine, self._on_segment, language,
                                           registry.streaming_config)
        self._channels = {channel.speaker: channel for channel in self.transcriber.channels}

    @property
    def finishing(self) -> bool:
        return self._finishing is not None

    def feed(self, audio: np.ndarray, roles: list[str] | None = None) -> None:
        """(channels, n) float32 16 kHz audio: one row per role of the call, or per ``roles``."""
        if self._finishing is not None:
            return  # a straggler after the end; the record is closed
        if roles is None:
            self.transcriber.feed(audio)
            return
        for role, samples in zip(roles, audio):
            self._channels[role].feed(samples)

    def feed_silence(self, seconds: float, roles: list[str]) -> None:
        """Silence on ``roles``: audio a connection did not send (a gap, a pause, a drop), so each
        channel's timeline stays true and an open utterance ends where the audio stopped."""
        samples = int(round(seconds * SAMPLE_RATE))
        if samples > 0:
            self.feed(np.zeros((len(roles), samples), dtype=np.float32), roles)

    def set_language(self, language: str | None) -> None:
        """The call's language from now on: a hint (a plain code), forced (``ForcedLanguage``), or
        None to detect freely (see ``speech.streaming.ForcedLanguage``)."""
        self.language = language
        for channel in self._channels.values():
            channel.language = language

    def attach(self, roles: list[str]) -> "Attachment":
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        self.attached_roles |= set(roles)
        attachment = Attachment(self, roles)
        self.attachments.add(attachment)
        return attachment

    async def release(self, attachment: "Attachment", reason: str | None) -> None:
        """A connection let go of the call: ``reason`` for an explicit end, None for a drop."""
        self.attached_roles -= set(attachment.roles)
        self.attachments.discard(attachment)
        if reason is not None and self.end_reason is None:
            self.end_reason = reason
        if self.attached_roles or self._finishing is not None:
            return  # another connection still feeds this call (e.g. the other AudioSocket direction)
        if self.end_reason is not None or not self.resumable:
            await self.finish(self.end_reason or "disconnected")
            return
        # Dropped, resumable: close the open utterances now (a pause as long as the end-pointer
        # needs), so what was said before the drop is transcribed while we wait for a reconnect.
        pause_ms = self.registry.streaming_config.endpointing.min_silence_ms + 500
        self.feed_silence(pause_ms / 1000, attachment.roles)
        if self.registry.draining and self.registry.cluster is not None and await self.registry.cluster.hand_off(self):
            return  # this node is going away: the platform reconnects to a peer, which continues the call
        grace = self.registry.resume_grace_s
        log.info("call detached, waiting for a reconnect", extra={"call_id": self.call_id, "grace_s": grace})
        loop = asyncio.get_running_loop()
        self._grace = loop.call_later(grace, lambda: self.registry.keep(loop.create_task(self.finish("disconnected"))))

    def observe(self, event: dict[str, Any]) -> None:
        """Hand a published event to the observers' ``on_event``, in order, off the caller's path."""
        if not self.registry.observers:
            return
        if self._observed is None:
            self._observed = asyncio.Queue()
            self.registry.keep(asyncio.get_running_loop().create_task(self._run_observers(self._observed)))
        self._observed.put_nowait(event)

    async def _run_observers(self, queue: asyncio.Queue) -> None:
        while True:
            event = await queue.get()
            try:
                for observer, on_event in _hooks(self.registry.observers, "on_event"):
                    try:
                        await on_event(self, event)
                    except Exception:
                        log.exception("call observer failed", extra={"call_id": self.call_id, "event": event.get("type"),
                                                                     "observer": type(observer).__name__})
            finally:
                queue.task_done()
            if event.get("type") == "call.ended":
                return

    def _redacted(self, text: str, language: str) -> str:
        return redact(text, language, self.redact_kinds)[0] if self.redact_kinds and text else text

    @staticmethod
    def _redacted_words(words: list[tuple[str, float, float, float]], text: str,
                        redacted: str) -> list[dict[str, Any]]:
        """Word timings with the words of the *redacted* text: a masked span keeps the time of the
        words it replaced, so no personal data leaves through the word list."""
        timed = [{"word": w, "start": s, "end": e, "probability": p} for w, s, e, p in words]
        if redacted == text:
            return timed
        said, shown = [w["word"] for w in timed], redacted.split()
        out: list[dict[str, Any]] = []
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=said, b=shown, autojunk=False).get_opcodes():
            if tag == "equal":
                out.extend(timed[i1:i2])
            elif j2 > j1:
                span = timed[i1:i2] or timed[max(0, i1 - 1):i1] or timed[:1]
                start, end = (span[0]["start"], span[-1]["end"]) if span else (0.0, 0.0)
                step = (end - start) / (j2 - j1)
                prob = min((w["probability"] for w in span), default=0.0)
                out.extend({"word": shown[j1 + k], "start": round(start + k * step, 3),
                            "end": round(start + (k + 1) * step, 3), "probability": prob} for k in range(j2 - j1))
        return out

    async def _on_segment(self, segment: TranscriptSegment) -> None:
        # Redacted here, before the text reaches the bus, the record, the search or a log: the raw
        # words exist only in the speech engine's memory.
        event = TranscriptEvent(
            type="transcript.final" if segment.final else "transcript.partial",
            call_id=self.call_id, segment_id=segment.segment_id, speaker=segment.speaker,
            language=segment.language, text=self._redacted(segment.text, segment.language),
            start=segment.start, end=segment.end, confidence=segment.confidence, dialect=segment.dialect,
            stable_text=self._redacted(segment.stable_text, segment.language),
        )
        payload = event.model_dump(exclude_none=False)
        if segment.words is not None:  # a channel with word timestamps (AudioHook transcription)
            payload["words"] = self._redacted_words(segment.words, segment.text, payload["text"])
        if segment.final:
            payload = await self.registry.annotate(self, payload)
        await self.registry.emit(self.call_id, payload, persist=segment.final)
        task = asyncio.get_running_loop().create_task(self._suggest(event, segment.final))
        self._suggestion_tasks.add(task)
        task.add_done_callback(self._suggestion_tasks.discard)

    async def _suggest(self, segment: TranscriptEvent, final: bool) -> None:
        try:
            if final:
                await self.conversation.on_final(segment)
            else:
                await self.conversation.on_partial(segment)
        except Exception:
            log.exception("suggestion failed", extra={"call_id": self.call_id, "segment_id": segment.segment_id})

    async def hand_over(self, announce: Callable[[], Awaitable[None]]) -> None:
        """Leave the call to another node (this one drains): what was received is transcribed and
        recorded here, ``announce`` tells the cluster, then the session is dropped from this node
        without ending the record; the node the platform reconnects to continues it
        (``ClusterNode.adopt``)."""
        if self._finishing is not None:
            return
        self._finishing = asyncio.get_running_loop().create_task(self._hand_over(announce))
        await asyncio.shield(self._finishing)

    async def _hand_over(self, announce: Callable[[], Awaitable[None]]) -> None:
        try:
            await self.transcriber.finish()
            if self._suggestion_tasks:
                await asyncio.gather(*self._suggestion_tasks, return_exceptions=True)
            await announce()
        finally:
            self.registry.live.pop(self.call_id, None)
            self.registry.forget_sequence(self.call_id)
            log.info("call handed over", extra={"call_id": self.call_id})

    async def finish(self, reason: str) -> None:
        """Transcribe what was received, let suggestions land, then close the record (once)."""
        if self._finishing is None:
            if self._grace is not None:
                self._grace.cancel()
                self._grace = None
            self._finishing = asyncio.get_running_loop().create_task(self._finish(reason))
        await asyncio.shield(self._finishing)

    async def _finish(self, reason: str) -> None:
        try:
            await self.transcriber.finish()
            if self._suggestion_tasks:
                await asyncio.gather(*self._suggestion_tasks, return_exceptions=True)
            await self.conversation.on_end()
            if self._observed is not None:
                await self._observed.join()  # every event so far observed before the end is
            for observer, on_end in _hooks(self.registry.observers, "on_end"):
                try:
                    await on_end(self)
                except Exception:
                    log.exception("call observer failed at the end of the call",
                                  extra={"call_id": self.call_id, "observer": type(observer).__name__})
        finally:
            ended_at = utcnow()
            await asyncio.to_thread(self.registry.records.end, self.call_id, reason, ended_at)
            await self.registry.emit(self.call_id, CallEnded(call_id=self.call_id, ended_at=iso(ended_at),
                                                             reason=reason,
                                                             dropped_segments=self.transcriber.dropped).model_dump())
            self.registry.live.pop(self.call_id, None)
            self.registry.forget_sequence(self.call_id)
            self.registry.announce(self, "agent.call.ended")
            log.info("call ended", extra={"call_id": self.call_id, "reason": reason,
                                          "dropped_segments": self.transcriber.dropped})


class Attachment:
    """One connection's hold on a live call: it feeds the roles it carries, then lets go."""

    def __init__(self, session: CallSession, roles: list[str]):
        self.session = session
        self.roles = roles
        self.released = False
        # Set by a protocol that can ask its peer to reconnect elsewhere (AudioHook ``reconnect``):
        # a draining node calls it so that the call moves to another node instead of ending.
        self.ask_to_reconnect: Callable[[str], Awaitable[None]] | None = None

    @property
    def call_id(self) -> str:
        return self.session.call_id

    def feed(self, audio: np.ndarray) -> None:
        """(len(roles), n) float32 16 kHz audio."""
        if not self.released:
            self.session.feed(audio, self.roles)

    async def end(self, reason: str) -> None:
        """The peer ended the call explicitly (stop, hangup, close) or broke the protocol."""
        await self._release(reason)

    async def drop(self) -> None:
        """The connection went away without ending the call."""
        await self._release(None)

    async def _release(self, reason: str | None) -> None:
        if not self.released:
            self.released = True
            await self.session.release(self, reason)


class CallRegistry:
    """The live calls of this process, and the one place their events are numbered,
    recorded and published."""

    def __init__(self, engine: SpeechEngine, records: CallRecords, bus: EventBus, suggester: Suggester,
                 streaming_config: StreamingConfig, max_calls: int = 0, resume_grace_s: float = 15.0,
                 redaction: Callable[[str], list[str]] | None = None,
                 agent_team: Callable[[str, str], str | None] | None = None,
                 observers: list[CallObserver] | None = None):
        self.engine = engine
        self.observers: list[CallObserver] = list(observers or [])
        self.redaction = redaction or (lambda tenant: [])  # tenant → kinds of personal data to redact
        self.agent_team = agent_team or (lambda tenant, agent: None)  # (tenant, username) → team
        self.records = records
        self.bus = bus
        self.suggester = suggester
        self.streaming_config = streaming_config
        self.max_calls = max_calls
        self.resume_grace_s = resume_grace_s
        self.live: dict[str, CallSession] = {}
        # Agents named for calls that have not started yet (a PBX whose protocol carries no agent,
        # e.g. AudioSocket, announces them first): call id → (tenant, agent, monotonic deadline).
        self._pending_agents: dict[str, tuple[str, str, float]] = {}
        self._seq: dict[str, int] = {}
        self._write_lock = asyncio.Lock()
        self._open_lock = asyncio.Lock()
        self._background: set[asyncio.Task] = set()
        # A cluster node (assistant.cluster_node) when RAFIQ_REDIS_URL is set: cluster-wide numbering,
        # admission and live-call registry, and calls taken over from a lost node.
        self.cluster: Any = None
        self.draining = False  # SIGTERM: no new call is admitted; live ones finish

    def keep(self, task: asyncio.Task) -> None:
        """Hold a reference to a background task until it is done."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @property
    def streaming_calls(self) -> int:
        """Live calls with a connection feeding them (a detached call waiting for a resume costs nothing)."""
        return sum(1 for session in self.live.values() if session.attached_roles)

    async def open(self, call_id: str, tenant: str, roles: list[str], language: str | None, *,
                   feeds: list[str] | None = None, resumable: bool = False,
                   source: dict[str, Any] | None = None, agent: str | None = None,
                   campaign: str | None = None, platform: dict[str, str | None] | None = None) -> Attachment:
        """Start the call, or join it when it is resumable and ``feeds`` (default: all its roles)
        are free: a reconnect after a drop, or the second AudioSocket direction of a call."""
        if not CALL_ID_PATTERN.match(call_id):
            raise CallError("bad_call_id", "call_id must be 1-128 letters, digits, '.', '_', ':' or '-'")
        # Serialised: the two AudioSocket directions of a call arrive together, and both must not
        # find it missing and create it twice.
        async with self._open_lock:
            agent = agent or (source or {}).get("agent") or self._pending_agent(call_id, tenant)
            return await self._open(call_id, tenant, roles, language, list(feeds or roles), resumable, source, agent,
                                    campaign, platform)

    PENDING_AGENT_S = 300.0  # how long an agent named before the call starts waits for it

    def _pending_agent(self, call_id: str, tenant: str) -> str | None:
        now = asyncio.get_running_loop().time()
        for key, (_, _, deadline) in list(self._pending_agents.items()):
            if deadline < now:
                del self._pending_agents[key]
        pending = self._pending_agents.get(call_id)
        if pending is None or pending[0] != tenant:
            return None
        del self._pending_agents[call_id]
        return pending[1]

    async def _open(self, call_id: str, tenant: str, roles: list[str], language: str | None, feeds: list[str],
                    resumable: bool, source: dict[str, Any] | None, agent: str | None,
                    campaign: str | None = None, platform: dict[str, str | None] | None = None) -> Attachment:
        session = self.live.get(call_id)
        if session is not None:
            if session.tenant != tenant:
                # Another tenant's call id: answered as if it were any busy id, revealing nothing.
                raise CallError("call_busy", f"call {call_id!r} is already streaming")
            if not (session.resumable and resumable) or session.finishing or set(feeds) & session.attached_roles:
                raise CallError("call_busy", f"call {call_id!r} is already streaming")
            if not set(feeds) <= set(session.roles):
                raise CallError("call_busy", f"call {call_id!r} carries roles {session.roles}, not {feeds}")
            resumed = not session.attached_roles
            attachment = session.attach(feeds)
            log.info("call resumed" if resumed else "call joined",
                     extra={"call_id": call_id, "roles": feeds, "source": source})
            return attachment
        if self.cluster is not None and resumable:
            adopted = await self.cluster.adopt(call_id, tenant, feeds, source, language)
            if adopted is not None:
                return adopted  # its node died; the platform reconnected here
        if await asyncio.to_thread(self.records.get, call_id) is not None:
            raise CallError("call_exists", f"call {call_id!r} already took place; use a new call_id")
        if self.draining:
            raise CallError("draining", "this server is shutting down: connect to another", close_code=1013)
        if self.max_calls and self.streaming_calls >= self.max_calls:
            # 1013 "try again later": the speech engine would fall behind every live call.
            raise CallError("too_many_calls", f"this server is at its limit of {self.max_calls} live calls",
                            close_code=1013)
        if self.cluster is not None:
            await self.cluster.admit(call_id, tenant)  # the tenant's limit across the cluster
        redact_kinds, team = await asyncio.to_thread(
            lambda: (self.redaction(tenant), self.agent_team(tenant, agent) if agent else None))
        session = CallSession(call_id, tenant, roles, language, self, resumable=resumable, source=source,
                              agent=agent, team=team, redact_kinds=redact_kinds, campaign=campaign)
        self.live[call_id] = session
        attachment = session.attach(feeds)
        if self.cluster is not None:
            await self.cluster.opened(session)
        await asyncio.to_thread(self.records.create, call_id, tenant, roles, language, session.started_at,
                                agent, team, session.campaign, **platform_record(platform, redact_kinds))
        self._seq[call_id] = 0
        started = CallStarted(call_id=call_id, tenant=tenant, roles=roles, language=language, agent=agent,
                              started_at=iso(session.started_at)).model_dump()
        if source:
            started["source"] = source  # telephony: protocol and the platform's own ids
        await self.emit(call_id, started)
        self.announce(session, "agent.call.started")
        log.info("call started", extra={"call_id": call_id, "tenant": tenant, "roles": roles, "language": language,
                                        "agent": agent, "source": source})
        return attachment

    @staticmethod
    def agent_channel(tenant: str, agent: str) -> str:
        """The bus channel an agent's panel listens on for their calls starting and ending."""
        # "/" is never in a call id: no call's own event channel can be an agent's.
        return f"agent/{tenant}/{agent}"

    def announce(self, session: CallSession, kind: str) -> None:
        if session.agent:
            self.bus.publish(self.agent_channel(session.tenant, session.agent),
                             {"type": kind, "call_id": session.call_id, "started_at": iso(session.started_at)})

    def live_calls_of(self, tenant: str, agent: str) -> list[dict[str, Any]]:
        return [{"call_id": s.call_id, "started_at": iso(s.started_at)} for s in self.live.values()
                if s.tenant == tenant and s.agent == agent and not s.finishing]

    def expect_agent(self, call_id: str, tenant: str, agent: str) -> None:
        """Name the agent of a call that has not started yet: it is theirs when it starts (within
        ``PENDING_AGENT_S``) in ``tenant``."""
        if not CALL_ID_PATTERN.match(call_id):
            raise CallError("bad_call_id", "call_id must be 1-128 letters, digits, '.', '_', ':' or '-'")
        deadline = asyncio.get_running_loop().time() + self.PENDING_AGENT_S
        self._pending_agents[call_id] = (tenant, agent, deadline)

    async def assign_agent(self, call_id: str, agent: str | None) -> None:
        """Give a call to an agent (a PBX whose protocol carries no agent, e.g. AudioSocket, or a
        transfer): their panel picks it up if it is live."""
        session = self.live.get(call_id)
        record = await asyncio.to_thread(self.records.get, call_id)
        if record is None:
            raise CallError("unknown_call", f"no call {call_id!r}")
        team = await asyncio.to_thread(self.agent_team, record["tenant"], agent) if agent else None
        await asyncio.to_thread(self.records.set_agent, call_id, agent, team)
        if session is not None:
            previous = session.agent
            session.agent, session.team = agent, team
            if self.cluster is not None:
                await self.cluster.opened(session)  # the cluster's registry names the new agent
            if previous and previous != agent:
                self.bus.publish(self.agent_channel(session.tenant, previous),
                                 {"type": "agent.call.ended", "call_id": call_id, "started_at": iso(session.started_at)})
            self.announce(session, "agent.call.started")

    async def emit(self, call_id: str, event: dict[str, Any], persist: bool = True) -> dict[str, Any]:
        # Numbering and recording under one lock keeps seq order equal to record order.
        async with self._write_lock:
            known = self._seq.get(call_id, 0)
            seq = await self.cluster.next_seq(call_id, known) if self.cluster is not None else known + 1
            self._seq[call_id] = seq
            event = {**event, "seq": seq}
            if persist:
                await asyncio.to_thread(self.records.append, call_id, seq, event)
        self.bus.publish(call_id, event)
        session = self.live.get(call_id)
        if session is not None:
            session.observe(event)
        elif persist:
            for observer, on_late_event in _hooks(self.observers, "on_late_event"):
                try:
                    await on_late_event(call_id, event)
                except Exception:
                    log.exception("call observer failed", extra={"call_id": call_id, "event": event.get("type"),
                                                                 "observer": type(observer).__name__})
        return event

    async def annotate(self, session: CallSession, event: dict[str, Any]) -> dict[str, Any]:
        """A final transcript event with what each observer adds to it (see ``CallObserver``)."""
        for observer, annotate in _hooks(self.observers, "annotate"):
            try:
                event = await annotate(session, event)
            except Exception:
                log.exception("call observer failed to annotate", extra={"call_id": session.call_id,
                                                                       "observer": type(observer).__name__})
        return event

    def forget_sequence(self, call_id: str) -> None:
        """An ended call's numbering is read back from its record if it is ever needed again."""
        self._seq.pop(call_id, None)

    async def emit_on_record(self, call_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """``emit`` on a live call, or on the record of an ended one (its numbering read back)."""
        if call_id not in self._seq:
            events = await asyncio.to_thread(self.records.events, call_id)
            self._seq[call_id] = max((e["seq"] for e in events), default=0)
        published = await self.emit(call_id, event)
        if call_id not in self.live:
            self.forget_sequence(call_id)
        return published

    async def feedback(self, call_id: str, suggestion_id: str, action: str, text: str | None) -> dict[str, Any]:
        call = await asyncio.to_thread(self.records.get, call_id)
        if call is None:
            raise CallError("unknown_call", f"no call {call_id!r}")
        events = await asyncio.to_thread(self.records.events, call_id)
        if not any(e["type"] == "suggestion" and e["suggestion_id"] == suggestion_id for e in events):
            raise CallError("unknown_suggestion", f"no suggestion {suggestion_id!r} in call {call_id!r}")
        event = SuggestionFeedback(call_id=call_id, suggestion_id=suggestion_id, action=action, text=text)
        return await self.emit_on_record(call_id, event.model_dump())

    async def call_view(self, call_id: str) -> dict[str, Any] | None:
        call = await asyncio.to_thread(self.records.get, call_id)
        if call is None:
            return None
        events = await asyncio.to_thread(self.records.events, call_id)
        feedback = {e["suggestion_id"]: e for e in events if e["type"] == "suggestion.feedback"}
        call["segments"] = [e for e in events if e["type"] == "transcript.final"]
        # The suggestions the agent was left with: not those a later one replaced or that were retracted.
        gone = {e.get("replaces") for e in events if e["type"] == "suggestion"} | {
            e["suggestion_id"] for e in events if e["type"] == "suggestion.retracted"}
        call["suggestions"] = [
            {**e, "feedback": ({"action": feedback[e["suggestion_id"]]["action"],
                                "text": feedback[e["suggestion_id"]]["text"]}
                               if e["suggestion_id"] in feedback else None)}
            for e in events if e["type"] == "suggestion" and e["suggestion_id"] not in gone
        ]
        # The speech model's time and energy for the call (assistant.compute), once it has ended.
        compute = next((e for e in reversed(events) if e["type"] == "call.compute"), None)
        call["compute"] = ({k: v for k, v in compute.items() if k not in ("type", "call_id", "seq")}
                           if compute else None)
        return call
