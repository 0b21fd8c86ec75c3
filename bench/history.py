"""Call-history search benchmark: p50 / p95 of typical supervisor searches on 100,000 calls in
PostgreSQL, through the same stores and query code as ``GET /v1/calls``.

    .venv/bin/python bench/history.py [--calls 100000] [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                                      [--repeats 40] [--keep]

A fresh database is created (and dropped unless ``--keep``). The calls belong to one tenant (the
worst case: every search scans one tenant's index), 40 agents in 4 teams, 6 campaigns, spread
over 180 days, 6-20 utterances each. Utterances are real short texts in the five languages (the
shared sentiment corpus's train split, tweets: a proxy for what customers say), with call-centre
phrases mixed in for a third of the calls (facture, résilier, الفاتورة, tarjeta, …). Each call gets
its ``call_stats`` row from ``analytics.stats.compute_stats`` over its generated events (customer
sentiment labels from the corpus's labels, suggestions and feedback, alerts), its search row from
``CallHistory.index_many`` and a summary row with a wrap-up code.

The searched words are drawn at random (seeded) from the corpus vocabulary and the phrase list:
nothing here was tuned on the queries. ``run(url, calls, repeats)`` returns
the figures (for ``bench/analytics.py``).
"""

from __future__ import annotations

import argparse
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

from analytics.history import CallHistory, Filters, Scope  # noqa: E402
from analytics.search_text import normalise  # noqa: E402
from analytics.stats import CallStats, call_stats_table, compute_stats  # noqa: E402
from analytics.summary import CallSummaries, call_summaries_table  # noqa: E402
from assistant.records import CallRecords, calls_table  # noqa: E402

SENTIMENT = Path(os.environ.get("RAFIQ_SHARED_DATA", REPO.parent / "shared" / "data")) / "text" / "sentiment"
FILES = {"fr": "french", "ar": "arabic", "es": "spanish", "en": "english", "pt": "portuguese"}
LANGUAGE_MIX = [("fr", 0.40), ("ar", 0.25), ("es", 0.12), ("en", 0.13), ("pt", 0.10)]
PHRASES = {
    "fr": ["ma facture est trop élevée", "je veux résilier mon abonnement", "je n'ai plus internet",
           "j'ai perdu ma carte bancaire", "je veux faire une réclamation", "changer de forfait"],
    "ar": ["الفاتورة مرتفعة جدا", "أريد إلغاء الاشتراك", "الإنترنت لا يعمل", "فقدت بطاقتي", "أريد تقديم شكوى"],
    "es": ["mi factura es muy alta", "quiero dar de baja", "no tengo internet", "perdí mi tarjeta"],
    "en": ["my bill is too high", "i want to cancel", "my internet is down", "i lost my card"],
    "pt": ["a minha fatura está alta", "quero cancelar", "perdi o meu cartão"],
}
CODES = ["billing", "technical_issue", "cancellation", "complaint", "card_or_payment", "account_change",
         "information", "other"]
LABELS = {"0": "negative", "1": "neutral", "2": "positive"}
TENANT = "bench"


def corpus() -> dict[str, list[tuple[str, str]]]:
    out = {}
    for code, name in FILES.items():
        texts = (SENTIMENT / f"{name}.train_text.txt").read_text(encoding="utf-8").splitlines()
        labels = (SENTIMENT / f"{name}.train_labels.txt").read_text(encoding="utf-8").splitlines()
        out[code] = [(" ".join(w for w in t.split() if not w.startswith(("@", "http"))), LABELS.get(l.strip(), "neutral"))
                     for t, l in zip(texts, labels)]
    return out


def generate(n: int, seed: int = 7):
    rng = random.Random(seed)
    texts = corpus()
    now = datetime.now(timezone.utc)
    agents = [(f"agent{i:02d}", f"team{i % 4}") for i in range(40)]
    campaigns = ["telecom", "banking", "energy", "retail", "travel", "insurance"]
    languages, weights = zip(*LANGUAGE_MIX)
    for i in range(n):
        language = rng.choices(languages, weights)[0]
        agent, team = rng.choice(agents)
        started = now - timedelta(seconds=rng.uniform(0, 180 * 86400))
        duration = rng.uniform(40, 900)
        call_id = f"bench-{i:06d}-{uuid.uuid4().hex[:6]}"
        events, t = [], 0.0
        for k in range(rng.randint(6, 20)):
            speaker = "customer" if k % 2 == 0 else "agent"
            text, label = rng.choice(texts[language])
            if speaker == "customer" and k == 0 and rng.random() < 0.33:
                text = rng.choice(PHRASES[language]) + " " + text
            span = rng.uniform(1.5, 9.0)
            final = {"type": "transcript.final", "speaker": speaker, "language": language, "text": text,
                     "start": t, "end": t + span, "segment_id": f"{speaker}-{k}"}
            if speaker == "customer":
                final["sentiment"] = {"label": label, "score": round(rng.uniform(0.5, 1.0), 3)}
            events.append(final)
            t += span + rng.uniform(0.2, 3.0)
        for s in range(rng.randint(0, 4)):
            events.append({"type": "suggestion", "suggestion_id": f"s{s}"})
            if rng.random() < 0.4:
                events.append({"type": "suggestion.feedback", "suggestion_id": f"s{s}",
                               "action": rng.choice(["used", "used", "edited", "dismissed"])})
        if rng.random() < 0.08:
            events.append({"type": "alert", "alert_id": "a1"})
        call = {"call_id": call_id, "tenant": TENANT, "status": "ended", "roles": ["customer", "agent"],
                "language": language, "started_at": started, "ended_at": started + timedelta(seconds=duration),
                "end_reason": "stop", "agent": agent, "team": team, "campaign": rng.choice(campaigns)}
        yield call, events, rng.choice(CODES)


def load(engine: sa.Engine, n: int, batch: int = 2000) -> float:
    CallRecords(engine), CallStats(engine), CallSummaries(engine)
    history = CallHistory(engine, calls_table)
    with engine.begin() as conn:  # a bulk load builds the text index once, at the end
        conn.execute(sa.text("DROP INDEX IF EXISTS ix_call_search_tsv"))
    began = time.perf_counter()
    calls, stats, search, summaries = [], [], [], []

    def flush():
        with engine.begin() as conn:
            conn.execute(calls_table.insert(), calls)
            conn.execute(call_stats_table.insert(), stats)
            conn.execute(call_summaries_table.insert(), summaries)
        history.index_many(search)
        for rows in (calls, stats, search, summaries):
            rows.clear()

    for i, (call, events, code) in enumerate(generate(n)):
        calls.append(call)
        stats.append(compute_stats(call, events))
        search.append({"call_id": call["call_id"], "tenant": TENANT, "started_at": call["started_at"],
                       "texts": [e["text"] for e in events if e["type"] == "transcript.final"]})
        summaries.append({"call_id": call["call_id"], "tenant": TENANT, "language": call["language"],
                          "summary": "…", "detail": {}, "wrap_up_suggested": code, "wrap_up_score": 0.5})
        if len(calls) >= batch:
            flush()
            print(f"  {i + 1} calls", end="\r", flush=True)
    if calls:
        flush()
    CallHistory(engine, calls_table)  # creates the GIN index
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
    return time.perf_counter() - began


def vocabulary(rng: random.Random) -> dict[str, list[str]]:
    """Words a supervisor would type: 4+ letters, seen in at least 0.1% of the corpus lines."""
    words: dict[str, list[str]] = {}
    for language, lines in corpus().items():
        counts: dict[str, int] = {}
        for text, _ in lines:
            for w in set(normalise(text).split()):
                if len(w) >= 4 and not w.isdigit():
                    counts[w] = counts.get(w, 0) + 1
        words[language] = [w for w, c in counts.items() if c >= 2]
    return words


def queries(rng: random.Random, vocab: dict[str, list[str]]):
    now = datetime.now(timezone.utc)
    phrase = lambda lang: rng.choice(PHRASES[lang]).split()[-1]  # noqa: E731
    yield "q fr (corpus word)", Scope(TENANT), Filters(q=rng.choice(vocab["fr"]))
    yield "q ar (corpus word)", Scope(TENANT), Filters(q=rng.choice(vocab["ar"]))
    yield "q fr phrase word", Scope(TENANT), Filters(q=phrase("fr"))
    yield "q ar phrase word", Scope(TENANT), Filters(q=phrase("ar"))
    yield "q two words fr", Scope(TENANT), Filters(q=" ".join(rng.sample(vocab["fr"], 2)))
    yield "q fr + language + last 30 days", Scope(TENANT), Filters(q=phrase("fr"), language="fr",
                                                                   since=now - timedelta(days=30))
    yield "q ar + team supervisor", Scope(TENANT, team=f"team{rng.randrange(4)}"), Filters(q=phrase("ar"))
    yield "q + agent (agent's own)", Scope(TENANT, agent=f"agent{rng.randrange(40):02d}"), Filters(q=phrase("es"))
    yield "sentiment negative + min 5 min", Scope(TENANT), Filters(sentiment="negative", min_duration=300)
    yield "wrap_up + has_alert", Scope(TENANT), Filters(wrap_up=rng.choice(CODES), has_alert=True)
    yield "suggestion_used + campaign + 7 days", Scope(TENANT), Filters(suggestion_used=True, campaign="banking",
                                                                       since=now - timedelta(days=7))
    yield "no filter (first page)", Scope(TENANT), Filters()


def measure(engine: sa.Engine, repeats: int, seed: int = 11) -> dict[str, list[float]]:
    history = CallHistory(engine, calls_table)
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    timings: dict[str, list[float]] = {}
    for _ in range(3):  # warm the caches with a few queries first
        for _, scope, filters in queries(rng, vocab):
            history.page(scope, filters, 50)
    for _ in range(repeats):
        for name, scope, filters in queries(rng, vocab):
            began = time.perf_counter()
            items, cursor = history.page(scope, filters, 50)
            if cursor and name.startswith("q"):  # the second page too, as a supervisor scrolling
                history.page(scope, filters, 50, cursor)
            timings.setdefault(name, []).append((time.perf_counter() - began) * 1000)
    return timings


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def run(url: str, calls: int = 100_000, repeats: int = 40, keep: bool = False) -> dict:
    name = f"rafiq_bench_history_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(sa.make_url(url).set(database=name))
    try:
        print(f"generating {calls} calls in {name} …")
        seconds = load(engine, calls)
        print(f"loaded {calls} calls in {seconds:.0f} s")
        timings = measure(engine, repeats)
    finally:
        engine.dispose()
        if not keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    every = [v for values in timings.values() for v in values]
    print(f"\n| search ({calls:,} calls, {repeats} runs each; q: first page + second page) | p50 ms | p95 ms |")
    print("|---|---:|---:|")
    for query, values in timings.items():
        print(f"| {query} | {statistics.median(values):.1f} | {p95(values):.1f} |")
    words_searched = [v for query, values in timings.items() if query.startswith("q") for v in values]
    print(f"| **searches with q** | {statistics.median(words_searched):.1f} | {p95(words_searched):.1f} |")
    print(f"| **all searches** | {statistics.median(every):.1f} | {p95(every):.1f} |")
    return {"calls": calls, "p50_ms": statistics.median(every), "p95_ms": p95(every),
            "by_query": {q: {"p50_ms": statistics.median(v), "p95_ms": p95(v)} for q, v in timings.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the generated database")
    args = parser.parse_args()
    run(args.url, args.calls, args.repeats, args.keep)


if __name__ == "__main__":
    main()
