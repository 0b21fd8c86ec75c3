"""Bulk import and export of articles: JSON Lines, CSV, and Markdown files with YAML front matter.

Every format carries the same fields per row (one row = one language variant):
``external_id`` (required: the article's id in the trainers' own source; all variants of an
article share it), ``language``, ``title``, ``body``, ``reply``, ``tags``, ``questions``,
``campaign``. A row is matched to an existing variant by (tenant, external_id, language), so
importing the same file again changes nothing. A bad row is reported with its line (or file)
and reason; the other rows import.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import threading
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator, Literal

import yaml
from pydantic import BaseModel, ValidationError

from .articles import Article, ArticleIn, CONTENT_FIELDS
from .service import KnowledgeBase, VersionConflict, WorkflowError

log = logging.getLogger(__name__)

Format = Literal["jsonl", "csv", "markdown"]
FORMATS: tuple[str, ...] = ("jsonl", "csv", "markdown")
SEED_FILE = Path(__file__).parent / "seed" / "articles.jsonl"
EXPORT_FIELDS = ("external_id", "language", "title", "body", "reply", "tags", "questions", "campaign", "status")
# Older names of external_id: the seed's "key", and "id" as other tools export it.
EXTERNAL_ID_ALIASES = ("external_id", "key", "id")
MAX_MARKDOWN_FILES = 10_000
IMPORT_BATCH = 50  # rows indexed together (and the progress step)
MAX_UNZIPPED_BYTES = 200 << 20


class ImportFormatError(Exception):
    """The file as a whole cannot be read (wrong format, encoding or archive)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class RowResult(BaseModel):
    where: str  # "line 3" or a Markdown file's path
    status: Literal["created", "updated", "unchanged", "error"]
    external_id: str | None = None
    language: str | None = None
    article_id: str | None = None
    reason: str | None = None


class ImportReport(BaseModel):
    format: str
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: int = 0
    rows: list[RowResult] = []


@dataclass
class RawRow:
    where: str
    data: dict[str, Any] | None
    problem: str | None = None  # the row could not even be parsed


# -- reading each format into raw rows ------------------------------------------------------------

def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFormatError("bad_encoding", f"the file is not UTF-8 text (byte {exc.start})") from None


def read_jsonl(content: bytes) -> Iterator[RawRow]:
    for number, line in enumerate(_decode(content).splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RawRow(f"line {number}", None, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(data, dict):
            yield RawRow(f"line {number}", None, "not a JSON object")
            continue
        yield RawRow(f"line {number}", data)


def _split_list(value: Any, separators: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [part.strip() for part in re.split(f"[{re.escape(separators)}]", str(value)) if part.strip()]


def read_csv(content: bytes) -> Iterator[RawRow]:
    """A header row, then one row per variant; ``tags`` separated by ``;`` or ``,``,
    ``questions`` one per line inside their cell."""
    text = _decode(content)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise ImportFormatError("bad_header", "the CSV file is empty") from None
    except csv.Error as exc:
        raise ImportFormatError("bad_format", f"not a CSV file: {exc}") from None
    if "title" not in header or "language" not in header or not set(EXTERNAL_ID_ALIASES) & set(header):
        raise ImportFormatError("bad_header", "the CSV header must name at least external_id, language and title")
    line_end = reader.line_num
    while True:
        start = line_end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRow(f"line {start}", None, f"unreadable CSV: {exc}")
            return
        line_end = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield RawRow(f"line {start}", None, f"{len(cells)} cells where the header has {len(header)}")
            continue
        data: dict[str, Any] = {name: value for name, value in zip(header, cells) if value.strip() or name == "body"}
        data["tags"] = _split_list(data.get("tags"), ";,")
        data["questions"] = _split_list(data.get("questions"), "\n")
        yield RawRow(f"line {start}", data)


FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


def parse_markdown(text: str, where: str) -> RawRow:
    match = FRONT_MATTER.match(text)
    if not match:
        return RawRow(where, None, "no YAML front matter (the file must start with a --- line)")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        return RawRow(where, None, f"invalid YAML front matter: {str(exc).splitlines()[0]}")
    if not isinstance(meta, dict):
        return RawRow(where, None, "the front matter is not a mapping of fields")
    body = text[match.end():].strip()
    if "title" not in meta:  # the first "# heading" is the title when the front matter has none
        heading = re.match(r"\A#\s+(.+?)\s*(?:\n|\Z)", body)
        if heading:
            meta["title"] = heading.group(1)
            body = body[heading.end():].strip()
    meta["body"] = body
    meta["tags"] = _split_list(meta.get("tags"), ";,")
    meta["questions"] = _split_list(meta.get("questions"), "\n")
    return RawRow(where, {k: v for k, v in meta.items() if v is not None})


def read_markdown_zip(content: bytes) -> Iterator[RawRow]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise ImportFormatError("bad_zip", "not a zip archive of Markdown files") from None
    members = sorted((i for i in archive.infolist() if not i.is_dir() and i.filename.lower().endswith(".md")
                      and not PurePosixPath(i.filename).name.startswith(".")
                      and "__MACOSX" not in i.filename), key=lambda i: i.filename)
    if not members:
        raise ImportFormatError("bad_zip", "the archive holds no .md file")
    if len(members) > MAX_MARKDOWN_FILES or sum(i.file_size for i in members) > MAX_UNZIPPED_BYTES:
        raise ImportFormatError("too_large", f"at most {MAX_MARKDOWN_FILES} files and "
                                             f"{MAX_UNZIPPED_BYTES >> 20} MiB unpacked")
    for info in members:
        try:
            text = archive.read(info).decode("utf-8-sig")
        except UnicodeDecodeError:
            yield RawRow(info.filename, None, "not UTF-8 text")
            continue
        yield parse_markdown(text, info.filename)


def read_markdown_folder(folder: Path) -> Iterator[RawRow]:
    for path in sorted(folder.rglob("*.md")):
        where = str(path.relative_to(folder))
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            yield RawRow(where, None, "not UTF-8 text")
            continue
        yield parse_markdown(text, where)


def detect_format(filename: str) -> Format:
    name = filename.lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".zip", ".md", ".markdown")):
        return "markdown"
    raise ImportFormatError("unsupported_format", f"cannot tell the format of {filename!r}: "
                                                  "use .jsonl, .csv, .zip (of .md files) or .md")


def read_upload(content: bytes, filename: str, fmt: str | None = None) -> tuple[str, list[RawRow]]:
    fmt = fmt or detect_format(filename)
    if fmt == "jsonl":
        return fmt, list(read_jsonl(content))
    if fmt == "csv":
        return fmt, list(read_csv(content))
    if fmt == "markdown":
        if filename.lower().endswith((".md", ".markdown")):
            return fmt, [parse_markdown(_decode(content), filename)]
        return fmt, list(read_markdown_zip(content))
    raise ImportFormatError("unsupported_format", f"format must be one of {', '.join(FORMATS)}")


def read_path(path: Path) -> tuple[str, list[RawRow]]:
    """A file, or a folder of Markdown files (the CLI's way in)."""
    if path.is_dir():
        return "markdown", list(read_markdown_folder(path))
    return read_upload(path.read_bytes(), path.name)


# -- importing rows -----------------------------------------------------------------------------

def _validation_reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "row"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _external_id(data: dict[str, Any]) -> str | None:
    for name in EXTERNAL_ID_ALIASES:
        value = data.get(name)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def import_rows(kb: KnowledgeBase, rows: Iterable[RawRow], *, fmt: str, tenant: str, author: str,
                publish: bool = False, progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import each row on its own: a bad row is reported and the others go on."""
    rows = list(rows)
    report = ImportReport(format=fmt, total=len(rows))
    seen: dict[tuple[str, str], str] = {}
    for start in range(0, len(rows), IMPORT_BATCH):
        with kb.batched():  # rows are stored one by one, indexed a batch at a time
            for raw in rows[start:start + IMPORT_BATCH]:
                result = _import_row(kb, raw, tenant=tenant, author=author, publish=publish, seen=seen)
                report.rows.append(result)
                counter = "errors" if result.status == "error" else result.status
                setattr(report, counter, getattr(report, counter) + 1)
        done = len(report.rows)
        if progress:
            progress(done, len(rows))
        log.info("import progress", extra={"format": fmt, "tenant": tenant, "done": done, "total": len(rows),
                                           "rows_created": report.created, "rows_updated": report.updated,
                                           "rows_unchanged": report.unchanged, "rows_refused": report.errors})
    return report


def _import_row(kb: KnowledgeBase, raw: RawRow, *, tenant: str, author: str, publish: bool,
                seen: dict[tuple[str, str], str]) -> RowResult:
    if raw.data is None:
        return RowResult(where=raw.where, status="error", reason=raw.problem)
    data = raw.data
    external_id = _external_id(data)
    language = str(data.get("language") or "").strip().lower() or None
    result = RowResult(where=raw.where, status="error", external_id=external_id, language=language)
    if external_id is None:
        result.reason = "external_id is missing"
        return result
    if len(external_id) > 128:
        result.reason = "external_id is longer than 128 characters"
        return result
    try:
        article_in = ArticleIn(**{k: data[k] for k in (*CONTENT_FIELDS, "language") if k in data},
                               tenant=tenant, external_id=external_id)
    except ValidationError as exc:
        result.reason = _validation_reason(exc)
        return result
    key = (external_id, article_in.language)
    if key in seen:
        result.reason = f"same external_id and language as {seen[key]}"
        return result
    seen[key] = raw.where
    note = f"imported ({raw.where})"
    try:
        existing = kb.store.by_external_id(tenant, external_id, article_in.language)
        if existing is None:
            group = kb.store.group_of_external_id(tenant, external_id) or external_id
            article = kb.create(article_in.model_copy(update={"group_id": group}), author=author, publish=publish,
                                note=note)
            result.status = "created"
        else:
            article, changed = kb.edit(existing.id, article_in.model_dump(include=set(CONTENT_FIELDS)),
                                       author=author, note=note, publish=publish)
            result.status = "updated" if changed else "unchanged"
    except (WorkflowError, VersionConflict) as exc:
        result.reason = str(exc)
        return result
    except ValidationError as exc:
        result.reason = _validation_reason(exc)
        return result
    result.article_id = article.id
    return result


def load_seed(kb: KnowledgeBase, path: Path = SEED_FILE, tenant: str = "default") -> ImportReport:
    """The bundled seed articles, published; loading them again changes nothing."""
    report = import_rows(kb, read_jsonl(path.read_bytes()), fmt="jsonl", tenant=tenant, author="seed", publish=True)
    if report.errors:
        log.error("seed rows refused", extra={"rows": [r.model_dump() for r in report.rows if r.status == "error"]})
    return report


# -- import jobs: an upload is imported in the background, its progress polled ----------------

@dataclass
class ImportJob:
    id: str
    filename: str
    tenant: str
    status: Literal["running", "done", "failed"] = "running"
    done: int = 0
    total: int = 0
    report: ImportReport | None = None
    error: str | None = None

    def view(self) -> dict[str, Any]:
        return {"import_id": self.id, "filename": self.filename, "tenant": self.tenant, "status": self.status,
                "done": self.done, "total": self.total, "error": self.error,
                "report": self.report.model_dump() if self.report else None}


@dataclass
class ImportJobs:
    """Imports in progress and recently finished, in this process's memory (lost on restart)."""

    kb: KnowledgeBase
    keep: int = 100
    jobs: dict[str, ImportJob] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, rows: list[RawRow], *, fmt: str, filename: str, tenant: str, author: str,
              publish: bool) -> ImportJob:
        job = ImportJob(id=uuid.uuid4().hex[:12], filename=filename, tenant=tenant, total=len(rows))
        with self._lock:
            self.jobs[job.id] = job
            while len(self.jobs) > self.keep:
                self.jobs.pop(next(iter(self.jobs)))

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        def run() -> None:
            try:
                job.report = import_rows(self.kb, rows, fmt=fmt, tenant=tenant, author=author, publish=publish,
                                         progress=progress)
                job.status = "done"
            except Exception as exc:  # a failure of the database or index, not of a row
                log.exception("import failed", extra={"import_id": job.id})
                job.error, job.status = str(exc), "failed"

        threading.Thread(target=run, name=f"import-{job.id}", daemon=True).start()
        log.info("import started", extra={"import_id": job.id, "format": fmt, "rows": len(rows), "tenant": tenant,
                                          "author": author})
        return job

    def get(self, job_id: str) -> ImportJob | None:
        return self.jobs.get(job_id)


# -- export ---------------------------------------------------------------------------------------

def export_row(article: Article) -> dict[str, Any]:
    return {"external_id": article.external_id or article.group_id, "language": article.language,
            "title": article.title, "body": article.body, "reply": article.reply, "tags": article.tags,
            "questions": article.questions, "campaign": article.campaign, "status": article.status}


def export_jsonl(articles: Iterable[Article]) -> bytes:
    return "".join(json.dumps(export_row(a), ensure_ascii=False) + "\n" for a in articles).encode("utf-8")


def export_csv(articles: Iterable[Article]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(EXPORT_FIELDS))
    writer.writeheader()
    for article in articles:
        row = export_row(article)
        row["tags"] = "; ".join(row["tags"])
        row["questions"] = "\n".join(row["questions"])
        row["campaign"] = row["campaign"] or ""
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def markdown_text(article: Article) -> str:
    row = export_row(article)
    body = row.pop("body")
    meta = {k: v for k, v in row.items() if v not in (None, "", [])}
    return "---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) + "---\n\n" + body + "\n"


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "article"


def export_markdown_zip(articles: Iterable[Article]) -> bytes:
    buffer = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for article in articles:
            name = f"{_safe_name(article.external_id or article.group_id)}.{article.language}.md"
            if name in used:
                name = f"{_safe_name(article.id)}.{article.language}.md"
            used.add(name)
            archive.writestr(name, markdown_text(article))
    return buffer.getvalue()


EXPORTERS: dict[str, tuple[Callable[[Iterable[Article]], bytes], str, str]] = {
    "jsonl": (export_jsonl, "application/x-ndjson", "articles.jsonl"),
    "csv": (export_csv, "text/csv; charset=utf-8", "articles.csv"),
    "markdown": (export_markdown_zip, "application/zip", "articles-markdown.zip"),
}
