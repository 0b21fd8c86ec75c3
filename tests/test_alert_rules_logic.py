"""Alert rules applied to a call's events (analytics.alerts, analytics.phrases) and the floor's
row of a call (analytics.floor): the logic alone, on events shaped as the server emits them.
The same logic runs on real calls in test_floor.py."""

from __future__ import annotations

import sqlalchemy as sa
import pytest

from analytics.alerts import AlertRule, AlertRules, AlertWatch, RuleError
from analytics.floor import FloorCall, trend
from analytics.phrases import PhraseMatcher, fold


def final(text="", speaker="customer", start=0.0, end=1.0, sentiment=None, segment="s1", language="fr"):
    event = {"type": "transcript.final", "call_id": "c", "segment_id": segment, "speaker": speaker, "text": text,
             "start": start, "end": end, "language": language}
    if sentiment is not None:
        event["sentiment"] = {"label": sentiment, "score": 0.9}
    return event


def rule(kind, params, rule_id=None, campaign=None):
    return AlertRule(rule_id=rule_id or f"r-{kind}", tenant="t", campaign=campaign, kind=kind, title=kind,
                     params=params)


@pytest.mark.parametrize("phrase, said", [
    ("résilier", "Je veux RESILIER mon contrat."),
    ("RESILIER", "je veux résilier"),
    ("résili*", "la résiliation de mon abonnement"),
    ("avocat", "Mon avocat vous appellera !"),
    ("réclamation", "J'ai déposé une réclamation."),
    ("cancelar", "Quiero CANCELAR la suscripción"),
    ("reclamação", "quero fazer uma reclamacao"),
    ("lawyer", "I'll call my lawyer."),
    ("شكاية", "عندي شكايه على الخدمة"),  # teh marbuta / heh
    ("إلغاء الاشتراك", "أريد الغاء الإشتراك"),  # hamza forms
    ("محامي", "سأتصل بِمُحَامِي"),  # diacritics
    ("bghit nlghi", "Salam, BGHIT nlghi l'abonnement"),  # Darija, Latin script
    ("بغيت نلغي", "بغيت نلغي الاشتراك ديالي"),  # Darija, Arabic script
])
def test_phrases_match_across_case_accents_and_arabic_variants(phrase, said):
    assert PhraseMatcher([phrase]).find(said) == [phrase]


@pytest.mark.parametrize("phrase, said", [
    ("avocat", "des avocats"),  # whole words unless the phrase ends in *
    ("lawyer", "law yer"),
    ("bghit nlghi", "bghit walou"),
])
def test_phrases_do_not_match_other_words(phrase, said):
    assert PhraseMatcher([phrase]).find(said) == []


def test_fold():
    assert fold("L’Été, à Fès!") == "l ete a fes"
    assert fold("ـالسَّلَامُ عَلَيْكُمْ") == "السلام عليكم"


def test_sentiment_run_fires_once_per_run():
    watch = AlertWatch([rule("sentiment", {"count": 2})])
    fired = []
    for i, label in enumerate(["negative", "negative", "negative", "neutral", "negative", "negative"]):
        fired += [(i, a.kind) for a in watch.observe(final(sentiment=label, segment=f"s{i}", start=i, end=i + .5), i)]
    assert fired == [(1, "sentiment"), (5, "sentiment")]
    # the agent's negativity is not the customer's
    watch = AlertWatch([rule("sentiment", {"count": 1})])
    assert watch.observe(final(speaker="agent", sentiment="negative"), 1) == []


def test_phrase_rule_speaker_and_once_per_phrase():
    watch = AlertWatch([rule("phrase", {"phrases": ["avocat", "résilier"], "speaker": "customer"})])
    assert watch.observe(final("mon avocat", speaker="agent"), 1) == []
    first = watch.observe(final("mon avocat", segment="s2"), 2)
    assert [(a.kind, a.segment_id) for a in first] == [("phrase", "s2")] and "avocat" in first[0].detail
    assert watch.observe(final("mon avocat encore", segment="s3"), 3) == []
    assert len(watch.observe(final("je veux résilier", segment="s4"), 4)) == 1


def test_silence_from_the_clock():
    watch = AlertWatch([rule("silence", {"seconds": 5})])
    assert watch.observe(final(start=0, end=2), 2) == []
    assert watch.tick(6.5) == []
    clock = watch.tick(7.5)  # nobody since the clock read 2 s
    assert len(clock) == 1 and clock[0].segment_id is None
    assert watch.tick(30) == []  # once per silent stretch
    watch.observe({"type": "transcript.partial", "speaker": "agent"}, 31)
    assert watch.silence_now(40) == 0  # someone is speaking
    assert watch.finish() == []  # the clock caught it


def test_silence_of_a_timeline_that_came_faster_than_real_time():
    watch = AlertWatch([rule("silence", {"seconds": 5})])
    # The agent's utterance arrives first, though the customer spoke from 2 s to 9 s: no gap yet.
    assert watch.observe(final(speaker="agent", start=6.9, end=7.8, segment="a1"), 0.5) == []
    assert watch.observe(final(speaker="customer", start=2.0, end=9.0, segment="c1"), 0.6) == []
    watch.observe(final(speaker="customer", start=16.0, end=18.0, segment="c2"), 0.8)
    watch.observe(final(speaker="agent", start=18.5, end=19.0, segment="a2"), 0.9)
    assert watch.gaps() == [(2.0, "c1"), (7.0, "c2"), (pytest.approx(0.5), "a2")]
    assert watch.silence_s == pytest.approx(9.0)
    assert [(a.kind, a.segment_id) for a in watch.finish()] == [("silence", "c2")]


def test_duration_and_overtalk():
    watch = AlertWatch([rule("duration", {"seconds": 60}), rule("overtalk", {"seconds": 1.5})])
    assert watch.tick(59) == []
    assert [a.kind for a in watch.tick(61)] == ["duration"] and watch.tick(62) == []
    watch.observe(final(speaker="customer", start=0, end=4), 62)
    assert watch.observe(final(speaker="agent", start=3, end=5, segment="a1"), 63) == []  # 1 s over
    fired = watch.observe(final(speaker="agent", start=3.2, end=3.9, segment="a2"), 64)  # 1.7 s in all
    assert [a.kind for a in fired] == ["overtalk"] and watch.overtalk_s == pytest.approx(1.7)


def test_floor_row_follows_sentiment_suggestions_and_alerts():
    row = FloorCall("c", "t", agent="a", team=None, campaign="k", started_at="2026-01-01T00:00:00.000+00:00")
    for i, label in enumerate(["positive", "neutral", "negative", "negative"]):
        row.observe(final(sentiment=label, language="fr" if i < 3 else "ar"), "at")
    view = row.view()
    assert view["sentiment"]["label"] == "negative" and view["sentiment_trend"] == "falling"
    assert view["languages"] == ["fr", "ar"]
    row.observe({"type": "suggestion", "suggestion_id": "g1", "text": "Réponse", "sources": [{"title": "T"}]}, "at")
    assert row.observe({"type": "suggestion.feedback", "suggestion_id": "g1", "action": "used"}, "at")
    assert row.view()["last_suggestion"] == {"suggestion_id": "g1", "text": "Réponse", "title": "T", "action": "used"}
    row.observe({"type": "alert", "alert_id": "x", "kind": "phrase", "title": "t", "at": "at"}, "at")
    assert [a["alert_id"] for a in row.view()["alerts"]] == ["x"]
    row.observe({"type": "alert.ack", "alert_id": "x"}, "at")
    assert row.view()["alerts"] == []
    assert trend([0.0]) is None and trend([-0.9, 0.8]) == "rising" and trend([0.1, 0.1, 0.1]) == "steady"


def test_rules_store_validates_and_scopes(tmp_path):
    store = AlertRules(sa.create_engine(f"sqlite:///{tmp_path / 'rules.db'}"))
    wide = store.create("t", "silence", "Dead air", {"seconds": 30})
    mine = store.create("t", "phrase", "Churn", {"phrases": [" résilier "]}, campaign="telco")
    store.create("t", "duration", "Long", {"seconds": 600}, campaign="bank")
    store.create("u", "duration", "Other tenant", {"seconds": 1})
    assert mine.params == {"phrases": ["résilier"], "speaker": "any"}
    assert [r.rule_id for r in store.list("t", "telco", applicable=True)] == [wide.rule_id, mine.rule_id]
    assert [r.rule_id for r in store.list("t", "telco")] == [mine.rule_id]
    assert store.get("u", mine.rule_id) is None and store.update("u", mine.rule_id, {"title": "x"}) is None
    store.update("t", mine.rule_id, {"enabled": False})
    assert [r.rule_id for r in store.list("t", "telco", applicable=True)] == [wide.rule_id]
    for kind, params, code in [("nope", {}, "bad_kind"), ("sentiment", {"count": 0}, "bad_params"),
                               ("sentiment", {"count": 1.5}, "bad_params"), ("phrase", {"phrases": []}, "bad_params"),
                               ("phrase", {"phrases": ["?!"]}, "bad_params"), ("silence", {"seconds": "5"}, "bad_params"),
                               ("phrase", {"phrases": ["a"], "speaker": "bot"}, "bad_params")]:
        with pytest.raises(RuleError) as error:
            store.create("t", kind, "x", params)
        assert error.value.code == code
    assert store.delete("t", wide.rule_id) and not store.delete("t", wide.rule_id)
