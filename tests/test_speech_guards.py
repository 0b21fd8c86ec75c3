"""Guards on what reaches the agent: silence hallucinations, no-speech decodes, repetition loops
and empty text dropped and counted; Darija recognised. (The call limit: tests/test_call_limits.py.)"""

import asyncio
import shutil
import subprocess

import numpy as np
import pytest

from assistant.simulate import stream_audio
from speech.audio import decode_file
from speech.engine import DecodeOptions, DecodeRequest, Recognition, WhisperRecognizer
from speech.guards import darija_hint, is_known_hallucination
from speech.models import load_whisper
from speech.streaming import StreamingConfig, rejected_by
from speech.vad import Endpointer, StreamingVad
from tests.conftest import clip_audio, collect_when_started, new_call_id


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


def espeak(tmp_path_factory, name: str, text: str) -> np.ndarray:
    """Synthetic speech (espeak-ng, robotic: used for its shape, never for accuracy), (1, n) 16 kHz."""
    binary = shutil.which("espeak-ng")
    assert binary, "espeak-ng is missing: scripts/test-services.sh installs it"
    path = tmp_path_factory.mktemp("tts") / f"{name}.wav"
    subprocess.run([binary, "-v", "en", "-s", "150", "-w", str(path), text], check=True)
    return decode_file(path)


@pytest.fixture(scope="module")
def spoken_outro(tmp_path_factory):
    """Whisper's most common silence hallucination, actually spoken."""
    return espeak(tmp_path_factory, "outro", "Thank you for watching.")


@pytest.fixture(scope="module")
def sung_la(tmp_path_factory):
    """"la la la …": voice detection takes it for speech; Whisper base hears no words in it
    (measured: no-speech probability 0.77, average log-probability −1.73, text "you")."""
    return espeak(tmp_path_factory, "la", " ".join(["la"] * 40))


@pytest.fixture(scope="module")
def looped_syllable():
    """A quarter of a second of real speech (FLEURS en 000, 1.00-1.25 s) looped 30 times: voice
    detection passes it as one 7.5 s utterance, and Whisper base loops too ("Tawa Tawa Tawa …",
    measured compression ratio 3.38; the threshold is 2.4)."""
    speech, _ = clip_audio("en", 0)
    syllable = 0.5 * speech[:, 16000:20000] / np.abs(speech).max()
    return np.tile(syllable, 30).astype(np.float32)


@pytest.fixture(scope="module")
def recognizer():
    from assistant.config import Settings
    model, _ = load_whisper("base", Settings.from_env().model_cache, "cpu", "int8", cpu_threads=2)
    return WhisperRecognizer(model, DecodeOptions())


def speech_shaped_noise(seconds: float = 5.0) -> np.ndarray:
    """Noise with the long-term spectrum of real speech (FLEURS en 000), random phases."""
    speech, _ = clip_audio("en", 0)
    spectrum = np.fft.rfft(speech[0])
    rng = np.random.default_rng(0)
    noise = np.fft.irfft(np.abs(spectrum) * np.exp(2j * np.pi * rng.random(len(spectrum))), n=speech.shape[1])
    return (0.3 * noise / np.abs(noise).max()).astype(np.float32)[:int(16000 * seconds)]


def utterances(audio: np.ndarray) -> list[str]:
    vad, endpointer = StreamingVad(), Endpointer()
    padded = np.concatenate([np.zeros(8000, np.float32), audio, np.zeros(16000, np.float32)])
    return [e.kind for e in endpointer.update(vad.process(padded)) + endpointer.flush()]


def test_each_guard_on_real_decoder_output(recognizer, sung_la, looped_syllable):
    config = StreamingConfig()
    noise = speech_shaped_noise()
    assert utterances(noise) == []  # Silero never fires on it: live, no decode would even be asked
    assert utterances(looped_syllable[0]) == ["start", "end"]
    decoded = recognizer.recognize([DecodeRequest(noise), DecodeRequest(sung_la[0]),
                                    DecodeRequest(looped_syllable[0]), DecodeRequest(clip_audio("es", 3)[0][0])],
                                   beam_size=5)
    noise_result, la_result, ba_result, speech_result = decoded
    assert rejected_by(noise_result, config) == "no_speech", noise_result
    assert rejected_by(la_result, config) == "no_speech", la_result
    assert rejected_by(ba_result, config) == "repetition", ba_result
    assert rejected_by(speech_result, config) is None, speech_result
    # Whisper base gave text for everything tried (silence, 10 ms, tones, DC, noise), so the
    # empty guard is shown on its own: a decode with no text is dropped, whatever its scores.
    empty = Recognition(text="", language="fr", language_probability=1.0, avg_logprob=-0.1, no_speech_prob=0.0,
                        compression_ratio=0.0)
    assert rejected_by(empty, config) == "empty"


async def test_a_repetition_loop_is_dropped_and_counted_live(floor, looped_syllable):
    """Live, the looped syllable is one utterance that voice detection passes and the repetition
    guard drops. (No live input was found for no_speech: Silero does not fire on speech-shaped
    noise, and "la la la" live came out as a repetition loop too; no_speech is shown above on
    real decoder output.)"""
    pause = np.zeros((1, 16000), dtype=np.float32)
    audio = np.concatenate([pause, looped_syllable, pause], axis=1)
    call_id = new_call_id("guards")
    collector = asyncio.ensure_future(collect_when_started(floor.ws_base, call_id, token=floor.token("supervisor")))
    await stream_audio(audio, f"{floor.ws_base}/v1/calls/{call_id}/audio", speed=0, api_key=floor.ingest_key())
    events = await asyncio.wait_for(collector, 120)
    assert not [e for e in events if e["type"] == "transcript.final"], events
    assert events[-1]["type"] == "call.ended"
    assert events[-1]["dropped_segments"] == {"repetition": 1}


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
