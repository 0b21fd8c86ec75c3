"""Twilio Media Streams (WebSocket /v1/ingest/twilio): connected, start, media, dtmf, mark, stop.

Twilio forks the call with ``<Start><Stream url="wss://…/v1/ingest/twilio" track="both_tracks">``
and sends JSON text frames: ``connected``, then ``start`` (streamSid, callSid, tracks,
customParameters, mediaFormat audio/x-mulaw 8000 Hz mono), then ``media`` (track, chunk,
timestamp in ms from the stream start, base64 mu-law payload, ~20 ms each), ``dtmf``, ``mark``
and finally ``stop``. Twilio expects nothing back from a unidirectional stream and defines no
error message a server could send; it reports a closed socket in its Debugger. So a fatal
problem (no usable start) closes the socket with a WebSocket close code and reason, and a bad
message in a running call is logged and skipped rather than cutting the call's transcription.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from typing import Literal

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, ValidationError

from assistant.sessions import CallError

from .auth import UNBOUND, Binding, Refused, check_twilio, twilio_url
from .driver import CallMetadata, TelephonyCall, language_hint

log = logging.getLogger(__name__)

# Twilio names the two directions of the forked call leg; on the customer's leg, "inbound" is
# what the customer says to Twilio and "outbound" what Twilio plays to them: the agent.
TRACK_ROLES = {"inbound": "customer", "outbound": "agent"}
GAP_FILL_MIN_MS = 60  # a media timestamp this far ahead of the audio received is a gap
GAP_FILL_MAX_S = 10.0


class MediaFormat(BaseModel):
    encoding: str = "audio/x-mulaw"
    sampleRate: int = 8000
    channels: int = 1


class StartInfo(BaseModel):
    accountSid: str | None = None
    streamSid: str | None = None
    callSid: str
    tracks: list[Literal["inbound", "outbound"]] = Field(default_factory=lambda: ["inbound"], min_length=1)
    customParameters: dict[str, str] = Field(default_factory=dict)
    mediaFormat: MediaFormat = Field(default_factory=MediaFormat)


class StartMessage(BaseModel):
    event: Literal["start"]
    sequenceNumber: str | None = None
    streamSid: str | None = None
    start: StartInfo


class Media(BaseModel):
    track: Literal["inbound", "outbound"]
    chunk: str | None = None
    timestamp: str | None = None
    payload: str


class MediaMessage(BaseModel):
    event: Literal["media"]
    sequenceNumber: str | None = None
    streamSid: str | None = None
    media: Media


class StreamClosed(Exception):
    """Close the Twilio socket with this WebSocket close code; the reason names an error code."""

    def __init__(self, code: int, error: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.error = error
        self.reason = f"{error}: {detail}"


def metadata_from_start(start: StartInfo, allowed_languages: tuple[str, ...],
                        binding: Binding = UNBOUND) -> CallMetadata:
    fmt = start.mediaFormat
    if fmt.encoding != "audio/x-mulaw" or fmt.sampleRate != 8000 or fmt.channels != 1:
        # Media Streams always send 8 kHz mono mu-law; anything else is not Twilio's format.
        raise StreamClosed(1003, "unsupported_media_format", f"mediaFormat {fmt.encoding} {fmt.sampleRate} Hz x{fmt.channels}")
    params = start.customParameters
    roles = [role for track, role in TRACK_ROLES.items() if track in start.tracks]
    tenant, campaign = binding.apply(params.get("tenant"), params.get("campaign"), "twilio")
    try:
        return CallMetadata(
            call_id=start.callSid, protocol="twilio", roles=roles, tenant=tenant or "default",
            language=language_hint(params.get("language"), allowed_languages),
            platform={"stream_sid": start.streamSid, "account_sid": start.accountSid,
                      "campaign": campaign, "agent": params.get("agent")},
            # Media Streams carry no numbers: the TwiML <Parameter>s from/to (or caller/called) do.
            record={"stream_id": start.streamSid, "caller_number": params.get("from") or params.get("caller"),
                    "called_number": params.get("to") or params.get("called"), "queue": params.get("queue"),
                    "platform_agent_id": params.get("agent_id")},
        )
    except ValidationError as exc:
        raise StreamClosed(1008, "bad_start", exc.errors()[0]["msg"]) from None


class TwilioStream:
    """One Media Streams WebSocket."""

    def __init__(self, ws: WebSocket, services):
        self.ws = ws
        self.svc = services
        self.call: TelephonyCall | None = None
        self.stream_sid: str | None = None
        self.last_sequence = 0
        self.media_dropped = 0
        self.binding: Binding = UNBOUND

    def _log_extra(self, **fields) -> dict:
        return {"call_id": self.call.call_id if self.call else None, "stream_sid": self.stream_sid, **fields}

    def _authenticate(self) -> None:
        """X-Twilio-Signature over the URL Twilio was given (RAFIQ_PUBLIC_URL + path and query)."""
        auth = self.svc.ingress
        if auth is None or not auth.twilio:
            return  # RAFIQ_TWILIO_AUTH_TOKEN unset: open (development), listed at start-up
        url = twilio_url(auth.public_url, self.ws.url.path, self.ws.url.query, str(self.ws.url))
        self.binding = check_twilio(auth.twilio, url, self.ws.headers.get("x-twilio-signature"))

    async def run(self) -> None:
        try:
            self._authenticate()
        except Refused as exc:
            client = self.ws.client
            log.warning("twilio: upgrade refused", extra={"remote": client.host if client else None,
                                                         "detail": exc.detail})
            await self.ws.close(1008)  # before accept: the upgrade is answered HTTP 403
            return
        await self.ws.accept()
        try:
            await self._receive_until_start()
            ended = await self._receive_media()
        except StreamClosed as exc:
            log.info("twilio stream refused", extra=self._log_extra(code=exc.error, close_code=exc.code,
                                                                     detail=str(exc)))
            if self.call is not None:
                await self.call.end(f"error:{exc.error}")
            await self._close(exc.code, exc.reason)
            return
        except WebSocketDisconnect:
            ended = False
        if self.call is None:
            return
        if ended:
            await self.call.end("stop")
            await self._close(1000, "stop")
        else:
            await self.call.drop()

    async def _close(self, code: int, reason: str) -> None:
        try:
            await self.ws.close(code, reason[:120])
        except RuntimeError:
            pass  # already closed

    async def _next_message(self, timeout: float | None = None) -> dict | None:
        """The next JSON message; None for one that is not (logged and skipped)."""
        if timeout is None:
            message = await self.ws.receive()
        else:
            try:
                message = await asyncio.wait_for(self.ws.receive(), timeout)
            except asyncio.TimeoutError:
                raise StreamClosed(1008, "start_timeout", f"no start message within {timeout:g} s") from None
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1006))
        text = message.get("text")
        try:
            payload = json.loads(text) if text is not None else None
        except json.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            log.warning("twilio: skipped a frame that is not a JSON message", extra=self._log_extra())
            return None
        self._check_sequence(payload)
        return payload

    def _check_sequence(self, payload: dict) -> None:
        # sequenceNumber counts every message of the stream from 1; a jump means lost messages.
        try:
            number = int(payload.get("sequenceNumber"))
        except (TypeError, ValueError):
            return
        if self.last_sequence and number != self.last_sequence + 1:
            log.warning("twilio: messages out of sequence",
                        extra=self._log_extra(expected=self.last_sequence + 1, got=number))
        self.last_sequence = max(self.last_sequence, number)

    async def _receive_until_start(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.svc.settings.start_timeout_s
        while self.call is None:
            payload = await self._next_message(timeout=max(0.0, deadline - loop.time()))
            if payload is None:
                continue
            event = payload.get("event")
            if event == "connected":
                log.info("twilio stream connected", extra=self._log_extra(version=payload.get("version")))
            elif event == "start":
                await self._start(payload)
            elif event == "stop":
                raise StreamClosed(1000, "stop", "stopped before start")
            else:
                # media before start cannot belong to a call yet
                log.warning("twilio: message before start skipped", extra=self._log_extra(event=event))

    async def _start(self, payload: dict) -> None:
        try:
            start = StartMessage.model_validate(payload)
        except ValidationError as exc:
            raise StreamClosed(1008, "bad_start", f"{exc.errors()[0]['loc']} {exc.errors()[0]['msg']}") from None
        self.stream_sid = start.streamSid or start.start.streamSid
        meta = metadata_from_start(start.start, self.svc.settings.languages, self.binding)
        try:
            self.call = await TelephonyCall.open(self.svc.calls, meta)
        except CallError as exc:
            raise StreamClosed(exc.close_code, exc.code, exc.message) from None
        for track in start.start.tracks:
            self.call.add_stream(track, "pcm_mulaw", 8000, [TRACK_ROLES[track]])
        log.info("twilio stream started", extra=self._log_extra(tracks=start.start.tracks,
                                                                 custom_parameters=start.start.customParameters))

    async def _receive_media(self) -> bool:
        """Until stop (True) or the socket goes away (raises WebSocketDisconnect)."""
        while True:
            payload = await self._next_message()
            if payload is None:
                continue
            event = payload.get("event")
            if event == "media":
                self._media(payload)
            elif event == "stop":
                return True
            elif event == "dtmf":
                digit = (payload.get("dtmf") or {}).get("digit")
                log.info("twilio dtmf", extra=self._log_extra(digit=digit))
            elif event == "mark":
                log.debug("twilio mark", extra=self._log_extra(mark=(payload.get("mark") or {}).get("name")))
            elif event in ("connected", "start"):
                log.warning("twilio: repeated %s skipped", event, extra=self._log_extra())
            else:
                log.warning("twilio: unknown event skipped", extra=self._log_extra(event=event))

    def _media(self, payload: dict) -> None:
        try:
            media = MediaMessage.model_validate(payload).media
            audio = base64.b64decode(media.payload, validate=True)
        except (ValidationError, binascii.Error, ValueError):
            self.media_dropped += 1
            log.warning("twilio: malformed media skipped", extra=self._log_extra(dropped=self.media_dropped))
            return
        if not self.call.has_stream(media.track):
            log.warning("twilio: media on a track not in start skipped", extra=self._log_extra(track=media.track))
            return
        if media.timestamp is not None and media.timestamp.isdigit():
            # timestamp: ms of this chunk from the stream start. Twilio skips nothing on a healthy
            # line; a jump means lost chunks, filled with silence to keep the two tracks aligned.
            received_ms = self.call.samples_in[media.track] / 8
            gap_ms = int(media.timestamp) - received_ms
            if gap_ms >= GAP_FILL_MIN_MS:
                self.call.push_silence(media.track, min(gap_ms / 1000, GAP_FILL_MAX_S))
                self.call.samples_in[media.track] += int(gap_ms * 8)
        self.call.push(media.track, audio)


async def handle(ws: WebSocket, services) -> None:
    await TwilioStream(ws, services).run()
