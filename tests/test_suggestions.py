"""Suggestions: a customer's question, spoken, brings up the knowledge-base article that answers it."""

import httpx

from tests.conftest import fleurs_clip, transcribe_live

WEATHER_EN = {
    "title": "Extreme weather risks when travelling",
    "body": "Travellers are strongly advised to find out about any risk of extreme weather in the area "
            "they are visiting, since it may affect their travel plans. Check the local forecast and alerts.",
    "language": "en", "tags": ["travel", "weather"],
}
WEATHER_ES = {
    "title": "Riesgos de clima extremo al viajar",
    "body": "Se recomienda a los viajeros informarse sobre cualquier riesgo de clima extremo en la zona "
            "que visitan, ya que puede afectar sus planes de viaje. Consulte el pronóstico local.",
    "language": "es", "tags": ["viaje", "clima"],
}
PYRAMIDS_EN = {
    "title": "The Great Pyramid of Giza",
    "body": "Built by the Egyptians in the third century BC, the Great Pyramid honours a dead pharaoh.",
    "language": "en",
}


def add_article(floor, tenant: str, article: dict) -> dict:
    response = httpx.post(f"{floor.base_url}/v1/kb/articles", headers=floor.headers("trainer", tenant),
                          json={**article, "publish": True})
    assert response.status_code == 201, response.text
    return response.json()


async def test_spoken_spanish_question_gets_the_english_article_that_answers_it(floor):
    tenant = floor.add_tenant()
    weather = add_article(floor, tenant, WEATHER_EN)
    add_article(floor, tenant, PYRAMIDS_EN)
    clip, _ = fleurs_clip("es", 0)  # "se recomienda enfáticamente a los viajeros que se informen…"
    events = await transcribe_live(floor, clip, tenant=tenant)
    finals = {e["segment_id"]: e for e in events if e["type"] == "transcript.final"}
    suggestions = [e for e in events if e["type"] == "suggestion"]
    assert suggestions, "the customer's question got no suggestion"
    suggestion = suggestions[0]
    assert suggestion["for_segment_id"] in finals
    best = suggestion["sources"][0]
    assert best["article_id"] == weather["id"] and best["title"] == WEATHER_EN["title"]
    assert 0.35 <= best["score"] <= 1.0
    assert all(s["article_id"] != weather["id"] or s is best for s in suggestion["sources"])
    assert suggestion["text"] == WEATHER_EN["body"] and suggestion["language"] == "en"
    call = httpx.get(f"{floor.base_url}/v1/calls/{suggestion['call_id']}",
                     headers=floor.headers("supervisor", tenant)).json()
    assert [s["suggestion_id"] for s in call["suggestions"]] == [s["suggestion_id"] for s in suggestions]


async def test_suggestion_is_shown_in_the_customers_language_when_a_variant_exists(floor):
    tenant = floor.add_tenant()
    english = add_article(floor, tenant, WEATHER_EN)
    spanish = add_article(floor, tenant, {**WEATHER_ES, "group_id": english["group_id"]})
    assert spanish["group_id"] == english["group_id"]
    clip, _ = fleurs_clip("es", 0)
    events = await transcribe_live(floor, clip, tenant=tenant)
    suggestion = next(e for e in events if e["type"] == "suggestion")
    assert suggestion["language"] == "es"
    assert suggestion["text"] == WEATHER_ES["body"]
    assert suggestion["sources"][0]["article_id"] == spanish["id"]
    assert len({s["article_id"] for s in suggestion["sources"]}) == len(suggestion["sources"])


async def test_question_the_knowledge_base_cannot_answer_gets_no_suggestion(floor):
    tenant = floor.add_tenant()
    add_article(floor, tenant, PYRAMIDS_EN)
    clip, _ = fleurs_clip("es", 0)
    events = await transcribe_live(floor, clip, tenant=tenant)
    assert any(e["type"] == "transcript.final" for e in events)
    assert not [e for e in events if e["type"] == "suggestion"]


async def test_feedback_on_a_suggestion_is_recorded_and_published(floor):
    tenant = floor.add_tenant()
    add_article(floor, tenant, WEATHER_EN)
    clip, _ = fleurs_clip("es", 0)
    events = await transcribe_live(floor, clip, tenant=tenant, agent=floor.username("agent", tenant))
    suggestion = next(e for e in events if e["type"] == "suggestion")
    url = f"{floor.base_url}/v1/calls/{suggestion['call_id']}/suggestions/{suggestion['suggestion_id']}/feedback"
    agent = floor.headers("agent", tenant)  # the agent who took the call
    edited = {"action": "edited", "text": "Please check the forecast before you go."}
    response = httpx.post(url, headers=agent, json=edited)
    assert response.status_code == 200
    assert response.json()["type"] == "suggestion.feedback"
    call = httpx.get(f"{floor.base_url}/v1/calls/{suggestion['call_id']}", headers=agent).json()
    assert call["suggestions"][0]["feedback"] == {"action": "edited", "text": "Please check the forecast before you go."}
    assert httpx.post(url, headers=agent, json={"action": "liked"}).status_code == 422
    missing = httpx.post(url.replace(suggestion["suggestion_id"], "nope"), headers=agent, json={"action": "used"})
    assert missing.status_code == 404 and missing.json()["detail"]["code"] == "unknown_suggestion"
    # Only the call's agent gives feedback: another agent does not see the call, others may not.
    other_agent = httpx.post(url, headers=floor.headers("agent2", tenant), json={"action": "used"})
    assert other_agent.status_code == 404 and other_agent.json()["detail"]["code"] == "unknown_call"
    supervisor = httpx.post(url, headers=floor.headers("supervisor", tenant), json={"action": "used"})
    assert supervisor.status_code == 403 and supervisor.json()["detail"]["code"] == "forbidden"
    assert httpx.post(url, json={"action": "used"}).status_code == 401
