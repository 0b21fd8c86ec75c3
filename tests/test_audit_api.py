"""The audit log over HTTP on a real server on PostgreSQL: what is recorded (sign-ins, opening a
call, knowledge-base changes, user and key administration, settings, erasure) with actor, target
and outcome; filters, cursor, CSV/JSONL export; the hash chain's verification, which names the
first tampered row; and each tenant seeing only its own log."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import uuid
from datetime import datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
import websockets

from security.audit import FIELDS, AuditLog
from tests.conftest import START, bearer, new_call_id, pg_engine, wait_for_call_end


def audit(floor, tenant="default", **params) -> dict:
    response = httpx.get(f"{floor.base_url}/v1/audit", params=params, headers=floor.headers("admin", tenant), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def entries_when(floor, count: int, tenant="default", timeout: float = 15, **params) -> list[dict]:
    """The matching entries once there are ``count`` of them: a successful request's entry is
    written as its dependency exits, just after the response has been sent."""
    deadline = time.monotonic() + timeout
    while len(entries := audit(floor, tenant, **params)["entries"]) < count:
        assert time.monotonic() < deadline, f"{len(entries)} audit entries for {params}, expected {count}"
        time.sleep(0.1)
    return entries


def one(floor, tenant="default", **params) -> dict:
    return entries_when(floor, 1, tenant, **params)[0]  # the newest


async def ended_call(floor, tenant="default") -> str:
    """A call that starts and ends (no audio needed)."""
    call_id = new_call_id("audit")
    async with websockets.connect(f"{floor.ws_base}/v1/calls/{call_id}/audio",
                                  additional_headers=floor.headers("ingest", tenant)) as ws:
        await ws.send(json.dumps({**START, "tenant": tenant}))
        await ws.send(json.dumps({"type": "stop"}))
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 30)
    await wait_for_call_end(floor.base_url, call_id, token=floor.token("supervisor", tenant))
    return call_id


async def test_actions_are_recorded_with_actor_target_and_outcome(pg_floor):
    floor, base = pg_floor, pg_floor.base_url
    admin = floor.headers("admin")
    # Sign-ins: ok and failed.
    username = f"audited-{uuid.uuid4().hex[:6]}"
    created = httpx.post(f"{base}/v1/users", headers=admin,
                         json={"username": username, "password": "password-123", "roles": ["agent"]}).json()
    assert httpx.post(f"{base}/v1/auth/token", data={"username": username, "password": "nope-nope"}).status_code == 401
    assert httpx.post(f"{base}/v1/auth/token", data={"username": username, "password": "password-123"}).status_code == 200
    signs = audit(floor, action="auth.sign_in", actor=username)["entries"]
    assert [(e["outcome"], e["target"]) for e in signs] == [("ok", created["id"]), ("failed", created["id"])]
    assert all(e["ip"] == "127.0.0.1" and e["tenant"] == "default" for e in signs)
    # User administration.
    entry = one(floor, action="user.create", actor="admin-default")
    assert entry["outcome"] == "ok" and entry["detail"]["method"] == "POST" and "password-123" not in json.dumps(entry)
    assert httpx.patch(f"{base}/v1/users/{created['id']}", headers=admin, json={"roles": ["agent", "trainer"]}).status_code == 200
    entry = one(floor, action="user.update", target=created["id"])
    assert entry["actor"] == "admin-default" and entry["outcome"] == "ok"
    assert httpx.delete(f"{base}/v1/users/{created['id']}", headers=admin).status_code == 204
    assert one(floor, action="user.delete", target=created["id"])["outcome"] == "ok"
    assert httpx.delete(f"{base}/v1/users/{created['id']}", headers=admin).status_code == 404
    refused = entries_when(floor, 2, action="user.delete", target=created["id"])
    assert [e["outcome"] for e in refused] == ["refused:404", "ok"] and refused[0]["detail"]["code"] == "unknown_user"
    # API keys.
    key = httpx.post(f"{base}/v1/apikeys", headers=admin, json={"name": "audited-key"}).json()
    entry = one(floor, action="apikey.create", actor="admin-default")
    assert entry["outcome"] == "ok" and key["key"] not in json.dumps(audit(floor))
    assert httpx.delete(f"{base}/v1/apikeys/{key['id']}", headers=admin).status_code == 200
    assert one(floor, action="apikey.revoke", target=key["id"])["actor"] == "admin-default"
    # Settings.
    current = httpx.get(f"{base}/v1/settings", headers=admin).json()
    assert httpx.put(f"{base}/v1/settings", headers=admin, json={"redact": current["redact"],
                                                                 "retention_days": current["retention_days"]}).status_code == 200
    assert one(floor, action="settings.update")["actor"] == "admin-default"
    # The knowledge base.
    article = httpx.post(f"{base}/v1/kb/articles", headers=floor.headers("trainer"),
                         json={"title": "Audited", "body": "Body.", "language": "en"}).json()
    entry = one(floor, action="kb.article.create", actor="trainer-default")
    assert entry["outcome"] == "ok" and entry["detail"]["path"] == "/v1/kb/articles"
    httpx.post(f"{base}/v1/kb/articles/{article['id']}/publish", headers=floor.headers("trainer"), json={})
    assert one(floor, action="kb.article.publish", target=article["id"])["actor"] == "trainer-default"
    # A supervisor opening a call: over HTTP, and over the events socket.
    call_id = await ended_call(floor)
    assert httpx.get(f"{base}/v1/calls/{call_id}", headers=floor.headers("supervisor")).status_code == 200
    async with websockets.connect(f"{floor.ws_base}/v1/calls/{call_id}/events",
                                  additional_headers=floor.headers("supervisor")) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "call.started"
    opens = entries_when(floor, 2, action="call.open", target=call_id)
    assert {(e["actor"], e["detail"]["method"], e["detail"]["path"]) for e in opens} >= {
        ("supervisor-default", "GET", f"/v1/calls/{call_id}"),
        ("supervisor-default", "WS", f"/v1/calls/{call_id}/events")}
    # Erasure.
    assert httpx.delete(f"{base}/v1/calls/{call_id}", headers=admin).status_code == 204
    entry = one(floor, action="call.erase", target=call_id)
    assert entry["actor"] == "admin-default" and entry["outcome"] == "ok"


def test_filters_cursor_and_export(pg_floor):
    floor, base = pg_floor, pg_floor.base_url
    for _ in range(3):  # at least three sign-ins of the default admin
        floor.server.token("admin-default", floor.passwords["admin-default"])
    everything = audit(floor, limit=1000)["entries"]
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True) and {e["tenant"] for e in everything} == {"default"}
    assert all(set(e) == set(FIELDS) for e in everything)
    # Filters.
    assert {e["action"] for e in audit(floor, action="auth.", limit=1000)["entries"]} == {"auth.sign_in"}
    assert audit(floor, action="auth")["entries"] == []
    assert {e["actor"] for e in audit(floor, actor="admin-default", limit=1000)["entries"]} == {"admin-default"}
    assert {e["outcome"] for e in audit(floor, outcome="failed", limit=1000)["entries"]} <= {"failed"}
    newest = datetime.fromisoformat(everything[0]["at"])
    assert audit(floor, since=(newest + timedelta(seconds=1)).isoformat())["entries"] == []
    assert everything[0]["id"] in [e["id"] for e in audit(floor, since=newest.isoformat())["entries"]]
    assert everything[0]["id"] not in [e["id"] for e in audit(floor, until=newest.isoformat(), limit=1000)["entries"]]
    # The cursor: pages of 3, newest first, nothing missed nor repeated.
    pages, before = [], None
    while True:
        page = audit(floor, limit=3, **({"before_id": before} if before else {}))
        pages.append(page["entries"])
        before = page["next_before_id"]
        if before is None:
            break
        assert before == page["entries"][-1]["id"]
    seen = [e["id"] for page in pages for e in page]
    assert seen[:len(ids)] == ids and len(seen) == len(set(seen))
    # Export: JSONL and CSV, oldest first, the same entries, filters applied.
    admin = floor.headers("admin")
    jsonl = httpx.get(f"{base}/v1/audit/export", params={"format": "jsonl", "action": "auth.sign_in"}, headers=admin)
    assert jsonl.status_code == 200 and jsonl.headers["content-type"].startswith("application/x-ndjson")
    assert 'filename="audit-default.jsonl"' in jsonl.headers["content-disposition"]
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert lines and list(lines[0]) == list(FIELDS) and {e["action"] for e in lines} == {"auth.sign_in"}
    assert [e["id"] for e in lines] == sorted(e["id"] for e in lines)
    signs = audit(floor, action="auth.sign_in", limit=1000)["entries"]
    assert [e["id"] for e in lines][:len(signs)] == [e["id"] for e in signs][::-1]
    assert all(a["prev_hash"] == b["hash"] for a, b in zip(lines[1:], lines) if a["id"] == b["id"] + 1)
    csv_response = httpx.get(f"{base}/v1/audit/export", params={"format": "csv", "action": "auth.sign_in"}, headers=admin)
    assert csv_response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_response.text)))
    assert [int(r["id"]) for r in rows][:len(lines)] == [e["id"] for e in lines]
    assert rows[0]["hash"] == lines[0]["hash"] and json.loads(rows[0]["detail"]) == lines[0]["detail"]
    assert one(floor, action="audit.export")["actor"] == "admin-default"
    for person in ("agent", "supervisor", "trainer"):
        for path in ("/v1/audit", "/v1/audit/export", "/v1/audit/verify"):
            assert httpx.get(f"{base}{path}", headers=floor.headers(person)).status_code == 403


def test_each_tenant_sees_only_its_own_log(pg_floor):
    floor, base = pg_floor, pg_floor.base_url
    floor.server.token("admin-other", floor.passwords["admin-other"])
    floor.server.token("admin-default", floor.passwords["admin-default"])  # ours now ends after one of theirs
    theirs = audit(floor, "other", limit=1000)["entries"]
    assert theirs and {e["tenant"] for e in theirs} == {"other"}
    assert not any((e["actor"] or "").endswith("-default") for e in theirs)
    assert audit(floor, "other", actor="admin-default")["entries"] == []
    ours = {e["id"] for e in audit(floor, limit=1000)["entries"]}
    assert ours and not ours & {e["id"] for e in theirs}
    # A cursor into the other tenant's ids shows nothing of it either.
    page = audit(floor, "other", before_id=max(ours) + 1, limit=1000)["entries"]
    assert page and {e["id"] for e in page} == {e["id"] for e in theirs if e["id"] <= max(ours)}
    export = httpx.get(f"{base}/v1/audit/export", headers=floor.headers("admin", "other")).text
    assert '"tenant": "default"' not in export and "admin-default" not in export
    verify = httpx.get(f"{base}/v1/audit/verify", headers=floor.headers("admin", "other")).json()
    assert verify["ok"] is True and verify["entries"] >= len(theirs)


def test_verify_names_the_first_tampered_entry(pg_floor, pg_process):
    """In a tenant of its own (its chain alone is broken): verify ok, then a row edited behind
    Rafiq's back (the append-only trigger dropped, as a superuser could) → first_bad_id."""
    floor, base = pg_floor, pg_floor.base_url
    tenant = f"tamper-{uuid.uuid4().hex[:6]}"
    store = pg_process.accounts()
    password = uuid.uuid4().hex
    store.add_user(f"admin-{tenant}", password, ["admin"], tenant)
    store.engine.dispose()
    token = pg_process.token(f"admin-{tenant}", password)
    admin = bearer(token)
    for days in (10, 20, 30):
        assert httpx.put(f"{base}/v1/settings", headers=admin, json={"redact": ["email"], "retention_days": days}).status_code == 200
    verify = httpx.get(f"{base}/v1/audit/verify", headers=admin).json()
    assert verify["ok"] is True and verify["first_bad_id"] is None and verify["entries"] >= 4
    entries = httpx.get(f"{base}/v1/audit", headers=admin, params={"action": "settings.update"}).json()["entries"]
    victim = entries[1]["id"]  # the middle one of the three
    engine = pg_engine(pg_process)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update_delete ON audit_log")
            conn.execute(sa.text("UPDATE audit_log SET outcome = 'refused:403' WHERE id = :id"), {"id": victim})
        broken = httpx.get(f"{base}/v1/audit/verify", headers=admin).json()
        assert broken["ok"] is False and broken["first_bad_id"] == victim
        # Other tenants' chains are not affected.
        assert httpx.get(f"{base}/v1/audit/verify", headers=floor.headers("admin")).json()["ok"] is True
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE audit_log SET outcome = 'ok' WHERE id = :id"), {"id": victim})
        assert httpx.get(f"{base}/v1/audit/verify", headers=admin).json()["ok"] is True
        # Deleting a row is caught too: the entry after it no longer links.
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_log WHERE id = :id"), {"id": victim})
        after = httpx.get(f"{base}/v1/audit/verify", headers=admin).json()
        assert after["ok"] is False and after["first_bad_id"] == entries[0]["id"]
    finally:
        AuditLog(engine)  # the trigger back, for the rest of the session
        engine.dispose()
    with pg_engine(pg_process).begin() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
        conn.execute(sa.text("UPDATE audit_log SET outcome = 'x' WHERE id = :id"), {"id": entries[0]["id"]})
