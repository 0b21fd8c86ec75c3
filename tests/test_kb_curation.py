"""The curation workflow over HTTP against the real server: draft → review → published →
archived, versions with diff and rollback, translations, roles, and what agents may see."""

from __future__ import annotations

import httpx
import pytest

PARKING = {
    "title": "Parking de l'agence de Tanger",
    "body": "Un parking gratuit de 40 places est réservé aux clients derrière l'agence de Tanger, "
            "accès par la rue Ibn Battouta, ouvert de 8h à 18h.",
    "reply": "Oui, un parking client gratuit se trouve derrière l'agence, accès rue Ibn Battouta.",
    "language": "fr",
    "tags": ["agence", "parking"],
    "questions": ["Est-ce qu'il y a un parking à l'agence de Tanger ?"],
    "campaign": "banking",
}
PARKING_EN = {  # PARKING's English translation
    "language": "en",
    "title": "Parking at the Tangier branch",
    "body": "Free customer parking with 40 spaces behind the Tangier branch, entrance on Ibn Battouta street, "
            "open 8 am to 6 pm.",
    "reply": "Yes, there is free customer parking behind the branch, entrance on Ibn Battouta street.",
}
QUESTION = "Where can I park my car at the Tangier branch?"


def desk(floor) -> tuple[str, str, tuple[dict, dict, dict, dict]]:
    """A tenant of its own on the shared server: (base URL, tenant, the Authorization headers of its
    trainer, a second trainer who reviews, its supervisor and its agent)."""
    tenant = floor.add_tenant()
    people = tuple(floor.headers(person, tenant) for person in ("trainer", "trainer2", "supervisor", "agent"))
    return floor.base_url, tenant, people


def call(method: str, url: str, headers: dict, expect: int = 200, **kwargs) -> dict:
    response = httpx.request(method, url, headers=headers, timeout=60, **kwargs)
    assert response.status_code == expect, f"{method} {url}: {response.status_code} {response.text}"
    return response.json()


def agent_answers(base: str, agent: dict, question: str = QUESTION, language: str | None = None) -> list[dict]:
    """What the agent (their Authorization header) is answered, in their own tenant."""
    params = {"q": question, **({"language": language} if language else {})}
    return call("GET", f"{base}/v1/kb/answers", agent, params=params)["answers"]


def agent_search_ids(base: str, agent: dict, question: str = QUESTION) -> list[str]:
    results = call("GET", f"{base}/v1/kb/search", agent, params={"q": question})["results"]
    return [r["article_id"] for r in results]


def test_draft_goes_through_review_to_agents_and_away_when_archived(floor):
    base, tenant, (TRAINER, REVIEWER, SUPERVISOR, AGENT) = desk(floor)
    draft = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json=PARKING)
    article_id = draft["id"]
    assert draft["status"] == "draft" and draft["version"] == 1 and draft["published_version"] is None
    assert draft["reply"] == PARKING["reply"] and draft["questions"] == PARKING["questions"]

    # A draft is invisible to agents: not searched, not answered, not listed, not readable.
    assert agent_search_ids(base, AGENT) == []
    assert agent_answers(base, AGENT) == []
    assert call("GET", f"{base}/v1/kb/articles", AGENT)["articles"] == []
    assert call("GET", f"{base}/v1/kb/articles/{article_id}", AGENT, 404)["detail"]["code"] == "unknown_article"
    # …while trainers and supervisors see it.
    assert [a["id"] for a in call("GET", f"{base}/v1/kb/articles", SUPERVISOR,
                                  params={"status": "draft"})["articles"]] == [article_id]

    in_review = call("POST", f"{base}/v1/kb/articles/{article_id}/submit", TRAINER, json={"note": "prêt"})
    assert in_review["status"] == "in_review"
    assert agent_answers(base, AGENT) == []  # still not live while in review

    published = call("POST", f"{base}/v1/kb/articles/{article_id}/publish", REVIEWER, json={"note": "relu"})
    assert published["status"] == "published" and published["published_version"] == published["version"] == 3
    assert agent_search_ids(base, AGENT) == [article_id]
    [answer] = agent_answers(base, AGENT, language="fr")
    # Agents get the agent-ready short reply rather than the whole body.
    assert answer["article_id"] == article_id and answer["text"] == PARKING["reply"]
    assert answer["language"] == "fr" and answer["language_fallback"] is False

    # Editing a published article makes a draft; agents keep the published text meanwhile.
    new_reply = "Oui : parking client gratuit de 40 places derrière l'agence, de 8h à 18h."
    edited = call("PATCH", f"{base}/v1/kb/articles/{article_id}", TRAINER,
                  json={"reply": new_reply, "base_version": 3, "note": "horaires ajoutés"})
    assert edited["status"] == "draft" and edited["version"] == 4 and edited["published_version"] == 3
    assert agent_answers(base, AGENT)[0]["text"] == PARKING["reply"]
    assert call("GET", f"{base}/v1/kb/articles/{article_id}", AGENT)["reply"] == PARKING["reply"]
    assert call("GET", f"{base}/v1/kb/articles/{article_id}", TRAINER)["reply"] == new_reply

    call("POST", f"{base}/v1/kb/articles/{article_id}/submit", TRAINER)
    call("POST", f"{base}/v1/kb/articles/{article_id}/publish", REVIEWER)
    assert agent_answers(base, AGENT)[0]["text"] == new_reply

    archived = call("POST", f"{base}/v1/kb/articles/{article_id}/archive", TRAINER, json={"note": "agence fermée"})
    assert archived["status"] == "archived" and archived["published_version"] is None
    assert agent_search_ids(base, AGENT) == [] and agent_answers(base, AGENT) == []
    restored = call("POST", f"{base}/v1/kb/articles/{article_id}/restore", TRAINER)
    assert restored["status"] == "draft" and agent_answers(base, AGENT) == []

    history = call("GET", f"{base}/v1/kb/articles/{article_id}/versions", SUPERVISOR)["versions"]
    assert [(v["version"], v["action"], v["status"]) for v in history] == [
        (1, "created", "draft"), (2, "submitted", "in_review"), (3, "published", "published"),
        (4, "edited", "draft"), (5, "submitted", "in_review"), (6, "published", "published"),
        (7, "archived", "archived"), (8, "restored", "draft")]
    trainer, reviewer = floor.username("trainer", tenant), floor.username("trainer2", tenant)
    assert [v["author"] for v in history][:3] == [trainer, trainer, reviewer]
    assert history[3]["note"] == "horaires ajoutés" and history[3]["content"]["reply"] == new_reply
    assert history[0]["content"]["reply"] == PARKING["reply"]


def test_diff_between_versions_and_rollback(floor):
    base, tenant, (TRAINER, REVIEWER, SUPERVISOR, AGENT) = desk(floor)
    article = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={**PARKING, "publish": True})
    article_id = article["id"]
    assert article["status"] == "published" and article["version"] == 2
    bad_body = "Il n'y a pas de parking."
    call("PATCH", f"{base}/v1/kb/articles/{article_id}", TRAINER, json={"body": bad_body, "reply": "", "tags": ["agence"]})
    call("POST", f"{base}/v1/kb/articles/{article_id}/submit", TRAINER)
    call("POST", f"{base}/v1/kb/articles/{article_id}/publish", REVIEWER)  # version 5: a bad publish
    assert agent_answers(base, AGENT)[0]["text"] == bad_body

    diff = call("GET", f"{base}/v1/kb/articles/{article_id}/diff", SUPERVISOR,
                params={"from_version": 2, "to_version": 5})
    changed = {c["field"]: c for c in diff["changes"]}
    assert set(changed) == {"body", "reply", "tags"}  # same status, same title: not listed
    assert f"-{PARKING['body']}" in changed["body"]["diff"] and f"+{bad_body}" in changed["body"]["diff"]
    assert "-parking" in changed["tags"]["diff"]
    default = call("GET", f"{base}/v1/kb/articles/{article_id}/diff", TRAINER)  # the last change
    assert (default["from_version"], default["to_version"]) == (4, 5)
    assert [c["field"] for c in default["changes"]] == ["status"]

    # Rolling a published article back to a published version puts that version live at once.
    rolled = call("POST", f"{base}/v1/kb/articles/{article_id}/rollback", TRAINER, json={"version": 2})
    assert rolled["version"] == 6 and rolled["status"] == "published" and rolled["published_version"] == 6
    assert rolled["body"] == PARKING["body"] and rolled["reply"] == PARKING["reply"] and rolled["tags"] == PARKING["tags"]
    assert agent_answers(base, AGENT)[0]["text"] == PARKING["reply"]
    history = call("GET", f"{base}/v1/kb/articles/{article_id}/versions", TRAINER)["versions"]
    assert history[-1]["action"] == "rolled_back" and history[-1]["author"] == floor.username("trainer", tenant)
    assert call("GET", f"{base}/v1/kb/articles/{article_id}/diff", TRAINER,
                params={"from_version": 2, "to_version": 6})["changes"] == []

    # Rolling back to a draft version makes a draft; agents keep the live version.
    rolled = call("POST", f"{base}/v1/kb/articles/{article_id}/rollback", TRAINER, json={"version": 3})
    assert rolled["status"] == "draft" and rolled["body"] == bad_body and rolled["published_version"] == 6
    assert agent_answers(base, AGENT)[0]["text"] == PARKING["reply"]

    missing = call("POST", f"{base}/v1/kb/articles/{article_id}/rollback", TRAINER, 404, json={"version": 99})
    assert missing["detail"]["code"] == "unknown_version"


def test_translation_is_a_linked_variant_and_answers_follow_the_customers_language(floor):
    base, tenant, (TRAINER, REVIEWER, SUPERVISOR, AGENT) = desk(floor)
    source = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={**PARKING, "publish": True})
    english = call("POST", f"{base}/v1/kb/articles/{source['id']}/translations", TRAINER, 201, json=PARKING_EN)
    assert english["group_id"] == source["group_id"] and english["status"] == "draft"
    assert english["campaign"] == "banking"  # the source's campaign, not given again
    variants = call("GET", f"{base}/v1/kb/articles/{source['id']}/translations", TRAINER)["articles"]
    assert {v["language"]: v["id"] for v in variants} == {"fr": source["id"], "en": english["id"]}
    # Only the published variant is the agents'.
    assert [v["language"] for v in call("GET", f"{base}/v1/kb/articles/{source['id']}/translations",
                                        AGENT)["articles"]] == ["fr"]

    # No published English variant yet: the French original, with its language marked.
    [answer] = agent_answers(base, AGENT, language="en")
    assert answer["article_id"] == source["id"] and answer["language"] == "fr"
    assert answer["language_fallback"] is True and answer["requested_language"] == "en"

    call("POST", f"{base}/v1/kb/articles/{english['id']}/submit", TRAINER)
    call("POST", f"{base}/v1/kb/articles/{english['id']}/publish", REVIEWER)
    # Questions in any language find the article; an English-speaking customer gets the English text.
    for question in (QUESTION, "¿Dónde puedo aparcar en la sucursal de Tánger?", "Où se garer à l'agence de Tanger ?"):
        [answer] = agent_answers(base, AGENT, question=question, language="en")
        assert answer["article_id"] == english["id"] and answer["language_fallback"] is False
        assert answer["text"].startswith("Yes, there is free customer parking")
    [answer] = agent_answers(base, AGENT, language="fr")
    assert answer["article_id"] == source["id"] and answer["text"] == PARKING["reply"]

    again = call("POST", f"{base}/v1/kb/articles/{source['id']}/translations", TRAINER, 409,
                 json={"language": "en", "title": "Another", "body": "x"})
    assert again["detail"]["code"] == "variant_exists"


def test_roles_are_enforced_with_clear_error_codes(floor):
    base, tenant, (TRAINER, REVIEWER, SUPERVISOR, AGENT) = desk(floor)
    body = PARKING
    refused = call("POST", f"{base}/v1/kb/articles", AGENT, 403, json=body)
    assert refused["detail"]["code"] == "forbidden" and "trainer" in refused["detail"]["message"]
    assert call("POST", f"{base}/v1/kb/articles", SUPERVISOR, 403, json=body)["detail"]["code"] == "forbidden"
    admin = floor.headers("admin", tenant)  # administers the tenant; curation is not theirs
    assert call("POST", f"{base}/v1/kb/articles", admin, 403, json=body)["detail"]["code"] == "forbidden"
    assert call("POST", f"{base}/v1/kb/articles", floor.headers("ingest", tenant), 403, json=body)["detail"]["code"] \
        == "forbidden"
    assert call("POST", f"{base}/v1/kb/articles", {}, 401, json=body)["detail"]["code"] == "unauthenticated"
    assert call("GET", f"{base}/v1/kb/articles", {}, 401)["detail"]["code"] == "unauthenticated"
    forged = {"Authorization": "Bearer rft_forged", "X-Rafiq-Role": "trainer"}  # the old header means nothing
    assert call("POST", f"{base}/v1/kb/articles", forged, 401, json=body)["detail"]["code"] == "unauthenticated"
    # A trainer writes in their own tenant only.
    other_tenant = call("POST", f"{base}/v1/kb/articles", TRAINER, 403, json={**body, "tenant": "other"})
    assert other_tenant["detail"]["code"] == "other_tenant"

    article = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json=body)
    assert article["tenant"] == tenant
    for path in ("submit", "publish", "archive"):
        assert call("POST", f"{base}/v1/kb/articles/{article['id']}/{path}", AGENT, 403)["detail"]["code"] == \
            "forbidden"
    assert call("PATCH", f"{base}/v1/kb/articles/{article['id']}", AGENT, 403, json={"title": "x"})["detail"]["code"] \
        == "forbidden"
    assert call("GET", f"{base}/v1/kb/articles/{article['id']}/versions", AGENT, 403)["detail"]["code"] == \
        "forbidden"
    assert call("GET", f"{base}/v1/kb/gaps", AGENT, 403)["detail"]["code"] == "forbidden"
    # Another tenant's trainer and supervisor do not even see the article.
    stranger, stranger_supervisor = floor.headers("trainer", "other"), floor.headers("supervisor", "other")
    for method, path, who in (("GET", "", stranger), ("PATCH", "", stranger), ("POST", "/submit", stranger),
                              ("GET", "/versions", stranger_supervisor)):
        kwargs = {"json": {"title": "x"}} if method == "PATCH" else {}
        missing = call(method, f"{base}/v1/kb/articles/{article['id']}{path}", who, 404, **kwargs)
        assert missing["detail"]["code"] == "unknown_article"
    assert article["id"] not in {a["id"] for a in call("GET", f"{base}/v1/kb/articles", stranger)["articles"]}
    # Nothing the refused requests asked for happened.
    assert call("GET", f"{base}/v1/kb/articles/{article['id']}", TRAINER)["status"] == "draft"
    assert len(call("GET", f"{base}/v1/kb/articles/{article['id']}/versions", SUPERVISOR)["versions"]) == 1


def test_workflow_refusals_keep_the_article_as_it_was(floor):
    base, tenant, (TRAINER, REVIEWER, SUPERVISOR, AGENT) = desk(floor)
    article = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={
        "title": "Horaires d'été", "body": "", "language": "fr"})
    article_id = article["id"]
    # A draft cannot skip review, and an empty article cannot go to review.
    assert call("POST", f"{base}/v1/kb/articles/{article_id}/publish", TRAINER, 409)["detail"]["code"] == "bad_transition"
    assert call("POST", f"{base}/v1/kb/articles/{article_id}/submit", TRAINER, 409)["detail"]["code"] == \
        "incomplete_article"
    call("PATCH", f"{base}/v1/kb/articles/{article_id}", TRAINER, json={"body": "Ouvert de 9h à 15h en août."})

    # Two trainers edit the same version: the second one is told, and the first one's text stays.
    first = call("PATCH", f"{base}/v1/kb/articles/{article_id}", TRAINER,
                 json={"body": "Ouvert de 9h à 14h en août.", "base_version": 2})
    conflict = call("PATCH", f"{base}/v1/kb/articles/{article_id}", REVIEWER, 409,
                    json={"body": "Fermé en août.", "base_version": 2})
    assert conflict["detail"]["code"] == "version_conflict"
    current = call("GET", f"{base}/v1/kb/articles/{article_id}", TRAINER)
    assert current["body"] == first["body"] and current["version"] == 3

    # An edit that changes nothing makes no version.
    same = call("PATCH", f"{base}/v1/kb/articles/{article_id}", TRAINER, json={"body": "Ouvert de 9h à 14h en août."})
    assert same["version"] == 3

    call("POST", f"{base}/v1/kb/articles/{article_id}/archive", TRAINER)
    assert call("PATCH", f"{base}/v1/kb/articles/{article_id}", TRAINER, 409, json={"title": "x"})["detail"]["code"] \
        == "archived"
    assert call("POST", f"{base}/v1/kb/articles/{article_id}/submit", TRAINER, 409)["detail"]["code"] == "bad_transition"
    assert call("POST", f"{base}/v1/kb/articles/nope/submit", TRAINER, 404)["detail"]["code"] == "unknown_article"
    assert httpx.patch(f"{base}/v1/kb/articles/{article_id}", headers=TRAINER, json={"title": "  "}).status_code == 422


def test_trainer_search_filters_all_statuses(floor):
    base, tenant, (TRAINER, REVIEWER, SUPERVISOR, AGENT) = desk(floor)
    published = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={**PARKING, "publish": True})
    draft = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={
        "title": "Cartes prépayées", "body": "La carte prépayée se recharge en agence.", "language": "fr",
        "tags": ["carte"], "campaign": "banking"})
    english = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={
        "title": "Roaming packs", "body": "Roaming packs for Europe.", "language": "en", "campaign": "telecom",
        "tenant": tenant})

    def ids(**params) -> set[str]:
        return {a["id"] for a in call("GET", f"{base}/v1/kb/articles", TRAINER,
                                      params=params)["articles"]}

    assert ids() == {published["id"], draft["id"], english["id"]}
    assert ids(status="draft") == {draft["id"], english["id"]}
    assert ids(status="published") == {published["id"]}
    assert ids(language="en") == {english["id"]}
    assert ids(campaign="banking") == {published["id"], draft["id"]}
    assert ids(tag="carte") == {draft["id"]}
    assert ids(q="PRÉPAYÉE") == {draft["id"]}
    assert ids(q="rue ibn battouta") == {published["id"]}
    assert call("GET", f"{base}/v1/kb/articles", TRAINER, 422, params={"status": "live"})["detail"]["code"] == "bad_status"


@pytest.mark.parametrize("payload", [
    {"title": "t", "body": "b", "language": "fr", "reply": "r" * 2001},
    {"title": "t", "body": "b", "language": "fr", "questions": ["q" * 501]},
    {"title": "t", "body": "b", "language": "fr", "tags": "not a list"},
])
def test_invalid_curation_fields_are_refused(floor, payload):
    assert httpx.post(f"{floor.base_url}/v1/kb/articles", headers=floor.headers("trainer"), json=payload).status_code \
        == 422


def test_an_answer_is_scored_by_its_best_matching_variant(floor):
    # The shown text is the group's (in the customer's language), so its confidence is that of
    # whichever published variant matched the question best, not of the first-ranked one.
    base, tenant, (TRAINER, REVIEWER, SUPERVISOR, AGENT) = desk(floor)
    source = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={**PARKING, "publish": True})
    english = call("POST", f"{base}/v1/kb/articles/{source['id']}/translations", TRAINER, 201, json=PARKING_EN)
    call("POST", f"{base}/v1/kb/articles/{english['id']}/submit", TRAINER)
    call("POST", f"{base}/v1/kb/articles/{english['id']}/publish", REVIEWER)
    for question, language in ((QUESTION, "fr"), ("Y a-t-il un parking gratuit à l'agence de Tanger ?", "en")):
        results = call("GET", f"{base}/v1/kb/search", AGENT, params={"q": question})["results"]
        assert {r["language"] for r in results} == {"fr", "en"}
        [answer] = agent_answers(base, AGENT, question, language=language)
        assert answer["language"] == language
        assert answer["score"] == max(r["score"] for r in results)
