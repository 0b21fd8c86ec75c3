"""Identity on a real server on PostgreSQL: sign-in (token and session cookie), lock-out, users and
API keys administered per tenant, revocation reaching open WebSockets, token expiry and the
bootstrap administrator. Every request goes over real HTTP / WebSocket to ``rafiq serve``."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
import websockets

from assistant.launcher import ADMIN_USERNAME, ServerProcess
from tests.conftest import START, bearer, new_call_id



@pytest.fixture(scope="module")
def pg(pg_floor):
    return pg_floor


def sign_in(base: str, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{base}/v1/auth/token", data={"username": username, "password": password}, timeout=30)


def me(base: str, token: str) -> httpx.Response:
    return httpx.get(f"{base}/v1/me", headers=bearer(token), timeout=30)


def new_user(floor, roles=("agent",), tenant="default", **extra) -> tuple[dict, str]:
    """A user made through the API by the tenant's admin: (user, password)."""
    password = uuid.uuid4().hex
    username = f"u-{uuid.uuid4().hex[:8]}"
    response = httpx.post(f"{floor.base_url}/v1/users", headers=floor.headers("admin", tenant), timeout=30,
                          json={"username": username, "password": password, "roles": list(roles), **extra})
    assert response.status_code == 201, response.text
    return response.json(), password


def token_of(base: str, username: str, password: str) -> str:
    response = sign_in(base, username, password)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def handshake_refused(url: str, headers: dict | None = None) -> tuple[int, dict]:
    """The WebSocket handshake is answered by an HTTP error: (status, JSON body)."""
    with pytest.raises(websockets.InvalidStatus) as info:
        async with websockets.connect(url, additional_headers=headers, open_timeout=30):
            pass
    response = info.value.response
    return response.status_code, json.loads(response.body)


async def closed_by_server(ws, timeout: float) -> int:
    """Reads (and drops) frames until the server closes the socket; its close code."""
    async def drain():
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed:
            return ws.close_code
    return await asyncio.wait_for(drain(), timeout)


# -- sign-in --------------------------------------------------------------------------------------

def test_token_flow_has_the_pinned_shape(pg):
    response = sign_in(pg.base_url, "agent-default", pg.passwords["agent-default"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 8 * 3600 and isinstance(body["expires_in"], int)
    assert body["access_token"].startswith("rfq_") and len(body["access_token"]) > 40
    who = me(pg.base_url, body["access_token"])
    assert who.status_code == 200
    assert who.json()["username"] == "agent-default" and who.json()["tenant"] == "default"
    assert who.json()["roles"] == ["agent"] and who.json()["kind"] == "user"


def test_wrong_password_and_unknown_user_are_401_alike(pg):
    wrong = sign_in(pg.base_url, "agent2-default", "not-the-password")
    unknown = sign_in(pg.base_url, f"nobody-{uuid.uuid4().hex[:6]}", "whatever-password")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json()["detail"]["code"] == "bad_credentials"
        assert response.headers["www-authenticate"] == "Bearer"
        assert "access_token" not in response.text
    assert wrong.json() == unknown.json()  # nothing tells a wrong password from an unknown name
    assert me(pg.base_url, "rfq_" + "x" * 43).status_code == 401
    anonymous = httpx.get(f"{pg.base_url}/v1/me", timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()["detail"]["code"] == "unauthenticated"


def test_five_failures_lock_the_username_and_are_audited(pg):
    user, password = new_user(pg)
    for _ in range(5):
        response = sign_in(pg.base_url, user["username"], "wrong-password!")
        assert response.status_code == 401 and response.json()["detail"]["code"] == "bad_credentials"
    locked = sign_in(pg.base_url, user["username"], password)  # even the right password now
    assert locked.status_code == 401
    assert locked.json()["detail"]["code"] == "sign_in_locked"
    assert 1 <= int(locked.headers["retry-after"]) <= 30
    assert "access_token" not in locked.text
    entries = httpx.get(f"{pg.base_url}/v1/audit", headers=pg.headers("admin"), timeout=30,
                        params={"action": "auth.sign_in", "actor": user["username"]}).json()["entries"]
    assert [e["outcome"] for e in entries] == ["locked"] + ["failed"] * 5  # newest first
    assert all(e["target"] == user["id"] and e["tenant"] == "default" and e["ip"] == "127.0.0.1" for e in entries)
    assert "wrong-password!" not in json.dumps(entries) and password not in json.dumps(entries)


# -- users ----------------------------------------------------------------------------------------

def test_users_crud_as_admin(pg):
    base, admin = pg.base_url, pg.headers("admin")
    user, password = new_user(pg, roles=["agent"], team="north", display_name="Salma B.")
    assert user["tenant"] == "default" and user["team"] == "north" and user["display_name"] == "Salma B."
    assert user["roles"] == ["agent"] and user["disabled"] is False
    assert not {"password", "password_hash"} & set(user)
    assert httpx.get(f"{base}/v1/users/{user['id']}", headers=admin).json() == user
    listed = httpx.get(f"{base}/v1/users", headers=admin).json()["users"]
    assert user["id"] in {u["id"] for u in listed} and {u["tenant"] for u in listed} == {"default"}
    taken = httpx.post(f"{base}/v1/users", headers=admin,
                       json={"username": user["username"], "password": "another-pass", "roles": ["agent"]})
    assert taken.status_code == 409 and taken.json()["detail"]["code"] == "username_taken"
    edited = httpx.patch(f"{base}/v1/users/{user['id']}", headers=admin,
                         json={"roles": ["agent", "trainer"], "display_name": "Salma"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["roles"] == ["agent", "trainer"] and edited.json()["display_name"] == "Salma"
    assert token_of(base, user["username"], password)
    assert httpx.delete(f"{base}/v1/users/{user['id']}", headers=admin).status_code == 204
    gone = httpx.get(f"{base}/v1/users/{user['id']}", headers=admin)
    assert gone.status_code == 404 and gone.json()["detail"]["code"] == "unknown_user"
    assert sign_in(base, user["username"], password).status_code == 401
    # Non-admins may not administer users.
    for person in ("agent", "supervisor", "trainer"):
        assert httpx.get(f"{base}/v1/users", headers=pg.headers(person)).status_code == 403


def test_an_admin_cannot_see_or_touch_another_tenants_users(pg):
    base, other_admin = pg.base_url, pg.headers("admin", "other")
    victim, password = new_user(pg, tenant="default")
    missing = httpx.get(f"{base}/v1/users/{uuid.uuid4().hex}", headers=other_admin)
    assert missing.status_code == 404
    for ref in (victim["id"], victim["username"]):
        for method, body in (("GET", None), ("PATCH", {"disabled": True, "password": "taken-over-1"}), ("DELETE", None)):
            response = httpx.request(method, f"{base}/v1/users/{ref}", headers=other_admin, json=body)
            assert response.status_code == 404, (method, response.text)
            assert response.json()["detail"]["code"] == missing.json()["detail"]["code"] == "unknown_user"
    listed = httpx.get(f"{base}/v1/users", headers=other_admin).json()["users"]
    assert victim["id"] not in {u["id"] for u in listed} and {u["tenant"] for u in listed} == {"other"}
    # Untouched: same password, enabled, still there.
    assert token_of(base, victim["username"], password)
    assert httpx.get(f"{base}/v1/users/{victim['id']}", headers=pg.headers("admin")).json()["disabled"] is False
    intruder = f"u-{uuid.uuid4().hex[:8]}"
    created = httpx.post(f"{base}/v1/users", headers=other_admin,
                         json={"username": intruder, "password": "password-123", "roles": ["admin"], "tenant": "default"})
    assert created.status_code == 403 and created.json()["detail"]["code"] == "other_tenant"
    assert sign_in(base, intruder, "password-123").status_code == 401


def test_a_disabled_users_token_stops_working(pg):
    user, password = new_user(pg)
    token = token_of(pg.base_url, user["username"], password)
    assert me(pg.base_url, token).status_code == 200
    response = httpx.patch(f"{pg.base_url}/v1/users/{user['id']}", headers=pg.headers("admin"), json={"disabled": True})
    assert response.status_code == 200 and response.json()["disabled"] is True
    refused = me(pg.base_url, token)
    assert refused.status_code == 401 and refused.json()["detail"]["code"] == "unauthenticated"
    assert sign_in(pg.base_url, user["username"], password).status_code == 401


def test_a_password_change_revokes_the_old_tokens(pg):
    user, password = new_user(pg)
    first, second = (token_of(pg.base_url, user["username"], password) for _ in range(2))
    assert me(pg.base_url, first).status_code == 200 and me(pg.base_url, second).status_code == 200
    new_password = uuid.uuid4().hex
    response = httpx.patch(f"{pg.base_url}/v1/users/{user['id']}", headers=pg.headers("admin"),
                           json={"password": new_password})
    assert response.status_code == 200
    assert me(pg.base_url, first).status_code == 401 and me(pg.base_url, second).status_code == 401
    assert sign_in(pg.base_url, user["username"], password).status_code == 401
    assert me(pg.base_url, token_of(pg.base_url, user["username"], new_password)).status_code == 200


def test_logout_revokes_the_token(pg):
    user, password = new_user(pg)
    token = token_of(pg.base_url, user["username"], password)
    assert httpx.post(f"{pg.base_url}/v1/auth/logout", headers=bearer(token)).status_code == 204
    assert me(pg.base_url, token).status_code == 401


# -- API keys and open sockets ----------------------------------------------------------------------

async def test_api_key_lifecycle_and_revocation_closes_an_open_ingest(pg):
    base, admin = pg.base_url, pg.headers("admin")
    created = httpx.post(f"{base}/v1/apikeys", headers=admin, json={"name": "pbx-test"})
    assert created.status_code == 201, created.text
    key = created.json()
    secret = key["key"]
    assert secret.startswith("rfk_") and key["roles"] == ["ingest"] and key["tenant"] == "default"
    assert key["revoked_at"] is None and key["created_by"] == "admin-default"
    listed = httpx.get(f"{base}/v1/apikeys", headers=admin).json()["keys"]
    mine = [k for k in listed if k["id"] == key["id"]]
    assert len(mine) == 1 and "key" not in mine[0] and secret not in json.dumps(listed)
    assert {k["tenant"] for k in listed} == {"default"}
    other_listed = httpx.get(f"{base}/v1/apikeys", headers=pg.headers("admin", "other")).json()["keys"]
    assert key["id"] not in {k["id"] for k in other_listed}
    # Another tenant's admin cannot revoke it: 404 as for a missing key.
    cross = httpx.delete(f"{base}/v1/apikeys/{key['id']}", headers=pg.headers("admin", "other"))
    missing = httpx.delete(f"{base}/v1/apikeys/{uuid.uuid4().hex[:16]}", headers=pg.headers("admin", "other"))
    assert cross.status_code == missing.status_code == 404
    assert cross.json()["detail"]["code"] == missing.json()["detail"]["code"] == "unknown_api_key"

    call_id = new_call_id("key")
    url = f"{pg.ws_base}/v1/calls/{call_id}/audio"
    async with websockets.connect(url, additional_headers=bearer(secret), open_timeout=30) as ingest:
        await ingest.send(json.dumps(START))
        await ingest.send(b"\x00\x00" * 1600)
        await _wait_live(pg, call_id)
        revoked = httpx.delete(f"{base}/v1/apikeys/{key['id']}", headers=admin)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        began = time.monotonic()
        assert await closed_by_server(ingest, timeout=15) == 1008
        assert time.monotonic() - began < 10
    status, body = await handshake_refused(f"{pg.ws_base}/v1/calls/{new_call_id('key')}/audio", bearer(secret))
    assert status == 401 and body["detail"]["code"] == "unauthenticated"
    assert [k["revoked_at"] for k in httpx.get(f"{base}/v1/apikeys", headers=admin).json()["keys"]
            if k["id"] == key["id"]] != [None]


async def _wait_live(floor, call_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(headers=floor.headers("supervisor")) as client:
        while (await client.get(f"{floor.base_url}/v1/calls/{call_id}")).status_code != 200:
            assert time.monotonic() < deadline, f"call {call_id} never went live"
            await asyncio.sleep(0.1)


async def test_revoked_user_tokens_close_their_open_event_sockets(pg):
    """Logout (header token) and disabling the user (``?access_token=``) each close that
    supervisor's events socket with 1008, while another supervisor's stays open."""
    first, first_password = new_user(pg, roles=["supervisor"])
    second, second_password = new_user(pg, roles=["supervisor"])
    first_token = token_of(pg.base_url, first["username"], first_password)
    second_token = token_of(pg.base_url, second["username"], second_password)
    call_id = new_call_id("watch")
    events_url = f"{pg.ws_base}/v1/calls/{call_id}/events"
    status, body = await handshake_refused(f"{events_url}?access_token=rfq_not-a-token")
    assert status == 401 and body["detail"]["code"] == "unauthenticated"
    async with websockets.connect(f"{pg.ws_base}/v1/calls/{call_id}/audio", open_timeout=30,
                                  additional_headers=pg.headers("ingest")) as ingest:
        await ingest.send(json.dumps(START))
        await _wait_live(pg, call_id)
        by_header = await websockets.connect(events_url, additional_headers=bearer(first_token), open_timeout=30)
        by_query = await websockets.connect(f"{events_url}?access_token={second_token}", open_timeout=30)
        witness = await websockets.connect(events_url, additional_headers=pg.headers("supervisor"), open_timeout=30)
        try:
            for ws in (by_header, by_query, witness):
                assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "call.started"
            assert httpx.post(f"{pg.base_url}/v1/auth/logout", headers=bearer(first_token)).status_code == 204
            assert await closed_by_server(by_header, timeout=15) == 1008
            assert httpx.patch(f"{pg.base_url}/v1/users/{second['id']}", headers=pg.headers("admin"),
                               json={"disabled": True}).status_code == 200
            assert await closed_by_server(by_query, timeout=15) == 1008
            assert witness.close_code is None  # the floor supervisor's socket is still open
        finally:
            for ws in (by_header, by_query, witness):
                await ws.close()
        await ingest.send(json.dumps({"type": "stop"}))


# -- browser session --------------------------------------------------------------------------------

def test_session_cookie_needs_the_csrf_header_for_changes(pg):
    base = pg.base_url
    with httpx.Client(base_url=base, timeout=30) as browser:
        response = browser.post("/v1/auth/login", json={"username": "trainer-default",
                                                        "password": pg.passwords["trainer-default"]})
        assert response.status_code == 200 and response.json()["username"] == "trainer-default"
        cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
        session, csrf_cookie = cookies["rafiq_session"], cookies["rafiq_csrf"]
        attributes = {part.strip().lower() for part in session.split(";")[1:]}
        assert "httponly" in attributes and "samesite=strict" in attributes and "path=/" in attributes
        assert "secure" not in attributes  # plain http here: auto → not Secure
        assert "httponly" not in csrf_cookie.lower() and "samesite=strict" in csrf_cookie.lower()
        csrf = browser.cookies["rafiq_csrf"]
        assert browser.get("/v1/me").json()["username"] == "trainer-default"
        refused = browser.post("/v1/redact", json={"text": "mail me at a.b@example.com"})
        assert refused.status_code == 403 and refused.json()["detail"]["code"] == "csrf_failed"
        wrong = browser.post("/v1/redact", json={"text": "x"}, headers={"X-CSRF-Token": csrf[::-1]})
        assert wrong.status_code == 403 and wrong.json()["detail"]["code"] == "csrf_failed"
        accepted = browser.post("/v1/redact", json={"text": "mail me at a.b@example.com"},
                                headers={"X-CSRF-Token": csrf})
        assert accepted.status_code == 200 and accepted.json()["text"] == "mail me at [EMAIL]"
        session_secret = browser.cookies["rafiq_session"]
        assert browser.post("/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert httpx.get(f"{base}/v1/me", cookies={"rafiq_session": session_secret}).status_code == 401
    # A bearer token is not a session: sent as the cookie it is refused.
    token = pg.token("trainer")
    assert httpx.get(f"{base}/v1/me", cookies={"rafiq_session": token}).status_code == 401


# -- expiry and the bootstrap administrator: a second node on the same database ----------------------

TTL_S = 3


@pytest.fixture(scope="module")
def short_ttl_node(tmp_path_factory, pg_process):
    """Another node on the same PostgreSQL database: tokens last TTL_S seconds, and it is told to
    bootstrap the same administrator with another password."""
    node = ServerProcess(tmp_path_factory.mktemp("rafiq-pg-ttl"), RAFIQ_DATABASE_URL=pg_process.env["RAFIQ_DATABASE_URL"],
                         RAFIQ_SEED_KB="0", RAFIQ_TOKEN_TTL_S=str(TTL_S),
                         RAFIQ_BOOTSTRAP_ADMIN=f"{ADMIN_USERNAME}:second-password-{uuid.uuid4().hex[:6]}")
    with node:
        yield node


def test_the_bootstrap_admin_is_created_once(pg_process, short_ttl_node):
    first_log = pg_process.log_path.read_text()
    assert "bootstrap administrator created" in first_log
    assert "bootstrap administrator created" not in short_ttl_node.log_path.read_text()
    second_password = short_ttl_node.env["RAFIQ_BOOTSTRAP_ADMIN"].split(":", 1)[1]
    assert sign_in(short_ttl_node.base_url, ADMIN_USERNAME, second_password).status_code == 401
    token = token_of(short_ttl_node.base_url, ADMIN_USERNAME, pg_process.admin_password)
    admins = [u for u in httpx.get(f"{short_ttl_node.base_url}/v1/users", headers=bearer(token)).json()["users"]
              if u["username"] == ADMIN_USERNAME]
    assert len(admins) == 1 and admins[0]["roles"] == ["admin"] and admins[0]["tenant"] == "default"


def test_tokens_expire(pg, short_ttl_node):
    base = short_ttl_node.base_url
    issued = time.monotonic()
    response = sign_in(base, "supervisor-default", pg.passwords["supervisor-default"])
    assert response.status_code == 200 and response.json()["expires_in"] == TTL_S
    token = response.json()["access_token"]
    assert me(base, token).status_code == 200
    deadline = issued + TTL_S + 30
    while me(base, token).status_code == 200:
        assert time.monotonic() < deadline, "the token outlived its TTL"
        time.sleep(0.2)
    assert time.monotonic() - issued >= TTL_S - 0.5
    refused = me(base, token)
    assert refused.status_code == 401 and refused.json()["detail"]["code"] == "unauthenticated"
    # Expired on every node: the first server refuses it too.
    assert me(pg.base_url, token).status_code == 401
