"""The ``rafiq simulate`` command streams real audio files as live calls."""

import subprocess
import sys

import httpx

from speech.audio import decode_file
from tests.audio_files import write_audio
from tests.conftest import REPO, STEREO_CLIP, fleurs_clip, new_call_id


def simulate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assistant.cli", "simulate", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_simulate_streams_an_mp3_and_prints_the_transcript(rafiq_server, tmp_path):
    clip, _ = fleurs_clip("es", 3)
    mp3 = write_audio(tmp_path / "call.mp3", decode_file(clip))
    call_id = new_call_id("cli")
    done = simulate(str(mp3), "--call-id", call_id, "--url", rafiq_server, "--speed", "4")
    assert done.returncode == 0, done.stderr
    assert "customer (es)" in done.stdout
    call = httpx.get(f"{rafiq_server}/v1/calls/{call_id}").json()
    assert call["status"] == "ended" and call["segments"]


def test_simulate_sends_a_stereo_flac_as_two_speakers(rafiq_server, tmp_path):
    flac = write_audio(tmp_path / "call.flac", decode_file(STEREO_CLIP))
    call_id = new_call_id("cli-stereo")
    done = simulate(str(flac), "--call-id", call_id, "--url", rafiq_server, "--speed", "0", "--quiet")
    assert done.returncode == 0, done.stderr
    call = httpx.get(f"{rafiq_server}/v1/calls/{call_id}").json()
    assert {s["speaker"] for s in call["segments"]} == {"customer", "agent"}


def test_simulate_reports_server_errors_and_missing_files(rafiq_server, tmp_path):
    missing = simulate(str(tmp_path / "nope.wav"), "--call-id", "x", "--url", rafiq_server)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    clip, _ = fleurs_clip("en", 3)
    refused = simulate(str(clip), "--call-id", "bad id with spaces", "--url", rafiq_server, "--quiet")
    assert refused.returncode == 1 and "bad_call_id" in refused.stderr
