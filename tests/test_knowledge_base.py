"""Knowledge base over HTTP: the seed content, adding articles, cross-lingual search, bad input."""

import httpx
import pytest


def search(floor, tenant: str = "default", **params) -> list[dict]:
    """The search of the tenant's agent (the seed knowledge base is the default tenant's)."""
    response = httpx.get(f"{floor.base_url}/v1/kb/search", headers=floor.headers("agent", tenant), params=params)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_seed_knowledge_base_is_loaded_in_french_with_translations(floor):
    articles = httpx.get(f"{floor.base_url}/v1/kb/articles", headers=floor.headers("trainer")).json()["articles"]
    french = {a["group_id"] for a in articles if a["language"] == "fr"}
    assert len(french) >= 40
    languages_per_group: dict[str, set] = {}
    for article in articles:
        languages_per_group.setdefault(article["group_id"], set()).add(article["language"])
    fully_translated = [g for g, langs in languages_per_group.items() if {"fr", "ar", "es", "en"} <= langs]
    assert len(fully_translated) >= 10


@pytest.mark.parametrize("question", [
    "J'ai perdu ma carte bancaire, comment la bloquer ?",
    "I lost my bank card, how can I block it?",
    "He perdido mi tarjeta del banco, ¿cómo la bloqueo?",
    "ضاعت بطاقتي البنكية، كيف يمكنني إيقافها؟",
])
def test_a_question_in_any_language_finds_the_lost_card_article(floor, question):
    results = search(floor, q=question, k=3)
    assert results[0]["group_id"] == "bank-card-lost-block"
    assert results[0]["score"] > results[-1]["score"] or len(results) == 1


def test_search_can_be_restricted_to_a_language(floor):
    results = search(floor, q="activer l'itinérance à l'étranger", k=5, language="es")
    assert results and {r["language"] for r in results} == {"es"}
    assert results[0]["group_id"] == "tel-roaming-activate"


def test_article_added_and_published_is_searchable_at_once_and_readable(floor):
    tenant, other = floor.add_tenant(), floor.add_tenant()
    body = {"title": "Horaires de l'agence de Fès", "body": "L'agence de Fès est ouverte du lundi au vendredi "
            "de 8h30 à 16h30 et le samedi matin.", "language": "fr", "tags": ["agence"], "publish": True}
    created = httpx.post(f"{floor.base_url}/v1/kb/articles", headers=floor.headers("trainer", tenant), json=body)
    assert created.status_code == 201
    article = created.json()
    assert article["id"] and article["tenant"] == tenant and article["group_id"] == article["id"]
    fetched = httpx.get(f"{floor.base_url}/v1/kb/articles/{article['id']}",
                        headers=floor.headers("agent", tenant)).json()
    assert fetched["title"] == body["title"] and fetched["tags"] == ["agence"]
    results = search(floor, tenant, q="What are the opening hours of the Fes branch?")
    assert [r["article_id"] for r in results] == [article["id"]]
    assert results[0]["snippet"].startswith("L'agence de Fès")
    assert search(floor, other, q="opening hours of the Fes branch") == []
    # Another tenant's article answers 404, as a missing one.
    stranger = httpx.get(f"{floor.base_url}/v1/kb/articles/{article['id']}", headers=floor.headers("trainer", other))
    assert stranger.status_code == 404 and stranger.json()["detail"]["code"] == "unknown_article"


@pytest.mark.parametrize("payload", [
    {"body": "no title", "language": "fr"},
    {"title": "t", "body": "b", "language": "de"},
    {"title": "   ", "body": "blank title", "language": "fr"},
    {"title": "t", "body": "b", "language": "fr", "tenant": "bad tenant!"},
    {"title": "t", "body": "b" * 60_000, "language": "fr"},
])
def test_invalid_article_is_refused(floor, payload):
    assert httpx.post(f"{floor.base_url}/v1/kb/articles", headers=floor.headers("trainer"),
                      json=payload).status_code == 422


def test_malformed_json_body_is_refused(floor):
    response = httpx.post(f"{floor.base_url}/v1/kb/articles", content=b"{not json",
                          headers={"content-type": "application/json", **floor.headers("trainer")})
    assert response.status_code == 422


def test_bad_search_parameters_are_refused(floor):
    url, agent = f"{floor.base_url}/v1/kb/search", floor.headers("agent")
    assert httpx.get(url, headers=agent, params={"q": ""}).status_code == 422
    assert httpx.get(url, headers=agent, params={"q": "x", "k": 0}).status_code == 422
    assert httpx.get(url, headers=agent, params={"q": "x", "language": "xx"}).status_code == 422


def test_unknown_article_is_404(floor):
    assert httpx.get(f"{floor.base_url}/v1/kb/articles/nope", headers=floor.headers("agent")).status_code == 404
    assert httpx.get(f"{floor.base_url}/v1/kb/articles/nope").status_code == 401  # who asks, first
