"""The passage index in Qdrant: embedded (local folder) by default, a server by URL."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from qdrant_client import QdrantClient, models

from .embeddings import DIMENSIONS, UsemEmbeddings

log = logging.getLogger(__name__)

COLLECTION = "kb_passages"
_ID_NAMESPACE = uuid.UUID("6f1c3a52-8d0e-4d53-9a43-2f0c1d7e9b10")


@dataclass
class Passage:
    """A searchable piece of an article; ``group`` links the language variants of one article.

    ``kind`` "title" is the title alone: questions are short, and a short title often matches
    them better than the whole article does; "body" is the title with the text.
    """

    article_id: str
    tenant: str
    language: str
    title: str
    text: str
    group: str
    kind: str = "body"
    chunk: int = 0

    @property
    def point_id(self) -> str:
        return str(uuid.uuid5(_ID_NAMESPACE, f"{self.article_id}#{self.kind}{self.chunk}"))

    @property
    def embedding_text(self) -> str:
        return self.title if self.kind == "title" else f"{self.title}. {self.text}"


@dataclass
class Hit:
    passage: Passage
    score: float


class PassageIndex:
    @classmethod
    def open(cls, embeddings: UsemEmbeddings, url: str | None, path: Path) -> "PassageIndex":
        """A Qdrant server when ``url`` is given, else embedded Qdrant in the ``path`` folder."""
        if url:
            return cls(QdrantClient(url=url), embeddings, server=True)
        path.mkdir(parents=True, exist_ok=True)
        return cls(QdrantClient(path=str(path)), embeddings, server=False)

    def __init__(self, client: QdrantClient, embeddings: UsemEmbeddings, server: bool,
                 collection: str = COLLECTION):
        self.client = client
        self.server = server
        self.embeddings = embeddings
        self.collection = collection
        # The embedded Qdrant client is not safe to share between threads.
        self._lock = threading.Lock()
        self._ensure_collection()

    def _ensure_collection(self) -> None:
        with self._lock:
            if self.client.collection_exists(self.collection):
                return
            self.client.create_collection(
                self.collection,
                vectors_config=models.VectorParams(size=DIMENSIONS, distance=models.Distance.COSINE),
            )
            if not self.server:
                return  # embedded Qdrant has no payload indexes
            for field_name in ("tenant", "language", "article_id"):
                self.client.create_payload_index(self.collection, field_name, models.PayloadSchemaType.KEYWORD)

    def upsert(self, passages: list[Passage]) -> None:
        if not passages:
            return
        vectors = self.embeddings.encode([p.embedding_text for p in passages])
        points = [
            models.PointStruct(id=p.point_id, vector=v.tolist(), payload=p.__dict__.copy())
            for p, v in zip(passages, vectors)
        ]
        with self._lock:
            self.client.upsert(self.collection, points=points, wait=True)

    def search(self, query: str, tenant: str, k: int = 5, language: str | None = None) -> list[Hit]:
        """The ``k`` best articles for ``query``, each once, scored by its best passage."""
        vector = self.embeddings.encode([query])[0].tolist()
        must = [models.FieldCondition(key="tenant", match=models.MatchValue(value=tenant))]
        if language:
            must.append(models.FieldCondition(key="language", match=models.MatchValue(value=language)))
        with self._lock:
            response = self.client.query_points(
                self.collection, query=vector, query_filter=models.Filter(must=must), limit=k * 3, with_payload=True
            )
        hits: dict[str, Hit] = {}
        for point in response.points:  # ranked best first, so the first hit per article is its best
            passage = Passage(**point.payload)
            hits.setdefault(passage.article_id, Hit(passage, float(point.score)))
        return list(hits.values())[:k]

    def close(self) -> None:
        with self._lock:
            self.client.close()
