"""In Chromium: the call-script editor (/checklists) for trainers and supervisors, and the agent
panel's script that ticks itself during the real demo call, with its reminder and the key-fact
chips that copy on click or Enter."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import browser, sign_in, watch  # noqa: F401  (fixtures)

DEMO_TIMEOUT_MS = 240_000  # the demo call plays at real-time pace (67 s) on a busy machine


@pytest.fixture
def context(browser, rafiq_server, watch):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=rafiq_server, locale="fr-FR")
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=rafiq_server)
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


def signed_in(context, watch, floor, person: str, tenant: str, path: str):  # noqa: F811
    page = context.new_page()
    watch.attach(page)
    username = floor.username(person, tenant)
    sign_in(page, floor.base_url, username, floor.passwords[username], next_path=path)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page


def test_trainers_write_a_campaigns_script_on_the_editor_page(context, watch, floor):  # noqa: F811
    tenant = floor.add_tenant()
    page = signed_in(context, watch, floor, "trainer", tenant, "/checklists")
    expect(page.get_by_test_id("checklist-empty")).to_be_visible()
    page.get_by_test_id("new-checklist").click()
    rows = page.get_by_test_id("item-row")
    expect(rows).to_have_count(5)  # the template: greeting, identity, need, answer, closing
    expect(rows.nth(0).get_by_test_id("item-label")).to_have_value("Greeting with the agent's name")

    page.get_by_test_id("field-name").fill("Ventes — accueil")
    page.get_by_test_id("field-campaign").fill("ventes")
    page.get_by_test_id("field-products").fill("Forfait 5G, Box Fibre")
    rows.nth(4).get_by_test_id("item-label").fill("Formule de clôture")
    page.get_by_test_id("add-item").click()
    new = page.get_by_test_id("item-row").nth(5)
    expect(new.get_by_test_id("item-label")).to_be_focused()
    page.keyboard.type("Proposer l'offre premium")
    new.get_by_test_id("item-required").uncheck()
    new.get_by_test_id("item-phrases").fill("offre premium\nالعرض المميز")
    page.get_by_test_id("field-name").press("Enter")  # Enter in a field saves, as a form does
    expect(page.get_by_test_id("saved-status")).to_have_text(re.compile("v1"))
    entry = page.get_by_test_id("checklist-entry")
    expect(entry).to_have_count(1)
    expect(entry.get_by_test_id("checklist-campaign")).to_have_text("ventes")

    stored = httpx.get(f"{floor.base_url}/v1/checklists", headers=floor.headers("agent", tenant), timeout=30).json()
    [checklist] = stored["checklists"]
    assert checklist["campaign"] == "ventes" and checklist["products"] == ["Forfait 5G", "Box Fibre"]
    assert checklist["updated_by"] == floor.username("trainer", tenant)
    by_id = {item["id"]: item for item in checklist["items"]}
    assert by_id["closing"]["label"] == "Formule de clôture" and by_id["closing"]["marks_end"] is True
    assert by_id["proposer-l-offre-premium"] == {
        "id": "proposer-l-offre-premium", "label": "Proposer l'offre premium", "required": False, "weight": 1.0,
        "phrases": ["offre premium", "العرض المميز"], "examples": [], "marks_end": False}

    # a step nothing can detect: refused with the reason, nothing changed, what was typed kept
    last = page.get_by_test_id("item-row").nth(5)
    last.get_by_test_id("item-phrases").fill("")
    page.get_by_test_id("save-checklist").click()
    expect(page.get_by_test_id("error")).to_contain_text("needs at least one phrase or example")
    expect(last.get_by_test_id("item-label")).to_have_value("Proposer l'offre premium")
    again = httpx.get(f"{floor.base_url}/v1/checklists/{checklist['id']}", headers=floor.headers("trainer", tenant), timeout=30)
    assert again.json()["version"] == 1 and len(again.json()["items"]) == 6
    last.get_by_test_id("remove-item").click()
    page.get_by_test_id("save-checklist").click()
    expect(page.get_by_test_id("saved-status")).to_have_text(re.compile("v2"))

    page.get_by_test_id("lang-switch-ar").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_test_id("new-checklist")).to_have_text("سيناريو جديد")
    page.get_by_test_id("lang-switch-en").click()
    expect(page.get_by_test_id("editor-title")).to_have_text(re.compile("Edit “Ventes — accueil” \\(v2\\)"))


def test_supervisors_open_the_editor_and_agents_are_sent_home(context, watch, floor):  # noqa: F811
    tenant = floor.add_tenant()
    page = signed_in(context, watch, floor, "supervisor", tenant, "/checklists")
    expect(page.get_by_test_id("new-checklist")).to_be_visible()
    page.get_by_test_id("new-checklist").click()
    page.get_by_test_id("field-name").fill("Toutes campagnes")
    page.get_by_test_id("save-checklist").click()
    expect(page.get_by_test_id("checklist-campaign")).to_have_text("Toutes les campagnes")
    # the page is not the agents': their home instead (they read the script in their panel)
    response = httpx.get(f"{floor.base_url}/checklists", headers=floor.headers("agent", tenant), timeout=30)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_the_panel_ticks_the_demo_calls_script_reminds_and_copies_facts(context, watch, floor):  # noqa: F811
    tenant = floor.add_tenant()
    created = httpx.post(f"{floor.base_url}/v1/checklists", headers=floor.headers("trainer", tenant), timeout=30,
                         json={"name": "Accueil", "products": ["roaming international", "box"]})
    assert created.status_code == 201, created.text
    page = signed_in(context, watch, floor, "agent", tenant, "/")
    page.get_by_test_id("demo-button").click()
    expect(page.locator("body")).to_have_attribute("data-call-id", re.compile(r"^demo-"))

    script = page.get_by_test_id("script-panel")
    expect(script).to_be_visible()
    expect(page.get_by_test_id("checklist")).to_be_hidden()  # the script replaces the hand-ticked list
    steps = page.get_by_test_id("script-step")
    expect(steps).to_have_count(5)
    greeting = page.locator('[data-testid="script-step"][data-item="greeting"]')
    # ticked by itself while the call is live, with what the agent said
    expect(greeting).to_have_attribute("data-state", "done", timeout=DEMO_TIMEOUT_MS)
    expect(page.get_by_test_id("call-status")).to_have_attribute("data-status", "live")
    expect(greeting.get_by_test_id("script-evidence")).to_contain_text("appelle")
    expect(page.locator('[data-testid="script-step"][data-item="identity"]')).to_have_attribute("data-state", "open")

    reminder = page.get_by_test_id("script-reminder")
    expect(reminder).to_be_visible(timeout=DEMO_TIMEOUT_MS)
    expect(reminder).to_contain_text("Identity verified")
    closing = page.locator('[data-testid="script-step"][data-item="closing"]')
    expect(closing).to_have_attribute("data-state", "done", timeout=DEMO_TIMEOUT_MS)
    expect(reminder).to_have_attribute("data-open", "identity,need")  # the closing, said, left it
    expect(page.get_by_test_id("script-progress")).to_have_text("3/5")

    chips = page.get_by_test_id("fact-chip")
    box = page.locator('[data-testid="fact-chip"][data-text="box"]')
    roaming = page.locator('[data-testid="fact-chip"][data-text="roaming international"]')
    expect(box).to_be_visible(timeout=DEMO_TIMEOUT_MS)
    box.click()
    expect(box).to_have_attribute("data-copied", "true")
    assert page.evaluate("navigator.clipboard.readText()") == "box"
    roaming.focus()
    page.keyboard.press("Enter")
    expect(roaming).to_have_attribute("data-copied", "true")
    assert page.evaluate("navigator.clipboard.readText()") == "roaming international"
    expect(page.get_by_test_id("fact-copied")).to_have_text("Copié : roaming international")
    assert chips.count() >= 2

    page.get_by_test_id("lang-switch-ar").click()
    expect(page.locator("#script-title")).to_have_text("سيناريو المكالمة")
    expect(box.locator(".chip__kind")).to_have_text("منتج")
    expect(page.get_by_test_id("call-status")).to_have_attribute("data-status", "ended", timeout=DEMO_TIMEOUT_MS)

    # a reload rebuilds the same script state from the call's record
    page.reload()
    expect(page.locator('[data-testid="script-step"][data-state="done"]')).to_have_count(3)
    expect(page.get_by_test_id("script-reminder")).to_have_attribute("data-open", "identity,need")
