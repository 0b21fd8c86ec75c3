"""Each call's row of figures (analytics.stats), computed from its events by hand-checked rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from analytics.dashboard import Dashboard, Filters
from analytics.stats import CallStats, alert_rows, as_json, compute_stats, suggestion_rows

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def final(speaker: str, start: float, end: float, language: str = "fr", label: str | None = None,
          score: float = 0.9) -> dict:
    event = {"type": "transcript.final", "speaker": speaker, "start": start, "end": end, "language": language,
             "text": "…", "segment_id": f"{speaker}-{start}"}
    if label:
        event["sentiment"] = {"label": label, "score": score}
    return event


CALL = {"call_id": "c1", "tenant": "default", "started_at": T0, "ended_at": T0 + timedelta(seconds=60),
        "agent": "agent", "team": "north", "campaign": "cards", "end_reason": "hangup", "language": "fr"}
EVENTS = [
    final("agent", 0.0, 4.0),
    final("customer", 3.0, 10.0, label="negative", score=0.8),  # 1 s over the agent
    final("customer", 12.0, 20.0, language="ar", label="negative", score=0.6),
    final("agent", 20.0, 30.0, label="positive"),  # the agent's sentiment is not the customer's
    final("customer", 30.0, 33.0, label="positive", score=1.0),
    {"type": "suggestion", "suggestion_id": "s1"},
    {"type": "suggestion", "suggestion_id": "s2"},
    {"type": "suggestion", "suggestion_id": "s3"},
    {"type": "suggestion", "suggestion_id": "s3b", "replaces": "s3"},  # the same suggestion, confirmed
    {"type": "suggestion.feedback", "suggestion_id": "s1", "action": "dismissed"},
    {"type": "suggestion.feedback", "suggestion_id": "s1", "action": "used"},  # the last word counts
    {"type": "suggestion.feedback", "suggestion_id": "s2", "action": "edited"},
    {"type": "alert", "alert_id": "a1"},
    {"type": "note", "note_id": "n1"},
]


def test_the_figures_of_a_call_match_those_computed_by_hand():
    row = compute_stats(CALL, EVENTS)
    assert row["duration_s"] == 60.0
    assert row["customer_speech_s"] == 7 + 8 + 3 and row["agent_speech_s"] == 4 + 10
    # Speech covers 0-10, 12-20, 20-30, 30-33 = 31 s of the 60 s call.
    assert row["silence_s"] == 29.0 and row["overtalk_s"] == 1.0
    assert row["languages"] == ",fr,ar," and row["main_language"] == "fr"  # 10 s of French, 8 of Arabic
    assert (row["negative_utterances"], row["neutral_utterances"], row["positive_utterances"]) == (2, 0, 1)
    # Mean of -0.8, -0.6, +1.0 = -0.1333: neutral; last third (+1.0) minus first third (-0.8).
    assert row["sentiment"] == "neutral" and row["sentiment_score"] == -0.1333
    assert row["sentiment_trend"] == 1.8
    assert (row["suggestions_shown"], row["suggestions_used"], row["suggestions_edited"],
            row["suggestions_dismissed"]) == (3, 1, 1, 0)
    assert row["alerts"] == 1 and row["notes"] == 1


def test_a_live_call_has_no_duration_and_a_call_without_sentiment_has_no_label():
    row = compute_stats({**CALL, "ended_at": None}, [final("customer", 0.0, 2.0)])
    assert row["duration_s"] is None and row["silence_s"] == 0.0
    assert row["sentiment"] is None and row["sentiment_trend"] is None


def test_rows_are_stored_updated_read_and_erased(tmp_path):
    stats = CallStats(sa.create_engine(f"sqlite:///{tmp_path / 'stats.db'}"))
    stats.update({**CALL, "ended_at": None}, EVENTS[:2])
    stats.update(CALL, EVENTS)
    stored = as_json(stats.get("c1"))
    assert stored["duration_s"] == 60.0 and stored["languages"] == ["fr", "ar"]
    assert stored["started_at"] == "2026-12-01T09:00:00.000+00:00"
    assert stats.erase(["c1", "unknown"]) == 1 and stats.get("c1") is None


def test_each_suggestion_shown_and_each_alert_is_a_row_with_the_agents_last_action():
    events = EVENTS[:5] + [
        {"type": "suggestion", "suggestion_id": "s1", "language": "fr",
         "sources": [{"article_id": "art-1", "title": "Carte bloquée", "language": "fr", "score": 0.8},
                     {"article_id": "art-2", "title": "Autre", "language": "fr", "score": 0.5}]},
        {"type": "suggestion", "suggestion_id": "s2", "language": "ar",
         "sources": [{"article_id": "art-2", "title": "Autre", "language": "ar", "score": 0.7}]},
        {"type": "suggestion", "suggestion_id": "s2b", "replaces": "s2", "sources": []},
        {"type": "suggestion.feedback", "suggestion_id": "s1", "action": "dismissed"},
        {"type": "suggestion.feedback", "suggestion_id": "s1", "action": "edited"},
        {"type": "alert", "alert_id": "a1", "rule_id": "r-legal", "kind": "phrase", "title": "Avocat"},
        {"type": "alert", "alert_id": "a2", "rule_id": "r-long", "kind": "duration", "title": "Long call"},
        {"type": "alert.ack", "alert_id": "a1", "by": "supervisor"},
        {"type": "call.compute", "asr_encoder_s": 1.25, "asr_decoder_s": 0.5, "energy_wh": 0.0316},
    ]
    suggestions = suggestion_rows(CALL, events)
    assert [(r["suggestion_id"], r["article_id"], r["title"], r["action"]) for r in suggestions] == [
        ("s1", "art-1", "Carte bloquée", "edited"), ("s2", "art-2", "Autre", None)]
    assert all(r["agent"] == "agent" and r["team"] == "north" and r["campaign"] == "cards" for r in suggestions)
    alerts = alert_rows(CALL, events)
    assert [(r["alert_id"], r["rule_id"], r["kind"], r["acknowledged"]) for r in alerts] == [
        ("a1", "r-legal", "phrase", True), ("a2", "r-long", "duration", False)]
    row = compute_stats(CALL, events)
    assert (row["asr_encoder_s"], row["asr_decoder_s"], row["energy_wh"]) == (1.25, 0.5, 0.0316)
    assert compute_stats(CALL, EVENTS)["energy_wh"] == 0.0  # a call recorded before compute was measured


def test_the_dashboard_adds_up_stored_calls_on_sqlite(tmp_path):
    """The same queries on SQLite (the default database): two calls, hand-counted."""
    stats = CallStats(sa.create_engine(f"sqlite:///{tmp_path / 'stats.db'}"))
    second = {**CALL, "call_id": "c2", "agent": "agent2", "campaign": "loans",
              "started_at": T0 + timedelta(hours=26), "ended_at": T0 + timedelta(hours=26, seconds=30)}
    alert = {"type": "alert", "alert_id": "a1", "rule_id": "r-legal", "kind": "phrase", "title": "Avocat"}
    stats.insert_many([(CALL, EVENTS[:5] + [alert]), (second, [final("customer", 0.0, 10.0, language="es",
                                                                     label="negative")])])
    stats.update(CALL, EVENTS[:5] + [alert, {"type": "alert.ack", "alert_id": "a1"}])  # rebuilt, not doubled
    board = Dashboard(stats.engine, gaps_opened=lambda tenant, start, end, campaign: [("2026-12-01", 4)])
    every = Filters("default", T0 - timedelta(days=1), T0 + timedelta(days=3))
    assert board.chart("calls_per_day", every).rows == [{"day": "2026-12-01", "calls": 1},
                                                        {"day": "2026-12-02", "calls": 1}]
    hours = board.chart("calls_per_hour", every).rows
    assert hours[9] == {"hour": 9, "calls": 1} and hours[11] == {"hour": 11, "calls": 1}
    assert board.chart("handle_time", every).rows[1] == {"day": "2026-12-02", "calls": 1, "avg_handle_s": 30.0}
    assert board.chart("language_mix", every).rows == [{"language": "es", "calls": 1}, {"language": "fr", "calls": 1}]
    assert board.chart("sentiment", every).rows == [{"sentiment": "negative", "calls": 1, "utterances": 3},
                                                    {"sentiment": "neutral", "calls": 1, "utterances": 0},
                                                    {"sentiment": "positive", "calls": 0, "utterances": 1}]
    assert board.chart("alerts_per_rule", every).rows == [
        {"rule_id": "r-legal", "kind": "phrase", "title": "Avocat", "alerts": 1, "acknowledged": 1}]
    assert board.chart("knowledge_gaps", every).rows == [{"day": "2026-12-01", "opened": 4}]
    loans = Filters("default", every.start, every.end, campaign="loans")
    assert board.chart("totals", loans).rows[0]["calls"] == 1
    assert board.chart("totals", Filters("other", every.start, every.end)).rows[0]["calls"] == 0
    assert board.chart("totals", Filters("default", every.start, every.end, team="south")).rows[0]["calls"] == 0
    assert stats.erase(["c1"]) == 1 and board.chart("alerts_per_rule", every).rows == []
