"""Shared fixtures: the real Rafiq server in a subprocess, real data from ../shared/data."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import numpy as np
import pytest
import websockets

from assistant.launcher import ServerProcess
from assistant.simulate import stream_audio
from speech.audio import decode_file

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RAFIQ_SHARED_DATA", REPO.parent / "shared" / "data"))
FLEURS = SHARED_DATA / "speech" / "fleurs"
STEREO_CLIP = SHARED_DATA / "speech" / "stereo" / "stereo_diarization.wav"


@pytest.fixture(scope="session")
def rafiq_process(tmp_path_factory) -> ServerProcess:
    """A real Rafiq server: bundled Whisper base, embedded Qdrant, seeded KB, SQLite."""
    server = ServerProcess(tmp_path_factory.mktemp("rafiq"))
    with server:
        yield server


@pytest.fixture(scope="session")
def rafiq_server(rafiq_process: ServerProcess) -> str:
    """Base URL of the shared real server."""
    return rafiq_process.base_url


TENANTS = ("default", "other")
PEOPLE = {"agent": ["agent"], "agent2": ["agent"], "supervisor": ["supervisor"], "trainer": ["trainer"],
          "trainer2": ["trainer"], "admin": ["admin"]}


class Floor:
    """The people and machines of two tenants on one server, signed in: ``token("agent")`` is the
    bearer token of the default tenant's agent (username ``agent-default``), ``ingest_key()`` its
    ingest API key; ``headers(...)`` the Authorization header of either (person ``"ingest"``: the key).
    Everyone is in team ``team-<tenant>`` except the supervisors, who have no team: they see every
    call of their tenant, those without an agent too."""

    def __init__(self, server: ServerProcess):
        self.server = server
        self.base_url = server.base_url
        self.ws_base = "ws" + server.base_url[4:]
        self.passwords: dict[str, str] = {}
        self._tokens: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        store = server.accounts()
        try:
            for tenant in TENANTS:
                self._staff(store, tenant)
        finally:
            store.engine.dispose()

    def _staff(self, store, tenant: str) -> None:
        """The PEOPLE of ``tenant`` (new passwords if they exist) and an ingest key of it."""
        for person, roles in PEOPLE.items():
            username = self.username(person, tenant)
            password = uuid.uuid4().hex
            user = store.find_user(username)
            if user is None:  # supervisors oversee the whole tenant, unassigned calls included
                team = None if "supervisor" in roles else f"team-{tenant}"
                store.add_user(username, password, roles, tenant, team=team)
            else:
                store.update_user(user.id, password=password)
            self.passwords[username] = password
            self._tokens.pop(username, None)
        self._keys[tenant] = store.create_api_key(tenant, f"tests-{tenant}")[0]

    def add_tenant(self, tenant: str | None = None) -> str:
        """A tenant of its own for one test (a fresh name unless given), with the same people and
        an ingest key; ``token(person, tenant)`` etc. then work for it."""
        tenant = tenant or f"t{uuid.uuid4().hex[:8]}"
        store = self.server.accounts()
        try:
            self._staff(store, tenant)
        finally:
            store.engine.dispose()
        return tenant

    @staticmethod
    def username(person: str = "agent", tenant: str = "default") -> str:
        return f"{person}-{tenant}"

    def token(self, person: str = "agent", tenant: str = "default") -> str:
        username = self.username(person, tenant)
        if username not in self._tokens:
            self._tokens[username] = self.server.token(username, self.passwords[username])
        return self._tokens[username]

    def ingest_key(self, tenant: str = "default") -> str:
        return self._keys[tenant]

    def headers(self, person: str = "agent", tenant: str = "default") -> dict[str, str]:
        secret = self.ingest_key(tenant) if person == "ingest" else self.token(person, tenant)
        return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="session")
def floor(rafiq_process: ServerProcess) -> Floor:
    return Floor(rafiq_process)


@pytest.fixture(scope="session")
def ws_base(rafiq_server: str) -> str:
    return "ws" + rafiq_server[4:]


# The native ingest's start message for one customer channel of 16 kHz PCM.
START = {"type": "start", "encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1,
         "roles": ["customer"], "language": None, "tenant": "default"}


async def expect_close(ws, timeout: float = 30) -> int:
    """The server's next move is to close the socket, with no frame before; its close code."""
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), timeout)
    return ws.close_code


async def expect_error(ws, timeout: float = 30) -> tuple[dict, int]:
    """The server's error frame, then its close code."""
    error = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert error["type"] == "error" and error["message"]
    return error, await expect_close(ws, timeout)


def new_call_id(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def fleurs_clip(language: str, index: int) -> tuple[Path, str]:
    stem = FLEURS / f"fleurs-{language}-{index:03d}"
    return stem.with_suffix(".ogg"), stem.with_suffix(".txt").read_text(encoding="utf-8").strip()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def collect_events(ws_base: str, call_id: str, timeout: float = 120, *, token: str) -> list[dict]:
    """All events of a call until ``call.ended``, read with ``token`` (a supervisor's, or the agent's)."""
    events = []
    async with websockets.connect(f"{ws_base}/v1/calls/{call_id}/events", additional_headers=bearer(token)) as ws:
        async def read():
            async for message in ws:
                event = json.loads(message)
                events.append(event)
                if event["type"] in ("call.ended", "error"):
                    return
        await asyncio.wait_for(read(), timeout)
    return events


async def transcribe_live(floor: "Floor", clip, language=None, speed=0.0, tenant="default",
                          agent: str | None = None) -> list[dict]:
    """Stream a clip as a call (the tenant's ingest key) and return every event of the call, as the
    tenant's supervisor saw them."""
    call_id = new_call_id("asr")
    collector = asyncio.ensure_future(collect_when_started(floor.ws_base, call_id,
                                                           token=floor.token("supervisor", tenant)))
    await stream_audio(decode_file(clip), f"{floor.ws_base}/v1/calls/{call_id}/audio", speed=speed,
                       language=language, api_key=floor.ingest_key(tenant), agent=agent)
    return await asyncio.wait_for(collector, 120)


async def collect_when_started(ws_base: str, call_id: str, *, token: str) -> list[dict]:
    """All events of a call that may not have started yet (retries until it exists)."""
    for _ in range(200):
        events = await collect_events(ws_base, call_id, token=token)
        if events and events[-1]["type"] != "error":
            return events
        await asyncio.sleep(0.05)
    raise AssertionError("call never started")


# --- Telephony ingress (tests/test_telephony_*.py) ---------------------------------------------

TELEPHONY_API_KEY = "test-audiohook-key"


class TelephonyServer:
    """A real server with every telephony ingress on: AudioHook key checked, AudioSocket on
    two ports (customer, agent), a short resume grace so a dropped call's end can be seen.
    ``token`` reads its calls (the default tenant's supervisor)."""

    resume_s = 4.0
    start_timeout_s = 3.0  # RAFIQ_START_TIMEOUT_S: a Twilio socket that never sends start is closed then

    def __init__(self, server: ServerProcess, audiosocket_port: int):
        self.base_url = server.base_url
        self.ws_base = "ws" + server.base_url[4:]
        self.audiosocket_port = audiosocket_port
        self.api_key = TELEPHONY_API_KEY
        self.log_path = server.log_path
        self.floor = Floor(server)
        self.token = self.floor.token("supervisor")

    def get_call(self, call_id: str):
        """GET /v1/calls/{call_id} as the default tenant's supervisor (an httpx response)."""
        import httpx
        return httpx.get(f"{self.base_url}/v1/calls/{call_id}", headers=bearer(self.token), timeout=30)

    def logged(self, msg: str, call_id: str) -> list[dict]:
        """The server's JSON log records with this message for this call."""
        records = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if msg in line and call_id in line:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if record.get("msg") == msg and record.get("call_id") == call_id:
                    records.append(record)
        return records

    async def wait_for_log(self, msg: str, call_id: str, timeout: float = 30) -> dict:
        """Wait (polling the server log, with a deadline) until the server has logged ``msg`` for
        ``call_id`` — e.g. "call detached, waiting for a reconnect" once it has seen a drop, or
        "call joined" once a second connection feeds the call."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (records := self.logged(msg, call_id)):
            if loop.time() > deadline:
                raise AssertionError(f"the server did not log {msg!r} for {call_id} within {timeout} s")
            await asyncio.sleep(0.05)
        return records[-1]


def _free_port_pair() -> int:
    import socket
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                with socket.socket() as second:
                    second.bind(("127.0.0.1", port + 1))
                    return port
            except OSError:
                continue
    raise RuntimeError("no two consecutive free ports")


@pytest.fixture(scope="session")
def telephony_server(tmp_path_factory) -> TelephonyServer:
    port = _free_port_pair()
    env = {"RAFIQ_AUDIOHOOK_API_KEY": TELEPHONY_API_KEY, "RAFIQ_AUDIOSOCKET_PORT": str(port),
           "RAFIQ_AUDIOSOCKET_ROLES": "customer,agent", "RAFIQ_TELEPHONY_RESUME_S": str(TelephonyServer.resume_s),
           "RAFIQ_MAX_CALLS": "0", "RAFIQ_START_TIMEOUT_S": str(TelephonyServer.start_timeout_s),
           "RAFIQ_SEED_KB": "0"}  # transcripts and roles are under test here, not suggestions
    server = ServerProcess(tmp_path_factory.mktemp("rafiq-telephony"), **env)
    with server:
        yield TelephonyServer(server, port)


def clip_audio(language: str, index: int) -> tuple[np.ndarray, str]:
    """A FLEURS clip as mono 16 kHz float (1, n), and its reference transcript."""
    clip, reference = fleurs_clip(language, index)
    return decode_file(clip)[:1], reference


def two_speakers(customer: np.ndarray, agent: np.ndarray) -> np.ndarray:
    """Two mono clips as one (2, n) call: customer on channel 0, agent on channel 1."""
    length = max(customer.shape[1], agent.shape[1])
    return np.concatenate([np.pad(customer, ((0, 0), (0, length - customer.shape[1]))),
                           np.pad(agent, ((0, 0), (0, length - agent.shape[1])))])


def words_heard(reference: str, transcript: str) -> float:
    """Share of the reference's words of 4+ letters found in the transcript: a loose check, kept
    only for test_ui_agent_panel.py (text read off the page); transcripts are held to WER bounds
    (``assert_wer``)."""
    import re
    said = set(re.findall(r"\w+", transcript.lower()))
    expected = [w for w in re.findall(r"\w+", reference.lower()) if len(w) >= 4]
    return sum(w in said for w in expected) / max(1, len(expected))


def wer(reference: str, transcript: str) -> float:
    """Word error rate, both sides normalised as the FLEURS references are (speech.evaluation,
    the scorer of test_transcription.py and bench/)."""
    from speech.evaluation import word_error_rate
    return word_error_rate(reference, transcript)


def assert_wer(reference: str, transcript: str, bound: float, what: str) -> float:
    """WER of ``transcript`` against ``reference`` is at most ``bound`` (printed, for re-measuring
    the bounds with ``pytest -s``)."""
    value = wer(reference, transcript)
    print(f"WER {what}: {value:.3f} (bound {bound}): {transcript!r}")
    assert value <= bound, f"WER {what} {value:.3f} > {bound}: {transcript!r}"
    return value


def assert_not_heard(reference: str, transcript: str, what: str) -> None:
    """The other party's words are not in this channel (channels/tracks not mixed up or swapped):
    as a transcript of ``reference`` it is nearly all errors."""
    value = wer(reference, transcript)
    print(f"WER {what} (other party): {value:.3f}")
    assert value >= 0.85, f"{what}: {transcript!r} looks like {reference!r} (WER {value:.3f})"


def ngrams(text: str, n: int = 4) -> list[tuple[str, ...]]:
    from speech.evaluation import normalise
    words = normalise(text).split()
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def assert_resumed_without_loss_or_repeat(call: dict, first_ref: str, second_ref: str, first_seconds: float,
                                          first_bound: float, second_bound: float, speaker: str = "customer") -> None:
    """A call that dropped after ``first_seconds`` of audio (reference ``first_ref``) and was resumed
    with more (``second_ref``): the call's timeline goes on across the drop, so the finals that start
    before ``first_seconds`` are the pre-drop audio and the rest the resumed audio; each part is
    within its WER bound (nothing lost), the finals follow one another in time without overlap,
    no final's text appears twice and no 4-word run of either reference appears in the transcript
    more often than the references say it (nothing transcribed twice)."""
    finals = sorted((s for s in call["segments"] if s["speaker"] == speaker), key=lambda s: s["start"])
    before = " ".join(s["text"] for s in finals if s["start"] < first_seconds)
    after = " ".join(s["text"] for s in finals if s["start"] >= first_seconds)
    assert_wer(first_ref, before, first_bound, "before the drop")
    assert_wer(second_ref, after, second_bound, "after the reconnect")
    for previous, following in zip(finals, finals[1:]):
        assert following["start"] >= previous["end"] - 0.05, (previous, following)
    from speech.evaluation import normalise
    texts = [normalise(s["text"]) for s in finals if normalise(s["text"])]
    assert len(texts) == len(set(texts)), texts
    said = ngrams(" ".join(s["text"] for s in finals))
    allowed = ngrams(first_ref) + ngrams(second_ref)
    repeated = {g: said.count(g) for g in set(ngrams(first_ref) + ngrams(second_ref))
                if said.count(g) > allowed.count(g)}
    assert not repeated, f"transcribed twice: {repeated}"


async def _poll_call(base_url: str, call_id: str, ready, what: str, timeout: float, interval: float,
                     token: str) -> dict:
    """The call's record once ``ready(response)`` holds, polled every ``interval`` s."""
    import httpx
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(headers=bearer(token)) as client:
        while True:
            response = await client.get(f"{base_url}/v1/calls/{call_id}")
            if ready(response):
                return response.json()
            if loop.time() > deadline:
                raise AssertionError(f"call {call_id} did not {what}: {response.status_code} {response.text[:300]}")
            await asyncio.sleep(interval)


async def wait_for_call_end(base_url: str, call_id: str, timeout: float = 90, *, token: str) -> dict:
    """The call's record once it has ended."""
    return await _poll_call(base_url, call_id, lambda r: r.status_code == 200 and r.json()["status"] == "ended",
                            "end", timeout, 0.2, token)


async def wait_for_call_start(base_url: str, call_id: str, timeout: float = 30, *, token: str) -> dict:
    """The call's record once it exists (its stream may still be connecting)."""
    return await _poll_call(base_url, call_id, lambda r: r.status_code == 200, "start", timeout, 0.05, token)


def transcript_of(call: dict, speaker: str) -> str:
    return " ".join(s["text"] for s in call["segments"] if s["speaker"] == speaker)


async def recorded_events(ws_base: str, call_id: str, *, token: str) -> list[dict]:
    """The whole record of an ended call, as a late subscriber receives it."""
    return await collect_events(ws_base, call_id, timeout=30, token=token)


def assert_one_continuous_call(events: list[dict]) -> None:
    """One start, one end, event numbers strictly increasing (no repeat, no restart), segment ids unique."""
    kinds = [e["type"] for e in events]
    assert kinds.count("call.started") == 1 and kinds[0] == "call.started"
    assert kinds.count("call.ended") == 1 and kinds[-1] == "call.ended"
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), seqs
    finals = [e["segment_id"] for e in events if e["type"] == "transcript.final"]
    assert len(finals) == len(set(finals)), finals


# === Identity, tenants, personal data, audit (tests/test_auth.py, test_retention.py, ...) ======
# A second real server, on a fresh PostgreSQL database, shared by the modules that must run on
# PostgreSQL: open sockets re-check their credential every 0.5 s and the retention purge runs
# every second (harmless elsewhere: the tenants' retention stays 90 days unless a test sets it).

PG_ADMIN_URL = os.environ.get("RAFIQ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_database_url() -> str:
    """A fresh PostgreSQL database for the session, dropped at its end."""
    import sqlalchemy as sa

    name = f"rafiq_auth_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_process(tmp_path_factory, pg_database_url) -> ServerProcess:
    server = ServerProcess(tmp_path_factory.mktemp("rafiq-pg"), RAFIQ_DATABASE_URL=pg_database_url,
                           RAFIQ_SEED_KB="0", RAFIQ_AUTH_RECHECK_S="0.5", RAFIQ_PURGE_INTERVAL_S="1")
    with server:
        yield server


@pytest.fixture(scope="session")
def pg_floor(pg_process: ServerProcess) -> Floor:
    """The two tenants' people and ingest keys on the PostgreSQL server."""
    return Floor(pg_process)


def pg_engine(server: ServerProcess):
    """A SQLAlchemy engine on a server's database (to age rows, count what is left, tamper)."""
    import sqlalchemy as sa

    return sa.create_engine(server.env["RAFIQ_DATABASE_URL"])


def clip_head(language: str, index: int, seconds: float) -> np.ndarray:
    """The first ``seconds`` of a FLEURS clip, mono 16 kHz float (1, n): a short real call."""
    audio, _ = clip_audio(language, index)
    return audio[:, :int(16000 * seconds)]
