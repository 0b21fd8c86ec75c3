"""Two real Rafiq nodes sharing one PostgreSQL database and one Redis: a call streamed to one is
followed on the other, a publish on one is searched on the other, admission is per tenant across
both, sign-in lockouts hold on both, a telephony call survives its node's SIGKILL by reconnecting
to the other, a native call of a killed node ends ``node_lost``, SIGTERM moves an AudioHook call
to the other node (``reconnect``) and drains the rest."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets

from assistant.launcher import ServerProcess
from assistant.simulate import AudioHookPeer, Pacer, TwilioPeer, encode_audio, new_platform_call_id, stream_audio
from speech.audio import decode_file
from tests.conftest import (PG_ADMIN_URL, START, Floor, assert_wer, bearer, clip_audio, collect_when_started, fleurs_clip,
                            new_call_id, transcript_of, wait_for_call_end, wait_for_call_start)

REDIS_URL = os.environ.get("RAFIQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RESUME_S = 8.0
TENANT_MAX_CALLS = 2
WER_EN4 = 0.34  # as tests/test_telephony_twilio.py (measured 0.200 there, 8 kHz mu-law)
WER_EN3 = 0.74  # as tests/test_telephony_twilio.py (measured 0.600 after a reconnect)
WER_FR_NATIVE = 0.5
METRICS_TOKEN = "scrape-" + uuid.uuid4().hex


class Cluster:
    """Two nodes (``a``, ``b``) of one cluster; ``floor`` holds both tenants' people (same database)."""

    def __init__(self, tmp_path_factory, database_url: str, redis_url: str):
        self.env = {"RAFIQ_DATABASE_URL": database_url, "RAFIQ_REDIS_URL": redis_url,
                    "RAFIQ_TELEPHONY_RESUME_S": str(RESUME_S), "RAFIQ_MAX_CALLS": "0",
                    "RAFIQ_TENANT_MAX_CALLS": str(TENANT_MAX_CALLS), "RAFIQ_DRAIN_S": "60",
                    "RAFIQ_METRICS_TOKEN": METRICS_TOKEN,
                    "RAFIQ_SEED_KB": "0"}  # each node's index is built from the database: nothing to seed
        self.tmp = tmp_path_factory
        self.a = self.node("a")
        self.b = self.node("b")

    def node(self, name: str) -> ServerProcess:
        # One at a time: the first seeds the knowledge base, the next finds it there.
        server = ServerProcess(self.tmp.mktemp(f"rafiq-node-{name}"), RAFIQ_NODE_ID=f"node-{name}-{uuid.uuid4().hex[:4]}",
                               **self.env)
        server.start()
        return server

    def stop(self) -> None:
        for server in (self.a, self.b):
            server.stop()


def _redis_url() -> str:
    import redis
    # A database of its own, emptied: the cluster's keys of earlier runs must not be seen.
    db = 1 + uuid.uuid4().int % 15
    url = REDIS_URL.rsplit("/", 1)[0] + f"/{db}" if REDIS_URL.count("/") >= 3 else REDIS_URL + f"/{db}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"no Redis at {url}: run scripts/test-services.sh (make test does) or set RAFIQ_TEST_REDIS_URL")
    client.flushdb()
    return url


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    import sqlalchemy as sa
    name = f"rafiq_cluster_{uuid.uuid4().hex[:8]}"
    admin_url = sa.make_url(PG_ADMIN_URL)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    nodes = Cluster(tmp_path_factory, admin_url.set(database=name).render_as_string(hide_password=False), _redis_url())
    try:
        nodes.floor = Floor(nodes.a)
        yield nodes
    finally:
        nodes.stop()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def ws(server: ServerProcess) -> str:
    return "ws" + server.base_url[4:]


async def test_a_call_on_a_is_followed_on_b_history_then_live(cluster):
    floor = cluster.floor
    clip, reference = fleurs_clip("fr", 1)
    audio = decode_file(clip)[:1]
    call_id = new_call_id("cluster")
    token = floor.token("supervisor")
    # One follower joins on B before the call starts, another on B halfway through (history, then live).
    early = asyncio.ensure_future(collect_when_started(ws(cluster.b), call_id, token=token))
    streaming = asyncio.ensure_future(stream_audio(audio, f"{ws(cluster.a)}/v1/calls/{call_id}/audio", speed=1.0,
                                                   api_key=floor.ingest_key()))
    await wait_for_call_start(cluster.b.base_url, call_id, token=token)
    async with httpx.AsyncClient(headers=bearer(token)) as client:
        listed = (await client.get(f"{cluster.b.base_url}/v1/calls")).json()["calls"]
    mine = [c for c in listed if c["call_id"] == call_id]
    assert mine and mine[0]["status"] == "live" and mine[0]["node"].startswith("node-a")
    await asyncio.sleep(audio.shape[1] / 16000 / 2)
    late = asyncio.ensure_future(collect_when_started(ws(cluster.b), call_id, token=token))
    await streaming
    early_events, late_events = await asyncio.wait_for(asyncio.gather(early, late), 120)

    call = await wait_for_call_end(cluster.b.base_url, call_id, token=token)
    assert call["end_reason"] == "stop"
    assert_wer(reference, transcript_of(call, "customer"), WER_FR_NATIVE, "fr-1 streamed to A, read on B")
    for events in (early_events, late_events):
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(set(seqs)), seqs  # in order, nothing twice
        assert events[0]["type"] == "call.started" and events[-1]["type"] == "call.ended"
        finals = [e for e in events if e["type"] == "transcript.final"]
        assert [e["segment_id"] for e in finals] == [s["segment_id"] for s in call["segments"]]
    assert any(e["type"] == "transcript.partial" for e in early_events)  # live, not only the record


def scrape(server: ServerProcess) -> dict[tuple[str, tuple], float]:
    """GET /metrics with the scrape token: {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families
    response = httpx.get(f"{server.base_url}/metrics", headers=bearer(METRICS_TOKEN), timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def test_metrics_need_the_scrape_token_and_count_the_call_streamed_to_a(cluster):
    for headers in ({}, bearer("wrong"), cluster.floor.headers("admin")):
        response = httpx.get(f"{cluster.a.base_url}/metrics", headers=headers)
        assert response.status_code == 401 and response.json()["detail"]["code"] == "bad_metrics_token"
    a, b = scrape(cluster.a), scrape(cluster.b)
    node_a = cluster.a.env["RAFIQ_NODE_ID"]
    finals = a[("rafiq_end_of_speech_to_final_seconds_count", (("node", node_a), ("tenant", "default")))]
    assert finals >= 1  # the call of the first test was streamed to A
    assert a[("rafiq_audio_received_seconds_total", (("node", node_a), ("tenant", "default")))] > 5
    assert a[("rafiq_engine_decoded_audio_seconds_total", (("node", node_a),))] > 0
    assert not any(name.startswith("rafiq_end_of_speech_to_final_seconds_count") and value
                   for (name, _), value in b.items())  # B only followed it
    assert ("rafiq_live_calls", (("node", node_a), ("tenant", ""))) in a
    # Every series the Grafana dashboard queries is one a node exposes.
    from prometheus_client.parser import text_string_to_metric_families
    text = httpx.get(f"{cluster.a.base_url}/metrics", headers=bearer(METRICS_TOKEN)).text
    families = {family.name for family in text_string_to_metric_families(text)}
    dashboard = json.loads((Path(__file__).resolve().parents[1] / "deploy" / "grafana-dashboard.json").read_text())
    queried = {re.sub(r"_(bucket|count|sum|total)$", "", name) for panel in dashboard["panels"]
               for target in panel["targets"] for name in re.findall(r"rafiq_[a-z_]+", target["expr"])}
    assert queried and queried <= families, queried - families


async def test_an_agents_panel_on_b_follows_their_call_streamed_to_a(cluster):
    floor = cluster.floor
    agent = floor.username("agent")
    silence = encode_audio(np.zeros((1, 1600), dtype=np.float32), "pcm_s16le", 16000)
    call_id = new_call_id("panel")
    async with websockets.connect(f"{ws(cluster.a)}/v1/calls/{call_id}/audio",
                                  additional_headers=bearer(floor.ingest_key())) as audio:
        await audio.send(json.dumps({**START, "agent": agent}))
        await audio.send(silence)
        await wait_for_call_start(cluster.b.base_url, call_id, token=floor.token("supervisor"))
        async with websockets.connect(f"{ws(cluster.b)}/v1/agents/me/calls",
                                      additional_headers=floor.headers("agent")) as panel:
            first = json.loads(await asyncio.wait_for(panel.recv(), 30))
            assert first["type"] == "agent.calls" and call_id in [c["call_id"] for c in first["live"]]
            await audio.send(json.dumps({"type": "stop"}))
            while True:  # the end, announced on A, reaches the panel on B
                notice = json.loads(await asyncio.wait_for(panel.recv(), 30))
                if notice["type"] == "agent.call.ended" and notice["call_id"] == call_id:
                    break


async def test_redis_emptied_mid_call_loses_nothing_of_the_record(cluster):
    import redis
    floor = cluster.floor
    token = floor.token("supervisor")
    audio, reference = clip_audio("en", 4)
    call_id = new_call_id("redis-loss")
    streaming = asyncio.ensure_future(stream_audio(audio, f"{ws(cluster.a)}/v1/calls/{call_id}/audio", speed=1.0,
                                                   api_key=floor.ingest_key()))
    await wait_for_call_start(cluster.b.base_url, call_id, token=token)
    await asyncio.sleep(2)
    redis.Redis.from_url(cluster.env["RAFIQ_REDIS_URL"]).flushdb()  # a Redis restart without persistence
    await streaming
    call = await wait_for_call_end(cluster.b.base_url, call_id, token=token)
    assert call["end_reason"] == "stop"  # not ended node_lost by a peer: the owner registered it again
    assert_wer(reference, transcript_of(call, "customer"), 0.34, "en-4 with Redis emptied mid-call")
    events = await collect_when_started(ws(cluster.b), call_id, token=token)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)) and events[-1]["type"] == "call.ended"


async def test_an_article_published_on_b_is_found_on_a_at_once(cluster):
    floor = cluster.floor
    title = f"Lost card overseas {uuid.uuid4().hex[:6]}"
    body = {"title": title, "language": "en", "publish": True,
            "body": "If a customer loses their card abroad, block it in the app and order a replacement "
                    "to the hotel address; emergency cash can be sent within 24 hours.",
            "questions": ["I lost my card while travelling abroad, what do I do?"]}
    async with httpx.AsyncClient(timeout=30) as client:  # a search waits for the embedding model, shared CPU
        created = await client.post(f"{cluster.b.base_url}/v1/kb/articles", json=body,
                                    headers=floor.headers("trainer"))
        assert created.status_code in (200, 201), created.text
        article_id = created.json()["id"]
        published_at = time.monotonic()
        found_after = None
        while time.monotonic() - published_at < 10:
            hits = (await client.get(f"{cluster.a.base_url}/v1/kb/search",
                                     params={"q": "I lost my card while travelling abroad"},
                                     headers=floor.headers("agent"))).json()["results"]
            if hits and hits[0]["article_id"] == article_id:
                found_after = time.monotonic() - published_at
                break
            await asyncio.sleep(0.1)
    print(f"published on B, first found on A after {found_after} s")
    assert found_after is not None, "node A never found the article published on node B"


async def test_admission_counts_a_tenants_calls_on_every_node(cluster):
    floor = cluster.floor
    tenant = floor.add_tenant()
    key = floor.ingest_key(tenant)
    start = {**START, "tenant": tenant}
    silence = encode_audio(np.zeros((1, 1600), dtype=np.float32), "pcm_s16le", 16000)
    sockets = []
    try:
        for server in (cluster.a, cluster.b):  # the tenant's limit, reached across both nodes
            socket = await websockets.connect(f"{ws(server)}/v1/calls/{new_call_id('adm')}/audio",
                                              additional_headers=bearer(key))
            await socket.send(json.dumps(start))
            await socket.send(silence)
            sockets.append(socket)
        await asyncio.sleep(0.5)
        for server in (cluster.a, cluster.b):
            async with websockets.connect(f"{ws(server)}/v1/calls/{new_call_id('adm')}/audio",
                                          additional_headers=bearer(key)) as refused:
                await refused.send(json.dumps(start))
                error = json.loads(await asyncio.wait_for(refused.recv(), 30))
                assert error["code"] == "too_many_calls" and tenant in error["message"]
        # Another tenant is not held back by this one.
        other = await websockets.connect(f"{ws(cluster.a)}/v1/calls/{new_call_id('adm')}/audio",
                                         additional_headers=bearer(floor.ingest_key("other")))
        await other.send(json.dumps({**START, "tenant": "other"}))
        await other.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(other.wait_closed(), 30)
        assert other.close_code == 1000
        # One ends on A: a call is admitted again, on B.
        await sockets[0].send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(sockets.pop(0).wait_closed(), 30)
        await asyncio.sleep(0.5)
        again = await websockets.connect(f"{ws(cluster.b)}/v1/calls/{new_call_id('adm')}/audio",
                                         additional_headers=bearer(key))
        await again.send(json.dumps(start))
        await again.send(silence)
        sockets.append(again)
        with pytest.raises(asyncio.TimeoutError):  # no error frame: it streams
            await asyncio.wait_for(again.recv(), 1.5)
    finally:
        for socket in sockets:
            await socket.send(json.dumps({"type": "stop"}))
            await socket.close()


def test_sign_in_failures_on_one_node_lock_the_account_on_the_other(cluster):
    floor = cluster.floor
    tenant = floor.add_tenant()
    username = floor.username("agent", tenant)
    for attempt in range(5):  # FREE_FAILURES, spread over both nodes
        server = (cluster.a, cluster.b)[attempt % 2]
        response = httpx.post(f"{server.base_url}/v1/auth/token", data={"username": username, "password": "wrong"})
        assert response.status_code == 401
    right = floor.passwords[username]
    for server in (cluster.a, cluster.b):
        response = httpx.post(f"{server.base_url}/v1/auth/token", data={"username": username, "password": right})
        assert response.status_code == 401 and response.json()["detail"]["code"] == "sign_in_locked", response.text


async def test_a_killed_nodes_telephony_call_continues_on_the_other_and_its_native_call_ends_node_lost(cluster):
    floor = cluster.floor
    token = floor.token("supervisor")
    first, first_ref = clip_audio("en", 4)
    second, second_ref = clip_audio("en", 3)
    call_sid = new_platform_call_id("twilio")
    follower = asyncio.ensure_future(collect_when_started(ws(cluster.b), call_sid, token=token))
    twilio = TwilioPeer(f"{ws(cluster.a)}/v1/ingest/twilio", call_sid, 1, {"tenant": "default"})
    await twilio.open()
    # Then a pause, so that A's end-pointer closes the last utterance and the finals are out.
    await twilio.send(np.concatenate([first, np.zeros((1, 16000 * 2), dtype=np.float32)], axis=1), Pacer(speed=0))
    # A native call on A too, left open.
    native_id = new_call_id("native")
    native = await websockets.connect(f"{ws(cluster.a)}/v1/calls/{native_id}/audio",
                                      additional_headers=bearer(floor.ingest_key()))
    await native.send(json.dumps(START))
    await native.send(encode_audio(clip_audio("fr", 1)[0][:, :16000 * 3], "pcm_s16le", 16000))
    # Let A transcribe what it received: its finals reach the follower on B.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        call = (await wait_for_call_start(cluster.b.base_url, call_sid, token=token))
        if call["segments"] and call["segments"][-1]["end"] > first.shape[1] / 16000 - 2:
            break
        await asyncio.sleep(0.3)
    finals_before = {s["segment_id"]: s for s in call["segments"]}
    assert finals_before, "A transcribed nothing before the kill"

    cluster.a.proc.send_signal(signal.SIGKILL)
    cluster.a.proc.wait(10)
    await twilio.drop()

    resumed = TwilioPeer(f"{ws(cluster.b)}/v1/ingest/twilio", call_sid, 1, {"tenant": "default"})
    await resumed.open()
    await resumed.send(second, Pacer(speed=0))
    await resumed.end()
    assert resumed.result["close_code"] == 1000, resumed.result

    call = await wait_for_call_end(cluster.b.base_url, call_sid, token=token)
    assert call["call_id"] == call_sid and call["end_reason"] == "stop"
    recorded = {s["segment_id"]: s for s in call["segments"]}
    for segment_id, segment in finals_before.items():  # nothing said before the kill is lost
        assert recorded[segment_id]["text"] == segment["text"]
    after = [s for s in call["segments"] if s["segment_id"] not in finals_before]
    assert_wer(second_ref, " ".join(s["text"] for s in after), WER_EN3, "en-3 after the reconnect to B")
    assert min(s["start"] for s in after) >= max(s["end"] for s in finals_before.values())  # the timeline goes on
    events = await asyncio.wait_for(follower, 120)  # followed on B throughout: one call, numbers go on
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), seqs
    kinds = [e["type"] for e in events]
    assert kinds.count("call.started") == 1 and kinds[-1] == "call.ended" and kinds.count("call.ended") == 1
    assert len(recorded) == len(call["segments"])  # segment ids unique

    native_call = await wait_for_call_end(cluster.b.base_url, native_id, timeout=60, token=token)
    assert native_call["end_reason"] == "node_lost"
    await native.close()
    cluster.a = cluster.node("a")  # for the tests after this one


async def test_sigterm_moves_audiohook_calls_to_the_other_node_then_exits(cluster):
    floor = cluster.floor
    token = floor.token("supervisor")
    first, first_ref = clip_audio("en", 4)
    second, second_ref = clip_audio("en", 3)
    conversation = str(uuid.uuid4())
    follower = asyncio.ensure_future(collect_when_started(ws(cluster.b), conversation, token=token))
    hook = AudioHookPeer(f"{ws(cluster.a)}/v1/ingest/audiohook", conversation, 1)
    await hook.open()
    assert not hook.result["errors"], hook.result
    # A second call on A whose platform will close on reconnect but never come back.
    abandoned = AudioHookPeer(f"{ws(cluster.a)}/v1/ingest/audiohook", str(uuid.uuid4()), 1)
    await abandoned.open()
    await abandoned.send(clip_audio("en", 3)[0][:, :16000 * 3], Pacer(speed=0))
    # Then a pause, so that A's end-pointer closes utterances; SIGTERM comes once the first final is
    # out, while the rest may still be in A's engine.
    await hook.send(np.concatenate([first, np.zeros((1, 16000 * 2), dtype=np.float32)], axis=1), Pacer(speed=0))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        call = await wait_for_call_start(cluster.b.base_url, conversation, token=token)
        if call["segments"]:
            break
        await asyncio.sleep(0.2)
    assert call["segments"], "A transcribed nothing before the drain"

    cluster.a.proc.send_signal(signal.SIGTERM)
    asked = await hook.reply("reconnect", timeout=30)  # the protocol's way to move a session
    assert asked["parameters"]["info"]
    await hook.end("reconnect")
    assert hook.result["close_code"] == 1000, hook.result
    await abandoned.reply("reconnect", timeout=30)
    await abandoned.end("reconnect")
    resumed = AudioHookPeer(f"{ws(cluster.b)}/v1/ingest/audiohook", conversation, 1, continued_sessions=[
        {"id": hook.session_id, "serverseq": hook.serverseq, "clientseq": hook.seq}])
    await resumed.open()
    assert not resumed.result["errors"], resumed.result  # B takes it at once: A handed it off
    handed = {s["segment_id"] for s in (await wait_for_call_start(cluster.b.base_url, conversation,
                                                                   token=token))["segments"]}
    assert cluster.a.proc.wait(30) == 0  # A had nothing left to wait for (its drain deadline is 60 s)
    await resumed.send(second, Pacer(speed=0))
    await resumed.end()
    assert resumed.result["close_code"] == 1000, resumed.result

    call = await wait_for_call_end(cluster.b.base_url, conversation, token=token)
    assert call["call_id"] == conversation and call["end_reason"] == "close"
    events = await asyncio.wait_for(follower, 120)  # followed on B throughout: one call, numbers go on
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), seqs
    kinds = [e["type"] for e in events]
    assert kinds.count("call.started") == 1 and kinds[-1] == "call.ended" and kinds.count("call.ended") == 1
    before = [s for s in call["segments"] if s["segment_id"] in handed]
    after = [s for s in call["segments"] if s["segment_id"] not in handed]
    assert min(s["start"] for s in after) >= max(s["end"] for s in before)  # the timeline goes on
    # Everything A received before the drain was transcribed (by A), and the audio sent to B after.
    assert_wer(first_ref, " ".join(s["text"] for s in before), WER_EN4, "en-4 before the move")
    assert_wer(second_ref, " ".join(s["text"] for s in after), WER_EN3, "en-3 after the move to B")
    assert len({s["segment_id"] for s in call["segments"]}) == len(call["segments"])
    # Handed off, never resumed: a peer ends it once the resume grace has passed.
    gone = await wait_for_call_end(cluster.b.base_url, abandoned.conversation_id, timeout=RESUME_S + 60, token=token)
    assert gone["end_reason"] == "disconnected"
    cluster.a = cluster.node("a")  # for the tests after this one


async def test_sigterm_drains_live_calls_then_exits(cluster):
    floor = cluster.floor
    token = floor.token("supervisor")
    audio, reference = clip_audio("en", 4)
    call_id = new_call_id("drain")
    streaming = asyncio.ensure_future(stream_audio(audio, f"{ws(cluster.b)}/v1/calls/{call_id}/audio", speed=1.0,
                                                   api_key=floor.ingest_key()))
    await wait_for_call_start(cluster.a.base_url, call_id, token=token)
    cluster.b.proc.send_signal(signal.SIGTERM)
    async with httpx.AsyncClient() as client:
        for _ in range(50):
            ready = await client.get(f"{cluster.b.base_url}/readyz")
            if ready.status_code == 503:
                break
            await asyncio.sleep(0.1)
        assert ready.status_code == 503 and "draining" in ready.json()["problems"]
        assert (await client.get(f"{cluster.a.base_url}/readyz")).status_code == 200
    async with websockets.connect(f"{ws(cluster.b)}/v1/calls/{new_call_id('drain')}/audio",
                                  additional_headers=bearer(floor.ingest_key())) as refused:
        await refused.send(json.dumps(START))
        assert json.loads(await asyncio.wait_for(refused.recv(), 30))["code"] == "draining"
    assert cluster.b.proc.poll() is None  # still serving its live call
    await streaming
    call = await wait_for_call_end(cluster.a.base_url, call_id, token=token)
    assert call["end_reason"] == "stop"  # finished, not cut by the shutdown
    assert_wer(reference, transcript_of(call, "customer"), 0.34, "en-4 through a drain")
    assert cluster.b.proc.wait(60) == 0
