"""The ``rafiq simulate`` command streams real audio files as live calls; ``rafiq users`` and
``rafiq apikeys`` manage accounts and ingest keys in the database directly."""

import os
import subprocess
import sys

import httpx

from speech.audio import decode_file
from tests.audio_files import write_audio
from tests.conftest import REPO, STEREO_CLIP, fleurs_clip, new_call_id


def simulate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assistant.cli", "simulate", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_simulate_streams_an_mp3_and_prints_the_transcript(floor, tmp_path):
    clip, _ = fleurs_clip("es", 3)
    mp3 = write_audio(tmp_path / "call.mp3", decode_file(clip))
    call_id = new_call_id("cli")
    done = simulate(str(mp3), "--call-id", call_id, "--url", floor.base_url, "--speed", "4",
                    "--ingest-key", floor.ingest_key(), "--agent", floor.username("agent"),
                    "--token", floor.token("agent"))
    assert done.returncode == 0, done.stderr
    assert "customer (es)" in done.stdout
    # The call is the named agent's: they read it, another agent of the tenant does not.
    call = httpx.get(f"{floor.base_url}/v1/calls/{call_id}", headers=floor.headers("agent")).json()
    assert call["status"] == "ended" and call["segments"]
    assert httpx.get(f"{floor.base_url}/v1/calls/{call_id}", headers=floor.headers("agent2")).status_code == 404


def test_simulate_sends_a_stereo_flac_as_two_speakers(floor, tmp_path):
    flac = write_audio(tmp_path / "call.flac", decode_file(STEREO_CLIP))
    call_id = new_call_id("cli-stereo")
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "simulate", str(flac), "--call-id", call_id,
                           "--url", floor.base_url, "--speed", "0", "--quiet"], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "RAFIQ_INGEST_KEY": floor.ingest_key()})
    assert done.returncode == 0, done.stderr
    call = httpx.get(f"{floor.base_url}/v1/calls/{call_id}", headers=floor.headers("supervisor")).json()
    assert {s["speaker"] for s in call["segments"]} == {"customer", "agent"}


def test_simulate_reports_server_errors_and_missing_files(floor, tmp_path):
    missing = simulate(str(tmp_path / "nope.wav"), "--call-id", "x", "--url", floor.base_url)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    clip, _ = fleurs_clip("en", 3)
    refused = simulate(str(clip), "--call-id", "bad id with spaces", "--url", floor.base_url, "--quiet",
                       "--ingest-key", floor.ingest_key())
    assert refused.returncode == 1 and "bad_call_id" in refused.stderr
    other = simulate(str(clip), "--call-id", new_call_id("cli-tenant"), "--url", floor.base_url, "--quiet",
                     "--ingest-key", floor.ingest_key(), "--tenant", "other")
    assert other.returncode == 1 and "wrong_tenant" in other.stderr
    for key in ("", "rfk_not-a-key"):  # no key, a wrong one: refused at the handshake
        unsigned = subprocess.run([sys.executable, "-m", "assistant.cli", "simulate", str(clip), "--quiet",
                                   "--url", floor.base_url, "--ingest-key", key], cwd=REPO, capture_output=True,
                                  text=True, timeout=300,
                                  env={k: v for k, v in os.environ.items() if k != "RAFIQ_INGEST_KEY"})
        assert unsigned.returncode == 1 and "401" in unsigned.stderr, unsigned.stderr


def rafiq(data_dir, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("RAFIQ_DATABASE_URL", "RAFIQ_BOOTSTRAP_ADMIN")}
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**clean, "RAFIQ_DATA_DIR": str(data_dir), **env})


def test_users_and_apikeys_commands_work_on_the_database(tmp_path):
    import json

    from assistant.config import Settings
    from assistant.services import open_accounts

    added = rafiq(tmp_path, "users", "add", "salma", "--roles", "agent,supervisor", "--tenant", "acme",
                  "--team", "north", "--password-env", "NEW_PASSWORD", NEW_PASSWORD="correct horse battery")
    assert added.returncode == 0, added.stderr
    user = json.loads(added.stdout)
    assert (user["username"], user["roles"], user["tenant"], user["team"]) == ("salma", ["agent", "supervisor"],
                                                                               "acme", "north")
    assert "correct horse" not in added.stdout + added.stderr
    again = rafiq(tmp_path, "users", "add", "salma", "--roles", "agent", "--password-env", "NEW_PASSWORD",
                  NEW_PASSWORD="another password")
    assert again.returncode == 1 and "username_taken" in again.stderr
    weak = rafiq(tmp_path, "users", "add", "karim", "--roles", "agent", "--password-env", "NEW_PASSWORD",
                 NEW_PASSWORD="short")
    assert weak.returncode == 1 and "weak_password" in weak.stderr
    listed = rafiq(tmp_path, "users", "list", "--tenant", "acme")
    assert listed.returncode == 0 and "salma" in listed.stdout and "karim" not in listed.stdout

    created = rafiq(tmp_path, "apikeys", "create", "--name", "pbx-1", "--tenant", "acme")
    assert created.returncode == 0, created.stderr
    [key] = created.stdout.split()  # the key alone on stdout, once
    key_id = created.stderr.split("id ", 1)[1].split(",", 1)[0]
    listed = rafiq(tmp_path, "apikeys", "list")
    assert listed.returncode == 0
    [row] = [line for line in listed.stdout.splitlines() if line.startswith(key_id)]
    assert "acme" in row and "pbx-1" in row and "active" in row
    assert key not in listed.stdout  # never shown again

    store = open_accounts(Settings.from_env({"RAFIQ_DATA_DIR": str(tmp_path)}))
    try:
        assert store.authenticate("salma", "correct horse battery").tenant == "acme"
        principal = store.resolve(key)
        assert principal is not None and principal.tenant == "acme" and principal.roles == frozenset({"ingest"})
        revoked = rafiq(tmp_path, "apikeys", "revoke", key_id)
        assert revoked.returncode == 0, revoked.stderr
        [row] = [line for line in rafiq(tmp_path, "apikeys", "list", "--tenant", "acme").stdout.splitlines()
                 if line.startswith(key_id)]
        assert "revoked" in row
        assert store.resolve(key) is None
    finally:
        store.engine.dispose()
    unknown = rafiq(tmp_path, "apikeys", "revoke", "no-such-key")
    assert unknown.returncode == 1 and "no API key" in unknown.stderr
