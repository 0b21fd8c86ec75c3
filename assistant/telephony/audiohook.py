"""Genesys Cloud AudioHook protocol v2 (WebSocket /v1/ingest/audiohook).

Every text message is a JSON envelope ``{version: "2", id, type, seq, parameters}``; the client's
carry ``serverseq`` and ``position`` (ISO 8601 duration of audio sent), ours ``clientseq``. The
client opens (``open``: conversationId, participant, media offers, language, customConfig), we
answer ``opened`` with the chosen media; it pings (``pong``), pauses and resumes, updates the
language, reports ``discarded`` audio and ``error``s, and closes (``closed``). Binary frames are
the chosen media: PCMU 8 kHz, channels interleaved in the order of the chosen offer (external =
customer, internal = agent). A protocol violation is answered, as the protocol defines, with
``disconnect`` (reason ``error``, or ``unauthorized`` for a bad X-API-KEY); the client then
sends ``close`` and we answer ``closed``. A ``close`` with reason ``reconnect`` (or ``error``)
keeps the call resumable: Genesys opens a new session for the same conversation. A draining node
of a cluster sends ``reconnect``: the client closes with reason ``reconnect`` and reopens (through
the load balancer) on another node, which continues the call (``ClusterNode.hand_off``/``adopt``).

Authentication (``auth.py``): the X-API-KEY and, when the key has a client secret, the HTTP message
signature of the upgrade request; a failure is answered ``disconnect`` reason ``unauthorized``.

Transcription connector: when the ``open`` asks for ``supportedLanguages`` (Genesys's transcription
connector does), the ``opened`` lists the languages Rafiq transcribes and every final utterance
goes back as an ``event`` whose entity is a ``transcript`` (word tokens from Whisper's word
timestamps), its offsets on this session's stream timeline: paused and discarded audio count in
positions though Genesys never sent it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from typing import Any, Literal

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, ValidationError

from assistant.sessions import CallError

from .auth import UNBOUND, Binding, Refused, SignedRequest, check_audiohook
from .driver import CallMetadata, TelephonyCall, language_hint

log = logging.getLogger(__name__)

CHANNEL_ROLES = {"external": "customer", "internal": "agent"}
NULL_UUID = "00000000-0000-0000-0000-000000000000"  # conversationId of Genesys's connection probe
MAX_TEXT_MESSAGE = 65535  # larger text messages are a client error in the reference server
MAX_SILENCE_FILL_S = 2.0  # enough to end an utterance across a pause or a discarded stretch
CLOSE_WAIT_S = 5.0  # after our disconnect, how long the client gets to send close
CLOSED_WITHIN_S = 3.0  # longest wait for the call to finish before answering close with closed
DURATION = re.compile(r"^PT(\d+(?:\.\d+)?)S$")


def seconds(duration: str | None) -> float:
    """'PT1.25S' → 1.25 (AudioHook durations are seconds only); 0 for anything else."""
    match = DURATION.match(duration or "")
    return float(match.group(1)) if match else 0.0


def duration(value: float) -> str:
    """1.25 → 'PT1.25S' (ISO 8601, seconds, millisecond precision)."""
    text = f"{max(0.0, value):.3f}".rstrip("0").rstrip(".")
    return f"PT{text}S"


# Rafiq's languages as the BCP 47 tags AudioHook speaks (supportedLanguages, transcript languages);
# an open's own language tag wins for its language (e.g. es-MX).
LANGUAGE_TAGS = {"fr": "fr-FR", "ar": "ar-MA", "es": "es-ES", "en": "en-US", "pt": "pt-PT"}


def language_tag(code: str, preferred: str | None = None) -> str:
    if preferred and preferred.replace("_", "-").split("-")[0].lower() == code:
        return preferred.replace("_", "-")
    return LANGUAGE_TAGS.get(code, code)


class StreamTimeline:
    """The call's channel time (what Rafiq was fed) → this session's stream position (what
    Genesys counts, paused and discarded audio included), as anchors (call_s, stream_s)."""

    def __init__(self, call_s: float, stream_s: float):
        self.anchors = [(call_s, stream_s)]

    def anchor(self, call_s: float, stream_s: float) -> None:
        self.anchors.append((call_s, stream_s))

    def position(self, call_s: float) -> float:
        base_call, base_stream = self.anchors[0]
        for anchor_call, anchor_stream in self.anchors:
            if anchor_call <= call_s + 1e-6:
                base_call, base_stream = anchor_call, anchor_stream
        return base_stream + (call_s - base_call)


def transcript_entity(event: dict[str, Any], channel_id: int, timeline: StreamTimeline,
                      language: str | None) -> dict[str, Any]:
    """A Rafiq ``transcript.final`` (or partial) event as an AudioHook ``transcript`` entity."""
    start = timeline.position(event["start"])
    tag = language_tag(event["language"], language)
    tokens = []
    for word in event.get("words") or []:
        offset = timeline.position(word["start"])
        tokens.append({"type": "word", "value": word["word"], "confidence": round(float(word["probability"]), 3),
                       "offset": duration(offset), "duration": duration(max(0.0, word["end"] - word["start"])),
                       "language": tag})
    confidence = event.get("confidence")
    return {"type": "transcript", "data": {
        # The segment id is stable across partials and the final: one id per utterance.
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event['call_id']}/{event['segment_id']}")),
        "channelId": channel_id,
        "isFinal": event["type"] == "transcript.final",
        "offset": duration(start),
        "duration": duration(max(0.0, event["end"] - event["start"])),
        "alternatives": [{
            "confidence": round(float(confidence), 3) if confidence is not None else 0.0,
            "languages": [tag],
            "interpretations": [{"type": "display", "transcript": event["text"], "tokens": tokens}],
        }],
    }}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class ClientMessage(BaseModel):
    version: Literal["2"]
    id: str = Field(min_length=1)
    type: str
    seq: int = Field(ge=1)
    serverseq: int = Field(ge=0)
    position: str
    parameters: dict[str, Any]


class MediaOffer(BaseModel):
    type: Literal["audio"]
    format: str
    channels: list[Literal["external", "internal"]] = Field(min_length=1, max_length=2)
    rate: int


class Participant(BaseModel):
    id: str | None = None
    ani: str | None = None
    aniName: str | None = None
    dnis: str | None = None


class OpenParameters(BaseModel):
    organizationId: str
    conversationId: str = Field(pattern=r"^[0-9a-fA-F-]{36}$")
    participant: Participant = Field(default_factory=Participant)
    media: list[MediaOffer]
    language: str | None = None
    supportedLanguages: bool = False
    continuedSessions: list[dict[str, Any]] | None = None
    customConfig: dict[str, Any] = Field(default_factory=dict)


def choose_media(offers: list[MediaOffer]) -> MediaOffer | None:
    """PCMU 8 kHz, both channels (external+internal) preferred over one; None if none is PCMU."""
    usable = [o for o in offers if o.format == "PCMU" and o.rate == 8000 and len(set(o.channels)) == len(o.channels)]
    usable.sort(key=lambda o: (-len(o.channels), o.channels[0] != "external"))
    return usable[0] if usable else None


class Disconnect(Exception):
    """Signal the client to disconnect: reason ``error`` or ``unauthorized``."""

    def __init__(self, reason: Literal["error", "unauthorized"], info: str, code: str = "protocol_error"):
        super().__init__(info)
        self.reason = reason
        self.info = info
        self.code = code


class AudioHookSession:
    """One AudioHook WebSocket session (one ``id``)."""

    def __init__(self, ws: WebSocket, services):
        self.ws = ws
        self.svc = services
        self.session_id: str | None = ws.headers.get("audiohook-session-id")
        self.seq = 0  # our last message's seq
        self.clientseq = 0  # the client's last message's seq
        self.state: Literal["preparing", "active", "paused", "closed", "disconnecting"] = "preparing"
        self.call: TelephonyCall | None = None
        self.conversation_id: str | None = None
        self.probe = False
        self.call_end: str | None = None  # "close" (ended) / None (dropped)
        self.binding: Binding = UNBOUND
        self.refused: str | None = None  # why the upgrade did not authenticate (told at open)
        # Transcription connector: channel ids of the opened media per role, the stream timeline,
        # the language Genesys asked for and the task sending transcripts back.
        self.transcribe = False
        self.channel_ids: dict[str, int] = {}
        self.timeline: StreamTimeline | None = None
        self.language: str | None = None
        self._transcripts: asyncio.Task | None = None
        self._events: asyncio.Queue | None = None

    def _log_extra(self, **fields) -> dict:
        return {"call_id": self.conversation_id, "audiohook_session": self.session_id, **fields}

    async def send(self, type_: str, parameters: dict[str, Any]) -> None:
        self.seq += 1
        message = {"version": "2", "type": type_, "id": self.session_id, "seq": self.seq,
                   "clientseq": self.clientseq, "parameters": parameters}
        await self.ws.send_text(json.dumps(message))

    def _authenticate(self) -> None:
        auth = self.svc.ingress
        if auth is None or not auth.audiohook:
            return  # RAFIQ_AUDIOHOOK_API_KEY unset: open (development), listed at start-up
        url = self.ws.url
        scheme = "https" if url.scheme in ("wss", "https") else "http"
        headers = self.ws.headers
        # @authority is the Host the client connected to; @request-target the path and query.
        request = SignedRequest("GET", f"{scheme}://{headers.get('host', url.netloc)}{url.path}"
                                       f"{'?' + url.query if url.query else ''}", headers)
        try:
            self.binding = check_audiohook(auth.audiohook, request, auth.nonces)
        except Refused as exc:
            self.refused = exc.detail
            client = self.ws.client
            log.warning("audiohook: upgrade not authenticated", extra=self._log_extra(
                remote=client.host if client else None, detail=exc.detail))

    async def run(self) -> None:
        self._authenticate()
        await self.ws.accept()
        try:
            await self._loop()
        except WebSocketDisconnect:
            pass
        finally:
            await self._release()
            await self._stop_transcripts()

    async def _release(self) -> None:
        if self.call is None:
            return
        call, self.call = self.call, None
        if self.call_end is not None:
            await call.end(self.call_end)
        else:
            await call.drop()

    async def _loop(self) -> None:
        timeout = self.svc.settings.start_timeout_s
        while True:
            wait = timeout if self.state == "preparing" else CLOSE_WAIT_S if self.state == "disconnecting" else None
            try:
                message = await asyncio.wait_for(self.ws.receive(), wait)
            except asyncio.TimeoutError:
                if self.state == "preparing":
                    await self._disconnect(Disconnect("error", f"no open message within {timeout:g} s", "open_timeout"))
                    continue
                break  # the client never closed after our disconnect
            if message["type"] == "websocket.disconnect":
                return
            try:
                if message.get("bytes") is not None:
                    self._audio(message["bytes"])
                else:
                    await self._text(message.get("text") or "")
            except Disconnect as exc:
                await self._disconnect(exc)
            if self.state == "closed":
                break
        try:
            await self.ws.close(1000)
        except RuntimeError:
            pass

    async def _disconnect(self, exc: Disconnect) -> None:
        if self.state in ("disconnecting", "closed"):
            log.warning("audiohook: error after disconnect suppressed", extra=self._log_extra(detail=exc.info))
            return
        log.warning("audiohook: disconnecting client", extra=self._log_extra(reason=exc.reason, code=exc.code,
                                                                                 detail=exc.info))
        if self.call is not None:
            self.call_end = f"error:{exc.code}"  # audio so far is kept; the call ends when the socket does
        self.state = "disconnecting"
        await self.send("disconnect", {"reason": exc.reason, "info": exc.info})

    def _audio(self, data: bytes) -> None:
        if self.state == "disconnecting":
            return
        if self.state != "active":
            raise Disconnect("error", f"Received audio in state {self.state}", "unexpected_audio")
        if self.call is not None:  # None: the connection probe, whose audio is not a call
            self.call.push("audio", data)

    async def _text(self, text: str) -> None:
        if len(text) > MAX_TEXT_MESSAGE:
            raise Disconnect("error", f"Text message too large (>64K). Length: {len(text)}", "message_too_large")
        try:
            payload = json.loads(text)
            message = ClientMessage.model_validate(payload)
        except (json.JSONDecodeError, ValidationError):
            raise Disconnect("error", "Message not a well-formed client message", "bad_message") from None
        # Sequence rules of the protocol: client seq increases by exactly one from 1; serverseq
        # acknowledges our messages, so it cannot be ahead of what we sent; one id per session.
        if message.seq != self.clientseq + 1:
            raise Disconnect("error", f"Invalid seq value (expected {self.clientseq + 1}, got {message.seq})",
                             "bad_seq")
        self.clientseq = message.seq
        if message.serverseq > self.seq:
            raise Disconnect("error", "Invalid serverseq value", "bad_serverseq")
        if self.session_id is None:
            self.session_id = message.id
        elif message.id != self.session_id:
            raise Disconnect("error", "Session identifier mismatch", "bad_session_id")
        handler = getattr(self, f"_on_{message.type}", None)
        if handler is None:
            raise Disconnect("error", f"Invalid Message: '{message.type}' is not a supported client message",
                             "unknown_message")
        if self.state == "disconnecting" and message.type != "close":
            return  # after our disconnect only the client's close matters
        await handler(message)

    async def _on_open(self, message: ClientMessage) -> None:
        if self.state != "preparing":
            log.warning("audiohook: open ignored in state %s", self.state, extra=self._log_extra())
            return
        try:
            params = OpenParameters.model_validate(message.parameters)
        except ValidationError as exc:
            raise Disconnect("error", f"Invalid Message: Invalid/missing parameters ({exc.errors()[0]['loc']})",
                             "bad_open") from None
        self.conversation_id = params.conversationId.lower()
        if self.refused is None and self.svc.ingress is not None and self.svc.ingress.audiohook:
            header_org = self.ws.headers.get("audiohook-organization-id")
            if header_org is not None and header_org.lower() != params.organizationId.lower():
                self.refused = "organizationId differs from the Audiohook-Organization-Id header"
        if self.refused is not None:
            self.conversation_id = None  # no call is opened for it
            raise Disconnect("unauthorized", "X-API-KEY or request signature not accepted", "unauthorized")
        media = choose_media(params.media)
        if media is None:
            raise Disconnect("error", "No supported media format offered (Rafiq takes PCMU 8000 Hz)", "bad_media")
        roles = [CHANNEL_ROLES[channel] for channel in media.channels]
        self.probe = self.conversation_id == NULL_UUID
        if not self.probe:
            config = params.customConfig
            tenant, campaign = self.binding.apply(config.get("tenant") or self.ws.query_params.get("tenant"),
                                                  config.get("campaign"), "audiohook")
            try:
                meta = CallMetadata(
                    call_id=self.conversation_id, protocol="audiohook", roles=sorted(roles, key=["customer", "agent"].index),
                    tenant=str(tenant or "default"), language=language_hint(params.language, self.svc.settings.languages),
                    platform={"session_id": self.session_id, "organization_id": params.organizationId,
                              "participant_id": params.participant.id,
                              "campaign": campaign,
                              "agent": config.get("agent"),
                              "continued_sessions": [s.get("id") for s in params.continuedSessions or []] or None},
                    record={"stream_id": self.session_id, "caller_number": params.participant.ani,
                            "called_number": params.participant.dnis,
                            "queue": _text(config.get("queue")), "platform_agent_id": _text(config.get("agentId"))},
                )
            except ValidationError as exc:
                raise Disconnect("error", f"customConfig: {exc.errors()[0]['msg']}", "bad_open") from None
            try:
                self.call = await TelephonyCall.open(self.svc.calls, meta)
            except CallError as exc:
                raise Disconnect("error", f"{exc.code}: {exc.message}", exc.code) from None
            self.call.add_stream("audio", "pcm_mulaw", 8000, roles)
            self.call.attachment.ask_to_reconnect = self._ask_to_reconnect
            self.transcribe = params.supportedLanguages or bool(params.customConfig.get("transcription"))
            if self.transcribe:
                self._start_transcripts(media, params.language, seconds(message.position))
        opened: dict[str, Any] = {"startPaused": False, "media": [media.model_dump()]}
        if params.supportedLanguages:
            opened["supportedLanguages"] = [language_tag(code) for code in self.svc.settings.languages]
        self.state = "active"
        await self.send("opened", opened)
        log.info("audiohook session opened", extra=self._log_extra(media=media.model_dump(), probe=self.probe,
                                                                   position=message.position))

    async def _on_ping(self, message: ClientMessage) -> None:
        await self.send("pong", {})

    async def _on_paused(self, message: ClientMessage) -> None:
        if self.state == "active":
            self.state = "paused"
            log.info("audiohook paused", extra=self._log_extra(position=message.position))
        else:
            log.warning("audiohook: paused ignored in state %s", self.state, extra=self._log_extra())

    async def _on_resumed(self, message: ClientMessage) -> None:
        if self.state != "paused":
            log.warning("audiohook: resumed ignored in state %s", self.state, extra=self._log_extra())
            return
        self.state = "active"
        self._fill_gap(seconds(message.parameters.get("discarded")))
        log.info("audiohook resumed", extra=self._log_extra(parameters=message.parameters))

    async def _on_discarded(self, message: ClientMessage) -> None:
        # The client dropped audio (e.g. it fell behind); the stream position moved on without it.
        self._fill_gap(seconds(message.parameters.get("discarded")))
        log.warning("audiohook: client discarded audio", extra=self._log_extra(parameters=message.parameters))

    def _fill_gap(self, gap: float) -> None:
        if self.call is not None and gap > 0:
            self.call.push_silence("audio", min(gap, MAX_SILENCE_FILL_S))
            if self.timeline is not None:
                # The stream moved on by the whole gap; the call's channels by the fill only.
                call_s = self._call_time()
                self.timeline.anchor(call_s, self.timeline.position(call_s) + gap - min(gap, MAX_SILENCE_FILL_S))

    # --- transcription connector ----------------------------------------------------------------

    def _call_time(self) -> float:
        return self.call.attachment.session.transcriber.channels[0].received_s

    def _start_transcripts(self, media: MediaOffer, language: str | None, position_s: float) -> None:
        session = self.call.attachment.session
        self.channel_ids = {CHANNEL_ROLES[channel]: index for index, channel in enumerate(media.channels)}
        self.language = language
        self.timeline = StreamTimeline(self._call_time(), position_s)
        for channel in session.transcriber.channels:
            channel.word_timestamps = True
        self._events = self.svc.calls.bus.subscribe(self.conversation_id)
        self._transcripts = asyncio.ensure_future(self._send_transcripts())

    async def _send_transcripts(self) -> None:
        while True:
            event = await self._events.get()
            if event.get("type") == "call.ended":
                return
            if event.get("type") != "transcript.final" or event.get("speaker") not in self.channel_ids:
                continue
            if self.state not in ("active", "paused"):
                continue  # after our disconnect or the close, nothing more is sent
            entity = transcript_entity(event, self.channel_ids[event["speaker"]], self.timeline, self.language)
            try:
                await self.send("event", {"entities": [entity]})
            except (RuntimeError, WebSocketDisconnect):
                return
            log.debug("audiohook transcript sent", extra=self._log_extra(segment_id=event["segment_id"]))

    async def _stop_transcripts(self) -> None:
        if self._events is not None:
            self.svc.calls.bus.unsubscribe(self.conversation_id, self._events)
            self._events = None
        if self._transcripts is not None:
            self._transcripts.cancel()

    async def _on_update(self, message: ClientMessage) -> None:
        language = message.parameters.get("language")
        if self.call is not None and isinstance(language, str):
            self.language = language  # transcripts carry Genesys's tag for it from now on
            hint = language_hint(language, self.svc.settings.languages)
            self.call.attachment.session.set_language(hint)
            log.info("audiohook language updated", extra=self._log_extra(language=language, forced=hint))

    async def _ask_to_reconnect(self, info: str) -> None:
        """``reconnect``: Genesys closes this session (``close`` reason ``reconnect``) and opens a
        new one, with this one in ``continuedSessions``, through the load balancer to another node."""
        if self.state in ("active", "paused"):
            log.info("audiohook: asking the client to reconnect", extra=self._log_extra(info=info))
            await self.send("reconnect", {"info": info})

    async def _on_error(self, message: ClientMessage) -> None:
        log.warning("audiohook: client reported an error", extra=self._log_extra(parameters=message.parameters))

    async def _on_close(self, message: ClientMessage) -> None:
        reason = message.parameters.get("reason")
        # 'end' (the conversation or the hook ended) and 'disconnect' (after ours) end the call;
        # 'reconnect' and 'error' mean Genesys will continue the conversation on a new session.
        if self.call is not None and self.call_end is None and reason not in ("reconnect", "error"):
            self.call_end = "close"
        # closed is due once our close handling is done: the call's last utterances are
        # transcribed first, but Genesys is not kept waiting on a busy engine beyond a bound.
        release = asyncio.ensure_future(self._release())
        self.svc.calls.keep(release)
        await asyncio.wait({release}, timeout=CLOSED_WITHIN_S)
        if self._transcripts is not None:
            # The last utterances' transcripts go out before closed (the call's end, within the bound).
            await asyncio.wait({self._transcripts}, timeout=0.2 if not release.done() else 1.0)
        self.state = "closed"
        await self.send("closed", {})
        log.info("audiohook session closed", extra=self._log_extra(reason=reason, position=message.position))


async def handle(ws: WebSocket, services) -> None:
    await AudioHookSession(ws, services).run()
