"""Telephony ingress authentication, each platform signing its connections its own way (real
signatures: Twilio's RequestValidator, RFC 9421 HTTP message signatures), credentials bound to a
tenant and campaign, the platform's ids in the call record, and `rafiq simulate` signing."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import websockets

from assistant.launcher import ServerProcess
from assistant.simulate import AudioHookPeer, FreeSwitchPeer, TwilioPeer, new_platform_call_id, play, twilio_signature
from assistant.telephony.audiosocket import KIND_UUID, message
from tests.conftest import REPO, Floor, _free_port_pair, clip_audio, fleurs_clip, wait_for_call_end

PUBLIC_URL = "wss://rafiq.example.com"
TWILIO_TOKEN_OTHER = secrets.token_hex(16)  # bound: its calls land in tenant "other", campaign "cards"
TWILIO_TOKEN_FREE = secrets.token_hex(16)  # unbound: the stream's customParameters say where
HOOK_KEY = "hook-" + secrets.token_hex(8)
HOOK_SECRET = base64.b64encode(secrets.token_bytes(32)).decode()
FS_TOKEN = secrets.token_urlsafe(18)


class Secured:
    def __init__(self, server: ServerProcess, audiosocket_port: int):
        self.server = server
        self.base_url = server.base_url
        self.ws_base = "ws" + server.base_url[4:]
        self.audiosocket_port = audiosocket_port
        self.floor = Floor(server)

    def call(self, call_id: str, tenant: str):
        return httpx.get(f"{self.base_url}/v1/calls/{call_id}", headers=self.floor.headers("supervisor", tenant),
                         timeout=30)

    def log_records(self, msg: str) -> list[dict]:
        records = []
        for line in self.server.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if msg in line:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if record.get("msg") == msg:
                    records.append(record)
        return records


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    port = _free_port_pair()
    env = {"RAFIQ_PUBLIC_URL": PUBLIC_URL,
           "RAFIQ_TWILIO_AUTH_TOKEN": f"{TWILIO_TOKEN_OTHER}@other/cards,{TWILIO_TOKEN_FREE}",
           "RAFIQ_AUDIOHOOK_API_KEY": f"{HOOK_KEY}@other", "RAFIQ_AUDIOHOOK_CLIENT_SECRET": HOOK_SECRET,
           "RAFIQ_FREESWITCH_TOKEN": f"{FS_TOKEN}@other/sales",
           "RAFIQ_AUDIOSOCKET_PORT": str(port), "RAFIQ_AUDIOSOCKET_ALLOW": "10.0.0.0/8,192.168.0.0/16",
           "RAFIQ_MAX_CALLS": "0", "RAFIQ_SEED_KB": "0", "RAFIQ_START_TIMEOUT_S": "3"}
    server = ServerProcess(tmp_path_factory.mktemp("rafiq-secured"), **env)
    with server:
        yield Secured(server, port)


async def refused_status(url: str, headers: dict | None = None) -> int:
    """The HTTP status that refused the WebSocket upgrade."""
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url, additional_headers=headers, open_timeout=30):
            pass
    return refused.value.response.status_code


# --- Twilio -----------------------------------------------------------------------------------


async def test_twilio_upgrade_needs_the_signature_over_the_public_url(secured):
    url = f"{secured.ws_base}/v1/ingest/twilio"
    assert await refused_status(url) == 403  # no signature
    wrong_token = twilio_signature(secrets.token_hex(16), f"{PUBLIC_URL}/v1/ingest/twilio")
    assert await refused_status(url, {"X-Twilio-Signature": wrong_token}) == 403
    # Signed with the right token but over the address connected to, not the one Twilio was given.
    local = twilio_signature(TWILIO_TOKEN_FREE, url)
    assert await refused_status(url, {"X-Twilio-Signature": local}) == 403
    # The query is part of what Twilio signs.
    signed = twilio_signature(TWILIO_TOKEN_FREE, f"{PUBLIC_URL}/v1/ingest/twilio?site=casa")
    assert await refused_status(url + "?site=rabat", {"X-Twilio-Signature": signed}) == 403
    async with websockets.connect(url + "?site=casa", additional_headers={"X-Twilio-Signature": signed}):
        pass  # accepted
    refusals = secured.log_records("twilio: upgrade refused")
    assert len(refusals) >= 4 and all(r["remote"] == "127.0.0.1" for r in refusals)


async def test_a_bound_twilio_account_lands_its_calls_in_its_tenant(secured):
    audio, _ = clip_audio("es", 3)
    call_sid = new_platform_call_id("twilio")
    # The stream claims tenant "default": the auth token is bound to "other" (and campaign "cards").
    twilio = TwilioPeer(f"{secured.ws_base}/v1/ingest/twilio", call_sid, 1,
                        {"tenant": "default", "from": "+212612345678", "to": "+212522000000", "queue": "cartes"},
                        auth_token=TWILIO_TOKEN_OTHER, signed_url=f"{PUBLIC_URL}/v1/ingest/twilio")
    result = await play(twilio, audio, speed=0)
    assert not result["errors"] and result["close_code"] == 1000
    call = await wait_for_call_end(secured.base_url, call_sid, token=secured.floor.token("supervisor", "other"))
    assert call["tenant"] == "other" and call["campaign"] == "cards" and call["segments"]
    assert secured.call(call_sid, "default").status_code == 404
    # The platform's ids in the record; the numbers masked (phone redaction is on by default).
    assert (call["platform"], call["platform_call_id"], call["stream_id"]) == ("twilio", call_sid, twilio.stream_sid)
    assert (call["caller_number"], call["called_number"], call["queue"]) == ("[PHONE]", "[PHONE]", "cartes")
    listed = httpx.get(f"{secured.base_url}/v1/calls", params={"platform": "twilio", "stream_id": twilio.stream_sid},
                       headers=secured.floor.headers("supervisor", "other"), timeout=30).json()["calls"]
    assert [c["call_id"] for c in listed] == [call_sid]
    none = httpx.get(f"{secured.base_url}/v1/calls", params={"stream_id": "MZ-none"},
                     headers=secured.floor.headers("supervisor", "other"), timeout=30).json()["calls"]
    assert none == []


# --- Genesys AudioHook ------------------------------------------------------------------------


def hook(secured, secret: str = HOOK_SECRET, api_key: str = HOOK_KEY, **kwargs) -> AudioHookPeer:
    return AudioHookPeer(f"{secured.ws_base}/v1/ingest/audiohook", str(uuid.uuid4()), 1, api_key=api_key,
                         client_secret=secret, custom_config={"tenant": "default"}, **kwargs)


async def assert_unauthorized(peer: AudioHookPeer, secured) -> None:
    await peer.open()
    disconnect = await peer.reply("disconnect")
    assert disconnect["parameters"]["reason"] == "unauthorized"
    assert not [r for r in peer.replies if r["type"] == "opened"]
    await peer.end("disconnect")
    assert secured.call(peer.conversation_id, "other").status_code == 404


async def test_audiohook_signed_session_lands_in_the_keys_tenant(secured):
    audio, _ = clip_audio("en", 4)
    peer = hook(secured, participant={"id": str(uuid.uuid4()), "ani": "+212600112233", "dnis": "3636"})
    result = await play(peer, audio, speed=0)
    assert not result["errors"]
    call = await wait_for_call_end(secured.base_url, peer.conversation_id,
                                   token=secured.floor.token("supervisor", "other"))
    assert call["tenant"] == "other" and call["segments"]
    assert (call["platform"], call["stream_id"], call["caller_number"]) == ("audiohook", peer.session_id, "[PHONE]")


async def test_audiohook_without_a_good_signature_is_unauthorized(secured):
    await assert_unauthorized(hook(secured, secret=""), secured)  # the key alone: the key has a secret
    await assert_unauthorized(hook(secured, secret=base64.b64encode(b"not the secret").decode()), secured)
    await assert_unauthorized(hook(secured, api_key="another-key"), secured)


async def test_audiohook_replayed_or_stale_signatures_are_unauthorized(secured):
    first = hook(secured)
    await first.open()
    assert (await first.reply("opened", "disconnect"))["type"] == "opened"
    await first.end("end")
    # The same signed upgrade again (captured and replayed): its nonce was used.
    replay = hook(secured, session_id=first.session_id, headers=first.sent_headers)
    await assert_unauthorized(replay, secured)
    # Signed 60 s ago: beyond the 10 s the specification allows (3 s clock skew).
    stale = hook(secured, signed_at=datetime.now(timezone.utc) - timedelta(seconds=60))
    await assert_unauthorized(stale, secured)
    # A minute ahead of our clock: "created" in the future.
    ahead = hook(secured, signed_at=datetime.now(timezone.utc) + timedelta(seconds=60))
    await assert_unauthorized(ahead, secured)
    assert len(secured.log_records("audiohook: upgrade not authenticated")) >= 3


# --- FreeSWITCH -------------------------------------------------------------------------------


async def test_freeswitch_token_in_the_query_or_a_header(secured):
    url = f"{secured.ws_base}/v1/ingest/freeswitch"
    assert await refused_status(url) == 403
    assert await refused_status(url + "?token=wrong") == 403
    assert await refused_status(url, {"X-Rafiq-Token": FS_TOKEN[:-1]}) == 403
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {FS_TOKEN}"}):
        pass
    audio, _ = clip_audio("fr", 2)
    call_id = str(uuid.uuid4())
    peer = FreeSwitchPeer(url, call_id, 1, metadata={"tenant": "default", "caller": "0612345678", "queue": "q1"},
                          token=FS_TOKEN)
    result = await play(peer, audio, speed=0)
    assert not result["errors"]
    call = await wait_for_call_end(secured.base_url, call_id, token=secured.floor.token("supervisor", "other"))
    assert (call["tenant"], call["campaign"], call["platform"]) == ("other", "sales", "freeswitch")
    assert (call["caller_number"], call["queue"]) == ("[PHONE]", "q1")
    assert len(secured.log_records("freeswitch: upgrade refused")) >= 3


# --- Asterisk AudioSocket ---------------------------------------------------------------------


async def test_audiosocket_from_a_network_not_allowed_is_refused_and_logged(secured):
    call_uuid = uuid.uuid4()
    reader, writer = await asyncio.open_connection("127.0.0.1", secured.audiosocket_port)
    writer.write(message(KIND_UUID, call_uuid.bytes))
    await writer.drain()
    try:  # closed without a word (a reset: what we wrote was never read)
        assert await asyncio.wait_for(reader.read(), 30) == b""
    except ConnectionResetError:
        pass
    writer.close()
    refused = secured.log_records("audiosocket: connection refused")
    assert refused and "127.0.0.1" in refused[-1]["peer"]
    assert secured.call(str(call_uuid), "default").status_code == 404


# --- Admin view and rafiq simulate ------------------------------------------------------------


def test_admin_sees_every_ingress_authenticated(secured):
    body = httpx.get(f"{secured.base_url}/v1/telephony/ingress", headers=secured.floor.headers("admin", "other"),
                     timeout=30).json()
    assert body["open"] == []
    rows = {row["ingress"]: row for row in body["ingresses"]}
    assert set(rows) == {"twilio", "audiohook", "freeswitch", "audiosocket"}
    assert rows["audiohook"]["method"] == "X-API-KEY + HTTP message signature"
    assert rows["freeswitch"]["bound_here"] and rows["audiosocket"]["bound_here"] is False
    assert httpx.get(f"{secured.base_url}/v1/telephony/ingress", headers=secured.floor.headers("supervisor", "other"),
                     timeout=30).status_code == 403
    assert not secured.log_records("telephony ingress open without authentication")


def simulate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assistant.cli", "simulate", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("protocol,secret", [("twilio", TWILIO_TOKEN_OTHER), ("audiohook", HOOK_SECRET),
                                             ("freeswitch", FS_TOKEN)])
def test_simulate_signs_as_the_platform_when_given_the_secret(secured, tmp_path, protocol, secret):
    clip, _ = fleurs_clip("es", 3)
    call_id = new_platform_call_id(protocol)
    common = [str(clip), "--protocol", protocol, "--url", secured.base_url, "--speed", "0", "--quiet",
              "--api-key", HOOK_KEY, "--public-url", PUBLIC_URL]
    unsigned = simulate(*common, "--call-id", new_platform_call_id(protocol), "--secret", "")
    assert unsigned.returncode == 1
    assert ("403" in unsigned.stderr) if protocol != "audiohook" else ("unauthorized" in unsigned.stderr)
    signed = simulate(*common, "--call-id", call_id, "--secret", secret)
    assert signed.returncode == 0, signed.stderr
    deadline = time.monotonic() + 90
    while secured.call(call_id, "other").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert secured.call(call_id, "other").json()["platform"] == protocol


@pytest.mark.parametrize("env,message", [
    ({"RAFIQ_AUDIOSOCKET_ALLOW": "10.0.0.0/8,pbx.example.com"}, "is not a network"),
    ({"RAFIQ_AUDIOHOOK_API_KEY": "k", "RAFIQ_AUDIOHOOK_CLIENT_SECRET": "not base64!"}, "must be base64"),
    ({"RAFIQ_AUDIOHOOK_CLIENT_SECRET": HOOK_SECRET}, "without RAFIQ_AUDIOHOOK_API_KEY"),
    ({"RAFIQ_AUDIOHOOK_API_KEY": "k", "RAFIQ_AUDIOHOOK_CLIENT_SECRET": f"other:{HOOK_SECRET}"}, "not in RAFIQ_AUDIOHOOK_API_KEY"),
])
def test_a_malformed_credential_stops_the_start_with_a_clear_error(env, message):
    from assistant.config import Settings
    from assistant.telephony.auth import IngressAuth

    with pytest.raises(ValueError, match=message):
        IngressAuth(Settings.from_env(env))
