"""The trainer page (ui/static/trainer.html) in a real Chromium against the real Rafiq app:
write → submit → publish → agents find it; a translation beside its source; version diff and
rollback; a knowledge gap from a real call turned into a draft; Arabic right to left.

Each test has a tenant of its own (``floor.add_tenant()``: an empty knowledge base) and signs in
as its trainer; the API checks use the bearer tokens of that tenant's people."""

from __future__ import annotations

import asyncio
import json
import zipfile
from concurrent.futures import ThreadPoolExecutor
import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import fleurs_clip, transcribe_live
from tests.browser import browser, sign_in, watch  # noqa: F401  (fixtures)

SCREENSHOT = "/tmp/trainer.png"
_floor = {}  # the module's Floor, for agent_answers()


@pytest.fixture
def tenant(floor) -> str:
    _floor["floor"] = floor
    return floor.add_tenant(f"ui{uuid.uuid4().hex[:8]}")


@pytest.fixture
def trainer(floor, tenant) -> dict[str, str]:
    """The Authorization header of the tenant's trainer."""
    return floor.headers("trainer", tenant)


@pytest.fixture
def page(browser, rafiq_server, watch, floor, tenant):
    ctx = browser.new_context(viewport={"width": 1500, "height": 950}, base_url=rafiq_server, locale="fr-FR")
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    watch.attach(page)
    username = floor.username("trainer", tenant)
    sign_in(page, rafiq_server, username, floor.passwords[username], next_path="/trainer")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    yield page
    ctx.close()


def agent_answers(base: str, tenant: str, question: str, language: str | None = None) -> list[dict]:
    """What the tenant's agents get for ``question`` (their tenant's published answers)."""
    params = {"q": question, **({"language": language} if language else {})}
    response = httpx.get(f"{base}/v1/kb/answers", headers=_floor["floor"].headers("agent", tenant), params=params,
                         timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["answers"]


def item(page, article_id: str):
    return page.locator(f'[data-testid="article-item"][data-article-id="{article_id}"]')


def test_write_submit_publish_and_agents_find_it(page, rafiq_server, floor, tenant):
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    trainer_name = floor.username("trainer", tenant)
    expect(page.get_by_test_id("session-user")).to_have_attribute("data-username", trainer_name)
    expect(page.get_by_test_id("user-input")).to_have_count(0)  # who writes is who signed in
    page.get_by_test_id("new-article").click()
    expect(page.get_by_test_id("editor-mode")).to_have_text("Nouvel article (FR)")
    page.get_by_test_id("field-title").fill("Horaires de l'agence de Fès pendant le Ramadan")
    page.get_by_test_id("field-reply").fill("Pendant le Ramadan, l'agence de Fès ouvre de 9h à 15h.")
    page.get_by_test_id("field-body").fill("Pendant le **Ramadan** :\n\n- du lundi au vendredi de 9h à 15h\n- fermé le samedi")
    page.get_by_test_id("field-questions").fill("Quels sont vos horaires pendant le Ramadan ?\nL'agence est ouverte le samedi pendant le Ramadan ?")
    page.get_by_test_id("field-tags").fill("agence, horaires")
    # The preview follows the typing, Markdown rendered.
    expect(page.get_by_test_id("preview-reply")).to_have_text("Pendant le Ramadan, l'agence de Fès ouvre de 9h à 15h.")
    expect(page.get_by_test_id("preview-body").locator("strong")).to_have_text("Ramadan")
    expect(page.get_by_test_id("preview-body").locator("li")).to_have_count(2)

    page.get_by_test_id("save-article").click()
    expect(page.get_by_test_id("article-status")).to_have_attribute("data-status", "draft")
    article_id = page.locator("body").get_attribute("data-article-id")
    expect(item(page, article_id)).to_have_attribute("data-status", "draft")
    expect(page.get_by_test_id("publish-article")).to_be_hidden()  # a draft goes through review first
    assert agent_answers(rafiq_server, tenant, "Are you open on Saturdays during Ramadan?") == []

    page.get_by_test_id("submit-article").click()
    expect(page.get_by_test_id("article-status")).to_have_attribute("data-status", "in_review")
    expect(page.get_by_test_id("article-status")).to_have_text("En relecture")
    page.get_by_test_id("field-note").fill("relu et validé")
    page.get_by_test_id("publish-article").click()
    expect(page.get_by_test_id("article-status")).to_have_attribute("data-status", "published")
    expect(item(page, article_id)).to_have_attribute("data-status", "published")

    [answer] = agent_answers(rafiq_server, tenant, "Are you open on Saturdays during Ramadan?", "fr")
    assert answer["article_id"] == article_id
    assert answer["text"] == "Pendant le Ramadan, l'agence de Fès ouvre de 9h à 15h."
    versions = page.locator('[data-testid="version-item"]')
    expect(versions).to_have_count(3)
    expect(versions.first).to_have_attribute("data-action", "published")
    expect(versions.first).to_contain_text(trainer_name)  # the author recorded is the signed-in user
    history = httpx.get(f"{rafiq_server}/v1/kb/articles/{article_id}/versions",
                        headers=floor.headers("trainer", tenant), timeout=30).json()
    assert [v["author"] for v in history["versions"]] == [trainer_name] * 3
    expect(versions.first).to_contain_text("relu et validé")

    # Filters: the published article is found by status, text and language, not by another status.
    page.get_by_test_id("filter-status").select_option("draft")
    expect(item(page, article_id)).to_have_count(0)
    page.get_by_test_id("filter-status").select_option("published")
    page.get_by_test_id("filter-q").fill("ramadan")
    expect(item(page, article_id)).to_have_count(1)
    page.get_by_test_id("filter-language").select_option("en")
    expect(item(page, article_id)).to_have_count(0)
    page.screenshot(path=SCREENSHOT)


def test_translation_side_by_side_then_diff_and_rollback(page, rafiq_server, tenant, trainer):
    source = httpx.post(f"{rafiq_server}/v1/kb/articles", headers=trainer, json={
        "title": "Changer de forfait mobile", "language": "fr", "publish": True,
        "body": "Le changement de forfait se fait par le *555# ou en agence ; il prend effet le lendemain.",
        "reply": "Composez le *555# : le nouveau forfait s'applique dès demain.",
        "questions": ["Comment changer de forfait ?"], "tags": ["forfait"], "campaign": "telecom"}).json()
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    item(page, source["id"]).click()
    expect(page.get_by_test_id("field-title")).to_have_value("Changer de forfait mobile")

    # A translation is written beside its source.
    page.get_by_test_id("translation-language").select_option("ar")
    page.get_by_test_id("add-translation").click()
    expect(page.get_by_test_id("editor-mode")).to_have_text("Traduction (AR)")
    source_pane = page.get_by_test_id("source-pane")
    expect(source_pane).to_be_visible()
    expect(page.get_by_test_id("source-title")).to_have_text("Changer de forfait mobile")
    expect(page.get_by_test_id("source-reply")).to_have_text(source["reply"])
    expect(page.get_by_test_id("source-questions")).to_contain_text("Comment changer de forfait ?")
    editor_box, source_box = page.get_by_test_id("editor").bounding_box(), source_pane.bounding_box()
    assert abs(editor_box["y"] - source_box["y"]) < 5 and source_box["x"] + source_box["width"] <= editor_box["x"]
    page.get_by_test_id("field-title").fill("تغيير باقة الهاتف المحمول")
    page.get_by_test_id("field-reply").fill("اطلبوا *555#: تُطبَّق الباقة الجديدة ابتداءً من الغد.")
    page.get_by_test_id("field-body").fill("يتم تغيير الباقة عبر *555# أو في الوكالة، ويسري مفعوله في اليوم التالي.")
    page.get_by_test_id("save-article").click()
    expect(page.get_by_test_id("article-status")).to_have_attribute("data-status", "draft")
    expect(page.get_by_test_id("field-language")).to_have_value("ar")
    translations = page.locator('[data-testid="translation-item"]')
    expect(translations).to_have_count(2)
    expect(page.locator('[data-testid="translation-item"][data-language="fr"]')).to_have_attribute("data-status", "published")
    variants = httpx.get(f"{rafiq_server}/v1/kb/articles/{source['id']}/translations", headers=trainer).json()["articles"]
    arabic = next(v for v in variants if v["language"] == "ar")
    assert arabic["group_id"] == source["group_id"] and arabic["campaign"] == "telecom"

    # Back to the French source: a bad edit, published, then the diff and a rollback.
    page.locator('[data-testid="translation-item"][data-language="fr"] button').click()
    expect(page.get_by_test_id("field-language")).to_have_value("fr")
    page.get_by_test_id("field-reply").fill("Ce n'est pas possible.")
    page.get_by_test_id("save-article").click()
    expect(page.get_by_test_id("article-status")).to_have_attribute("data-status", "draft")
    expect(page.get_by_test_id("article-live")).to_have_text("v2 en ligne")  # agents still get version 2
    assert agent_answers(rafiq_server, tenant, "How do I change my mobile plan?", "fr")[0]["text"] == source["reply"]
    page.get_by_test_id("submit-article").click()
    expect(page.get_by_test_id("article-status")).to_have_attribute("data-status", "in_review")
    page.get_by_test_id("publish-article").click()
    expect(page.get_by_test_id("article-status")).to_have_attribute("data-status", "published")
    assert agent_answers(rafiq_server, tenant, "How do I change my mobile plan?", "fr")[0]["text"] == "Ce n'est pas possible."

    edited = page.locator('[data-testid="version-item"][data-version="3"]')
    edited.get_by_test_id("diff-button").click()
    diff = page.get_by_test_id("diff-view")
    expect(diff).to_have_attribute("data-to", "3")
    expect(diff.locator('[data-testid="diff-field"]')).to_have_count(2)  # the reply, and draft after published
    reply_diff = diff.locator('[data-testid="diff-field"][data-field="reply"]')
    expect(reply_diff.get_by_test_id("diff-line-del")).to_have_text(f"-{source['reply']}")
    expect(reply_diff.get_by_test_id("diff-line-add")).to_have_text("+Ce n'est pas possible.")

    page.locator('[data-testid="version-item"][data-version="2"]').get_by_test_id("rollback-button").click()
    expect(page.get_by_test_id("article-version")).to_have_text("v6")
    expect(page.get_by_test_id("field-reply")).to_have_value(source["reply"])
    expect(page.get_by_test_id("article-status")).to_have_attribute("data-status", "published")
    expect(page.locator('[data-testid="version-item"]').first).to_have_attribute("data-action", "rolled_back")
    assert agent_answers(rafiq_server, tenant, "How do I change my mobile plan?", "fr")[0]["text"] == source["reply"]


def test_gap_from_a_real_call_becomes_a_draft(page, rafiq_server, floor, tenant):
    clip, _ = fleurs_clip("es", 0)  # a travel-weather question this tenant's empty base cannot answer
    with ThreadPoolExecutor(1) as pool:  # its own event loop, away from Playwright's
        events = pool.submit(asyncio.run, transcribe_live(floor, clip, tenant=tenant)).result()
    assert not [e for e in events if e["type"] == "suggestion"]

    page.get_by_test_id("tab-gaps").click()
    gaps = page.locator('[data-testid="gap-item"]')
    for _ in range(30):  # the gap is recorded just after the call's last final
        if gaps.count():
            break
        page.wait_for_timeout(500)
        page.get_by_test_id("tab-gaps").click()
    expect(gaps.first).to_be_visible()
    gap = gaps.first
    expect(gap.get_by_test_id("gap-languages")).to_contain_text("ES")
    expect(gap.get_by_test_id("gap-example").first).to_have_attribute("data-language", "es")
    example = gap.get_by_test_id("gap-example").first.locator("q").inner_text()
    assert "viajeros" in example.lower()

    gap.get_by_test_id("gap-draft").click()
    expect(page.get_by_test_id("panel-articles")).to_be_visible()
    expect(page.get_by_test_id("article-status")).to_have_attribute("data-status", "draft")
    expect(page.get_by_test_id("field-language")).to_have_value("es")
    expect(page.get_by_test_id("field-questions")).to_have_value(re.compile(re.escape(example.strip())))
    page.get_by_test_id("tab-gaps").click()
    expect(page.get_by_test_id("gap-list-empty")).to_be_visible()


def test_import_with_a_broken_row_shows_the_report(page, tenant, tmp_path):
    rows = ['{"external_id": "sim-swap", "language": "fr", "title": "Changer de carte SIM", "body": "En agence, avec une pièce d\'identité."}',
            '{"external_id": "broken", "language": "fr"',
            '{"external_id": "no-title", "language": "fr", "body": "x"}']
    path = tmp_path / "articles.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    page.get_by_test_id("tab-import").click()
    page.get_by_test_id("import-file").set_input_files(str(path))
    page.get_by_test_id("import-start").click()
    expect(page.get_by_test_id("import-progress")).to_have_attribute("data-state", "done")
    expect(page.get_by_test_id("import-summary")).to_have_text("1 créé(s), 0 mis à jour, 0 inchangé(s), 2 erreur(s)")
    report = page.locator('[data-testid="import-row"]')
    expect(report).to_have_count(3)
    expect(page.locator('[data-testid="import-row"][data-where="line 2"]')).to_have_attribute("data-status", "error")
    expect(page.locator('[data-testid="import-row"][data-where="line 2"]').get_by_test_id("import-reason")).to_contain_text("invalid JSON")
    expect(page.locator('[data-testid="import-row"][data-where="line 3"]').get_by_test_id("import-reason")).to_contain_text("title")
    page.get_by_test_id("tab-articles").click()
    expect(page.locator('[data-testid="article-item"]')).to_have_count(1)

    # Importing the same file again changes nothing.
    page.get_by_test_id("tab-import").click()
    page.get_by_test_id("import-start").click()
    expect(page.get_by_test_id("import-summary")).to_have_text("0 créé(s), 0 mis à jour, 1 inchangé(s), 2 erreur(s)")


def test_trainer_page_in_arabic_is_right_to_left(page):
    page.get_by_test_id("lang-switch-ar").click()
    html = page.locator("html")
    expect(html).to_have_attribute("dir", "rtl")
    expect(page.get_by_test_id("new-article")).to_have_text("مقال جديد")
    expect(page.get_by_test_id("tab-gaps")).to_contain_text("الثغرات")
    page.get_by_test_id("new-article").click()
    expect(page.get_by_test_id("save-article")).to_have_text("حفظ")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.get_by_test_id("lang-switch-fr").click()
    expect(html).to_have_attribute("dir", "ltr")


def test_agent_panel_marks_an_answer_not_in_the_customers_language(browser, rafiq_server, floor, watch, tenant,
                                                                 trainer):
    created = httpx.post(f"{rafiq_server}/v1/kb/articles", headers=trainer, json={
        "title": "Extreme weather risks when travelling", "language": "en", "publish": True,
        "body": "Travellers are strongly advised to find out about any risk of extreme weather in the area "
                "they are visiting, since it may affect their travel plans."})
    assert created.status_code == 201
    clip, _ = fleurs_clip("es", 0)  # asked in Spanish; the base has English only
    with ThreadPoolExecutor(1) as pool:
        events = pool.submit(asyncio.run, transcribe_live(floor, clip, tenant=tenant)).result()
    suggestion = next(e for e in events if e["type"] == "suggestion")
    assert suggestion["language"] == "en"

    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=rafiq_server, locale="fr-FR")
    try:
        page = ctx.new_page()
        watch.attach(page)
        username = floor.username("supervisor", tenant)  # the call has no agent: its supervisor reads it
        sign_in(page, rafiq_server, username, floor.passwords[username], next_path=f"/#call={suggestion['call_id']}")
        card = page.locator(f'[data-testid="suggestion"][data-suggestion-id="{suggestion["suggestion_id"]}"]')
        expect(card).to_have_attribute("data-language-fallback", "true")
        expect(card.get_by_test_id("suggestion-language-fallback")).to_have_text("Pas de version ES : texte d'origine")
        page.get_by_test_id("lang-switch-en").click()
        expect(card.get_by_test_id("suggestion-language-fallback")).to_have_text("No ES version: original text")
        page.get_by_test_id("lang-switch-fr").click()
    finally:
        ctx.close()


def test_a_supervisor_reads_the_knowledge_base_without_writing_controls(browser, rafiq_server, watch, floor, tenant,
                                                                         trainer):
    """Supervisors review on the trainer page; the API refuses them writes, so the page offers none."""
    created = httpx.post(f"{rafiq_server}/v1/kb/articles", headers=trainer, timeout=30,
                         json={"title": "Carte bloquée", "body": "Appelez le 777.", "language": "fr"})
    assert created.status_code == 201, created.text
    ctx = browser.new_context(viewport={"width": 1500, "height": 950}, base_url=rafiq_server, locale="fr-FR")
    page = ctx.new_page()
    watch.attach(page)
    try:
        username = floor.username("supervisor", tenant)
        sign_in(page, rafiq_server, username, floor.passwords[username], next_path="/trainer")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        expect(page.locator("body")).to_have_attribute("data-readonly", "true")
        expect(page.get_by_test_id("article-item")).to_have_count(1)
        page.get_by_test_id("article-item").first.click()
        for control in ("new-article", "save-article", "submit-article", "publish-article", "add-translation"):
            expect(page.get_by_test_id(control)).to_be_hidden()
        page.get_by_test_id("tab-import").click()
        expect(page.get_by_test_id("import-form")).to_be_hidden()
        expect(page.get_by_test_id("export-jsonl")).to_be_visible()
    finally:
        ctx.close()


def test_export_buttons_download_what_imports_back(page, tenant, tmp_path):
    """Each export button downloads the tenant's articles in its format, with its file name."""
    rows = ['{"external_id": "sim-swap", "language": "fr", "title": "Changer de carte SIM", "body": "En agence."}',
            '{"external_id": "roaming", "language": "fr", "title": "Activer l\'itinérance", "body": "Composez *111#."}']
    source = tmp_path / "articles.jsonl"
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    page.get_by_test_id("tab-import").click()
    page.get_by_test_id("import-file").set_input_files(str(source))
    page.get_by_test_id("import-start").click()
    expect(page.get_by_test_id("import-summary")).to_have_text("2 créé(s), 0 mis à jour, 0 inchangé(s), 0 erreur(s)")
    expected = {"jsonl": f"{tenant}-articles.jsonl", "csv": f"{tenant}-articles.csv",
                "markdown": f"{tenant}-articles.zip"}
    for format, filename in expected.items():
        with page.expect_download() as download:
            page.get_by_test_id(f"export-{format}").click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name == filename
        content = saved.read_bytes()
        if format == "jsonl":
            exported = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
            assert sorted(a["external_id"] for a in exported) == ["roaming", "sim-swap"]
        elif format == "csv":
            text = content.decode("utf-8-sig")
            assert "Changer de carte SIM" in text and "roaming" in text
        else:
            with zipfile.ZipFile(saved) as archive:
                assert len([n for n in archive.namelist() if n.endswith(".md")]) == 2
