"""Knowledge base: add articles, read them, search them."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Query, Request

from knowledge_base.articles import Article, ArticleIn, LANGUAGES

from .deps import services

router = APIRouter(prefix="/v1/kb", tags=["knowledge base"])


@router.post("/articles", status_code=201)
async def create_article(request: Request, body: ArticleIn) -> Article:
    return await asyncio.to_thread(services(request).kb.add, body)


@router.get("/articles/{article_id}")
async def get_article(request: Request, article_id: str) -> Article:
    article = await asyncio.to_thread(services(request).kb.store.get, article_id)
    if article is None:
        raise HTTPException(404, {"code": "unknown_article", "message": f"no article {article_id!r}"})
    return article


@router.get("/articles")
async def list_articles(request: Request, tenant: str = "default") -> dict:
    return {"articles": await asyncio.to_thread(services(request).kb.store.list, tenant)}


def _snippet(text: str, length: int = 240) -> str:
    return text if len(text) <= length else text[:length].rsplit(" ", 1)[0] + "…"


@router.get("/search")
async def search(request: Request, q: str = Query(min_length=1, max_length=2000), k: int = Query(5, ge=1, le=50),
                 language: str | None = None, tenant: str = "default") -> dict:
    if language is not None and language not in LANGUAGES:
        raise HTTPException(422, {"code": "bad_language", "message": f"language must be one of {', '.join(LANGUAGES)}"})
    hits = await asyncio.to_thread(services(request).kb.search, q, tenant, k, language)
    return {"results": [
        {"article_id": h.passage.article_id, "group_id": h.passage.group, "title": h.passage.title,
         "language": h.passage.language, "score": round(h.score, 4), "snippet": _snippet(h.passage.text)}
        for h in hits
    ]}
