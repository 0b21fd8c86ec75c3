"""Retention and erasure on a real server on PostgreSQL: calls older than their tenant's retention
go with their events and knowledge-gap questions (newer ones and other tenants' stay), the purge
is audited and logged; an administrator's erasure of one call likewise, with its refusals."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
import websockets

from assistant.records import utcnow
from assistant.simulate import stream_audio
from tests.conftest import START, clip_head, new_call_id, pg_engine, wait_for_call_end


@pytest.fixture(scope="module")
def db(pg_process):
    engine = pg_engine(pg_process)
    yield engine
    engine.dispose()


def counts(db, call_id: str) -> dict[str, int]:
    with db.connect() as conn:
        return {table: conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE call_id = :c"), {"c": call_id}).scalar()
                for table in ("calls", "call_events", "kb_gap_questions", "call_stats", "call_search", "call_summaries")}


async def spoken_call(floor, tenant: str, prefix: str) -> str:
    """A short real call (its customer's sentence is a gap: this server has no knowledge base)."""
    call_id = new_call_id(prefix)
    result = await stream_audio(clip_head("es", 0, 6.0), f"{floor.ws_base}/v1/calls/{call_id}/audio", speed=0,
                                api_key=floor.ingest_key(tenant), agent=floor.username("agent", tenant))
    assert result["close_code"] == 1000, result
    await wait_for_call_end(floor.base_url, call_id, token=floor.token("supervisor", tenant))
    return call_id


async def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.3)
    return value


async def audit_when(floor, count: int, tenant: str = "default", **params) -> list[dict]:
    """The matching audit entries once there are ``count`` (an accepted request's entry is written
    just after its response)."""
    def entries():
        found = httpx.get(f"{floor.base_url}/v1/audit", params=params,
                          headers=floor.headers("admin", tenant)).json()["entries"]
        return found if len(found) >= count else None
    return await wait_until(entries, 15, f"fewer than {count} audit entries for {params}")


def settings(floor, tenant: str, **changes) -> dict:
    admin = floor.headers("admin", tenant)
    current = httpx.get(f"{floor.base_url}/v1/settings", headers=admin).json()
    response = httpx.put(f"{floor.base_url}/v1/settings", headers=admin,
                         json={"redact": current["redact"], "retention_days": current["retention_days"], **changes})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
async def calls(pg_floor, db):
    """old (default), fresh (default), old_other (other), all ended, each with events and gap questions."""
    names = ("old", "fresh", "old_other")
    tenants = ("default", "default", "other")
    ids = await asyncio.gather(*(spoken_call(pg_floor, tenant, name) for name, tenant in zip(names, tenants)))
    made = dict(zip(names, ids))
    for call_id in made.values():  # gap questions are recorded just after the finals
        await wait_until(lambda: counts(db, call_id)["kb_gap_questions"] > 0, 60, f"{call_id}: no gap question")
        assert counts(db, call_id)["call_events"] >= 3
        await wait_until(lambda: counts(db, call_id)["call_stats"] == 1, 30, f"{call_id}: no call_stats row")
        await wait_until(lambda: counts(db, call_id)["call_summaries"] == 1, 30, f"{call_id}: no summary row")
        assert counts(db, call_id)["call_search"] == 1
    return made


async def test_calls_older_than_the_retention_are_purged_with_what_derives_from_them(pg_floor, pg_process, db, calls):
    base = pg_floor.base_url
    assert settings(pg_floor, "default", retention_days=30)["retention_days"] == 30
    assert httpx.get(f"{base}/v1/settings", headers=pg_floor.headers("admin", "other")).json()["retention_days"] == 90
    forty_days_ago = utcnow() - timedelta(days=40)
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE calls SET started_at = :t, ended_at = :t WHERE call_id IN (:a, :b)"),
                     {"t": forty_days_ago, "a": calls["old"], "b": calls["old_other"]})
    before = {name: counts(db, call_id) for name, call_id in calls.items()}

    await wait_until(lambda: counts(db, calls["old"])["calls"] == 0, 60, "the expired call was not purged")
    assert counts(db, calls["old"]) == {"calls": 0, "call_events": 0, "kb_gap_questions": 0, "call_stats": 0,
                                        "call_search": 0, "call_summaries": 0}
    supervisor = pg_floor.headers("supervisor")
    assert httpx.get(f"{base}/v1/calls/{calls['old']}", headers=supervisor).status_code == 404
    # Newer calls of the tenant and the other tenant's (its retention is 90 days) are kept whole.
    assert counts(db, calls["fresh"]) == before["fresh"]
    assert counts(db, calls["old_other"]) == before["old_other"]
    assert httpx.get(f"{base}/v1/calls/{calls['fresh']}", headers=supervisor).status_code == 200
    assert httpx.get(f"{base}/v1/calls/{calls['old_other']}",
                     headers=pg_floor.headers("supervisor", "other")).status_code == 200
    # The gaps list no longer counts the purged call's questions.
    gaps = httpx.get(f"{base}/v1/kb/gaps", params={"status": "all"}, headers=pg_floor.headers("trainer")).json()["gaps"]
    assert all(example["call_id"] != calls["old"] for gap in gaps for example in gap["examples"])

    purge = httpx.get(f"{base}/v1/audit", params={"action": "retention.purge"},
                      headers=pg_floor.headers("admin")).json()["entries"]
    assert purge and purge[0]["actor"] is None and purge[0]["outcome"] == "ok"
    detail = purge[0]["detail"]
    assert detail["retention_days"] == 30 and detail["calls"] >= 1
    assert detail["gap_questions"] >= before["old"]["kb_gap_questions"]
    other_purges = httpx.get(f"{base}/v1/audit", params={"action": "retention.purge"},
                             headers=pg_floor.headers("admin", "other")).json()["entries"]
    assert other_purges == []
    logged = [json.loads(line) for line in pg_process.log_path.read_text().splitlines()
              if line.startswith("{") and "retention purge" in line]
    assert any(entry.get("tenant") == "default" and entry.get("calls", 0) >= 1 for entry in logged), logged[-3:]
    settings(pg_floor, "default", retention_days=90)


async def test_an_admin_erases_one_call_and_everything_derived_from_it(pg_floor, db, calls):
    base = pg_floor.base_url
    victim = calls["fresh"]
    # Refusals first: a non-admin, another tenant's admin (404 like a missing id).
    for person in ("agent", "supervisor", "trainer"):
        refused = httpx.delete(f"{base}/v1/calls/{victim}", headers=pg_floor.headers(person))
        assert refused.status_code == 403 and refused.json()["detail"]["code"] == "forbidden"
    foreign = httpx.delete(f"{base}/v1/calls/{victim}", headers=pg_floor.headers("admin", "other"))
    missing = httpx.delete(f"{base}/v1/calls/no-such-call", headers=pg_floor.headers("admin", "other"))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"]["code"] == missing.json()["detail"]["code"] == "unknown_call"
    assert counts(db, victim)["calls"] == 1

    erased = httpx.delete(f"{base}/v1/calls/{victim}", headers=pg_floor.headers("admin"))
    assert erased.status_code == 204 and erased.content == b""
    assert counts(db, victim) == {"calls": 0, "call_events": 0, "kb_gap_questions": 0, "call_stats": 0,
                                  "call_search": 0, "call_summaries": 0}
    assert httpx.get(f"{base}/v1/calls/{victim}", headers=pg_floor.headers("supervisor")).status_code == 404
    async with websockets.connect(f"{pg_floor.ws_base}/v1/calls/{victim}/events",
                                  additional_headers=pg_floor.headers("supervisor")) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["code"] == "unknown_call"
    again = httpx.delete(f"{base}/v1/calls/{victim}", headers=pg_floor.headers("admin"))
    assert again.status_code == 404

    entries = await audit_when(pg_floor, 2, action="call.erase", target=victim)
    outcomes = sorted(e["outcome"] for e in entries if e["actor"] == "admin-default")
    assert outcomes == ["ok", "refused:404"], entries
    # The other tenant's attempt is in the other tenant's log, not in the victim's.
    assert all(e["actor"] == "admin-default" for e in entries)
    theirs = await audit_when(pg_floor, 1, "other", action="call.erase", target=victim)
    assert [(e["actor"], e["outcome"]) for e in theirs] == [("admin-other", "refused:404")]


async def test_a_live_call_cannot_be_erased(pg_floor, db):
    call_id = new_call_id("live")
    async with websockets.connect(f"{pg_floor.ws_base}/v1/calls/{call_id}/audio",
                                  additional_headers=pg_floor.headers("ingest")) as ingest:
        await ingest.send(json.dumps(START))
        await wait_until(lambda: counts(db, call_id)["calls"] == 1, 30, "the call never started")
        refused = httpx.delete(f"{pg_floor.base_url}/v1/calls/{call_id}", headers=pg_floor.headers("admin"))
        assert refused.status_code == 409 and refused.json()["detail"]["code"] == "call_live"
        assert counts(db, call_id)["calls"] == 1
        await ingest.send(json.dumps({"type": "stop"}))
    await wait_for_call_end(pg_floor.base_url, call_id, token=pg_floor.token("supervisor"))
    assert httpx.delete(f"{pg_floor.base_url}/v1/calls/{call_id}", headers=pg_floor.headers("admin")).status_code == 204
    audit = await audit_when(pg_floor, 2, action="call.erase", target=call_id)
    assert [e["outcome"] for e in audit] == ["ok", "refused:409"]
