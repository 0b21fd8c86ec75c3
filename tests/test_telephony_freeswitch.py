"""FreeSWITCH mod_audio_fork / mod_audio_stream: metadata frame, then L16 audio; stereo roles."""

import json
import uuid

import websockets

from assistant.simulate import FreeSwitchPeer, Pacer
from speech.audio import float_to_pcm16
from tests.conftest import (assert_not_heard, assert_one_continuous_call, assert_resumed_without_loss_or_repeat,
                            assert_wer, clip_audio, expect_error, recorded_events, transcript_of, two_speakers,
                            wait_for_call_end)

# WER bounds, L16 linear PCM, one FLEURS clip each: measured on this 2-core machine on 2026-12-01
# (value in each comment) + a margin of about two words of the clip (15-26 words). bench/asr.py's
# streaming means for comparison (README): 16 kHz PCM en 0.073, fr 0.353; 8 kHz mu-law en 0.266,
# fr 0.418.
WER_FR2_8K = 0.40  # measured 0.320 on 2026-12-01, margin 0.08 (2 of 26 words)
WER_EN4_8K = 0.14  # measured 0.000 (callee; before a drop) on 2026-12-01, margin 0.14 (2 of 15 words)
WER_EN3_8K = 0.61  # measured 0.467 (after a reconnect) on 2026-12-01, margin 0.14
WER_EN3_16K = 0.21  # measured 0.067 on 2026-12-01, margin 0.14


def peer(server, call_id, channels, sample_rate=8000, **metadata) -> FreeSwitchPeer:
    return FreeSwitchPeer(f"{server.ws_base}/v1/ingest/freeswitch", call_id, channels, sample_rate, metadata)


async def test_stereo_fork_gives_caller_and_callee_their_roles(telephony_server):
    customer, customer_ref = clip_audio("fr", 2)
    agent, agent_ref = clip_audio("en", 4)
    call_id = str(uuid.uuid4())
    fork = peer(telephony_server, call_id, 2, campaign="telecom")
    await fork.open()
    await fork.send(two_speakers(customer, agent), Pacer(speed=0))
    await fork.end()  # uuid_audio_fork stop: a normal close
    call = await wait_for_call_end(telephony_server.base_url, call_id, token=telephony_server.token)
    assert call["end_reason"] == "stop" and call["roles"] == ["customer", "agent"]
    assert_wer(customer_ref, transcript_of(call, "customer"), WER_FR2_8K, "freeswitch caller fr-2 8k")
    assert_wer(agent_ref, transcript_of(call, "agent"), WER_EN4_8K, "freeswitch callee en-4 8k")
    assert_not_heard(agent_ref, transcript_of(call, "customer"), "freeswitch caller")
    assert_not_heard(customer_ref, transcript_of(call, "agent"), "freeswitch callee")
    events = await recorded_events(telephony_server.ws_base, call_id, token=telephony_server.token)
    assert events[0]["source"] == {"protocol": "freeswitch", "mix": "stereo", "sample_rate": 8000,
                                   "campaign": "telecom"}


async def test_mono_16k_without_metadata_takes_the_call_id_from_the_url(telephony_server):
    audio, reference = clip_audio("en", 3)
    call_id = str(uuid.uuid4())
    url = f"{telephony_server.ws_base}/v1/ingest/freeswitch?call_id={call_id}&sample_rate=16k&mix=mono"
    async with websockets.connect(url) as ws:
        wire = float_to_pcm16(audio[0])
        for offset in range(0, len(wire), 640):  # 20 ms of 16 kHz L16
            await ws.send(wire[offset:offset + 640])
        await ws.send(json.dumps({"note": "send_text from the dialplan"}))  # application data: logged
    call = await wait_for_call_end(telephony_server.base_url, call_id, token=telephony_server.token)
    assert call["end_reason"] == "stop" and call["roles"] == ["customer"]
    assert_wer(reference, transcript_of(call, "customer"), WER_EN3_16K, "freeswitch mono en-3 16k")


async def test_dropped_fork_resumes_the_same_call(telephony_server):
    first, first_ref = clip_audio("en", 4)
    second, second_ref = clip_audio("en", 3)
    call_id = str(uuid.uuid4())
    fork = peer(telephony_server, call_id, 1)
    await fork.open()
    await fork.send(first, Pacer(speed=0))
    await fork.drop()
    await telephony_server.wait_for_log("call detached, waiting for a reconnect", call_id)
    assert telephony_server.get_call(call_id).json()["status"] == "live"
    again = peer(telephony_server, call_id, 1)
    await again.open()
    await again.send(second, Pacer(speed=0))
    await again.end()
    call = await wait_for_call_end(telephony_server.base_url, call_id, token=telephony_server.token)
    assert call["end_reason"] == "stop"
    assert_resumed_without_loss_or_repeat(call, first_ref, second_ref, first.shape[1] / 16000, WER_EN4_8K,
                                          WER_EN3_8K)
    assert_one_continuous_call(await recorded_events(telephony_server.ws_base, call_id, token=telephony_server.token))


async def test_bad_metadata_is_refused(telephony_server):
    base = f"{telephony_server.ws_base}/v1/ingest/freeswitch"
    cases = [(base, "{not json", "bad_metadata", 1003),
             (base, json.dumps({"sampleRate": 8000}), "missing_call_id", 1008),
             (base, b"\x00\x00" * 160, "missing_call_id", 1008),  # audio first and no call_id in the URL
             (base, json.dumps({"callId": str(uuid.uuid4()), "mix": "quad"}), "bad_metadata", 1003),
             (f"{base}?sample_rate=4k", json.dumps({"callId": str(uuid.uuid4())}), "bad_metadata", 1003),
             (base, json.dumps({"callId": "bad id with spaces"}), "bad_call_id", 1008)]
    for url, first, code, close_code in cases:
        async with websockets.connect(url) as ws:
            await ws.send(first)
            error, closed_with = await expect_error(ws)
        assert (error["code"], closed_with) == (code, close_code), (first, error)
