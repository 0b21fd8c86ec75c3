"""The curation workflow over HTTP against the real server: draft → review → published →
archived, versions with diff and rollback, translations, roles, and what agents may see."""

from __future__ import annotations

import uuid

import httpx
import pytest

TRAINER = {"X-Rafiq-Role": "trainer", "X-Rafiq-User": "amina.trainer"}
REVIEWER = {"X-Rafiq-Role": "trainer", "X-Rafiq-User": "karim.reviewer"}
SUPERVISOR = {"X-Rafiq-Role": "supervisor", "X-Rafiq-User": "sara.supervisor"}
AGENT = {"X-Rafiq-Role": "agent", "X-Rafiq-User": "youssef.agent"}

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


def new_tenant() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def call(method: str, url: str, headers: dict, expect: int = 200, **kwargs) -> dict:
    response = httpx.request(method, url, headers=headers, timeout=60, **kwargs)
    assert response.status_code == expect, f"{method} {url}: {response.status_code} {response.text}"
    return response.json()


def agent_answers(base: str, tenant: str, question: str = QUESTION, language: str | None = None) -> list[dict]:
    params = {"q": question, "tenant": tenant, **({"language": language} if language else {})}
    return call("GET", f"{base}/v1/kb/answers", AGENT, params=params)["answers"]


def agent_search_ids(base: str, tenant: str, question: str = QUESTION) -> list[str]:
    results = call("GET", f"{base}/v1/kb/search", AGENT, params={"q": question, "tenant": tenant})["results"]
    return [r["article_id"] for r in results]


def test_draft_goes_through_review_to_agents_and_away_when_archived(rafiq_server):
    base, tenant = rafiq_server, new_tenant()
    draft = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={**PARKING, "tenant": tenant})
    article_id = draft["id"]
    assert draft["status"] == "draft" and draft["version"] == 1 and draft["published_version"] is None
    assert draft["reply"] == PARKING["reply"] and draft["questions"] == PARKING["questions"]

    # A draft is invisible to agents: not searched, not answered, not listed, not readable.
    assert agent_search_ids(base, tenant) == []
    assert agent_answers(base, tenant) == []
    assert call("GET", f"{base}/v1/kb/articles", AGENT, params={"tenant": tenant})["articles"] == []
    assert call("GET", f"{base}/v1/kb/articles/{article_id}", AGENT, 404)["detail"]["code"] == "unknown_article"
    # …while trainers and supervisors see it.
    assert [a["id"] for a in call("GET", f"{base}/v1/kb/articles", SUPERVISOR,
                                  params={"tenant": tenant, "status": "draft"})["articles"]] == [article_id]

    in_review = call("POST", f"{base}/v1/kb/articles/{article_id}/submit", TRAINER, json={"note": "prêt"})
    assert in_review["status"] == "in_review"
    assert agent_answers(base, tenant) == []  # still not live while in review

    published = call("POST", f"{base}/v1/kb/articles/{article_id}/publish", REVIEWER, json={"note": "relu"})
    assert published["status"] == "published" and published["published_version"] == published["version"] == 3
    assert agent_search_ids(base, tenant) == [article_id]
    [answer] = agent_answers(base, tenant, language="fr")
    # Agents get the agent-ready short reply rather than the whole body.
    assert answer["article_id"] == article_id and answer["text"] == PARKING["reply"]
    assert answer["language"] == "fr" and answer["language_fallback"] is False

    # Editing a published article makes a draft; agents keep the published text meanwhile.
    new_reply = "Oui : parking client gratuit de 40 places derrière l'agence, de 8h à 18h."
    edited = call("PATCH", f"{base}/v1/kb/articles/{article_id}", TRAINER,
                  json={"reply": new_reply, "base_version": 3, "note": "horaires ajoutés"})
    assert edited["status"] == "draft" and edited["version"] == 4 and edited["published_version"] == 3
    assert agent_answers(base, tenant)[0]["text"] == PARKING["reply"]
    assert call("GET", f"{base}/v1/kb/articles/{article_id}", AGENT)["reply"] == PARKING["reply"]
    assert call("GET", f"{base}/v1/kb/articles/{article_id}", TRAINER)["reply"] == new_reply

    call("POST", f"{base}/v1/kb/articles/{article_id}/submit", TRAINER)
    call("POST", f"{base}/v1/kb/articles/{article_id}/publish", REVIEWER)
    assert agent_answers(base, tenant)[0]["text"] == new_reply

    archived = call("POST", f"{base}/v1/kb/articles/{article_id}/archive", TRAINER, json={"note": "agence fermée"})
    assert archived["status"] == "archived" and archived["published_version"] is None
    assert agent_search_ids(base, tenant) == [] and agent_answers(base, tenant) == []
    restored = call("POST", f"{base}/v1/kb/articles/{article_id}/restore", TRAINER)
    assert restored["status"] == "draft" and agent_answers(base, tenant) == []

    history = call("GET", f"{base}/v1/kb/articles/{article_id}/versions", SUPERVISOR)["versions"]
    assert [(v["version"], v["action"], v["status"]) for v in history] == [
        (1, "created", "draft"), (2, "submitted", "in_review"), (3, "published", "published"),
        (4, "edited", "draft"), (5, "submitted", "in_review"), (6, "published", "published"),
        (7, "archived", "archived"), (8, "restored", "draft")]
    assert [v["author"] for v in history][:3] == ["amina.trainer", "amina.trainer", "karim.reviewer"]
    assert history[3]["note"] == "horaires ajoutés" and history[3]["content"]["reply"] == new_reply
    assert history[0]["content"]["reply"] == PARKING["reply"]


def test_diff_between_versions_and_rollback(rafiq_server):
    base, tenant = rafiq_server, new_tenant()
    article = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={**PARKING, "tenant": tenant, "publish": True})
    article_id = article["id"]
    assert article["status"] == "published" and article["version"] == 2
    bad_body = "Il n'y a pas de parking."
    call("PATCH", f"{base}/v1/kb/articles/{article_id}", TRAINER, json={"body": bad_body, "reply": "", "tags": ["agence"]})
    call("POST", f"{base}/v1/kb/articles/{article_id}/submit", TRAINER)
    call("POST", f"{base}/v1/kb/articles/{article_id}/publish", REVIEWER)  # version 5: a bad publish
    assert agent_answers(base, tenant)[0]["text"] == bad_body

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
    assert agent_answers(base, tenant)[0]["text"] == PARKING["reply"]
    history = call("GET", f"{base}/v1/kb/articles/{article_id}/versions", TRAINER)["versions"]
    assert history[-1]["action"] == "rolled_back" and history[-1]["author"] == "amina.trainer"
    assert call("GET", f"{base}/v1/kb/articles/{article_id}/diff", TRAINER,
                params={"from_version": 2, "to_version": 6})["changes"] == []

    # Rolling back to a draft version makes a draft; agents keep the live version.
    rolled = call("POST", f"{base}/v1/kb/articles/{article_id}/rollback", TRAINER, json={"version": 3})
    assert rolled["status"] == "draft" and rolled["body"] == bad_body and rolled["published_version"] == 6
    assert agent_answers(base, tenant)[0]["text"] == PARKING["reply"]

    missing = call("POST", f"{base}/v1/kb/articles/{article_id}/rollback", TRAINER, 404, json={"version": 99})
    assert missing["detail"]["code"] == "unknown_version"


def test_translation_is_a_linked_variant_and_answers_follow_the_customers_language(rafiq_server):
    base, tenant = rafiq_server, new_tenant()
    source = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={**PARKING, "tenant": tenant, "publish": True})
    english = call("POST", f"{base}/v1/kb/articles/{source['id']}/translations", TRAINER, 201, json=PARKING_EN)
    assert english["group_id"] == source["group_id"] and english["status"] == "draft"
    assert english["campaign"] == "banking"  # the source's campaign, not given again
    variants = call("GET", f"{base}/v1/kb/articles/{source['id']}/translations", TRAINER)["articles"]
    assert {v["language"]: v["id"] for v in variants} == {"fr": source["id"], "en": english["id"]}
    # Only the published variant is the agents'.
    assert [v["language"] for v in call("GET", f"{base}/v1/kb/articles/{source['id']}/translations",
                                        AGENT)["articles"]] == ["fr"]

    # No published English variant yet: the French original, with its language marked.
    [answer] = agent_answers(base, tenant, language="en")
    assert answer["article_id"] == source["id"] and answer["language"] == "fr"
    assert answer["language_fallback"] is True and answer["requested_language"] == "en"

    call("POST", f"{base}/v1/kb/articles/{english['id']}/submit", TRAINER)
    call("POST", f"{base}/v1/kb/articles/{english['id']}/publish", REVIEWER)
    # Questions in any language find the article; an English-speaking customer gets the English text.
    for question in (QUESTION, "¿Dónde puedo aparcar en la sucursal de Tánger?", "Où se garer à l'agence de Tanger ?"):
        [answer] = agent_answers(base, tenant, question=question, language="en")
        assert answer["article_id"] == english["id"] and answer["language_fallback"] is False
        assert answer["text"].startswith("Yes, there is free customer parking")
    [answer] = agent_answers(base, tenant, language="fr")
    assert answer["article_id"] == source["id"] and answer["text"] == PARKING["reply"]

    again = call("POST", f"{base}/v1/kb/articles/{source['id']}/translations", TRAINER, 409,
                 json={"language": "en", "title": "Another", "body": "x"})
    assert again["detail"]["code"] == "variant_exists"


def test_roles_are_enforced_with_clear_error_codes(rafiq_server):
    base, tenant = rafiq_server, new_tenant()
    body = {**PARKING, "tenant": tenant}
    refused = call("POST", f"{base}/v1/kb/articles", AGENT, 403, json=body)
    assert refused["detail"]["code"] == "trainer_role_required" and "agent" in refused["detail"]["message"]
    assert call("POST", f"{base}/v1/kb/articles", SUPERVISOR, 403, json=body)["detail"]["code"] == "trainer_role_required"
    assert call("POST", f"{base}/v1/kb/articles", {"X-Rafiq-Role": "admin"}, 400, json=body)["detail"]["code"] == "bad_role"

    article = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json=body)
    for path in ("submit", "publish", "archive"):
        assert call("POST", f"{base}/v1/kb/articles/{article['id']}/{path}", AGENT, 403)["detail"]["code"] == \
            "trainer_role_required"
    assert call("PATCH", f"{base}/v1/kb/articles/{article['id']}", AGENT, 403, json={"title": "x"})["detail"]["code"] \
        == "trainer_role_required"
    assert call("GET", f"{base}/v1/kb/articles/{article['id']}/versions", AGENT, 403)["detail"]["code"] == \
        "curator_role_required"
    assert call("GET", f"{base}/v1/kb/gaps", AGENT, 403)["detail"]["code"] == "curator_role_required"
    # Nothing the refused requests asked for happened.
    assert call("GET", f"{base}/v1/kb/articles/{article['id']}", TRAINER)["status"] == "draft"
    assert len(call("GET", f"{base}/v1/kb/articles/{article['id']}/versions", SUPERVISOR)["versions"]) == 1


def test_workflow_refusals_keep_the_article_as_it_was(rafiq_server):
    base, tenant = rafiq_server, new_tenant()
    article = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={
        "title": "Horaires d'été", "body": "", "language": "fr", "tenant": tenant})
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


def test_trainer_search_filters_all_statuses(rafiq_server):
    base, tenant = rafiq_server, new_tenant()
    published = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={**PARKING, "tenant": tenant, "publish": True})
    draft = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={
        "title": "Cartes prépayées", "body": "La carte prépayée se recharge en agence.", "language": "fr",
        "tags": ["carte"], "campaign": "banking", "tenant": tenant})
    english = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={
        "title": "Roaming packs", "body": "Roaming packs for Europe.", "language": "en", "campaign": "telecom",
        "tenant": tenant})

    def ids(**params) -> set[str]:
        return {a["id"] for a in call("GET", f"{base}/v1/kb/articles", TRAINER,
                                      params={"tenant": tenant, **params})["articles"]}

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
def test_invalid_curation_fields_are_refused(rafiq_server, payload):
    assert httpx.post(f"{rafiq_server}/v1/kb/articles", headers=TRAINER, json=payload).status_code == 422


def test_an_answer_is_scored_by_its_best_matching_variant(rafiq_server):
    # The shown text is the group's (in the customer's language), so its confidence is that of
    # whichever published variant matched the question best, not of the first-ranked one.
    base, tenant = rafiq_server, new_tenant()
    source = call("POST", f"{base}/v1/kb/articles", TRAINER, 201, json={**PARKING, "tenant": tenant, "publish": True})
    english = call("POST", f"{base}/v1/kb/articles/{source['id']}/translations", TRAINER, 201, json=PARKING_EN)
    call("POST", f"{base}/v1/kb/articles/{english['id']}/submit", TRAINER)
    call("POST", f"{base}/v1/kb/articles/{english['id']}/publish", REVIEWER)
    for question, language in ((QUESTION, "fr"), ("Y a-t-il un parking gratuit à l'agence de Tanger ?", "en")):
        results = call("GET", f"{base}/v1/kb/search", AGENT, params={"q": question, "tenant": tenant})["results"]
        assert {r["language"] for r in results} == {"fr", "en"}
        [answer] = agent_answers(base, tenant, question, language=language)
        assert answer["language"] == language
        assert answer["score"] == max(r["score"] for r in results)
