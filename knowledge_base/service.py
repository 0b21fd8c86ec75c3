"""The knowledge base as trainers and agents use it: the workflow over stored articles, with
the search index holding exactly the published content."""

from __future__ import annotations

import difflib
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

from retrieval.chunking import article_passages
from retrieval.index import Hit, PassageIndex

from .articles import CONTENT_FIELDS, Article, ArticleContent, ArticleIn, ArticleStore, VersionConflict
from .workflow import RECORDED_AS, WorkflowError, check_publishable, next_status, status_after_edit

log = logging.getLogger(__name__)

__all__ = ["Answer", "KnowledgeBase", "VersionConflict", "WorkflowError"]


@dataclass
class Answer:
    """A published article that answers a question, in the wanted language when a variant exists."""

    article: Article  # the live content of the variant shown
    score: float
    matched_language: str  # the language of the passage that matched
    requested_language: str | None

    @property
    def text(self) -> str:
        return self.article.answer_text

    @property
    def language_fallback(self) -> bool:
        """True when no variant is in the wanted language and the original is shown instead."""
        return bool(self.requested_language) and self.article.language != self.requested_language


def unified_diff(before: Any, after: Any, name: str) -> list[str]:
    def lines(value: Any) -> list[str]:
        if value is None:
            return []
        if isinstance(value, list):
            return [str(item) for item in value]
        return str(value).splitlines()

    return list(difflib.unified_diff(lines(before), lines(after), fromfile=name, tofile=name, lineterm=""))


class KnowledgeBase:
    def __init__(self, store: ArticleStore, index: PassageIndex):
        self.store = store
        self.index = index
        # Articles whose index update waits for the end of a batch (per thread: see batched()).
        self._batch = threading.local()
        # Called with the ids of the articles each index update touched (a cluster tells its other
        # nodes, whose embedded indexes then ``refresh`` them).
        self.listeners: list[Callable[[list[str]], None]] = []
        if index.count() == 0:  # a new index (or one from an older Rafiq) over a database with content
            live = store.list(live_only=True, limit=1_000_000)
            if live:
                with self.batched():
                    for article in live:
                        self._sync_index(article)
                log.info("published articles indexed into an empty index", extra={"articles": len(live)})

    # -- the index holds published content only ---------------------------------------------

    @staticmethod
    def _passages(live: Article):
        return article_passages(
            article_id=live.id, group=live.group_id, tenant=live.tenant, campaign=live.campaign,
            language=live.language, title=live.title, body=live.body or live.reply, questions=tuple(live.questions))

    def _sync_index(self, article: Article | None) -> None:
        """Make the index hold the article's live (published) content, or nothing of it; inside
        ``batched()`` this waits for the end of the block, else it is a batch of one."""
        if article is None:
            return
        with self.batched():
            self._batch.articles[article.id] = article

    @contextmanager
    def batched(self):
        """Index the articles changed inside the block together at its end: one embedding pass
        over all their passages instead of one per article (the seed, bulk imports)."""
        if getattr(self._batch, "articles", None) is not None:  # already inside a batch
            yield
            return
        self._batch.articles = {}
        try:
            yield
        finally:
            articles, self._batch.articles = self._batch.articles, None
            passages = []
            for article in articles.values():
                self.index.delete_article(article.id)
                live = self.store.live(self.store.get(article.id) or article)
                if live is not None:
                    passages.extend(self._passages(live))
            self.index.upsert(passages)
            log.info("articles indexed", extra={"articles": len(articles), "passages": len(passages)})
            for listener in self.listeners:
                listener(list(articles))

    def refresh(self, article_ids: list[str]) -> None:
        """Make the index hold what the store has published of these articles now (changes made
        by another process on the same database); tells no listener."""
        passages = []
        for article_id in article_ids:
            self.index.delete_article(article_id)
            article = self.store.get(article_id)
            live = self.store.live(article) if article is not None else None
            if live is not None:
                passages.extend(self._passages(live))
        if passages:
            self.index.upsert(passages)

    # -- the curation workflow ----------------------------------------------------------------

    def create(self, data: ArticleIn, author: str, publish: bool = False, note: str = "") -> Article:
        """A new draft; with ``publish`` a trusted trainer creates and publishes in one go
        (recorded as two versions, both by the author)."""
        article = self.store.create(data, author=author, note=note)
        log.info("article created", extra={"article_id": article.id, "tenant": article.tenant, "author": author})
        if publish:
            check_publishable(article.body, article.reply)
            article = self.store.change(article.id, author=author, action="published", status="published",
                                        published_version="current", note=note)
            self._sync_index(article)
        return article

    def edit(self, article_id: str, changes: dict[str, Any], author: str, note: str = "",
             base_version: int | None = None, publish: bool = False) -> tuple[Article, bool]:
        """Apply content changes; returns the article and whether anything changed (an edit that
        changes nothing makes no version). The edited article is a draft again."""
        article = self._get(article_id)
        if base_version is not None and base_version != article.version:
            raise VersionConflict(article_id, base_version, article.version)
        merged = ArticleContent(**{**{f: getattr(article, f) for f in CONTENT_FIELDS}, **changes})
        new_content = merged.model_dump()
        if all(new_content[f] == getattr(article, f) for f in CONTENT_FIELDS):
            if publish and article.status != "published":
                return self._publish_now(article, author, note), True
            return article, False
        status = status_after_edit(article.status)
        article = self.store.change(article_id, author=author, action="edited", note=note, content=new_content,
                                    status=status, base_version=article.version)
        log.info("article edited", extra={"article_id": article_id, "version": article.version, "author": author})
        if publish:
            article = self._publish_now(article, author, note)
        return article, True

    def _publish_now(self, article: Article, author: str, note: str) -> Article:
        check_publishable(article.body, article.reply)
        article = self.store.change(article.id, author=author, action="published", status="published",
                                    published_version="current", note=note)
        self._sync_index(article)
        return article

    def transition(self, article_id: str, action: str, author: str, note: str = "") -> Article:
        article = self._get(article_id)
        status = next_status(action, article.status)
        if action in ("submit", "publish"):
            check_publishable(article.body, article.reply)
        live: Any = "keep"
        if action == "publish":
            live = "current"
        elif action == "archive":
            live = None
        article = self.store.change(article_id, author=author, action=RECORDED_AS[action], note=note, status=status,
                                    published_version=live, base_version=article.version)
        log.info("article status changed", extra={"article_id": article_id, "action": action, "status": status,
                                                  "version": article.version, "author": author})
        if action in ("publish", "archive"):
            self._sync_index(article)
        return article

    def rollback(self, article_id: str, version: int, author: str, note: str = "") -> Article:
        """A new version with the content of an old one. Rolling a published article back to a
        version that was itself published puts it live at once (undoing a bad publish must not
        wait for a review); any other rollback is a draft, the live version staying as it is."""
        article = self._get(article_id)
        old = self.store.version(article_id, version)
        if old is None:
            raise WorkflowError("unknown_version", f"article {article_id} has no version {version}")
        if article.status == "archived":
            raise WorkflowError("archived", "an archived article cannot be rolled back; restore it first")
        content = {f: old.content.get(f) for f in CONTENT_FIELDS}
        content["questions"] = content["questions"] or []
        content["reply"] = content["reply"] or ""
        republish = article.status == "published" and old.status == "published"
        article = self.store.change(
            article_id, author=author, action="rolled_back", note=note or f"rolled back to version {version}",
            content=content, status="published" if republish else "draft",
            published_version="current" if republish else "keep", base_version=article.version)
        log.info("article rolled back", extra={"article_id": article_id, "to_version": version,
                                               "version": article.version, "republished": republish})
        if republish:
            self._sync_index(article)
        return article

    def add_translation(self, source_id: str, language: str, content: ArticleContent, author: str,
                        note: str = "") -> Article:
        source = self._get(source_id)
        if self.store.variant(source.tenant, source.group_id, language):
            raise WorkflowError("variant_exists", f"the article already has a {language} variant")
        values = content.model_dump()
        values["campaign"] = values["campaign"] or source.campaign  # a translation serves the same campaign
        data = ArticleIn(**values, language=language, tenant=source.tenant, group_id=source.group_id,
                         external_id=source.external_id)
        return self.create(data, author=author, note=note or f"translation of {source.id} ({source.language})")

    def diff(self, article_id: str, from_version: int, to_version: int) -> dict[str, Any]:
        before, after = self.store.version(article_id, from_version), self.store.version(article_id, to_version)
        if before is None or after is None:
            missing = from_version if before is None else to_version
            raise WorkflowError("unknown_version", f"article {article_id} has no version {missing}")
        fields = []
        for name in (*CONTENT_FIELDS, "status"):
            old = before.status if name == "status" else before.content.get(name)
            new = after.status if name == "status" else after.content.get(name)
            if (old or None) != (new or None):
                fields.append({"field": name, "before": old, "after": new, "diff": unified_diff(old, new, name)})
        return {"article_id": article_id, "from_version": from_version, "to_version": to_version, "changes": fields}

    def _get(self, article_id: str) -> Article:
        article = self.store.get(article_id)
        if article is None:
            raise KeyError(article_id)
        return article

    # -- what agents see ------------------------------------------------------------------------

    def search(self, query: str, tenant: str = "default", k: int = 5, language: str | None = None,
               campaign: str | None = None) -> list[Hit]:
        return self.index.search(query, tenant=tenant, k=k, language=language, campaign=campaign)

    def answers(self, question: str, tenant: str, language: str | None, campaign: str | None = None,
                k: int = 3) -> list[Answer]:
        """Published answers to a question asked in any language (the embeddings are cross-lingual),
        one per article group, each in ``language`` when a published variant exists, else in its
        own language (``Answer.language_fallback``)."""
        answers: list[Answer] = []
        hits = self.index.search(question, tenant=tenant, k=k * 3, campaign=campaign)
        # A group is ranked where its first variant is, and scored by its best-matching variant:
        # the shown text is the group's, so its confidence is the group's too.
        group_score: dict[str, float] = {}
        for hit in hits:
            group_score[hit.passage.group] = max(hit.score, group_score.get(hit.passage.group, 0.0))
        seen: set[str] = set()
        for hit in hits:
            group = hit.passage.group
            if group in seen:
                continue
            seen.add(group)
            shown = None
            if language and language != hit.passage.language:
                variant = self.store.variant(tenant, group, language)
                shown = self.store.live(variant) if variant else None
            if shown is None:
                matched = self.store.get(hit.passage.article_id)
                shown = self.store.live(matched) if matched else None
            if shown is None:  # unpublished since the search ran
                continue
            answers.append(Answer(article=shown, score=group_score[group], matched_language=hit.passage.language,
                                  requested_language=language))
            if len(answers) == k:
                break
        return answers

    def live_article(self, article_id: str) -> Article | None:
        article = self.store.get(article_id)
        return self.store.live(article) if article else None
