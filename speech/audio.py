"""Audio formats: decode files, turn wire PCM into float samples, resample to 16 kHz."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import soxr

TARGET_RATE = 16000
ENCODINGS = ("pcm_s16le", "pcm_mulaw")


def _mulaw_table() -> np.ndarray:
    # G.711 mu-law expansion, as in the ITU-T reference decoder.
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = ((mantissa << 3) + 0x84) << exponent
    values = np.where(sign != 0, 0x84 - magnitude, magnitude - 0x84)
    return (values / 32768.0).astype(np.float32)


MULAW_TO_FLOAT = _mulaw_table()


def float_to_mulaw(samples: np.ndarray) -> bytes:
    """Encode float samples in [-1, 1] as G.711 mu-law bytes (used by simulators and tests)."""
    pcm = np.clip(samples * 32768.0, -32635, 32635).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.abs(pcm) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def float_to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class FrameDecoder:
    """Turns a stream of wire frames of any length into float samples, one row per channel.

    A sample (or one channel of an interleaved sample) split across two frames is kept until
    the rest arrives, so frame boundaries never corrupt the audio.
    """

    def __init__(self, encoding: str, channels: int):
        if encoding not in ENCODINGS:
            raise ValueError(f"unsupported encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
        self.encoding = encoding
        self.channels = channels
        self._bytes_per_frame = (2 if encoding == "pcm_s16le" else 1) * channels
        self._pending = b""

    def decode(self, data: bytes) -> np.ndarray:
        data = self._pending + data
        usable = len(data) - len(data) % self._bytes_per_frame
        self._pending = data[usable:]
        data = data[:usable]
        if self.encoding == "pcm_s16le":
            samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        else:
            samples = MULAW_TO_FLOAT[np.frombuffer(data, dtype=np.uint8)]
        return samples.reshape(-1, self.channels).T

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)


class StreamResampler:
    """Stateful resampler to 16 kHz so chunk boundaries leave no clicks (libsoxr)."""

    def __init__(self, input_rate: int, channels: int):
        self.input_rate = input_rate
        self.channels = channels
        self._streams = None
        if input_rate != TARGET_RATE:
            self._streams = [
                soxr.ResampleStream(input_rate, TARGET_RATE, 1, dtype="float32", quality="HQ")
                for _ in range(channels)
            ]

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        """samples: (channels, n) float32 → (channels, m) at 16 kHz."""
        if self._streams is None:
            return samples
        rows = [
            stream.resample_chunk(np.ascontiguousarray(row), last=last)
            for stream, row in zip(self._streams, samples)
        ]
        length = min(len(r) for r in rows)
        return np.stack([r[:length] for r in rows]) if rows else samples


def decode_file(path: str | Path, sample_rate: int = TARGET_RATE, max_channels: int = 2) -> np.ndarray:
    """Decode any audio file FFmpeg reads (wav, flac, ogg, mp3…) to float32 (channels, n).

    Mono stays mono; stereo keeps both channels; more channels are mixed down to stereo.
    """
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.audio[0]
        channels = min(stream.codec_context.channels or 1, max_channels)
        layout = "mono" if channels == 1 else "stereo"
        resampler = av.audio.resampler.AudioResampler(format="s16", layout=layout, rate=sample_rate)
        chunks = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return (pcm.astype(np.float32) / 32768.0).reshape(-1, channels).T
