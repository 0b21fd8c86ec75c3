"""Speech engine benchmark: offline vs streaming WER, end-of-speech latency, RTF, and how many
concurrent real-time calls one process sustains.

    .venv/bin/python bench/asr.py                      # the full table (about 15 minutes on 2 cores)
    .venv/bin/python bench/asr.py --languages fr,en --max-calls 4
    .venv/bin/python bench/asr.py --languages fr --conditions pcm16k --clips 1 --max-calls 1   # a quick check
    RAFIQ_ASR_MODEL=/path/to/model .venv/bin/python bench/asr.py   # another faster-whisper model

Offline: each FLEURS clip decoded whole by the same engine (beam 5). Streaming: the clip played
at real-time pace through a real server's ingest WebSocket, as 16 kHz PCM and through 8 kHz
mu-law. Concurrency: N calls started together, each streaming a different clip in real time;
N is sustained while the engine keeps up (ASR busy time < wall time) and the p95 delay from
end of speech to final stays under 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import CONDITIONS, REPO, Credentials, bench_credentials, fleurs_clips, percentile, run_clip  # noqa: E402

from assistant.config import Settings  # noqa: E402
from assistant.launcher import ServerProcess  # noqa: E402
from speech.audio import MULAW_TO_FLOAT, TARGET_RATE, decode_file, float_to_mulaw  # noqa: E402
from speech.engine import DecodeOptions, DecodeRequest, WhisperRecognizer  # noqa: E402
from speech.evaluation import word_error_rate  # noqa: E402
from speech.models import load_whisper  # noqa: E402


def phone_line(audio: np.ndarray) -> np.ndarray:
    """16 kHz → 8 kHz mu-law → 16 kHz, as a call through the PSTN arrives."""
    narrow = soxr.resample(audio, TARGET_RATE, 8000)
    decoded = MULAW_TO_FLOAT[np.frombuffer(float_to_mulaw(narrow), dtype=np.uint8)]
    return soxr.resample(decoded, 8000, TARGET_RATE)


def offline_wer(clips: list[tuple[Path, str]]) -> dict[tuple[str, str], float]:
    settings = Settings.from_env()
    model, device = load_whisper(settings.asr_model, settings.model_cache, settings.asr_device,
                                 settings.asr_compute_type, settings.asr_threads)
    recognizer = WhisperRecognizer(model, DecodeOptions(beam_size=settings.asr_beam_size,
                                                        allowed_languages=settings.languages))
    print(f"offline decoding on {device.device}/{device.compute_type}", flush=True)
    scores: dict[tuple[str, str], list[float]] = {}
    for number, (clip, reference) in enumerate(clips, 1):
        audio = decode_file(clip)[0]
        language = clip.stem.split("-")[1]
        for condition, samples in (("pcm16k", audio), ("mulaw8k", phone_line(audio))):
            text = recognizer.recognize([DecodeRequest(samples)], settings.asr_beam_size)[0].text
            scores.setdefault((condition, language), []).append(word_error_rate(reference, text))
        print(f"[offline {number}/{len(clips)}] {clip.stem}", flush=True)
    return {key: statistics.mean(values) for key, values in scores.items()}


async def concurrency(base: str, creds: Credentials, clips: list[tuple[Path, str]], max_calls: int) -> list[dict]:
    levels = []
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=creds.headers) as http:
        for calls in range(1, max_calls + 1):
            chosen = [clips[i % len(clips)] for i in range(calls)]
            before = (await http.get("/v1/metrics")).json()
            started = time.monotonic()
            results = await asyncio.gather(*(run_clip(base, creds, clip, reference, "pcm_s16le", 16000)
                                             for clip, reference in chosen))
            wall = time.monotonic() - started
            after = (await http.get("/v1/metrics")).json()
            busy = after["asr_busy_seconds"] - before["asr_busy_seconds"]
            delays = [d for r in results for d in r["final"]]
            level = {"calls": calls, "p50": percentile(delays, 50), "p95": percentile(delays, 95),
                     "load": busy / wall, "wer": statistics.mean(r["wer"] for r in results)}
            level["sustained"] = level["load"] < 1.0 and level["p95"] < 2.0
            levels.append(level)
            print(f"[concurrency] {calls} calls: p95 {level['p95']:.2f} s, engine load {level['load']:.2f}, "
                  f"{'sustained' if level['sustained'] else 'NOT sustained'}", flush=True)
            if not level["sustained"]:
                break
    return levels


async def streaming(base: str, creds: Credentials, clips: list[tuple[Path, str]], conditions: list[str]) -> list[dict]:
    rows = []
    for condition in conditions:
        encoding, rate = CONDITIONS[condition]
        for number, (clip, reference) in enumerate(clips, 1):
            async with httpx.AsyncClient(base_url=base, timeout=60, headers=creds.headers) as http:
                before = (await http.get("/v1/metrics")).json()
                result = await run_clip(base, creds, clip, reference, encoding, rate)
                after = (await http.get("/v1/metrics")).json()
            result.update(condition=condition, language=clip.stem.split("-")[1],
                          asr_seconds=after["asr_busy_seconds"] - before["asr_busy_seconds"])
            rows.append(result)
            print(f"[streaming {condition} {number}/{len(clips)}] {clip.stem}: WER {result['wer']:.2f}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", default="fr,es,en,pt")
    parser.add_argument("--conditions", default="pcm16k,mulaw8k")
    parser.add_argument("--max-calls", type=int, default=8)
    parser.add_argument("--clips", type=int, default=None, help="the first N clips of each language (default all)")
    args = parser.parse_args()
    languages, conditions = args.languages.split(","), args.conditions.split(",")
    clips = fleurs_clips(languages, args.clips)
    offline = offline_wer(clips)
    with tempfile.TemporaryDirectory() as tmp:
        print("starting a Rafiq server…", flush=True)
        env = {"RAFIQ_SEED_KB": "0", "RAFIQ_LOG_LEVEL": "WARNING", "RAFIQ_MAX_CALLS": "0"}
        server = ServerProcess(Path(tmp), **env)
        with server as base:
            creds = bench_credentials(server)
            rows = asyncio.run(streaming(base, creds, clips, conditions))
            levels = asyncio.run(concurrency(base, creds, clips, args.max_calls))

    print(f"\nmodel: {os.environ.get('RAFIQ_ASR_MODEL', 'base')}, {os.cpu_count()} CPU cores, repo {REPO.name}")
    print(f"{'condition':<9} {'lang':<5} {'offline WER':>11} {'stream WER':>10} {'ratio':>6} "
          f"{'final p50':>9} {'final p95':>9} {'RTF':>6}")
    for condition in conditions:
        for lang in languages + ["all"]:
            subset = [r for r in rows if r["condition"] == condition and lang in ("all", r["language"])]
            if not subset:
                continue
            off = statistics.mean(offline[(condition, l)] for l in (languages if lang == "all" else [lang]))
            stream = statistics.mean(r["wer"] for r in subset)
            delays = [d for r in subset for d in r["final"]]
            rtf = sum(r["asr_seconds"] for r in subset) / sum(r["audio_seconds"] for r in subset)
            ratio = stream / off if off else float("nan")
            print(f"{condition:<9} {lang:<5} {off:>11.3f} {stream:>10.3f} {ratio:>6.2f} "
                  f"{percentile(delays, 50):>9.2f} {percentile(delays, 95):>9.2f} {rtf:>6.3f}")
    sustained = [lvl["calls"] for lvl in levels if lvl["sustained"]]
    print("\nconcurrent real-time calls (pcm16k):")
    for lvl in levels:
        print(f"  {lvl['calls']} calls: final p50 {lvl['p50']:.2f} s, p95 {lvl['p95']:.2f} s, engine load "
              f"{lvl['load']:.2f}, WER {lvl['wer']:.3f} -> {'sustained' if lvl['sustained'] else 'not sustained'}")
    print(f"largest sustained: {max(sustained) if sustained else 0} calls")


if __name__ == "__main__":
    main()
