"""The events WebSocket: live subscribers and late ones see the same, ordered history."""

import asyncio
import json

import httpx
import websockets

from assistant.simulate import stream_audio
from speech.audio import decode_file
from tests.conftest import bearer, collect_events, collect_when_started, fleurs_clip, new_call_id, wait_for_call_start


async def test_late_subscribers_get_the_past_then_the_live_events_without_gaps_or_repeats(floor):
    rafiq_server, ws_base = floor.base_url, floor.ws_base
    supervisor, agent = floor.token("supervisor"), floor.token("agent")
    clip, _ = fleurs_clip("fr", 1)  # 23 s with two utterances
    call_id = new_call_id("late")
    streamer = asyncio.ensure_future(
        stream_audio(decode_file(clip), f"{ws_base}/v1/calls/{call_id}/audio", speed=1.5,
                     api_key=floor.ingest_key(), agent=floor.username("agent")))
    early = asyncio.ensure_future(collect_when_started(ws_base, call_id, token=supervisor))
    await wait_for_call_start(rafiq_server, call_id, token=supervisor)
    # Join once the first utterance is final, while the second is still being spoken.
    for _ in range(400):
        call = httpx.get(f"{rafiq_server}/v1/calls/{call_id}", headers=bearer(supervisor)).json()
        if call["segments"]:
            break
        await asyncio.sleep(0.1)
    assert call["status"] == "live", "the late subscriber must join a live call"
    late = await collect_events(ws_base, call_id, token=agent)  # the call's own agent
    early_events = await early
    await streamer

    def durable(events):  # partials are live-only: not replayed
        return [e for e in events if e["type"] != "transcript.partial"]

    assert durable(late) == durable(early_events)
    seqs = [e["seq"] for e in late]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    assert late[0]["type"] == "call.started" and late[-1]["type"] == "call.ended"
    assert len([e for e in late if e["type"] == "transcript.final"]) >= 2

    replay = await collect_events(ws_base, call_id, token=supervisor)  # after the end: the whole record
    assert replay == durable(early_events)


async def test_subscriber_that_leaves_does_not_disturb_the_call(floor):
    rafiq_server, ws_base, supervisor = floor.base_url, floor.ws_base, floor.headers("supervisor")
    clip, _ = fleurs_clip("en", 1)
    call_id = new_call_id("leaver")
    streamer = asyncio.ensure_future(
        stream_audio(decode_file(clip), f"{ws_base}/v1/calls/{call_id}/audio", speed=2.0,
                     api_key=floor.ingest_key()))
    await wait_for_call_start(rafiq_server, call_id, token=floor.token("supervisor"))
    async with websockets.connect(f"{ws_base}/v1/calls/{call_id}/events", additional_headers=supervisor) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["type"] == "call.started"
        await ws.send("anything")  # clients have nothing to say; it is ignored
    result = await streamer
    assert result["errors"] == [] and result["close_code"] == 1000
    call = httpx.get(f"{rafiq_server}/v1/calls/{call_id}", headers=supervisor).json()
    assert call["status"] == "ended" and call["segments"]
    listed = httpx.get(f"{rafiq_server}/v1/calls", headers=supervisor).json()["calls"]
    assert call_id in [c["call_id"] for c in listed]


class StalledSocket:
    """The server's side of a subscriber that stopped reading: it says nothing and every event
    sent to it is kept (the socket layer under ``_forward``, which is what is under test)."""

    def __init__(self):
        self.sent: list[dict] = []
        self.closed_with: int | None = None

    async def receive(self):
        await asyncio.Event().wait()  # a client never speaks

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self, code: int = 1000) -> None:
        self.closed_with = code


async def test_a_subscriber_1000_events_behind_is_closed_with_1013_and_the_others_keep_going():
    from assistant.api.calls import _forward
    from assistant.events import EventBus

    bus = EventBus()
    slow, keeping_up = bus.subscribe("call-1"), bus.subscribe("call-1")
    drained = []
    for seq in range(1, 1002):  # the slow one reads nothing meanwhile: 1001 events, one too many
        bus.publish("call-1", {"type": "transcript.final", "seq": seq})
        drained.append(keeping_up.get_nowait())
    assert [e["seq"] for e in drained] == list(range(1, 1002))
    bus.publish("call-1", {"type": "transcript.final", "seq": 1002})
    assert keeping_up.get_nowait()["seq"] == 1002  # still subscribed
    assert slow.qsize() == 1000  # cut off: nothing new reaches it
    socket = StalledSocket()
    await asyncio.wait_for(_forward(socket, slow), 10)
    assert socket.closed_with == 1013  # try again later: a reconnect replays the history
    seqs = [e["seq"] for e in socket.sent]
    assert seqs == list(range(2, 1001)), (seqs[:3], seqs[-3:])  # what it had queued, then the close
