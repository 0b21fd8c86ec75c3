"""Knowledge base over HTTP: articles and their workflow, versions, translations, search and
answers, bulk import and export. Trainers write; agents read published content only."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError, field_validator

from knowledge_base.articles import STATUSES, Article, ArticleContent, ArticleIn, ArticleVersion, check_language
from knowledge_base.imports import EXPORTERS, ImportFormatError, read_upload
from knowledge_base.service import VersionConflict, WorkflowError

from accounts import Principal

from .auth import AuthError, Caller, set_audit_target
from .deps import services

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/kb", tags=["knowledge base"])

Note = Field(default="", max_length=1000, description="why: kept with the version")
CURATORS = ("trainer", "supervisor")  # see every status and the history; agents see published content only


def _curator(caller: Principal) -> bool:
    return caller.has(*CURATORS)


def _error(status: int, code: str, message: str) -> HTTPException:
    return HTTPException(status, {"code": code, "message": message})


def _unknown(article_id: str) -> HTTPException:
    return _error(404, "unknown_article", f"no article {article_id!r}")


async def _own(request: Request, caller: Principal, article_id: str) -> Article:
    """The article, if it is of the caller's tenant; another tenant's answers 404 like a missing one."""
    article = await asyncio.to_thread(services(request).kb.store.get, article_id)
    if article is None or article.tenant != caller.tenant:
        raise _unknown(article_id)
    return article


def _language(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_language(value)
    except ValueError as exc:
        raise _error(422, "bad_language", str(exc)) from None


async def _run(func, *args, **kwargs):
    """Run a knowledge-base call in a thread, turning its refusals into HTTP errors."""
    try:
        return await asyncio.to_thread(func, *args, **kwargs)
    except KeyError as exc:
        raise _unknown(str(exc.args[0])) from None
    except VersionConflict as exc:
        raise _error(409, "version_conflict", f"{exc}: reload it and apply your change again") from None
    except WorkflowError as exc:
        status = 404 if exc.code == "unknown_version" else 409
        raise _error(status, exc.code, exc.message) from None
    except ValidationError as exc:  # the edit, merged into the article, makes an invalid article
        first = exc.errors()[0]
        raise _error(422, "bad_article", f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


# -- request bodies -------------------------------------------------------------------------------

class ArticleCreate(ArticleIn):
    publish: bool = Field(default=False, description="publish at once, skipping review (trainers only)")
    note: str = Note


class ArticleEdit(BaseModel):
    """Only the fields given change; ``base_version`` refuses the edit if someone saved since."""

    title: str | None = Field(default=None, min_length=1, max_length=500)
    body: str | None = Field(default=None, max_length=50_000)
    reply: str | None = Field(default=None, max_length=2_000)
    tags: list[str] | None = Field(default=None, max_length=50)
    questions: list[str] | None = Field(default=None, max_length=50)
    campaign: str | None = Field(default=None, max_length=64)
    base_version: int | None = Field(default=None, ge=1)
    note: str = Note

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value


class TransitionIn(BaseModel):
    note: str = Note


class RollbackIn(BaseModel):
    version: int = Field(ge=1)
    note: str = Note


class TranslationIn(ArticleContent):
    language: str
    note: str = Note

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        return check_language(value)


class ArticleList(BaseModel):
    articles: list[Article]


class VersionList(BaseModel):
    article_id: str
    versions: list[ArticleVersion]


class SearchResult(BaseModel):
    article_id: str
    group_id: str
    title: str
    language: str
    score: float
    snippet: str
    reply: str = ""


class AnswerOut(BaseModel):
    article_id: str
    group_id: str
    title: str
    language: str
    requested_language: str | None
    language_fallback: bool = Field(description="no variant in the requested language: the original is shown")
    matched_language: str
    text: str = Field(description="the agent-ready short reply, else the body")
    score: float


# -- articles -------------------------------------------------------------------------------------

@router.post("/articles", status_code=201)
async def create_article(request: Request, body: ArticleCreate, caller: Caller) -> Article:
    """A new draft (or, with ``publish``, a published article). Giving the ``group_id`` of an
    existing article adds its variant in ``language``, or edits that variant if it exists."""
    kb = services(request).kb
    if "tenant" in body.model_fields_set and body.tenant != caller.tenant:
        raise AuthError(403, "other_tenant", "articles are written in your own tenant")
    data = ArticleIn(**{**body.model_dump(exclude={"publish", "note"}), "tenant": caller.tenant})
    if data.group_id:
        existing = await asyncio.to_thread(kb.store.variant, data.tenant, data.group_id, data.language)
        if existing is not None:
            article, _ = await _run(kb.edit, existing.id, data.model_dump(include=set(ArticleContent.model_fields)),
                                    caller.name, body.note, None, body.publish)
            set_audit_target(request, article.id)
            return article
    article = await _run(kb.create, data, caller.name, body.publish, body.note)
    set_audit_target(request, article.id)
    return article


@router.get("/articles")
async def list_articles(request: Request, caller: Caller, status: str | None = None,
                        language: str | None = None, campaign: str | None = None, tag: str | None = None,
                        q: str | None = Query(None, max_length=200), limit: int = Query(1000, ge=1, le=5000),
                        ) -> ArticleList:
    """Trainers and supervisors: every status, filtered. Agents: published content only."""
    if status is not None and status not in STATUSES:
        raise _error(422, "bad_status", f"status must be one of {', '.join(STATUSES)}")
    kb = services(request).kb
    tenant = caller.tenant
    if _curator(caller):
        articles = await asyncio.to_thread(kb.store.list, tenant, status=status, language=_language(language),
                                           campaign=campaign, tag=tag, text=q, limit=limit)
        return ArticleList(articles=articles)

    def published() -> list[Article]:
        rows = kb.store.list(tenant, language=_language(language), campaign=campaign, tag=tag, live_only=True,
                             limit=limit)
        live = [kb.store.live(a) for a in rows]
        needle = (q or "").lower()
        return [a for a in live if a and (not needle or needle in f"{a.title}\n{a.body}\n{a.reply}".lower())]

    return ArticleList(articles=await asyncio.to_thread(published))


@router.get("/articles/{article_id}")
async def get_article(request: Request, article_id: str, caller: Caller) -> Article:
    kb = services(request).kb
    await _own(request, caller, article_id)
    if _curator(caller):
        article = await asyncio.to_thread(kb.store.get, article_id)
    else:
        article = await asyncio.to_thread(kb.live_article, article_id)
    if article is None:
        raise _unknown(article_id)
    return article


@router.patch("/articles/{article_id}")
async def edit_article(request: Request, article_id: str, body: ArticleEdit, caller: Caller) -> Article:
    await _own(request, caller, article_id)
    changes = body.model_dump(exclude={"base_version", "note"}, exclude_unset=True)
    if any(name in changes and changes[name] is None for name in ("title", "body", "reply", "tags", "questions")):
        raise _error(422, "bad_edit", "title, body, reply, tags and questions cannot be null")
    article, _ = await _run(services(request).kb.edit, article_id, changes, caller.name, body.note, body.base_version)
    return article


def _transition(action: str):
    async def endpoint(request: Request, article_id: str, caller: Caller, body: TransitionIn | None = None) -> Article:
        await _own(request, caller, article_id)
        return await _run(services(request).kb.transition, article_id, action, caller.name, body.note if body else "")
    endpoint.__name__ = f"{action}_article"
    endpoint.__doc__ = {
        "submit": "draft → in_review: ask for a review.",
        "publish": "in_review → published: agents see this version from now on.",
        "reject": "in_review → draft: back to the author, with the reviewer's note.",
        "archive": "draft, in_review or published → archived: agents no longer see it.",
        "restore": "archived → draft.",
    }[action]
    return endpoint


for _action in ("submit", "publish", "reject", "archive", "restore"):
    router.add_api_route(f"/articles/{{article_id}}/{_action}", _transition(_action), methods=["POST"],
                         response_model=Article)


@router.get("/articles/{article_id}/versions")
async def list_versions(request: Request, article_id: str, caller: Caller) -> VersionList:
    await _own(request, caller, article_id)
    store = services(request).kb.store
    versions = await asyncio.to_thread(store.versions, article_id)
    if not versions:
        raise _unknown(article_id)
    return VersionList(article_id=article_id, versions=versions)


@router.get("/articles/{article_id}/diff")
async def diff_versions(request: Request, article_id: str, from_version: int | None = Query(None, ge=1),
                        to_version: int | None = Query(None, ge=1), *, caller: Caller) -> dict[str, Any]:
    """What changed between two versions (default: the current one and the one before), field by
    field, as unified diffs."""
    kb = services(request).kb
    article = await _own(request, caller, article_id)
    to_version = to_version or article.version
    from_version = from_version or max(1, to_version - 1)
    return await _run(kb.diff, article_id, from_version, to_version)


@router.post("/articles/{article_id}/rollback")
async def rollback_article(request: Request, article_id: str, body: RollbackIn, caller: Caller) -> Article:
    await _own(request, caller, article_id)
    return await _run(services(request).kb.rollback, article_id, body.version, caller.name, body.note)


@router.get("/articles/{article_id}/translations")
async def list_translations(request: Request, article_id: str, caller: Caller) -> ArticleList:
    """The article's language variants (itself included)."""
    kb = services(request).kb
    article = await _own(request, caller, article_id)
    if not _curator(caller) and article.published_version is None:
        raise _unknown(article_id)
    variants = await asyncio.to_thread(kb.store.variants, article.tenant, article.group_id)
    if not _curator(caller):
        variants = [live for live in (kb.store.live(v) for v in variants) if live]
    return ArticleList(articles=variants)


@router.post("/articles/{article_id}/translations", status_code=201)
async def add_translation(request: Request, article_id: str, body: TranslationIn, caller: Caller) -> Article:
    """A new draft variant in another language, linked to the article (same group)."""
    await _own(request, caller, article_id)
    content = ArticleContent(**body.model_dump(exclude={"language", "note"}))
    return await _run(services(request).kb.add_translation, article_id, body.language, content, caller.name, body.note)


# -- what agents use: published content only ----------------------------------------------------

def _snippet(text: str, length: int = 240) -> str:
    return text if len(text) <= length else text[:length].rsplit(" ", 1)[0] + "…"


@router.get("/search")
async def search(request: Request, q: str = Query(min_length=1, max_length=2000), k: int = Query(5, ge=1, le=50),
                 language: str | None = None, campaign: str | None = None, *, caller: Caller) -> dict:
    """Published articles of the caller's tenant only, each once, best first."""
    kb = services(request).kb
    hits = await asyncio.to_thread(kb.search, q, caller.tenant, k, _language(language), campaign)

    def results() -> list[SearchResult]:
        out = []
        for hit in hits:
            live = kb.live_article(hit.passage.article_id)
            out.append(SearchResult(
                article_id=hit.passage.article_id, group_id=hit.passage.group, title=hit.passage.title,
                language=hit.passage.language, score=round(hit.score, 4),
                snippet=_snippet(live.body if live else hit.passage.text), reply=live.reply if live else ""))
        return out

    return {"results": [r.model_dump() for r in await asyncio.to_thread(results)]}


@router.get("/answers")
async def answers(request: Request, q: str = Query(min_length=1, max_length=2000), language: str | None = None,
                  campaign: str | None = None, k: int = Query(3, ge=1, le=20), *, caller: Caller) -> dict:
    """What an agent is offered for a customer's question: published answers, in the customer's
    ``language`` when a variant exists, else the original with ``language_fallback`` set."""
    kb = services(request).kb
    found = await asyncio.to_thread(kb.answers, q, caller.tenant, _language(language), campaign, k)
    return {"answers": [AnswerOut(
        article_id=a.article.id, group_id=a.article.group_id, title=a.article.title, language=a.article.language,
        requested_language=a.requested_language, language_fallback=a.language_fallback,
        matched_language=a.matched_language, text=a.text, score=round(a.score, 4)).model_dump() for a in found]}


# -- bulk import and export -----------------------------------------------------------------------

async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await upload.read(1 << 20):
        size += len(chunk)
        if size > limit:
            raise _error(413, "upload_too_large", f"the upload is over {limit} bytes (RAFIQ_KB_IMPORT_MAX_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/import")
async def import_articles(request: Request, caller: Caller, file: UploadFile = File(...),
                          format: Literal["jsonl", "csv", "markdown"] | None = None,
                          publish: bool = False, wait: bool = False) -> JSONResponse:
    """Import a JSON Lines file, a CSV file, a Markdown file or a zip of Markdown files.

    Runs in the background: 202 with an ``import_id`` to poll at ``/v1/kb/imports/{id}`` for the
    progress and the per-row report; ``wait=true`` answers with the finished report instead.
    A file that cannot be read at all is refused (400) before any row is imported.
    """
    svc = services(request)
    content = await _read_limited(file, svc.settings.kb_import_max_bytes)
    if not content.strip():
        raise _error(400, "empty_file", "the uploaded file is empty")
    filename = file.filename or f"upload.{format or 'jsonl'}"
    try:
        fmt, rows = await asyncio.to_thread(read_upload, content, filename, format)
    except ImportFormatError as exc:
        raise _error(400, exc.code, exc.message) from None
    if not rows:
        raise _error(400, "no_rows", "the file holds no article")
    job = svc.imports.start(rows, fmt=fmt, filename=filename, tenant=caller.tenant, author=caller.name,
                            publish=publish)
    if wait:
        while job.status == "running":
            await asyncio.sleep(0.05)
        return JSONResponse(job.view(), status_code=200 if job.status == "done" else 500)
    return JSONResponse(job.view(), status_code=202)


@router.get("/imports/{import_id}")
async def import_progress(request: Request, import_id: str, caller: Caller) -> dict:
    job = services(request).imports.get(import_id)
    if job is None or job.tenant != caller.tenant:
        raise _error(404, "unknown_import", f"no import {import_id!r} (imports are kept in memory until a restart)")
    return job.view()


@router.get("/export")
async def export_articles(request: Request, format: Literal["jsonl", "csv", "markdown"] = "jsonl",
                          status: str | None = None, language: str | None = None,
                          campaign: str | None = None, *, caller: Caller) -> Response:
    """Every article (working copy, all statuses unless filtered) in a format the import reads back."""
    if status is not None and status not in STATUSES:
        raise _error(422, "bad_status", f"status must be one of {', '.join(STATUSES)}")
    store = services(request).kb.store
    tenant = caller.tenant
    articles = await asyncio.to_thread(store.list, tenant, status=status, language=_language(language),
                                       campaign=campaign, limit=1_000_000)
    exporter, media_type, filename = EXPORTERS[format]
    content = await asyncio.to_thread(exporter, articles)
    log.info("articles exported", extra={"format": format, "tenant": tenant, "articles": len(articles),
                                         "user": caller.name})
    return Response(content, media_type=media_type,
                    headers={"content-disposition": f'attachment; filename="{tenant}-{filename}"'})

