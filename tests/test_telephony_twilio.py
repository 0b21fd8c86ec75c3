"""Twilio Media Streams: the message sequence Twilio sends, with real speech as 8 kHz mu-law."""

import asyncio
import base64
import json

import soxr
import websockets

from assistant.simulate import Pacer, TwilioPeer, new_platform_call_id
from speech.audio import float_to_mulaw
from tests.conftest import (assert_one_continuous_call, clip_audio, expect_close, recorded_events,
                            transcript_of, two_speakers, wait_for_call_end, wait_for_call_start, words_heard)


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
    assert words_heard(customer_ref, transcript_of(call, "customer")) >= 0.5
    assert words_heard(agent_ref, transcript_of(call, "agent")) >= 0.5
    assert words_heard(agent_ref, transcript_of(call, "customer")) < 0.2  # tracks not mixed up
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
    await asyncio.sleep(1.0)
    assert telephony_server.get_call(call_sid).json()["status"] == "live"

    resumed = peer(telephony_server, call_sid)
    await resumed.open()
    await resumed.send(second, Pacer(speed=0))
    await resumed.end()
    assert resumed.result["close_code"] == 1000

    call = await wait_for_call_end(telephony_server.base_url, call_sid, token=telephony_server.token)
    assert call["end_reason"] == "stop"
    transcript = transcript_of(call, "customer")
    assert words_heard(first_ref, transcript) >= 0.5, transcript  # said before the drop: kept
    assert words_heard(second_ref, transcript) >= 0.5, transcript
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
    assert words_heard(reference, transcript_of(call, "customer")) >= 0.5


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
    assert words_heard(customer_ref, transcript_of(call, "customer")) >= 0.5
    assert words_heard(agent_ref, transcript_of(call, "agent")) >= 0.5
