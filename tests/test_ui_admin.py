"""The administration page (ui/static/admin.html) in a real Chromium against the real Rafiq app:
users, API keys (shown once, revoked), tenant settings, the audit log of these actions and its
chain check. Each test has a tenant of its own (``floor.add_tenant()``) and signs in as its
administrator, so that what it changes and reads is its own."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import browser, sign_in, watch  # noqa: F401  (fixtures)

SCREENSHOT = "/tmp/admin.png"


@pytest.fixture
def tenant(floor) -> str:
    return floor.add_tenant(f"adm{uuid.uuid4().hex[:8]}")


@pytest.fixture
def context(browser, rafiq_server):
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=rafiq_server, locale="fr-FR")
    ctx.set_default_timeout(30_000)
    try:
        ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=rafiq_server)
    except Exception:  # the page falls back to execCommand("copy")
        pass
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, watch, floor, tenant, rafiq_server):
    page = context.new_page()
    watch.attach(page)
    username = floor.username("admin", tenant)
    sign_in(page, rafiq_server, username, floor.passwords[username])
    assert urlsplit(page.url).path == "/admin"
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page


def user_row(page, username: str):
    return page.locator(f'[data-testid="user-row"][data-username="{username}"]')


def audit_rows(page, action: str):
    return page.locator(f'[data-testid="audit-row"][data-action="{action}"]')


def can_sign_in(base_url: str, username: str, password: str) -> bool:
    response = httpx.post(f"{base_url}/v1/auth/login", json={"username": username, "password": password}, timeout=30)
    return response.status_code == 200


def test_users_keys_settings_then_their_audit_trail(page, context, floor, tenant, rafiq_server):
    admin = floor.username("admin", tenant)
    api = floor.headers("admin", tenant)
    expect(user_row(page, admin)).to_be_visible()
    expect(user_row(page, floor.username("agent", "default"))).to_have_count(0)  # another tenant's

    # A user: username, display name, password, roles, team.
    newcomer, password = f"nadia-{uuid.uuid4().hex[:6]}", "Casa-2024-bienvenue"
    page.get_by_test_id("new-username").fill(newcomer)
    page.get_by_test_id("new-display-name").fill("Nadia El Amrani")
    page.get_by_test_id("new-password").fill(password)
    page.get_by_test_id("new-role-agent").check()
    page.get_by_test_id("new-role-trainer").check()
    page.get_by_test_id("new-team").fill("equipe-fes")
    page.get_by_test_id("new-team").press("Enter")  # Enter submits the form
    expect(page.get_by_test_id("user-form-ok")).to_have_text(f"Utilisateur {newcomer} créé.")
    row = user_row(page, newcomer)
    expect(row.get_by_test_id("user-display-name")).to_have_text("Nadia El Amrani")
    expect(row.get_by_test_id("user-roles")).to_have_attribute("data-roles", "agent trainer")
    expect(row.get_by_test_id("user-team")).to_have_text("equipe-fes")
    expect(page.get_by_test_id("new-username")).to_have_value("")  # ready for the next one
    [created] = [u for u in httpx.get(f"{rafiq_server}/v1/users", headers=api, timeout=30).json()["users"]
                 if u["username"] == newcomer]
    assert created["tenant"] == tenant and created["team"] == "equipe-fes"
    assert can_sign_in(rafiq_server, newcomer, password)
    # A taken username is refused with a message, in the form.
    page.get_by_test_id("new-username").fill(newcomer)
    page.get_by_test_id("new-password").fill(password)
    page.get_by_test_id("new-role-agent").check()
    page.get_by_test_id("create-user").click()
    expect(page.get_by_test_id("user-form-error")).to_have_text("Cet identifiant est déjà pris.")

    # An API key: shown once with a copy button, listed, then revoked.
    page.get_by_test_id("tab-keys").click()
    page.get_by_test_id("key-name").fill("PBX Casablanca")
    page.get_by_test_id("key-expires").fill("30")
    page.get_by_test_id("create-key").click()
    shown = page.get_by_test_id("new-key")
    expect(shown).to_be_visible()
    expect(shown).to_contain_text("ne sera plus jamais affichée")
    key = page.get_by_test_id("new-key-value").input_value()
    assert key.startswith("rfk_")
    key_id = shown.get_attribute("data-key-id")
    page.get_by_test_id("copy-key").click()
    expect(page.get_by_test_id("copy-status")).to_have_attribute("data-copied", re.compile("true|false"))
    if page.get_by_test_id("copy-status").get_attribute("data-copied") == "true":
        assert page.evaluate("navigator.clipboard.readText()") == key
    key_row = page.locator(f'[data-testid="key-row"][data-key-id="{key_id}"]')
    expect(key_row).to_have_attribute("data-status", "active")
    expect(key_row).to_contain_text("PBX Casablanca")
    assert httpx.get(f"{rafiq_server}/v1/me", headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code == 200
    page.get_by_test_id("new-key-done").click()
    expect(shown).to_be_hidden()
    expect(page.get_by_test_id("new-key-value")).to_have_value("")  # gone from the page: shown once
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(key_row).to_have_attribute("data-status", "active")
    expect(shown).to_be_hidden()
    assert key not in page.evaluate("document.body.innerText + JSON.stringify(window.__rafiqAdmin.state)")
    assert all("key" not in k for k in httpx.get(f"{rafiq_server}/v1/apikeys", headers=api, timeout=30).json()["keys"])

    key_row.get_by_test_id("key-revoke").click()
    expect(page.get_by_test_id("confirm-dialog")).to_be_visible()
    expect(page.get_by_test_id("confirm-text")).to_contain_text("PBX Casablanca")
    page.get_by_test_id("confirm-yes").click()
    expect(key_row).to_have_attribute("data-status", "revoked")
    expect(key_row.get_by_test_id("key-revoke")).to_have_count(0)
    assert httpx.get(f"{rafiq_server}/v1/me", headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code == 401

    # Settings: redaction kinds and retention.
    page.get_by_test_id("tab-settings").click()
    expect(page.get_by_test_id("settings-form")).to_have_attribute("data-loaded", "true")
    before = httpx.get(f"{rafiq_server}/v1/settings", headers=api, timeout=30).json()
    page.get_by_test_id("redact-email").set_checked(False)
    page.get_by_test_id("redact-birth_date").set_checked(True)
    page.get_by_test_id("retention-days").fill("45")
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-status")).to_have_text("Enregistré")
    after = httpx.get(f"{rafiq_server}/v1/settings", headers=api, timeout=30).json()
    assert after["retention_days"] == 45 and before["retention_days"] != 45
    assert "email" not in after["redact"] and "birth_date" in after["redact"]
    page.reload()  # what the page shows is what the server keeps
    expect(page.get_by_test_id("settings-form")).to_have_attribute("data-loaded", "true")
    expect(page.get_by_test_id("retention-days")).to_have_value("45")
    expect(page.get_by_test_id("redact-email")).not_to_be_checked()

    # The audit log has each of these actions, by this administrator.
    page.get_by_test_id("tab-audit").click()
    for action in ("user.create", "apikey.create", "apikey.revoke", "settings.update"):
        expect(audit_rows(page, action).first).to_have_attribute("data-actor", admin)
    expect(audit_rows(page, "apikey.revoke").first).to_have_attribute("data-target", key_id)
    expect(audit_rows(page, "user.create").filter(has_text="refused:409")).to_have_count(1)  # the taken name
    # Filter by action prefix, then by actor.
    page.get_by_test_id("audit-action").fill("apikey.")
    page.get_by_test_id("audit-apply").click()
    expect(page.locator('[data-testid="audit-row"]')).to_have_count(2)
    expect(page.locator('[data-testid="audit-row"]').first).to_have_attribute("data-action", "apikey.revoke")
    assert "action=apikey." in page.get_by_test_id("audit-export-csv").get_attribute("href")
    export = page.request.get(page.get_by_test_id("audit-export-csv").get_attribute("href"))
    assert export.status == 200 and export.headers["content-type"].startswith("text/csv")
    assert "apikey.revoke" in export.text() and "settings.update" not in export.text()
    page.get_by_test_id("audit-reset").click()
    page.get_by_test_id("audit-actor").fill(newcomer)
    page.get_by_test_id("audit-actor").press("Enter")
    expect(page.locator('[data-testid="audit-row"]')).to_have_count(1)  # their sign-in
    expect(page.locator('[data-testid="audit-row"]')).to_have_attribute("data-action", "auth.sign_in")
    # Dates: everything is from today, nothing from before yesterday.
    page.get_by_test_id("audit-reset").click()
    page.get_by_test_id("audit-until").fill("2001-01-01")
    page.get_by_test_id("audit-apply").click()
    expect(page.get_by_test_id("audit-list-empty")).to_be_visible()
    page.get_by_test_id("audit-reset").click()
    expect(audit_rows(page, "settings.update")).to_have_count(1)

    # The chain is intact.
    page.get_by_test_id("audit-verify").click()
    result = page.get_by_test_id("verify-result")
    expect(result).to_have_attribute("data-ok", "true")
    expect(result).to_have_text(re.compile(r"^Chaîne intacte : \d+ entrée\(s\) vérifiée\(s\)\.$"))
    assert int(result.get_attribute("data-entries")) >= 6
    page.screenshot(path=SCREENSHOT)


def test_audit_pages_with_the_cursor(page, floor, tenant, rafiq_server):
    # More entries than a page holds (50): failed sign-ins recorded in this tenant, as its users.
    for i in range(3):
        for person in ("agent", "trainer", "supervisor"):
            assert not can_sign_in(rafiq_server, floor.username(person, tenant), f"wrong-{i}")
    api = floor.headers("admin", tenant)
    for i in range(45):
        assert httpx.get(f"{rafiq_server}/v1/kb/export", headers=floor.headers("trainer", tenant),
                         timeout=30).status_code == 200
    total = len(httpx.get(f"{rafiq_server}/v1/audit?limit=1000", headers=api, timeout=30).json()["entries"])
    assert total > 50
    page.get_by_test_id("tab-audit").click()
    rows = page.locator('[data-testid="audit-row"]')
    expect(rows).to_have_count(50)
    first_page = rows.first.get_attribute("data-id")
    expect(page.get_by_test_id("audit-page")).to_have_text("Page 1")
    expect(page.get_by_test_id("audit-newest")).to_be_disabled()
    page.get_by_test_id("audit-older").click()
    expect(page.get_by_test_id("audit-page")).to_have_text("Page 2")
    expect(rows).to_have_count(min(50, total - 50))
    ids = [int(i) for i in page.eval_on_selector_all('[data-testid="audit-row"]', "rs => rs.map(r => r.dataset.id)")]
    assert ids == sorted(ids, reverse=True) and max(ids) < int(first_page)
    page.get_by_test_id("audit-newest").click()
    expect(page.get_by_test_id("audit-page")).to_have_text("Page 1")
    expect(rows.first).to_have_attribute("data-id", first_page)


def test_disable_reset_password_and_delete_a_user(page, floor, tenant, rafiq_server):
    person = floor.username("agent", tenant)
    row = user_row(page, person)

    row.get_by_test_id("user-toggle").click()
    page.get_by_test_id("confirm-yes").click()
    expect(row).to_have_attribute("data-disabled", "true")
    expect(row.get_by_test_id("user-status")).to_have_text("Désactivé")
    assert not can_sign_in(rafiq_server, person, floor.passwords[person])
    row.get_by_test_id("user-toggle").click()
    expect(row).to_have_attribute("data-disabled", "false")
    assert can_sign_in(rafiq_server, person, floor.passwords[person])

    row.get_by_test_id("user-reset").click()
    dialog = page.get_by_test_id("password-dialog")
    expect(dialog).to_be_visible()
    page.get_by_test_id("reset-password").fill("short")
    page.get_by_test_id("reset-password").press("Enter")
    expect(page.get_by_test_id("password-dialog-error")).to_be_visible()
    page.get_by_test_id("reset-generate").click()
    new_password = page.get_by_test_id("reset-password").input_value()
    assert len(new_password) >= 12
    page.get_by_test_id("password-dialog-save").click()
    expect(dialog).to_be_hidden()
    assert can_sign_in(rafiq_server, person, new_password)
    assert not can_sign_in(rafiq_server, person, floor.passwords[person])
    floor.passwords[person] = new_password

    row.get_by_test_id("user-edit").click()
    page.get_by_test_id("edit-display-name").fill("Youssef Benali")
    page.get_by_test_id("edit-role-supervisor").check()
    page.get_by_test_id("user-dialog-save").click()
    expect(row.get_by_test_id("user-display-name")).to_have_text("Youssef Benali")
    expect(row.get_by_test_id("user-roles")).to_have_attribute("data-roles", "agent supervisor")

    # The administrator cannot disable or delete themselves from here.
    me = user_row(page, floor.username("admin", tenant))
    expect(me.get_by_test_id("user-delete")).to_have_count(0)
    expect(me.get_by_test_id("user-toggle")).to_have_count(0)

    row.get_by_test_id("user-delete").click()
    page.get_by_test_id("confirm-no").click()  # cancelled: still there
    expect(row).to_have_count(1)
    row.get_by_test_id("user-delete").click()
    page.get_by_test_id("confirm-yes").click()
    expect(row).to_have_count(0)
    assert not can_sign_in(rafiq_server, person, new_password)


def test_admin_page_in_arabic_is_right_to_left_and_keyboard_usable(page):
    page.get_by_test_id("lang-switch-ar").click()
    html = page.locator("html")
    expect(html).to_have_attribute("dir", "rtl")
    expect(page.get_by_test_id("tab-users")).to_have_text("المستخدمون")
    expect(page.get_by_test_id("create-user")).to_have_text("إنشاء المستخدم")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    # The tabs go with the arrow keys, mirrored right to left.
    page.get_by_test_id("tab-users").focus()
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_test_id("tab-keys")).to_be_focused()
    expect(page.get_by_test_id("panel-keys")).to_be_visible()
    page.keyboard.press("End")
    expect(page.get_by_test_id("tab-audit")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("audit-verify")).to_have_text("التحقق من السلسلة")
    page.get_by_test_id("lang-switch-fr").click()
    expect(html).to_have_attribute("dir", "ltr")
