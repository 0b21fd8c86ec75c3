"""The search an agent types during a call: GET /v1/calls/{call_id}/answers answers from the
articles of the call's campaign and the shared ones, of the caller's tenant only."""

from __future__ import annotations

import httpx
import pytest

from tests.test_campaigns import desk, twilio_call  # noqa: F401  (fixture: a tenant with campaign articles)

QUESTION_PT = "Há alertas de tempestade no destino da minha viagem?"  # typed in Portuguese


@pytest.fixture(scope="module")
def alpha_call(floor, desk):  # noqa: F811
    import asyncio
    tenant, ids = desk
    call, _ = asyncio.run(twilio_call(floor, tenant, "alpha"))
    return tenant, ids, call["call_id"]


def answers(floor, call_id: str, q: str, person: str, tenant: str, **params) -> httpx.Response:
    return httpx.get(f"{floor.base_url}/v1/calls/{call_id}/answers", params={"q": q, **params},
                     headers=floor.headers(person, tenant), timeout=60)


def test_typed_search_is_answered_from_the_calls_campaign_and_shared_articles(floor, alpha_call):
    tenant, ids, call_id = alpha_call
    response = answers(floor, call_id, QUESTION_PT, "supervisor", tenant, language="fr")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["campaign"] == "alpha"
    found = [a["article_id"] for a in body["answers"]]
    assert set(found) == {ids["alpha"], ids["shared"]}, found  # never the other campaign's
    alpha = next(a for a in body["answers"] if a["article_id"] == ids["alpha"])
    assert alpha["language"] == "fr" and alpha["text"].startswith("Alpha Voyages") and alpha["score"] > 0.3


def test_typed_search_refuses_bad_input_and_other_tenants(floor, alpha_call):
    tenant, _, call_id = alpha_call
    for blank in ("", "   "):
        refused = answers(floor, call_id, blank, "supervisor", tenant)
        assert refused.status_code == 422 and refused.json()["detail"]["code"] == "empty_query", refused.text
    too_long = answers(floor, call_id, "x" * 501, "supervisor", tenant)
    assert too_long.status_code == 422
    bad_language = answers(floor, call_id, QUESTION_PT, "supervisor", tenant, language="xx")
    assert bad_language.status_code == 422 and bad_language.json()["detail"]["code"] == "bad_language"
    # Another tenant's supervisor, and an agent whose call it is not: as if the call did not exist.
    for person, other in (("supervisor", "other"), ("agent", tenant)):
        refused = answers(floor, call_id, QUESTION_PT, person, other)
        assert refused.status_code == 404 and refused.json()["detail"]["code"] == "unknown_call", refused.text
    assert answers(floor, call_id, QUESTION_PT, "trainer", tenant).status_code == 403
