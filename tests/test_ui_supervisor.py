"""The supervisors' pages in a real Chromium against the real Rafiq app: the live floor while a
real recorded call streams (its row, a phrase alert acknowledged from the keyboard, a note that
appears at once in the agent's own panel), and the alert rules editor driven from the keyboard.

Each test has a tenant of its own (``floor.add_tenant()``), so no other test's call is on its floor."""

from __future__ import annotations

import asyncio
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from playwright.sync_api import expect

from assistant.simulate import stream_audio
from tests.browser import browser, sign_in, watch  # noqa: F401  (fixtures)
from tests.conftest import clip_audio, new_call_id

SCREENSHOT = "/tmp/supervisor.png"


@pytest.fixture
def tenant(floor) -> str:
    return floor.add_tenant(f"sup{uuid.uuid4().hex[:8]}")


def _signed_in(browser, watch, floor, base_url: str, person: str, tenant: str, path: str):
    ctx = browser.new_context(viewport={"width": 1400, "height": 850}, base_url=base_url, locale="fr-FR")
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    watch.attach(page)
    username = floor.username(person, tenant)
    sign_in(page, base_url, username, floor.passwords[username], next_path=path)
    return ctx, page


def _stream(floor, audio, call_id: str, tenant: str, campaign: str, speed: float) -> dict:
    """Stream real audio as ``call_id`` of the tenant's agent, in a thread of its own (its own
    event loop, away from Playwright's)."""
    return asyncio.run(stream_audio(audio, f"{floor.ws_base}/v1/calls/{call_id}/audio", speed=speed,
                                    api_key=floor.ingest_key(tenant), agent=floor.username("agent", tenant),
                                    campaign=campaign))


def test_floor_follows_a_call_alert_acknowledged_and_note_reaches_the_agent(browser, watch, floor, rafiq_server,
                                                                          tenant):
    campaign = "telco"
    rule = httpx.post(f"{rafiq_server}/v1/alert-rules", headers=floor.headers("supervisor", tenant), timeout=30,
                      json={"kind": "phrase", "title": "Montagne", "campaign": campaign,
                            "params": {"phrases": ["terrain MONTAGNEUX"], "speaker": "customer"}})
    assert rule.status_code == 201, rule.text
    # A real call of about 45 s at real-time pace: « … terrain montagneux … » early, then more speech.
    first, reference = clip_audio("fr", 0)
    second, _ = clip_audio("fr", 1)
    third, _ = clip_audio("fr", 3)
    assert "terrain montagneux" in reference
    pause = np.zeros((1, 16000), dtype=np.float32)
    audio = np.concatenate([first, pause, second, pause, third], axis=1)

    agent_ctx, agent = _signed_in(browser, watch, floor, rafiq_server, "agent", tenant, "/")
    sup_ctx, sup = _signed_in(browser, watch, floor, rafiq_server, "supervisor", tenant, "/supervisor")
    try:
        assert urlsplit(sup.url).path == "/supervisor"
        expect(sup.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
        expect(sup.get_by_test_id("floor-empty")).to_be_visible()
        expect(agent.locator("body")).to_have_attribute("data-following", "true")
        call_id = new_call_id("floorui")
        with ThreadPoolExecutor(1) as pool:
            streaming = pool.submit(_stream, floor, audio, call_id, tenant, campaign, 1.0)
            row = sup.locator(f'[data-testid="floor-row"][data-call-id="{call_id}"]')
            expect(row).to_be_visible(timeout=60_000)
            expect(row.get_by_test_id("floor-agent")).to_have_text(floor.username("agent", tenant))
            expect(row.get_by_test_id("floor-campaign")).to_have_text(campaign)
            expect(row.get_by_test_id("floor-languages")).to_contain_text("FR", timeout=60_000)
            # The phrase alert appears on the floor; acknowledged from the keyboard.
            alert = row.get_by_test_id("floor-alert")
            expect(alert).to_have_attribute("data-kind", "phrase", timeout=60_000)
            expect(alert).to_contain_text("Montagne")
            expect(sup.get_by_test_id("floor-alert-count")).to_be_visible()
            alert_id = alert.get_attribute("data-alert-id")
            alert.get_by_test_id("floor-ack").focus()
            sup.keyboard.press("Enter")
            expect(row.get_by_test_id("floor-alert")).to_have_count(0)
            expect(row).to_have_attribute("data-alerts", "0")

            # A note, written from the keyboard, reaches the agent's panel while the call is live.
            expect(agent.locator("body")).to_have_attribute("data-call-id", call_id, timeout=60_000)
            row.get_by_test_id("floor-note").focus()
            sup.keyboard.press("Enter")
            expect(sup.get_by_test_id("floor-note-text")).to_be_focused()
            text = f"Proposez l'offre fidélité — {uuid.uuid4().hex[:4]}"
            sup.keyboard.type(text)
            sup.keyboard.press("Control+Enter")
            expect(sup.get_by_test_id("floor-note-status")).to_have_text("Note envoyée")
            note = agent.get_by_test_id("note")
            expect(note.get_by_test_id("note-text")).to_have_text(text, timeout=10_000)
            expect(note.get_by_test_id("note-author")).to_have_text(floor.username("supervisor", tenant))
            expect(note).to_have_attribute("data-fresh", "true")
            expect(agent.get_by_test_id("note-form")).to_be_hidden()  # agents read notes, do not write them
            sup.screenshot(path=SCREENSHOT, full_page=True)

            # "Open": the agent's panel, read-only, with the call's transcript and its notes; a
            # second note written there reaches the agent too.
            href = row.get_by_test_id("floor-open").get_attribute("href")
            assert href == f"/#call={call_id}"
            panel = sup_ctx.new_page()
            watch.attach(panel)
            panel.goto(href)
            expect(panel.locator("body")).to_have_attribute("data-role", "supervisor")
            expect(panel.get_by_test_id("current-call-id")).to_have_text(call_id)
            expect(panel.locator('[data-testid="segment"]').first).to_be_visible(timeout=60_000)
            expect(panel.get_by_test_id("note-text")).to_have_text(text)
            panel.get_by_test_id("note-input").focus()
            panel.keyboard.type("Pensez à reformuler")
            panel.keyboard.press("Control+Enter")
            expect(agent.get_by_test_id("note")).to_have_count(2, timeout=10_000)
            expect(agent.get_by_test_id("note").first.get_by_test_id("note-text")).to_have_text("Pensez à reformuler")
            expect(panel.get_by_test_id("note")).to_have_count(2)
            assert not streaming.result(timeout=300)["errors"]
        expect(row).to_have_count(0, timeout=120_000)  # the ended call leaves the floor
        expect(sup.get_by_test_id("floor-empty")).to_be_visible()
        # Reopened later, the call's panel still shows the note (recorded on the call).
        agent.reload()
        expect(agent.get_by_test_id("note-text")).to_have_text(["Pensez à reformuler", text])
    finally:
        agent_ctx.close()
        sup_ctx.close()
    events = httpx.get(f"{rafiq_server}/v1/audit", params={"action": "call.alert.ack"},
                       headers=floor.headers("admin", tenant), timeout=30).json()["entries"]
    assert [e["target"] for e in events] == [f"{call_id}/{alert_id}"]


def test_rules_editor_works_from_the_keyboard(browser, watch, floor, rafiq_server, tenant):
    ctx, page = _signed_in(browser, watch, floor, rafiq_server, "supervisor", tenant, "/supervisor/alerts")
    headers = floor.headers("supervisor", tenant)
    try:
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        expect(page.get_by_test_id("rule-empty")).to_be_visible()
        # A phrase rule: the kind select first, then Tab from field to field, Enter to save.
        page.get_by_test_id("rule-kind").focus()
        page.keyboard.press("Tab")
        expect(page.get_by_test_id("rule-title")).to_be_focused()
        page.keyboard.type("Résiliation")
        page.keyboard.press("Tab")
        page.keyboard.type("telco")
        page.keyboard.press("Tab")
        expect(page.get_by_test_id("rule-phrases")).to_be_focused()
        page.keyboard.type("résilier")
        page.keyboard.press("Enter")
        page.keyboard.type("بغيت نلغي")
        page.get_by_test_id("rule-title").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("rule-status")).to_contain_text("Règle enregistrée")
        rules = httpx.get(f"{rafiq_server}/v1/alert-rules", headers=headers, timeout=30).json()["rules"]
        assert [(r["kind"], r["title"], r["campaign"], r["params"]) for r in rules] == [
            ("phrase", "Résiliation", "telco", {"phrases": ["résilier", "بغيت نلغي"], "speaker": "any"})]

        # A silence rule for every campaign: the kind changed with the arrow keys.
        page.get_by_test_id("rule-kind").focus()
        page.keyboard.press("ArrowDown")  # sentiment
        page.keyboard.press("ArrowDown")  # silence
        expect(page.get_by_test_id("rule-seconds")).to_be_visible()
        expect(page.get_by_test_id("rule-phrases")).to_be_hidden()
        page.keyboard.press("Tab")
        page.keyboard.type("Blanc")
        page.get_by_test_id("rule-seconds").focus()
        page.keyboard.press("Control+a")
        page.keyboard.type("45")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("rule-row")).to_have_count(2)
        silence = page.locator('[data-testid="rule-row"][data-kind="silence"]')
        expect(silence.get_by_test_id("rule-row-summary")).to_contain_text("45")

        # Edit it: its Edit button from the keyboard, a new title, switched off.
        silence.get_by_test_id("rule-edit").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("rule-title")).to_be_focused()
        page.keyboard.press("Control+a")
        page.keyboard.type("Attente longue")
        page.get_by_test_id("rule-enabled").focus()
        page.keyboard.press("Space")
        page.get_by_test_id("rule-title").focus()
        page.keyboard.press("Enter")
        expect(silence).to_have_attribute("data-enabled", "false")
        expect(silence.get_by_test_id("rule-row-title")).to_have_text("Attente longue")
        expect(silence.get_by_test_id("rule-edit")).to_be_focused()

        # A refused rule says why, and nothing is stored.
        page.get_by_test_id("rule-title").focus()
        page.keyboard.type("Vide")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("rule-form-error")).to_contain_text("bad_params")
        assert len(httpx.get(f"{rafiq_server}/v1/alert-rules", headers=headers, timeout=30).json()["rules"]) == 2

        # Delete from the keyboard; Arabic turns the page right to left.
        page.get_by_test_id("rule-form").press("Escape")
        silence.get_by_test_id("rule-delete").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("rule-row")).to_have_count(1)
        page.get_by_test_id("lang-switch-ar").click()
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        expect(page.get_by_test_id("rule-save")).to_have_text("حفظ")
    finally:
        ctx.close()


def test_agents_are_sent_home_from_the_supervisor_pages(browser, watch, floor, rafiq_server, tenant):
    ctx, page = _signed_in(browser, watch, floor, rafiq_server, "agent", tenant, "/")
    try:
        for path in ("/supervisor", "/supervisor/alerts"):
            page.goto(path)
            page.wait_for_url(re.compile(r"/(#.*)?$"))
            assert urlsplit(page.url).path == "/"
    finally:
        ctx.close()
