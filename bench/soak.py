"""Soak test of a two-node cluster: N simulated calls at real-time pace for a while, each call's
audio sent to one node and followed on the other, FLEURS clips one after another.

Prints, per call slot, the p95 of end of speech → final as the follower on the *other* node saw
it; how many call slots were sustained (p95 ≤ 2 s); errors (refusals, error events, broken
sockets: must be 0); each node's resident memory after warm-up (every clip once through both
nodes) and at the end (growth must stay under 10 %), and each minute in between.

    .venv/bin/python bench/soak.py --calls 2 --minutes 10
    .venv/bin/python bench/soak.py --calls 4 --minutes 3 --redis-url redis://127.0.0.1:6379/9

It starts both nodes itself (``rafiq serve`` processes sharing a fresh PostgreSQL database and a
Redis database, which it empties), so the figures are the cluster's, transport included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import websockets

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from latency import bench_credentials, fleurs_clips, percentile, speech_ends  # noqa: E402

from assistant.launcher import ServerProcess  # noqa: E402
from assistant.simulate import stream_audio  # noqa: E402
from speech.audio import decode_file  # noqa: E402

TARGET_S = 2.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def one_call(ingest_base: str, follow_base: str, creds, audio: np.ndarray, ends: list[float]) -> dict:
    call_id = f"soak-{uuid.uuid4().hex[:10]}"
    sent_at: list[tuple[float, float]] = []
    events: list[tuple[float, dict]] = []
    errors: list[str] = []

    async def follow() -> None:
        for _ in range(200):
            async with websockets.connect(f"{follow_base}/v1/calls/{call_id}/events",
                                          additional_headers=creds.headers) as ws:
                async for message in ws:
                    event = json.loads(message)
                    if event["type"] == "error":
                        break  # not started yet: ask again
                    events.append((time.monotonic(), event))
                    if event["type"] == "call.ended":
                        return
            await asyncio.sleep(0.05)
        errors.append("follow: the call never started")

    follower = asyncio.ensure_future(follow())
    try:
        result = await stream_audio(audio, f"{ingest_base}/v1/calls/{call_id}/audio", roles=["customer"], speed=1.0,
                                    on_frame=lambda s: sent_at.append((s, time.monotonic())),
                                    api_key=creds.ingest_key)
        errors.extend(f"ingest: {e}" for e in (result.get("errors") or []))
        await asyncio.wait_for(follower, 120)
    except Exception as exc:  # a broken socket, a timeout: an error of the run
        errors.append(f"{type(exc).__name__}: {exc}")
        follower.cancel()

    def wall_time_of(audio_seconds: float) -> float:
        return next((wall for seconds, wall in sent_at if seconds >= audio_seconds), sent_at[-1][1])

    delays = []
    for received, event in events:
        if event["type"] != "transcript.final":
            continue
        inside = [end for end in ends if event["start"] <= end <= event["end"] + 0.05]
        if inside and sent_at:
            delays.append(received - wall_time_of(max(inside)))
    seqs = [e["seq"] for _, e in events]
    if seqs != sorted(set(seqs)):
        errors.append("events out of order or repeated")
    return {"delays": delays, "errors": errors}


async def slot(index: int, nodes: list[ServerProcess], creds, clips, deadline: float) -> dict:
    ingest, follow = nodes[index % 2], nodes[(index + 1) % 2]
    delays, errors, calls = [], [], 0
    position = index
    while time.monotonic() < deadline:
        audio, ends = clips[position % len(clips)]
        position += 1
        result = await one_call("ws" + ingest.base_url[4:], "ws" + follow.base_url[4:], creds, audio, ends)
        delays += result["delays"]
        errors += result["errors"]
        calls += 1
    return {"slot": index, "calls": calls, "delays": delays, "errors": errors}


async def soak(nodes: list[ServerProcess], creds, calls: int, minutes: float, languages: list[str]) -> int:
    clips = []
    for path, _ in fleurs_clips(languages):
        audio = decode_file(path)[:1]
        clips.append((audio, speech_ends(audio[0])))
    # Warm-up: every clip once, through both nodes, as many at a time as the run: memory at start
    # counts the loaded models and what the native libraries keep per input shape and per thread.
    async def warm(first: int) -> None:
        for i in range(first, len(clips), calls):
            await one_call("ws" + nodes[i % 2].base_url[4:], "ws" + nodes[1 - i % 2].base_url[4:], creds, *clips[i])
    await asyncio.gather(*(warm(k) for k in range(min(calls, len(clips)))))
    start_mem = [rss_mib(n.proc.pid) for n in nodes]
    deadline = time.monotonic() + minutes * 60
    began = time.monotonic()
    timeline: list[tuple[float, list[float]]] = []

    async def sample_memory() -> None:
        while True:
            await asyncio.sleep(60)
            timeline.append(((time.monotonic() - began) / 60, [rss_mib(n.proc.pid) for n in nodes]))

    sampler = asyncio.ensure_future(sample_memory())
    results = await asyncio.gather(*(slot(i, nodes, creds, clips, deadline) for i in range(calls)))
    sampler.cancel()
    end_mem = [rss_mib(n.proc.pid) for n in nodes]
    elapsed = time.monotonic() - began

    print(f"soak: {calls} concurrent calls, {elapsed / 60:.1f} min, {len(clips)} FLEURS clips ({', '.join(languages)}),"
          f" audio to one node, followed on the other; CPU cores here: {os.cpu_count()}")
    sustained = 0
    all_errors = []
    for r in results:
        p95 = percentile(r["delays"], 95)
        ok = r["delays"] and p95 <= TARGET_S and not r["errors"]
        sustained += bool(ok)
        all_errors += r["errors"]
        print(f"  slot {r['slot']}: {r['calls']} calls, {len(r['delays'])} finals, end of speech → final "
              f"p50 {percentile(r['delays'], 50):.2f} s p95 {p95:.2f} s, errors {len(r['errors'])}"
              f" {'sustained' if ok else 'NOT sustained'}")
    every = [d for r in results for d in r["delays"]]
    print(f"calls sustained at p95 end of speech → final ≤ {TARGET_S:g} s: {sustained} of {calls}"
          f" (all finals: p50 {percentile(every, 50):.2f} s, p95 {percentile(every, 95):.2f} s, n={len(every)})")
    print(f"errors: {len(all_errors)}" + (f" — {all_errors[:5]}" if all_errors else ""))
    for name, before, after in zip("ab", start_mem, end_mem):
        print(f"node {name} memory (RSS): {before:.0f} MiB after warm-up, {after:.0f} MiB at the end"
              f" ({(after - before) / before * 100:+.1f} %)")
    print("memory each minute (MiB, nodes a / b): " + ", ".join(
        f"{minute:.0f}: {a:.0f}/{b:.0f}" for minute, (a, b) in timeline))
    return 0 if not all_errors else 1


def fresh_database(admin_url: str) -> tuple[str, callable]:
    import sqlalchemy as sa
    name = f"rafiq_soak_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2, help="concurrent calls across the two nodes")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--languages", default="fr,es,en,ar,pt")
    parser.add_argument("--postgres-admin-url", default=os.environ.get(
        "RAFIQ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=os.environ.get("RAFIQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
                        .rsplit("/", 1)[0] + "/14", help="a Redis database this run may empty")
    args = parser.parse_args()

    import redis
    redis.Redis.from_url(args.redis_url).flushdb()
    database_url, drop = fresh_database(args.postgres_admin_url)
    env = {"RAFIQ_DATABASE_URL": database_url, "RAFIQ_REDIS_URL": args.redis_url, "RAFIQ_MAX_CALLS": "0",
           "RAFIQ_LOG_LEVEL": "WARNING"}
    nodes = []
    try:
        with tempfile.TemporaryDirectory(prefix="rafiq-soak-") as tmp:
            for name in "ab":  # one after the other: the first seeds the knowledge base
                node = ServerProcess(Path(tmp) / name, RAFIQ_NODE_ID=f"soak-{name}", **env)
                node.start()
                nodes.append(node)
            creds = bench_credentials(nodes[0])
            code = asyncio.run(soak(nodes, creds, args.calls, args.minutes, args.languages.split(",")))
    finally:
        for node in nodes:
            node.stop()
        drop()
    sys.exit(code)


if __name__ == "__main__":
    main()
