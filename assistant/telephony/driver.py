"""The shared telephony driver: a platform's call metadata and wire audio → a live CallSession.

Every protocol module parses its own messages, builds a ``CallMetadata`` and pushes raw audio
bytes per stream; this module decodes them (``AudioInput``: mu-law or L16 → float32 16 kHz),
feeds the call and applies the one rule about endings: an explicit end (stop, close, hangup)
ends the call, a dropped connection leaves it resumable for ``RAFIQ_TELEPHONY_RESUME_S``.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, Field

from assistant.ingest import AudioInput
from assistant.sessions import Attachment, CallRegistry

log = logging.getLogger(__name__)

Role = Literal["customer", "agent"]
Protocol = Literal["twilio", "audiohook", "audiosocket", "freeswitch"]
TENANT_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


class CallMetadata(BaseModel):
    """What every protocol tells us about a call, in our terms."""

    call_id: str  # the platform's own id (Twilio callSid, AudioHook conversationId, …)
    protocol: Protocol
    roles: list[Role]  # the call's channels
    tenant: str = Field(default="default", pattern=TENANT_PATTERN)
    language: str | None = None  # forced language, or None to detect per utterance
    platform: dict[str, Any] = Field(default_factory=dict)  # platform ids and custom parameters, recorded
    # The call record's platform columns (records.PLATFORM_COLUMNS) beyond platform and call id:
    # stream_id, caller_number, called_number, queue, platform_agent_id.
    record: dict[str, str | None] = Field(default_factory=dict)

    def record_fields(self) -> dict[str, str | None]:
        return {"platform": self.protocol, "platform_call_id": self.call_id, **self.record}

    def source(self) -> dict[str, Any]:
        return {"protocol": self.protocol, **{k: v for k, v in self.platform.items() if v is not None}}


def language_hint(tag: str | None, allowed: tuple[str, ...]) -> str | None:
    """A platform's language tag ('fr-FR', 'es_ES', 'en') → one of ours, or None to detect."""
    if not tag:
        return None
    base = tag.replace("_", "-").split("-")[0].lower()
    return base if base in allowed else None


class TelephonyCall:
    """One connection's share of a call: its audio streams and its attachment to the session."""

    def __init__(self, meta: CallMetadata, attachment: Attachment):
        self.meta = meta
        self.attachment = attachment
        self._streams: dict[str, tuple[AudioInput, list[str]]] = {}
        self.samples_in: dict[str, int] = {}  # wire samples received per stream (gap filling uses it)

    @classmethod
    async def open(cls, registry: CallRegistry, meta: CallMetadata, feeds: list[str] | None = None) -> "TelephonyCall":
        """Start or resume the call; raises ``CallError`` (call_busy, call_exists, too_many_calls…)."""
        # The platform's "campaign" (Twilio customParameters, AudioHook customConfig, FreeSWITCH
        # metadata) scopes the call's suggestions to that campaign's articles and the shared ones.
        attachment = await registry.open(meta.call_id, meta.tenant, list(meta.roles), meta.language,
                                         feeds=feeds, resumable=True, source=meta.source(),
                                         campaign=meta.platform.get("campaign"), platform=meta.record_fields())
        return cls(meta, attachment)

    @property
    def call_id(self) -> str:
        return self.meta.call_id

    @property
    def roles(self) -> list[str]:
        """The roles this connection feeds."""
        return self.attachment.roles

    def add_stream(self, name: str, encoding: str, sample_rate: int, roles: list[str]) -> None:
        """A wire stream of ``len(roles)`` interleaved channels; replaces one of the same name."""
        if name in self._streams:
            self._flush(name)
        self._streams[name] = (AudioInput(encoding, sample_rate, len(roles)), roles)
        self.samples_in.setdefault(name, 0)

    def has_stream(self, name: str) -> bool:
        return name in self._streams

    def push(self, name: str, data: bytes) -> None:
        audio, roles = self._streams[name]
        self.samples_in[name] += len(data) // audio.bytes_per_frame
        self.attachment.session.feed(audio.push(data), roles)

    def push_silence(self, name: str, seconds: float) -> None:
        """Audio the platform did not send on this stream (a gap, a pause, discarded frames)."""
        _, roles = self._streams[name]
        self.attachment.session.feed_silence(seconds, roles)

    def _flush(self, name: str) -> None:
        audio, roles = self._streams.pop(name)
        self.attachment.session.feed(audio.flush(), roles)

    async def end(self, reason: str) -> None:
        """The platform ended the call (stop, close, hangup) or broke its protocol: the call ends."""
        for name in list(self._streams):
            self._flush(name)
        log.info("telephony call ended by peer", extra={"call_id": self.call_id, "protocol": self.meta.protocol,
                                                        "reason": reason})
        await self.attachment.end(reason)

    async def drop(self) -> None:
        """The connection went away without an end: the call waits for a reconnect."""
        for name in list(self._streams):
            self._flush(name)
        log.info("telephony connection dropped", extra={"call_id": self.call_id, "protocol": self.meta.protocol})
        await self.attachment.drop()
