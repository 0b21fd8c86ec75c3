"""The role matrix, walked on the live server: every operation of its /openapi.json and every
WebSocket, for an anonymous caller, each role and an ingest API key, must answer exactly as
``security.policy.RULES`` says; every route has a rule and every rule a route; and another
tenant's calls, articles, gaps, users and keys are 404, exactly like ids that do not exist."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

import httpx
import pytest
import websockets

from assistant.app import create_app, route_keys
from assistant.config import Settings
from assistant.simulate import stream_audio
from security.policy import RULES
from tests.conftest import TENANTS, bearer, clip_head, new_call_id, wait_for_call_end

PERSONS = ("agent", "supervisor", "trainer", "admin")
CALLERS = ("anonymous",) + PERSONS + ("ingest",)
ROLE_OF = {"agent": "agent", "supervisor": "supervisor", "trainer": "trainer", "admin": "admin", "ingest": "ingest"}
FAKE = "zz-no-such-id-0000"
# Minimal valid bodies, so that a route's own lookup (not body validation) answers.
BODIES = {
    ("PATCH", "/v1/kb/articles/{article_id}"): {"title": "changed by the matrix"},
    ("POST", "/v1/kb/articles/{article_id}/rollback"): {"version": 1},
    ("POST", "/v1/kb/articles/{article_id}/translations"): {"language": "fr", "title": "t", "body": "b"},
    ("PUT", "/v1/calls/{call_id}/agent"): {"agent": "agent2-other"},
    ("POST", "/v1/calls/{call_id}/suggestions/{suggestion_id}/feedback"): {"action": "used"},
    ("PATCH", "/v1/users/{user_id}"): {"display_name": "changed by the matrix"},
    ("PUT", "/v1/calls/{call_id}/quality/items/{item_id}"): {"passed": True},
    ("POST", "/v1/calls/{call_id}/notes"): {"text": "a note from the matrix"},
    ("POST", "/v1/alert-rules"): {"kind": "duration", "title": "matrix rule", "params": {"seconds": 3600}},
    ("PATCH", "/v1/alert-rules/{rule_id}"): {"title": "changed by the matrix"},
    ("POST", "/v1/analytics/sentiment"): {"texts": ["merci"]},
    ("PUT", "/v1/calls/{call_id}/wrap_up"): {"code": "billing"},
}
for _action in ("submit", "reject", "publish", "archive", "restore"):
    BODIES[("POST", f"/v1/kb/articles/{{article_id}}/{_action}")] = {}
# Allowed callers are not sent here: it starts a real minute-long demo call on the shared server.
NOT_INVOKED_WHEN_ALLOWED = {("POST", "/v1/demo/calls")}


def sign_in(base: str, username: str, password: str) -> str:
    response = httpx.post(f"{base}/v1/auth/token", data={"username": username, "password": password}, timeout=30)
    response.raise_for_status()
    return response.json()["access_token"]


class World:
    """Real objects in both tenants, and fresh credentials for every caller (so that the walk's
    logout revokes nothing other tests use)."""

    def __init__(self, floor):
        self.floor = floor
        self.base = floor.base_url
        self.credentials: dict[tuple[str, str], str | None] = {}
        for tenant in TENANTS:
            self.credentials[("anonymous", tenant)] = None
            self.credentials[("ingest", tenant)] = floor.ingest_key(tenant)
            for person in PERSONS:
                username = floor.username(person, tenant)
                self.credentials[(person, tenant)] = sign_in(self.base, username, floor.passwords[username])
        self.ids: dict[tuple[str, str], str] = {}  # (param, tenant) → a real id

    def headers(self, caller: str, tenant: str = "default") -> dict:
        secret = self.credentials[(caller, tenant)]
        return bearer(secret) if secret else {}


async def _make_call(floor, tenant: str) -> str:
    call_id = new_call_id(f"matrix-{tenant}")
    result = await stream_audio(clip_head("en", 1, 7.0), f"{floor.ws_base}/v1/calls/{call_id}/audio", speed=0,
                                api_key=floor.ingest_key(tenant), agent=floor.username("agent", tenant))
    assert result["close_code"] == 1000, result
    await wait_for_call_end(floor.base_url, call_id, token=floor.token("supervisor", tenant))
    return call_id


@pytest.fixture(scope="module")
async def world(floor) -> World:
    world = World(floor)
    base = floor.base_url
    call_ids = await asyncio.gather(*(_make_call(floor, tenant) for tenant in TENANTS))
    for tenant, call_id in zip(TENANTS, call_ids):
        world.ids[("call_id", tenant)] = call_id
        article = httpx.post(f"{base}/v1/kb/articles", headers=floor.headers("trainer", tenant), timeout=30,
                             json={"title": f"Matrix article {tenant}", "body": "Opening hours: 9 to 5.",
                                   "language": "en", "publish": True})
        assert article.status_code == 201, article.text
        world.ids[("article_id", tenant)] = article.json()["id"]
        user = httpx.get(f"{base}/v1/users/{floor.username('agent2', tenant)}", headers=floor.headers("admin", tenant))
        world.ids[("user_id", tenant)] = user.json()["id"]
        keys = httpx.get(f"{base}/v1/apikeys", headers=floor.headers("admin", tenant)).json()["keys"]
        world.ids[("key_id", tenant)] = next(k["id"] for k in keys if k["revoked_at"] is None)
        rule = httpx.post(f"{base}/v1/alert-rules", headers=floor.headers("supervisor", tenant), timeout=30,
                          json={"kind": "silence", "title": f"Matrix rule {tenant}", "params": {"seconds": 600}})
        assert rule.status_code == 201, rule.text
        world.ids[("rule_id", tenant)] = rule.json()["rule_id"]
    # Tenant "other" has no knowledge base: its customer's sentences become knowledge gaps.
    deadline = time.monotonic() + 60
    for tenant in TENANTS:
        while True:
            gaps = httpx.get(f"{base}/v1/kb/gaps", params={"status": "all"},
                             headers=floor.headers("trainer", tenant)).json()["gaps"]
            if gaps:
                world.ids[("gap_id", tenant)] = gaps[0]["id"]
                break
            if tenant == "default" or time.monotonic() > deadline:
                break  # the default tenant's seed KB may answer everything: it may have no gap
            await asyncio.sleep(0.5)
    assert ("gap_id", "other") in world.ids, "tenant other got no knowledge gap"
    return world


@pytest.fixture(scope="module")
def openapi(rafiq_server) -> dict:
    response = httpx.get(f"{rafiq_server}/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(openapi: dict) -> list[tuple[str, str]]:
    return sorted((method.upper(), path) for path, item in openapi["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete"))


# The HTML pages are left out of /openapi.json; the walk adds them.
PAGES = {("GET", "/"), ("GET", "/trainer"), ("GET", "/admin"), ("GET", "/checklists"), ("GET", "/login"),
         ("GET", "/supervisor"), ("GET", "/supervisor/alerts"), ("GET", "/supervisor/analytics"),
         ("GET", "/supervisor/calls"), ("GET", "/supervisor/calls/{call_id}")}


def walked(openapi: dict) -> list[tuple[str, str]]:
    return operations(openapi) + sorted(PAGES)


def ws_rules() -> set[tuple[str, str]]:
    return {key for key in RULES if key[0] == "WS"}


# -- every route has a rule, every rule a route ---------------------------------------------------------

def test_every_route_has_a_rule_and_every_rule_a_route(openapi):
    app_routes = set(route_keys(create_app(Settings())))
    rules = set(RULES)
    assert app_routes - rules == set(), "routes without a rule"
    assert rules - app_routes == {("GET", "/openapi.json")}, "rules without a route"
    assert {key for key in app_routes if key[0] == "WS"} == ws_rules()
    # The live server's API description is the same set of HTTP routes, the web pages aside.
    assert set(operations(openapi)) | {("GET", "/openapi.json")} | PAGES == {key for key in rules if key[0] != "WS"}


def test_the_start_up_check_refuses_a_route_without_a_rule(monkeypatch):
    from security import policy

    trimmed = {key: rule for key, rule in RULES.items() if key != ("GET", "/v1/audit/verify")}
    monkeypatch.setattr(policy, "RULES", trimmed)
    with pytest.raises(RuntimeError, match="/v1/audit/verify"):
        create_app(Settings())


# -- the matrix ------------------------------------------------------------------------------------------

def _fill(path: str, world: World, tenant: str, real: bool) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        return world.ids.get((name, tenant), FAKE) if real else FAKE
    return re.sub(r"\{(\w+)\}", value, path)


def _expectation(rule, caller: str) -> str:
    if rule.public:
        return "allowed"
    if rule.page:
        return "page"
    if caller == "anonymous":
        return "401"
    if rule.roles and ROLE_OF[caller] not in rule.roles:
        return "403"
    return "allowed"


async def test_http_matrix(world, openapi):
    checked = 0
    failures = []
    async with httpx.AsyncClient(base_url=world.base, timeout=60, follow_redirects=False) as client:
        for method, path in walked(openapi):
            if (method, path) == ("POST", "/v1/auth/logout"):
                continue  # last: it revokes the caller's token
            rule = RULES[(method, path)]
            for caller in CALLERS:
                expected = _expectation(rule, caller)
                if expected == "allowed" and (method, path) in NOT_INVOKED_WHEN_ALLOWED:
                    continue
                # Reads use real ids of the caller's tenant; changes use ids that do not exist.
                url = _fill(path, world, "default", real=method == "GET")
                response = await client.request(method, url, headers=world.headers(caller),
                                                 json=BODIES.get((method, path)))
                checked += 1
                failure = _judge(expected, response)
                if failure:
                    failures.append(f"{caller:10} {method} {url}: {failure}")
        for caller in CALLERS:  # with credentials of their own: the other tests go on with theirs
            secret = world.credentials[(caller, "default")]
            if caller in PERSONS:
                username = world.floor.username(caller)
                secret = sign_in(world.base, username, world.floor.passwords[username])
            response = await client.post("/v1/auth/logout", headers=bearer(secret) if secret else {})
            failure = _judge(_expectation(RULES[("POST", "/v1/auth/logout")], caller), response)
            if failure:
                failures.append(f"{caller:10} POST /v1/auth/logout: {failure}")
    assert not failures, "\n".join(failures)
    assert checked > 300


def _judge(expected: str, response: httpx.Response) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"server error {status}: {response.text[:200]}"
    code = None
    if response.headers.get("content-type", "").startswith("application/json"):
        detail = response.json().get("detail") if isinstance(response.json(), dict) else None
        code = detail.get("code") if isinstance(detail, dict) else None
    if expected == "401" and not (status == 401 and code == "unauthenticated"):
        return f"expected 401 unauthenticated, got {status} {code}"
    if expected == "403" and not (status == 403 and code == "forbidden"):
        return f"expected 403 forbidden, got {status} {code}"
    if expected == "allowed" and status in (401, 403):
        return f"allowed, yet refused {status} {code}"
    if expected == "page" and status not in (200, 303):
        return f"a page answers 200 or 303, got {status}"
    return None


async def test_pages_send_anonymous_browsers_to_sign_in(rafiq_server):
    for page in ("/", "/trainer", "/admin", "/supervisor", "/supervisor/alerts", "/supervisor/analytics"):
        response = httpx.get(f"{rafiq_server}{page}", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


async def _ws_status(url: str, headers: dict) -> int:
    """101 when the handshake is accepted, else the refusal's HTTP status (its JSON checked)."""
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=30):
            return 101
    except websockets.InvalidStatus as exc:
        body = json.loads(exc.response.body)
        expected = {401: "unauthenticated", 403: "forbidden"}.get(exc.response.status_code)
        assert expected is None or body["detail"]["code"] == expected, body
        return exc.response.status_code


async def test_websocket_matrix(world):
    failures = []
    for method, path in sorted(ws_rules()):
        rule = RULES[(method, path)]
        if rule.platform:
            continue  # Twilio / AudioHook / FreeSWITCH sign their own connections (their own tests)
        for caller in CALLERS:
            expected = _expectation(rule, caller)
            url = "ws" + world.base[4:] + _fill(path, world, "default", real=path.endswith("/events"))
            if path.endswith("/audio"):
                url = url.replace(FAKE, new_call_id("matrix-ws"))
            status = await _ws_status(url, world.headers(caller))
            if {"401": status != 401, "403": status != 403, "allowed": status in (401, 403)}[expected]:
                failures.append(f"{caller:10} WS {path}: expected {expected}, got {status}")
    assert not failures, "\n".join(failures)


# -- tenants ---------------------------------------------------------------------------------------------

ID_PARAMS = ("call_id", "article_id", "gap_id", "user_id", "key_id", "rule_id")
ROLE_FOR = {"call_id": "supervisor", "article_id": "trainer", "gap_id": "trainer", "user_id": "admin",
            "key_id": "admin", "rule_id": "supervisor"}
# Changes that must not happen are checked afterwards (the victim still as it was).


# PUT /v1/calls/{call_id}/agent answers a call id nobody has used yet 202 (an agent named ahead
# for a call that will start), but another tenant's existing call 404: the difference tells a
# caller which call ids exist in other tenants. assistant/api/calls.py, assign_agent.
ASSIGN = ("PUT", "/v1/calls/{call_id}/agent")


def _cross_tenant_keys(only=None) -> list[tuple[str, str]]:
    # Pages are shells: the call page reads its call through GET /v1/calls/{call_id}, checked here.
    keys = [key for key in RULES if key[0] != "WS" and not RULES[key].page
            and any(f"{{{p}}}" in key[1] for p in ID_PARAMS)]
    return [key for key in keys if key == only] if only else [key for key in keys if key != ASSIGN]


async def test_another_tenants_objects_are_404_like_missing_ones(world, openapi):
    await _check_cross_tenant(world, _cross_tenant_keys())


async def test_assigning_another_tenants_call_is_like_a_missing_call(world):
    # Naming the agent of a call id that is not the caller's tenant's is accepted as a mapping for
    # a call still to come (202), whether that id is unused or another tenant's call: the
    # answer must not tell the two apart, and the other tenant's call must keep its agent.
    await _check_cross_tenant(world, _cross_tenant_keys(ASSIGN), expected=202)


def _outcome(response: httpx.Response) -> tuple[int, str | None]:
    """Status and the body's code or status word, ids left out."""
    body = response.json()
    word = body["detail"]["code"] if isinstance(body.get("detail"), dict) else body.get("status")
    return response.status_code, word


async def _check_cross_tenant(world, keys, expected: int = 404):
    failures, covered = [], set()
    async with httpx.AsyncClient(base_url=world.base, timeout=60) as client:
        # Reads first, then changes, destructive ones last.
        keys.sort(key=lambda k: {"GET": 0, "PATCH": 1, "PUT": 1, "POST": 2, "DELETE": 3}[k[0]])
        for method, path in keys:
            param = next(p for p in ID_PARAMS if f"{{{p}}}" in path)
            rule = RULES[(method, path)]
            role = ROLE_FOR[param] if ROLE_FOR[param] in rule.roles else sorted(rule.roles)[0]
            for owner, caller_tenant in (("default", "other"), ("other", "default")):
                victim = world.ids.get((param, owner))
                if victim is None:
                    continue
                body = BODIES.get((method, path))
                foreign_url = path.replace(f"{{{param}}}", victim).replace("{suggestion_id}", FAKE).replace("{alert_id}", FAKE)
                missing_url = path.replace(f"{{{param}}}", FAKE).replace("{suggestion_id}", FAKE).replace("{alert_id}", FAKE)
                headers = world.headers(role, caller_tenant)
                missing = await client.request(method, missing_url, headers=headers, json=body)
                foreign = await client.request(method, foreign_url, headers=headers, json=body)
                covered.add((method, path))
                if missing.status_code != expected or foreign.status_code != expected:
                    failures.append(f"{role}@{caller_tenant} {method} {foreign_url}: {foreign.status_code} "
                                    f"(missing id: {missing.status_code})")
                elif _outcome(foreign) != _outcome(missing):
                    failures.append(f"{method} {path}: {foreign.json()} differs from {missing.json()}")
        assert not failures, "\n".join(failures)
        assert covered == set(keys)
        # Nothing was changed through those requests.
        for tenant in TENANTS:
            admin, trainer = world.headers("admin", tenant), world.headers("trainer", tenant)
            user = (await client.get(f"/v1/users/{world.ids[('user_id', tenant)]}", headers=admin)).json()
            assert user["display_name"] == user["username"] and user["disabled"] is False
            article = (await client.get(f"/v1/kb/articles/{world.ids[('article_id', tenant)]}", headers=trainer)).json()
            assert article["title"] == f"Matrix article {tenant}" and article["status"] == "published"
            call = await client.get(f"/v1/calls/{world.ids[('call_id', tenant)]}", headers=world.headers("supervisor", tenant))
            assert call.status_code == 200 and call.json().get("agent") == world.floor.username("agent", tenant)
            rules = (await client.get("/v1/alert-rules", headers=world.headers("supervisor", tenant))).json()["rules"]
            assert f"Matrix rule {tenant}" in [r["title"] for r in rules]
            keys_now = (await client.get("/v1/apikeys", headers=admin)).json()["keys"]
            assert next(k for k in keys_now if k["id"] == world.ids[("key_id", tenant)])["revoked_at"] is None


async def test_another_tenants_call_events_socket_is_refused_like_a_missing_call(world):
    victim = world.ids[("call_id", "default")]
    answers = []
    for call_id in (victim, FAKE):
        url = f"ws{world.base[4:]}/v1/calls/{call_id}/events"
        async with websockets.connect(url, additional_headers=world.headers("supervisor", "other")) as ws:
            answers.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 30)
            assert ws.close_code == 1008
    assert [a["type"] for a in answers] == ["error", "error"]
    assert answers[0]["code"] == answers[1]["code"] == "unknown_call"
