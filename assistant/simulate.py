"""Play an audio file as a live call over the native ingest WebSocket (real-time pace or faster)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Awaitable, Callable

import numpy as np
import websockets

import soxr

from speech.audio import TARGET_RATE, decode_file, float_to_mulaw, float_to_pcm16

log = logging.getLogger(__name__)


def default_roles(channels: int) -> list[str]:
    return ["customer", "agent"][:channels]


def encode_audio(audio: np.ndarray, encoding: str, sample_rate: int) -> bytes:
    """16 kHz float (channels, n) → interleaved wire bytes in ``encoding`` at ``sample_rate``."""
    if sample_rate != TARGET_RATE:
        audio = np.stack([soxr.resample(row, TARGET_RATE, sample_rate) for row in audio])
    interleaved = audio.T.reshape(-1)
    return float_to_mulaw(interleaved) if encoding == "pcm_mulaw" else float_to_pcm16(interleaved)


async def stream_audio(audio: np.ndarray, url: str, roles: list[str] | None = None, speed: float = 1.0,
                       language: str | None = None, tenant: str = "default", frame_ms: int = 100,
                       encoding: str = "pcm_s16le", sample_rate: int = TARGET_RATE,
                       on_frame: Callable[[float], Awaitable[None] | None] | None = None) -> dict:
    """Stream float32 (channels, n) 16 kHz audio to ``url``; returns what the server said at the end.

    The audio goes out as ``encoding`` at ``sample_rate`` (e.g. 8 kHz mu-law, as telephony
    sends it). ``on_frame(audio_seconds_sent)`` is called after each frame (benchmarks time
    against it).
    """
    channels = audio.shape[0]
    roles = roles or default_roles(channels)
    wire = encode_audio(audio, encoding, sample_rate)
    bytes_per_second = sample_rate * channels * (1 if encoding == "pcm_mulaw" else 2)
    frame_bytes = bytes_per_second * frame_ms // 1000
    start = {"type": "start", "encoding": encoding, "sample_rate": sample_rate, "channels": channels,
             "roles": roles[:channels], "language": language, "tenant": tenant}
    errors: list[dict] = []
    async with websockets.connect(url, max_size=None, open_timeout=30) as ws:
        await ws.send(json.dumps(start))
        began = time.monotonic()
        try:
            for offset in range(0, len(wire), frame_bytes):
                await ws.send(wire[offset:offset + frame_bytes])
                sent_seconds = min(len(wire), offset + frame_bytes) / bytes_per_second
                if on_frame is not None:
                    result = on_frame(sent_seconds)
                    if asyncio.iscoroutine(result):
                        await result
                if speed > 0:
                    delay = began + sent_seconds / speed - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
            await ws.send(json.dumps({"type": "stop"}))
        except websockets.ConnectionClosed:
            pass  # the server refused or ended the call: its error frame is read below
        try:
            async for message in ws:  # the server closes once the call is fully processed
                if isinstance(message, str):
                    payload = json.loads(message)
                    if payload.get("type") == "error":
                        errors.append(payload)
        except websockets.ConnectionClosed:
            pass
        return {"close_code": ws.close_code, "errors": errors, "seconds": len(wire) / bytes_per_second}


async def stream_file(path: str | Path, url: str, roles: list[str] | None = None, speed: float = 1.0,
                      language: str | None = None, tenant: str = "default") -> dict:
    audio = decode_file(path)
    log.info("simulating call", extra={"file": str(path), "url": url, "seconds": round(audio.shape[1] / TARGET_RATE, 2),
                                       "channels": audio.shape[0], "speed": speed})
    return await stream_audio(audio, url, roles=roles, speed=speed, language=language, tenant=tenant)
