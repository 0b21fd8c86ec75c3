"""Articles, their language variants and their version history in SQL (SQLite or PostgreSQL).

This module stores; it does not decide. The workflow rules (which status may follow which)
are in ``workflow.py`` and the search index is kept in step by ``service.py``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field, field_validator

from storage import UtcDateTime, ensure_schema

LANGUAGES = ("fr", "ar", "es", "en", "pt")
Status = Literal["draft", "in_review", "published", "archived"]
STATUSES: tuple[str, ...] = ("draft", "in_review", "published", "archived")
# The fields a trainer edits; a version snapshot holds exactly these (plus the language).
CONTENT_FIELDS = ("title", "body", "reply", "tags", "questions", "campaign")

metadata = sa.MetaData()

articles_table = sa.Table(
    "kb_articles",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False, index=True),
    # Language variants (translations) of one article share a group.
    sa.Column("group_id", sa.String(128), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False, default=list),
    sa.Column("campaign", sa.String(64), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # Added with the curation workflow; server defaults let ensure_schema add them to old tables.
    sa.Column("external_id", sa.String(128), nullable=True),
    sa.Column("reply", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("questions", sa.JSON, nullable=True),
    sa.Column("status", sa.String(16), nullable=False, server_default=sa.text("'draft'")),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("0")),
    # The version agents see (indexed); null when nothing of this variant is live.
    sa.Column("published_version", sa.Integer, nullable=True),
    sa.Column("updated_by", sa.String(128), nullable=True),
    sa.UniqueConstraint("tenant", "group_id", "language", name="uq_kb_article_variant"),
    sa.Index("ix_kb_article_external", "tenant", "external_id", "language", unique=True),
)

versions_table = sa.Table(
    "kb_article_versions",
    metadata,
    sa.Column("article_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("action", sa.String(32), nullable=False),  # created, edited, submitted, published, …
    sa.Column("status", sa.String(16), nullable=False),  # the article's status after this change
    sa.Column("author", sa.String(128), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("content", sa.JSON, nullable=False),  # CONTENT_FIELDS and the language, in full
)


def _clean_texts(values: list[str], max_chars: int) -> list[str]:
    cleaned: list[str] = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        if len(value) > max_chars:
            raise ValueError(f"an entry is longer than {max_chars} characters")
        if value not in cleaned:
            cleaned.append(value)
    return cleaned


class ArticleContent(BaseModel):
    """What a trainer writes: the text agents get and what helps find it."""

    title: str = Field(min_length=1, max_length=500)
    body: str = Field(default="", max_length=50_000, description="may stay empty in a draft")
    reply: str = Field(default="", max_length=2_000,
                       description="agent-ready short reply; shown to agents instead of the body when present")
    tags: list[str] = Field(default_factory=list, max_length=50)
    questions: list[str] = Field(default_factory=list, max_length=50,
                                 description="example customer questions this article answers")
    campaign: str | None = Field(default=None, max_length=64)

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("body", "reply")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, value: list[str]) -> list[str]:
        return _clean_texts(value, 64)

    @field_validator("questions")
    @classmethod
    def _clean_questions(cls, value: list[str]) -> list[str]:
        return _clean_texts(value, 500)

    @field_validator("campaign")
    @classmethod
    def _campaign_or_none(cls, value: str | None) -> str | None:
        return (value or "").strip() or None


def check_language(value: str) -> str:
    value = value.strip().lower()
    if value not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
    return value


class ArticleIn(ArticleContent):
    language: str
    tenant: str = Field(default="default", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    group_id: str | None = Field(default=None, max_length=128,
                                 description="links this article to its variants in other languages")
    external_id: str | None = Field(default=None, max_length=128,
                                    description="the article's id in the source it was imported from")

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        return check_language(value)


class Article(ArticleIn):
    id: str
    group_id: str
    status: Status
    version: int
    published_version: int | None = None
    created_at: datetime
    updated_at: datetime
    updated_by: str | None = None

    @property
    def answer_text(self) -> str:
        """What an agent is offered: the short reply when the trainer wrote one, else the body."""
        return self.reply or self.body

    def content(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in CONTENT_FIELDS}, "language": self.language}


class ArticleVersion(BaseModel):
    article_id: str
    version: int
    action: str
    status: Status
    author: str
    note: str
    created_at: datetime
    content: dict[str, Any]


class VersionConflict(Exception):
    """The article changed since the version the caller read (another trainer saved first)."""

    def __init__(self, article_id: str, expected: int, current: int):
        super().__init__(f"article {article_id} is at version {current}, not {expected}")
        self.expected = expected
        self.current = current


def _row_to_article(row) -> Article:
    data = dict(row)
    data["questions"] = data.get("questions") or []
    data["reply"] = data.get("reply") or ""
    return Article(**data)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ArticleStore:
    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.added_columns = ensure_schema(engine, metadata)
        self._backfill_legacy_articles()

    # -- writes: each one a transaction that also writes the version it makes ---------------

    def create(self, data: ArticleIn, *, author: str, status: str = "draft", action: str = "created",
               note: str = "") -> Article:
        now = _now()
        article_id = uuid.uuid4().hex[:16]
        values = data.model_dump(exclude={"group_id"})
        row = dict(values, id=article_id, group_id=data.group_id or data.external_id or article_id,
                   status=status, version=1, published_version=1 if status == "published" else None,
                   created_at=now, updated_at=now, updated_by=author)
        with self.engine.begin() as conn:
            conn.execute(articles_table.insert().values(**row))
            self._write_version(conn, _row_to_article(row), action, author, note, now)
        return _row_to_article(row)

    def change(self, article_id: str, *, author: str, action: str, note: str = "",
               content: dict[str, Any] | None = None, status: str | None = None,
               published_version: int | None | Literal["current", "keep"] = "keep",
               base_version: int | None = None) -> Article:
        """Write a new version of the article: new content and/or a new status.

        ``published_version``: "keep" leaves the live version as it is, "current" makes this new
        version the live one, None takes the article off the agents' view. ``base_version``
        refuses the change (VersionConflict) when someone else saved since it was read.
        """
        now = _now()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(articles_table).where(articles_table.c.id == article_id)
                               .with_for_update()).mappings().first()
            if row is None:
                raise KeyError(article_id)
            if base_version is not None and base_version != row["version"]:
                raise VersionConflict(article_id, base_version, row["version"])
            values: dict[str, Any] = dict(content or {})
            values.update(version=row["version"] + 1, updated_at=now, updated_by=author)
            if status is not None:
                values["status"] = status
            if published_version == "current":
                values["published_version"] = row["version"] + 1
            elif published_version != "keep":
                values["published_version"] = published_version
            result = conn.execute(articles_table.update().where(
                articles_table.c.id == article_id, articles_table.c.version == row["version"]).values(**values))
            if result.rowcount != 1:  # a concurrent writer got there between our read and write
                raise VersionConflict(article_id, row["version"], row["version"] + 1)
            article = _row_to_article({**row, **values})
            self._write_version(conn, article, action, author, note, now)
        return article

    def _write_version(self, conn, article: Article, action: str, author: str, note: str, at: datetime) -> None:
        conn.execute(versions_table.insert().values(
            article_id=article.id, version=article.version, action=action, status=article.status,
            author=author, note=note, created_at=at, content=article.content()))

    def upsert(self, data: ArticleIn, author: str = "system") -> Article:
        """Create the article, or write a new version of the variant with the same tenant, group
        and language. Kept for callers that do not care about the workflow (the status stays)."""
        existing = self.variant(data.tenant, data.group_id, data.language) if data.group_id else None
        if existing is None:
            return self.create(data, author=author)
        content = data.model_dump(include=set(CONTENT_FIELDS))
        return self.change(existing.id, author=author, action="edited", content=content)

    # -- reads -----------------------------------------------------------------------------

    def get(self, article_id: str) -> Article | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(articles_table).where(articles_table.c.id == article_id)).mappings().first()
        return _row_to_article(row) if row else None

    def variant(self, tenant: str, group_id: str, language: str) -> Article | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(articles_table).where(
                articles_table.c.tenant == tenant,
                articles_table.c.group_id == group_id,
                articles_table.c.language == language,
            )).mappings().first()
        return _row_to_article(row) if row else None

    def by_external_id(self, tenant: str, external_id: str, language: str) -> Article | None:
        """The variant an import row with this external id refers to (an article exported without
        an external id carries its group id there, so that one is looked up too)."""
        with self.engine.connect() as conn:
            for column in (articles_table.c.external_id, articles_table.c.group_id):
                row = conn.execute(sa.select(articles_table).where(
                    articles_table.c.tenant == tenant, column == external_id,
                    articles_table.c.language == language)).mappings().first()
                if row:
                    return _row_to_article(row)
        return None

    def group_of_external_id(self, tenant: str, external_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(articles_table.c.group_id).where(
                articles_table.c.tenant == tenant,
                sa.or_(articles_table.c.external_id == external_id, articles_table.c.group_id == external_id),
            ).limit(1)).scalar()

    def variants(self, tenant: str, group_id: str) -> list[Article]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(articles_table).where(
                articles_table.c.tenant == tenant, articles_table.c.group_id == group_id,
            ).order_by(articles_table.c.created_at)).mappings().all()
        return [_row_to_article(row) for row in rows]

    def list(self, tenant: str | None = None, *, status: str | None = None, language: str | None = None,
             campaign: str | None = None, tag: str | None = None, text: str | None = None,
             live_only: bool = False, limit: int = 1000) -> list[Article]:
        query = sa.select(articles_table).order_by(articles_table.c.group_id, articles_table.c.language)
        if tenant:
            query = query.where(articles_table.c.tenant == tenant)
        if status:
            query = query.where(articles_table.c.status == status)
        if language:
            query = query.where(articles_table.c.language == language)
        if campaign:
            query = query.where(articles_table.c.campaign == campaign)
        if live_only:
            query = query.where(articles_table.c.published_version.is_not(None))
        if text:
            pattern = f"%{text.strip().lower()}%"
            query = query.where(sa.or_(
                sa.func.lower(articles_table.c.title).like(pattern),
                sa.func.lower(articles_table.c.body).like(pattern),
                sa.func.lower(articles_table.c.reply).like(pattern),
                sa.func.lower(articles_table.c.external_id).like(pattern),
                articles_table.c.id == text.strip(),
            ))
        with self.engine.connect() as conn:
            articles = [_row_to_article(row) for row in conn.execute(query).mappings()]
        if tag:  # JSON arrays are queried differently by each database; the lists are short
            articles = [a for a in articles if tag.lower() in (t.lower() for t in a.tags)]
        return articles[:limit]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(articles_table)).scalar_one()

    def versions(self, article_id: str) -> list[ArticleVersion]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(versions_table).where(versions_table.c.article_id == article_id)
                                .order_by(versions_table.c.version)).mappings().all()
        return [ArticleVersion(**row) for row in rows]

    def version(self, article_id: str, number: int) -> ArticleVersion | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(versions_table).where(
                versions_table.c.article_id == article_id, versions_table.c.version == number)).mappings().first()
        return ArticleVersion(**row) if row else None

    def live(self, article: Article) -> Article | None:
        """The article as agents see it: the content of its published version, or None."""
        if article.published_version is None:
            return None
        if article.published_version == article.version:
            return article
        version = self.version(article.id, article.published_version)
        if version is None:
            return None
        return article.model_copy(update={**version.content, "status": "published"})

    # -- databases written before the workflow ---------------------------------------------

    def _backfill_legacy_articles(self) -> None:
        """Articles from before versions existed were all live: give each a first, published
        version so that they stay what agents see (``version`` 0 marks them)."""
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(articles_table).where(articles_table.c.version == 0)).mappings().all()
            now = _now()
            for row in rows:
                values = dict(status="published", version=1, published_version=1, updated_by="migration")
                conn.execute(articles_table.update().where(articles_table.c.id == row["id"]).values(**values))
                self._write_version(conn, _row_to_article({**row, **values}), "migrated", "migration",
                                    "article from before versioning", now)
        self.migrated_ids = [row["id"] for row in rows]
