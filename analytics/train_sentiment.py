"""Trains the sentiment head (``analytics/models/sentiment.npz``) on the TRAIN split only of the
shared sentiment texts: picks the regularisation by cross-validation on train, calibrates the
softmax temperature on the out-of-fold predictions, then fits on all of train. The validation
split is never read here (``bench/sentiment.py`` reports on it).

    python -m analytics.train_sentiment [--data ../shared/data/text/sentiment] [--out PATH]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from retrieval.embeddings import UsemEmbeddings

from .sentiment import LABELS, MODEL_PATH, FeatureConfig, Featurizer, SentimentModel, clean, softmax

log = logging.getLogger("analytics.train_sentiment")

LANGUAGES = ("arabic", "english", "french", "spanish", "portuguese")
DEFAULT_DATA = Path(os.environ.get("RAFIQ_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")) / "text" / "sentiment"


def read_split(data: Path, language: str, split: str) -> tuple[list[str], np.ndarray]:
    """One language's texts and labels (one a line; ``\\n`` only: some tweets hold other breaks)."""
    texts = (data / f"{language}.{split}_text.txt").read_text(encoding="utf-8").split("\n")
    labels = np.array([int(v) for v in (data / f"{language}.{split}_labels.txt").read_text().split()])
    if len(texts) != len(labels):
        raise ValueError(f"{language}.{split}: {len(texts)} texts but {len(labels)} labels")
    return texts, labels


def _fit(features, labels, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=3000, tol=1e-3).fit(features, labels)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The softmax temperature that minimises the log-loss of out-of-fold predictions."""
    def nll(t: float) -> float:
        p = softmax(logits, t)[np.arange(len(labels)), labels]
        return float(-np.log(np.clip(p, 1e-12, None)).mean())
    return float(minimize_scalar(nll, bounds=(0.05, 20), method="bounded").x)


def main(argv: list[str] | None = None) -> None:
    with threadpool_limits(1):
        train(argv)


def train(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--c", type=float, nargs="+", default=[0.5, 1.0, 2.0], help="regularisation grid")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.monotonic()

    texts, labels, groups = [], [], []
    for i, language in enumerate(LANGUAGES):
        t, y = read_split(args.data, language, "train")
        texts += t
        labels.append(y)
        groups += [i] * len(t)
    labels, groups = np.concatenate(labels), np.array(groups)
    log.info("train texts read: %d (%s)", len(texts), ", ".join(LANGUAGES))

    cleaned = [clean(t) for t in texts]
    # One BLAS thread: on a shared machine, two threads that wait on each other run several times slower.
    encoder = UsemEmbeddings(threads=1)
    embeddings = encoder.encode(cleaned)
    log.info("sentence embeddings done (%.0f s)", time.monotonic() - started)

    featurizer = Featurizer(FeatureConfig(), encoder)
    counts = featurizer.counts(cleaned)
    # Folds stratified by language and label, so each fold holds every language's classes.
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=0).split(texts, groups * 3 + labels))
    best = (-1.0, None, None)
    for c in args.c:
        logits = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
        for k, (tr, te) in enumerate(folds):
            # idf from the training folds only, as at serving time it comes from train only.
            featurizer.fit_idf(counts[tr])
            x_tr = featurizer.transform([], counts[tr], embeddings[tr])
            x_te = featurizer.transform([], counts[te], embeddings[te])
            logits[te] = _fit(x_tr, labels[tr], c).decision_function(x_te)
            log.info("C=%g fold %d/%d done (%.0f s)", c, k + 1, args.folds, time.monotonic() - started)
        predicted = logits.argmax(axis=1)
        per_language = [f1_score(labels[groups == i], predicted[groups == i], average="macro")
                        for i in range(len(LANGUAGES))]
        mean = float(np.mean(per_language))
        log.info("C=%g cross-validated macro-F1 on train: %s, mean %.4f", c,
                 " ".join(f"{lang}={f:.3f}" for lang, f in zip(LANGUAGES, per_language)), mean)
        if mean > best[0]:
            best = (mean, c, logits)
    score, c, logits = best
    temperature = fit_temperature(logits, labels)
    log.info("chosen C=%g (cross-validated mean macro-F1 %.4f), temperature %.3f", c, score, temperature)

    featurizer.fit_idf(counts)
    classifier = _fit(featurizer.transform([], counts, embeddings), labels, c)
    model = SentimentModel(featurizer, classifier.coef_, classifier.intercept_, temperature)
    model.save(args.out)
    log.info("saved %s (%.1f KiB) in %.0f s", args.out, args.out.stat().st_size / 1024, time.monotonic() - started)


if __name__ == "__main__":
    main()
