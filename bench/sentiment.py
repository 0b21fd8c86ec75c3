"""Sentiment benchmark: macro-F1 per language on the VALIDATION split of the shared sentiment
texts (never used to train, tune or calibrate the model), their mean, and the time to classify
one utterance alone (what a live call's final costs), p50 / p95, the encoder on 2 threads.

    PYTHONPATH=$PWD .venv/bin/python bench/sentiment.py [--data ../shared/data/text/sentiment] [--repeat 3] [--threads 2]

The texts are tweets (XLM-T, Cardiff NLP), a proxy for how customers sound, not call utterances.
Timing: after a warm-up on 20 texts, ``--latency-texts`` val texts (every n-th, all languages) each
classified alone, ``--repeat`` times. The load average is printed: other processes on the
machine slow the encoder, two BLAS threads much more than one; the CPU time per utterance
(all threads of the process) is printed too, as it is nearly unaffected by them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sklearn.metrics import confusion_matrix, f1_score  # noqa: E402

from analytics.sentiment import LABELS, MODEL_PATH, SentimentModel  # noqa: E402
from analytics.train_sentiment import DEFAULT_DATA, LANGUAGES, read_split  # noqa: E402
from retrieval.embeddings import UsemEmbeddings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", type=Path, default=MODEL_PATH)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-texts", type=int, default=300, help="val texts timed one at a time (spread over languages)")
    parser.add_argument("--threads", type=int, default=2, help="the encoder's BLAS threads (the service uses 2)")
    args = parser.parse_args()
    model = SentimentModel.load(UsemEmbeddings(threads=args.threads), args.model)
    print(f"model: {args.model} ({args.model.stat().st_size / 1024:.0f} KiB)")
    print(f"{'language':<12}{'n':>5}{'macro-F1':>10}{'accuracy':>10}   confusion (rows gold neg/neu/pos)")
    scores, all_texts = [], []
    for language in LANGUAGES:
        texts, gold = read_split(args.data, language, "val")
        all_texts += texts
        predicted = np.array([LABELS.index(s.label) for s in model.classify(texts)])
        f1 = f1_score(gold, predicted, average="macro")
        scores.append(f1)
        matrix = confusion_matrix(gold, predicted, labels=[0, 1, 2]).tolist()
        print(f"{language:<12}{len(texts):>5}{f1:>10.3f}{(gold == predicted).mean():>10.3f}   {matrix}")
    print(f"{'mean':<12}{'':>5}{np.mean(scores):>10.3f}")

    timed = all_texts[::max(1, len(all_texts) // args.latency_texts)][:args.latency_texts]
    for text in timed[:20]:
        model.classify([text])
    times, cpu = [], []
    for _ in range(args.repeat):
        for text in timed:
            started, started_cpu = time.perf_counter(), time.process_time()
            model.classify([text])
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
    ms = np.array(times) * 1000
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"latency per utterance (one at a time, {len(ms)} runs, {args.threads} threads): p50 {np.percentile(ms, 50):.2f} ms, "
          f"p95 {np.percentile(ms, 95):.2f} ms, mean {ms.mean():.2f} ms")
    cpu_ms = np.array(cpu) * 1000
    # CPU time (all the process's threads) does not count the waits for other processes' turn:
    # on a busy machine it is the figure closest to what an idle one would take.
    print(f"CPU time per utterance: p50 {np.percentile(cpu_ms, 50):.2f} ms, p95 {np.percentile(cpu_ms, 95):.2f} ms")


if __name__ == "__main__":
    main()
