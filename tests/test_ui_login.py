"""The sign-in page (ui/static/login.html) and the browser session (ui/static/session.js) in a real
Chromium against the real Rafiq app: redirects to the sign-in page and back, wrong password and
locked account messages, each role's home page, Arabic right to left, sign-out, the CSRF rule."""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import browser, sign_in, watch  # noqa: F401  (fixtures)

HOME = {"agent": "/", "supervisor": "/", "trainer": "/trainer", "admin": "/admin"}


@pytest.fixture
def context(browser, rafiq_server):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=rafiq_server, locale="fr-FR")
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, watch):
    page = context.new_page()
    watch.attach(page)
    return page


def _path(page) -> str:
    return urlsplit(page.url).path


def _wait_path(page, path: str, timeout_ms: float = 30_000) -> None:
    page.wait_for_url(lambda u: urlsplit(u).path == path, timeout=timeout_ms)


def _session_cookie(context) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == "rafiq_session"), None)


def _csrf_cookie(context) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == "rafiq_csrf"), None)


@pytest.mark.parametrize("path", ["/", "/trainer", "/admin"])
def test_a_page_sends_a_stranger_to_sign_in_and_back(page, floor, path):
    page.goto(path)
    _wait_path(page, "/login")
    assert parse_qs(urlsplit(page.url).query)["next"] == [path]
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_test_id("login-username")).to_be_focused()
    # The labels name the fields (keyboard and screen-reader users).
    expect(page.get_by_label("Nom d'utilisateur")).to_have_count(1)
    expect(page.get_by_label("Mot de passe", exact=True)).to_have_count(1)

    role = {"/": "supervisor", "/trainer": "trainer", "/admin": "admin"}[path]
    username = floor.username(role)
    page.get_by_label("Nom d'utilisateur").fill(username)
    page.get_by_label("Mot de passe", exact=True).fill(floor.passwords[username])
    page.keyboard.press("Enter")  # Enter submits
    _wait_path(page, path)
    expect(page.get_by_test_id("session-user")).to_have_attribute("data-username", username)
    expect(page.get_by_test_id("sign-out")).to_be_visible()


def test_wrong_password_is_refused_with_a_message(page, context, floor):
    username = floor.username("agent")
    page.goto("/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill("not-the-password")
    page.get_by_test_id("login-submit").click()
    error = page.get_by_test_id("login-error")
    expect(error).to_be_visible()
    expect(error).to_have_text("Nom d'utilisateur ou mot de passe incorrect.")
    expect(error).to_have_attribute("data-code", "bad_credentials")
    expect(page.get_by_test_id("login-password")).to_be_focused()
    assert _path(page) == "/login"
    assert _session_cookie(context) is None

    # The right password then works, and the message goes.
    page.get_by_test_id("login-password").fill(floor.passwords[username])
    page.get_by_test_id("login-password").press("Enter")
    _wait_path(page, "/")
    assert _session_cookie(context)


def test_a_locked_account_says_how_long_to_wait(page):
    username = f"ghost-{uuid.uuid4().hex[:8]}"  # locks like a real one: nothing tells them apart
    page.goto("/login")
    page.get_by_test_id("login-username").fill(username)
    error = page.get_by_test_id("login-error")
    for _ in range(8):  # locked after 5 failures
        page.get_by_test_id("login-password").fill("wrong-password")
        page.get_by_test_id("login-password").press("Enter")
        expect(error).to_have_attribute("data-code", re.compile("bad_credentials|sign_in_locked"))
        if error.get_attribute("data-code") == "sign_in_locked":
            break
        expect(page.get_by_test_id("login-submit")).to_be_enabled()
    expect(error).to_have_attribute("data-code", "sign_in_locked")
    expect(error).to_have_text(re.compile(r"^Trop de tentatives : ce compte est bloqué\. Réessayez dans (\d+ min )?\d+ s\.$"))
    assert int(error.get_attribute("data-retry-after")) >= 1
    page.get_by_test_id("lang-switch-en").click()  # the message follows the language
    expect(error).to_have_text(re.compile(r"^Too many attempts: this account is locked\. Try again in (\d+ min )?\d+ s\.$"))


@pytest.mark.parametrize("role", ["agent", "supervisor", "trainer", "admin"])
def test_sign_in_lands_on_the_home_page_of_the_role(page, floor, rafiq_server, role):
    username = floor.username(role)
    sign_in(page, rafiq_server, username, floor.passwords[username])
    assert _path(page) == HOME[role]
    expect(page.get_by_test_id("session-user")).to_have_attribute("data-username", username)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    # A page of another role sends them home.
    other = "/admin" if role != "admin" else "/trainer"
    page.goto(other)
    _wait_path(page, HOME[role])


def test_next_is_followed_only_within_the_site(page, floor, rafiq_server):
    username = floor.username("trainer")
    for next_path in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        sign_in(page, rafiq_server, username, floor.passwords[username], next_path=next_path)
        assert _path(page) == "/trainer", (next_path, page.url)
        page.context.clear_cookies()
    sign_in(page, rafiq_server, username, floor.passwords[username], next_path="/trainer?x=1")
    assert urlsplit(page.url).query == "x=1"


def test_arabic_sign_in_page_is_right_to_left(page):
    page.goto("/login")
    html = page.locator("html")
    expect(html).to_have_attribute("dir", "ltr")
    page.get_by_test_id("lang-switch-ar").click()
    expect(html).to_have_attribute("dir", "rtl")
    expect(html).to_have_attribute("lang", "ar")
    expect(page.locator("#login-title")).to_have_text("تسجيل الدخول")
    expect(page.get_by_test_id("login-submit")).to_have_text("دخول")
    expect(page.get_by_test_id("lang-switch-ar")).to_have_attribute("aria-pressed", "true")
    # Laid out from the right: the title's right edge is the card's, and nothing spills sideways.
    title, card = page.locator("#login-title").bounding_box(), page.get_by_test_id("login-form").bounding_box()
    assert abs((card["x"] + card["width"]) - (title["x"] + title["width"])) < 40
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")

    page.get_by_test_id("login-username").fill(f"ghost-{uuid.uuid4().hex[:8]}")
    page.get_by_test_id("login-password").fill("wrong-password")
    page.get_by_test_id("login-password").press("Enter")
    expect(page.get_by_test_id("login-error")).to_have_text("اسم المستخدم أو كلمة المرور غير صحيحة.")

    page.reload()  # remembered, like on the other pages
    expect(html).to_have_attribute("dir", "rtl")
    page.get_by_test_id("lang-switch-fr").click()
    expect(html).to_have_attribute("dir", "ltr")


def test_sign_out_returns_to_sign_in_and_the_session_is_over(page, context, floor, rafiq_server):
    username = floor.username("agent")
    sign_in(page, rafiq_server, username, floor.passwords[username])
    old_session = _session_cookie(context)
    assert old_session and _csrf_cookie(context)
    assert page.request.get("/v1/me").status == 200

    page.get_by_test_id("sign-out").click()
    _wait_path(page, "/login")
    expect(page.get_by_test_id("login-notice")).to_have_text("Vous êtes déconnecté.")
    assert _session_cookie(context) is None
    assert page.request.get("/v1/me").status == 401
    # The session is revoked on the server, not only forgotten by this browser.
    stolen = httpx.get(f"{rafiq_server}/v1/me", cookies={"rafiq_session": old_session}, timeout=30)
    assert stolen.status_code == 401
    page.goto("/")
    _wait_path(page, "/login")
    assert parse_qs(urlsplit(page.url).query)["next"] == ["/"]


def test_a_session_that_ends_sends_the_page_to_sign_in(page, context, floor, rafiq_server):
    username = floor.username("agent")
    sign_in(page, rafiq_server, username, floor.passwords[username])
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    # Ended elsewhere (another tab signs out): the panel's next request is refused with 401.
    ended = page.request.post("/v1/auth/logout", headers={"X-CSRF-Token": _csrf_cookie(context)})
    assert ended.status == 204
    _wait_path(page, "/login", timeout_ms=60_000)
    query = parse_qs(urlsplit(page.url).query)
    assert query["next"] == ["/"] and query["expired"] == ["1"]
    expect(page.get_by_test_id("login-notice")).to_have_text("Votre session a pris fin : reconnectez-vous.")


def test_a_change_without_the_csrf_header_is_refused(page, context, floor, rafiq_server):
    tenant = floor.add_tenant()  # its settings are changed here
    username = floor.username("admin", tenant)
    sign_in(page, rafiq_server, username, floor.passwords[username])
    settings = page.request.get("/v1/settings").json()
    body = {"redact": settings["redact"], "retention_days": settings["retention_days"] + 1}

    # The session cookie alone does not make a change: a forged cross-site form could send it.
    refused = page.request.put("/v1/settings", data=body)
    assert refused.status == 403 and refused.json()["detail"]["code"] == "csrf_failed"
    wrong = page.request.put("/v1/settings", data=body, headers={"X-CSRF-Token": "forged"})
    assert wrong.status == 403 and wrong.json()["detail"]["code"] == "csrf_failed"
    logout = page.request.post("/v1/auth/logout")
    assert logout.status == 403 and logout.json()["detail"]["code"] == "csrf_failed"
    assert page.request.get("/v1/me").status == 200  # still signed in
    assert page.request.get("/v1/settings").json()["retention_days"] == settings["retention_days"]

    # From the page, a plain XMLHttpRequest without the header is refused too...
    status = page.evaluate("""(body) => new Promise((resolve) => {
        const xhr = new XMLHttpRequest();
        xhr.open("PUT", "/v1/settings");
        xhr.setRequestHeader("Content-Type", "application/json");
        xhr.onload = () => resolve(xhr.status);
        xhr.send(JSON.stringify(body));
    })""", body)
    assert status == 403
    # ...while the page's fetch (session.js) sends the header from the rafiq_csrf cookie.
    status = page.evaluate("""(body) => fetch("/v1/settings", {method: "PUT",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)}).then(r => r.status)""", body)
    assert status == 200
    assert page.request.get("/v1/settings").json()["retention_days"] == settings["retention_days"] + 1
