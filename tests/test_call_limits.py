"""Limits of one process: the start timeout, the live-call limit (native, demo, detached telephony
calls), the listing of calls, and RAFIQ_LANGUAGES. One small server: languages fr,es, one live
call at a time, 1.5 s to send the start message."""

import asyncio
import json

import httpx
import numpy as np
import pytest
import websockets

from assistant.launcher import ServerProcess
from assistant.simulate import Pacer, TwilioPeer, new_platform_call_id
from tests.conftest import (START, Floor, expect_close, expect_error, fleurs_clip, new_call_id, transcribe_live,
                            wait_for_call_start)


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("rafiq-limits"), RAFIQ_MAX_CALLS="1", RAFIQ_START_TIMEOUT_S="1.5",
                           RAFIQ_LANGUAGES="fr,es", RAFIQ_TELEPHONY_RESUME_S="60", RAFIQ_SEED_KB="0")
    with server:
        yield Floor(server)


def audio_socket(floor: Floor, call_id: str):
    return websockets.connect(f"{floor.ws_base}/v1/calls/{call_id}/audio", additional_headers=floor.headers("ingest"))


async def test_no_start_message_in_time_is_refused_with_start_timeout(small_server):
    call_id = new_call_id("silent")
    loop = asyncio.get_running_loop()
    async with audio_socket(small_server, call_id) as ws:
        opened = loop.time()
        error, closed_with = await expect_error(ws, timeout=60)
        waited = loop.time() - opened
    assert (error["code"], closed_with) == ("start_timeout", 1008)
    assert 1.4 <= waited < 30, waited  # RAFIQ_START_TIMEOUT_S=1.5, not the 10 s default
    assert httpx.get(f"{small_server.base_url}/v1/calls/{call_id}",
                     headers=small_server.headers("supervisor")).status_code == 404


async def test_the_call_over_the_limit_is_refused_with_try_again_later(small_server):
    floor = small_server
    base, supervisor = floor.base_url, floor.token("supervisor")
    first_id, second_id, third_id = new_call_id("first"), new_call_id("second"), new_call_id("third")
    async with audio_socket(floor, first_id) as first:
        await first.send(json.dumps(START))
        await first.send(b"\x00\x00" * 1600)
        await wait_for_call_start(base, first_id, token=supervisor)
        async with audio_socket(floor, second_id) as second:
            await second.send(json.dumps(START))
            error, closed_with = await expect_error(second, timeout=30)
        assert error["code"] == "too_many_calls" and "1 live calls" in error["message"]
        assert closed_with == 1013
        demo = httpx.post(f"{base}/v1/demo/calls", headers=floor.headers("agent"), timeout=30)  # the panel's button
        assert demo.status_code == 503 and demo.json()["detail"]["code"] == "too_many_calls"
        await first.send(json.dumps({"type": "stop"}))
        await expect_close(first)
    # The slot is free again once the first call ended.
    async with audio_socket(floor, third_id) as third:
        await third.send(json.dumps(START))
        await third.send(json.dumps({"type": "stop"}))
        assert await expect_close(third) == 1000


async def test_a_detached_telephony_call_does_not_hold_a_slot(small_server):
    """A Twilio stream that dropped waits (60 s here) for its reconnect, live but fed by nobody:
    it costs the engine nothing, so another call may start meanwhile."""
    floor = small_server
    base, supervisor = floor.base_url, floor.token("supervisor")
    call_sid = new_platform_call_id("twilio")
    twilio = TwilioPeer(f"{floor.ws_base}/v1/ingest/twilio", call_sid, 1, {"tenant": "default"})
    await twilio.open()
    await twilio.send(np.zeros((1, 8000), np.float32), Pacer(speed=0))
    await wait_for_call_start(base, call_sid, token=supervisor)
    # While it streams, it holds the only slot.
    blocked_id = new_call_id("blocked")
    async with audio_socket(floor, blocked_id) as ws:
        await ws.send(json.dumps(START))
        assert (await expect_error(ws))[0]["code"] == "too_many_calls"
    await twilio.drop()
    for _ in range(200):  # the server notices the drop
        listed = httpx.get(f"{base}/v1/metrics", headers=floor.headers("supervisor")).json()
        call = httpx.get(f"{base}/v1/calls/{call_sid}", headers=floor.headers("supervisor")).json()
        if call["status"] == "live" and listed["live_calls"] == 1:
            async with audio_socket(floor, new_call_id("after-drop")) as ws:
                await ws.send(json.dumps(START))
                await ws.send(json.dumps({"type": "stop"}))
                message = None
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                except websockets.ConnectionClosed:
                    pass
                if message is None:
                    assert ws.close_code == 1000
                    break
                assert message["code"] == "too_many_calls"  # the drop not seen yet: try again
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("a new call was never accepted beside the detached one")
    assert httpx.get(f"{base}/v1/calls/{call_sid}", headers=floor.headers("supervisor")).json()["status"] == "live"


async def test_a_server_restricted_to_fr_es_never_labels_english_speech_en(small_server):
    for index in (0, 1):
        clip, _ = fleurs_clip("en", index)
        finals = [e for e in await transcribe_live(small_server, clip) if e["type"] == "transcript.final"]
        assert finals and {e["language"] for e in finals} <= {"fr", "es"}, finals
    # A start message may only name one of the server's languages.
    async with audio_socket(small_server, new_call_id("en")) as ws:
        await ws.send(json.dumps({**START, "language": "en"}))
        error, closed_with = await expect_error(ws)
    assert (error["code"], closed_with) == ("bad_start", 1008)


async def test_the_call_list_is_newest_first_and_limited(floor):
    tenant = floor.add_tenant()
    ids = []
    for n in range(3):
        call_id = new_call_id(f"list{n}")
        async with websockets.connect(f"{floor.ws_base}/v1/calls/{call_id}/audio",
                                      additional_headers=floor.headers("ingest", tenant)) as ws:
            await ws.send(json.dumps({k: v for k, v in START.items() if k != "tenant"}))
            await ws.send(json.dumps({"type": "stop"}))
            assert await expect_close(ws) == 1000
        ids.append(call_id)
    url, headers = f"{floor.base_url}/v1/calls", floor.headers("supervisor", tenant)
    listed = httpx.get(url, headers=headers).json()["calls"]
    assert [c["call_id"] for c in listed] == ids[::-1]
    started = [c["started_at"] for c in listed]
    assert started == sorted(started, reverse=True)
    assert [c["call_id"] for c in httpx.get(url, params={"limit": 2}, headers=headers).json()["calls"]] == ids[:0:-1]
    assert [c["call_id"] for c in httpx.get(url, params={"limit": 1}, headers=headers).json()["calls"]] == [ids[-1]]
    for bad in (0, -1, "x"):
        assert httpx.get(url, params={"limit": bad}, headers=headers).status_code == 422
