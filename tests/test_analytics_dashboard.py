"""The supervisors' dashboard on PostgreSQL, from real calls: three FLEURS clips streamed as calls
of two agents and two campaigns, suggestions used and dismissed through the API, one question
left unanswered (a knowledge gap). Every chart's numbers are checked against values computed by
hand from the calls' own records (GET /v1/calls/{id}); CSV against JSON; tenant and team scope;
each call's ASR compute and energy; the page in Chromium draws the charts with those numbers."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from playwright.sync_api import expect

from assistant.simulate import stream_audio
from tests.browser import PageWatch, browser, sign_in  # noqa: F401  (fixture)
from tests.conftest import bearer, clip_audio, new_call_id, wait_for_call_end

CPU_WATTS = 65.0  # RAFIQ_ASR_WATTS_CPU's default: the test server decodes on the CPU
CHARTS = ["totals", "calls_per_hour", "calls_per_day", "handle_time", "talk_listen", "silence_share",
          "language_mix", "sentiment", "sentiment_trend", "top_articles", "acceptance_by_agent",
          "acceptance_by_article", "knowledge_gaps", "alerts_per_rule", "quality_by_agent", "compute"]


def article_for(language: str, index: int, title: str) -> dict:
    _, said = clip_audio(language, index)
    return {"title": title, "language": language, "body": said, "questions": [said], "publish": True}


class Desk:
    """The module's tenant, its calls' records and the people's headers."""

    def __init__(self, floor, tenant: str):
        self.floor = floor
        self.tenant = tenant
        self.base = floor.base_url
        self.calls: dict[str, dict] = {}  # name → the call's record, once final

    def get(self, path: str, person: str = "supervisor", headers: dict | None = None, **params) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", params=params, timeout=60,
                         headers=headers or self.floor.headers(person, self.tenant))

    def chart(self, name: str, headers: dict | None = None, **params) -> dict:
        response = self.get(f"/v1/analytics/charts/{name}", headers=headers, **{**self.today, **params})
        assert response.status_code == 200, response.text
        return response.json()

    @property
    def today(self) -> dict:
        day = datetime.now(timezone.utc).date()
        return {"from": (day - timedelta(days=1)).isoformat(), "to": (day + timedelta(days=1)).isoformat()}


async def _call(desk: Desk, clip: tuple[str, int], agent: str, campaign: str) -> str:
    audio, _ = clip_audio(*clip)
    call_id = new_call_id("dash")
    await stream_audio(audio, f"{desk.floor.ws_base}/v1/calls/{call_id}/audio", speed=0,
                       api_key=desk.floor.ingest_key(desk.tenant), agent=desk.floor.username(agent, desk.tenant),
                       campaign=campaign)
    await wait_for_call_end(desk.base, call_id, token=desk.floor.token("supervisor", desk.tenant))
    return call_id


def _feedback(desk: Desk, call_id: str, agent: str, action: str) -> None:
    call = desk.get(f"/v1/calls/{call_id}").json()
    assert call["suggestions"], f"no suggestion for {[s['text'] for s in call['segments']]}"
    suggestion = call["suggestions"][0]["suggestion_id"]
    response = httpx.post(f"{desk.base}/v1/calls/{call_id}/suggestions/{suggestion}/feedback",
                          headers=desk.floor.headers(agent, desk.tenant), json={"action": action}, timeout=30)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def desk(pg_floor) -> Desk:
    desk = Desk(pg_floor, pg_floor.add_tenant(f"dash{uuid.uuid4().hex[:6]}"))
    for article in (article_for("fr", 0, "Article A"), article_for("es", 1, "Artículo B")):
        response = httpx.post(f"{desk.base}/v1/kb/articles", headers=pg_floor.headers("trainer", desk.tenant),
                              json=article, timeout=60)
        assert response.status_code == 201, response.text
    # A checklist for every campaign of the tenant: each call gets a quality score.
    checklist = {"name": "Qualité", "items": [{"id": "greeting", "label": "Accueil", "phrases": ["bonjour", "hola", "hello"]},
                                              {"id": "thanks", "label": "Merci", "phrases": ["merci", "gracias", "thank"]}]}
    response = httpx.post(f"{desk.base}/v1/checklists", headers=pg_floor.headers("supervisor", desk.tenant),
                          json=checklist, timeout=30)
    assert response.status_code == 201, response.text

    async def calls():
        a = await _call(desk, ("fr", 0), "agent", "alpha")
        b = await _call(desk, ("es", 1), "agent2", "beta")
        c = await _call(desk, ("en", 2), "agent", "alpha")  # no article says this: a knowledge gap
        return {"a": a, "b": b, "c": c}

    ids = asyncio.run(calls())
    _feedback(desk, ids["a"], "agent", "used")
    _feedback(desk, ids["b"], "agent2", "dismissed")
    # Feedback after a call reaches its figures in the background: wait until both are counted.
    for _ in range(100):
        used = desk.chart("acceptance_by_agent")["rows"]
        if sum(r["used"] + r["dismissed"] for r in used) == 2:
            break
        asyncio.run(asyncio.sleep(0.1))
    desk.calls = {name: desk.get(f"/v1/calls/{call_id}").json() for name, call_id in ids.items()}
    return desk


# -- the hand computation, from each call's record ---------------------------------------------------

def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _speech(call: dict, speaker: str) -> float:
    spans = sorted((s["start"], s["end"]) for s in call["segments"] if s["speaker"] == speaker)
    total, end = 0.0, None
    for a, b in spans:  # one speaker's finals follow one another; merged anyway
        if end is not None and a < end:
            a = end
        total += max(0.0, b - a)
        end = max(end or b, b)
    return total


def _duration(call: dict) -> float:
    return (_moment(call["ended_at"]) - _moment(call["started_at"])).total_seconds()


def _main_language(call: dict) -> str:
    seconds = Counter()
    for s in call["segments"]:
        seconds[s["language"]] += s["end"] - s["start"]
    return seconds.most_common(1)[0][0]


def _shown(call: dict) -> list[dict]:
    return [s for s in call["suggestions"] if not s.get("replaces")]


# -- the tests ------------------------------------------------------------------------------------------

def test_each_real_call_records_its_asr_compute_and_energy(desk):
    for name, call in desk.calls.items():
        compute = call["compute"]
        assert compute is not None, name
        assert compute["device"] == "cpu" and compute["watts"] == CPU_WATTS
        assert compute["asr_encoder_s"] > 0 and compute["asr_decoder_s"] > 0
        assert compute["asr_s"] == pytest.approx(compute["asr_encoder_s"] + compute["asr_decoder_s"], abs=2e-4)
        assert compute["energy_wh"] == pytest.approx(compute["asr_s"] * CPU_WATTS / 3600, abs=1e-5)
        # Every final was decoded at least once, and no decode is of audio the call did not have.
        assert compute["asr_decodes"] >= len(call["segments"]) > 0
        assert compute["asr_audio_s"] >= sum(s["end"] - s["start"] for s in call["segments"]) * 0.9


def _call_sentiment(call: dict) -> str | None:
    """The call's customer sentiment by hand: the mean of +score / 0 / -score over its utterances,
    negative under -0.2, positive over 0.2."""
    sign = {"negative": -1, "neutral": 0, "positive": 1}
    signed = [sign[s["sentiment"]["label"]] * s["sentiment"]["score"] for s in call["segments"]
              if s["speaker"] == "customer"]
    if not signed:
        return None
    mean = sum(signed) / len(signed)
    return "negative" if mean < -0.2 else "positive" if mean > 0.2 else "neutral"


def test_the_charts_match_the_calls_computed_by_hand(desk):
    calls = list(desk.calls.values())
    by_day = Counter(c["started_at"][:10] for c in calls)
    assert desk.chart("calls_per_day")["rows"] == [{"day": d, "calls": n} for d, n in sorted(by_day.items())]
    by_hour = Counter(int(c["started_at"][11:13]) for c in calls)
    assert desk.chart("calls_per_hour")["rows"] == [{"hour": h, "calls": by_hour.get(h, 0)} for h in range(24)]

    (day, _), = by_day.items() if len(by_day) == 1 else pytest.skip("the calls straddled midnight UTC")
    durations = [_duration(c) for c in calls]
    handle, = desk.chart("handle_time")["rows"]
    assert handle["day"] == day and handle["calls"] == 3
    assert handle["avg_handle_s"] == pytest.approx(sum(durations) / 3, abs=0.06)

    silence, = desk.chart("silence_share")["rows"]
    speech = [_speech(c, "customer") + _speech(c, "agent") for c in calls]
    expected_silence = sum(max(d, max(s["end"] for s in c["segments"])) - sp
                           for d, sp, c in zip(durations, speech, calls))
    assert silence["duration_s"] == pytest.approx(sum(durations), abs=0.01)
    assert silence["silence_s"] == pytest.approx(expected_silence, abs=0.01)
    assert silence["silence_share"] == pytest.approx(expected_silence / sum(durations), abs=1e-3)
    assert silence["overtalk_share"] == 0.0  # one channel: nobody talks over anyone

    talk = {r["agent"]: r for r in desk.chart("talk_listen")["rows"]}
    for person in ("agent", "agent2"):
        own = [c for c in calls if c["agent"] == desk.floor.username(person, desk.tenant)]
        row = talk[desk.floor.username(person, desk.tenant)]
        assert row["calls"] == len(own) and row["talk_s"] == 0.0 and row["talk_listen_ratio"] == 0.0
        assert row["listen_s"] == pytest.approx(sum(_speech(c, "customer") for c in own), abs=0.01)

    languages = Counter(_main_language(c) for c in calls)
    assert {r["language"]: r["calls"] for r in desk.chart("language_mix")["rows"]} == dict(languages)

    # Customer sentiment: utterances per label, and each call's label from the mean signed score.
    labels = ("negative", "neutral", "positive")
    utterances = Counter(s["sentiment"]["label"] for c in calls for s in c["segments"] if s["speaker"] == "customer")
    call_labels = Counter(_call_sentiment(c) for c in calls)
    assert desk.chart("sentiment")["rows"] == [{"sentiment": s, "calls": call_labels[s], "utterances": utterances[s]}
                                               for s in labels]
    trend, = desk.chart("sentiment_trend")["rows"]
    assert trend["day"] == day and {s: trend[s] for s in labels} == {s: call_labels[s] for s in labels}

    shown = [(c["agent"], s) for c in calls for s in _shown(c)]
    per_article = defaultdict(Counter)
    for _, s in shown:
        per_article[s["sources"][0]["article_id"]]["suggested"] += 1
        per_article[s["sources"][0]["article_id"]][(s["feedback"] or {}).get("action")] += 1
    top = desk.chart("top_articles")["rows"]
    assert {r["article_id"]: (r["suggested"], r["used"]) for r in top} == {
        a: (n["suggested"], n["used"]) for a, n in per_article.items()}
    titles = {s["sources"][0]["article_id"]: s["sources"][0]["title"] for _, s in shown}
    assert all(r["title"] == titles[r["article_id"]] for r in top)
    by_article = {r["article_id"]: r for r in desk.chart("acceptance_by_article")["rows"]}
    for article, n in per_article.items():
        row = by_article[article]
        assert (row["shown"], row["used"], row["edited"], row["dismissed"]) == (
            n["suggested"], n["used"], n["edited"], n["dismissed"])
        assert row["no_action"] == n[None]
    per_agent = defaultdict(Counter)
    for agent, s in shown:
        per_agent[agent]["shown"] += 1
        per_agent[agent][(s["feedback"] or {}).get("action")] += 1
    by_agent = {r["agent"]: r for r in desk.chart("acceptance_by_agent")["rows"]}
    assert set(by_agent) == set(per_agent)
    for agent, n in per_agent.items():
        row = by_agent[agent]
        assert (row["shown"], row["used"], row["edited"], row["dismissed"]) == (
            n["shown"], n["used"], n["edited"], n["dismissed"])
        assert row["acceptance"] == round((n["used"] + n["edited"]) / n["shown"], 4)
    assert sum(n["used"] for n in per_agent.values()) == 1 and sum(n["dismissed"] for n in per_agent.values()) == 1

    gaps = desk.get("/v1/kb/gaps", person="trainer").json()["gaps"]
    assert gaps, "the unanswered question opened no knowledge gap"
    assert desk.chart("knowledge_gaps")["rows"] == [{"day": day, "opened": len(gaps)}]

    assert desk.chart("alerts_per_rule")["rows"] == []  # this tenant has no alert rule
    scores = defaultdict(list)
    for call in calls:
        assert call["quality"] is not None, f"{call['call_id']} was not scored"
        scores[call["agent"]].append(call["quality"]["score"])
    assert {r["agent"]: (r["calls"], r["mean_score"]) for r in desk.chart("quality_by_agent")["rows"]} == {
        agent: (len(s), round(sum(s) / len(s), 1)) for agent, s in scores.items()}

    compute, = desk.chart("compute")["rows"]
    assert compute["calls"] == 3
    for key in ("asr_encoder_s", "asr_decoder_s", "asr_s"):
        assert compute[key] == pytest.approx(sum(c["compute"][key] for c in calls), abs=0.002)
    assert compute["energy_wh"] == pytest.approx(sum(c["compute"]["energy_wh"] for c in calls), abs=1e-4)

    totals, = desk.chart("totals")["rows"]
    assert totals["calls"] == totals["ended"] == 3
    assert totals["suggestions_shown"] == len(shown) and totals["suggestions_used"] == 1
    assert totals["energy_wh"] == pytest.approx(compute["energy_wh"], abs=1e-4)


def test_filters_by_campaign_and_dates(desk):
    alpha = [c for c in desk.calls.values() if c["campaign"] == "alpha"]
    assert len(alpha) == 2
    assert desk.chart("totals", campaign="alpha")["rows"][0]["calls"] == 2
    assert desk.chart("totals", campaign="nothing")["rows"][0]["calls"] == 0
    assert desk.chart("totals", **{"from": "2020-01-01", "to": "2020-01-31"})["rows"][0]["calls"] == 0
    first = min(_moment(c["started_at"]) for c in desk.calls.values())
    after_first = (first + timedelta(milliseconds=1)).isoformat()
    assert desk.chart("totals", **{"from": after_first})["rows"][0]["calls"] == 2


def test_csv_has_the_same_numbers_as_json(desk):
    names = desk.get("/v1/analytics/charts").json()["charts"]
    assert names == CHARTS
    for name in names:
        data = desk.chart(name)
        response = desk.get(f"/v1/analytics/charts/{name}", format="csv", **desk.today)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        lines = list(csv.reader(io.StringIO(response.text)))
        assert lines[0] == data["columns"], name
        expected = [["" if row[c] is None else str(row[c]) for c in data["columns"]] for row in data["rows"]]
        assert lines[1:] == expected, name


def test_charts_are_scoped_to_the_tenant_and_the_team(desk):
    floor = desk.floor
    store = floor.server.accounts()
    names = {}
    try:
        for team in (f"team-{desk.tenant}", "elsewhere"):
            username, password = f"sup-{team}-{uuid.uuid4().hex[:4]}", uuid.uuid4().hex
            store.add_user(username, password, ["supervisor"], desk.tenant, team=team)
            names[team] = bearer(floor.server.token(username, password))
    finally:
        store.engine.dispose()
    # The calls' agents are in team-<tenant>: its supervisor sees them, another team's does not.
    assert desk.chart("totals", headers=names[f"team-{desk.tenant}"])["rows"][0]["calls"] == 3
    assert desk.chart("totals", headers=names["elsewhere"])["rows"][0]["calls"] == 0
    assert desk.chart("top_articles", headers=names["elsewhere"])["rows"] == []
    refused = desk.get("/v1/analytics/charts/totals", headers=names["elsewhere"], team=f"team-{desk.tenant}")
    assert refused.status_code == 403 and refused.json()["detail"]["code"] == "other_team"
    # A supervisor without a team may narrow to one.
    assert desk.chart("totals", team="elsewhere")["rows"][0]["calls"] == 0
    assert desk.chart("totals", team=f"team-{desk.tenant}")["rows"][0]["calls"] == 3
    # Another tenant's supervisor sees none of these calls; agents and trainers no dashboard at all.
    stranger = floor.add_tenant()
    assert desk.chart("totals", headers=floor.headers("supervisor", stranger))["rows"][0]["calls"] == 0
    assert desk.chart("top_articles", headers=floor.headers("supervisor", stranger))["rows"] == []
    for person in ("agent", "trainer", "admin"):
        assert desk.get("/v1/analytics/charts/totals", person=person).status_code == 403


def test_bad_requests_are_refused_with_a_code(desk):
    cases = [("/v1/analytics/charts/nope", {}, 404, "unknown_chart"),
             ("/v1/analytics/charts/totals", {"from": "yesterday"}, 422, "bad_date"),
             ("/v1/analytics/charts/totals", {"from": "2026-02-01", "to": "2026-01-01"}, 422, "bad_range"),
             ("/v1/analytics/charts/totals", {"from": "2020-01-01", "to": "2026-01-01"}, 422, "range_too_long")]
    for path, params, status, code in cases:
        response = desk.get(path, **params)
        assert response.status_code == status and response.json()["detail"]["code"] == code, response.text
    assert desk.get("/v1/analytics/charts/totals", format="xml").status_code == 422


# -- the page -----------------------------------------------------------------------------------------

@pytest.fixture
def page(browser, desk):
    watch = PageWatch(desk.base)
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=desk.base, locale="fr-FR")
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    watch.attach(page)
    username = desk.floor.username("supervisor", desk.tenant)
    query = "?" + "&".join(f"{k}={v}" for k, v in desk.today.items())
    sign_in(page, desk.base, username, desk.floor.passwords[username],
            next_path="/supervisor/analytics" + query)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    yield page
    ctx.close()
    assert not watch.errors, f"JavaScript errors on the page: {watch.errors}"
    assert not watch.foreign, f"the page reached outside its origin: {watch.foreign}"


def _drawn(page, name: str) -> list:
    """The numbers Chart.js drew for ``name``: its datasets' data."""
    return page.evaluate("(n) => { var c = window.__rafiqAnalytics.state.charts[n];"
                         " return c ? c.data.datasets.map(function (d) { return d.data; }) : null; }", name)


def test_the_page_draws_the_charts_from_the_real_calls(page, desk):
    calls = list(desk.calls.values())
    expect(page.locator('[data-total="calls"] [data-testid="total-value"]')).to_have_text("3")
    assert _drawn(page, "calls_per_day") == [[3]] or len({c["started_at"][:10] for c in calls}) > 1
    by_hour = Counter(int(c["started_at"][11:13]) for c in calls)
    assert _drawn(page, "calls_per_hour") == [[by_hour.get(h, 0) for h in range(24)]]
    languages = Counter(_main_language(c) for c in calls)
    assert sorted(_drawn(page, "language_mix")[0]) == sorted(languages.values())
    used = page.locator('[data-chart="acceptance_by_agent"] [data-testid="chart-row"] td[data-column="used"]')
    assert sorted(used.all_text_contents()) == ["0", "1"]
    scores = defaultdict(list)
    for call in calls:
        scores[call["agent"]].append(call["quality"]["score"])
    means = sorted(round(sum(s) / len(s), 1) for s in scores.values())
    if any(means):
        assert sorted(_drawn(page, "quality_by_agent")[0]) == means
    else:  # these calls carry no agent speech: every score is 0, drawn as "nothing yet"
        assert page.locator('[data-chart="quality_by_agent"] [data-testid="chart-empty"]').is_visible()
        assert page.locator('[data-chart="quality_by_agent"]').get_attribute("data-rows") == str(len(means))
    energy = page.locator('[data-total="energy_wh"] [data-testid="total-value"]').text_content()
    assert float(energy) == pytest.approx(sum(c["compute"]["energy_wh"] for c in calls), abs=1e-4)
    # Each chart's links give its JSON and CSV with the page's filters.
    href = page.locator('[data-chart="compute"] [data-testid="chart-csv"]').get_attribute("href")
    assert href.startswith("/v1/analytics/charts/compute?") and "format=csv" in href
    response = page.request.get(desk.base + href)
    assert response.ok and response.text().splitlines()[0].startswith("day,calls,asr_encoder_s")
    page.screenshot(path="/tmp/analytics.png", full_page=True)


def test_filters_by_keyboard_and_arabic_right_to_left(page, desk):
    campaign = page.get_by_test_id("filter-campaign")
    campaign.focus()
    page.keyboard.type("beta")
    page.keyboard.press("Enter")  # the form submits from the keyboard
    expect(page.locator('[data-total="calls"] [data-testid="total-value"]')).to_have_text("1")
    assert "campaign=beta" in page.url
    page.get_by_test_id("lang-switch-ar").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator('[data-chart="calls_per_day"] h2')).to_have_text("المكالمات حسب اليوم")
    # The numbers are a native disclosure: Enter on its summary opens it.
    summary = page.locator('[data-chart="calls_per_day"] summary')
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.locator('[data-chart="calls_per_day"] td[data-column="calls"]')).to_have_text("1")


def test_a_supervisor_with_a_team_sees_that_team_on_the_page(browser, desk):
    store = desk.floor.server.accounts()
    username, password = f"sup-north-{uuid.uuid4().hex[:4]}", uuid.uuid4().hex
    try:
        store.add_user(username, password, ["supervisor"], desk.tenant, team="elsewhere")
    finally:
        store.engine.dispose()
    watch = PageWatch(desk.base)
    ctx = browser.new_context(base_url=desk.base, locale="en-GB")
    page = ctx.new_page()
    watch.attach(page)
    query = "?" + "&".join(f"{k}={v}" for k, v in desk.today.items())
    sign_in(page, desk.base, username, password, next_path="/supervisor/analytics" + query)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    team = page.get_by_test_id("filter-team")
    expect(team).to_have_value("elsewhere")
    assert team.evaluate("e => e.readOnly")
    # The tenant's calls are team-<tenant>'s: none of them is this supervisor's to count.
    expect(page.locator('[data-total="calls"] [data-testid="total-value"]')).to_have_text("0")
    assert "team=elsewhere" in page.url
    ctx.close()
    assert not watch.errors and not watch.foreign, (watch.errors, watch.foreign)
