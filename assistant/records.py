"""Call records: calls and their events, in SQLite by default or PostgreSQL by URL."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from storage import UtcDateTime, ensure_schema

metadata = sa.MetaData()

calls_table = sa.Table(
    "calls",
    metadata,
    sa.Column("call_id", sa.String(128), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("language", sa.String(8), nullable=True),
    sa.Column("started_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("ended_at", UtcDateTime(), nullable=True),
    sa.Column("end_reason", sa.String(64), nullable=True),
    sa.Column("agent", sa.String(64), nullable=True, index=True),  # the agent's username, who owns the call
    sa.Column("team", sa.String(64), nullable=True),  # the agent's team when the call started
    # The campaign the call belongs to (telephony custom parameters, the native start message):
    # its suggestions search that campaign's articles and the shared ones. Null: every article.
    sa.Column("campaign", sa.String(64), nullable=True),
    # Telephony: the platform and its own ids for the call, searchable in call history. Caller and
    # called numbers are stored as the tenant's redaction settings leave them (masked for "phone").
    *[sa.Column(name, sa.String(128), nullable=True, index=True) for name in (
        "platform", "platform_call_id", "stream_id", "caller_number", "called_number", "queue", "platform_agent_id")],
)

# The platform metadata columns: create() takes them as keyword arguments, list() filters on them.
PLATFORM_COLUMNS = ("platform", "platform_call_id", "stream_id", "caller_number", "called_number", "queue",
                    "platform_agent_id")

# Every event but partials is kept: the replay for late subscribers and the call's record.
call_events_table = sa.Table(
    "call_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.String(128), sa.ForeignKey("calls.call_id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.UniqueConstraint("call_id", "seq", name="uq_call_event_seq"),
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") if moment is not None else None


class CallRecords:
    def __init__(self, engine: sa.Engine):
        self.engine = engine
        ensure_schema(engine, metadata)

    def create(self, call_id: str, tenant: str, roles: list[str], language: str | None, started_at: datetime,
               agent: str | None = None, team: str | None = None, campaign: str | None = None,
               **platform: str | None) -> None:
        unknown = set(platform) - set(PLATFORM_COLUMNS)
        if unknown:
            raise TypeError(f"unknown call record fields: {sorted(unknown)}")
        values = {name: (str(value)[:128] if value is not None else None) for name, value in platform.items()}
        with self.engine.begin() as conn:
            conn.execute(calls_table.insert().values(
                call_id=call_id, tenant=tenant, status="live", roles=roles, language=language, started_at=started_at,
                agent=agent, team=team, campaign=campaign, **values))

    def set_agent(self, call_id: str, agent: str | None, team: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(calls_table.update().where(calls_table.c.call_id == call_id).values(agent=agent, team=team))

    def end(self, call_id: str, reason: str, ended_at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(calls_table.update().where(calls_table.c.call_id == call_id)
                         .values(status="ended", ended_at=ended_at, end_reason=reason))

    def mark_interrupted(self) -> int:
        """Calls still 'live' from a previous run of the process can no longer receive audio."""
        with self.engine.begin() as conn:
            result = conn.execute(calls_table.update().where(calls_table.c.status == "live")
                                  .values(status="ended", ended_at=utcnow(), end_reason="server_restart"))
            return result.rowcount

    def append(self, call_id: str, seq: int, event: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(call_events_table.insert().values(call_id=call_id, seq=seq, type=event["type"], payload=event))

    def get(self, call_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(calls_table).where(calls_table.c.call_id == call_id)).mappings().first()
        return self._call(row) if row else None

    def erase(self, call_ids: list[str]) -> int:
        """Delete calls and their events; the number of calls removed."""
        if not call_ids:
            return 0
        with self.engine.begin() as conn:
            conn.execute(call_events_table.delete().where(call_events_table.c.call_id.in_(call_ids)))
            return conn.execute(calls_table.delete().where(calls_table.c.call_id.in_(call_ids))).rowcount

    def ended_before(self, tenant: str, cutoff: datetime) -> list[str]:
        """Ended calls of ``tenant`` that started before ``cutoff`` (the retention purge's list)."""
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(calls_table.c.call_id).where(
                calls_table.c.tenant == tenant, calls_table.c.status == "ended",
                calls_table.c.started_at < cutoff)).scalars())

    def tenants(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(calls_table.c.tenant).distinct()).scalars())

    def events(self, call_id: str, after_seq: int = 0) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(call_events_table.c.payload)
                .where(call_events_table.c.call_id == call_id, call_events_table.c.seq > after_seq)
                .order_by(call_events_table.c.seq)
            ).scalars()
            return list(rows)

    @staticmethod
    def _call(row) -> dict[str, Any]:
        return {
            "call_id": row["call_id"],
            "tenant": row["tenant"],
            "status": row["status"],
            "roles": row["roles"],
            "language": row["language"],
            "started_at": iso(row["started_at"]),
            "ended_at": iso(row["ended_at"]),
            "end_reason": row["end_reason"],
            "agent": row["agent"],
            "team": row["team"],
            "campaign": row["campaign"],
            **{name: row[name] for name in PLATFORM_COLUMNS},
        }
