"""What the live floor and the alert rules cost per live call, on the event loop: the alert
watch and the floor row applied to each final utterance, and the once-a-second clock tick over
every live call.

    PYTHONPATH=$PWD .venv/bin/python bench/floor.py
    PYTHONPATH=$PWD .venv/bin/python bench/floor.py --calls 40 --rules 50 --phrases 10

Utterances: the validation texts of ../shared/data/text/sentiment in the five languages (real
short customer messages, never used to write the matcher), as finals alternating customer and
agent, each with a sentiment label from the set. Rules: ``--rules`` phrase rules of ``--phrases``
words each, drawn from the same texts (so some fire), plus one rule of every other kind.
Times are the thread's CPU time (``time.thread_time``): what the work costs the event loop,
apart from other processes sharing the cores.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analytics.alerts import AlertRule, AlertWatch  # noqa: E402
from analytics.floor import FloorCall  # noqa: E402

SENTIMENT = Path(os.environ.get("RAFIQ_SHARED_DATA", REPO.parent / "shared" / "data")) / "text" / "sentiment"
LANGUAGES = ("arabic", "english", "french", "spanish", "portuguese")
LABELS = ("negative", "neutral", "positive")


def utterances() -> list[tuple[str, str]]:
    found = []
    for language in LANGUAGES:
        texts = (SENTIMENT / f"{language}.val_text.txt").read_text(encoding="utf-8").splitlines()
        labels = (SENTIMENT / f"{language}.val_labels.txt").read_text(encoding="utf-8").splitlines()
        found += [(text, LABELS[int(label)]) for text, label in zip(texts, labels)]
    return found


def rules(lines: list[tuple[str, str]], count: int, phrases: int, rng: random.Random) -> list[AlertRule]:
    words = [w for text, _ in lines for w in text.split() if w.isalpha() and len(w) > 4]
    made = [AlertRule(f"p{i}", "t", None, "phrase", f"phrase {i}",
                      {"phrases": rng.sample(words, phrases), "speaker": "any"}) for i in range(count)]
    made += [AlertRule("s", "t", None, "sentiment", "mood", {"count": 3}),
             AlertRule("q", "t", None, "silence", "quiet", {"seconds": 20}),
             AlertRule("d", "t", None, "duration", "long", {"seconds": 600}),
             AlertRule("o", "t", None, "overtalk", "over", {"seconds": 5})]
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40, help="live calls followed at once")
    parser.add_argument("--rules", type=int, default=50, help="phrase rules per call")
    parser.add_argument("--phrases", type=int, default=10, help="phrases per phrase rule")
    parser.add_argument("--utterances", type=int, default=120, help="final utterances per call")
    args = parser.parse_args()
    rng = random.Random(7)
    lines = utterances()
    rule_set = rules(lines, args.rules, args.phrases, rng)
    calls = [(AlertWatch(rule_set), FloorCall(f"c{i}", "t", agent="a", team=None, campaign=None,
                                              started_at="2026-01-01T00:00:00.000+00:00")) for i in range(args.calls)]
    per_final, alerts = [], 0
    for n in range(args.utterances):
        for watch, row in calls:
            text, label = rng.choice(lines)
            start = n * 4.0 + rng.random()
            event = {"type": "transcript.final", "segment_id": f"s{n}", "speaker": "customer" if n % 2 else "agent",
                     "text": text, "start": start, "end": start + 3.5, "language": "fr",
                     "sentiment": {"label": label, "score": 0.8}}
            began = time.thread_time()
            fired = watch.observe(event, start)
            row.observe(event, "at")
            row.set_timing(watch.silence_s, watch.overtalk_s)
            per_final.append(time.thread_time() - began)
            alerts += len(fired)
    ticks = []
    for second in range(50):
        began = time.thread_time()
        for watch, _ in calls:
            watch.tick(args.utterances * 4.0 + second)
        ticks.append(time.thread_time() - began)
    per_final.sort()
    print(f"{args.calls} calls, {len(rule_set)} rules each ({args.rules} phrase rules x {args.phrases} phrases), "
          f"{args.utterances} finals per call, {len(lines)} distinct utterances in 5 languages")
    print(f"per final (alert watch + floor row): median {statistics.median(per_final) * 1e6:.0f} us, "
          f"p95 {per_final[int(len(per_final) * 0.95)] * 1e6:.0f} us, max {per_final[-1] * 1e6:.0f} us")
    print(f"clock tick over all {args.calls} calls: median {statistics.median(ticks) * 1e6:.0f} us")
    print(f"alerts raised: {alerts}")


if __name__ == "__main__":
    main()
