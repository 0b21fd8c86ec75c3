"""The agent panel (ui/static) in a real Chromium against the real Rafiq app.

Needs Debian's Chromium (``apt-get install chromium``; no browser download) and the
``rafiq_server`` fixture from conftest.py (the real app on a free port). Every page signs in
first, as ``agent-default`` unless said otherwise. The demo call streams at real-time pace, so
one demo call (the agent's) is shared by the tests of this module.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from urllib.parse import urlsplit

import httpx
import pytest

from playwright.sync_api import expect

from assistant.simulate import stream_audio
from speech.audio import decode_file
from tests.browser import browser, sign_in, watch  # noqa: F401  (fixtures)
from tests.conftest import fleurs_clip, new_call_id, words_heard

DEMO_TIMEOUT_MS = 150_000  # first final customer line and first suggestion of the demo call
CALL_END_TIMEOUT_S = 420  # the whole demo call, streamed at real-time pace
SCREENSHOT = "/tmp/panel.png"

# The demo call started through the panel in the first test, reused by the others.
_shared: dict[str, str] = {}
# Whose data the module's API checks read with: the agent sees their own calls.
_auth: dict[str, dict] = {}


def _ids(page, selector: str, attribute: str) -> list[str]:
    return page.eval_on_selector_all(selector, f"els => els.map(e => e.getAttribute('{attribute}'))")


def _feedback_action(suggestion: dict) -> str | None:
    feedback = suggestion.get("feedback")
    if isinstance(feedback, dict):
        return feedback.get("action")
    return suggestion.get("action") or suggestion.get("state")


@pytest.fixture(autouse=True)
def _agent_headers(floor):
    _auth["headers"] = floor.headers("agent")


def _call_view(base_url: str, call_id: str) -> dict:
    response = httpx.get(f"{base_url}/v1/calls/{call_id}", headers=_auth["headers"], timeout=30)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def context(browser, rafiq_server, watch):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=rafiq_server, locale="fr-FR")
    # Granted, so that "Use" must really copy: the test reads the clipboard back.
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=rafiq_server)
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, watch, floor, rafiq_server):
    """A page signed in as the default tenant's agent."""
    page = context.new_page()
    watch.attach(page)
    username = floor.username("agent")
    sign_in(page, rafiq_server, username, floor.passwords[username])
    return page


@pytest.fixture
def demo_call(rafiq_server, floor) -> str:
    """The demo call of the first test, or a new one when this test runs alone."""
    if "call_id" not in _shared:
        response = httpx.post(f"{rafiq_server}/v1/demo/calls", headers=floor.headers("agent"), timeout=30)
        assert response.status_code == 202, response.text
        _shared["call_id"] = response.json()["call_id"]
    return _shared["call_id"]


def _wait_call_ended(base_url: str, call_id: str) -> dict:
    deadline = time.monotonic() + CALL_END_TIMEOUT_S
    while True:
        view = _call_view(base_url, call_id)
        if view["status"] == "ended":
            return view
        assert time.monotonic() < deadline, f"call {call_id} still {view['status']} after {CALL_END_TIMEOUT_S} s"
        time.sleep(2)


def _assert_matches_record(page, view: dict) -> None:
    """What the panel shows is the call's record, each segment and suggestion once."""
    segment_ids = _ids(page, '[data-testid="segment"]', "data-segment-id")
    duplicates = [sid for sid, n in Counter(segment_ids).items() if n > 1]
    assert not duplicates, f"duplicate transcript lines: {duplicates}"
    assert set(segment_ids) == {s["segment_id"] for s in view["segments"]}
    assert _ids(page, '[data-testid="segment"]', "data-final") == ["true"] * len(segment_ids)

    suggestion_ids = _ids(page, '[data-testid="suggestion"]', "data-suggestion-id")
    duplicates = [sid for sid, n in Counter(suggestion_ids).items() if n > 1]
    assert not duplicates, f"duplicate suggestion cards: {duplicates}"
    assert set(suggestion_ids) == {s["suggestion_id"] for s in view["suggestions"]}
    for suggestion in view["suggestions"]:
        card = page.locator(f'[data-testid="suggestion"][data-suggestion-id="{suggestion["suggestion_id"]}"]')
        expect(card).to_have_attribute("data-state", _feedback_action(suggestion) or "new")


def test_demo_call_shows_transcript_and_suggestions(page, rafiq_server, floor):
    page.goto("/")
    expect(page.get_by_test_id("app-name")).to_have_text("Rafiq")
    expect(page.get_by_test_id("session-user")).to_have_attribute("data-username", floor.username("agent"))
    expect(page.get_by_test_id("calls-title")).to_have_text("Mes appels")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_test_id("demo-button")).to_have_text(re.compile("Lancer l'appel de démo"))

    page.get_by_test_id("demo-button").click()
    expect(page.locator("body")).to_have_attribute("data-call-id", re.compile(r"^demo-"))
    call_id = page.locator("body").get_attribute("data-call-id")
    _shared["call_id"] = call_id
    assert page.url.endswith(f"#call={call_id}")
    assert _call_view(rafiq_server, call_id)["agent"] == floor.username("agent")  # the demo is the agent's call
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    expect(page.get_by_test_id("call-status")).to_have_attribute("data-status", re.compile("live|ended"))
    # The call list picks the new call up, marked live while it streams.
    expect(page.locator(f'[data-testid="call-item"][data-call-id="{call_id}"]')).to_be_visible(timeout=10_000)

    customer = page.locator('[data-testid="segment"][data-speaker="customer"][data-final="true"]')
    expect(customer.first).to_be_visible(timeout=DEMO_TIMEOUT_MS)
    expect(customer.first.get_by_test_id("segment-text")).not_to_have_text("")
    expect(customer.first.get_by_test_id("segment-time")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    expect(customer.first.get_by_test_id("segment-language")).to_have_text(re.compile(r"^[A-Z]{2,3}$"))

    first = page.locator('[data-testid="suggestion"]').filter(has=page.get_by_test_id("suggestion-source")).first
    expect(first).to_be_visible(timeout=DEMO_TIMEOUT_MS)
    # Pinned by id: newer cards go on top while the call goes on.
    card = page.locator(f'[data-testid="suggestion"][data-suggestion-id="{first.get_attribute("data-suggestion-id")}"]')
    expect(card.get_by_test_id("suggestion-text")).not_to_have_text("")
    source = card.get_by_test_id("suggestion-source").first
    expect(source.get_by_test_id("suggestion-score")).to_have_text(re.compile(r"^(\d{1,3}%|\d+\.\d\d)$"))
    expect(source.get_by_test_id("source-article-id")).not_to_have_text("")
    for button in ("use-button", "edit-button", "dismiss-button"):
        expect(card.get_by_test_id(button)).to_be_visible()

    # The card quotes the customer utterance it answers.
    for_segment = card.get_attribute("data-for-segment-id")
    assert for_segment
    segment = page.locator(f'[data-testid="segment"][data-segment-id="{for_segment}"]')
    expect(segment).to_have_count(1)
    quote = card.locator(".sugg__for-text").inner_text().rstrip("…")
    assert quote and segment.get_by_test_id("segment-text").inner_text().startswith(quote)

    # Transcript lines are never duplicated while partials turn into finals.
    ids = _ids(page, '[data-testid="segment"]', "data-segment-id")
    assert len(ids) == len(set(ids))
    page.screenshot(path=SCREENSHOT)


def test_feedback_updates_card_record_and_other_screen(context, watch, page, rafiq_server, demo_call):
    # Open the call from the call picker.
    page.goto("/")
    page.locator(f'[data-testid="call-item"][data-call-id="{demo_call}"]').click()
    first = page.locator('[data-testid="suggestion"]').first
    expect(first).to_be_visible(timeout=DEMO_TIMEOUT_MS)
    suggestion_id = first.get_attribute("data-suggestion-id")
    card = page.locator(f'[data-testid="suggestion"][data-suggestion-id="{suggestion_id}"]')
    original = card.get_by_test_id("suggestion-text").text_content()

    other = context.new_page()  # a second screen on the same call
    watch.attach(other)
    other.goto(f"/#call={demo_call}")
    other_card = other.locator(f'[data-testid="suggestion"][data-suggestion-id="{suggestion_id}"]')
    expect(other_card).to_be_visible()
    expect(other.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")

    def record_action() -> str | None:
        view = _call_view(rafiq_server, demo_call)
        return _feedback_action(next(s for s in view["suggestions"] if s["suggestion_id"] == suggestion_id))

    # Use: marks the card, records the feedback, and the other screen follows via the socket.
    card.get_by_test_id("use-button").click()
    expect(card).to_have_attribute("data-state", "used")
    expect(card.get_by_test_id("suggestion-state")).to_have_text("Utilisée")
    assert record_action() == "used"
    expect(other_card).to_have_attribute("data-state", "used")
    expect(card).to_have_attribute("data-copied", "true")
    assert page.evaluate("navigator.clipboard.readText()") == original

    # Edit: inline textarea, saved text replaces the suggestion on both screens.
    edited = "Texte corrigé par l'agent."
    card.get_by_test_id("edit-button").click()
    card.get_by_test_id("edit-textarea").fill(edited)
    card.get_by_test_id("save-button").click()
    expect(card).to_have_attribute("data-state", "edited")
    expect(card.get_by_test_id("suggestion-text")).to_have_text(edited)
    expect(card.get_by_test_id("edit-textarea")).to_be_hidden()
    assert record_action() == "edited"
    expect(other_card.get_by_test_id("suggestion-text")).to_have_text(edited)

    # Dismiss: the card collapses, here and there.
    card.get_by_test_id("dismiss-button").click()
    expect(card).to_have_attribute("data-state", "dismissed")
    expect(card.get_by_test_id("suggestion-text")).to_be_hidden()
    assert record_action() == "dismissed"
    expect(other_card).to_have_attribute("data-state", "dismissed")
    expect(other_card.get_by_test_id("suggestion-text")).to_be_hidden()


def test_arabic_switches_page_to_rtl(page):
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    page.get_by_test_id("lang-switch-ar").click()
    html = page.locator("html")
    expect(html).to_have_attribute("dir", "rtl")
    expect(html).to_have_attribute("lang", "ar")
    expect(page.get_by_test_id("demo-button")).to_have_text(re.compile("تشغيل مكالمة تجريبية"))
    expect(page.locator("#transcript-title")).to_have_text("النص المفرَّغ")
    expect(page.get_by_test_id("lang-switch-ar")).to_have_attribute("aria-pressed", "true")
    # Nothing spills sideways in RTL.
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")

    page.reload()  # remembered
    expect(html).to_have_attribute("dir", "rtl")
    expect(page.locator("#suggestions-title")).to_have_text("الاقتراحات")

    page.get_by_test_id("lang-switch-en").click()
    expect(html).to_have_attribute("dir", "ltr")
    expect(page.get_by_test_id("demo-button")).to_have_text(re.compile("Play demo call"))
    page.get_by_test_id("lang-switch-fr").click()
    expect(html).to_have_attribute("lang", "fr")


def test_reload_after_end_rebuilds_transcript_without_duplicates(page, rafiq_server, demo_call):
    view = _wait_call_ended(rafiq_server, demo_call)
    assert view["segments"], "the demo call produced no transcript"

    # Open the call by typing its id.
    page.goto("/")
    page.get_by_test_id("call-id-input").fill(demo_call)
    page.get_by_test_id("call-id-input").press("Enter")
    expect(page.get_by_test_id("call-status")).to_have_attribute("data-status", "ended")
    expect(page.locator('[data-testid="segment"]')).to_have_count(len(view["segments"]))
    expect(page.locator('[data-testid="suggestion"]')).to_have_count(len(view["suggestions"]))
    _assert_matches_record(page, view)
    expect(page.get_by_test_id("call-elapsed")).not_to_have_text("00:00")

    # Checklist: kept per call across reloads.
    page.locator('[data-testid="checklist-item"][data-item="greet"]').check()

    # A dropped socket reconnects and is replayed: nothing is added twice. The call has ended, so
    # the first socket got its whole record: a replay is complete once as many events came again.
    recorded = page.locator("body").get_attribute("data-socket-events")
    assert recorded and int(recorded) > 0
    page.evaluate("window.__rafiq.dropSocket()")
    expect(page.locator("body")).to_have_attribute("data-ws-connects", "2")
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "connected")
    expect(page.locator("body")).to_have_attribute("data-socket-events", recorded)
    _assert_matches_record(page, view)

    # A reload rebuilds the same transcript from the replayed events.
    page.reload()
    expect(page.get_by_test_id("call-status")).to_have_attribute("data-status", "ended")
    expect(page.locator('[data-testid="segment"]')).to_have_count(len(view["segments"]))
    expect(page.locator('[data-testid="suggestion"]')).to_have_count(len(view["suggestions"]))
    expect(page.locator("body")).to_have_attribute("data-socket-events", recorded)
    _assert_matches_record(page, view)
    expect(page.locator('[data-testid="checklist-item"][data-item="greet"]')).to_be_checked()
    expect(page.locator('[data-testid="checklist-item"][data-item="close"]')).not_to_be_checked()


def _stream(floor, clip, call_id: str, agent: str, speed: float) -> dict:
    """Stream a real clip as call ``call_id`` taken by ``agent``, in a thread of its own (its own
    event loop, away from Playwright's)."""
    url = f"{floor.ws_base}/v1/calls/{call_id}/audio"
    return asyncio.run(stream_audio(decode_file(clip), url, speed=speed, api_key=floor.ingest_key(), agent=agent))


def _wait_live(base_url: str, call_id: str, headers: dict, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while httpx.get(f"{base_url}/v1/calls/{call_id}", headers=headers, timeout=30).status_code != 200:
        assert time.monotonic() < deadline, f"call {call_id} did not start within {timeout_s} s"
        time.sleep(0.2)


def test_panel_follows_the_agents_own_call_by_itself(page, floor, rafiq_server):
    page.goto("/")
    body = page.locator("body")
    expect(body).to_have_attribute("data-following", "true")  # /v1/agents/me/calls is open
    expect(page.get_by_test_id("follow-status")).to_have_attribute("data-state", "waiting")
    # Every call the panel opens, from now on.
    page.evaluate("""() => {
        window.__opened = [];
        new MutationObserver(() => window.__opened.push(document.body.getAttribute("data-call-id")))
            .observe(document.body, {attributes: true, attributeFilter: ["data-call-id"]});
    }""")

    clip, reference = fleurs_clip("fr", 1)
    other_clip, _ = fleurs_clip("es", 2)
    mine, theirs = new_call_id("mine"), new_call_id("theirs")
    with ThreadPoolExecutor(2) as pool:
        # A colleague's call starts first, then the agent's own; both at twice real time.
        other = pool.submit(_stream, floor, other_clip, theirs, floor.username("agent2"), 2.0)
        _wait_live(rafiq_server, theirs, floor.headers("agent2"))
        own = pool.submit(_stream, floor, clip, mine, floor.username("agent"), 2.0)

        # The agent's call opens by itself, while it is live, and its words appear.
        expect(body).to_have_attribute("data-call-id", mine, timeout=60_000)
        expect(page.get_by_test_id("follow-status")).to_have_attribute("data-state", "live")
        expect(page.get_by_test_id("current-call-id")).to_have_text(mine)
        assert page.url.endswith(f"#call={mine}")
        expect(page.locator(f'[data-testid="call-item"][data-call-id="{mine}"]')).to_be_visible()
        own_result, other_result = own.result(timeout=300), other.result(timeout=300)
    assert not own_result["errors"] and not other_result["errors"], (own_result, other_result)

    finals = page.locator('[data-testid="segment"][data-final="true"]')
    expect(finals.first).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("call-status")).to_have_attribute("data-status", "ended", timeout=120_000)
    view = _call_view(rafiq_server, mine)
    assert view["agent"] == floor.username("agent") and view["segments"]
    expect(finals).to_have_count(len(view["segments"]))
    shown = " ".join(finals.get_by_test_id("segment-text").all_inner_texts())
    assert words_heard(reference, shown) >= 0.3, (reference, shown)
    expect(page.get_by_test_id("follow-status")).to_have_attribute("data-state", "waiting")

    # The colleague's call never reached this panel: not opened, not listed, not announced.
    assert theirs not in page.evaluate("window.__opened")
    assert mine in page.evaluate("window.__opened")
    expect(page.locator(f'[data-testid="call-item"][data-call-id="{theirs}"]')).to_have_count(0)
    assert theirs not in page.evaluate("Object.keys(window.__rafiq.state.follow.known)")
    listed = httpx.get(f"{rafiq_server}/v1/calls", headers=floor.headers("agent"), timeout=30).json()["calls"]
    assert mine in {c["call_id"] for c in listed} and theirs not in {c["call_id"] for c in listed}
    # ...whereas it is the colleague's own call.
    colleague = httpx.get(f"{rafiq_server}/v1/calls/{theirs}", headers=floor.headers("agent2"), timeout=30)
    assert colleague.status_code == 200 and colleague.json()["agent"] == floor.username("agent2")


def test_supervisor_sees_the_calls_of_the_tenant_read_only(browser, watch, floor, rafiq_server, demo_call):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=rafiq_server, locale="fr-FR")
    ctx.set_default_timeout(30_000)
    try:
        page = ctx.new_page()
        watch.attach(page)
        username = floor.username("supervisor")
        sign_in(page, rafiq_server, username, floor.passwords[username])
        assert urlsplit(page.url).path == "/"
        expect(page.locator("body")).to_have_attribute("data-role", "supervisor")
        expect(page.get_by_test_id("demo-button")).to_be_hidden()  # only agents take calls
        expect(page.get_by_test_id("follow-status")).to_be_hidden()
        item = page.locator(f'[data-testid="call-item"][data-call-id="{demo_call}"]')
        expect(item.get_by_test_id("call-item-agent")).to_have_text(floor.username("agent"))
        item.click()
        card = page.locator('[data-testid="suggestion"]').first
        expect(card).to_be_visible(timeout=DEMO_TIMEOUT_MS)
        expect(card.get_by_test_id("use-button")).to_be_hidden()  # reads, does not act for the agent
        # Another tenant's supervisor does not see the call at all.
        other = httpx.get(f"{rafiq_server}/v1/calls", headers=floor.headers("supervisor", "other"), timeout=30)
        assert demo_call not in {c["call_id"] for c in other.json()["calls"]}
    finally:
        ctx.close()


def _play_own_call(page, floor, clip, prefix: str, speed: float) -> str:
    """Stream ``clip`` as a new call of the signed-in agent; wait until their panel opened it by
    itself and saw it end. The call id."""
    call_id = new_call_id(prefix)
    with ThreadPoolExecutor(1) as pool:
        streaming = pool.submit(_stream, floor, clip, call_id, floor.username("agent"), speed)
        expect(page.locator("body")).to_have_attribute("data-call-id", call_id, timeout=60_000)
        assert not streaming.result(timeout=300)["errors"]
    expect(page.get_by_test_id("call-status")).to_have_attribute("data-status", "ended", timeout=120_000)
    return call_id


def test_personal_data_reaches_the_panel_only_as_placeholders(page, floor, rafiq_server, tmp_path):
    """A customer reads out a card number and a phone number: the agent's panel shows the call
    with [CARD] and [PHONE] where the digits were (redaction happens before anything is shown)."""
    import subprocess

    spoken = tmp_path / "card.wav"
    # Spoken English: Whisper base transcribes espeak-ng's English digits (tests/test_privacy_calls.py).
    subprocess.run(["espeak-ng", "-v", "en", "-s", "140", "-w", str(spoken),
                    "Hello. My card number is four nine seven zero, one two three four, five six seven eight, "
                    "nine zero one three. My phone number is plus four four seven nine one one, one two three, "
                    "four five six."], check=True, timeout=60)
    page.goto("/")
    expect(page.locator("body")).to_have_attribute("data-following", "true")
    _play_own_call(page, floor, spoken, "pii", speed=2.0)
    transcript = page.get_by_test_id("transcript")
    expect(transcript).to_contain_text("[CARD]")
    expect(transcript).to_contain_text("[PHONE]")
    shown = transcript.inner_text()
    assert not re.search(r"4\W?9\W?7\W?0|7\W?9\W?1\W?1", shown), shown


def test_partial_text_is_replaced_in_place_by_the_final(page, floor, rafiq_server):
    """While the customer speaks, the line shows grey partial text; the final replaces it in the
    same element (no second line for the utterance)."""
    page.goto("/")
    expect(page.locator("body")).to_have_attribute("data-following", "true")
    # Every segment element the panel ever shows, with each state it went through.
    page.evaluate("""() => {
        window.__segments = new Map();
        const note = () => document.querySelectorAll('[data-testid="segment"]').forEach(el => {
            if (!window.__segments.has(el)) window.__segments.set(el, []);
            const states = window.__segments.get(el);
            const now = el.getAttribute("data-final") + ":" + el.getAttribute("data-segment-id");
            if (states[states.length - 1] !== now) states.push(now);
        });
        new MutationObserver(note).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                           attributeFilter: ["data-final"]});
    }""")
    clip, _ = fleurs_clip("es", 1)  # a long utterance: several partials before its final
    _play_own_call(page, floor, clip, "partial", speed=1.0)
    histories = page.evaluate("() => Array.from(window.__segments.values())")
    # At least one utterance was seen partial first, then final, in one and the same element.
    replaced = [h for h in histories if h[0].startswith("false:") and h[-1].startswith("true:")]
    assert replaced, histories
    for history in replaced:
        assert len({state.split(":", 1)[1] for state in history}) == 1, history  # the same segment throughout
    ids = page.eval_on_selector_all('[data-testid="segment"]', "els => els.map(e => e.getAttribute('data-segment-id'))")
    assert len(ids) == len(set(ids)), ids
    expect(page.locator('[data-testid="segment"][data-final="false"]')).to_have_count(0)
