"""Each call's row of figures (analytics.stats), computed from its events by hand-checked rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from analytics.stats import CallStats, as_json, compute_stats

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
