"""The ingresses open without authentication are named at start-up and on the administrator's
Settings tab (a real Chromium against the shared server, which sets no telephony credential)."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser import browser, sign_in, watch  # noqa: F401  (fixtures)


@pytest.fixture
def page(browser, watch, floor, rafiq_server):  # noqa: F811
    tenant = floor.add_tenant(f"ing{uuid.uuid4().hex[:8]}")
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=rafiq_server, locale="fr-FR")
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    watch.attach(page)
    username = floor.username("admin", tenant)
    sign_in(page, rafiq_server, username, floor.passwords[username])
    assert urlsplit(page.url).path == "/admin"
    yield page
    ctx.close()


def test_open_ingresses_are_logged_at_start(rafiq_process):
    records = [json.loads(line) for line in rafiq_process.log_path.read_text(encoding="utf-8").splitlines()
               if "telephony ingress open without authentication" in line]
    assert records and records[0]["level"] == "warning"
    assert records[0]["ingresses"] == ["twilio", "audiohook", "freeswitch"]  # AudioSocket is off on this server


def test_settings_tab_flags_each_open_ingress(page):
    page.get_by_test_id("tab-settings").click()
    card = page.get_by_test_id("ingress-card")
    expect(card).to_have_attribute("data-loaded", "true")
    for ingress in ("twilio", "audiohook", "freeswitch"):
        row = page.get_by_test_id(f"ingress-{ingress}")
        expect(row).to_have_attribute("data-open", "true")
        expect(row).to_contain_text("Ouverte sans authentification")
    expect(page.get_by_test_id("ingress-summary")).to_have_attribute("data-open", "3")
    page.get_by_test_id("lang-switch-ar").click()
    expect(page.get_by_test_id("ingress-twilio")).to_contain_text("مفتوح بدون مصادقة")
    expect(page.get_by_test_id("ingress-summary")).to_contain_text("3")
    page.get_by_test_id("lang-switch-en").click()
    expect(page.get_by_test_id("ingress-summary")).to_have_text(
        "3 ingress(es) open without authentication: for development only.")
