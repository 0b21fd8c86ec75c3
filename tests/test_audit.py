"""The audit log: append-only, hash-chained per tenant, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from security.audit import GENESIS_HASH, AuditLog, entry_hash, to_csv_lines, to_jsonl_lines
from tests.test_storage import db_engine, postgres_url  # noqa: F401  (fixtures: SQLite and PostgreSQL)

REPO = Path(__file__).resolve().parents[1]


def drop_append_only_triggers(engine: sa.Engine) -> None:
    """What a database superuser could do: the trigger no longer stands in the way."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update_delete ON audit_log")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")


def seed(log: AuditLog) -> list[dict]:
    return [
        log.record("acme", "alice", "auth.login", ip="10.0.0.1"),
        log.record("acme", "bob", "auth.login", outcome="denied", ip="10.0.0.2", detail={"reason": "bad_password"}),
        log.record("acme", "alice", "kb.article.update", target="article:42", detail={"fields": ["title"], "é": "ü"}),
        log.record("acme", None, "auth.logout", target="session:9"),
        log.record("acme", "alice", "authz.role.grant", target="user:bob", detail={"role": "trainer"}),
    ]


def test_record_returns_the_stored_entry_and_list_filters(db_engine):
    log = AuditLog(db_engine)
    entries = seed(log)
    first = entries[0]
    assert set(first) == {"id", "at", "tenant", "actor", "action", "target", "outcome", "ip", "detail", "prev_hash", "hash"}
    assert first["outcome"] == "ok" and first["detail"] == {} and first["target"] is None
    assert datetime.fromisoformat(first["at"]).utcoffset() == timedelta(0) and len(first["at"].split(".")[1]) == 9  # ms+00:00

    listed = log.list("acme")
    assert listed == entries[::-1]  # newest first, and exactly what record() returned
    ids = lambda rows: [row["id"] for row in rows]  # noqa: E731
    assert ids(log.list("acme", actor="alice")) == ids([entries[4], entries[2], entries[0]])
    assert ids(log.list("acme", action="auth.login")) == ids([entries[1], entries[0]])
    # A prefix ending in "." is a family; "auth." is not "authz.".
    assert ids(log.list("acme", action="auth.")) == ids([entries[3], entries[1], entries[0]])
    assert ids(log.list("acme", action="auth")) == []
    assert ids(log.list("acme", action="kb.")) == [entries[2]["id"]]
    assert ids(log.list("acme", target="user:bob")) == [entries[4]["id"]]
    assert ids(log.list("acme", outcome="denied")) == [entries[1]["id"]]
    assert log.list("acme", action="auth_") == [] and log.list("acme", action="%.") == []  # LIKE wildcards escaped

    at = [datetime.fromisoformat(entry["at"]) for entry in entries]
    # since is inclusive, until exclusive (entries may share a millisecond, hence the computed expectation).
    assert ids(log.list("acme", since=at[2])) == [e["id"] for e, t in zip(entries[::-1], at[::-1]) if t >= at[2]]
    assert ids(log.list("acme", until=at[4])) == [e["id"] for e, t in zip(entries[::-1], at[::-1]) if t < at[4]]
    later = at[4] + timedelta(seconds=1)
    assert log.list("acme", since=later) == [] and len(log.list("acme", until=later)) == 5
    assert ids(log.list("acme", since=at[0], until=later, actor="bob")) == [entries[1]["id"]]

    # The cursor: pages of 2, newest first, no overlap, nothing missed.
    pages, before = [], None
    while page := log.list("acme", limit=2, before_id=before):
        pages.append(page)
        before = page[-1]["id"]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [row for page in pages for row in page] == listed

    with pytest.raises(ValueError):
        log.list("acme", since=datetime(2024, 1, 1))  # naive datetimes are refused
    with pytest.raises(ValueError):
        log.record("acme", "alice", "")


def test_entries_are_chained_and_hashes_cover_every_field(db_engine):
    log = AuditLog(db_engine)
    entries = seed(log)
    assert entries[0]["prev_hash"] == GENESIS_HASH
    for previous, entry in zip(entries, entries[1:]):
        assert entry["prev_hash"] == previous["hash"]
        assert entry["id"] > previous["id"] and entry["at"] >= previous["at"]
    for entry in entries:
        assert entry["hash"] == entry_hash(entry)
        assert entry_hash({**entry, "detail": {**entry["detail"], "x": 1}}) != entry["hash"]
        assert entry_hash({**entry, "outcome": "tampered"}) != entry["hash"]
    assert log.verify("acme") == {"ok": True, "entries": 5, "first_bad_id": None, "head_hash": entries[-1]["hash"]}
    # A second AuditLog on the same database (another node, a restart) continues the same chain.
    again = AuditLog(db_engine).record("acme", "carol", "auth.login")
    assert again["prev_hash"] == entries[-1]["hash"] and log.verify("acme")["ok"]


def test_tenants_have_separate_chains_and_never_see_each_other(db_engine):
    log = AuditLog(db_engine)
    a1 = log.record("acme", "alice", "auth.login")
    b1 = log.record("globex", "alice", "auth.login")
    a2 = log.record("acme", "alice", "auth.logout")
    b2 = log.record("globex", "hank", "kb.article.delete", target="article:1")
    assert a1["prev_hash"] == b1["prev_hash"] == GENESIS_HASH
    assert a2["prev_hash"] == a1["hash"] and b2["prev_hash"] == b1["hash"]
    assert [row["id"] for row in log.list("acme")] == [a2["id"], a1["id"]]
    assert [row["id"] for row in log.list("globex", actor="alice")] == [b1["id"]]
    assert log.list("acme", target="article:1") == [] and log.list("initech") == []
    assert [row["id"] for row in log.iter_all("globex")] == [b1["id"], b2["id"]]
    assert log.verify("acme")["entries"] == 2 and log.verify("globex")["entries"] == 2
    assert log.verify("initech") == {"ok": True, "entries": 0, "first_bad_id": None, "head_hash": GENESIS_HASH}


def test_the_database_refuses_update_and_delete(db_engine):
    log = AuditLog(db_engine)
    entry = log.record("acme", "alice", "auth.login")
    AuditLog(db_engine)  # installing the triggers again is harmless
    for statement in ("UPDATE audit_log SET outcome = 'denied' WHERE id = :id", "DELETE FROM audit_log WHERE id = :id"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with db_engine.begin() as conn:
                conn.execute(sa.text(statement), {"id": entry["id"]})
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with db_engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_heads"))
    if db_engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with db_engine.begin() as conn:
                conn.execute(sa.text("TRUNCATE audit_log"))
    assert log.list("acme") == [entry] and log.verify("acme")["ok"]
    assert not hasattr(log, "update") and not hasattr(log, "delete")


def test_verify_detects_an_edited_row(db_engine):
    log = AuditLog(db_engine)
    entries = [log.record("acme", "alice", "kb.article.update", target=f"article:{n}", detail={"n": n}) for n in range(6)]
    log.record("globex", "hank", "auth.login")
    drop_append_only_triggers(db_engine)
    with db_engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'mallory' WHERE id = :id"), {"id": entries[2]["id"]})
    assert log.verify("acme") == {"ok": False, "entries": 6, "first_bad_id": entries[2]["id"],
                                  "head_hash": entries[-1]["hash"]}
    assert log.verify("globex")["ok"]  # another tenant's chain is not affected


def test_verify_detects_an_edit_with_a_recomputed_hash(db_engine):
    """Rewriting a row together with its hash breaks the link to the next entry."""
    log = AuditLog(db_engine)
    entries = [log.record("acme", "alice", "auth.login", detail={"n": n}) for n in range(4)]
    forged = {**entries[1], "outcome": "denied"}
    forged["hash"] = entry_hash(forged)
    drop_append_only_triggers(db_engine)
    with db_engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET outcome = 'denied', hash = :hash WHERE id = :id"),
                     {"hash": forged["hash"], "id": entries[1]["id"]})
    assert log.verify("acme")["first_bad_id"] == entries[2]["id"]
    # The last entry rewritten with its hash: only the head row still knows the true end.
    forged = {**entries[3], "actor": "mallory"}
    forged["hash"] = entry_hash(forged)
    with db_engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET outcome = 'ok', hash = :hash WHERE id = :id"),
                     {"hash": entries[1]["hash"], "id": entries[1]["id"]})
        conn.execute(sa.text("UPDATE audit_log SET actor = 'mallory', hash = :hash WHERE id = :id"),
                     {"hash": forged["hash"], "id": entries[3]["id"]})
    assert log.verify("acme")["first_bad_id"] == entries[3]["id"]


def test_verify_detects_a_deleted_row(db_engine):
    log = AuditLog(db_engine)
    entries = [log.record("acme", "alice", "auth.login", detail={"n": n}) for n in range(5)]
    drop_append_only_triggers(db_engine)
    with db_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = :id"), {"id": entries[2]["id"]})
    assert log.verify("acme") == {"ok": False, "entries": 4, "first_bad_id": entries[3]["id"],
                                  "head_hash": entries[-1]["hash"]}


def test_verify_detects_deleted_first_and_last_rows(db_engine):
    log = AuditLog(db_engine)
    entries = [log.record("acme", "alice", "auth.login", detail={"n": n}) for n in range(4)]
    drop_append_only_triggers(db_engine)
    with db_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = :id"), {"id": entries[-1]["id"]})
    assert log.verify("acme") == {"ok": False, "entries": 3, "first_bad_id": entries[-1]["id"],
                                  "head_hash": entries[-2]["hash"]}
    with db_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = :id"), {"id": entries[0]["id"]})
    assert log.verify("acme")["first_bad_id"] == entries[1]["id"]
    # A deleted last id is never handed out again (SQLite AUTOINCREMENT, PostgreSQL sequence).
    assert log.record("acme", "alice", "auth.logout")["id"] > entries[-1]["id"]


def append_from_threads(log: AuditLog, threads: int = 4, each: int = 50) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def append(worker: int) -> None:
        try:
            start.wait()
            for n in range(each):
                log.record("acme", f"agent-{worker}", "call.note", detail={"worker": worker, "n": n})
        except BaseException as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    workers = [threading.Thread(target=append, args=(worker,)) for worker in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    result = log.verify("acme")
    assert result["ok"] and result["entries"] == threads * each
    chain = list(log.iter_all("acme"))
    assert len(chain) == threads * each
    assert len({entry["prev_hash"] for entry in chain}) == threads * each  # no two entries share a parent
    assert sorted((entry["detail"]["worker"], entry["detail"]["n"]) for entry in chain) == \
        [(worker, n) for worker in range(threads) for n in range(each)]


def test_concurrent_threads_never_fork_the_chain(db_engine):
    append_from_threads(AuditLog(db_engine))


def test_concurrent_threads_on_sqlite_in_wal_mode(tmp_path):
    """SQLite as the server opens it (WAL, shared across threads)."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'rafiq.db'}", connect_args={"check_same_thread": False, "timeout": 30})
    sa.event.listen(engine, "connect", lambda dbapi_conn, _record: dbapi_conn.execute("PRAGMA journal_mode=WAL"))
    try:
        append_from_threads(AuditLog(engine))
    finally:
        engine.dispose()


WORKER = """
import sys
import sqlalchemy as sa
from security.audit import AuditLog
url, node, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = sa.create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
log = AuditLog(engine)
for n in range(count):
    log.record("acme", f"node-{node}", "call.note", detail={"node": node, "n": n})
"""


def test_concurrent_processes_never_fork_the_chain(db_engine):
    """Several nodes (processes, each with its own engine and schema check) on one database."""
    url = db_engine.url.render_as_string(hide_password=False)
    nodes = [subprocess.Popen([sys.executable, "-c", WORKER, url, str(node), "40"], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for node in range(3)]
    for node in nodes:
        output, _ = node.communicate(timeout=120)
        assert node.returncode == 0, output
    result = AuditLog(db_engine).verify("acme")
    assert result["ok"] and result["entries"] == 120


def test_csv_and_jsonl_exports_round_trip(db_engine):
    log = AuditLog(db_engine)
    entries = seed(log)
    tricky = log.record("acme", 'eve "the, quick"', "auth.login", outcome="denied", target="line1\nline2",
                        detail={"note": "comma, \"quote\"\r\nand newline", "ar": "مرحبا"})
    entries.append(tricky)
    exported = list(log.iter_all("acme"))
    assert exported == entries

    lines = list(to_csv_lines(exported))
    assert len(lines) == len(entries) + 1 and all(line.endswith("\r\n") for line in lines)
    rows = list(csv.DictReader(io.StringIO("".join(lines), newline="")))
    assert len(rows) == len(entries)
    for row, entry in zip(rows, entries):
        assert int(row["id"]) == entry["id"]
        for name in ("at", "tenant", "action", "outcome", "prev_hash", "hash"):
            assert row[name] == entry[name]
        for name in ("actor", "target", "ip"):
            assert (row[name] or None) == entry[name]
        assert json.loads(row["detail"]) == entry["detail"]
        # The export alone is enough to check the hashes.
        assert entry_hash({**entry, "actor": row["actor"] or None, "target": row["target"] or None,
                           "ip": row["ip"] or None, "detail": json.loads(row["detail"])}) == row["hash"]

    jsonl = list(to_jsonl_lines(exported))
    assert len(jsonl) == len(entries) and all(line.endswith("\n") and line.count("\n") == 1 for line in jsonl)
    assert [json.loads(line) for line in jsonl] == entries

    safe = list(to_csv_lines([{**tricky, "actor": "=HYPERLINK(\"x\")"}], spreadsheet_safe=True))
    assert next(csv.DictReader(io.StringIO("".join(safe), newline="")))["actor"] == "'=HYPERLINK(\"x\")"


def test_iter_all_streams_in_batches_with_filters(db_engine, monkeypatch):
    monkeypatch.setattr("security.audit.EXPORT_BATCH", 7)
    log = AuditLog(db_engine)
    entries = [log.record("acme", "alice" if n % 3 else "bob", "auth.login" if n % 2 else "kb.search", detail={"n": n})
               for n in range(30)]
    assert [entry["id"] for entry in log.iter_all("acme")] == [entry["id"] for entry in entries]
    assert [entry["id"] for entry in log.iter_all("acme", actor="bob", action="auth.")] == \
        [entry["id"] for entry in entries if entry["actor"] == "bob" and entry["action"] == "auth.login"]
    assert log.verify("acme")["entries"] == 30  # verify pages in the same batches
