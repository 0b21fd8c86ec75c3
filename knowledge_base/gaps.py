"""Knowledge gaps: customer questions that got no confident answer, grouped by meaning.

Each unanswered question is embedded (the same multilingual vectors as the search, so a
question and its paraphrase in another language land close together) and joins the nearest
gap whose centroid is at least ``threshold`` cosine away, else starts a new gap. Trainers see
the gaps by count, with example questions and their languages, dismiss them, or start a draft
article from one.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np
import sqlalchemy as sa
from pydantic import BaseModel

from .articles import Article, ArticleIn, metadata
from storage import UtcDateTime
from .service import KnowledgeBase, WorkflowError

log = logging.getLogger(__name__)

GapStatus = Literal["open", "dismissed", "drafted"]

gaps_table = sa.Table(
    "kb_gaps",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False, index=True),
    sa.Column("campaign", sa.String(64), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, server_default=sa.text("'open'")),
    sa.Column("article_id", sa.String(64), nullable=True),  # the draft started from this gap
    sa.Column("centroid", sa.JSON, nullable=False),  # unit vector: the mean of its questions
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("first_seen", UtcDateTime(), nullable=False),
    sa.Column("last_seen", UtcDateTime(), nullable=False),
)

gap_questions_table = sa.Table(
    "kb_gap_questions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("gap_id", sa.String(32), nullable=False, index=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("campaign", sa.String(64), nullable=True),
    sa.Column("call_id", sa.String(128), nullable=True),
    sa.Column("segment_id", sa.String(64), nullable=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("language", sa.String(8), nullable=True),
    sa.Column("best_score", sa.Float, nullable=True),
    sa.Column("best_article_id", sa.String(64), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)


class GapExample(BaseModel):
    text: str
    language: str | None
    call_id: str | None
    at: datetime


class Gap(BaseModel):
    id: str
    tenant: str
    campaign: str | None
    status: GapStatus
    article_id: str | None
    count: int
    languages: dict[str, int]
    examples: list[GapExample]
    best_score: float | None  # the best score any of its questions got (below the threshold)
    first_seen: datetime
    last_seen: datetime


class GapCollector:
    def __init__(self, engine: sa.Engine, embeddings, threshold: float = 0.55, examples: int = 5):
        self.engine = engine
        self.embeddings = embeddings
        self.threshold = threshold
        self.examples = examples
        # One writer at a time: joining the nearest gap is read-then-write.
        self._lock = threading.Lock()
        metadata.create_all(engine, tables=[gaps_table, gap_questions_table])

    def record(self, text: str, *, tenant: str, language: str | None, campaign: str | None = None,
               call_id: str | None = None, segment_id: str | None = None, best_score: float | None = None,
               best_article_id: str | None = None) -> str:
        """Add an unanswered question; returns the id of the gap it joined or started."""
        vector = np.asarray(self.embeddings.encode([text])[0], dtype=np.float32)
        now = datetime.now(timezone.utc)
        with self._lock, self.engine.begin() as conn:
            rows = conn.execute(sa.select(gaps_table.c.id, gaps_table.c.centroid, gaps_table.c.count)
                                .where(gaps_table.c.tenant == tenant)).all()
            best_id, best_similarity, best_row = None, -1.0, None
            if rows:
                centroids = np.asarray([row.centroid for row in rows], dtype=np.float32)
                similarities = centroids @ vector
                position = int(np.argmax(similarities))
                best_similarity = float(similarities[position])
                if best_similarity >= self.threshold:
                    best_row = rows[position]
                    best_id = best_row.id
            if best_row is not None:
                total = np.asarray(best_row.centroid, dtype=np.float32) * best_row.count + vector
                centroid = total / (np.linalg.norm(total) or 1.0)
                conn.execute(gaps_table.update().where(gaps_table.c.id == best_id).values(
                    centroid=centroid.tolist(), count=gaps_table.c.count + 1, last_seen=now))
            else:
                best_id = uuid.uuid4().hex[:12]
                conn.execute(gaps_table.insert().values(
                    id=best_id, tenant=tenant, campaign=campaign, status="open", centroid=vector.tolist(), count=1,
                    first_seen=now, last_seen=now))
            conn.execute(gap_questions_table.insert().values(
                gap_id=best_id, tenant=tenant, campaign=campaign, call_id=call_id, segment_id=segment_id, text=text,
                language=language, best_score=best_score, best_article_id=best_article_id, created_at=now))
        log.info("knowledge gap recorded", extra={"gap_id": best_id, "tenant": tenant, "language": language,
                                                  "call_id": call_id, "joined": best_row is not None,
                                                  "similarity": round(best_similarity, 3)})
        return best_id

    def list(self, tenant: str, status: str | None = "open", campaign: str | None = None,
             limit: int = 100) -> list[Gap]:
        query = sa.select(gaps_table).where(gaps_table.c.tenant == tenant)
        if status:
            query = query.where(gaps_table.c.status == status)
        if campaign:
            query = query.where(gaps_table.c.campaign == campaign)
        query = query.order_by(gaps_table.c.count.desc(), gaps_table.c.last_seen.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            return [self._gap(conn, row) for row in rows]

    def opened_per_day(self, tenant: str, start: datetime, end: datetime,
                       campaign: str | None = None) -> list[tuple[str, int]]:
        """Gaps of ``tenant`` first seen in [start, end), counted per UTC day ("YYYY-MM-DD"),
        whatever their status now (the supervisors' dashboard, through ``assistant``)."""
        query = sa.select(gaps_table.c.first_seen).where(
            gaps_table.c.tenant == tenant, gaps_table.c.first_seen >= start, gaps_table.c.first_seen < end)
        if campaign:
            query = query.where(gaps_table.c.campaign == campaign)
        with self.engine.connect() as conn:
            days = Counter(moment.astimezone(timezone.utc).date().isoformat()
                           for moment in conn.execute(query).scalars())
        return sorted(days.items())

    def get(self, gap_id: str) -> Gap | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(gaps_table).where(gaps_table.c.id == gap_id)).mappings().first()
            return self._gap(conn, row) if row else None

    def _gap(self, conn, row) -> Gap:
        questions = conn.execute(sa.select(gap_questions_table).where(gap_questions_table.c.gap_id == row["id"])
                                 .order_by(gap_questions_table.c.created_at.desc())).mappings().all()
        languages = Counter(q["language"] or "?" for q in questions)
        examples: list[GapExample] = []
        seen: set[str] = set()
        for question in questions:  # newest first, each wording once
            key = question["text"].strip().lower()
            if key in seen:
                continue
            seen.add(key)
            examples.append(GapExample(text=question["text"], language=question["language"],
                                       call_id=question["call_id"], at=question["created_at"]))
            if len(examples) == self.examples:
                break
        scores = [q["best_score"] for q in questions if q["best_score"] is not None]
        return Gap(id=row["id"], tenant=row["tenant"], campaign=row["campaign"], status=row["status"],
                   article_id=row["article_id"], count=row["count"], languages=dict(languages.most_common()),
                   examples=examples, best_score=round(max(scores), 4) if scores else None,
                   first_seen=row["first_seen"], last_seen=row["last_seen"])

    def set_status(self, gap_id: str, status: GapStatus, article_id: str | None = None) -> Gap:
        with self.engine.begin() as conn:
            values: dict[str, Any] = {"status": status}
            if article_id:
                values["article_id"] = article_id
            result = conn.execute(gaps_table.update().where(gaps_table.c.id == gap_id).values(**values))
            if result.rowcount != 1:
                raise KeyError(gap_id)
        log.info("knowledge gap status changed", extra={"gap_id": gap_id, "status": status, "article_id": article_id})
        return self.get(gap_id)

    def forget_calls(self, call_ids: list[str]) -> int:
        """Erase the questions these calls contributed (a call's erasure or retention purge):
        each gap's count drops to what is left, and a gap with no question left goes, unless an
        article was drafted from it. Returns the number of questions removed."""
        if not call_ids:
            return 0
        with self._lock, self.engine.begin() as conn:
            gap_ids = set(conn.execute(sa.select(gap_questions_table.c.gap_id)
                                       .where(gap_questions_table.c.call_id.in_(call_ids))).scalars())
            removed = conn.execute(gap_questions_table.delete()
                                   .where(gap_questions_table.c.call_id.in_(call_ids))).rowcount
            for gap_id in gap_ids:
                left = conn.execute(sa.select(sa.func.count()).select_from(gap_questions_table)
                                    .where(gap_questions_table.c.gap_id == gap_id)).scalar_one()
                if left == 0:
                    conn.execute(gaps_table.delete().where(gaps_table.c.id == gap_id, gaps_table.c.status != "drafted"))
                conn.execute(gaps_table.update().where(gaps_table.c.id == gap_id).values(count=left))
        return removed

    def start_draft(self, kb: KnowledgeBase, gap_id: str, author: str, language: str | None = None,
                    title: str | None = None) -> Article:
        """A draft article prefilled from the gap: its questions as example questions, in the
        gap's most frequent language unless another is asked for."""
        gap = self.get(gap_id)
        if gap is None:
            raise KeyError(gap_id)
        if gap.status == "drafted" and gap.article_id and kb.store.get(gap.article_id):
            raise WorkflowError("gap_drafted", f"a draft was already started from this gap: {gap.article_id}")
        with self.engine.connect() as conn:
            questions = conn.execute(sa.select(gap_questions_table.c.text, gap_questions_table.c.language)
                                     .where(gap_questions_table.c.gap_id == gap_id)
                                     .order_by(gap_questions_table.c.created_at)).all()
        language = language or Counter(q.language for q in questions if q.language).most_common(1)[0][0]
        in_language = [q.text for q in questions if q.language == language] or [q.text for q in questions]
        unique = list(dict.fromkeys(text.strip() for text in in_language))[:50]
        draft = kb.create(ArticleIn(title=(title or unique[0])[:500], body="", language=language,
                                    questions=[q[:500] for q in unique], tenant=gap.tenant, campaign=gap.campaign),
                          author=author, note=f"started from knowledge gap {gap_id} ({gap.count} questions)")
        self.set_status(gap_id, "drafted", article_id=draft.id)
        return draft
