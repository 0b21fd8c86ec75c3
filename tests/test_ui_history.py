"""Call history in a real Chromium against the real server: the agent confirms the suggested
wrap-up code in their panel after a real call (FLEURS French, Whisper base); the supervisor finds
the call by searching its transcript on /supervisor/calls with the keyboard, opens the call page
(summary, wrap-up, transcript, suggestions, the quality score with its evidence — and overrides an
item with the keyboard —, the speech model's compute, the alerts and who acknowledged them),
exports the filtered list; the pages switch to Arabic (RTL); an agent cannot open them.

The clip is streamed as the agent's channel: the checklist is scored on the agent's speech only
(analytics/guidance.py)."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from assistant.simulate import stream_audio
from speech.audio import decode_file
from tests.browser import browser, sign_in, watch  # noqa: F401  (fixtures)
from tests.conftest import fleurs_clip, new_call_id

_shared: dict = {}


# Phrases the FLEURS French clip says (« nous sommes d'accord avec la déclaration... organisation... »)
# and one it does not, so the score is neither 0 nor 100 and an override changes it.
CHECKLIST = {"name": "Script test", "items": [
    {"id": "agree", "label": "Dire son accord", "phrases": ["nous sommes d'accord"]},
    {"id": "organisation", "label": "Parler de l'organisation", "required": False, "phrases": ["organisation"]},
    {"id": "closing", "label": "Formule de clôture", "phrases": ["merci de votre appel"]}]}
ALERT_RULE = {"kind": "phrase", "title": "Déclaration citée", "params": {"phrases": ["déclaration"]}}


@pytest.fixture(scope="module")
def tenant(floor) -> str:
    """A tenant with a checklist and a phrase alert rule, set before its calls stream."""
    name = floor.add_tenant()
    for path, body in (("/v1/checklists", CHECKLIST), ("/v1/alert-rules", ALERT_RULE)):
        created = httpx.post(f"{floor.base_url}{path}", json=body, headers=floor.headers("supervisor", name), timeout=30)
        assert created.status_code == 201, created.text
    return name


@pytest.fixture
def context(browser, rafiq_server, watch):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=rafiq_server, locale="fr-FR")
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


def _page(context, watch, floor, rafiq_server, person: str, tenant: str, next_path: str | None = None):
    page = context.new_page()
    watch.attach(page)
    username = floor.username(person, tenant)
    sign_in(page, rafiq_server, username, floor.passwords[username], next_path=next_path)
    return page


def _stream(floor, tenant: str, call_id: str, agent: str) -> dict:
    clip, _ = fleurs_clip("fr", 1)
    return asyncio.run(stream_audio(decode_file(clip), f"{floor.ws_base}/v1/calls/{call_id}/audio", speed=0,
                                    roles=["agent"], language="fr", api_key=floor.ingest_key(tenant), agent=agent))


def _view(floor, tenant: str, call_id: str, person: str = "supervisor") -> dict:
    response = httpx.get(f"{floor.base_url}/v1/calls/{call_id}", headers=floor.headers(person, tenant), timeout=30)
    response.raise_for_status()
    return response.json()


def test_the_agent_confirms_the_wrap_up_in_the_panel_after_the_call(context, watch, floor, rafiq_server, tenant):
    page = _page(context, watch, floor, rafiq_server, "agent", tenant)
    expect(page.locator("body")).to_have_attribute("data-following", "true")
    call_id = new_call_id("wrap")
    with ThreadPoolExecutor(1) as pool:
        streaming = pool.submit(_stream, floor, tenant, call_id, floor.username("agent", tenant))
        expect(page.locator("body")).to_have_attribute("data-call-id", call_id, timeout=60_000)
        assert not streaming.result(timeout=300)["errors"]
    expect(page.get_by_test_id("call-status")).to_have_attribute("data-status", "ended", timeout=120_000)
    card = page.get_by_test_id("wrapup")
    expect(card).to_be_visible(timeout=30_000)
    view = _view(floor, tenant, call_id)
    expect(page.get_by_test_id("wrapup-summary")).to_have_text(view["summary"])
    suggested = view["wrap_up_detail"]["suggested"]
    select = page.get_by_test_id("wrapup-code")
    expect(select).to_have_value(suggested)
    # The agent changes it with the keyboard and confirms.
    chosen = "complaint" if suggested != "complaint" else "billing"
    select.focus()
    select.select_option(chosen)
    page.keyboard.press("Tab")
    expect(page.get_by_test_id("wrapup-confirm")).to_be_focused()
    page.keyboard.press("Enter")
    expect(card).to_have_attribute("data-confirmed", chosen)
    expect(page.get_by_test_id("wrapup-status")).to_contain_text("Enregistré")
    after = _view(floor, tenant, call_id)
    assert after["wrap_up"] == chosen and after["wrap_up_detail"]["confirmed"] == chosen
    assert after["wrap_up_detail"]["by"] == floor.username("agent", tenant)
    _shared["call_id"], _shared["code"] = call_id, chosen


def _search_word(view: dict) -> str:
    text = " ".join(s["text"] for s in view["segments"])
    word = max(re.findall(r"\w+", text), key=len)
    return "".join(ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch)).upper()


def test_the_supervisor_finds_the_call_and_reads_its_page(context, watch, floor, rafiq_server, tenant):
    call_id = _shared.get("call_id")
    if call_id is None:
        call_id = new_call_id("hist-ui")
        _stream(floor, tenant, call_id, floor.username("agent", tenant))
    view = _view(floor, tenant, call_id)
    # The supervisor acknowledges the call's alert (the page then says who did).
    assert view["alerts"], "the clip says « déclaration »: the phrase rule raises an alert"
    acked = httpx.post(f"{floor.base_url}/v1/calls/{call_id}/alerts/{view['alerts'][0]['alert_id']}/ack",
                       headers=floor.headers("supervisor", tenant), timeout=30)
    assert acked.status_code == 200, acked.text
    page = _page(context, watch, floor, rafiq_server, "supervisor", tenant, next_path="/supervisor/calls")
    assert urlsplit(page.url).path == "/supervisor/calls"
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("filter-q")).to_be_focused()
    # Search the transcript, as typed by a person (upper case, no accents), Enter to search.
    page.keyboard.type(_search_word(view))
    page.keyboard.press("Enter")
    rows = page.get_by_test_id("history-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-call-id", call_id)
    assert "q=" in urlsplit(page.url).query  # the search is in the address, for reload and sharing
    # A filter that excludes it empties the list.
    page.get_by_test_id("filter-language").select_option("ar")
    page.get_by_test_id("filter-apply").click()
    expect(page.get_by_test_id("history-empty")).to_be_visible()
    page.get_by_test_id("filter-language").select_option("fr")
    page.get_by_test_id("filter-apply").click()
    expect(rows).to_have_count(1)
    # The export buttons carry the same filters; the CSV holds the call.
    href = page.get_by_test_id("export-csv").get_attribute("href")
    assert "language=fr" in href and "format=csv" in href
    exported = page.request.get(href)
    assert exported.ok and call_id in exported.text()
    # Keyboard to the call page.
    link = page.get_by_test_id("history-link").first
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/supervisor/calls/{call_id}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("call-summary")).to_have_text(view["summary"])
    expect(page.get_by_test_id("wrap-up-code")).to_contain_text(view["wrap_up"])
    if view["wrap_up_detail"]["confirmed"]:
        expect(page.get_by_test_id("wrap-up-by")).to_have_text(view["wrap_up_detail"]["by"])
    expect(page.get_by_test_id("call-segment")).to_have_count(len(view["segments"]))
    expect(page.get_by_test_id("call-suggestion")).to_have_count(len(view["suggestions"]))
    expect(page.get_by_test_id("sentiment-none").or_(page.get_by_test_id("sentiment-curve"))).to_be_visible()
    _check_alerts(page, floor, tenant, call_id)
    _check_compute(page, view)
    _check_quality(page, floor, tenant, call_id, view)
    # Arabic: right to left, the page's words translated.
    page.get_by_test_id("lang-switch-ar").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("#c-summary-t")).to_have_text("الملخص")
    page.get_by_test_id("back-to-history").click()
    expect(page.locator("#h-results-title")).to_have_text("المكالمات")


def _check_alerts(page, floor, tenant: str, call_id: str) -> None:
    alerts = _view(floor, tenant, call_id)["alerts"]
    shown = page.get_by_test_id("call-alert")
    expect(shown).to_have_count(len(alerts))
    first = shown.first
    expect(first.get_by_test_id("alert-title")).to_have_text(ALERT_RULE["title"])
    expect(first.get_by_test_id("alert-detail")).to_have_text(alerts[0]["detail"])
    expect(first).to_have_attribute("data-kind", "phrase")
    expect(first).to_contain_text("Mot-clé")
    expect(first).to_have_attribute("data-acknowledged", "true")
    expect(first.get_by_test_id("alert-ack")).to_contain_text(f"Acquittée par {floor.username('supervisor', tenant)}")


def _check_compute(page, view: dict) -> None:
    compute = view["compute"]
    assert compute and compute["asr_decodes"] > 0
    expect(page.get_by_test_id("call-compute")).to_be_visible()
    for testid, field in (("compute-encoder", "asr_encoder_s"), ("compute-decoder", "asr_decoder_s"),
                          ("compute-audio", "asr_audio_s"), ("compute-energy", "energy_wh")):
        shown = page.get_by_test_id(testid)
        assert float(shown.get_attribute("data-value")) == compute[field], testid
    expect(page.get_by_test_id("compute-energy")).to_contain_text("Wh")
    expect(page.get_by_test_id("compute-explained")).to_contain_text(f"pour « {compute['device']} »")


def _check_quality(page, floor, tenant: str, call_id: str, view: dict) -> None:
    quality = view["quality"]
    assert quality is not None, "the call followed the tenant's checklist: it has a score"
    section = page.get_by_test_id("call-quality")
    expect(section).to_be_visible()
    expect(page.get_by_test_id("quality-score")).to_have_text(str(quality["score"]))
    items = page.get_by_test_id("quality-item")
    expect(items).to_have_count(len(quality["items"]))
    passed = [item for item in quality["items"] if item["passed"] and item["evidence"]]
    assert passed, quality  # the clip says « nous sommes d'accord »
    for item in quality["items"]:
        row = section.locator(f'[data-testid="quality-item"][data-item-id="{item["item_id"]}"]')
        expect(row.get_by_test_id("quality-item-label")).to_have_text(item["label"])
        expect(row).to_have_attribute("data-passed", "true" if item["passed"] else "false")
        if item["evidence"]:
            expect(row.get_by_test_id("quality-evidence-text")).to_have_text(item["evidence"]["text"])
        else:
            expect(row.get_by_test_id("quality-evidence")).to_have_count(0)
    # The evidence takes a keyboard user to the utterance in the transcript.
    evidence = section.locator(f'[data-item-id="{passed[0]["item_id"]}"]').get_by_test_id("quality-evidence")
    evidence.focus()
    page.keyboard.press("Enter")
    expect(page.locator(f'[data-testid="call-segment"][data-segment-id="{passed[0]["evidence"]["segment_id"]}"]')).to_be_focused()
    # The supervisor marks a failed item passed with the keyboard; the score is the API's new one.
    failed = next(item for item in quality["items"] if not item["passed"])
    toggle = section.locator(f'[data-testid="quality-toggle"][data-item-id="{failed["item_id"]}"]')
    expect(toggle).to_have_text("Marquer réussi")
    toggle.focus()
    page.keyboard.press("Enter")
    row = section.locator(f'[data-testid="quality-item"][data-item-id="{failed["item_id"]}"]')
    expect(row).to_have_attribute("data-passed", "true")
    after = _view(floor, tenant, call_id)["quality"]
    assert after["score"] > quality["score"]
    expect(page.get_by_test_id("quality-score")).to_have_text(str(after["score"]))
    expect(row.get_by_test_id("quality-override")).to_contain_text(floor.username("supervisor", tenant))
    expect(row.get_by_test_id("quality-toggle")).to_be_focused()
    overridden = next(item for item in after["items"] if item["item_id"] == failed["item_id"])
    assert overridden["override"]["passed"] is True and overridden["override"]["by"] == floor.username("supervisor", tenant)


def test_agents_cannot_open_the_history_pages(context, watch, floor, rafiq_server, tenant):
    page = _page(context, watch, floor, rafiq_server, "agent", tenant)
    page.goto("/supervisor/calls")
    assert urlsplit(page.url).path == "/"
    page.goto("/supervisor/calls/anything")
    assert urlsplit(page.url).path == "/"
