"""The supervisors' live floor, alerts and notes on a real server on PostgreSQL, with real
FLEURS calls streamed through the ingest socket and real WebSocket clients: the floor's snapshot
and changes while a call streams, a phrase alert raised from what Whisper heard and acknowledged,
a note reaching the agent's own event stream, and who sees or may do what (another tenant,
another team, agents)."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import numpy as np
import pytest
import websockets

from assistant.simulate import stream_audio
from speech.audio import decode_file
from tests.conftest import (bearer, clip_audio, fleurs_clip, new_call_id, two_speakers, wait_for_call_end,
                            wait_for_call_start)

TEAMS = {"lead-same": "team-default", "lead-elsewhere": "team-elsewhere"}


@pytest.fixture(scope="module")
def team_leads(pg_floor):
    """Supervisors of the default tenant with a team: the agents' team, and another."""
    store = pg_floor.server.accounts()
    tokens = {}
    try:
        for name, team in TEAMS.items():
            username, password = f"{name}-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
            store.add_user(username, password, ["supervisor"], "default", team=team)
            tokens[name] = pg_floor.server.token(username, password)
    finally:
        store.engine.dispose()
    return tokens


class FloorWatch:
    """One floor WebSocket, read in the background: its snapshot, then every message."""

    def __init__(self, ws_base: str, token: str):
        self.url, self.token = f"{ws_base}/v1/floor", token
        self.messages: list[dict] = []

    async def __aenter__(self):
        self.ws = await websockets.connect(self.url, additional_headers=bearer(self.token))
        self.snapshot = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
        self.reader = asyncio.ensure_future(self._read())
        return self

    async def _read(self):
        async for message in self.ws:
            self.messages.append(json.loads(message))

    async def __aexit__(self, *exc):
        self.reader.cancel()
        await self.ws.close()

    def rows(self, call_id: str) -> list[dict]:
        return [m["call"] for m in self.messages if m["type"] == "floor.call" and m["call"]["call_id"] == call_id]

    def mentions(self, call_id: str) -> bool:
        return call_id in json.dumps(self.snapshot) or any(call_id in json.dumps(m) for m in self.messages)

    async def until_ended(self, call_id: str, timeout: float = 120) -> None:
        async def ended():
            while not any(m["type"] == "floor.call.ended" and m["call_id"] == call_id for m in self.messages):
                await asyncio.sleep(0.05)
        await asyncio.wait_for(ended(), timeout)


def post_rule(floor, body, person="supervisor", tenant="default") -> httpx.Response:
    return httpx.post(f"{floor.base_url}/v1/alert-rules", json=body, headers=floor.headers(person, tenant), timeout=30)


async def recorded(floor, call_id: str) -> list[dict]:
    """An ended call's whole record as its event stream replays it (what came after its end too)."""
    events = []
    async with websockets.connect(f"{floor.ws_base}/v1/calls/{call_id}/events",
                                  additional_headers=floor.headers("supervisor")) as ws:
        while True:
            ended = any(e["type"] == "call.ended" for e in events)
            try:
                events.append(json.loads(await asyncio.wait_for(ws.recv(), 1.0 if ended else 60)))
            except asyncio.TimeoutError:
                return events


def test_rules_api_validates_and_keeps_tenants_apart(pg_floor):
    floor = pg_floor
    campaign = f"rules-{uuid.uuid4().hex[:6]}"
    created = post_rule(floor, {"kind": "phrase", "title": "Churn", "campaign": campaign,
                                "params": {"phrases": ["résilier", "بغيت نلغي"]}})
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["params"] == {"phrases": ["résilier", "بغيت نلغي"], "speaker": "any"}
    for body, code in [({"kind": "mood", "title": "x", "params": {}}, "bad_kind"),
                       ({"kind": "silence", "title": "x", "params": {"seconds": -1}}, "bad_params"),
                       ({"kind": "phrase", "title": "x", "params": {"phrases": "résilier"}}, "bad_params"),
                       ({"kind": "phrase", "title": "x", "params": {"phrases": ["a\x00b"]}}, "bad_params"),
                       ({"kind": "duration", "title": "a\x00b", "params": {"seconds": 5}}, "bad_title")]:
        refused = post_rule(floor, body)
        assert refused.status_code == 422 and refused.json()["detail"]["code"] == code, refused.text
    base, sup = floor.base_url, floor.headers("supervisor")
    listed = httpx.get(f"{base}/v1/alert-rules", params={"campaign": campaign}, headers=sup).json()["rules"]
    assert [r["rule_id"] for r in listed] == [rule["rule_id"]]
    other = floor.headers("supervisor", "other")
    assert rule["rule_id"] not in json.dumps(httpx.get(f"{base}/v1/alert-rules", headers=other).json())
    assert httpx.patch(f"{base}/v1/alert-rules/{rule['rule_id']}", json={"title": "x"}, headers=other).status_code == 404
    assert httpx.delete(f"{base}/v1/alert-rules/{rule['rule_id']}", headers=other).status_code == 404
    assert post_rule(floor, {"kind": "duration", "title": "x", "params": {"seconds": 5}}, person="agent").status_code == 403
    patched = httpx.patch(f"{base}/v1/alert-rules/{rule['rule_id']}",
                          json={"params": {"phrases": ["avocat"], "speaker": "customer"}, "enabled": False}, headers=sup)
    assert patched.status_code == 200 and patched.json()["params"]["phrases"] == ["avocat"] and not patched.json()["enabled"]
    assert httpx.patch(f"{base}/v1/alert-rules/{rule['rule_id']}", json={"params": {"phrases": []}},
                       headers=sup).status_code == 422
    assert httpx.delete(f"{base}/v1/alert-rules/{rule['rule_id']}", headers=sup).status_code == 204
    assert httpx.get(f"{base}/v1/alert-rules", params={"campaign": campaign}, headers=sup).json()["rules"] == []


async def test_floor_follows_a_call_and_a_phrase_alert_is_acknowledged(pg_floor, team_leads):
    floor = pg_floor
    campaign = f"floor-{uuid.uuid4().hex[:6]}"
    clip, reference = fleurs_clip("fr", 0)  # « l'accident a eu lieu en terrain montagneux … »
    assert "terrain montagneux" in reference
    # The phrase as a supervisor might type it (capitals, accents), for this campaign; a rule of
    # another campaign on a word of the same clip must stay quiet.
    phrase_rule = post_rule(floor, {"kind": "phrase", "title": "Montagne", "campaign": campaign,
                                    "params": {"phrases": ["TERRAIN Montagnéux", "résilier"]}}).json()
    elsewhere = post_rule(floor, {"kind": "phrase", "title": "Accident", "campaign": campaign + "-x",
                                  "params": {"phrases": ["accident"]}}).json()
    duration = post_rule(floor, {"kind": "duration", "title": "Long call", "campaign": campaign,
                                 "params": {"seconds": 3}}).json()
    # Exercised once transcripts carry sentiment: every run of 2 negative customer lines alerts.
    mood = post_rule(floor, {"kind": "sentiment", "title": "Upset", "campaign": campaign,
                             "params": {"count": 2}}).json()
    call_id = new_call_id("floor")
    async with FloorWatch(floor.ws_base, floor.token("supervisor")) as tenant_wide, \
            FloorWatch(floor.ws_base, team_leads["lead-same"]) as same_team, \
            FloorWatch(floor.ws_base, team_leads["lead-elsewhere"]) as other_team, \
            FloorWatch(floor.ws_base, floor.token("supervisor", "other")) as other_tenant, \
            FloorWatch(floor.ws_base, floor.token("admin")) as admin:
        assert tenant_wide.snapshot["type"] == "floor.snapshot" and isinstance(tenant_wide.snapshot["calls"], list)
        streaming = asyncio.ensure_future(stream_audio(
            decode_file(clip), f"{floor.ws_base}/v1/calls/{call_id}/audio", speed=2.0,
            api_key=floor.ingest_key(), agent=floor.username("agent"), campaign=campaign))
        # A floor opened mid-call starts from a snapshot that has the call.
        await wait_for_call_start(floor.base_url, call_id, token=floor.token("supervisor"))
        await asyncio.sleep(1)
        async with FloorWatch(floor.ws_base, floor.token("supervisor")) as late:
            assert call_id in [row["call_id"] for row in late.snapshot["calls"]]
        await streaming
        await tenant_wide.until_ended(call_id)
        await same_team.until_ended(call_id)
        await asyncio.sleep(1)
    rows = tenant_wide.rows(call_id)
    assert rows, tenant_wide.messages
    first, last = rows[0], rows[-1]
    assert first["agent"] == floor.username("agent") and first["campaign"] == campaign and first["team"] == "team-default"
    assert "fr" in last["languages"]
    alerts = {a["rule_id"]: a for row in rows for a in row["alerts"]}
    heard = [e["text"] for e in await recorded(floor, call_id) if e["type"] == "transcript.final"]
    assert phrase_rule["rule_id"] in alerts and duration["rule_id"] in alerts, (heard, alerts)
    assert elsewhere["rule_id"] not in alerts
    assert same_team.rows(call_id) and not other_team.mentions(call_id) and not other_tenant.mentions(call_id)
    assert admin.rows(call_id)  # an admin sees who is on a call (opening it needs the supervisor role)
    assert httpx.get(f"{floor.base_url}/v1/calls/{call_id}", headers=floor.headers("admin")).status_code == 403

    events = await recorded(floor, call_id)
    raised = [e for e in events if e["type"] == "alert"]
    phrase_alert = next(e for e in raised if e["rule_id"] == phrase_rule["rule_id"])
    assert phrase_alert["kind"] == "phrase" and phrase_alert["title"] == "Montagne" and "TERRAIN Montagnéux" in phrase_alert["detail"]
    segment = next(e for e in events if e["type"] == "transcript.final" and e["segment_id"] == phrase_alert["segment_id"])
    assert "terrain montagneux" in segment["text"].lower()
    assert [e["rule_id"] for e in raised].count(duration["rule_id"]) == 1
    customer = [e for e in events if e["type"] == "transcript.final" and e["speaker"] == "customer"]
    run, expected = 0, 0
    for line in customer:
        run = run + 1 if (line.get("sentiment") or {}).get("label") == "negative" else 0
        expected += run == 2
    assert [e["rule_id"] for e in raised].count(mood["rule_id"]) == expected

    # Acknowledging: not by an agent, not by another tenant, once by the supervisor.
    ack_url = f"{floor.base_url}/v1/calls/{call_id}/alerts/{phrase_alert['alert_id']}/ack"
    assert httpx.post(ack_url, headers=floor.headers("agent")).status_code == 403
    assert httpx.post(ack_url, headers=floor.headers("supervisor", "other")).status_code == 404
    assert httpx.post(ack_url, headers={"Authorization": f"Bearer {team_leads['lead-elsewhere']}"}).status_code == 404
    bogus = httpx.post(f"{floor.base_url}/v1/calls/{call_id}/alerts/alert-nope/ack", headers=floor.headers("supervisor"))
    assert bogus.status_code == 404 and bogus.json()["detail"]["code"] == "unknown_alert"
    acked = httpx.post(ack_url, headers=floor.headers("supervisor"))
    assert acked.status_code == 200, acked.text
    ack = acked.json()
    assert ack["type"] == "alert.ack" and ack["by"] == floor.username("supervisor") and ack["seq"] > events[-1]["seq"]
    again = httpx.post(ack_url, headers=floor.headers("supervisor"))
    assert again.status_code == 409 and again.json()["detail"]["code"] == "already_acknowledged"
    replay = await recorded(floor, call_id)
    assert [e for e in replay if e["type"] == "alert.ack"] == [ack]
    entries = httpx.get(f"{floor.base_url}/v1/audit", params={"action": "call.alert.ack", "limit": 1000},
                        headers=floor.headers("admin")).json()["entries"]
    assert any(e["target"] == f"{call_id}/{phrase_alert['alert_id']}" and e["outcome"] == "ok" for e in entries)


async def test_note_reaches_the_agent_at_once_and_is_recorded(pg_floor):
    """Also the floor's last suggestion: an article of this tenant answers the call's words, the
    agent uses its suggestion, and the floor row says so."""
    floor = pg_floor
    clip, _ = fleurs_clip("fr", 1)  # 23 s, streamed at real-time pace: the call is live meanwhile
    tenant_has_article = httpx.post(
        f"{floor.base_url}/v1/kb/articles", headers=floor.headers("trainer"), timeout=60,
        json={"title": "Comité olympique des États-Unis", "language": "fr", "publish": True,
              "body": "La déclaration du comité olympique des États-Unis (USOC) sur les athlètes et les clubs.",
              "questions": ["Que dit la déclaration du comité olympique des États-Unis ?",
                            "les intérêts de nos athlètes et de nos clubs"]})
    assert tenant_has_article.status_code == 201, tenant_has_article.text
    call_id = new_call_id("note")
    streaming = asyncio.ensure_future(stream_audio(
        decode_file(clip), f"{floor.ws_base}/v1/calls/{call_id}/audio", speed=1.0,
        api_key=floor.ingest_key(), agent=floor.username("agent")))
    await wait_for_call_start(floor.base_url, call_id, token=floor.token("agent"))
    notes_url = f"{floor.base_url}/v1/calls/{call_id}/notes"
    async with FloorWatch(floor.ws_base, floor.token("supervisor")) as floor_watch, \
            websockets.connect(f"{floor.ws_base}/v1/calls/{call_id}/events",
                               additional_headers=floor.headers("agent")) as agent_ws:
        assert httpx.post(notes_url, json={"text": "x"}, headers=floor.headers("agent")).status_code == 403
        assert httpx.post(notes_url, json={"text": "x"}, headers=floor.headers("supervisor", "other")).status_code == 404
        assert httpx.post(notes_url, json={"text": ""}, headers=floor.headers("supervisor")).status_code == 422
        assert httpx.post(notes_url, json={"text": "a\x00b"}, headers=floor.headers("supervisor")).status_code == 422
        text = "Proposez le geste commercial — مرحبا"
        posted = httpx.post(notes_url, json={"text": text}, headers=floor.headers("supervisor"))
        assert posted.status_code == 201, posted.text
        note = posted.json()
        assert note["type"] == "note" and note["author"] == floor.username("supervisor") and note["text"] == text

        seen: list[dict] = []

        async def first(kind: str) -> dict:
            """The first event of ``kind`` the agent's socket delivered (reading on as needed)."""
            while not any(e["type"] == kind for e in seen):
                seen.append(json.loads(await agent_ws.recv()))
            return next(e for e in seen if e["type"] == kind)
        assert await asyncio.wait_for(first("note"), 10) == note
        suggestion = await asyncio.wait_for(first("suggestion"), 60)
        used = httpx.post(f"{floor.base_url}/v1/calls/{call_id}/suggestions/{suggestion['suggestion_id']}/feedback",
                          json={"action": "used"}, headers=floor.headers("agent"), timeout=30)
        assert used.status_code == 200, used.text
        await streaming
        await floor_watch.until_ended(call_id)
    rows = floor_watch.rows(call_id)
    assert any(row["notes"] == 1 for row in rows)
    # The agent used it within milliseconds, long before the next customer utterance could bring
    # another suggestion: the row showed it as the last one, used.
    shown = [(row["last_suggestion"] or {}).get("suggestion_id") for row in rows]
    marked = [row for row in rows if (row["last_suggestion"] or {}).get("suggestion_id") == suggestion["suggestion_id"]
              and row["last_suggestion"]["action"] == "used"]
    assert suggestion["suggestion_id"] in shown and marked, [row["last_suggestion"] for row in rows]
    assert marked[0]["suggestions_used"] == 1 and marked[0]["last_suggestion"]["title"] == "Comité olympique des États-Unis"
    await wait_for_call_end(floor.base_url, call_id, token=floor.token("supervisor"))
    late = httpx.post(notes_url, json={"text": "too late"}, headers=floor.headers("supervisor"))
    assert late.status_code == 409 and late.json()["detail"]["code"] == "call_not_live"
    assert [e for e in await recorded(floor, call_id) if e["type"] == "note"] == [note]


async def test_overtalk_and_silence_from_both_channels_timings(pg_floor):
    """A two-channel call built from real clips: the agent starts talking 6 s into the customer's
    10 s sentence, then nobody speaks for 8 s, then the customer again. The overtalk and silence
    alerts, and the floor's figures, agree with what the recorded utterances' times say."""
    floor = pg_floor
    campaign = f"timing-{uuid.uuid4().hex[:6]}"
    overtalk = post_rule(floor, {"kind": "overtalk", "title": "Over", "campaign": campaign,
                                 "params": {"seconds": 1.0}}).json()
    silence = post_rule(floor, {"kind": "silence", "title": "Dead air", "campaign": campaign,
                                "params": {"seconds": 5}}).json()
    customer, _ = clip_audio("fr", 0)
    agent, _ = clip_audio("en", 0)
    again, _ = clip_audio("fr", 2)
    rate = 16000
    customer_track = np.concatenate([customer, np.zeros((1, 6 * rate + agent.shape[1] - customer.shape[1] + 8 * rate),
                                                        dtype=np.float32), again], axis=1)
    agent_track = np.concatenate([np.zeros((1, 6 * rate), dtype=np.float32), agent], axis=1)
    audio = two_speakers(customer_track, agent_track)
    call_id = new_call_id("timing")
    async with FloorWatch(floor.ws_base, floor.token("supervisor")) as watch:
        result = await stream_audio(audio, f"{floor.ws_base}/v1/calls/{call_id}/audio", roles=["customer", "agent"],
                                    speed=0, api_key=floor.ingest_key(), agent=floor.username("agent"),
                                    campaign=campaign)
        assert not result["errors"], result
        await watch.until_ended(call_id)
    events = await recorded(floor, call_id)
    finals = [e for e in events if e["type"] == "transcript.final"]
    spans = {who: [(f["start"], f["end"]) for f in finals if f["speaker"] == who] for who in ("customer", "agent")}
    assert spans["customer"] and spans["agent"], finals
    # By hand: every pair of customer and agent utterances that overlap in time.
    together = sum(max(0.0, min(c[1], a[1]) - max(c[0], a[0])) for c in spans["customer"] for a in spans["agent"])
    print(f"overlap {together:.2f} s; finals {[(f['speaker'], f['start'], f['end']) for f in finals]}")
    assert together >= 1.0
    alerts = [e for e in events if e["type"] == "alert"]
    assert [a["rule_id"] for a in alerts].count(overtalk["rule_id"]) == 1
    # The silence: the largest gap between the end of all speech so far and the next utterance.
    ordered = sorted(finals, key=lambda f: f["start"])
    ended, gaps = 0.0, []
    for final in ordered:
        gaps.append((final["start"] - ended, final["segment_id"]))
        ended = max(ended, final["end"])
    long_gaps = [(gap, segment) for gap, segment in gaps if gap >= 5]
    assert long_gaps, gaps
    fired = [a for a in alerts if a["rule_id"] == silence["rule_id"]]
    assert [a["segment_id"] for a in fired] == [segment for _, segment in long_gaps]
    row = watch.rows(call_id)[-1]
    assert row["overtalk_s"] == pytest.approx(together, abs=0.1)
