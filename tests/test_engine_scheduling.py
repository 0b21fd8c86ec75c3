"""The speech engine's scheduler with several calls at once: finals before partials, finals of
different calls in one batch, a stale partial dropped (and counted), never a final; and one
call's bad input leaves another call's transcript whole. Real model, real speech."""

import asyncio
import json
import threading

import httpx
import pytest
import websockets

from assistant.simulate import stream_audio
from speech.audio import float_to_pcm16
from speech.engine import DecodeOptions, DecodeRequest, SpeechEngine, WhisperRecognizer
from speech.evaluation import word_error_rate
from speech.models import load_whisper
from tests.conftest import START, clip_audio, expect_error, new_call_id, wait_for_call_end, wait_for_call_start


class GatedRecognizer:
    """The real recognizer behind a gate: the first batch waits until the test opens it, so the
    test can queue work from several calls while the engine is busy. Records every batch."""

    def __init__(self, inner: WhisperRecognizer):
        self.inner = inner
        self.options = inner.options
        self.gate = threading.Event()
        self.entered = threading.Event()  # the worker is inside its first batch
        self.batches: list[tuple[list[DecodeRequest], int]] = []

    def recognize(self, batch, beam_size, pad_s=None):
        self.entered.set()
        self.gate.wait(120)
        self.batches.append((list(batch), beam_size))
        return self.inner.recognize(batch, beam_size, pad_s)


@pytest.fixture(scope="module")
def recognizer():
    from assistant.config import Settings
    model, _ = load_whisper("base", Settings.from_env().model_cache, "cpu", "int8", cpu_threads=2)
    return WhisperRecognizer(model, DecodeOptions())


async def wait_until(condition, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition never met"
        await asyncio.sleep(0.01)


async def test_finals_of_two_calls_go_first_in_one_batch_and_stale_partials_are_dropped(recognizer):
    gated = GatedRecognizer(recognizer)
    engine = SpeechEngine(gated)
    fr, fr_ref = clip_audio("fr", 2)
    es, es_ref = clip_audio("es", 3)
    fr, es = fr[0], es[0]
    try:
        # A partial of call A keeps the engine busy (held at the gate)...
        busy = asyncio.ensure_future(engine.recognize_partial("A/customer", DecodeRequest(fr[:16000])))
        await wait_until(gated.entered.is_set)
        assert engine.pending() == (0, 0)
        # ...while both calls queue work: two partials of A (the first goes stale), one of B, a final of each.
        stale = asyncio.ensure_future(engine.recognize_partial("A/customer", DecodeRequest(fr[:32000])))
        partial_b = asyncio.ensure_future(engine.recognize_partial("B/customer", DecodeRequest(es[:32000])))
        await asyncio.sleep(0)
        fresh = asyncio.ensure_future(engine.recognize_partial("A/customer", DecodeRequest(fr[:48000])))
        final_a = asyncio.ensure_future(engine.recognize_final(DecodeRequest(fr)))
        final_b = asyncio.ensure_future(engine.recognize_final(DecodeRequest(es)))
        await wait_until(lambda: engine.pending() == (2, 2))
        assert await asyncio.wait_for(stale, 5) is None  # superseded before the model got to it
        assert engine.dropped_partials == 1
        gated.gate.set()
        results = await asyncio.wait_for(asyncio.gather(busy, final_a, final_b, fresh, partial_b), 300)
    finally:
        gated.gate.set()
        await engine.close()
    _, result_a, result_b, result_fresh, result_partial_b = results
    # Batches: the blocker, then both calls' finals together (beam 5), then both partials (greedy).
    assert [(len(batch), beam) for batch, beam in gated.batches] == [(1, 1), (2, 5), (2, 1)]
    assert {len(r.audio) for r in gated.batches[1][0]} == {len(fr), len(es)}
    assert {len(r.audio) for r in gated.batches[2][0]} == {48000, 32000}  # A's newest partial, not the stale one
    assert (result_a.language, result_b.language) == ("fr", "es")
    assert word_error_rate(fr_ref, result_a.text) < 0.5 and word_error_rate(es_ref, result_b.text) < 0.3
    assert result_fresh is not None and result_partial_b is not None
    assert engine.dropped_partials == 1
    assert engine.decoded_audio_seconds == pytest.approx((16000 + len(fr) + len(es) + 48000 + 32000) / 16000)


async def test_one_calls_bad_input_leaves_the_other_call_whole(floor):
    """Two calls at once: B breaks the protocol mid-stream while A streams a real clip; A's
    transcript is as good as alone, and a supervisor sees both calls in the engine's metrics."""
    base, supervisor = floor.base_url, floor.headers("supervisor")
    audio, reference = clip_audio("es", 0)
    noise, _ = clip_audio("fr", 0)
    call_a, call_b = new_call_id("whole"), new_call_id("broken")
    before = httpx.get(f"{base}/v1/metrics", headers=supervisor).json()
    streamer = asyncio.ensure_future(stream_audio(audio, f"{floor.ws_base}/v1/calls/{call_a}/audio", speed=2.0,
                                                  api_key=floor.ingest_key()))
    await wait_for_call_start(base, call_a, token=floor.token("supervisor"))
    async with websockets.connect(f"{floor.ws_base}/v1/calls/{call_b}/audio",
                                  additional_headers=floor.headers("ingest")) as ws:
        await ws.send(json.dumps(START))
        wire = float_to_pcm16(noise[0, :16000 * 4])
        for offset in range(0, len(wire), 16000):
            await ws.send(wire[offset:offset + 16000])
            await asyncio.sleep(0.1)
        during = httpx.get(f"{base}/v1/metrics", headers=supervisor).json()
        await ws.send("{not json")
        error, closed_with = await expect_error(ws)
    assert (error["code"], closed_with) == ("bad_json", 1003)
    assert during["live_calls"] >= 2
    result = await asyncio.wait_for(streamer, 120)
    assert result["errors"] == [] and result["close_code"] == 1000
    whole = await wait_for_call_end(base, call_a, token=floor.token("supervisor"))
    broken = await wait_for_call_end(base, call_b, token=floor.token("supervisor"))
    assert whole["end_reason"] == "stop" and broken["end_reason"] == "error:bad_json"
    transcript = " ".join(s["text"] for s in whole["segments"])
    assert {s["speaker"] for s in whole["segments"]} == {"customer"}
    assert word_error_rate(reference, transcript) <= 0.15, transcript  # es 000 alone: see test_transcription
    after = httpx.get(f"{base}/v1/metrics", headers=supervisor).json()
    assert after["asr_audio_seconds"] - before["asr_audio_seconds"] >= audio.shape[1] / 16000
    assert after["asr_busy_seconds"] > before["asr_busy_seconds"]
