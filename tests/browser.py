"""The real browser for the web-page tests: Debian Chromium driven by Playwright, and a watch
on each page for JavaScript errors and requests that leave the Rafiq origin."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), "Debian Chromium is missing: scripts/test-services.sh installs it"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageWatch:
    """Page errors and requests that leave the Rafiq origin (the pages must be self-contained)."""

    def __init__(self, origin: str):
        self.origin = origin
        self.errors: list[str] = []
        self.foreign: list[str] = []

    def attach(self, page) -> None:
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("request", self._request)
        page.on("websocket", lambda ws: self._url(ws.url))

    def _request(self, request) -> None:
        self._url(request.url)

    def _url(self, url: str) -> None:
        if url.startswith(("data:", "blob:", "about:")):
            return
        if urlsplit(url).netloc != urlsplit(self.origin).netloc:
            self.foreign.append(url)


@pytest.fixture
def watch(rafiq_server):
    """A PageWatch for the test's pages; the test fails if one threw or reached outside Rafiq."""
    watch = PageWatch(rafiq_server)
    yield watch
    assert not watch.errors, f"JavaScript errors on the page: {watch.errors}"
    assert not watch.foreign, f"the page reached outside its origin: {watch.foreign}"


def sign_in(page, base_url: str, username: str, password: str, *, next_path: str | None = None,
            timeout_ms: float = 30_000) -> None:
    """Sign ``page`` in through the sign-in page, as a person would (fields, Enter), and wait until
    the browser has left it for the page it was going to (``next_path``) or the user's home."""
    from urllib.parse import quote

    url = f"{base_url}/login" + (f"?next={quote(next_path, safe='')}" if next_path else "")
    page.goto(url)
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-password").press("Enter")
    page.wait_for_url(lambda u: urlsplit(u).path != "/login", timeout=timeout_ms)
    page.wait_for_selector('[data-testid="session-user"]', timeout=timeout_ms)
