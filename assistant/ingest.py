"""The native ingest protocol (a start message, binary PCM frames, an optional stop) and the
audio decoding every ingest shares."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from speech.audio import ENCODINGS, FrameDecoder, StreamResampler
from speech.streaming import ForcedLanguage

Role = Literal["customer", "agent"]


class ProtocolError(Exception):
    """Bad input on an ingest socket; ``close_code`` 1003 = unsupported data, 1008 = policy."""

    def __init__(self, code: str, message: str, close_code: int = 1008):
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


class StartMessage(BaseModel):
    type: Literal["start"]
    encoding: str = "pcm_s16le"
    sample_rate: int = Field(default=16000, ge=8000, le=48000)
    channels: int = Field(default=1, ge=1, le=2)
    roles: list[Role] = Field(default_factory=lambda: ["customer"])
    language: str | None = None
    # "hint" (default): the language each speaker starts in, left only on strong evidence
    # (code-switching is kept); "force": every utterance is decoded in it, no detection.
    language_mode: Literal["hint", "force"] = "hint"
    # The API key's tenant; a start message that names another is refused.
    tenant: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    agent: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@+-]+$",
                              description="the agent's username: the call is theirs and follows on their panel")
    campaign: str | None = Field(default=None, min_length=1, max_length=64,
                                 description="the call's campaign: suggestions come from its articles and the "
                                             "articles shared by every campaign (none: from every article)")


def parse_start(payload: dict, allowed_languages: tuple[str, ...]) -> StartMessage:
    if payload.get("type") != "start":
        raise ProtocolError("expected_start", "the first message must be {\"type\":\"start\", …}")
    if payload.get("encoding", "pcm_s16le") not in ENCODINGS:
        raise ProtocolError("unsupported_encoding",
                            f"encoding must be one of {', '.join(ENCODINGS)}", close_code=1003)
    try:
        start = StartMessage.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        unsupported = any(e["loc"] and e["loc"][0] in ("sample_rate", "channels") for e in exc.errors())
        raise ProtocolError("bad_start", problems, close_code=1003 if unsupported else 1008) from None
    if len(start.roles) != start.channels:
        raise ProtocolError("bad_start", f"roles must name one role per channel ({start.channels})")
    if len(set(start.roles)) != len(start.roles):
        raise ProtocolError("bad_start", "each channel needs a different role")
    if start.language is not None and start.language not in allowed_languages:
        raise ProtocolError("bad_start", f"language must be null or one of {', '.join(allowed_languages)}")
    if start.language is not None and start.language_mode == "force":
        start.language = ForcedLanguage(start.language)  # passed as the call's language, marked forced
    return start


class AudioInput:
    """Wire bytes → float32 (channels, n) at 16 kHz, keeping partial samples across frames.

    Every ingest (native and telephony) decodes through this: ``encoding`` is one of
    ``speech.audio.ENCODINGS``, channels are interleaved.
    """

    def __init__(self, encoding: str, sample_rate: int, channels: int = 1):
        self.channels = channels
        self.bytes_per_frame = (2 if encoding == "pcm_s16le" else 1) * channels  # one sample of every channel
        self._decoder = FrameDecoder(encoding, channels)
        self._resampler = StreamResampler(sample_rate, channels)

    @classmethod
    def for_start(cls, start: StartMessage) -> "AudioInput":
        return cls(start.encoding, start.sample_rate, start.channels)

    def push(self, data: bytes) -> np.ndarray:
        return self._resampler.process(self._decoder.decode(data))

    def flush(self) -> np.ndarray:
        return self._resampler.process(np.zeros((self._resampler.channels, 0), dtype=np.float32), last=True)
