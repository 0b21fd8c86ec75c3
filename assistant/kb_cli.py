"""``rafiq kb import|export``: bulk knowledge-base files to and from a running server over HTTP."""

from __future__ import annotations

import argparse
import io
import os
import sys
import zipfile
from pathlib import Path

import httpx


def add_parser(sub) -> None:
    kb = sub.add_parser("kb", help="import or export knowledge-base articles (through a running server)")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--token", default=os.environ.get("RAFIQ_TOKEN", ""),
                            help="a trainer's access token (POST /v1/auth/token; default RAFIQ_TOKEN): "
                                 "their tenant is used and they are the author of the versions")

    importer = kb_sub.add_parser("import", help="a .jsonl or .csv file, a Markdown file, or a folder of Markdown files")
    importer.add_argument("path")
    importer.add_argument("--publish", action="store_true", help="publish the imported articles (else drafts)")
    common(importer)
    importer.set_defaults(func=_import)

    exporter = kb_sub.add_parser("export", help="every article, to a file or stdout")
    exporter.add_argument("--format", choices=("jsonl", "csv", "markdown"), default="jsonl")
    exporter.add_argument("--output", "-o", default=None, help="default: stdout (markdown: a zip, needs -o)")
    common(exporter)
    exporter.set_defaults(func=_export)


def _headers(args: argparse.Namespace) -> dict[str, str]:
    return {"Authorization": f"Bearer {args.token}"} if args.token else {}


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*.md")):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _import(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        print(f"no such file or folder: {path}", file=sys.stderr)
        return 2
    name, content = (f"{path.name}.zip", _zip_folder(path)) if path.is_dir() else (path.name, path.read_bytes())
    try:
        response = httpx.post(f"{args.url.rstrip('/')}/v1/kb/import", headers=_headers(args),
                              params={"publish": str(args.publish).lower(), "wait": "true"},
                              files={"file": (name, content)}, timeout=3600)
    except httpx.HTTPError as exc:
        print(f"cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    if response.status_code != 200:
        detail = response.json().get("detail", response.text) if response.content else response.reason_phrase
        print(f"import refused ({response.status_code}): {detail}", file=sys.stderr)
        return 1
    report = response.json()["report"]
    for row in report["rows"]:
        line = f"{row['where']}: {row['status']}"
        if row["status"] == "error":
            line += f": {row['reason']}"
        elif row.get("external_id"):
            line += f" ({row['external_id']}, {row['language']})"
        print(line)
    print(f"{report['created']} created, {report['updated']} updated, {report['unchanged']} unchanged, "
          f"{report['errors']} errors")
    return 1 if report["errors"] else 0


def _export(args: argparse.Namespace) -> int:
    if args.format == "markdown" and not args.output:
        print("--format markdown writes a zip: give --output FILE.zip", file=sys.stderr)
        return 2
    try:
        response = httpx.get(f"{args.url.rstrip('/')}/v1/kb/export", headers=_headers(args),
                             params={"format": args.format}, timeout=600)
    except httpx.HTTPError as exc:
        print(f"cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(f"export refused ({response.status_code}): {response.text}", file=sys.stderr)
        return 1
    if args.output:
        Path(args.output).write_bytes(response.content)
    else:
        sys.stdout.write(response.text)
    return 0
