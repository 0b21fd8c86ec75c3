"""The agent panel in a real Chromium against the real Rafiq app: suggestions shown while the
customer speaks, confirmed or replaced in the same card; a search the agent types.

Each test has a tenant of its own (its own knowledge base and agent); calls are real FLEURS
clips streamed at real-time pace, so the partials (and the speculative suggestions) happen as
in a live call.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import expect

from assistant.simulate import stream_audio
from speech.audio import decode_file
from tests.browser import browser, sign_in, watch  # noqa: F401  (fixtures)
from tests.conftest import fleurs_clip, new_call_id

# Every card element the panel shows, with the (suggestion id, provisional, first article) it went
# through, and whether it ever left the page: a swap in place keeps the element.
WATCH_CARDS = """() => {
    window.__cards = new Map();
    window.__removed = 0;
    const note = () => document.querySelectorAll('[data-testid="suggestion"]').forEach(el => {
        if (!window.__cards.has(el)) window.__cards.set(el, []);
        const states = window.__cards.get(el);
        const src = el.querySelector('[data-testid="suggestion-source"]');
        const now = [el.getAttribute("data-suggestion-id"), el.getAttribute("data-provisional"),
                     src ? src.getAttribute("data-article-id") : null].join("|");
        if (states[states.length - 1] !== now) states.push(now);
    });
    new MutationObserver(records => {
        for (const r of records) for (const n of r.removedNodes)
            if (n.nodeType === 1 && n.matches('[data-testid="suggestion"]')) window.__removed++;
        note();
    }).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
}"""


def add_article(floor, tenant: str, title: str, body: str, language: str, **extra) -> str:
    response = httpx.post(f"{floor.base_url}/v1/kb/articles", headers=floor.headers("trainer", tenant), timeout=60,
                          json={"title": title, "body": body, "language": language, "publish": True, **extra})
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
def tenant(floor) -> str:
    return floor.add_tenant()


@pytest.fixture
def page(browser, watch, floor, rafiq_server, tenant):
    """The panel, signed in as the test tenant's agent."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=rafiq_server, locale="fr-FR")
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    watch.attach(page)
    username = floor.username("agent", tenant)
    sign_in(page, rafiq_server, username, floor.passwords[username])
    page.goto("/")
    expect(page.locator("body")).to_have_attribute("data-following", "true")
    yield page
    ctx.close()


def play(page, floor, tenant: str, clip, prefix: str) -> str:
    """Stream ``clip`` at real-time pace as a call of the tenant's agent; wait until the panel saw it end."""
    call_id = new_call_id(prefix)
    url = f"{floor.ws_base}/v1/calls/{call_id}/audio"
    with ThreadPoolExecutor(1) as pool:
        streaming = pool.submit(lambda: asyncio.run(stream_audio(
            decode_file(clip), url, speed=1.0, api_key=floor.ingest_key(tenant), agent=floor.username("agent", tenant))))
        expect(page.locator("body")).to_have_attribute("data-call-id", call_id, timeout=60_000)
        assert not streaming.result(timeout=300)["errors"]
    expect(page.get_by_test_id("call-status")).to_have_attribute("data-status", "ended", timeout=120_000)
    return call_id


def cards(page) -> list[list[list[str]]]:
    return [[state.split("|") for state in states]
            for states in page.evaluate("() => Array.from(window.__cards.values())")]


def test_provisional_suggestion_is_confirmed_in_the_same_card(page, floor, tenant):
    """The customer asks about extreme weather (FLEURS es-0): the answer shows while they still
    speak, marked provisional, and the same card turns confirmed when their final words come."""
    weather = add_article(floor, tenant, "Riesgos de clima extremo al viajar",
                          "Se recomienda a los viajeros informarse sobre cualquier riesgo de clima extremo en la "
                          "zona que visitan, ya que puede afectar sus planes de viaje.", "es")
    page.evaluate(WATCH_CARDS)
    clip, _ = fleurs_clip("es", 0)
    call_id = play(page, floor, tenant, clip, "provisional")
    history = cards(page)
    assert len(history) == 1, history
    states = history[0]
    assert states[0][1:] == ["true", weather], states  # shown provisional first
    assert states[-1][1:] == ["false", weather], states  # then confirmed, same element
    assert states[-1][0] != states[0][0]  # under the confirming suggestion's id
    assert page.evaluate("() => window.__removed") == 0
    card = page.get_by_test_id("suggestion")
    expect(card).to_have_attribute("data-provisional", "false")
    expect(card.get_by_test_id("suggestion-provisional")).to_be_hidden()
    view = httpx.get(f"{floor.base_url}/v1/calls/{call_id}", headers=floor.headers("agent", tenant), timeout=30).json()
    assert [s["suggestion_id"] for s in view["suggestions"]] == [states[-1][0]]
    # A reload replays the call: one card, confirmed, no provisional one coming back.
    page.reload()
    expect(page.get_by_test_id("call-status")).to_have_attribute("data-status", "ended")
    expect(page.get_by_test_id("suggestion")).to_have_count(1)
    expect(page.get_by_test_id("suggestion")).to_have_attribute("data-suggestion-id", states[-1][0])


def test_provisional_suggestion_is_replaced_in_place_when_the_customer_goes_on(page, floor, tenant):
    """FLEURS es-0 starts like general travel advice ("se recomienda a los viajeros que se
    informen…") and ends on extreme weather: the first words bring up the travel-advice article,
    the whole sentence the weather one, drawn in the same card."""
    advice = add_article(floor, tenant, "Antes de viajar: recomendaciones",
                        "Se recomienda a los viajeros que se informen antes de salir sobre los documentos, las "
                        "vacunas y el seguro de viaje.", "es")
    weather = add_article(floor, tenant, "Alertas de clima extremo",
                           "Un riesgo de clima extremo en la zona visitada, como una tormenta o una ola de calor, "
                           "puede afectar sus planes: consulte las alertas meteorológicas.", "es")
    page.evaluate(WATCH_CARDS)
    clip, _ = fleurs_clip("es", 0)
    call_id = play(page, floor, tenant, clip, "replaced")
    history = cards(page)
    # Whichever card the travel-advice guess was in, that same element ended on the weather
    # article, confirmed.
    swapped = [states for states in history if states[0][1:] == ["true", advice]]
    assert swapped and swapped[0][-1][1:] == ["false", weather], history
    assert all(states[-1][1] == "false" for states in history), history
    assert page.evaluate("() => window.__removed") == 0
    view = httpx.get(f"{floor.base_url}/v1/calls/{call_id}", headers=floor.headers("agent", tenant), timeout=30).json()
    expect(page.get_by_test_id("suggestion")).to_have_count(len(view["suggestions"]))
    expect(page.get_by_test_id("suggestion-count")).to_have_text(str(len(view["suggestions"])))


QUESTIONS = {  # one question about lost cards, in each language a call may be in
    "fr": "J'ai perdu ma carte bancaire, que dois-je faire ?",
    "ar": "فقدت بطاقتي البنكية، ماذا أفعل؟",
    "es": "He perdido mi tarjeta bancaria, ¿qué hago?",
    "en": "I lost my bank card, what should I do?",
    "pt": "Perdi o meu cartão bancário, o que devo fazer?",
}


def test_agent_types_a_search_in_any_language_and_gets_the_answer(page, floor, tenant):
    lost = add_article(floor, tenant, "Carte perdue ou volée",
                       "Faites opposition tout de suite dans l'application (Carte > Opposition) ou au 0800 000 000, "
                       "puis commandez une nouvelle carte.", "fr")
    add_article(floor, tenant, "Changer d'adresse postale",
                "Allez dans Profil > Adresse et joignez un justificatif de domicile.", "fr")
    box = page.get_by_test_id("kb-search-input")
    for language, question in QUESTIONS.items():
        box.fill(question)
        box.press("Enter")
        first = page.get_by_test_id("kb-search-result").first
        expect(first).to_have_attribute("data-article-id", lost)
        expect(first.get_by_test_id("kb-search-text")).to_contain_text("opposition")
    # The search box speaks the page's language, RTL included.
    page.locator('.lang[data-lang="ar"]').click()
    expect(page.get_by_test_id("kb-search-submit")).to_have_text("بحث")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
