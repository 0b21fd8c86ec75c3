"""A call's campaign scopes its suggestions.

The rule (knowledge_base/, retrieval/stores.py ``SearchFilter``): an article with a campaign
serves the calls of that campaign; an article without one is shared by every campaign of its
tenant. A call of campaign C is answered from C's articles and the shared ones, never from
another campaign's; a call without a campaign is answered from all the tenant's articles (the
best wins, whatever its campaign). Telephony platforms name the campaign in their own metadata
(Twilio customParameters, AudioHook customConfig, FreeSWITCH metadata: all through
assistant/telephony/driver.py); the native start message has an optional ``campaign``.
"""

from __future__ import annotations

import httpx
import pytest

from assistant.ingest import ProtocolError, parse_start
from assistant.simulate import Pacer, TwilioPeer, new_platform_call_id
from tests.conftest import clip_audio, recorded_events, wait_for_call_end

_, QUESTION = clip_audio("es", 0)  # what the clip says, as an example question of both campaigns' articles
ALPHA = {"title": "Alpha Voyages : météo extrême pendant le séjour", "language": "fr", "campaign": "alpha",
         "body": "Alpha Voyages conseille à ses clients de vérifier les alertes météo de leur destination "
                 "avant le départ ; une tempête annoncée permet de reporter le voyage sans frais.",
         "questions": [QUESTION]}
BETA = {"title": "Beta Tours : risques climatiques en voyage", "language": "fr", "campaign": "beta",
        "body": "Chez Beta Tours, le guide vous informe chaque matin des risques climatiques ; en cas d'alerte "
                "rouge, l'excursion est remplacée par une visite en intérieur.",
        "questions": [QUESTION]}
SHARED = {"title": "Extreme weather risks when travelling", "language": "en",
          "body": "Travellers are strongly advised to find out about any risk of extreme weather in the area "
                  "they are visiting, since it may affect their travel plans. Check the local forecast and alerts."}


@pytest.fixture(scope="module")
def desk(floor):
    """A tenant of its own with one article per campaign answering the same question, and a shared one."""
    tenant = floor.add_tenant()
    ids = {}
    for name, article in (("alpha", ALPHA), ("beta", BETA), ("shared", SHARED)):
        response = httpx.post(f"{floor.base_url}/v1/kb/articles", headers=floor.headers("trainer", tenant),
                              json={**article, "publish": True})
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    return tenant, ids


async def twilio_call(floor, tenant: str, campaign: str | None) -> tuple[dict, list[dict]]:
    """The FLEURS question as a Twilio call of ``campaign``: (the call record, its suggestions)."""
    audio, _ = clip_audio("es", 0)
    call_sid = new_platform_call_id("twilio")
    params = {"tenant": tenant, **({"campaign": campaign} if campaign else {})}
    peer = TwilioPeer(f"{floor.ws_base}/v1/ingest/twilio", call_sid, 1, params)
    await peer.open()
    await peer.send(audio, Pacer(speed=0))
    await peer.end()
    assert peer.result["close_code"] == 1000, peer.result
    token = floor.token("supervisor", tenant)
    call = await wait_for_call_end(floor.base_url, call_sid, token=token)
    events = await recorded_events(floor.ws_base, call_sid, token=token)
    suggestions = [e for e in events if e["type"] == "suggestion"]
    assert suggestions, f"no suggestion for {[s['text'] for s in call['segments']]}"
    return call, suggestions


def sources(suggestions: list[dict]) -> set[str]:
    return {s["article_id"] for suggestion in suggestions for s in suggestion["sources"]}


@pytest.mark.parametrize("campaign, first", [
    ("alpha", "alpha"),
    ("beta", "beta"),
    ("gamma", "shared"),  # a campaign without articles of its own: the shared ones only
])
async def test_a_call_is_answered_from_its_campaign_and_the_shared_articles(floor, desk, campaign, first):
    tenant, ids = desk
    call, suggestions = await twilio_call(floor, tenant, campaign)
    assert call["campaign"] == campaign
    assert suggestions[0]["sources"][0]["article_id"] == ids[first], suggestions[0]["sources"]
    found = sources(suggestions)
    others = {ids[name] for name in ("alpha", "beta") if name != campaign}
    assert not found & others, f"another campaign's article was suggested: {found & others}"


async def test_a_call_without_a_campaign_is_answered_from_every_article(floor, desk):
    tenant, ids = desk
    call, suggestions = await twilio_call(floor, tenant, None)
    assert call["campaign"] is None
    # Both campaigns' articles carry the question itself; whichever matches best comes first.
    assert suggestions[0]["sources"][0]["article_id"] in {ids["alpha"], ids["beta"]}
    assert {ids["alpha"], ids["beta"]} <= sources(suggestions)


def test_the_native_start_message_names_an_optional_campaign():
    start = {"type": "start", "roles": ["customer"], "channels": 1}
    assert parse_start(start, ("fr",)).campaign is None
    assert parse_start({**start, "campaign": "alpha"}, ("fr",)).campaign == "alpha"
    for bad in ("", "x" * 65):
        with pytest.raises(ProtocolError) as refused:
            parse_start({**start, "campaign": bad}, ("fr",))
        assert refused.value.code == "bad_start"
