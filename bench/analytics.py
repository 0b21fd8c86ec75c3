"""The supervisors' dashboard at scale: 100,000 realistic call records on PostgreSQL, then each
dashboard query and the call-history search timed (p50/p95; target p95 ≤ 200 ms each).

The calls go through the real stores: ``CallRecords``' tables (``calls``, ``call_events``: every
final transcript, suggestion, feedback, alert, compute and end event, written with COPY) and
``CallStats.insert_many`` (``call_stats``, ``call_suggestions``, ``call_alerts``, computed from
those events by the code the server runs at each call's end). The queries are those of
``analytics.dashboard.Dashboard``, as ``GET /v1/analytics/charts/{name}`` runs them.

    .venv/bin/python bench/analytics.py                       # 100,000 calls, a fresh database, dropped after
    .venv/bin/python bench/analytics.py --calls 20000 --repeat 20
    .venv/bin/python bench/analytics.py --keep                # keep the database (its URL is printed)
    .venv/bin/python bench/analytics.py --database-url postgresql+psycopg://u@h/db --no-generate

Distributions (seeded, ``--seed``): 90% of calls in tenant ``bench``, 10% in ``noise``; 40 agents
in 4 teams, 6 campaigns; start times over the last 90 days, weekdays busier, 8-20 UTC busiest;
durations log-normal (median 4 min, 20 s to 40 min); languages fr 35%, ar 25% (a third Darija),
es 15%, en 15%, pt 10%, 8% of calls switching language; a final every ~9 s, alternating speakers;
customer sentiment drifting per call; ~0.4 suggestions per customer utterance from 300 articles
(Zipf), the agent using 35%, editing 10%, dismissing 25%; 8% of calls with alerts from 6 rules;
ASR compute ≈ 0.35 × speech on a CPU at 65 W.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analytics.dashboard import Dashboard, Filters  # noqa: E402
from analytics.stats import CallStats  # noqa: E402
from assistant.records import CallRecords  # noqa: E402
sys.path.insert(0, str(REPO / "bench"))
import history as history_bench  # noqa: E402  (bench/history.py)

log = logging.getLogger("bench.analytics")

ADMIN_URL = os.environ.get("RAFIQ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TENANT, NOISE = "bench", "noise"
TEAMS = ["north", "south", "east", "west"]
AGENTS = [(f"agent{i:02d}", TEAMS[i % 4]) for i in range(40)]
CAMPAIGNS = ["cards", "loans", "insurance", "telecom", "travel", "energy"]
LANGUAGES = [("fr", 0.35), ("ar", 0.25), ("es", 0.15), ("en", 0.15), ("pt", 0.10)]
PHRASES = {
    "fr": ["je voudrais bloquer ma carte", "mon virement n'est pas arrivé", "je veux résilier mon contrat",
           "pouvez-vous vérifier mon identité", "merci pour votre aide", "c'est inadmissible, je vais voir un avocat"],
    "ar": ["بغيت نبلوكي الكارط ديالي", "التحويل ما وصلش", "أريد إلغاء العقد", "شكرا على المساعدة",
           "هذا غير مقبول سأقدم شكوى"],
    "es": ["quiero bloquear mi tarjeta", "mi transferencia no ha llegado", "quiero cancelar el contrato",
           "muchas gracias por su ayuda"],
    "en": ["I want to block my card", "my transfer has not arrived", "I would like to cancel my contract",
           "thanks for your help"],
    "pt": ["quero bloquear o meu cartão", "a minha transferência não chegou", "quero cancelar o contrato",
           "obrigado pela ajuda"],
}
ARTICLES = [(f"art-{i:03d}", f"Article {i}") for i in range(300)]
ARTICLE_WEIGHTS = [1.0 / (rank + 1) for rank in range(len(ARTICLES))]  # Zipf: a few articles answer most
RULES = [("r-legal", "phrase", "Avocat / plainte"), ("r-churn", "phrase", "Résiliation"),
         ("r-negative", "sentiment", "Client négatif 3 fois"), ("r-silence", "silence", "Silence > 30 s"),
         ("r-long", "duration", "Appel > 15 min"), ("r-overtalk", "overtalk", "L'agent coupe le client")]
WATTS = 65.0


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _start(rng: random.Random, now: datetime) -> datetime:
    while True:
        day = now - timedelta(days=rng.uniform(0, 90))
        if day.weekday() >= 5 and rng.random() < 0.6:
            continue  # weekends are quieter
        hour = min(23, max(0, int(rng.gauss(13, 3.5))))
        return day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60),
                           microsecond=rng.randrange(1000) * 1000)


def make_call(rng: random.Random, index: int, now: datetime) -> tuple[dict, list[dict]]:
    """One call record (as ``CallRecords`` holds it, datetimes for the times) and its events."""
    tenant = NOISE if rng.random() < 0.10 else TENANT
    agent, team = rng.choice(AGENTS)
    campaign = rng.choice(CAMPAIGNS)
    language = _pick(rng, LANGUAGES)
    started = _start(rng, now)
    duration = min(2400.0, max(20.0, rng.lognormvariate(5.48, 0.6)))  # median e^5.48 ≈ 240 s
    call_id = f"bench-{index:06d}-{uuid.UUID(int=rng.getrandbits(128)).hex[:8]}"
    call = {"call_id": call_id, "tenant": tenant, "status": "ended", "roles": ["customer", "agent"],
            "language": language, "started_at": started, "ended_at": started + timedelta(seconds=duration),
            "end_reason": "hangup", "agent": agent, "team": team, "campaign": campaign}
    events: list[dict] = [{"type": "call.started", "call_id": call_id, "tenant": tenant, "roles": call["roles"],
                           "language": language, "agent": agent, "started_at": started.isoformat()}]
    mood = rng.gauss(0.0, 0.8)  # the customer's mood, drifting over the call
    drift = rng.gauss(0.0, 0.15)
    second = rng.random() < 0.08 and rng.choice([lang for lang, _ in LANGUAGES if lang != language])
    t, n, speaker, speech = 1.0, 0, "customer", 0.0
    while t < duration - 3 and n < 60:
        length = min(duration - t, max(1.0, rng.gauss(5.5, 2.5)))
        spoken = second if second and n > 4 and rng.random() < 0.5 else language
        n += 1
        event = {"type": "transcript.final", "call_id": call_id, "segment_id": f"{speaker}-{n}", "speaker": speaker,
                 "language": spoken, "text": rng.choice(PHRASES[spoken]), "start": round(t, 3),
                 "end": round(t + length, 3), "confidence": round(rng.uniform(0.5, 0.95), 3),
                 "dialect": "darija" if spoken == "ar" and rng.random() < 0.33 else None}
        score = mood + rng.gauss(0, 0.5)
        label = "negative" if score < -0.4 else "positive" if score > 0.4 else "neutral"
        event["sentiment"] = {"label": label, "score": round(min(0.99, 0.5 + abs(score) / 3), 3)}
        events.append(event)
        speech += length
        if speaker == "customer" and rng.random() < 0.4:
            suggestion_id = uuid.UUID(int=rng.getrandbits(128)).hex[:12]
            article_id, title = rng.choices(ARTICLES, ARTICLE_WEIGHTS)[0]
            events.append({"type": "suggestion", "call_id": call_id, "suggestion_id": suggestion_id,
                           "for_segment_id": event["segment_id"], "language": spoken, "text": "…",
                           "sources": [{"article_id": article_id, "title": title, "score": 0.6, "language": spoken}]})
            roll = rng.random()
            action = "used" if roll < 0.35 else "edited" if roll < 0.45 else "dismissed" if roll < 0.70 else None
            if action:
                events.append({"type": "suggestion.feedback", "call_id": call_id, "suggestion_id": suggestion_id,
                               "action": action, "text": None})
        t += length + max(0.2, rng.gauss(2.0, 1.5))  # the pause before the other side answers
        speaker = "agent" if speaker == "customer" else "customer"
        mood += drift
    if rng.random() < 0.08:
        for k in range(rng.choice([1, 1, 2])):
            rule_id, kind, title = rng.choice(RULES)
            alert_id = f"{call_id}-a{k}"
            events.append({"type": "alert", "call_id": call_id, "alert_id": alert_id, "rule_id": rule_id,
                           "kind": kind, "title": title})
            if rng.random() < 0.7:
                events.append({"type": "alert.ack", "call_id": call_id, "alert_id": alert_id, "by": "supervisor"})
    asr = speech * rng.uniform(0.25, 0.45)
    encoder = asr * 0.8
    events.append({"type": "call.compute", "call_id": call_id, "device": "cpu", "watts": WATTS,
                   "asr_encoder_s": round(encoder, 4), "asr_decoder_s": round(asr - encoder, 4), "asr_s": round(asr, 4),
                   "asr_audio_s": round(speech * 1.6, 3), "asr_decodes": n * 3,
                   "energy_wh": round(asr * WATTS / 3600, 6)})
    events.append({"type": "call.ended", "call_id": call_id, "ended_at": call["ended_at"].isoformat(),
                   "reason": "hangup", "dropped_segments": {}})
    for seq, event in enumerate(events, start=1):
        event["seq"] = seq
    return call, events


def generate(engine: sa.Engine, calls: int, seed: int, chunk: int = 2000) -> None:
    """Write ``calls`` calls: ``calls`` and ``call_events`` with COPY, the stats rows through
    ``CallStats.insert_many``. Logs progress."""
    CallRecords(engine)
    stats = CallStats(engine)
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    began, written, events_written = time.perf_counter(), 0, 0
    while written < calls:
        batch = [make_call(rng, written + i, now) for i in range(min(chunk, calls - written))]
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur:
                with cur.copy("COPY calls (call_id, tenant, status, roles, language, started_at, ended_at, end_reason,"
                              " agent, team, campaign) FROM STDIN") as copy:
                    for call, _ in batch:
                        copy.write_row((call["call_id"], call["tenant"], call["status"], json.dumps(call["roles"]),
                                        call["language"], call["started_at"], call["ended_at"], call["end_reason"],
                                        call["agent"], call["team"], call["campaign"]))
                with cur.copy("COPY call_events (call_id, seq, type, payload) FROM STDIN") as copy:
                    for call, events in batch:
                        for event in events:
                            copy.write_row((call["call_id"], event["seq"], event["type"],
                                            json.dumps(event, ensure_ascii=False)))
                            events_written += 1
            raw.commit()
        finally:
            raw.close()
        stats.insert_many(batch)
        written += len(batch)
        if written % (chunk * 5) == 0 or written == calls:
            elapsed = time.perf_counter() - began
            log.info("generated %d/%d calls (%d events) in %.0f s", written, calls, events_written, elapsed)
    vacuum(engine)


def vacuum(engine: sa.Engine) -> None:
    """What autovacuum does to tables that have settled: statistics for the planner, and the
    visibility map that lets the dashboard's scans read their indexes alone."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(engine: sa.Engine, repeat: int) -> list[tuple[str, float, float, float]]:
    """(query, p50 ms, p95 ms, p95 ms on the heaviest view) for each chart.

    Each query runs ``repeat`` times on each of four views of tenant ``bench``: the last 30 days,
    the last 90 days (the heaviest: every call), 30 days of one team, 30 days of one campaign."""
    now = datetime.now(timezone.utc)
    views = [Filters(TENANT, now - timedelta(days=30), now), Filters(TENANT, now - timedelta(days=90), now),
             Filters(TENANT, now - timedelta(days=30), now, team="north"),
             Filters(TENANT, now - timedelta(days=30), now, campaign="loans")]
    board = Dashboard(engine, gaps_opened=lambda tenant, start, end, campaign: [])
    queries = {name: (lambda f, name=name: board.chart(name, f)) for name in board.charts if name != "knowledge_gaps"}
    results = []
    for name, run in queries.items():
        run(views[0])  # warm the plan cache and the buffers once
        samples, heaviest = [], []
        for _ in range(repeat):
            for i, view in enumerate(views):
                began = time.perf_counter()
                run(view)
                elapsed = (time.perf_counter() - began) * 1000
                samples.append(elapsed)
                if i == 1:
                    heaviest.append(elapsed)
        results.append((name, statistics.median(samples), _percentile(samples, 0.95), _percentile(heaviest, 0.95)))
        log.info("%s: p50 %.1f ms, p95 %.1f ms", name, results[-1][1], results[-1][2])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=25, help="runs of each query on each of the 4 views")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--database-url", default="", help="an existing database (default: a fresh one, dropped after)")
    parser.add_argument("--no-generate", action="store_true", help="time the queries on the database as it is")
    parser.add_argument("--keep", action="store_true", help="keep the fresh database")
    parser.add_argument("--no-history", action="store_true",
                        help="skip the call-history search benchmark (bench/history.py, its own 100,000 calls)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    # The stores' own logs stay quiet: this prints progress and figures only.
    fresh = None
    url = args.database_url
    if not url:
        fresh = f"rafiq_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{fresh}"'))
        url = sa.make_url(ADMIN_URL).set(database=fresh).render_as_string(hide_password=False)
        log.info("fresh database %s", url)
    engine = sa.create_engine(url)
    try:
        if not args.no_generate:
            began = time.perf_counter()
            generate(engine, args.calls, args.seed)
            log.info("generation took %.0f s", time.perf_counter() - began)
        else:
            CallStats(engine)  # the indexes of this version of the stores
            vacuum(engine)
        with engine.connect() as conn:
            counts = {table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                      for table in ("calls", "call_events", "call_stats", "call_suggestions", "call_alerts")}
        results = measure(engine, args.repeat)
        load = os.getloadavg()
        print(f"\nDashboard queries on PostgreSQL: {counts}")
        print(f"load average during the run: {load[0]:.1f} (1 min), {os.cpu_count()} CPUs")
        print(f"{'query':24} {'p50 ms':>8} {'p95 ms':>8} {'p95 ms, 90 days':>16}")
        for name, p50, p95, heavy in results:
            print(f"{name:24} {p50:8.1f} {p95:8.1f} {heavy:16.1f}" + ("" if p95 <= 200 else "   (over 200 ms)"))
    finally:
        engine.dispose()
        if fresh and not args.keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)'))
            admin.dispose()
    if not args.no_history:
        # The history search (full text over transcripts + filters) on its own 100,000 calls.
        print("\nCall-history search (bench/history.py):")
        history_bench.run(ADMIN_URL, args.calls)


if __name__ == "__main__":
    main()
