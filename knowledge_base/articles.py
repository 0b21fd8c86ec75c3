"""Articles and their storage (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from pydantic import BaseModel, Field, field_validator

from .db import UtcDateTime

LANGUAGES = ("fr", "ar", "es", "en", "pt")

metadata = sa.MetaData()

articles_table = sa.Table(
    "kb_articles",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False, index=True),
    # Language variants of one article share a group (the seed's key or the source's id).
    sa.Column("group_id", sa.String(128), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False, default=list),
    sa.Column("campaign", sa.String(64), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("tenant", "group_id", "language", name="uq_kb_article_variant"),
)


class ArticleIn(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=50_000)
    language: str
    tags: list[str] = Field(default_factory=list, max_length=50)
    tenant: str = Field(default="default", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    campaign: str | None = Field(default=None, max_length=64)
    group_id: str | None = Field(default=None, max_length=128,
                                 description="links this article to its variants in other languages")

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        value = value.lower()
        if value not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("title", "body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class Article(ArticleIn):
    id: str
    group_id: str
    created_at: datetime
    updated_at: datetime


class ArticleStore:
    def __init__(self, engine: sa.Engine):
        self.engine = engine
        metadata.create_all(engine)

    def upsert(self, data: ArticleIn) -> Article:
        """Create the article, or update the variant with the same tenant, group and language."""
        now = datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            existing = None
            if data.group_id:
                existing = conn.execute(sa.select(articles_table).where(
                    articles_table.c.tenant == data.tenant,
                    articles_table.c.group_id == data.group_id,
                    articles_table.c.language == data.language,
                )).mappings().first()
            values = data.model_dump(exclude={"group_id"})
            if existing:
                conn.execute(articles_table.update().where(articles_table.c.id == existing["id"])
                             .values(**values, updated_at=now))
                article_id, group_id, created = existing["id"], existing["group_id"], existing["created_at"]
            else:
                article_id = uuid.uuid4().hex[:16]
                group_id = data.group_id or article_id
                created = now
                conn.execute(articles_table.insert().values(
                    id=article_id, group_id=group_id, created_at=now, updated_at=now, **values))
        return Article(**values, id=article_id, group_id=group_id, created_at=created, updated_at=now)

    def get(self, article_id: str) -> Article | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(articles_table).where(articles_table.c.id == article_id)).mappings().first()
        return Article(**row) if row else None

    def variant(self, tenant: str, group_id: str, language: str) -> Article | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(articles_table).where(
                articles_table.c.tenant == tenant,
                articles_table.c.group_id == group_id,
                articles_table.c.language == language,
            )).mappings().first()
        return Article(**row) if row else None

    def list(self, tenant: str | None = None, limit: int = 1000) -> list[Article]:
        query = sa.select(articles_table).order_by(articles_table.c.group_id, articles_table.c.language).limit(limit)
        if tenant:
            query = query.where(articles_table.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [Article(**row) for row in conn.execute(query).mappings()]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(articles_table)).scalar_one()
