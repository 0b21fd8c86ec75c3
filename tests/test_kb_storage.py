"""Knowledge-base storage on SQLite and PostgreSQL: versions, and a database written before the
curation workflow is migrated in place (columns added, articles kept live and re-indexed)."""

from __future__ import annotations

import sqlalchemy as sa

from knowledge_base.articles import ArticleIn, ArticleStore
from knowledge_base.service import KnowledgeBase
from retrieval.embeddings import UsemEmbeddings
from retrieval.index import PassageIndex
from tests.test_storage import db_engine, postgres_url  # noqa: F401  (fixtures: SQLite and PostgreSQL)

# kb_articles as Rafiq created it before versions existed.
OLD_TABLE = """
CREATE TABLE kb_articles (
    id VARCHAR(64) PRIMARY KEY, tenant VARCHAR(64) NOT NULL, group_id VARCHAR(128) NOT NULL,
    language VARCHAR(8) NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, tags JSON NOT NULL,
    campaign VARCHAR(64), created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL,
    CONSTRAINT uq_kb_article_variant UNIQUE (tenant, group_id, language))
"""


def test_versions_are_full_snapshots_with_authors(db_engine):
    store = ArticleStore(db_engine)
    article = store.create(ArticleIn(title="Horaires", body="9h-17h", language="fr", tenant="acme",
                                     questions=["Vous ouvrez à quelle heure ?"]), author="amina")
    store.change(article.id, author="karim", action="edited", note="samedi", content={"body": "9h-17h, samedi 9h-12h"})
    versions = store.versions(article.id)
    assert [(v.version, v.author, v.action) for v in versions] == [(1, "amina", "created"), (2, "karim", "edited")]
    assert versions[0].content["body"] == "9h-17h" and versions[0].content["questions"] == ["Vous ouvrez à quelle heure ?"]
    assert versions[1].note == "samedi" and store.get(article.id).version == 2


def test_database_from_before_versioning_is_migrated_and_reindexed(db_engine, tmp_path):
    with db_engine.begin() as conn:
        conn.execute(sa.text(OLD_TABLE))
        conn.execute(sa.text(
            "INSERT INTO kb_articles VALUES ('old1', 'acme', 'g-parking', 'fr', 'Parking de l''agence', "
            "'Un parking client gratuit se trouve derrière l''agence.', '[\"agence\"]', NULL, "
            "'2026-01-01 10:00:00', '2026-01-01 10:00:00')"))
    store = ArticleStore(db_engine)
    assert {"kb_articles.status", "kb_articles.reply", "kb_articles.version"} <= set(store.added_columns)
    old = store.get("old1")
    assert old.status == "published" and old.version == 1 and old.published_version == 1 and old.reply == ""
    assert [v.action for v in store.versions("old1")] == ["migrated"]
    # The new columns work like on a fresh database.
    variant = store.create(ArticleIn(title="Parking", body="Free parking.", language="en", tenant="acme",
                                     group_id="g-parking", external_id="parking"), author="t")
    assert store.by_external_id("acme", "parking", "en").id == variant.id

    # A fresh (empty) index over the migrated database gets its published articles.
    embeddings = UsemEmbeddings(threads=1)
    index = PassageIndex.open(embeddings, None, tmp_path / "index")
    try:
        kb = KnowledgeBase(store, index)
        assert index.count() > 0
        [answer] = kb.answers("Where can I park at the branch?", "acme", "en", k=1)
        assert answer.article.id == "old1" and answer.language_fallback  # the en variant is a draft
        # A second start changes nothing.
        assert ArticleStore(db_engine).added_columns == [] and len(store.versions("old1")) == 1
    finally:
        index.close()
