"""Which language each utterance is transcribed in: the switching rule (more evidence for short
utterances), the call's language as a hint (code-switching kept) or forced, and RAFIQ_LANGUAGES.

Real speech: FLEURS fr/es/en/pt. No Arabic speech with a usable licence is available here, so
the Darija ↔ French case is shown with French ↔ Spanish/English, which the same rule governs.
"""

import asyncio
import json

import numpy as np
import pytest
import websockets
from faster_whisper.audio import pad_or_trim

from speech.audio import decode_file, float_to_pcm16
from speech.engine import DecodeOptions, DecodeRequest, WhisperRecognizer
from speech.evaluation import word_error_rate
from speech.models import load_whisper
from speech.streaming import ChannelTranscriber, ForcedLanguage
from tests.conftest import START, clip_audio, collect_when_started, new_call_id


@pytest.fixture(scope="module")
def recognizer():
    """The bundled Whisper base in this process, with the server's default options."""
    from assistant.config import Settings
    settings = Settings.from_env()
    model, _ = load_whisper("base", settings.model_cache, "cpu", "int8", cpu_threads=2)
    return WhisperRecognizer(model, DecodeOptions())


def test_the_switch_threshold_rises_as_the_utterance_gets_shorter():
    options = DecodeOptions()
    assert options.switch_threshold(6.0) == options.switch_threshold(3.0) == 0.75
    assert options.switch_threshold(1.0) == options.switch_threshold(0.5) == 0.95
    assert options.switch_threshold(2.0) == pytest.approx(0.85)
    steps = [options.switch_threshold(d) for d in (1.0, 1.5, 2.0, 2.5, 3.0)]
    assert steps == sorted(steps, reverse=True) and len(set(steps)) == len(steps)
    # Leaving the call's hinted language needs at least 0.9, whatever the length.
    assert options.switch_threshold(10.0, leaving_hint=True) == 0.9
    assert options.switch_threshold(1.0, leaving_hint=True) == 0.95


def ranked(shares: dict[str, float]) -> list[tuple[str, float]]:
    return [(f"<|{lang}|>", p) for lang, p in shares.items()]


@pytest.mark.parametrize("duration, prior, hint, expected", [
    (6.0, "fr", None, "es"),   # long: 0.8 ≥ 0.75, the speaker switched
    (1.0, "fr", None, "fr"),   # 1 s: 0.8 < 0.95, one short utterance does not flip the speaker
    (2.0, "fr", None, "fr"),   # 2 s needs 0.85
    (None, None, None, "es"),  # no language yet: the most likely one
    (6.0, None, "fr", "fr"),   # hinted fr: leaving the hint needs 0.9
    (6.0, "es", "fr", "es"),   # switched to es earlier: es is the speaker's now, kept
])
def test_the_rule_on_given_probabilities(duration, prior, hint, expected):
    recognizer = WhisperRecognizer.__new__(WhisperRecognizer)
    recognizer.options = DecodeOptions()
    shares = {"es": 0.8, "fr": 0.15, "pt": 0.05}
    assert recognizer.pick_language(ranked(shares), prior, duration or 6.0, hint)[0] == expected
    back = {"fr": 0.8, "es": 0.15, "pt": 0.05}  # returning to the hint is an ordinary switch
    assert recognizer.pick_language(ranked(back), "es", 6.0, "fr")[0] == "fr"


def speech_pieces(language: str, seconds: float, count: int) -> list[np.ndarray]:
    """``count`` consecutive pieces of ``seconds`` from the speech of FLEURS clips 0-4."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps
    pieces = []
    for index in range(5):
        audio, _ = clip_audio(language, index)
        spans = get_speech_timestamps(audio[0], VadOptions())
        speech = audio[0, spans[0]["start"]:spans[-1]["end"]]
        n = int(seconds * 16000)
        pieces += [speech[k * n:(k + 1) * n] for k in range(len(speech) // n)][:2]
        if len(pieces) >= count:
            return pieces[:count]
    return pieces


def test_short_pieces_of_real_speech_keep_the_speakers_language(recognizer):
    """1 s pieces of fr/es/en/pt speakers, each speaker already heard in their language: the
    duration-aware rule mislabels fewer of them than the flat 0.75 bar it replaced, and each
    at most 1 in 8 per language (measured on clips 0-4 of each language: see the README)."""
    old = WhisperRecognizer.__new__(WhisperRecognizer)
    old.options = DecodeOptions(short_switch_probability=0.75)
    model = recognizer.model
    wrong_new, wrong_old = 0, 0
    for language in ("fr", "es", "en", "pt"):
        pieces = speech_pieces(language, 1.0, 8)
        features = np.stack([pad_or_trim(model.feature_extractor(p)) for p in pieces])
        detected = model.model.detect_language(model.encode(features))
        labels = [recognizer.pick_language(d, language, 1.0)[0] for d in detected]
        wrong_new += sum(label != language for label in labels)
        wrong_old += sum(old.pick_language(d, language, 1.0)[0] != language for d in detected)
        assert sum(label != language for label in labels) <= 1, (language, labels)
    print(f"1 s pieces mislabelled: flat 0.75 bar {wrong_old}/32, duration-aware {wrong_new}/32")
    assert wrong_new < wrong_old


def test_a_long_utterance_in_another_language_still_switches_through_the_engine(recognizer):
    audio, reference = clip_audio("es", 0)
    result = recognizer.recognize([DecodeRequest(audio[0], prior="fr", hint="fr")], beam_size=5)[0]
    assert result.language == "es" and result.language_probability >= 0.9
    assert word_error_rate(reference, result.text) <= 0.15, result.text
    forced = recognizer.recognize([DecodeRequest(audio[0], language="fr")], beam_size=5)[0]
    assert forced.language == "fr" and word_error_rate(reference, forced.text) > 0.5, forced.text


def test_the_channel_keeps_a_hint_apart_from_a_forced_language():
    async def noop(segment):
        pass
    channel = ChannelTranscriber("c", "customer", engine=None, on_segment=noop, language="fr")
    assert (channel.hint, channel.forced, channel.language) == ("fr", None, "fr")
    assert channel._request(np.zeros(10, np.float32)).language is None  # detected, leaning to fr
    assert channel._request(np.zeros(10, np.float32)).prior == "fr"
    channel.language = ForcedLanguage("es")
    assert (channel.hint, channel.forced) == (None, "es") and isinstance(channel.language, ForcedLanguage)
    assert channel._request(np.zeros(10, np.float32)).language == "es"
    channel.language = None
    assert (channel.hint, channel.forced) == (None, None)


async def stream_call(floor, audio: np.ndarray, start: dict) -> list[dict]:
    """Stream mono 16 kHz audio as fast as possible with this start message; the call's events."""
    call_id = new_call_id("lang")
    collector = asyncio.ensure_future(collect_when_started(floor.ws_base, call_id, token=floor.token("supervisor")))
    async with websockets.connect(f"{floor.ws_base}/v1/calls/{call_id}/audio",
                                  additional_headers=floor.headers("ingest")) as ws:
        await ws.send(json.dumps({**START, **start}))
        wire = float_to_pcm16(audio)
        for offset in range(0, len(wire), 64000):
            await ws.send(wire[offset:offset + 64000])
        await ws.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(ws.wait_closed(), 120)
    return await asyncio.wait_for(collector, 120)


def code_switching_call() -> tuple[np.ndarray, list[tuple[str, str]]]:
    """A French speaker who says a long sentence in Spanish between two French ones (1 s pauses)."""
    parts, said = [], []
    for language, index in (("fr", 2), ("es", 0), ("fr", 4)):
        audio, reference = clip_audio(language, index)
        parts += [audio[0], np.zeros(16000, np.float32)]
        said.append((language, reference))
    return np.concatenate(parts), said


async def test_a_hinted_call_follows_a_long_switch_and_a_forced_one_does_not(floor):
    audio, said = code_switching_call()
    hinted = [e for e in await stream_call(floor, audio, {"language": "fr"}) if e["type"] == "transcript.final"]
    assert [e["language"] for e in hinted] == [language for language, _ in said], [e["text"] for e in hinted]
    spanish = word_error_rate(said[1][1], hinted[1]["text"])
    assert spanish <= 0.15, hinted[1]["text"]
    forced = [e for e in await stream_call(floor, audio, {"language": "fr", "language_mode": "force"})
              if e["type"] == "transcript.final"]
    assert {e["language"] for e in forced} == {"fr"}
    spanish_forced = [e["text"] for e in forced if e["start"] >= hinted[1]["start"] - 0.5
                      and e["end"] <= hinted[1]["end"] + 0.5]
    print(f"Spanish sentence in a fr call: WER hinted {spanish:.3f}, "
          f"forced {word_error_rate(said[1][1], ' '.join(spanish_forced)):.3f}")
    assert word_error_rate(said[1][1], " ".join(spanish_forced)) > 0.5


def test_a_bad_language_mode_is_refused():
    from assistant.ingest import ProtocolError, parse_start
    with pytest.raises(ProtocolError) as refused:
        parse_start({**START, "language": "fr", "language_mode": "sometimes"}, ("fr", "es"))
    assert refused.value.code == "bad_start"
    assert isinstance(parse_start({**START, "language": "fr", "language_mode": "force"}, ("fr",)).language,
                      ForcedLanguage)
    hinted = parse_start({**START, "language": "fr"}, ("fr",)).language
    assert hinted == "fr" and not isinstance(hinted, ForcedLanguage)


# Short Arabic (Darija and Egyptian) replies. There is no Arabic speech with a usable licence
# here, so these are espeak-ng's robotic Arabic voice: Whisper base often takes it for another
# language (measured: free detection says ar for 2 of these 10), which makes it a hard case for
# the rule, not a measure of accuracy on real Arabic callers.
ARABIC_REPLIES = ["نعم، شكرا", "أيوه تمام", "لا، مش كده", "شكرا جزيلا", "واش كاين شي مشكل",
                  "بغيت نبلوكي البطاقة ديالي", "مرحبا", "السلام عليكم", "ممكن تعاودلي", "طيب ماشي مشكل"]


def test_short_arabic_replies_in_an_arabic_call_stay_arabic(recognizer, tmp_path):
    import shutil
    import subprocess
    binary = shutil.which("espeak-ng")
    assert binary, "espeak-ng is missing: scripts/test-services.sh installs it"
    pieces = []
    for n, text in enumerate(ARABIC_REPLIES):
        path = tmp_path / f"ar{n}.wav"
        subprocess.run([binary, "-v", "ar", "-s", "160", "-w", str(path), text], check=True)
        pieces.append(decode_file(path)[0])
    assert all(len(p) < 3 * 16000 for p in pieces)  # 1.2-2.8 s each
    model = recognizer.model
    features = np.stack([pad_or_trim(model.feature_extractor(p)) for p in pieces])
    detected = model.model.detect_language(model.encode(features))
    old = WhisperRecognizer.__new__(WhisperRecognizer)
    old.options = DecodeOptions(short_switch_probability=0.75, hint_switch_probability=0.0)
    durations = [len(p) / 16000 for p in pieces]
    free = [recognizer.pick_language(d, None, s)[0] for d, s in zip(detected, durations)]
    before = [old.pick_language(d, "ar", s)[0] for d, s in zip(detected, durations)]
    hinted = [recognizer.pick_language(d, "ar", s, "ar")[0] for d, s in zip(detected, durations)]
    counts = {name: labels.count("ar") for name, labels in (("free", free), ("before", before), ("hinted", hinted))}
    print(f"short Arabic replies labelled ar: {counts} of {len(pieces)}")
    # Measured: free 2, before (flat 0.75 with the speaker's ar) 8, now with the call hinted ar 9.
    assert counts["hinted"] >= 9 and counts["hinted"] >= counts["before"] and counts["free"] <= 5
