"""FreeSWITCH mod_audio_fork / mod_audio_stream (WebSocket /v1/ingest/freeswitch).

``uuid_audio_fork <uuid> start <wss-url> <mix-type> <sampling-rate> <metadata>`` (and
mod_audio_stream's ``uuid_audio_stream``) connect, send the metadata JSON as the first text
frame, then binary frames of L16 (signed 16-bit little-endian PCM) at the chosen rate: ``mono``
= the caller alone, ``mixed`` = both parties in one channel, ``stereo`` = caller on channel 0,
callee on channel 1, interleaved. Later text frames (``send_text``) carry application data and
are logged. ``stop`` or a hangup closes the socket normally (1000): the call ends; a socket that
breaks without a close frame leaves the call resumable. Neither module defines a server error
message; bad input gets the native ingest's ``{"type":"error",…}`` frame and close code, which
the module logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Literal

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from assistant.ingest import ProtocolError
from assistant.sessions import CallError

from .auth import UNBOUND, Binding, Refused, check_token, freeswitch_token
from .driver import CallMetadata, TelephonyCall, language_hint

log = logging.getLogger(__name__)

# stereo: FreeSWITCH's read (caller, our customer) and write (callee, our agent) directions.
MIX_ROLES = {"mono": ["customer"], "mixed": ["customer"], "stereo": ["customer", "agent"]}


def parse_rate(value: str | int | None) -> int | None:
    """'8k', '16k', '8000', 16000 → Hz."""
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    try:
        return int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)
    except ValueError:
        raise ProtocolError("bad_metadata", f"sample rate {value!r} is not a number", close_code=1003) from None


class ForkMetadata(BaseModel):
    """The metadata frame: free-form JSON from the dialplan; these are the fields we read."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    call_id: str | None = Field(default=None, validation_alias="callId")
    call_id_alt: str | None = Field(default=None, validation_alias="call_id")
    callid: str | None = None  # drachtio's own example metadata uses this spelling
    uuid: str | None = None
    sample_rate: str | int | None = Field(default=None, validation_alias="sampleRate")
    mix: Literal["mono", "mixed", "stereo"] | None = Field(default=None, validation_alias="mix")
    tenant: str | None = None
    language: str | None = None
    campaign: str | None = None
    agent: str | None = None

    @field_validator("tenant", "language", "campaign", "agent", "call_id", "call_id_alt", "callid", "uuid",
                     mode="before")
    @classmethod
    def _as_text(cls, value):
        return None if value is None else str(value)

    def any_call_id(self) -> str | None:
        return self.call_id or self.call_id_alt or self.callid or self.uuid


class ForkStream:
    def __init__(self, ws: WebSocket, services):
        self.ws = ws
        self.svc = services
        self.call: TelephonyCall | None = None
        self.call_id: str | None = ws.query_params.get("call_id")
        self.binding: Binding = UNBOUND

    async def run(self) -> None:
        auth = self.svc.ingress
        if auth is not None and auth.freeswitch:  # RAFIQ_FREESWITCH_TOKEN set; else open (development)
            try:
                self.binding = check_token(auth.freeswitch, freeswitch_token(self.ws.query_params, self.ws.headers),
                                           "RAFIQ_FREESWITCH_TOKEN")
            except Refused as exc:
                client = self.ws.client
                log.warning("freeswitch: upgrade refused", extra={"remote": client.host if client else None,
                                                                 "detail": exc.detail})
                await self.ws.close(1008)  # before accept: HTTP 403 on the upgrade
                return
        await self.ws.accept()
        end_reason: str | None = None
        error: ProtocolError | None = None
        try:
            first_audio = await self._open()
            if first_audio:
                self._audio(first_audio)
            await self._receive()
        except (ProtocolError, CallError) as exc:
            error = exc if isinstance(exc, ProtocolError) else ProtocolError(exc.code, exc.message, exc.close_code)
            end_reason = f"error:{error.code}"
            log.info("freeswitch stream error", extra={"call_id": self.call_id, "code": error.code,
                                                        "detail": error.message})
        except WebSocketDisconnect as exc:
            end_reason = "stop" if exc.code == 1000 else None
        if self.call is not None:
            if end_reason is None:
                await self.call.drop()
            else:
                await self.call.end(end_reason)
        if error is not None:
            try:
                await self.ws.send_text(json.dumps({"type": "error", "code": error.code, "message": error.message}))
                await self.ws.close(error.close_code)
            except (RuntimeError, WebSocketDisconnect):
                pass

    async def _receive_one(self, timeout: float | None = None) -> dict:
        try:
            message = await asyncio.wait_for(self.ws.receive(), timeout)
        except asyncio.TimeoutError:
            raise ProtocolError("start_timeout", f"no metadata or audio within {timeout:g} s") from None
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1006))
        return message

    async def _open(self) -> bytes | None:
        """Read the metadata frame (optional: audio may come first when the dialplan passes none)
        and start or resume the call; returns audio that came in the first frame."""
        first = await self._receive_one(self.svc.settings.start_timeout_s)
        query = self.ws.query_params
        metadata = ForkMetadata()
        first_audio = first.get("bytes")
        if first_audio is None:
            try:
                payload = json.loads(first.get("text") or "")
            except json.JSONDecodeError:
                raise ProtocolError("bad_metadata", "the first text frame must be the metadata JSON",
                                    close_code=1003) from None
            if not isinstance(payload, dict):
                raise ProtocolError("bad_metadata", "the metadata must be a JSON object", close_code=1003)
            try:
                metadata = ForkMetadata.model_validate(payload)
            except ValidationError as exc:
                err = exc.errors()[0]
                raise ProtocolError("bad_metadata", f"{'.'.join(map(str, err['loc']))}: {err['msg']}",
                                    close_code=1003) from None
        self.call_id = metadata.any_call_id() or query.get("call_id") or query.get("uuid")
        if not self.call_id:
            raise ProtocolError("missing_call_id", "give callId (or uuid) in the metadata or call_id in the URL")
        rate = parse_rate(query.get("sample_rate")) or parse_rate(metadata.sample_rate) or 8000
        if not 8000 <= rate <= 48000:
            raise ProtocolError("bad_metadata", f"sample rate {rate} Hz is outside 8000-48000", close_code=1003)
        mix = query.get("mix") or metadata.mix or "mono"
        if mix not in MIX_ROLES:
            raise ProtocolError("bad_metadata", f"mix must be mono, mixed or stereo, not {mix!r}", close_code=1003)
        roles = MIX_ROLES[mix]
        language = metadata.language or query.get("language")
        tenant, campaign = self.binding.apply(metadata.tenant or query.get("tenant"), metadata.campaign, "freeswitch")
        extra = {k: (str(v) if v is not None else None) for k, v in (metadata.model_extra or {}).items()}
        try:
            meta = CallMetadata(call_id=self.call_id, protocol="freeswitch", roles=roles,
                                tenant=tenant or "default",
                                language=language_hint(language, self.svc.settings.languages),
                                platform={"mix": mix, "sample_rate": rate, "campaign": campaign,
                                          "agent": metadata.agent},
                                # The dialplan's metadata names them (e.g. ${caller_id_number}).
                                record={"caller_number": extra.get("caller") or extra.get("from"),
                                        "called_number": extra.get("called") or extra.get("to"),
                                        "queue": extra.get("queue"), "platform_agent_id": extra.get("agent_id")})
        except ValidationError as exc:
            raise ProtocolError("bad_metadata", f"tenant: {exc.errors()[0]['msg']}") from None
        self.call = await TelephonyCall.open(self.svc.calls, meta)
        self.call.add_stream("audio", "pcm_s16le", rate, roles)
        log.info("freeswitch stream started", extra={"call_id": self.call_id, "mix": mix, "sample_rate": rate})
        return first_audio

    def _audio(self, data: bytes) -> None:
        if len(data) > self.svc.settings.max_frame_bytes:
            raise ProtocolError("frame_too_large", f"binary frames are limited to {self.svc.settings.max_frame_bytes} bytes")
        self.call.push("audio", data)

    async def _receive(self) -> None:
        """Audio until the socket closes (raises WebSocketDisconnect)."""
        while True:
            message = await self._receive_one()
            if message.get("bytes") is not None:
                self._audio(message["bytes"])
            else:
                # send_text from the dialplan: application data, not ours to interpret
                log.info("freeswitch text frame", extra={"call_id": self.call_id, "text": (message.get("text") or "")[:500]})


async def handle(ws: WebSocket, services) -> None:
    await ForkStream(ws, services).run()
