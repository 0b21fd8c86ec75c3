"""Shared fixtures: the real Rafiq server in a subprocess, real data from ../shared/data."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import pytest
import websockets

from assistant.launcher import ServerProcess
from assistant.simulate import stream_audio
from speech.audio import decode_file

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RAFIQ_SHARED_DATA", REPO.parent / "shared" / "data"))
FLEURS = SHARED_DATA / "speech" / "fleurs"
STEREO_CLIP = SHARED_DATA / "speech" / "stereo" / "stereo_diarization.wav"


@pytest.fixture(scope="session")
def rafiq_server(tmp_path_factory) -> str:
    """Base URL of a real Rafiq server: bundled Whisper base, embedded Qdrant, seeded KB, SQLite."""
    with ServerProcess(tmp_path_factory.mktemp("rafiq")) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def ws_base(rafiq_server: str) -> str:
    return "ws" + rafiq_server[4:]


# The native ingest's start message for one customer channel of 16 kHz PCM.
START = {"type": "start", "encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1,
         "roles": ["customer"], "language": None, "tenant": "default"}


async def expect_close(ws, timeout: float = 30) -> int:
    """The server's next move is to close the socket, with no frame before; its close code."""
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), timeout)
    return ws.close_code


async def expect_error(ws, timeout: float = 30) -> tuple[dict, int]:
    """The server's error frame, then its close code."""
    error = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert error["type"] == "error" and error["message"]
    return error, await expect_close(ws, timeout)


def new_call_id(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def fleurs_clip(language: str, index: int) -> tuple[Path, str]:
    stem = FLEURS / f"fleurs-{language}-{index:03d}"
    return stem.with_suffix(".ogg"), stem.with_suffix(".txt").read_text(encoding="utf-8").strip()


async def collect_events(ws_base: str, call_id: str, timeout: float = 120) -> list[dict]:
    """All events of a call until ``call.ended``."""
    events = []
    async with websockets.connect(f"{ws_base}/v1/calls/{call_id}/events") as ws:
        async def read():
            async for message in ws:
                event = json.loads(message)
                events.append(event)
                if event["type"] in ("call.ended", "error"):
                    return
        await asyncio.wait_for(read(), timeout)
    return events


async def transcribe_live(ws_base: str, clip, language=None, speed=0.0, tenant="default") -> list[dict]:
    """Stream a clip as a call and return every event of the call, as a subscriber saw them."""
    call_id = new_call_id("asr")
    collector = asyncio.ensure_future(collect_when_started(ws_base, call_id))
    await stream_audio(decode_file(clip), f"{ws_base}/v1/calls/{call_id}/audio", speed=speed, language=language,
                       tenant=tenant)
    return await asyncio.wait_for(collector, 120)


async def collect_when_started(ws_base: str, call_id: str) -> list[dict]:
    """All events of a call that may not have started yet (retries until it exists)."""
    for _ in range(200):
        events = await collect_events(ws_base, call_id)
        if events and events[-1]["type"] != "error":
            return events
        await asyncio.sleep(0.05)
    raise AssertionError("call never started")
