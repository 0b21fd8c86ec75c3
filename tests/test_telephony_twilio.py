"""Twilio Media Streams: the message sequence Twilio sends, with real speech as 8 kHz mu-law."""

import asyncio
import base64
import json

import numpy as np
import soxr
import websockets

from assistant.simulate import Pacer, TwilioPeer, new_platform_call_id
from speech.audio import float_to_mulaw
from tests.conftest import (assert_not_heard, assert_one_continuous_call, assert_resumed_without_loss_or_repeat,
                            assert_wer, clip_audio, expect_close, recorded_events, transcript_of, two_speakers,
                            wait_for_call_end, wait_for_call_start)

# WER bounds, 8 kHz mu-law (Twilio's only format), one FLEURS clip each: measured on this 2-core
# machine on 2026-12-01 (value in each comment) + a margin of about two words of the clip (15-22
# words). bench/asr.py's 8 kHz mu-law streaming means for comparison (README): en 0.266, es 0.115.
WER_ES3 = 0.14  # measured 0.000 (inbound; 0.000 as the CLI's outbound) on 2026-12-01, margin 0.14 (2 of 15 words)
# measured 0.600 (outbound; 0.600 after a reconnect: 'cabbage juice' -> 'cab is used to') on 2026-12-01, margin 0.14
WER_EN3 = 0.74
WER_EN4 = 0.34  # measured 0.200 (before a drop, and via the CLI; 0.000 among bad messages) on 2026-12-01, margin 0.14
# measured 0.467 (inbound, gap-filled) and 0.567 (outbound) on 2026-12-01, margin 0.07 (2 of 30 words)
WER_EN3_EN4 = 0.64


def peer(server, call_sid, channels=1, **params) -> TwilioPeer:
    return TwilioPeer(f"{server.ws_base}/v1/ingest/twilio", call_sid, channels, {"tenant": "default", **params})


async def test_both_tracks_become_customer_and_agent(telephony_server):
    customer, customer_ref = clip_audio("es", 3)
    agent, agent_ref = clip_audio("en", 3)
    call_sid = new_platform_call_id("twilio")
    twilio = peer(telephony_server, call_sid, channels=2, campaign="cards", agent="agent-7")
    await twilio.open()
    await twilio.send(two_speakers(customer, agent), Pacer(speed=0))
    await twilio.end()
    assert twilio.result["close_code"] == 1000 and not twilio.result["errors"]

    call = await wait_for_call_end(telephony_server.base_url, call_sid, token=telephony_server.token)
    assert call["call_id"] == call_sid and call["end_reason"] == "stop"
    assert call["roles"] == ["customer", "agent"]
    assert_wer(customer_ref, transcript_of(call, "customer"), WER_ES3, "twilio inbound es-3")
    assert_wer(agent_ref, transcript_of(call, "agent"), WER_EN3, "twilio outbound en-3")
    assert_not_heard(agent_ref, transcript_of(call, "customer"), "twilio inbound")  # tracks not mixed up
    assert_not_heard(customer_ref, transcript_of(call, "agent"), "twilio outbound")
    events = await recorded_events(telephony_server.ws_base, call_sid, token=telephony_server.token)
    assert_one_continuous_call(events)
    source = events[0]["source"]
    assert source["protocol"] == "twilio" and source["stream_sid"] == twilio.stream_sid
    assert (source["campaign"], source["agent"]) == ("cards", "agent-7")


async def test_new_stream_with_the_same_call_sid_continues_the_call(telephony_server):
    first, first_ref = clip_audio("en", 4)
    second, second_ref = clip_audio("en", 3)
    call_sid = new_platform_call_id("twilio")
    dropped = peer(telephony_server, call_sid)
    await dropped.open()
    await dropped.send(first, Pacer(speed=0))
    await dropped.drop()  # the socket breaks: no stop
    await telephony_server.wait_for_log("call detached, waiting for a reconnect", call_sid)
    assert telephony_server.get_call(call_sid).json()["status"] == "live"

    resumed = peer(telephony_server, call_sid)
    await resumed.open()
    await resumed.send(second, Pacer(speed=0))
    await resumed.end()
    assert resumed.result["close_code"] == 1000

    call = await wait_for_call_end(telephony_server.base_url, call_sid, token=telephony_server.token)
    assert call["end_reason"] == "stop"
    # Said before the drop: kept; after the reconnect: transcribed; nothing twice.
    assert_resumed_without_loss_or_repeat(call, first_ref, second_ref, first.shape[1] / 16000, WER_EN4, WER_EN3)
    assert_one_continuous_call(await recorded_events(telephony_server.ws_base, call_sid, token=telephony_server.token))


async def test_bad_messages_in_a_call_are_skipped_not_fatal(telephony_server):
    audio, reference = clip_audio("en", 4)
    call_sid = new_platform_call_id("twilio")
    async with websockets.connect(f"{telephony_server.ws_base}/v1/ingest/twilio") as ws:
        await ws.send(json.dumps({"event": "media", "media": {"track": "inbound", "payload": "AAAA"}}))  # before start
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": {
            "streamSid": "MZ1", "callSid": call_sid, "tracks": ["inbound"], "customParameters": {},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
        await ws.send("not json")
        await ws.send(json.dumps({"event": "media", "sequenceNumber": "3", "media": {"track": "inbound",
                                                                                     "payload": "%%%"}}))
        await ws.send(json.dumps({"event": "media", "media": {"track": "outbound", "payload": "AAAA"}}))
        await ws.send(json.dumps({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "5"}}))
        await ws.send(json.dumps({"event": "mark", "mark": {"name": "greeting"}}))
        wire = float_to_mulaw(soxr.resample(audio[0], 16000, 8000))
        for chunk, offset in enumerate(range(0, len(wire), 160)):
            await ws.send(json.dumps({"event": "media", "media": {
                "track": "inbound", "chunk": str(chunk + 1), "timestamp": str(chunk * 20),
                "payload": base64.b64encode(wire[offset:offset + 160]).decode()}}))
        await ws.send(json.dumps({"event": "stop", "stop": {"callSid": call_sid}}))
        assert await expect_close(ws) == 1000
    call = await wait_for_call_end(telephony_server.base_url, call_sid, token=telephony_server.token)
    assert call["end_reason"] == "stop"
    assert_wer(reference, transcript_of(call, "customer"), WER_EN4, "twilio en-4 among bad messages")


def mulaw_chunks(audio: np.ndarray) -> list[bytes]:
    """16 kHz float (n,) → Twilio's 20 ms media payloads (160 mu-law bytes), zero-padded to a whole chunk."""
    wire = float_to_mulaw(soxr.resample(audio, 16000, 8000))
    wire += float_to_mulaw(np.zeros(-len(wire) % 160, dtype=np.float32))
    return [wire[offset:offset + 160] for offset in range(0, len(wire), 160)]


async def test_media_timestamp_gaps_are_filled_so_the_tracks_stay_aligned(telephony_server):
    first, first_ref = clip_audio("en", 3)
    second, second_ref = clip_audio("en", 4)
    gap_ms = 2000
    before, after = mulaw_chunks(first[0]), mulaw_chunks(second[0])
    silence = mulaw_chunks(np.zeros(16 * gap_ms, dtype=np.float32))
    # The same speech on both tracks: the agent's track (outbound) is sent whole, the 2 s between the
    # two clips as silence; on the customer's track (inbound) those 2 s of chunks are lost — its
    # media timestamps jump by 2000 ms. Filled with silence, the customer's words keep their times.
    outbound = before + silence + after
    inbound = {index: chunk for index, chunk in enumerate(outbound)
               if not len(before) <= index < len(before) + len(silence)}
    call_sid = new_platform_call_id("twilio")
    async with websockets.connect(f"{telephony_server.ws_base}/v1/ingest/twilio") as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps({"event": "start", "start": {
            "streamSid": "MZgap", "callSid": call_sid, "tracks": ["inbound", "outbound"], "customParameters": {},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
        for index, chunk in enumerate(outbound):
            for track, payload in (("inbound", inbound.get(index)), ("outbound", chunk)):
                if payload is not None:
                    await ws.send(json.dumps({"event": "media", "media": {
                        "track": track, "chunk": str(index + 1), "timestamp": str(index * 20),
                        "payload": base64.b64encode(payload).decode()}}))
        await ws.send(json.dumps({"event": "stop", "stop": {"callSid": call_sid}}))
        assert await expect_close(ws) == 1000
    call = await wait_for_call_end(telephony_server.base_url, call_sid, token=telephony_server.token)
    customer = [s for s in call["segments"] if s["speaker"] == "customer"]
    agent = [s for s in call["segments"] if s["speaker"] == "agent"]
    reference = f"{first_ref} {second_ref}"
    assert_wer(reference, transcript_of(call, "customer"), WER_EN3_EN4, "twilio inbound with a 2 s gap")
    assert_wer(reference, transcript_of(call, "agent"), WER_EN3_EN4, "twilio outbound without gap")
    # Aligned: each customer final has the start and end of the agent's final of the same audio (an
    # unfilled gap would put the second clip's final 2 s early on the customer's track).
    assert len(customer) == len(agent) and customer, (customer, agent)
    for mine, theirs in zip(sorted(customer, key=lambda s: s["start"]), sorted(agent, key=lambda s: s["start"])):
        assert abs(mine["start"] - theirs["start"]) <= 0.1 and abs(mine["end"] - theirs["end"]) <= 0.1, (mine, theirs)
    gap_end = (len(before) * 20 + gap_ms) / 1000
    assert max(s["end"] for s in customer) > gap_end  # the second clip is heard after the gap, where it was said


async def test_a_socket_that_never_sends_start_is_closed_at_the_start_timeout(telephony_server):
    limit = telephony_server.start_timeout_s
    loop = asyncio.get_running_loop()
    async with websockets.connect(f"{telephony_server.ws_base}/v1/ingest/twilio") as ws:
        began = loop.time()
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))

        async def chatter():  # messages other than start do not put the deadline off
            try:
                while True:
                    await ws.send(json.dumps({"event": "mark", "mark": {"name": "early"}}))
                    await asyncio.sleep(0.25)  # the pace of the chatter, not a wait for anything
            except websockets.ConnectionClosed:
                pass
        talker = asyncio.ensure_future(chatter())
        code = await expect_close(ws, timeout=limit + 30)
        elapsed = loop.time() - began
        talker.cancel()
    print(f"start_timeout close after {elapsed:.2f} s (limit {limit} s)")
    assert code == 1008 and ws.close_reason.startswith("start_timeout"), (code, ws.close_reason)
    assert limit - 0.1 <= elapsed <= limit + 1.5  # the margin: a loaded 2-core machine's scheduling


async def refused(server, start: dict) -> tuple[int, str]:
    async with websockets.connect(f"{server.ws_base}/v1/ingest/twilio") as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "start": start}))
        code = await expect_close(ws)
        return code, ws.close_reason


async def test_unusable_starts_close_the_stream(telephony_server):
    fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    call_sid = new_platform_call_id("twilio")
    code, reason = await refused(telephony_server, {"callSid": call_sid, "tracks": ["inbound"],
                                                    "mediaFormat": {**fmt, "sampleRate": 16000}})
    assert code == 1003 and reason.startswith("unsupported_media_format")
    code, reason = await refused(telephony_server, {"tracks": ["inbound"], "mediaFormat": fmt})  # no callSid
    assert code == 1008 and reason.startswith("bad_start")
    code, reason = await refused(telephony_server, {"callSid": call_sid, "tracks": ["inbound"], "mediaFormat": fmt,
                                                    "customParameters": {"tenant": "../etc"}})
    assert code == 1008 and reason.startswith("bad_start")
    assert telephony_server.get_call(call_sid).status_code == 404


async def test_a_stopped_call_is_not_reopened_and_a_live_one_not_doubled(telephony_server):
    call_sid = new_platform_call_id("twilio")
    live = peer(telephony_server, call_sid)
    await live.open()
    await wait_for_call_start(telephony_server.base_url, call_sid, token=telephony_server.token)
    second = peer(telephony_server, call_sid)
    await second.open()
    await second._wait_closed()
    assert second.result["close_code"] == 1008 and second.ws.close_reason.startswith("call_busy")
    await live.end()
    call = await wait_for_call_end(telephony_server.base_url, call_sid, token=telephony_server.token)
    assert call["end_reason"] == "stop"
    again = peer(telephony_server, call_sid)
    await again.open()
    await again._wait_closed()
    assert again.result["close_code"] == 1008 and again.ws.close_reason.startswith("call_exists")


def test_simulate_cli_plays_two_files_as_a_twilio_call(telephony_server):
    import subprocess
    import sys

    from tests.conftest import REPO, fleurs_clip
    customer, customer_ref = fleurs_clip("en", 4)
    agent, agent_ref = fleurs_clip("es", 3)
    call_sid = new_platform_call_id("twilio")
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "simulate", str(customer), str(agent),
                           "--protocol", "twilio", "--call-id", call_sid, "--url", telephony_server.base_url,
                           "--speed", "0", "--token", telephony_server.token], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "customer (en)" in done.stdout and "agent" in done.stdout
    call = telephony_server.get_call(call_sid).json()
    assert call["status"] == "ended" and call["end_reason"] == "stop"
    assert_wer(customer_ref, transcript_of(call, "customer"), WER_EN4, "simulate twilio inbound en-4")
    assert_wer(agent_ref, transcript_of(call, "agent"), WER_ES3, "simulate twilio outbound es-3")
