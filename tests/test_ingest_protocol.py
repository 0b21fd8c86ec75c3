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
from tests.conftest import (START, STEREO_CLIP, bearer, clip_audio, expect_close, expect_error, fleurs_clip,
                            new_call_id, two_speakers, wait_for_call_start, words_heard)


# WER of one FLEURS clip through the native ingest, as fast as possible (deterministic up to
# batching): measured on this 2-core machine (value in each comment), bound = measured + about
# one word of the clip. Through 8 kHz mu-law the end-pointer cuts differently, hence its own value.
WER_ES0 = 0.11  # measured 0.069 (2 of 29 words); 1 word = 0.034
WER_FR0_ODD_FRAMES = 0.31  # measured 0.263 (5 of 19); 1 word = 0.053
WER_EN0_DROPPED = 0.11  # measured 0.053 (1 of 19); 1 word = 0.053
WER_ES1_MULAW = 0.16  # measured 0.137 (7 of 51); 1 word = 0.020
WER_STEREO_FR = 0.44  # measured 0.400 (fr 002 on the left; 1 word = 0.038)
WER_STEREO_EN = 0.11  # measured 0.053 (en 000 on the right; 1 word = 0.053)


def assert_wer(reference: str, transcript: str, bound: float, what: str) -> None:
    wer = word_error_rate(reference, transcript)
    print(f"WER {what}: {wer:.3f} (bound {bound})")
    assert wer <= bound, f"{what}: WER {wer:.3f} > {bound}: {transcript!r}"


def audio_socket(floor, call_id: str, **kwargs):
    """The native ingest socket of a call, opened with the default tenant's ingest key."""
    return websockets.connect(f"{floor.ws_base}/v1/calls/{call_id}/audio", additional_headers=floor.headers("ingest"),
                              **kwargs)


def get_call(floor, call_id: str) -> httpx.Response:
    return httpx.get(f"{floor.base_url}/v1/calls/{call_id}", headers=floor.headers("supervisor"))

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
async def test_bad_start_is_refused_with_a_clear_error(floor, first_frame, code, close_code):
    call_id = new_call_id("bad-start")
    async with audio_socket(floor, call_id) as ws:
        await ws.send(first_frame)
        error, closed_with = await expect_error(ws)
    assert error["code"] == code
    assert closed_with == close_code
    assert get_call(floor, call_id).status_code == 404


async def test_invalid_call_id_is_refused(floor):
    async with audio_socket(floor, "x" * 200) as ws:
        await ws.send(json.dumps(START))
        error, closed_with = await expect_error(ws)
    assert (error["code"], closed_with) == ("bad_call_id", 1008)


@pytest.mark.parametrize("bad_frame, code, close_code", [
    ("not json at all", "bad_json", 1003),
    (json.dumps({"type": "pause"}), "unknown_message", 1008),
    (json.dumps(START), "unexpected_start", 1008),
    (b"\x00" * (2 << 20), "frame_too_large", 1008),
])
async def test_bad_frame_mid_call_keeps_the_audio_already_accepted(floor, bad_frame, code, close_code):
    clip, reference = fleurs_clip("es", 0)
    audio = decode_file(clip)[0]
    call_id = new_call_id("bad-frame")
    async with audio_socket(floor, call_id, max_size=None) as ws:
        await ws.send(json.dumps({**START, "language": "es"}))
        wire = float_to_pcm16(audio)
        for offset in range(0, len(wire), 32000):
            await ws.send(wire[offset:offset + 32000])
        await ws.send(bad_frame)
        error, closed_with = await expect_error(ws)
    assert (error["code"], closed_with) == (code, close_code)
    call = get_call(floor, call_id).json()
    assert call["status"] == "ended" and call["end_reason"] == f"error:{code}"
    assert_wer(reference, " ".join(s["text"] for s in call["segments"]), WER_ES0, f"es 000 then {code}")


async def test_second_stream_for_a_live_call_is_refused(floor):
    call_id = new_call_id("busy")
    async with audio_socket(floor, call_id) as first:
        await first.send(json.dumps(START))
        await first.send(b"\x00\x00" * 1600)
        await wait_for_call_start(floor.base_url, call_id, token=floor.token("supervisor"))
        async with audio_socket(floor, call_id) as second:
            await second.send(json.dumps(START))
            error, closed_with = await expect_error(second)
        assert (error["code"], closed_with) == ("call_busy", 1008)
        await first.send(json.dumps({"type": "stop"}))
        assert await expect_close(first) == 1000


async def test_a_finished_call_id_cannot_be_reused(floor):
    call_id = new_call_id("reuse")
    for attempt in range(2):
        async with audio_socket(floor, call_id) as ws:
            await ws.send(json.dumps(START))
            if attempt == 0:
                await ws.send(json.dumps({"type": "stop"}))
                await expect_close(ws)
            else:
                error, closed_with = await expect_error(ws)
                assert (error["code"], closed_with) == ("call_exists", 1008)


async def test_frames_of_odd_sizes_transcribe_like_whole_frames(floor):
    clip, reference = fleurs_clip("fr", 0)
    audio = decode_file(clip)[0]
    wire = float_to_pcm16(audio)
    call_id = new_call_id("odd-frames")
    rng = np.random.default_rng(7)
    async with audio_socket(floor, call_id) as ws:
        await ws.send(json.dumps(START))
        offset = 0
        while offset < len(wire):
            size = int(rng.integers(1, 4000)) | 1  # always odd: samples split across frames
            await ws.send(wire[offset:offset + size])
            offset += size
        await ws.send(json.dumps({"type": "stop"}))
        await expect_close(ws, timeout=60)
    call = get_call(floor, call_id).json()
    assert_wer(reference, " ".join(s["text"] for s in call["segments"]), WER_FR0_ODD_FRAMES, "fr 000 odd frames")


async def test_disconnect_without_stop_still_records_the_call(floor):
    clip, reference = fleurs_clip("en", 0)
    audio = decode_file(clip)[0]
    call_id = new_call_id("dropped")
    async with audio_socket(floor, call_id) as ws:
        await ws.send(json.dumps({**START, "language": "en"}))
        await ws.send(float_to_pcm16(audio))
    for _ in range(100):
        call = get_call(floor, call_id).json()
        if call["status"] == "ended":
            break
        await asyncio.sleep(0.3)
    assert call["end_reason"] == "disconnected"
    assert_wer(reference, " ".join(s["text"] for s in call["segments"]), WER_EN0_DROPPED, "en 000 dropped")


async def test_stereo_call_gives_each_speaker_their_own_segments(floor):
    audio = decode_file(STEREO_CLIP)
    call_id = new_call_id("stereo")
    await stream_audio(audio, f"{floor.ws_base}/v1/calls/{call_id}/audio", roles=["customer", "agent"], speed=0,
                       api_key=floor.ingest_key())
    segments = get_call(floor, call_id).json()["segments"]
    assert {s["speaker"] for s in segments} == {"customer", "agent"}
    for segment in segments:  # every segment, not just each speaker's last: no cross-talk anywhere
        text = segment["text"].lower()
        assert ("horizon" if segment["speaker"] == "customer" else "wizard") not in text, segment
    said = {speaker: " ".join(s["text"].lower() for s in segments if s["speaker"] == speaker)
            for speaker in ("customer", "agent")}
    assert "wizard" in said["customer"] and "horizon" in said["agent"]  # left = customer, right = agent


async def test_two_languages_on_left_and_right_keep_their_channel_and_order(floor):
    """French on the left channel, English on the right: every segment has the right speaker and
    language, each transcript its own reference's words; a swapped pair would fail each check."""
    customer, customer_ref = clip_audio("fr", 2)
    agent, agent_ref = clip_audio("en", 0)
    call_id = new_call_id("stereo-langs")
    await stream_audio(two_speakers(customer, agent), f"{floor.ws_base}/v1/calls/{call_id}/audio",
                       roles=["customer", "agent"], speed=0, api_key=floor.ingest_key())
    segments = get_call(floor, call_id).json()["segments"]
    assert segments and {(s["speaker"], s["language"]) for s in segments} == {("customer", "fr"), ("agent", "en")}
    heard = {speaker: " ".join(s["text"] for s in segments if s["speaker"] == speaker)
             for speaker in ("customer", "agent")}
    assert_wer(customer_ref, heard["customer"], WER_STEREO_FR, "stereo left fr 002")
    assert_wer(agent_ref, heard["agent"], WER_STEREO_EN, "stereo right en 000")
    assert words_heard(agent_ref, heard["customer"]) < 0.2 and words_heard(customer_ref, heard["agent"]) < 0.2


async def test_telephone_audio_8k_mulaw_is_transcribed(floor):
    clip, reference = fleurs_clip("es", 1)
    audio = decode_file(clip)
    call_id = new_call_id("mulaw")
    await stream_audio(audio, f"{floor.ws_base}/v1/calls/{call_id}/audio", speed=0, encoding="pcm_mulaw",
                       sample_rate=8000, api_key=floor.ingest_key())
    call = get_call(floor, call_id).json()
    assert_wer(reference, " ".join(s["text"] for s in call["segments"]), WER_ES1_MULAW, "es 001 8 kHz mu-law")


def test_unknown_call_is_404(floor):
    response = get_call(floor, "no-such-call")
    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "unknown_call"


async def test_events_of_an_unknown_call_are_refused(floor):
    async with websockets.connect(f"{floor.ws_base}/v1/calls/never-happened/events",
                                  additional_headers=floor.headers("supervisor")) as ws:
        error, closed_with = await expect_error(ws)
    assert (error["code"], closed_with) == ("unknown_call", 1008)


async def refused_handshake(url: str, headers: dict | None) -> int:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url, additional_headers=headers):
            pass
    return refused.value.response.status_code


async def test_audio_needs_an_ingest_key_of_the_calls_tenant(floor):
    call_id = new_call_id("unsigned")
    url = f"{floor.ws_base}/v1/calls/{call_id}/audio"
    assert await refused_handshake(url, None) == 401  # no credential
    assert await refused_handshake(url, bearer("rfk_not-a-real-key")) == 401
    assert await refused_handshake(url, floor.headers("agent")) == 403  # people do not stream audio
    assert await refused_handshake(url, floor.headers("supervisor")) == 403
    # The start message may name the key's tenant, not another.
    async with audio_socket(floor, call_id) as ws:
        await ws.send(json.dumps({**START, "tenant": "other"}))
        error, closed_with = await expect_error(ws)
    assert (error["code"], closed_with) == ("wrong_tenant", 1008)
    assert get_call(floor, call_id).status_code == 404
    assert httpx.get(f"{floor.base_url}/v1/calls/{call_id}", headers=floor.headers("supervisor", "other")).status_code \
        == 404
    # Without a tenant in the start message, the call is the key's tenant's.
    started = {k: v for k, v in START.items() if k != "tenant"}
    async with websockets.connect(url, additional_headers=floor.headers("ingest", "other")) as ws:
        await ws.send(json.dumps(started))
        await ws.send(json.dumps({"type": "stop"}))
        assert await expect_close(ws) == 1000
    other = httpx.get(f"{floor.base_url}/v1/calls/{call_id}", headers=floor.headers("supervisor", "other"))
    assert other.status_code == 200 and other.json()["status"] == "ended"
    assert get_call(floor, call_id).status_code == 404  # the default tenant's supervisor: not theirs


async def test_reading_calls_needs_a_token_of_a_call_reader(floor):
    call_id = new_call_id("readers")
    await stream_audio(decode_file(STEREO_CLIP)[:, :16000], f"{floor.ws_base}/v1/calls/{call_id}/audio", speed=0,
                       api_key=floor.ingest_key(), agent=floor.username("agent"))
    url = f"{floor.base_url}/v1/calls/{call_id}"
    unsigned = httpx.get(url)
    assert unsigned.status_code == 401 and unsigned.json()["detail"]["code"] == "unauthenticated"
    trainer = httpx.get(url, headers=floor.headers("trainer"))
    assert trainer.status_code == 403 and trainer.json()["detail"]["code"] == "forbidden"
    assert httpx.get(url, headers=floor.headers("agent")).status_code == 200  # their own call
    assert httpx.get(url, headers=floor.headers("agent2")).status_code == 404  # another agent's
    assert httpx.get(url, headers=floor.headers("supervisor")).status_code == 200
    assert httpx.get(url, headers=floor.headers("ingest")).status_code == 403
    events = f"{floor.ws_base}/v1/calls/{call_id}/events"
    assert await refused_handshake(events, None) == 401
    assert await refused_handshake(events, floor.headers("trainer")) == 403
    async with websockets.connect(events, additional_headers=floor.headers("agent2")) as ws:
        error, closed_with = await expect_error(ws)
    assert (error["code"], closed_with) == ("unknown_call", 1008)
