"""The native ingest WebSocket: a real server, real audio, and every kind of bad input."""

import asyncio
import json

import httpx
import numpy as np
import pytest
import websockets

from assistant.simulate import stream_audio
from speech.audio import decode_file, float_to_pcm16
from speech.evaluation import word_error_rate
from tests.conftest import START, STEREO_CLIP, expect_close, expect_error, fleurs_clip, new_call_id

@pytest.mark.parametrize("first_frame, code, close_code", [
    (b"\x00\x01" * 800, "expected_start", 1008),
    ("this is not json", "bad_json", 1003),
    ("[1, 2, 3]", "bad_json", 1003),
    (json.dumps({"type": "hello"}), "expected_start", 1008),
    (json.dumps({**START, "encoding": "opus"}), "unsupported_encoding", 1003),
    (json.dumps({**START, "sample_rate": 4000}), "bad_start", 1003),
    (json.dumps({**START, "channels": 3}), "bad_start", 1003),
    (json.dumps({**START, "channels": 2}), "bad_start", 1008),  # one role for two channels
    (json.dumps({**START, "channels": 2, "roles": ["agent", "agent"]}), "bad_start", 1008),
    (json.dumps({**START, "roles": ["supervisor"]}), "bad_start", 1008),
    (json.dumps({**START, "language": "de"}), "bad_start", 1008),
    (json.dumps({**START, "tenant": "../etc"}), "bad_start", 1008),
])
async def test_bad_start_is_refused_with_a_clear_error(rafiq_server, ws_base, first_frame, code, close_code):
    call_id = new_call_id("bad-start")
    async with websockets.connect(f"{ws_base}/v1/calls/{call_id}/audio") as ws:
        await ws.send(first_frame)
        error, closed_with = await expect_error(ws)
    assert error["code"] == code
    assert closed_with == close_code
    assert httpx.get(f"{rafiq_server}/v1/calls/{call_id}").status_code == 404


async def test_invalid_call_id_is_refused(ws_base):
    async with websockets.connect(f"{ws_base}/v1/calls/{'x' * 200}/audio") as ws:
        await ws.send(json.dumps(START))
        error, closed_with = await expect_error(ws)
    assert (error["code"], closed_with) == ("bad_call_id", 1008)


@pytest.mark.parametrize("bad_frame, code, close_code", [
    ("not json at all", "bad_json", 1003),
    (json.dumps({"type": "pause"}), "unknown_message", 1008),
    (json.dumps(START), "unexpected_start", 1008),
    (b"\x00" * (2 << 20), "frame_too_large", 1008),
])
async def test_bad_frame_mid_call_keeps_the_audio_already_accepted(rafiq_server, ws_base, bad_frame, code, close_code):
    clip, reference = fleurs_clip("es", 0)
    audio = decode_file(clip)[0]
    call_id = new_call_id("bad-frame")
    async with websockets.connect(f"{ws_base}/v1/calls/{call_id}/audio", max_size=None) as ws:
        await ws.send(json.dumps({**START, "language": "es"}))
        wire = float_to_pcm16(audio)
        for offset in range(0, len(wire), 32000):
            await ws.send(wire[offset:offset + 32000])
        await ws.send(bad_frame)
        error, closed_with = await expect_error(ws)
    assert (error["code"], closed_with) == (code, close_code)
    call = httpx.get(f"{rafiq_server}/v1/calls/{call_id}").json()
    assert call["status"] == "ended" and call["end_reason"] == f"error:{code}"
    transcript = " ".join(s["text"] for s in call["segments"])
    assert word_error_rate(reference, transcript) < 0.3


async def test_second_stream_for_a_live_call_is_refused(ws_base):
    call_id = new_call_id("busy")
    async with websockets.connect(f"{ws_base}/v1/calls/{call_id}/audio") as first:
        await first.send(json.dumps(START))
        await first.send(b"\x00\x00" * 1600)
        await asyncio.sleep(0.5)
        async with websockets.connect(f"{ws_base}/v1/calls/{call_id}/audio") as second:
            await second.send(json.dumps(START))
            error, closed_with = await expect_error(second)
        assert (error["code"], closed_with) == ("call_busy", 1008)
        await first.send(json.dumps({"type": "stop"}))
        assert await expect_close(first) == 1000


async def test_a_finished_call_id_cannot_be_reused(ws_base):
    call_id = new_call_id("reuse")
    for attempt in range(2):
        async with websockets.connect(f"{ws_base}/v1/calls/{call_id}/audio") as ws:
            await ws.send(json.dumps(START))
            if attempt == 0:
                await ws.send(json.dumps({"type": "stop"}))
                await expect_close(ws)
            else:
                error, closed_with = await expect_error(ws)
                assert (error["code"], closed_with) == ("call_exists", 1008)


async def test_frames_of_odd_sizes_transcribe_like_whole_frames(rafiq_server, ws_base):
    clip, reference = fleurs_clip("fr", 0)
    audio = decode_file(clip)[0]
    wire = float_to_pcm16(audio)
    call_id = new_call_id("odd-frames")
    rng = np.random.default_rng(7)
    async with websockets.connect(f"{ws_base}/v1/calls/{call_id}/audio") as ws:
        await ws.send(json.dumps(START))
        offset = 0
        while offset < len(wire):
            size = int(rng.integers(1, 4000)) | 1  # always odd: samples split across frames
            await ws.send(wire[offset:offset + size])
            offset += size
        await ws.send(json.dumps({"type": "stop"}))
        await expect_close(ws, timeout=60)
    call = httpx.get(f"{rafiq_server}/v1/calls/{call_id}").json()
    transcript = " ".join(s["text"] for s in call["segments"])
    assert word_error_rate(reference, transcript) < 0.4


async def test_disconnect_without_stop_still_records_the_call(rafiq_server, ws_base):
    clip, reference = fleurs_clip("en", 0)
    audio = decode_file(clip)[0]
    call_id = new_call_id("dropped")
    async with websockets.connect(f"{ws_base}/v1/calls/{call_id}/audio") as ws:
        await ws.send(json.dumps({**START, "language": "en"}))
        await ws.send(float_to_pcm16(audio))
    for _ in range(100):
        call = httpx.get(f"{rafiq_server}/v1/calls/{call_id}").json()
        if call["status"] == "ended":
            break
        await asyncio.sleep(0.3)
    assert call["end_reason"] == "disconnected"
    assert word_error_rate(reference, " ".join(s["text"] for s in call["segments"])) < 0.3


async def test_stereo_call_gives_each_speaker_their_own_segments(rafiq_server, ws_base):
    audio = decode_file(STEREO_CLIP)
    call_id = new_call_id("stereo")
    await stream_audio(audio, f"{ws_base}/v1/calls/{call_id}/audio", roles=["customer", "agent"], speed=0)
    call = httpx.get(f"{rafiq_server}/v1/calls/{call_id}").json()
    by_speaker = {s["speaker"]: s["text"].lower() for s in call["segments"]}
    assert set(by_speaker) == {"customer", "agent"}
    assert "wizard" in by_speaker["customer"] and "horizon" not in by_speaker["customer"]
    assert "horizon" in by_speaker["agent"] and "wizard" not in by_speaker["agent"]


async def test_telephone_audio_8k_mulaw_is_transcribed(rafiq_server, ws_base):
    clip, reference = fleurs_clip("es", 1)
    audio = decode_file(clip)
    call_id = new_call_id("mulaw")
    await stream_audio(audio, f"{ws_base}/v1/calls/{call_id}/audio", speed=0, encoding="pcm_mulaw",
                       sample_rate=8000)
    call = httpx.get(f"{rafiq_server}/v1/calls/{call_id}").json()
    assert word_error_rate(reference, " ".join(s["text"] for s in call["segments"])) < 0.35


def test_unknown_call_is_404(rafiq_server):
    response = httpx.get(f"{rafiq_server}/v1/calls/no-such-call")
    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "unknown_call"


async def test_events_of_an_unknown_call_are_refused(ws_base):
    async with websockets.connect(f"{ws_base}/v1/calls/never-happened/events") as ws:
        error, closed_with = await expect_error(ws)
    assert (error["code"], closed_with) == ("unknown_call", 1008)
