"""Bulk import and export over HTTP against the real server: JSON Lines, CSV, Markdown (zip),
a per-row report for bad rows, idempotent re-import, size and format errors, the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import zipfile

import httpx

from knowledge_base.imports import IMPORT_BATCH
from tests.conftest import REPO


GOOD_ROWS = [
    {"external_id": "lost-phone", "language": "fr", "title": "Téléphone perdu ou volé",
     "body": "Suspendez la ligne au 777 ou dans l'application, puis demandez une nouvelle carte SIM en agence.",
     "reply": "Je suspends votre ligne tout de suite ; une nouvelle SIM vous attend en agence.",
     "tags": ["sim", "vol"], "questions": ["J'ai perdu mon téléphone", "On m'a volé mon portable"],
     "campaign": "telecom"},
    {"external_id": "lost-phone", "language": "en", "title": "Lost or stolen phone",
     "body": "Suspend the line on 777 or in the app, then ask for a new SIM card at a shop.",
     "tags": ["sim"], "campaign": "telecom"},
    {"external_id": "esim", "language": "fr", "title": "Passer à l'eSIM",
     "body": "L'eSIM s'active en scannant le QR code reçu par e-mail ; la carte SIM physique cesse alors de fonctionner."},
]


def desk(floor) -> tuple[str, str, dict]:
    """A tenant of its own on the shared server: (base URL, tenant, its trainer's Authorization header)."""
    tenant = floor.add_tenant()
    return floor.base_url, tenant, floor.headers("trainer", tenant)


def upload(base: str, trainer: dict, name: str, content: bytes, expect: int = 200, **params) -> dict:
    response = httpx.post(f"{base}/v1/kb/import", headers=trainer, files={"file": (name, content)},
                          params={"wait": "true", **params}, timeout=120)
    assert response.status_code == expect, response.text
    return response.json()


def jsonl(rows: list) -> bytes:
    return "".join((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n"
                   for row in rows).encode("utf-8")


def articles(base: str, trainer: dict) -> list[dict]:
    """Every article of the trainer's tenant."""
    response = httpx.get(f"{base}/v1/kb/articles", headers=trainer)
    return response.json()["articles"]


def version_counts(base: str, trainer: dict) -> dict[str, int]:
    return {a["id"]: a["version"] for a in articles(base, trainer)}


def test_jsonl_import_reports_bad_rows_and_imports_the_rest(floor):
    base, tenant, TRAINER = desk(floor)
    content = jsonl([
        GOOD_ROWS[0],
        "{not json",                                                             # line 2
        GOOD_ROWS[1],
        {"external_id": "x1", "language": "de", "title": "Hallo", "body": "b"},  # line 4: unknown language
        {"language": "fr", "title": "Sans identifiant", "body": "b"},            # line 5: no external id
        "",                                                                       # line 6: blank, skipped
        {"external_id": "x2", "language": "fr", "title": "   ", "body": "b"},     # line 7: blank title
        GOOD_ROWS[2],
        ["a", "list"],                                                            # line 9
        {**GOOD_ROWS[2], "title": "Doublon"},                                     # line 10: same id twice
    ])
    job = upload(base, TRAINER, "articles.jsonl", content)
    report = job["report"]
    assert job["status"] == "done" and job["done"] == job["total"] == 9
    assert (report["created"], report["updated"], report["unchanged"], report["errors"]) == (3, 0, 0, 6)
    by_line = {row["where"]: row for row in report["rows"]}
    assert by_line["line 1"]["status"] == "created" and by_line["line 1"]["article_id"]
    assert "invalid JSON" in by_line["line 2"]["reason"]
    assert "language" in by_line["line 4"]["reason"]
    assert by_line["line 5"]["reason"] == "external_id is missing"
    assert "title" in by_line["line 7"]["reason"]
    assert by_line["line 9"]["reason"] == "not a JSON object"
    assert "line 8" in by_line["line 10"]["reason"]

    imported = articles(base, TRAINER)
    assert {(a["external_id"], a["language"]) for a in imported} == {("lost-phone", "fr"), ("lost-phone", "en"),
                                                                     ("esim", "fr")}
    assert all(a["status"] == "draft" for a in imported)  # without publish, imports are drafts
    lost = {a["language"]: a for a in imported if a["external_id"] == "lost-phone"}
    assert lost["fr"]["group_id"] == lost["en"]["group_id"]  # variants of one article
    assert lost["fr"]["questions"] == GOOD_ROWS[0]["questions"] and lost["fr"]["reply"] == GOOD_ROWS[0]["reply"]
    history = httpx.get(f"{base}/v1/kb/articles/{lost['fr']['id']}/versions", headers=TRAINER).json()["versions"]
    assert history[0]["author"] == floor.username("trainer", tenant) and history[0]["note"] == "imported (line 1)"


def test_reimporting_the_same_file_changes_nothing_and_a_changed_row_updates(floor):
    base, tenant, TRAINER = desk(floor)
    content = jsonl(GOOD_ROWS)
    first = upload(base, TRAINER, "kb.jsonl", content, publish="true")["report"]
    assert first["created"] == 3 and first["errors"] == 0
    before = version_counts(base, TRAINER)

    again = upload(base, TRAINER, "kb.jsonl", content, publish="true")["report"]
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert version_counts(base, TRAINER) == before  # no new version anywhere
    assert len(articles(base, TRAINER)) == 3

    changed = [GOOD_ROWS[0], GOOD_ROWS[1], {**GOOD_ROWS[2], "body": GOOD_ROWS[2]["body"] + " Compatible iPhone XS et plus."}]
    third = upload(base, TRAINER, "kb.jsonl", jsonl(changed), publish="true")["report"]
    assert [r["status"] for r in third["rows"]] == ["unchanged", "unchanged", "updated"]
    esim = next(a for a in articles(base, TRAINER) if a["external_id"] == "esim")
    assert esim["status"] == "published" and esim["body"].endswith("iPhone XS et plus.")
    # Published imports are what agents find.
    results = httpx.get(f"{base}/v1/kb/answers", headers=floor.headers("agent", tenant),
                        params={"q": "I lost my phone, what should I do?", "language": "en"}).json()
    assert results["answers"][0]["title"] == "Lost or stolen phone"


def test_csv_import_with_a_broken_row_and_round_trip_through_csv_export(floor):
    base, tenant, TRAINER = desk(floor)
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["external_id", "language", "title", "body", "reply", "tags", "questions", "campaign"])
    writer.writerow(["lost-phone", "fr", GOOD_ROWS[0]["title"], GOOD_ROWS[0]["body"], GOOD_ROWS[0]["reply"],
                     "sim; vol", "J'ai perdu mon téléphone\nOn m'a volé mon portable", "telecom"])
    writer.writerow(["broken", "fr", "Trop de cellules", "b", "", "", "", "", "extra"])  # line 4
    writer.writerow(["esim", "fr", GOOD_ROWS[2]["title"], "Multi-ligne\ncorps", "", "", "", ""])  # line 5
    writer.writerow(["no-title", "fr", "", "b", "", "", "", ""])  # line 7 (line 5's body spans two lines)
    report = upload(base, TRAINER, "kb.csv", out.getvalue().encode("utf-8"))["report"]
    assert report["format"] == "csv"
    assert [(r["where"], r["status"]) for r in report["rows"]] == [
        ("line 2", "created"), ("line 4", "error"), ("line 5", "created"), ("line 7", "error")]
    assert "9 cells" in report["rows"][1]["reason"]
    lost = next(a for a in articles(base, TRAINER) if a["external_id"] == "lost-phone")
    assert lost["tags"] == ["sim", "vol"] and lost["questions"] == GOOD_ROWS[0]["questions"]

    exported = httpx.get(f"{base}/v1/kb/export", headers=TRAINER, params={"format": "csv"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["external_id"] for r in rows} == {"lost-phone", "esim"} and rows[0]["status"] == "draft"
    again = upload(base, TRAINER, "export.csv", exported.content)["report"]
    assert again["unchanged"] == 2 and again["created"] == again["updated"] == again["errors"] == 0


def markdown(meta: str, body: str) -> str:
    return f"---\n{meta.strip()}\n---\n\n{body}\n"


def test_markdown_zip_import_and_round_trip_through_every_export_format(floor):
    base, tenant, TRAINER = desk(floor)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("telecom/lost-phone.fr.md", markdown(
            "external_id: lost-phone\nlanguage: fr\ncampaign: telecom\ntags: [sim, vol]\n"
            "reply: Je suspends votre ligne tout de suite.\n"
            "questions:\n  - J'ai perdu mon téléphone\n  - On m'a volé mon portable",
            "# Téléphone perdu ou volé\n\nSuspendez la ligne au **777**.\n\n- puis une nouvelle SIM"))
        archive.writestr("telecom/lost-phone.ar.md", markdown(
            "external_id: lost-phone\nlanguage: ar\ntitle: الهاتف ضائع أو مسروق", "أوقفوا الخط بالاتصال بالرقم 777."))
        archive.writestr("broken/no-front-matter.md", "# Juste un titre\n\nPas de front matter.")
        archive.writestr("broken/bad-yaml.md", markdown("external_id: [unclosed\nlanguage: fr", "corps"))
        archive.writestr("README.txt", "not an article")
    report = upload(base, TRAINER, "kb.zip", buffer.getvalue())["report"]
    assert report["format"] == "markdown"
    by_file = {r["where"]: r for r in report["rows"]}
    assert set(by_file) == {"telecom/lost-phone.fr.md", "telecom/lost-phone.ar.md", "broken/no-front-matter.md",
                            "broken/bad-yaml.md"}
    assert by_file["telecom/lost-phone.fr.md"]["status"] == "created"
    assert by_file["telecom/lost-phone.ar.md"]["status"] == "created"
    assert "front matter" in by_file["broken/no-front-matter.md"]["reason"]
    assert "invalid YAML" in by_file["broken/bad-yaml.md"]["reason"]
    french = next(a for a in articles(base, TRAINER) if a["language"] == "fr")
    assert french["title"] == "Téléphone perdu ou volé"  # from the first heading
    assert french["body"] == "Suspendez la ligne au **777**.\n\n- puis une nouvelle SIM"
    assert french["questions"] == ["J'ai perdu mon téléphone", "On m'a volé mon portable"]

    for fmt, name in (("markdown", "export.zip"), ("jsonl", "export.jsonl"), ("csv", "export.csv")):
        exported = httpx.get(f"{base}/v1/kb/export", headers=TRAINER, params={"format": fmt})
        assert exported.status_code == 200, exported.text
        again = upload(base, TRAINER, name, exported.content)["report"]
        assert (again["unchanged"], again["errors"]) == (2, 0), (fmt, again)
    names = zipfile.ZipFile(io.BytesIO(httpx.get(f"{base}/v1/kb/export", headers=TRAINER, params={
        "format": "markdown"}).content)).namelist()
    assert sorted(names) == ["lost-phone.ar.md", "lost-phone.fr.md"]


def test_import_runs_in_the_background_with_progress(floor):
    base, tenant, TRAINER = desk(floor)
    rows = [{"external_id": f"faq-{n}", "language": "fr", "title": f"Question fréquente {n}",
             "body": f"Réponse numéro {n}."} for n in range(120)]
    response = httpx.post(f"{base}/v1/kb/import", headers=TRAINER, files={"file": ("faq.jsonl", jsonl(rows))})
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "running" and job["total"] == 120
    progress = [job["done"]]  # every "done" polled, in order
    deadline = time.monotonic() + 120
    while job["status"] == "running":
        assert time.monotonic() < deadline, f"the import did not finish: {progress}"
        time.sleep(0.05)  # a poll, not a wait for a fixed time: the loop ends on the job's status
        job = httpx.get(f"{base}/v1/kb/imports/{job['import_id']}", headers=TRAINER).json()
        assert job["total"] == 120 and 0 <= job["done"] <= 120
        progress.append(job["done"])
    # Progress only moves forward, by whole batches (IMPORT_BATCH rows are indexed together), and
    # the job is done only with every row counted and reported.
    assert progress == sorted(progress), progress
    assert set(progress) <= {0, *range(IMPORT_BATCH, 120, IMPORT_BATCH), 120}, progress
    assert job["status"] == "done" and job["done"] == 120 and job["report"]["created"] == 120
    assert len(job["report"]["rows"]) == 120 and job["report"]["errors"] == 0
    assert len(articles(base, TRAINER)) == 120
    assert httpx.get(f"{base}/v1/kb/imports/nope", headers=TRAINER).json()["detail"]["code"] == "unknown_import"


def test_import_refuses_files_it_cannot_read(floor):
    base, tenant, TRAINER = desk(floor)

    def refused(name: str, content: bytes, status: int = 400, **params) -> str:
        return upload(base, TRAINER, name, content, expect=status, **params)["detail"]["code"]

    assert refused("kb.xlsx", b"PK\x03\x04") == "unsupported_format"
    assert refused("kb.zip", b"not a zip") == "bad_zip"
    assert refused("kb.csv", "titre;langue\nx;fr\n".encode()) == "bad_header"
    assert refused("kb.jsonl", "é".encode("latin-1") * 10) == "bad_encoding"
    assert refused("kb.jsonl", b"") == "empty_file"
    assert refused("kb.csv", b"external_id,language,title,body\r\n") == "no_rows"  # a header and nothing else
    assert refused("kb.jsonl", b"x" * (10 << 20) + b"x", status=413) == "upload_too_large"
    for person, status, code in (("agent", 403, "forbidden"), ("supervisor", 403, "forbidden"),
                                 ("admin", 403, "forbidden"), (None, 401, "unauthenticated")):
        headers = floor.headers(person, tenant) if person else {}
        response = httpx.post(f"{base}/v1/kb/import", headers=headers, files={"file": ("a.jsonl", jsonl(GOOD_ROWS))})
        assert (response.status_code, response.json()["detail"]["code"]) == (status, code), person
    assert articles(base, TRAINER) == []  # nothing was imported by the refused uploads


def test_cli_imports_a_markdown_folder_and_exports(floor, tmp_path):
    tenant = floor.add_tenant()
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "esim.md").write_text(markdown("external_id: esim\nlanguage: fr\ntitle: Passer à l'eSIM",
                                             GOOD_ROWS[2]["body"]), encoding="utf-8")
    (folder / "broken.md").write_text("no front matter", encoding="utf-8")

    def rafiq(*args: str, token: str | None = None) -> subprocess.CompletedProcess:
        token = floor.token("trainer", tenant) if token is None else token
        return subprocess.run([sys.executable, "-m", "assistant.cli", "kb", *args, "--url", floor.base_url],
                              cwd=REPO, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "RAFIQ_TOKEN": token})

    first = rafiq("import", str(folder), "--publish")
    assert first.returncode == 1, first.stderr  # one row was refused
    assert "broken.md: error: no YAML front matter" in first.stdout
    assert "esim.md: created" in first.stdout and "1 created, 0 updated, 0 unchanged, 1 errors" in first.stdout
    again = rafiq("import", str(folder / "esim.md"), "--publish")
    assert again.returncode == 0 and "0 created, 0 updated, 1 unchanged, 0 errors" in again.stdout
    exported = rafiq("export", "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    [row] = [json.loads(line) for line in exported.stdout.splitlines()]
    assert row["external_id"] == "esim" and row["status"] == "published"
    missing = rafiq("import", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    # The author of the versions is the token's trainer, in the token's tenant.
    trainer = floor.headers("trainer", tenant)
    [article] = articles(floor.base_url, trainer)
    history = httpx.get(f"{floor.base_url}/v1/kb/articles/{article['id']}/versions", headers=trainer).json()["versions"]
    assert {v["author"] for v in history} == {floor.username("trainer", tenant)}
    unsigned = rafiq("import", str(folder / "esim.md"), token="")
    assert unsigned.returncode == 1 and "401" in unsigned.stderr
    agent = rafiq("export", token=floor.token("agent", tenant))
    assert agent.returncode == 1 and "403" in agent.stderr
