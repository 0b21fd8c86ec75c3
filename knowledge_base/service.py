"""The knowledge base as agents and trainers use it: stored articles, kept searchable."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from retrieval.index import Hit, Passage, PassageIndex

from .articles import Article, ArticleIn, ArticleStore

log = logging.getLogger(__name__)

SEED_FILE = Path(__file__).parent / "seed" / "articles.jsonl"


@dataclass
class Answer:
    """A ranked article for a question, shown in the wanted language when a variant exists."""

    article: Article
    score: float
    matched_language: str  # the language of the passage that matched


def passages_of(article: Article) -> list[Passage]:
    common = dict(article_id=article.id, tenant=article.tenant, language=article.language, title=article.title,
                  text=article.body, group=article.group_id)
    return [Passage(**common, kind="body"), Passage(**common, kind="title")]


class KnowledgeBase:
    def __init__(self, store: ArticleStore, index: PassageIndex):
        self.store = store
        self.index = index

    def add(self, data: ArticleIn) -> Article:
        article = self.store.upsert(data)
        self._index(article)
        return article

    def _index(self, article: Article) -> None:
        self.index.upsert(passages_of(article))

    def search(self, query: str, tenant: str = "default", k: int = 5, language: str | None = None) -> list[Hit]:
        return self.index.search(query, tenant=tenant, k=k, language=language)

    def answers(self, question: str, tenant: str, language: str | None, k: int = 3) -> list[Answer]:
        """Best articles for a question across all languages (the embeddings are cross-lingual),
        one per article group, each in ``language`` when that variant exists."""
        answers: list[Answer] = []
        seen: set[str] = set()
        for hit in self.index.search(question, tenant=tenant, k=k * 3):
            group = hit.passage.group
            if group in seen:
                continue
            seen.add(group)
            article = (language and self.store.variant(tenant, group, language)) or self.store.get(hit.passage.article_id)
            if article is None:
                continue
            answers.append(Answer(article=article, score=hit.score, matched_language=hit.passage.language))
            if len(answers) == k:
                break
        return answers

    def load_seed(self, path: Path = SEED_FILE, tenant: str = "default") -> int:
        """Load the seed articles; running it again updates them instead of duplicating them."""
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        articles = []
        for number, row in enumerate(rows, 1):
            articles.append(self.store.upsert(ArticleIn(
                title=row["title"], body=row["body"], language=row["language"], tags=row.get("tags", []),
                campaign=row.get("campaign"), tenant=tenant, group_id=row["key"],
            )))
            if number % 25 == 0 or number == len(rows):
                log.info("seed articles stored", extra={"done": number, "total": len(rows)})
        batch = 32
        for start in range(0, len(articles), batch):
            chunk = articles[start:start + batch]
            self.index.upsert([p for article in chunk for p in passages_of(article)])
            log.info("seed articles indexed", extra={"done": start + len(chunk), "total": len(articles)})
        return len(articles)
