"""Guards on what reaches the agent: silence hallucinations dropped and counted, Darija
recognised, and the call limit of a process."""

import asyncio
import json
import shutil
import subprocess

import httpx
import numpy as np
import pytest
import websockets

from assistant.launcher import ServerProcess
from assistant.simulate import stream_audio
from speech.audio import decode_file
from speech.guards import darija_hint, is_known_hallucination
from tests.conftest import (START, Floor, collect_when_started, expect_close, expect_error, new_call_id,
                            wait_for_call_start)


@pytest.mark.parametrize("text", [
    "Thank you for watching.", "Thanks for watching!", "Sous-titres réalisés par la communauté d'Amara.org",
    "Subtítulos por la comunidad de Amara.org", "ترجمة نانسي قنقر", "Legendas pela comunidade Amara.org",
    "Sous-titres par Jean Dupont",
])
def test_known_silence_hallucinations_are_recognised(text):
    assert is_known_hallucination(text)


@pytest.mark.parametrize("text", [
    "Thank you for watching over my account while I was away, can you check the last transfer?",
    "Merci, j'ai perdu ma carte bancaire.", "Thank you.", "ترجمة هذه الوثيقة إلى الفرنسية مطلوبة من البنك اليوم قبل الظهر",
    "",
])
def test_real_utterances_are_not_taken_for_hallucinations(text):
    assert not is_known_hallucination(text)


@pytest.mark.parametrize("text, language, expected", [
    ("بغيت نبلوكي البطاقة ديالي عافاك", "ar", True),
    ("واش كاين شي مشكل فالريزو دابا؟", "ar", True),
    ("أريد إيقاف بطاقتي البنكية من فضلك", "ar", False),  # MSA
    ("salam, bghit n3ref wach l'carte dyali mbloquia", "fr", True),  # Arabizi with French
    ("Bonjour, je voudrais bloquer ma carte", "fr", False),
    ("la carte a été bloquée, c'est safi", "fr", False),  # one look-alike word is not enough
])
def test_darija_hint(text, language, expected):
    assert darija_hint(text, language) is expected


@pytest.fixture(scope="module")
def spoken_outro(tmp_path_factory):
    """Whisper's most common silence hallucination, actually spoken (espeak-ng)."""
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is missing: scripts/test-services.sh installs it"
    path = tmp_path_factory.mktemp("tts") / "outro.wav"
    subprocess.run([espeak, "-v", "en", "-s", "150", "-w", str(path), "Thank you for watching."], check=True)
    return decode_file(path)


async def test_a_blocklisted_phrase_is_dropped_and_counted(floor, spoken_outro):
    ws_base = floor.ws_base
    silence = np.zeros((1, 8000), dtype=np.float32)
    audio = np.concatenate([silence, spoken_outro, silence, silence], axis=1)
    call_id = new_call_id("outro")
    collector = asyncio.ensure_future(collect_when_started(ws_base, call_id, token=floor.token("supervisor")))
    await stream_audio(audio, f"{ws_base}/v1/calls/{call_id}/audio", speed=0, language="en",
                       api_key=floor.ingest_key())
    events = await asyncio.wait_for(collector, 60)
    assert not [e for e in events if e["type"] == "transcript.final"]
    assert events[-1]["type"] == "call.ended"
    assert events[-1]["dropped_segments"] == {"blocklist": 1}


async def test_loud_noise_gives_no_transcript(floor):
    ws_base = floor.ws_base
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.05, (1, 16000 * 5)).astype(np.float32)
    call_id = new_call_id("noise")
    collector = asyncio.ensure_future(collect_when_started(ws_base, call_id, token=floor.token("supervisor")))
    await stream_audio(noise, f"{ws_base}/v1/calls/{call_id}/audio", speed=0, api_key=floor.ingest_key())
    events = await asyncio.wait_for(collector, 60)
    assert not [e for e in events if e["type"].startswith("transcript")]
