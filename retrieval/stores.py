"""Two Qdrant engines behind one small interface: Qdrant Edge in-process, or qdrant-client.

``EdgeStore`` (qdrant-edge-py: the Qdrant engine compiled into the process, with payload
indexes) is the embedded default: a filtered hybrid query over 10k passages takes about a
millisecond. ``ClientStore`` speaks to a Qdrant server (``RAFIQ_QDRANT_URL``) through
qdrant-client; given a folder or ":memory:" instead it runs qdrant-client's pure-Python local
mode, which is slow at scale (it ignores payload indexes) and serves only tests and tools.

Both hold one collection of passages with a dense vector ("dense", cosine) and a lexical sparse
vector ("lexical", IDF applied by Qdrant), and answer one query shape: a dense prefetch and a
lexical prefetch under the same filter, fused by weighted reciprocal-rank fusion inside Qdrant.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

DENSE = "dense"
LEXICAL = "lexical"
RRF_K = 60  # the usual constant; ranks deeper than ~60 barely count
KEYWORD_FIELDS = ("tenant", "language", "campaign", "article_id")


@dataclass
class StoredPoint:
    id: str
    dense: list[float]
    sparse: tuple[list[int], list[float]]
    payload: dict


@dataclass
class SearchFilter:
    """tenant always; language when given; campaign when given, where an article without a
    campaign belongs to every campaign of its tenant."""

    tenant: str
    language: str | None = None
    campaign: str | None = None


@dataclass
class Candidate:
    payload: dict
    dense: np.ndarray  # the stored (unit-length) dense vector, to rescore by cosine
    fused: float  # the RRF score Qdrant fused from the two prefetches


class Store(Protocol):
    def upsert(self, points: list[StoredPoint]) -> None: ...
    def delete_article(self, article_id: str) -> None: ...
    def query(self, dense: list[float], sparse: tuple[list[int], list[float]], where: SearchFilter,
              limit: int, lexical_weight: float) -> list[Candidate]: ...
    def count(self) -> int: ...
    def close(self) -> None: ...


class EdgeStore:
    """Qdrant Edge: one shard in a folder, owned by one process (it is not a server)."""

    def __init__(self, path: Path, dimensions: int):
        import qdrant_edge as qe

        self.qe = qe
        self._lock = threading.Lock()
        path.mkdir(parents=True, exist_ok=True)
        config = qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=dimensions, distance=qe.Distance.Cosine)},
            sparse_vectors={LEXICAL: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        self.shard = self._load(path, config) if any(path.iterdir()) else None
        if self.shard is None:
            self.shard = qe.EdgeShard.create(str(path), config)
        existing = set(self.shard.info().payload_schema)
        for field_name in KEYWORD_FIELDS:
            if field_name not in existing:
                schema = (qe.KeywordIndexParams(is_tenant=True) if field_name == "tenant"
                          else qe.PayloadSchemaType.Keyword)
                self.shard.update(qe.UpdateOperation.create_field_index(field_name, schema))
        log.info("embedded index opened", extra={"engine": "qdrant-edge", "path": str(path),
                                                 "points": self.shard.info().points_count})

    def _load(self, path: Path, config):
        """The shard in ``path``, or None when it cannot be read (a corrupt or foreign folder): the
        folder is then set aside as ``<name>.broken-<time>`` and the caller starts an empty shard,
        which its owner refills from the source of truth (the knowledge base re-indexes its
        published articles into an empty index at start)."""
        try:
            return self.qe.EdgeShard.load(str(path), config)
        except BaseException as exc:  # a Rust panic reaches Python as pyo3's PanicException (a BaseException)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            broken = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
            path.rename(broken)
            path.mkdir()
            log.error("embedded index unreadable: set aside, starting an empty one",
                      extra={"path": str(path), "set_aside": str(broken), "error": str(exc)[:500]})
            return None

    def _filter(self, where: SearchFilter):
        qe = self.qe
        must = [qe.FieldCondition("tenant", match=qe.MatchValue(where.tenant))]
        if where.language:
            must.append(qe.FieldCondition("language", match=qe.MatchValue(where.language)))
        if where.campaign:
            must.append(qe.Filter(should=[qe.FieldCondition("campaign", match=qe.MatchValue(where.campaign)),
                                          qe.IsNullCondition("campaign"), qe.IsEmptyCondition("campaign")]))
        return qe.Filter(must=must)

    def upsert(self, points: list[StoredPoint]) -> None:
        qe = self.qe
        edge_points = [qe.Point(p.id, {DENSE: p.dense, LEXICAL: qe.SparseVector(*p.sparse)}, p.payload)
                       for p in points]
        with self._lock:
            self.shard.update(qe.UpdateOperation.upsert_points(edge_points))
            self.shard.flush()

    def delete_article(self, article_id: str) -> None:
        qe = self.qe
        with self._lock:
            self.shard.update(qe.UpdateOperation.delete_points_by_filter(
                qe.Filter(must=[qe.FieldCondition("article_id", match=qe.MatchValue(article_id))])))
            self.shard.flush()

    def query(self, dense, sparse, where, limit, lexical_weight):
        qe = self.qe
        flt = self._filter(where)
        dense_query = qe.Query.Nearest(dense, using=DENSE)
        if lexical_weight <= 0 or not sparse[0]:
            request = qe.QueryRequest(limit=limit, query=dense_query, filter=flt, with_payload=True,
                                      with_vector=[DENSE])
        else:
            request = qe.QueryRequest(
                limit=limit,
                prefetches=[qe.Prefetch(limit=limit, query=dense_query, filter=flt),
                            qe.Prefetch(limit=limit, query=qe.Query.Nearest(qe.SparseVector(*sparse), using=LEXICAL),
                                        filter=flt)],
                query=qe.Fusion.Rrf(k=RRF_K, weights=[1.0, lexical_weight]),
                filter=flt, with_payload=True, with_vector=[DENSE])
        with self._lock:
            points = self.shard.query(request)
        fused_only = lexical_weight > 0 and bool(sparse[0])
        return [Candidate(payload=p.payload, dense=np.asarray(p.vector[DENSE], dtype=np.float32),
                          fused=p.score if fused_only else 1.0 / (RRF_K + rank))
                for rank, p in enumerate(points, 1)]

    def count(self) -> int:
        with self._lock:
            return self.shard.info().points_count

    def close(self) -> None:
        with self._lock:
            self.shard.flush()
            self.shard.close()


class ClientStore:
    """qdrant-client: a Qdrant server by URL (payload indexes, any number of processes), or its
    local mode for a folder or ":memory:"."""

    def __init__(self, collection: str, dimensions: int, url: str | None = None, location: str | None = None):
        from qdrant_client import QdrantClient, models

        self.models = models
        self.collection = collection
        self.server = bool(url)
        self.client = QdrantClient(url=url) if url else QdrantClient(path=location) if location != ":memory:" \
            else QdrantClient(location=":memory:")
        self._lock = threading.Lock()  # the local mode is not thread-safe
        with self._lock:
            if not self.client.collection_exists(collection):
                self.client.create_collection(
                    collection,
                    vectors_config={DENSE: models.VectorParams(size=dimensions, distance=models.Distance.COSINE)},
                    sparse_vectors_config={LEXICAL: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                )
                if self.server:  # the local mode has no payload indexes
                    for field_name in KEYWORD_FIELDS:
                        schema = (models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
                                  if field_name == "tenant" else models.PayloadSchemaType.KEYWORD)
                        self.client.create_payload_index(collection, field_name, schema)
        log.info("index opened", extra={"engine": "qdrant-server" if self.server else "qdrant-client-local",
                                        "collection": collection})

    def _filter(self, where: SearchFilter):
        m = self.models
        must = [m.FieldCondition(key="tenant", match=m.MatchValue(value=where.tenant))]
        if where.language:
            must.append(m.FieldCondition(key="language", match=m.MatchValue(value=where.language)))
        if where.campaign:
            must.append(m.Filter(should=[m.FieldCondition(key="campaign", match=m.MatchValue(value=where.campaign)),
                                         m.IsNullCondition(is_null=m.PayloadField(key="campaign")),
                                         m.IsEmptyCondition(is_empty=m.PayloadField(key="campaign"))]))
        return m.Filter(must=must)

    def upsert(self, points: list[StoredPoint]) -> None:
        m = self.models
        structs = [m.PointStruct(id=p.id, payload=p.payload,
                                 vector={DENSE: p.dense, LEXICAL: m.SparseVector(indices=p.sparse[0], values=p.sparse[1])})
                   for p in points]
        with self._lock:
            self.client.upsert(self.collection, points=structs, wait=True)

    def delete_article(self, article_id: str) -> None:
        m = self.models
        selector = m.FilterSelector(filter=m.Filter(must=[
            m.FieldCondition(key="article_id", match=m.MatchValue(value=article_id))]))
        with self._lock:
            self.client.delete(self.collection, points_selector=selector, wait=True)

    def query(self, dense, sparse, where, limit, lexical_weight):
        m = self.models
        flt = self._filter(where)
        hybrid = lexical_weight > 0 and bool(sparse[0])
        with self._lock:
            if hybrid:
                response = self.client.query_points(
                    self.collection,
                    prefetch=[m.Prefetch(query=dense, using=DENSE, filter=flt, limit=limit),
                              m.Prefetch(query=m.SparseVector(indices=sparse[0], values=sparse[1]), using=LEXICAL,
                                         filter=flt, limit=limit)],
                    query=m.RrfQuery(rrf=m.Rrf(k=RRF_K, weights=[1.0, lexical_weight])),
                    query_filter=flt, limit=limit, with_payload=True, with_vectors=[DENSE])
            else:
                response = self.client.query_points(self.collection, query=dense, using=DENSE, query_filter=flt,
                                                    limit=limit, with_payload=True, with_vectors=[DENSE])
        return [Candidate(payload=p.payload, dense=np.asarray(p.vector[DENSE], dtype=np.float32),
                          fused=p.score if hybrid else 1.0 / (RRF_K + rank))
                for rank, p in enumerate(response.points, 1)]

    def count(self) -> int:
        with self._lock:
            return self.client.count(self.collection, exact=True).count

    def close(self) -> None:
        with self._lock:
            self.client.close()
