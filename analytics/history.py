"""Call history: the search index of each call's transcript and the filtered, paginated list
supervisors (and agents, for their own calls) read, exported as CSV or JSON Lines.

One row per call in ``call_search`` holds its transcript folded by ``analytics.search_text``;
it is written when the call's audio is all transcribed. PostgreSQL keeps a ``tsvector`` of it
('simple' configuration, GIN index); SQLite matches each word with LIKE. The list itself is the
call records (live calls too) left-joined with their figures (``call_stats``) and wrap-up
(``call_summaries``), newest first, paginated by keyset (started_at, call_id): a cursor names
the last row seen, so calls that start meanwhile never shift or repeat a page.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from storage import UtcDateTime, ensure_schema

from .search_text import index_text, words
from .stats import SENTIMENTS, call_stats_table
from .summary import call_summaries_table

metadata = sa.MetaData()


class SearchVector(sa.types.TypeDecorator):
    """A ``tsvector`` on PostgreSQL; unused text elsewhere (SQLite searches the folded text)."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(postgresql.TSVECTOR() if dialect.name == "postgresql" else sa.Text())


call_search_table = sa.Table(
    "call_search",
    metadata,
    sa.Column("call_id", sa.String(128), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("tsv", SearchVector(), nullable=True),
)


class BadQuery(ValueError):
    """A history filter that cannot be applied; ``code`` is part of the API."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Filters:
    q: str | None = None
    since: datetime | None = None  # ``from``
    until: datetime | None = None  # ``to``
    agent: str | None = None
    team: str | None = None
    campaign: str | None = None
    language: str | None = None
    sentiment: str | None = None
    min_duration: float | None = None
    wrap_up: str | None = None
    has_alert: bool | None = None
    suggestion_used: bool | None = None
    # Exact values of the record's own columns named in ``CallHistory.exact_columns`` (the
    # telephony platform's ids: platform, platform_call_id, stream_id, ...).
    exact: dict[str, str] = field(default_factory=dict)


def parse_moment(value: str | None, name: str, end_of_day: bool = False) -> datetime | None:
    """An ISO date or datetime (a date alone: its first moment, or its last with ``end_of_day``;
    a time without zone: UTC)."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=timezone.utc)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery("bad_date", f"{name} must be an ISO date or datetime, not {value!r}") from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
    if end_of_day and moment.microsecond % 1000 == 0:
        # An end given to the millisecond (as this API writes times) includes that whole millisecond.
        moment += timedelta(microseconds=999)
    return moment


_LANGUAGE = re.compile(r"^[a-z]{2,8}$")


def check_filters(filters: Filters) -> Filters:
    if filters.language is not None and not _LANGUAGE.match(filters.language):
        raise BadQuery("bad_language", "language must be a language code such as fr or ar")
    if filters.sentiment is not None and filters.sentiment not in SENTIMENTS:
        raise BadQuery("bad_sentiment", f"sentiment must be one of {', '.join(SENTIMENTS)}")
    if filters.since and filters.until and filters.since > filters.until:
        raise BadQuery("bad_range", "from is after to")
    if filters.q is not None and filters.q.strip() and not words(filters.q):
        raise BadQuery("bad_query", "q has no word to search for")
    if filters.q is not None and len(words(filters.q)) > 16:
        raise BadQuery("bad_query", "q has more than 16 words")
    return filters


def encode_cursor(started_at: datetime, call_id: str) -> str:
    raw = json.dumps([started_at.astimezone(timezone.utc).isoformat(), call_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, call_id = json.loads(raw)
        return datetime.fromisoformat(moment), str(call_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise BadQuery("bad_cursor", "cursor is not one this API returned") from None


@dataclass
class Scope:
    """Whose calls the caller may list: always one tenant; an agent's own (``agent``); a team
    supervisor's team and the calls without a team yet (``team``)."""

    tenant: str
    agent: str | None = None
    team: str | None = None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") if moment is not None else None


class CallHistory:
    """The search index and the history queries over ``calls_table`` (the call records)."""

    def __init__(self, engine: sa.Engine, calls_table: sa.Table, exact_columns: tuple[str, ...] = ()):
        self.engine = engine
        self.calls = calls_table
        self.exact_columns = exact_columns  # columns of the call record listed and matched exactly
        self.postgres = engine.dialect.name == "postgresql"
        ensure_schema(engine, metadata)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_call_search_tenant_started "
                                 "ON call_search (tenant, started_at)"))
            if self.postgres:
                conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_call_search_tsv ON call_search USING gin (tsv)"))
                # Word frequencies down to rare words, so the planner reads a rare word through the
                # GIN index and a common one by walking the newest calls (measured: bench/history.py).
                conn.execute(sa.text("ALTER TABLE call_search ALTER COLUMN tsv SET STATISTICS 5000"))

    # --- the index -----------------------------------------------------------------------

    def index(self, call_id: str, tenant: str, started_at: datetime, texts: list[str]) -> None:
        """Store the searchable text of a call (its final utterances, already redacted)."""
        text = index_text(texts)
        # PostgreSQL searches the tsvector only: the text itself stays out of its rows, which keeps
        # them narrow for the scans (SQLite searches the text).
        values = {"tenant": tenant, "started_at": started_at, "text": "" if self.postgres else text,
                  "tsv": sa.func.to_tsvector("simple", text) if self.postgres else None}
        with self.engine.begin() as conn:
            updated = conn.execute(call_search_table.update().where(call_search_table.c.call_id == call_id)
                                   .values(**values)).rowcount
            if not updated:
                conn.execute(call_search_table.insert().values(call_id=call_id, **values))

    def index_many(self, rows: list[dict[str, Any]]) -> None:
        """Bulk insert of {call_id, tenant, started_at, texts} (benchmarks, backfills)."""
        if not rows:
            return
        with self.engine.begin() as conn:
            if self.postgres:
                conn.execute(sa.text(
                    "INSERT INTO call_search (call_id, tenant, started_at, text, tsv) "
                    "VALUES (:call_id, :tenant, :started_at, '', to_tsvector('simple', :text))"),
                    [{"call_id": r["call_id"], "tenant": r["tenant"], "started_at": r["started_at"],
                      "text": index_text(r["texts"])} for r in rows])
            else:
                conn.execute(call_search_table.insert(), [
                    {"call_id": r["call_id"], "tenant": r["tenant"], "started_at": r["started_at"],
                     "text": index_text(r["texts"]), "tsv": None} for r in rows])

    def erase(self, call_ids: list[str]) -> int:
        if not call_ids:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(call_search_table.delete().where(call_search_table.c.call_id.in_(call_ids))).rowcount

    # --- the list ------------------------------------------------------------------------

    def _text_match(self, q: str):
        terms = words(q)
        s = call_search_table
        if self.postgres:
            # Whole words, all of them (words are \w only, safe in a tsquery). Not prefixes: the
            # planner cannot estimate how many calls a prefix matches, and then walks them all.
            query = " & ".join(terms)
            return s.c.tsv.op("@@")(sa.func.to_tsquery("simple", query))
        escaped = [t.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for t in terms]
        padded = " " + s.c.text + " "  # whole words, as on PostgreSQL
        return sa.and_(*[padded.like(f"% {t} %", escape="\\") for t in escaped])

    def _estimate(self, conn, query) -> float:
        """PostgreSQL's estimate of the rows ``query`` returns (its plan, not a count)."""
        compiled = query.compile(dialect=self.engine.dialect)
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params).scalar()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return float(plan[0]["Plan"]["Plan Rows"])

    def _matches(self, conn, scope: Scope, filters: Filters):
        """Where the text matches come from. PostgreSQL plans a search as a walk of the newest calls
        that checks each one's words until a page is full, which is right for a common word and
        slow for a rarer one (its cost model does not see the price of reading each tsvector:
        measured 200-900 ms at 100,000 calls for words in 0.5-1.5% of them). So when its own
        estimate says the words are in fewer than 5% of the tenant's calls (20% when other filters
        narrow the list further), the matches are read from the GIN index first, all of them
        (materialised), and only those are sorted and joined."""
        s = call_search_table
        if not self.postgres:
            return s, 0.0
        in_tenant = sa.select(s.c.call_id).where(s.c.tenant == scope.tenant)
        matching = self._estimate(conn, in_tenant.where(self._text_match(filters.q)))
        total = self._estimate(conn, in_tenant)
        narrowed = any(v is not None for v in (scope.agent, scope.team, filters.agent, filters.team,
                                                 filters.campaign, filters.language, filters.sentiment,
                                                 filters.wrap_up, filters.has_alert, filters.suggestion_used))
        if matching > (0.20 if narrowed else 0.05) * max(total, 1.0):
            return s, 0.0
        return None, matching

    def _recent_matches(self, scope: Scope, filters: Filters, since: datetime | None):
        s = call_search_table
        query = sa.select(s.c.call_id, s.c.started_at).where(s.c.tenant == scope.tenant, self._text_match(filters.q))
        if since is not None:  # with the (tenant, started_at) index, PostgreSQL ANDs the two bitmaps
            query = query.where(s.c.started_at >= since)
        return query.cte("matches").prefix_with("MATERIALIZED")

    def _select(self, scope: Scope, filters: Filters, matches=None):
        c, st, sm = self.calls, call_stats_table, call_summaries_table
        wrap_up = sa.func.coalesce(sm.c.wrap_up_confirmed, sm.c.wrap_up_suggested)
        columns = [
            c.c.call_id, c.c.tenant, c.c.status, c.c.roles, c.c.language, c.c.started_at, c.c.ended_at,
            c.c.end_reason, c.c.agent, c.c.team, c.c.campaign, *(c.c[name] for name in self.exact_columns),
            st.c.duration_s, st.c.languages, st.c.main_language, st.c.sentiment, st.c.sentiment_score,
            st.c.sentiment_trend, st.c.customer_speech_s, st.c.agent_speech_s, st.c.silence_s, st.c.overtalk_s,
            st.c.suggestions_shown, st.c.suggestions_used, st.c.suggestions_edited, st.c.suggestions_dismissed,
            st.c.alerts, st.c.notes,
            wrap_up.label("wrap_up"), sm.c.wrap_up_confirmed, sm.c.summary,
        ]
        source = c.outerjoin(st, st.c.call_id == c.c.call_id).outerjoin(sm, sm.c.call_id == c.c.call_id)
        query = sa.select(*columns).where(c.c.tenant == scope.tenant)
        if filters.q and words(filters.q):
            # Searched first, in the tenant's index: the GIN (PostgreSQL) or the tenant's rows (SQLite).
            if matches is None or matches is call_search_table:
                source = source.join(call_search_table, call_search_table.c.call_id == c.c.call_id)
                query = query.where(call_search_table.c.tenant == scope.tenant, self._text_match(filters.q))
            else:  # the GIN's matches, read first (see _matches)
                source = source.join(matches, matches.c.call_id == c.c.call_id)
        query = query.select_from(source)
        if scope.agent is not None:
            query = query.where(c.c.agent == scope.agent)
        if scope.team is not None:
            query = query.where(sa.or_(c.c.team == scope.team, c.c.team.is_(None)))
        f = filters
        if f.since is not None:
            query = query.where(c.c.started_at >= f.since)
        if f.until is not None:
            query = query.where(c.c.started_at <= f.until)
        for column, value in ((c.c.agent, f.agent), (c.c.team, f.team), (c.c.campaign, f.campaign),
                              (st.c.sentiment, f.sentiment), *((c.c[name], value) for name, value in f.exact.items())):
            if value is not None:
                query = query.where(column == value)
        if f.language is not None:
            # Heard in the call (its figures), or for a live call the language it was started with.
            query = query.where(sa.or_(st.c.languages.like(f"%,{f.language},%"),
                                       sa.and_(st.c.call_id.is_(None), c.c.language == f.language)))
        if f.min_duration is not None:
            query = query.where(st.c.duration_s >= f.min_duration)
        if f.wrap_up is not None:
            query = query.where(wrap_up == f.wrap_up)
        if f.has_alert is not None:
            alerts = sa.func.coalesce(st.c.alerts, 0)
            query = query.where(alerts > 0 if f.has_alert else alerts == 0)
        if f.suggestion_used is not None:
            used = sa.func.coalesce(st.c.suggestions_used, 0)
            query = query.where(used > 0 if f.suggestion_used else used == 0)
        return query

    def page(self, scope: Scope, filters: Filters, limit: int = 50,
             cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page, newest first, and the cursor of the next (None at the end)."""
        check_filters(filters)
        with self.engine.connect() as conn:
            # A search is ordered on the index's own copy of (started_at, call_id), so the text
            # matches are sorted first and the records, figures and wrap-ups of one page joined.
            if not (filters.q and words(filters.q)):
                return self._page(conn, self._select(scope, filters), self.calls, limit, cursor)
            keys, matching = self._matches(conn, scope, filters)
            if keys is not None:
                return self._page(conn, self._select(scope, filters, keys), keys, limit, cursor)
            # The GIN's matches, newest first: the last week before the page's start, then wider,
            # until a page is full (a common word fills it from the last days' calls alone).
            upper = decode_cursor(cursor)[0] if cursor else datetime.now(timezone.utc)
            narrowed = any(v is not None for v in (scope.agent, scope.team, filters.agent, filters.team,
                                                     filters.campaign, filters.language, filters.sentiment,
                                                     filters.wrap_up, filters.has_alert, filters.suggestion_used))
            # Other filters keep fewer of the matches: start wider.
            windows = (7, 30, 120, None) if not narrowed else (45, None)
            for days in windows if matching > 300 else (None,):
                since = upper - timedelta(days=days) if days is not None else None
                keys = self._recent_matches(scope, filters, since)
                items, next_cursor = self._page(conn, self._select(scope, filters, keys), keys, limit, cursor)
                if next_cursor is not None or days is None:
                    return items, next_cursor
            raise AssertionError("unreachable")

    def _page(self, conn, query, keys, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        if cursor:
            started, call_id = decode_cursor(cursor)
            query = query.where(sa.or_(keys.c.started_at < started,
                                       sa.and_(keys.c.started_at == started, keys.c.call_id < call_id)))
        query = query.order_by(keys.c.started_at.desc(), keys.c.call_id.desc()).limit(limit + 1)
        rows = [dict(row) for row in conn.execute(query).mappings()]
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["started_at"], rows[-1]["call_id"]) if more and rows else None
        return [self._item(row) for row in rows], next_cursor

    def stream(self, scope: Scope, filters: Filters, batch: int = 500) -> Iterator[dict[str, Any]]:
        """Every matching call, newest first, read a page at a time (exports)."""
        cursor = None
        while True:
            items, cursor = self.page(scope, filters, batch, cursor)
            yield from items
            if cursor is None:
                return

    @staticmethod
    def _item(row: dict[str, Any]) -> dict[str, Any]:
        item = dict(row)
        item["started_at"], item["ended_at"] = _iso(row["started_at"]), _iso(row["ended_at"])
        item["languages"] = [code for code in (row.get("languages") or "").split(",") if code]
        item["wrap_up_confirmed"] = row.get("wrap_up_confirmed") is not None
        return item


# What a supervisor's spreadsheet gets, in this order (the JSON Lines export has every field).
EXPORT_COLUMNS = ("call_id", "status", "started_at", "ended_at", "duration_s", "agent", "team", "campaign",
                  "languages", "end_reason", "sentiment", "sentiment_score", "sentiment_trend",
                  "customer_speech_s", "agent_speech_s", "silence_s", "overtalk_s", "suggestions_shown",
                  "suggestions_used", "suggestions_edited", "suggestions_dismissed", "alerts", "notes",
                  "wrap_up", "wrap_up_confirmed", "summary")
