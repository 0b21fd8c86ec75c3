"""The audit log: an append-only, hash-chained record of who did what, per tenant.

Each entry carries ``prev_hash`` (the hash of the previous entry of the same tenant, 64 zeros
for the first) and ``hash`` (SHA-256 over a canonical JSON of its own fields and
``prev_hash``), so editing or deleting a row anywhere in the database breaks the chain and
``AuditLog.verify`` names the first entry that no longer fits.

Append-only is enforced twice: this class has no update or delete, and the database itself
refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE) on the audit table through a trigger
installed at construction, so not even Rafiq's own database user rewrites history by
accident. A database superuser (or anyone who can drop the trigger) still can; that is what
the chain is for. The chain proves internal consistency; to also detect a wholesale rewrite of
a tenant's chain, keep ``verify(...)["head_hash"]`` (or an export) somewhere else now and then.

``detail`` is free-form JSON stored in clear and exported as is: callers must never put
passwords, tokens, API keys or other secrets in it (nor in ``target``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from storage import UtcDateTime, ensure_schema

GENESIS_HASH = "0" * 64
FIELDS = ("id", "at", "tenant", "actor", "action", "target", "outcome", "ip", "detail", "prev_hash", "hash")
# The fields the hash covers (not the id: it is the database's, not the event's).
HASHED_FIELDS = ("at", "tenant", "actor", "action", "target", "outcome", "ip", "detail", "prev_hash")
MAX_LIST_LIMIT = 1000
EXPORT_BATCH = 500

metadata = sa.MetaData()

# SQLite needs exactly INTEGER PRIMARY KEY for a rowid alias; AUTOINCREMENT (sqlite_autoincrement)
# so that the id of a deleted last row is never handed out again.
_id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

audit_table = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", _id_type, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(128), nullable=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(256), nullable=True),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_log_tenant_id", "tenant", "id"),
    sa.Index("ix_audit_log_tenant_action", "tenant", "action"),
    sa.Index("ix_audit_log_tenant_actor", "tenant", "actor"),
    sa.Index("ix_audit_log_tenant_at", "tenant", "at"),
    sqlite_autoincrement=True,
)

# One row per tenant: the end of its chain. Appends lock it, which serialises them per tenant.
audit_heads_table = sa.Table(
    "audit_heads",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("last_id", sa.BigInteger, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
)

_LENGTHS = {"tenant": 64, "actor": 128, "action": 64, "target": 256, "outcome": 32, "ip": 64}

_REFUSAL = "audit_log is append-only"
_POSTGRES_TRIGGER_SQL = [
    f"""
    CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
    END
    $$
    """,
    """
    DO $$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_trigger
                       WHERE tgname = 'audit_log_no_update_delete' AND tgrelid = 'audit_log'::regclass) THEN
            CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
                FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_trigger
                       WHERE tgname = 'audit_log_no_truncate' AND tgrelid = 'audit_log'::regclass) THEN
            CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
                FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_trigger
                       WHERE tgname = 'audit_heads_no_delete' AND tgrelid = 'audit_heads'::regclass) THEN
            CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON audit_heads
                FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
        END IF;
    END
    $$
    """,
]

_SQLITE_TRIGGER_SQL = [
    f"""
    CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, '{_REFUSAL}: UPDATE refused'); END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, '{_REFUSAL}: DELETE refused'); END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS audit_heads_no_delete BEFORE DELETE ON audit_heads
    BEGIN SELECT RAISE(ABORT, 'audit_heads is append-only: DELETE refused'); END
    """,
]

# Any constant: serialises the schema set-up of nodes starting at the same time (concurrent
# CREATE TABLE, or CREATE OR REPLACE FUNCTION, fail in the loser: "already exists", "tuple
# concurrently updated").
_POSTGRES_INSTALL_LOCK = 0x52AF1A0D


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _now_ms() -> datetime:
    """Now in UTC, cut to the millisecond, so the stored time reads back as exactly what was hashed."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(fields: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of an entry's hashed fields (``at`` as its ISO string)."""
    return hashlib.sha256(_canonical({name: fields[name] for name in HASHED_FIELDS}).encode("utf-8")).hexdigest()


class AuditLog:
    """Append-only, per-tenant hash-chained audit entries in Rafiq's database (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine):
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"audit log: unsupported database {engine.dialect.name!r}")
        self.engine = engine
        self._prepare_schema()

    def _prepare_schema(self) -> None:
        """Tables, indexes and triggers, safe when several nodes start at once on one database
        (create_all's check-then-create is not: the loser's CREATE TABLE fails)."""
        if self.engine.dialect.name == "postgresql":
            # A session-level advisory lock, on a connection of its own, queues the nodes.
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock:
                lock.execute(sa.select(sa.func.pg_advisory_lock(_POSTGRES_INSTALL_LOCK)))
                try:
                    ensure_schema(self.engine, metadata)
                    self._install_triggers()
                finally:
                    lock.execute(sa.select(sa.func.pg_advisory_unlock(_POSTGRES_INSTALL_LOCK)))
            return
        for attempt in range(3):
            try:
                ensure_schema(self.engine, metadata)
                break
            except sa.exc.OperationalError:  # another process created it meanwhile ("already exists")
                if attempt == 2:
                    raise
        self._install_triggers()

    def _install_triggers(self) -> None:
        with self.engine.begin() as conn:
            statements = _POSTGRES_TRIGGER_SQL if self.engine.dialect.name == "postgresql" else _SQLITE_TRIGGER_SQL
            for statement in statements:
                conn.execute(sa.text(statement))  # text(): escapes the %s of plpgsql for the driver

    # -- writing ---------------------------------------------------------------------------------

    def record(self, tenant: str, actor: str | None, action: str, *, target: str | None = None,
               outcome: str = "ok", detail: dict | None = None, ip: str | None = None) -> dict[str, Any]:
        """Append one entry to the tenant's chain and return it. ``detail``: JSON, no secrets."""
        if not tenant or not action or not outcome:
            raise ValueError("audit entry needs a tenant, an action and an outcome")
        if detail is not None and not isinstance(detail, dict):
            raise ValueError("audit detail must be a JSON object (dict)")
        values = {"tenant": tenant, "actor": actor, "action": action, "target": target, "outcome": outcome, "ip": ip}
        for name, limit in _LENGTHS.items():
            if values[name] is not None and len(values[name]) > limit:
                raise ValueError(f"audit {name} longer than {limit} characters")
        # Normalise through JSON once (tuples to lists, keys to strings...) so that what is hashed
        # is exactly what the database gives back to verify().
        values["detail"] = json.loads(_canonical(detail or {}))

        dialect = self.engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        connection = self.engine.connect()
        if dialect == "postgresql":
            # FOR UPDATE then reading the head's latest committed version needs READ COMMITTED
            # (under REPEATABLE READ a concurrent append would fail the transaction instead).
            connection = connection.execution_options(isolation_level="READ COMMITTED")
        with connection as conn, conn.begin():
            # Locking, per tenant, so that the chain can never fork:
            # 1. Insert the tenant's head row if it is missing (ON CONFLICT DO NOTHING): race-free,
            #    two first appends of a new tenant both end up on the one row.
            # 2. Read the head FOR UPDATE. On PostgreSQL that row lock is held until commit, so
            #    appends of one tenant queue there, across threads and nodes, while other tenants
            #    go on in parallel; a waiter then reads the head its predecessor committed.
            #    On SQLite FOR UPDATE is a no-op, and the serialisation comes from step 1: being a
            #    write, it is the statement that opens the transaction and takes the database's
            #    write lock (RESERVED, or the WAL write lock) before the head is read, so the head
            #    read in step 2 is the one every later writer will see. Write first, not read
            #    first: Python's sqlite3 only issues BEGIN before a DML statement, so a head read
            #    first would run outside the transaction and could be stale by the time we write
            #    (a fork); and where reads do open the transaction, a deferred transaction that
            #    has read and then wants to write fails at once with SQLITE_BUSY(_SNAPSHOT) when
            #    another connection wrote meanwhile (no busy timeout applies), whereas one whose
            #    first statement writes simply waits out the busy timeout. Unlike a
            #    BEGIN IMMEDIATE engine event, this leaves the engine shared with the rest of
            #    Rafiq as it is.
            # 3. Insert the entry and move the head, in the same transaction.
            conn.execute(insert(audit_heads_table).values(tenant=tenant, last_id=0, last_hash=GENESIS_HASH)
                         .on_conflict_do_nothing(index_elements=["tenant"]))
            head = conn.execute(sa.select(audit_heads_table.c.last_hash)
                                .where(audit_heads_table.c.tenant == tenant).with_for_update()).one()
            at = _now_ms()  # taken under the lock, so times never go backwards along one chain
            entry = {"at": _iso(at), **values, "prev_hash": head.last_hash}
            entry["hash"] = entry_hash(entry)
            entry_id = conn.execute(audit_table.insert().values({**entry, "at": at})).inserted_primary_key[0]
            conn.execute(audit_heads_table.update().where(audit_heads_table.c.tenant == tenant)
                         .values(last_id=entry_id, last_hash=entry["hash"]))
        return {"id": entry_id, **{name: entry[name] for name in FIELDS if name != "id"}}

    # -- reading ---------------------------------------------------------------------------------

    @staticmethod
    def _where(tenant: str, actor: str | None, action: str | None, target: str | None,
               outcome: str | None, since: datetime | None, until: datetime | None) -> list:
        for moment in (since, until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("naive datetime; use UTC-aware datetimes")
        t = audit_table.c
        clauses = [t.tenant == tenant]
        if actor is not None:
            clauses.append(t.actor == actor)
        if action is not None:
            # "auth." is every action of the auth family; anything else is one exact action.
            clauses.append(t.action.startswith(action, autoescape=True) if action.endswith(".") else t.action == action)
        if target is not None:
            clauses.append(t.target == target)
        if outcome is not None:
            clauses.append(t.outcome == outcome)
        if since is not None:
            clauses.append(t.at >= since)
        if until is not None:
            clauses.append(t.at < until)
        return clauses

    def list(self, tenant: str, *, actor: str | None = None, action: str | None = None,
             target: str | None = None, outcome: str | None = None, since: datetime | None = None,
             until: datetime | None = None, limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
        """A tenant's entries, newest first. ``since`` inclusive, ``until`` exclusive (aware datetimes);
        ``action`` exact, or a prefix when it ends in "."; page on with ``before_id`` = the last id seen.
        ``limit`` is capped at 1000."""
        clauses = self._where(tenant, actor, action, target, outcome, since, until)
        if before_id is not None:
            clauses.append(audit_table.c.id < before_id)
        limit = max(1, min(int(limit), MAX_LIST_LIMIT))
        query = sa.select(audit_table).where(*clauses).order_by(audit_table.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [self._entry(row) for row in conn.execute(query).mappings()]

    def iter_all(self, tenant: str, *, actor: str | None = None, action: str | None = None,
                 target: str | None = None, outcome: str | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Every matching entry of a tenant, oldest first, read in batches (each its own short
        read, so a long export holds no transaction open)."""
        clauses = self._where(tenant, actor, action, target, outcome, since, until)
        after_id = 0
        while True:
            query = (sa.select(audit_table).where(*clauses, audit_table.c.id > after_id)
                     .order_by(audit_table.c.id).limit(EXPORT_BATCH))
            with self.engine.connect() as conn:
                batch = [self._entry(row) for row in conn.execute(query).mappings()]
            yield from batch
            if len(batch) < EXPORT_BATCH:
                return
            after_id = batch[-1]["id"]

    def verify(self, tenant: str) -> dict[str, Any]:
        """Recompute the tenant's chain in id order.

        ``first_bad_id`` is the first entry whose hash does not match its fields or whose
        ``prev_hash`` is not the previous entry's hash (an edited row; the entry after a deleted
        one), or the head's last id when the chain's end no longer matches the head (the last
        entry deleted or rewritten). ``head_hash`` is the hash of the last entry checked.
        Entries appended while verify runs are left for the next run.
        """
        heads, t = audit_heads_table, audit_table.c
        with self.engine.connect() as conn:
            head = conn.execute(sa.select(heads).where(heads.c.tenant == tenant)).first()
            if head is None:
                # No head, yet entries: the head row was removed behind our back (the entries of a
                # first append come with their head in one transaction). Check them all anyway.
                bound = conn.execute(sa.select(sa.func.max(t.id)).where(t.tenant == tenant)).scalar()
                head = conn.execute(sa.select(heads).where(heads.c.tenant == tenant)).first()
        head_id = head.last_id if head is not None else bound or 0
        count, first_bad, previous_hash, last_id, first_id = 0, None, GENESIS_HASH, 0, None
        while last_id < head_id:
            query = (sa.select(audit_table)
                     .where(t.tenant == tenant, t.id > last_id, t.id <= head_id).order_by(t.id).limit(EXPORT_BATCH))
            with self.engine.connect() as conn:
                rows = [self._entry(row) for row in conn.execute(query).mappings()]
            if not rows:
                break
            for entry in rows:
                count += 1
                first_id = first_id or entry["id"]
                if first_bad is None and (entry["prev_hash"] != previous_hash or entry["hash"] != entry_hash(entry)):
                    first_bad = entry["id"]
                previous_hash, last_id = entry["hash"], entry["id"]
        if first_bad is None:
            if head is None:
                first_bad = first_id
            elif last_id != head.last_id or previous_hash != head.last_hash:
                first_bad = head.last_id
        return {"ok": first_bad is None, "entries": count, "first_bad_id": first_bad, "head_hash": previous_hash}

    @staticmethod
    def _entry(row) -> dict[str, Any]:
        entry = {name: row[name] for name in FIELDS}
        entry["at"] = _iso(row["at"])
        return entry


# -- export -----------------------------------------------------------------------------------------

_SPREADSHEET_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def to_csv_lines(entries: Iterable[dict[str, Any]], *, spreadsheet_safe: bool = False) -> Iterator[str]:
    """A header line, then one CSV line per entry (RFC 4180: CRLF, quoted as needed); ``detail``
    as canonical JSON, None as an empty cell.

    Values are exported exactly, so the export can be checked against the hashes. With
    ``spreadsheet_safe`` a cell starting with = + - @ gets a leading apostrophe, against formula
    injection when the file is opened in a spreadsheet (actor and target can come from outside).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: list[str]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield line(list(FIELDS))
    for entry in entries:
        cells = []
        for name in FIELDS:
            value = entry.get(name)
            cell = "" if value is None else _canonical(value) if name == "detail" else str(value)
            if spreadsheet_safe and cell.startswith(_SPREADSHEET_TRIGGERS):
                cell = "'" + cell
            cells.append(cell)
        yield line(cells)


def to_jsonl_lines(entries: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One JSON object per line (newline-terminated), fields in the entry's order."""
    for entry in entries:
        yield json.dumps({name: entry.get(name) for name in FIELDS}, ensure_ascii=False, allow_nan=False) + "\n"
