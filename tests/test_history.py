"""Call history, search, export, post-call summary and wrap-up through the real server (Whisper
base on real audio, the real event path), on SQLite and on PostgreSQL.

Each backend gets a tenant of its own with three calls: a FLEURS French clip (agent, campaign
"zoo", answered by an article a trainer published for it), an Arabic call (agent2, campaign
"cards") and a FLEURS English clip (agent). There is no Arabic speech with a usable licence in
the shared data, so the Arabic call is espeak-ng's Arabic voice decoded with Arabic forced:
Whisper base writes Arabic script for it, not necessarily the words said, so the Arabic search
looks for a word Whisper actually wrote, spelt differently (hamza, ta marbuta, alef maqsura,
tatweel, harakat), which is what Arabic normalisation is for.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import shutil
import subprocess
import unicodedata
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import numpy as np
import pytest
import websockets

from speech.audio import decode_file
from tests.conftest import clip_audio, new_call_id, wait_for_call_end

ARABIC_SENTENCE = "أريد إلغاء الفاتورة من فضلك، الفاتورة مرتفعة جدا هذا الشهر"
ARABIC_LETTER = re.compile(r"[\u0621-\u064a]")


async def stream_call(floor, tenant: str, call_id: str, audio: np.ndarray, *, agent: str, language: str,
                      campaign: str | None = None) -> None:
    """The native ingest, as a PBX would: a start message with the agent, the campaign and the
    language forced, the audio as fast as it goes, then stop."""
    start = {"type": "start", "encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1, "roles": ["customer"],
             "language": language, "language_mode": "force", "agent": agent}
    if campaign:
        start["campaign"] = campaign
    pcm = (np.clip(audio[0], -1, 1) * 32767).astype("<i2").tobytes()
    async with websockets.connect(f"{floor.ws_base}/v1/calls/{call_id}/audio",
                                  additional_headers=floor.headers("ingest", tenant), max_size=None) as ws:
        await ws.send(json.dumps(start))
        for offset in range(0, len(pcm), 6400):
            await ws.send(pcm[offset:offset + 6400])
        await ws.send(json.dumps({"type": "stop"}))
        try:
            await asyncio.wait_for(ws.recv(), 180)
        except websockets.ConnectionClosed:
            pass


def arabic_audio(tmp_path) -> np.ndarray:
    binary = shutil.which("espeak-ng")
    assert binary, "espeak-ng is missing: scripts/test-services.sh installs it"
    path = tmp_path / "arabic.wav"
    subprocess.run([binary, "-v", "ar", "-s", "140", "-w", str(path), ARABIC_SENTENCE], check=True, timeout=60)
    return decode_file(path)[:1]


class World:
    """One backend's tenant, its people and the calls made in it."""

    def __init__(self, floor, tenant: str, backend: str):
        self.floor, self.tenant, self.backend = floor, tenant, backend
        self.calls: dict[str, str] = {}
        self.views: dict[str, dict] = {}

    def headers(self, person: str = "supervisor", tenant: str | None = None) -> dict:
        return self.floor.headers(person, tenant or self.tenant)

    def get(self, path: str, person: str = "supervisor", **params) -> httpx.Response:
        return httpx.get(f"{self.floor.base_url}{path}", params=params, headers=self.headers(person), timeout=60)

    def ids(self, person: str = "supervisor", **params) -> set[str]:
        response = self.get("/v1/calls", person, **params)
        assert response.status_code == 200, response.text
        return {c["call_id"] for c in response.json()["calls"]}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory) -> World:
    floor = request.getfixturevalue("floor" if request.param == "sqlite" else "pg_floor")
    tenant = floor.add_tenant()
    w = World(floor, tenant, request.param)
    fr_audio, fr_reference = clip_audio("fr", 3)
    # The article a trainer wrote for this question, so the French call gets a suggestion to use.
    article = httpx.post(f"{floor.base_url}/v1/kb/articles", headers=w.headers("trainer"), timeout=60, json={
        "title": "Le rugissement du tigre", "language": "fr", "campaign": "zoo", "publish": True,
        "body": "Le tigre ne rugit pas comme le lion : son rugissement est fait de cris et de grondements.",
        "questions": [fr_reference]})
    assert article.status_code == 201, article.text
    w.article_id = article.json()["id"]

    async def make(key: str, audio, agent: str, language: str, campaign: str | None = None) -> None:
        call_id = new_call_id(f"hist-{key}")
        w.calls[key] = call_id
        await stream_call(floor, tenant, call_id, audio, agent=floor.username(agent, tenant), language=language,
                          campaign=campaign)
        w.views[key] = await wait_for_call_end(floor.base_url, call_id, token=floor.token("supervisor", tenant))

    asyncio.run(make("fr", fr_audio, "agent", "fr", "zoo"))
    asyncio.run(make("ar", arabic_audio(tmp_path_factory.mktemp("ar")), "agent2", "ar", "cards"))
    # A page of the history read before the third call starts (the cursor test goes on after it).
    w.first_page = w.get("/v1/calls", limit=1).json()
    asyncio.run(make("en", clip_audio("en", 0)[0], "agent", "en"))
    # The agent uses the suggestion of the French call.
    suggestions = w.views["fr"]["suggestions"]
    assert suggestions, "the French call got no suggestion"
    used = httpx.post(f"{floor.base_url}/v1/calls/{w.calls['fr']}/suggestions/{suggestions[0]['suggestion_id']}"
                      "/feedback", headers=w.headers("agent"), json={"action": "used"}, timeout=30)
    assert used.status_code == 200, used.text
    # agent2 files the Arabic call as billing.
    confirmed = httpx.put(f"{floor.base_url}/v1/calls/{w.calls['ar']}/wrap_up", headers=w.headers("agent2"),
                          json={"code": "billing"}, timeout=30)
    assert confirmed.status_code == 200, confirmed.text
    return w


def _accentless_upper(word: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch)).upper()


def test_french_search_finds_the_call_whatever_the_case_and_accents(world):
    text = " ".join(s["text"] for s in world.views["fr"]["segments"])
    word = max(re.findall(r"\w+", text), key=len)
    query = _accentless_upper(word)
    print(f"[{world.backend}] French transcript {text!r}; searched {query!r}")
    assert world.ids(q=query) == {world.calls["fr"]}
    # Every word must be there, whole.
    assert world.ids(q=f"{query} zzzyyyxxx") == set()
    assert world.ids(q=query[:-2]) == set()
    assert world.ids(q="zzzyyyxxx") == set()


def _arabic_variant(word: str) -> str:
    """The same word as another hand would type it: hamza on the alef, ta marbuta / alef maqsura
    swapped for their look-alikes, a tatweel and harakat."""
    variant = word.replace("ا", "أ", 1) if "ا" in word else word
    if variant.endswith("ه"):
        variant = variant[:-1] + "ة"
    elif variant.endswith("ي"):
        variant = variant[:-1] + "ى"
    return variant[0] + "\u0640" + variant[1] + "\u064e" + variant[2:]


def test_arabic_search_finds_the_call_spelt_another_way(world):
    segments = world.views["ar"]["segments"]
    assert segments and all(s["language"] == "ar" for s in segments)
    text = " ".join(s["text"] for s in segments)
    arabic_words = [w for w in re.findall(r"\w+", text) if ARABIC_LETTER.search(w) and len(w) >= 3]
    assert arabic_words, f"no Arabic word in {text!r}"
    word = max(arabic_words, key=len)
    variant = _arabic_variant(word)
    print(f"[{world.backend}] Arabic transcript {text!r}; searched {variant!r} for {word!r}")
    assert variant != word
    assert world.ids(q=variant) == {world.calls["ar"]}
    assert world.calls["ar"] not in world.ids(q=_accentless_upper(max(re.findall(r"\w+", " ".join(
        s["text"] for s in world.views["fr"]["segments"])), key=len)))


def test_each_filter_narrows_to_the_calls_it_describes(world):
    fr, ar, en = world.calls["fr"], world.calls["ar"], world.calls["en"]
    everything = {fr, ar, en}
    assert world.ids() == everything
    assert world.ids(language="fr") == {fr} and world.ids(language="ar") == {ar} and world.ids(language="en") == {en}
    assert world.ids(agent=world.floor.username("agent2", world.tenant)) == {ar}
    assert world.ids(agent=world.floor.username("agent", world.tenant)) == {fr, en}
    assert world.ids(team=f"team-{world.tenant}") == everything and world.ids(team="nobody") == set()
    assert world.ids(campaign="zoo") == {fr} and world.ids(campaign="cards") == {ar}
    assert world.ids(suggestion_used="true") == {fr} and world.ids(suggestion_used="false") == {ar, en}
    assert world.ids(wrap_up="billing") == {ar}
    # No alert rules in this branch's calls: none has an alert.
    assert world.ids(has_alert="false") == everything and world.ids(has_alert="true") == set()
    durations = {c["call_id"]: c["duration_s"] for c in world.get("/v1/calls").json()["calls"]}
    longest = max(durations, key=durations.get)
    assert world.ids(min_duration=str(durations[longest])) == {longest}
    assert world.ids(min_duration="0") == everything
    started = {c["call_id"]: c["started_at"] for c in world.get("/v1/calls").json()["calls"]}
    assert world.ids(**{"from": started[ar]}) == {ar, en}
    assert world.ids(to=started[ar]) == {fr, ar}
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    assert world.ids(**{"from": tomorrow}) == set() and world.ids(to="2020-01-01") == set()
    assert world.ids(to=tomorrow) == everything
    # The call's customer sentiment, by hand from its finals: the mean of +score / 0 / -score,
    # negative under -0.2, positive over 0.2 (calls without a customer final have none).
    sign = {"negative": -1, "neutral": 0, "positive": 1}
    labels = {}
    for name, call_id in world.calls.items():
        signed = [sign[s["sentiment"]["label"]] * s["sentiment"]["score"]
                  for s in world.get(f"/v1/calls/{call_id}").json()["segments"] if s["speaker"] == "customer"]
        mean = sum(signed) / len(signed) if signed else None
        labels[call_id] = (None if mean is None else "negative" if mean < -0.2 else "positive" if mean > 0.2
                           else "neutral")
    for label in ("negative", "neutral", "positive"):
        assert world.ids(sentiment=label) == {c for c, found in labels.items() if found == label}, label
    assert world.ids(language="fr", campaign="cards") == set()


def test_cursor_pages_have_no_duplicate_or_hole_even_when_a_call_starts_meanwhile(world):
    first = world.first_page  # read before the English call started
    seen = [c["call_id"] for c in first["calls"]]
    assert seen == [world.calls["ar"]] and first["next_cursor"]
    cursor = first["next_cursor"]
    while cursor:
        page = world.get("/v1/calls", limit=1, cursor=cursor).json()
        seen += [c["call_id"] for c in page["calls"]]
        cursor = page["next_cursor"]
    assert seen == [world.calls["ar"], world.calls["fr"]]  # the newer English call does not shift the pages
    walked, cursor = [], None
    while True:
        page = world.get("/v1/calls", limit=2, **({"cursor": cursor} if cursor else {})).json()
        walked += [c["call_id"] for c in page["calls"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert walked == [world.calls["en"], world.calls["ar"], world.calls["fr"]]


def test_the_filtered_list_exports_as_csv_and_json_lines(world):
    listed = world.get("/v1/calls", agent=world.floor.username("agent", world.tenant)).json()["calls"]
    response = world.get("/v1/calls/export", format="csv", agent=world.floor.username("agent", world.tenant))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert [r["call_id"] for r in rows] == [c["call_id"] for c in listed]
    assert {"started_at", "duration_s", "agent", "campaign", "languages", "wrap_up", "suggestions_used",
            "summary"} <= set(rows[0])
    by_id = {r["call_id"]: r for r in rows}
    assert by_id[world.calls["fr"]]["suggestions_used"] == "1" and by_id[world.calls["fr"]]["campaign"] == "zoo"
    lines = world.get("/v1/calls/export", format="jsonl").text.splitlines()
    exported = [json.loads(line) for line in lines]
    assert {e["call_id"] for e in exported} == set(world.calls.values())
    arabic = next(e for e in exported if e["call_id"] == world.calls["ar"])
    assert arabic["wrap_up"] == "billing" and ARABIC_LETTER.search(arabic["summary"])
    assert world.get("/v1/calls/export", format="xml").json()["detail"]["code"] == "bad_format"
    assert world.get("/v1/calls/export", format="csv", sentiment="angry").status_code == 422


def test_the_call_has_a_summary_in_its_language_and_a_wrap_up(world):
    fr = world.get(f"/v1/calls/{world.calls['fr']}").json()
    detail = fr["summary_detail"]
    assert isinstance(fr["summary"], str) and detail["language"] == "fr"
    transcript = " ".join(s["text"] for s in fr["segments"])
    assert detail["reason"] and all(part.strip() in transcript for part in detail["reason"].split(" … "))
    assert fr["summary"].startswith("Motif : « ") and "Issue : appel terminé normalement" in fr["summary"]
    assert {"article_id": world.article_id, "title": "Le rugissement du tigre", "action": "used"} in detail["answers"]
    assert "Le rugissement du tigre (utilisée)" in fr["summary"]
    assert detail["outcome"]["end_reason"] == "stop" and detail["outcome"]["last_customer"]
    codes = {c["code"] for c in world.get("/v1/wrap-up-codes").json()["codes"]}
    assert fr["wrap_up"] in codes and fr["wrap_up_detail"]["suggested"] == fr["wrap_up"]
    assert fr["wrap_up_detail"]["confirmed"] is None
    ar = world.get(f"/v1/calls/{world.calls['ar']}").json()
    assert ar["summary_detail"]["language"] == "ar" and ar["summary"].startswith("سبب الاتصال")
    assert ar["wrap_up"] == "billing"
    wrap = ar["wrap_up_detail"]
    assert wrap["confirmed"] == "billing" and wrap["by"] == world.floor.username("agent2", world.tenant)
    assert wrap["label"] == "الفوترة" and datetime.fromisoformat(wrap["at"]) <= datetime.now(timezone.utc)
    # The agent of the call sees it too; a colleague cannot confirm it, a supervisor can.
    assert world.get(f"/v1/calls/{world.calls['ar']}", "agent2").json()["wrap_up"] == "billing"
    put = lambda person, code: httpx.put(f"{world.floor.base_url}/v1/calls/{world.calls['ar']}/wrap_up",  # noqa: E731
                                         headers=world.headers(person), json={"code": code}, timeout=30)
    assert put("agent", "billing").status_code == 404
    assert put("supervisor", "no-such-code").json()["detail"]["code"] == "unknown_wrap_up_code"
    assert put("supervisor", "complaint").status_code == 200
    assert world.get(f"/v1/calls/{world.calls['ar']}").json()["wrap_up_detail"]["by"] == \
        world.floor.username("supervisor", world.tenant)
    assert put("agent2", "billing").status_code == 200
    audit = httpx.get(f"{world.floor.base_url}/v1/audit", params={"action": "call.wrap_up"},
                      headers=world.headers("admin"), timeout=30).json()["entries"]
    assert sum(1 for e in audit if e["target"] == world.calls["ar"] and e["outcome"] == "ok") >= 3


def test_each_sees_only_the_calls_they_may(world):
    fr, ar, en = world.calls["fr"], world.calls["ar"], world.calls["en"]
    assert world.ids("agent") == {fr, en} and world.ids("agent2") == {ar}
    assert world.ids("agent", q=world.views["ar"]["segments"][0]["text"]) == set()
    assert world.get(f"/v1/calls/{ar}", "agent").status_code == 404
    # Another tenant's supervisor: none of them, by list, search, export or id.
    other = world.floor.add_tenant()
    other_get = lambda path, **p: httpx.get(f"{world.floor.base_url}{path}", params=p,  # noqa: E731
                                            headers=world.floor.headers("supervisor", other), timeout=30)
    assert other_get("/v1/calls").json()["calls"] == []
    assert other_get("/v1/calls/export", format="jsonl").text == ""
    assert other_get(f"/v1/calls/{fr}").status_code == 404
    assert httpx.put(f"{world.floor.base_url}/v1/calls/{fr}/wrap_up", json={"code": "billing"}, timeout=30,
                     headers=world.floor.headers("supervisor", other)).status_code == 404
    # A team supervisor: their team's calls only.
    store = world.floor.server.accounts()
    try:
        for team in ("elsewhere", f"team-{world.tenant}"):
            name, password = f"sup-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
            store.add_user(name, password, ["supervisor"], world.tenant, team=team)
            token = world.floor.server.token(name, password)
            listed = httpx.get(f"{world.floor.base_url}/v1/calls", headers={"Authorization": f"Bearer {token}"},
                               timeout=30).json()["calls"]
            assert {c["call_id"] for c in listed} == (set() if team == "elsewhere" else {fr, ar, en})
    finally:
        store.engine.dispose()


@pytest.mark.parametrize("params, code", [
    ({"sentiment": "angry"}, "bad_sentiment"), ({"from": "last tuesday"}, "bad_date"),
    ({"from": "2026-02-01", "to": "2026-01-01"}, "bad_range"), ({"cursor": "not-a-cursor"}, "bad_cursor"),
    ({"has_alert": "maybe"}, "bad_parameter"), ({"min_duration": "long"}, "bad_parameter"),
    ({"limit": "0"}, "bad_parameter"), ({"sentimant": "negative"}, "unknown_parameter"),
    ({"q": "!!! ..."}, "bad_query"), ({"language": "f%"}, "bad_language"),
])
def test_bad_parameters_get_a_clear_error(world, params, code):
    response = world.get("/v1/calls", **params)
    assert response.status_code == 422 and response.json()["detail"]["code"] == code, response.text
    assert response.json()["detail"]["message"]


def test_supervisors_manage_the_wrap_up_codes(world):
    tenant = world.floor.add_tenant()
    url = f"{world.floor.base_url}/v1/wrap-up-codes"
    h = lambda person: world.floor.headers(person, tenant)  # noqa: E731
    first = httpx.get(url, headers=h("agent"), timeout=30).json()
    assert first["default"] is True and {"billing", "cancellation", "other"} <= {c["code"] for c in first["codes"]}
    codes = [{"code": "porting", "label": {"fr": "Portabilité", "ar": "نقل الرقم", "en": "Number porting"},
              "description": {"fr": "Le client garde son numéro chez un autre opérateur"},
              "examples": {"fr": ["Je veux garder mon numéro"], "ar": ["أريد الاحتفاظ برقمي"]},
              "phrases": {"fr": ["portabilité", "code RIO"]}},
             {"code": "other", "label": {"fr": "Autre", "en": "Other"}}]
    assert httpx.put(url, headers=h("agent"), json={"codes": codes}, timeout=30).status_code == 403
    bad = httpx.put(url, headers=h("supervisor"), json={"codes": [{"code": "Bad Code", "label": "x"}]}, timeout=30)
    assert bad.status_code == 422 and bad.json()["detail"]["code"] == "bad_wrap_up_code"
    twice = httpx.put(url, headers=h("supervisor"), json={"codes": [codes[1], codes[1]]}, timeout=30)
    assert twice.json()["detail"]["code"] == "duplicate_wrap_up_code"
    assert httpx.put(url, headers=h("admin"), json={"codes": codes}, timeout=30).status_code == 200
    stored = httpx.get(url, headers=h("agent"), timeout=30).json()
    assert stored["default"] is False and [c["code"] for c in stored["codes"]] == ["porting", "other"]
    assert stored["codes"][0]["label"]["ar"] == "نقل الرقم"
    # The other tenant still has the default list.
    assert httpx.get(url, headers=world.headers("agent"), timeout=30).json()["default"] is True
