"""Latency of the live path on real speech: end of speech → transcript.final → suggestion.

Streams FLEURS clips at real-time pace through the native ingest WebSocket of a real server
(16 kHz PCM as is, and passed through 8 kHz mu-law like a phone line), with one knowledge
base article per clip so that each clip earns a suggestion. Prints p50/p95 of both delays,
WER of the finals, and the ASR real-time factor.

    .venv/bin/python bench/latency.py                 # all 20 clips, both conditions
    .venv/bin/python bench/latency.py --languages fr,es --conditions pcm16k
    .venv/bin/python bench/latency.py --languages fr --conditions pcm16k --clips 1   # a quick check
    .venv/bin/python bench/latency.py --set RAFIQ_SPECULATIVE_SUGGESTIONS=0          # an attempt's setting
    .venv/bin/python bench/latency.py --url http://127.0.0.1:8000 --token T --ingest-key K  # a running server

The server it starts gets a user ``bench`` (trainer and supervisor: it writes the articles, reads the
events and the metrics) and an ingest API key, both in tenant ``bench``. On a running server, give
such a user's token (``rafiq users add bench --roles trainer,supervisor --tenant bench``, then
POST /v1/auth/token) and an ingest key of the same tenant (``rafiq apikeys create --tenant bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import websockets
from faster_whisper.vad import VadOptions, get_speech_timestamps

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assistant.launcher import ServerProcess  # noqa: E402
from assistant.simulate import stream_audio  # noqa: E402
from speech.audio import TARGET_RATE, decode_file  # noqa: E402
from speech.evaluation import word_error_rate  # noqa: E402

FLEURS = Path(os.environ.get("RAFIQ_SHARED_DATA", REPO.parent / "shared" / "data")) / "speech" / "fleurs"
CONDITIONS = {"pcm16k": ("pcm_s16le", 16000), "mulaw8k": ("pcm_mulaw", 8000)}


@dataclass(frozen=True)
class Credentials:
    """What the bench signs in with: ``token`` of a user with the trainer and supervisor roles (no
    team), ``ingest_key`` an ingest API key of the same tenant."""

    token: str
    ingest_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def bench_credentials(server: ServerProcess, tenant: str = "bench") -> Credentials:
    """A user ``bench`` and an ingest key in ``tenant`` of a server this bench started."""
    accounts = server.accounts()
    try:
        password = secrets.token_urlsafe(16)
        accounts.add_user("bench", password, ["trainer", "supervisor"], tenant, display_name="Benchmark")
        key, _ = accounts.create_api_key(tenant, "bench")
    finally:
        accounts.engine.dispose()
    return Credentials(token=server.token("bench", password), ingest_key=key)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def speech_ends(audio: np.ndarray) -> list[float]:
    """Where speech really stops in the clip (offline Silero VAD, no padding)."""
    spans = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=300, speech_pad_ms=0))
    return [span["end"] / TARGET_RATE for span in spans]


async def run_clip(base: str, creds: Credentials, clip: Path, reference: str, encoding: str,
                   sample_rate: int) -> dict:
    ws_base = "ws" + base[4:]
    call_id = f"bench-{clip.stem}-{uuid.uuid4().hex[:6]}"
    audio = decode_file(clip)
    ends = speech_ends(audio[0])
    sent_at: list[tuple[float, float]] = []  # (audio seconds sent, wall time)
    events: list[tuple[float, dict]] = []

    def on_frame(seconds: float) -> None:
        sent_at.append((seconds, time.monotonic()))

    async def follow() -> None:
        for _ in range(100):
            try:
                async with websockets.connect(f"{ws_base}/v1/calls/{call_id}/events",
                                              additional_headers=creds.headers) as ws:
                    async for message in ws:
                        event = json.loads(message)
                        if event["type"] == "error":
                            raise RuntimeError(event)
                        events.append((time.monotonic(), event))
                        if event["type"] == "call.ended":
                            return
            except RuntimeError:
                await asyncio.sleep(0.05)  # the call does not exist until the stream starts

    follower = asyncio.ensure_future(follow())
    await stream_audio(audio, f"{ws_base}/v1/calls/{call_id}/audio", roles=["customer"], speed=1.0,
                       encoding=encoding, sample_rate=sample_rate, on_frame=on_frame, api_key=creds.ingest_key)
    await asyncio.wait_for(follower, 120)

    def wall_time_of(audio_seconds: float) -> float:
        for seconds, wall in sent_at:
            if seconds >= audio_seconds:
                return wall
        return sent_at[-1][1]

    finals = [(t, e) for t, e in events if e["type"] == "transcript.final"]
    first: dict[str, float] = {}  # segment → when its first suggestion (provisional or not) arrived
    confirmed: dict[str, float] = {}  # segment → when its suggestion with provisional false arrived
    articles: dict[str, list[tuple[bool, str]]] = {}  # segment → (provisional, best article) in order
    for received, event in events:
        if event["type"] != "suggestion":
            continue
        segment = event["for_segment_id"]
        first.setdefault(segment, received)
        if not event.get("provisional"):
            confirmed.setdefault(segment, received)
        articles.setdefault(segment, []).append((bool(event.get("provisional")), event["sources"][0]["article_id"]))
    retracted = sum(1 for _, e in events if e["type"] == "suggestion.retracted")
    final_delays, first_delays, confirmed_delays = [], [], []
    for received, event in finals:
        inside = [end for end in ends if event["start"] <= end <= event["end"] + 0.05]
        if not inside:
            continue
        spoken_end = wall_time_of(max(inside))
        final_delays.append(received - spoken_end)
        if event["segment_id"] in first:
            first_delays.append(first[event["segment_id"]] - spoken_end)
        if event["segment_id"] in confirmed:
            confirmed_delays.append(confirmed[event["segment_id"]] - spoken_end)
    # Provisional answers the final kept (same article) and those it changed or withdrew.
    kept = sum(1 for seq in articles.values() if seq[0][0] and seq[-1] == (False, seq[0][1]))
    changed = sum(1 for seq in articles.values() if seq[0][0]) - kept
    hypothesis = " ".join(e["text"] for _, e in finals)
    return {"wer": word_error_rate(reference, hypothesis), "final": final_delays, "suggestion": confirmed_delays,
            "first": first_delays, "provisional_kept": kept, "provisional_changed": changed, "retracted": retracted,
            "audio_seconds": audio.shape[1] / TARGET_RATE, "hypothesis": hypothesis,
            "suggested": bool(confirmed)}


def fleurs_clips(languages: list[str], per_language: int | None = None) -> list[tuple[Path, str]]:
    """(clip, reference) of each language, the first ``per_language`` of each (default all)."""
    return [(p, p.with_suffix(".txt").read_text(encoding="utf-8").strip())
            for lang in languages for p in sorted(FLEURS.glob(f"fleurs-{lang}-*.ogg"))[:per_language]]


async def bench(base: str, creds: Credentials, languages: list[str], conditions: list[str],
                per_language: int | None = None) -> None:
    clips = fleurs_clips(languages, per_language)
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=creds.headers) as http:
        for clip, reference in clips:  # an article that answers each clip, so each earns a suggestion
            lang = clip.stem.split("-")[1]
            response = await http.post("/v1/kb/articles", json={
                "title": reference[:60], "body": reference, "language": lang, "publish": True})
            response.raise_for_status()
        rows = []
        for condition in conditions:
            encoding, rate = CONDITIONS[condition]
            for number, (clip, reference) in enumerate(clips, 1):
                before = (await http.get("/v1/metrics")).json()
                result = await run_clip(base, creds, clip, reference, encoding, rate)
                after = (await http.get("/v1/metrics")).json()
                result["asr_seconds"] = after["asr_busy_seconds"] - before["asr_busy_seconds"]
                result.update(condition=condition, language=clip.stem.split("-")[1], clip=clip.stem)
                rows.append(result)
                print(f"[{condition} {number}/{len(clips)}] {clip.stem}: WER {result['wer']:.2f}, "
                      f"final {', '.join(f'{d:.2f}' for d in result['final'])} s, "
                      f"first suggestion {', '.join(f'{d:.2f}' for d in result['first'])} s, "
                      f"confirmed {', '.join(f'{d:.2f}' for d in result['suggestion'])} s", flush=True)
    print()
    print(f"{'condition':<9} {'lang':<5} {'clips':>5} {'WER':>6} {'final p50':>10} {'final p95':>10} "
          f"{'first p50':>10} {'first p95':>10} {'conf p50':>9} {'conf p95':>9} {'prov ok/chg':>11} {'RTF':>6}")
    groups = [(c, l) for c in conditions for l in languages] + [(c, "all") for c in conditions]
    for condition, lang in groups:
        subset = [r for r in rows if r["condition"] == condition and lang in ("all", r["language"])]
        if not subset:
            continue
        finals = [d for r in subset for d in r["final"]]
        suggestions = [d for r in subset for d in r["suggestion"]]
        first = [d for r in subset for d in r["first"]]
        provisional = f"{sum(r['provisional_kept'] for r in subset)}/{sum(r['provisional_changed'] for r in subset)}"
        rtf = sum(r["asr_seconds"] for r in subset) / sum(r["audio_seconds"] for r in subset)
        print(f"{condition:<9} {lang:<5} {len(subset):>5} {statistics.mean(r['wer'] for r in subset):>6.3f} "
              f"{percentile(finals, 50):>10.2f} {percentile(finals, 95):>10.2f} "
              f"{percentile(first, 50):>10.2f} {percentile(first, 95):>10.2f} "
              f"{percentile(suggestions, 50):>9.2f} {percentile(suggestions, 95):>9.2f} {provisional:>11} {rtf:>6.3f}")
    print("\nWER: mean per clip against the FLEURS reference (normalised). Delays in seconds from the "
          "end of speech (offline VAD) to the event's arrival at a subscriber (negative: before the "
          "customer stopped). first: the segment's first suggestion, provisional or not; conf: its "
          "confirmed one (provisional false). prov ok/chg: provisional suggestions the final kept / "
          "changed or withdrew. RTF: ASR compute seconds (partials and finals) per second of call audio.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--languages", default="fr,es,en,pt")
    parser.add_argument("--conditions", default="pcm16k,mulaw8k")
    parser.add_argument("--clips", type=int, default=None, help="the first N clips of each language (default all)")
    parser.add_argument("--token", default=os.environ.get("RAFIQ_TOKEN", ""),
                        help="with --url: a trainer+supervisor user's access token (default RAFIQ_TOKEN)")
    parser.add_argument("--set", action="append", default=[], metavar="RAFIQ_X=VALUE",
                        help="a setting of the server this bench starts (repeatable), e.g. "
                             "RAFIQ_SPECULATIVE_SUGGESTIONS=0 or RAFIQ_ASR_PARTIAL_PAD_S=1")
    parser.add_argument("--ingest-key", default=os.environ.get("RAFIQ_INGEST_KEY", ""),
                        help="with --url: an ingest API key of that user's tenant (default RAFIQ_INGEST_KEY)")
    args = parser.parse_args()
    languages = args.languages.split(",")
    conditions = args.conditions.split(",")
    if args.url:
        if not (args.token and args.ingest_key):
            parser.error("--url needs --token and --ingest-key (or RAFIQ_TOKEN and RAFIQ_INGEST_KEY)")
        creds = Credentials(token=args.token, ingest_key=args.ingest_key)
        asyncio.run(bench(args.url.rstrip("/"), creds, languages, conditions, args.clips))
        return
    with tempfile.TemporaryDirectory() as tmp:
        print("starting a Rafiq server…", flush=True)
        settings = dict(item.split("=", 1) for item in args.set)
        if settings:
            print(f"server settings: {settings}", flush=True)
        server = ServerProcess(Path(tmp), RAFIQ_SEED_KB="0", RAFIQ_LOG_LEVEL="WARNING", **settings)
        with server as base:
            asyncio.run(bench(base, bench_credentials(server), languages, conditions, args.clips))


if __name__ == "__main__":
    main()
