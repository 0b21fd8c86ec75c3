"""One row of figures per call, derived from its recorded events: what call history filters on and
what the dashboard adds up, so neither reads every event of every call (100,000 calls stay fast).

The row is recomputed from the whole event record of the call (a few hundred events at most) when
the call ends and whenever an event reaches an ended call (feedback after the call, a late note),
so it never drifts from the record it summarises.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

import sqlalchemy as sa

from storage import UtcDateTime, ensure_schema

metadata = sa.MetaData()

SENTIMENTS = ("negative", "neutral", "positive")

call_stats_table = sa.Table(
    "call_stats",
    metadata,
    # No foreign key to the call record: erasure removes both (see ``CallStats.erase``).
    sa.Column("call_id", sa.String(128), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("ended_at", UtcDateTime(), nullable=True),
    sa.Column("agent", sa.String(64), nullable=True),
    sa.Column("team", sa.String(64), nullable=True),
    sa.Column("campaign", sa.String(64), nullable=True),
    sa.Column("end_reason", sa.String(64), nullable=True),
    sa.Column("duration_s", sa.Float, nullable=True),
    # Languages heard, most spoken first, comma-wrapped (",fr,ar,") so one LIKE finds a language.
    sa.Column("languages", sa.String(64), nullable=False, server_default=sa.text("''")),
    sa.Column("main_language", sa.String(8), nullable=True),
    sa.Column("customer_speech_s", sa.Float, nullable=False, server_default=sa.text("0")),
    sa.Column("agent_speech_s", sa.Float, nullable=False, server_default=sa.text("0")),
    sa.Column("silence_s", sa.Float, nullable=False, server_default=sa.text("0")),
    sa.Column("overtalk_s", sa.Float, nullable=False, server_default=sa.text("0")),
    sa.Column("customer_utterances", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("agent_utterances", sa.Integer, nullable=False, server_default=sa.text("0")),
    # Customer sentiment: utterances per label, the call's label (the mean signed score's sign)
    # and the last third of the call against the first (positive: the call got better).
    sa.Column("negative_utterances", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("neutral_utterances", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("positive_utterances", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("sentiment", sa.String(8), nullable=True),
    sa.Column("sentiment_score", sa.Float, nullable=True),
    sa.Column("sentiment_trend", sa.Float, nullable=True),
    sa.Column("suggestions_shown", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("suggestions_used", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("suggestions_edited", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("suggestions_dismissed", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("alerts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("notes", sa.Integer, nullable=False, server_default=sa.text("0")),
    # The speech model's time for the call and its energy estimate (the call's ``call.compute``
    # event, see assistant.compute): zero for a call recorded before it was measured.
    sa.Column("asr_encoder_s", sa.Float, nullable=False, server_default=sa.text("0")),
    sa.Column("asr_decoder_s", sa.Float, nullable=False, server_default=sa.text("0")),
    sa.Column("energy_wh", sa.Float, nullable=False, server_default=sa.text("0")),
    sa.Index("ix_call_stats_tenant_started", "tenant", "started_at"),
    # The dashboard's scans (analytics.dashboard) read this index alone on PostgreSQL: an
    # index-only scan, about 3x faster than visiting the table's rows (bench/analytics.py).
    sa.Index("ix_call_stats_dashboard", "tenant", "started_at", postgresql_include=[
        "team", "campaign", "agent", "duration_s", "main_language", "customer_speech_s", "agent_speech_s",
        "silence_s", "overtalk_s", "negative_utterances", "neutral_utterances", "positive_utterances",
        "sentiment", "sentiment_score", "suggestions_shown", "suggestions_used", "suggestions_edited",
        "suggestions_dismissed", "alerts", "asr_encoder_s", "asr_decoder_s", "energy_wh"]),
)

# One row per suggestion shown on a call (a confirmed replacement counts once, as the original)
# and what the agent did with it last: the dashboard's articles and acceptance charts. The call's
# tenant, time, agent, team and campaign are repeated so those charts need no join.
call_suggestions_table = sa.Table(
    "call_suggestions",
    metadata,
    sa.Column("call_id", sa.String(128), primary_key=True),
    sa.Column("suggestion_id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("agent", sa.String(64), nullable=True),
    sa.Column("team", sa.String(64), nullable=True),
    sa.Column("campaign", sa.String(64), nullable=True),
    sa.Column("article_id", sa.String(64), nullable=True),  # the best source: the answer shown
    sa.Column("title", sa.String(300), nullable=True),
    sa.Column("language", sa.String(8), nullable=True),
    sa.Column("action", sa.String(16), nullable=True),  # used / edited / dismissed; null: none
    # The dashboard's scans read the index alone on PostgreSQL (an index-only scan: no table rows).
    sa.Index("ix_call_suggestions_scan", "tenant", "started_at",
             postgresql_include=["article_id", "action", "team", "campaign"]),
    sa.Index("ix_call_suggestions_article", "tenant", "article_id", "started_at"),  # an article's latest title
)

# One row per alert raised on a call (issue 10 §2's ``alert`` events), acknowledged or not.
call_alerts_table = sa.Table(
    "call_alerts",
    metadata,
    sa.Column("call_id", sa.String(128), primary_key=True),
    sa.Column("alert_id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("agent", sa.String(64), nullable=True),
    sa.Column("team", sa.String(64), nullable=True),
    sa.Column("campaign", sa.String(64), nullable=True),
    sa.Column("rule_id", sa.String(64), nullable=True),
    sa.Column("kind", sa.String(32), nullable=True),
    sa.Column("title", sa.String(300), nullable=True),
    sa.Column("acknowledged", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_call_alerts_tenant_started", "tenant", "started_at"),
)

# Signed value of each label, for the call's mean and trend.
_SIGN = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}


def _merged_length(intervals: Iterable[tuple[float, float]]) -> float:
    """Seconds covered by the union of (start, end) intervals."""
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return total


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Seconds during which both sides speak (each side's intervals merged first)."""
    return max(0.0, _merged_length(a) + _merged_length(b) - _merged_length(a + b))


def _signed(sentiment: dict[str, Any] | None) -> float | None:
    if not sentiment or sentiment.get("label") not in _SIGN:
        return None
    return _SIGN[sentiment["label"]] * float(sentiment.get("score") or 1.0)


def compute_stats(call: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The stats row of ``call`` (a call record as ``GET /v1/calls/{id}`` shows it, with datetimes
    for ``started_at``/``ended_at``) from its recorded events, in order."""
    finals = [e for e in events if e.get("type") == "transcript.final"]
    by_speaker: dict[str, list[tuple[float, float]]] = {"customer": [], "agent": []}
    language_seconds: dict[str, float] = {}
    labels = {label: 0 for label in SENTIMENTS}
    signed: list[float] = []
    for event in finals:
        start, end = float(event.get("start") or 0.0), float(event.get("end") or 0.0)
        by_speaker.setdefault(event.get("speaker") or "customer", []).append((start, max(start, end)))
        if event.get("language"):
            language_seconds[event["language"]] = language_seconds.get(event["language"], 0.0) + max(0.0, end - start)
        if event.get("speaker") == "customer":
            value = _signed(event.get("sentiment"))
            if value is not None:
                labels[event["sentiment"]["label"]] += 1
                signed.append(value)
    started_at, ended_at = call["started_at"], call.get("ended_at")
    duration = (ended_at - started_at).total_seconds() if ended_at is not None else None
    speech_end = max((end for spans in by_speaker.values() for _, end in spans), default=0.0)
    timeline = max(duration or 0.0, speech_end)
    speech = _merged_length(by_speaker["customer"] + by_speaker["agent"])
    languages = sorted(language_seconds, key=lambda code: -language_seconds[code])
    feedback: dict[str, str] = {}
    for event in events:
        if event.get("type") == "suggestion.feedback":
            feedback[event["suggestion_id"]] = event["action"]  # the last word on each suggestion counts
    shown = {e["suggestion_id"] for e in events if e.get("type") == "suggestion" and not e.get("replaces")}
    mean = sum(signed) / len(signed) if signed else None
    third = max(1, len(signed) // 3)
    trend = (sum(signed[-third:]) / third - sum(signed[:third]) / third) if len(signed) >= 2 else None
    return {
        "call_id": call["call_id"], "tenant": call["tenant"], "started_at": started_at, "ended_at": ended_at,
        "agent": call.get("agent"), "team": call.get("team"), "campaign": call.get("campaign"),
        "end_reason": call.get("end_reason"), "duration_s": round(duration, 3) if duration is not None else None,
        "languages": "," + ",".join(languages) + "," if languages else "",
        "main_language": languages[0] if languages else call.get("language"),
        "customer_speech_s": round(_merged_length(by_speaker["customer"]), 3),
        "agent_speech_s": round(_merged_length(by_speaker["agent"]), 3),
        "silence_s": round(max(0.0, timeline - speech), 3),
        "overtalk_s": round(_overlap(by_speaker["customer"], by_speaker["agent"]), 3),
        "customer_utterances": len(by_speaker["customer"]), "agent_utterances": len(by_speaker["agent"]),
        "negative_utterances": labels["negative"], "neutral_utterances": labels["neutral"],
        "positive_utterances": labels["positive"],
        "sentiment": (None if mean is None else "negative" if mean < -0.2 else "positive" if mean > 0.2 else "neutral"),
        "sentiment_score": round(mean, 4) if mean is not None else None,
        "sentiment_trend": round(trend, 4) if trend is not None else None,
        "suggestions_shown": len(shown),
        "suggestions_used": sum(1 for s in shown if feedback.get(s) == "used"),
        "suggestions_edited": sum(1 for s in shown if feedback.get(s) == "edited"),
        "suggestions_dismissed": sum(1 for s in shown if feedback.get(s) == "dismissed"),
        "alerts": sum(1 for e in events if e.get("type") == "alert"),
        "notes": sum(1 for e in events if e.get("type") == "note"),
        **_compute(events),
    }


def _compute(events: list[dict[str, Any]]) -> dict[str, float]:
    compute = next((e for e in reversed(events) if e.get("type") == "call.compute"), None) or {}
    return {"asr_encoder_s": float(compute.get("asr_encoder_s") or 0.0),
            "asr_decoder_s": float(compute.get("asr_decoder_s") or 0.0),
            "energy_wh": float(compute.get("energy_wh") or 0.0)}


def _call_columns(call: dict[str, Any]) -> dict[str, Any]:
    return {"call_id": call["call_id"], "tenant": call["tenant"], "started_at": call["started_at"],
            "agent": call.get("agent"), "team": call.get("team"), "campaign": call.get("campaign")}


def suggestion_rows(call: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``call_suggestions`` rows of ``call``: each suggestion shown, its best source and the
    agent's last action on it."""
    feedback = {e["suggestion_id"]: e["action"] for e in events if e.get("type") == "suggestion.feedback"}
    rows, seen = [], set()
    for event in events:
        if event.get("type") != "suggestion" or event.get("replaces") or event["suggestion_id"] in seen:
            continue
        seen.add(event["suggestion_id"])
        source = (event.get("sources") or [{}])[0]
        rows.append({**_call_columns(call), "suggestion_id": event["suggestion_id"],
                     "article_id": source.get("article_id"), "title": (source.get("title") or None),
                     "language": source.get("language") or event.get("language"),
                     "action": feedback.get(event["suggestion_id"])})
    return rows


def alert_rows(call: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``call_alerts`` rows of ``call``: each alert raised, acknowledged or not."""
    acknowledged = {e.get("alert_id") for e in events if e.get("type") == "alert.ack"}
    rows, seen = [], set()
    for event in events:
        alert_id = event.get("alert_id")
        if event.get("type") != "alert" or not alert_id or alert_id in seen:
            continue
        seen.add(alert_id)
        rows.append({**_call_columns(call), "alert_id": alert_id, "rule_id": event.get("rule_id"),
                     "kind": event.get("kind"), "title": (event.get("title") or None),
                     "acknowledged": alert_id in acknowledged})
    return rows


class CallStats:
    """The ``call_stats`` table: written from a call's record, read by history and the dashboard."""

    table = call_stats_table

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        ensure_schema(engine, metadata)

    def update(self, call: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
        """Recompute and store the rows of ``call`` (datetimes for started_at/ended_at): its
        ``call_stats`` row, its ``call_suggestions`` and its ``call_alerts``."""
        row = compute_stats(call, events)
        suggestions, alerts = suggestion_rows(call, events), alert_rows(call, events)
        with self.engine.begin() as conn:
            updated = conn.execute(call_stats_table.update()
                                   .where(call_stats_table.c.call_id == row["call_id"]).values(**row)).rowcount
            if not updated:
                conn.execute(call_stats_table.insert().values(**row))
            for table, rows in ((call_suggestions_table, suggestions), (call_alerts_table, alerts)):
                conn.execute(table.delete().where(table.c.call_id == row["call_id"]))
                if rows:
                    conn.execute(table.insert(), rows)
        return row

    def insert_many(self, calls: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> int:
        """Insert the rows of many calls not stored yet, in one transaction (a backfill, the
        benchmark's 100,000 calls): ``calls`` is (call, its events) pairs. Returns the calls stored."""
        stats, suggestions, alerts = [], [], []
        for call, events in calls:
            stats.append(compute_stats(call, events))
            suggestions.extend(suggestion_rows(call, events))
            alerts.extend(alert_rows(call, events))
        with self.engine.begin() as conn:
            for table, rows in ((call_stats_table, stats), (call_suggestions_table, suggestions),
                                (call_alerts_table, alerts)):
                if rows:
                    conn.execute(table.insert(), rows)
        return len(stats)

    def suggestions(self, call_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(
                sa.select(call_suggestions_table).where(call_suggestions_table.c.call_id == call_id)).mappings()]

    def get(self, call_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(call_stats_table)
                               .where(call_stats_table.c.call_id == call_id)).mappings().first()
        return dict(row) if row else None

    def erase(self, call_ids: list[str]) -> int:
        if not call_ids:
            return 0
        with self.engine.begin() as conn:
            for table in (call_suggestions_table, call_alerts_table):
                conn.execute(table.delete().where(table.c.call_id.in_(call_ids)))
            return conn.execute(call_stats_table.delete().where(call_stats_table.c.call_id.in_(call_ids))).rowcount


def as_json(row: dict[str, Any]) -> dict[str, Any]:
    """A stats row for the API: datetimes in ISO 8601, languages as a list."""
    out = dict(row)
    for key in ("started_at", "ended_at"):
        if isinstance(out.get(key), datetime):
            out[key] = out[key].isoformat(timespec="milliseconds")
    out["languages"] = [code for code in (row.get("languages") or "").split(",") if code]
    return out
