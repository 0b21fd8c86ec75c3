/* Rafiq trainer page: curate the knowledge base (list, edit with preview, translate side by
 * side, submit / review / publish, version diff and rollback, import / export, knowledge gaps).
 *
 * Talks to /v1/kb/* as the signed-in user (the session cookie; session.js adds the CSRF header
 * and sends the browser to the sign-in page when the session ends): the tenant is theirs, and
 * the author recorded on every change is them.
 */
(function () {
  "use strict";

  var I = window.RafiqI18n;
  var t = I.t;
  var LANG_NAMES = { fr: "FR", ar: "AR", es: "ES", en: "EN", pt: "PT" };

  var Dom = window.RafiqDom, $ = Dom.$, $$ = Dom.$$, byTest = Dom.byTest, el = Dom.el;

  var state = {
    tenant: null,         // the signed-in user's (GET /v1/me), for file names
    me: null,
    articles: [],
    current: null,        // the article open in the editor (null: a new one)
    mode: "none",         // none | new | edit | translate
    source: null,         // the source article while writing a translation
    gaps: []
  };

  /* ------------------------------------------------------------------ HTTP */

  function api(method, path, body, extra) {
    var headers = { Accept: "application/json" };
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      if (extra && extra.raw && response.ok) return response;
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!response.ok) {
          var detail = data && data.detail;
          var message = detail && detail.message ? detail.code + ": " + detail.message
            : Array.isArray(detail) ? detail.map(function (d) { return (d.loc || []).slice(-1)[0] + ": " + d.msg; }).join("; ")
            : response.status + " " + response.statusText;
          var error = new Error(message);
          error.code = detail && detail.code;
          throw error;
        }
        return data;
      });
    });
  }

  function query(params) {
    var q = new URLSearchParams();
    Object.keys(params).forEach(function (k) {
      if (params[k] !== "" && params[k] !== null && params[k] !== undefined) q.set(k, params[k]);
    });
    return q.toString();
  }

  /* ----------------------------------------------------------------- toast */

  var toast = byTest("error");
  function showError(message) {
    $(".toast__text", toast).textContent = message;
    toast.hidden = false;
  }
  function hideError() { toast.hidden = true; }
  function guard(promise) { return promise.catch(function (e) { showError(e.message || String(e)); throw e; }); }

  /* -------------------------------------------------------------- markdown */

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function inline(s) {
    return escapeHtml(s).replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>").replace(/\*(.+?)\*/g, "<em>$1</em>");
  }
  // Enough Markdown for a preview: headings, lists, bold, italics, paragraphs. Everything is
  // escaped first, so a body can never inject markup into the page.
  function markdown(text) {
    var out = [];
    String(text || "").split(/\n{2,}/).forEach(function (block) {
      var lines = block.split("\n");
      if (/^#{1,3}\s/.test(block)) {
        out.push("<h4>" + inline(block.replace(/^#{1,3}\s+/, "")) + "</h4>");
      } else if (lines.every(function (l) { return /^\s*([-*]|\d+[.)])\s+/.test(l); })) {
        out.push("<ul>" + lines.map(function (l) {
          return "<li>" + inline(l.replace(/^\s*([-*]|\d+[.)])\s+/, "")) + "</li>";
        }).join("") + "</ul>");
      } else if (block.trim()) {
        out.push("<p>" + lines.map(inline).join("<br>") + "</p>");
      }
    });
    return out.join("");
  }

  /* ------------------------------------------------------------------ tabs */

  function showTab(name) {
    $$(".tab").forEach(function (b) { b.setAttribute("aria-selected", b.getAttribute("data-tab") === name ? "true" : "false"); });
    $$(".tabpanel").forEach(function (p) { p.hidden = p.getAttribute("data-panel") !== name; });
    document.body.setAttribute("data-tab", name);
    if (name === "gaps") loadGaps();
  }

  /* -------------------------------------------------------------- the list */

  var filters = {
    q: byTest("filter-q"), status: byTest("filter-status"), language: byTest("filter-language"),
    campaign: byTest("filter-campaign")
  };

  function statusLabel(status) { return t("status." + status); }

  function loadArticles() {
    var params = { q: filters.q.value.trim(), status: filters.status.value,
                   language: filters.language.value, campaign: filters.campaign.value.trim() };
    return guard(api("GET", "/v1/kb/articles?" + query(params))).then(function (data) {
      state.articles = data.articles;
      renderList();
    });
  }

  function renderList() {
    var list = byTest("article-list");
    list.textContent = "";
    state.articles.forEach(function (a) {
      var li = el("li", { "class": "t-item", "data-testid": "article-item", "data-article-id": a.id,
                          "data-status": a.status, "data-language": a.language, tabindex: "0" });
      if (state.current && state.current.id === a.id) li.classList.add("is-current");
      var title = el("span", { "class": "t-item__title", dir: "auto" }, a.title);
      var lang = el("span", { "class": "tag" }, LANG_NAMES[a.language] || a.language);
      var status = el("span", { "class": "badge t-status", "data-status": a.status, "data-testid": "article-item-status" },
                      statusLabel(a.status));
      li.appendChild(lang); li.appendChild(title); li.appendChild(status);
      if (a.status !== "published" && a.published_version) {
        li.appendChild(el("span", { "class": "tag tag--ok" }, t("trainer.live_short")));
      }
      li.addEventListener("click", function () { openArticle(a.id); });
      li.addEventListener("keydown", function (e) { if (e.key === "Enter") openArticle(a.id); });
      list.appendChild(li);
    });
    byTest("article-list-empty").hidden = state.articles.length > 0;
    byTest("article-count").textContent = t("trainer.count", { n: state.articles.length });
  }

  /* ------------------------------------------------------------ the editor */

  var f = {
    title: byTest("field-title"), language: byTest("field-language"), campaign: byTest("field-campaign"),
    tags: byTest("field-tags"), reply: byTest("field-reply"), body: byTest("field-body"),
    questions: byTest("field-questions"), note: byTest("field-note")
  };

  function splitList(value, separator) {
    return value.split(separator).map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function formContent() {
    return {
      title: f.title.value.trim(), reply: f.reply.value.trim(), body: f.body.value,
      tags: splitList(f.tags.value, /[,;]/), questions: splitList(f.questions.value, /\n/),
      campaign: f.campaign.value.trim() || null
    };
  }

  function fillForm(a) {
    f.title.value = a ? a.title : "";
    f.language.value = a ? a.language : (filters.language.value || "fr");
    f.campaign.value = a && a.campaign ? a.campaign : "";
    f.tags.value = a ? a.tags.join(", ") : "";
    f.reply.value = a ? a.reply : "";
    f.body.value = a ? a.body : "";
    f.questions.value = a ? a.questions.join("\n") : "";
    f.note.value = "";
    renderPreview();
  }

  function renderPreview() {
    byTest("preview-title").textContent = f.title.value;
    byTest("preview-reply").textContent = f.reply.value;
    byTest("preview-reply").hidden = !f.reply.value.trim();
    byTest("preview-body").innerHTML = markdown(f.body.value);
  }

  function renderEditorHead() {
    var a = state.current;
    var mode = byTest("editor-mode");
    var key = state.mode === "new" ? "trainer.mode.new" : state.mode === "translate" ? "trainer.mode.translate" : "trainer.mode.edit";
    mode.textContent = t(key, { lang: LANG_NAMES[f.language.value] || f.language.value });
    var status = byTest("article-status");
    status.hidden = !a;
    byTest("article-version").hidden = !a;
    byTest("article-live").hidden = true;
    if (a) {
      status.textContent = statusLabel(a.status);
      status.setAttribute("data-status", a.status);
      byTest("article-version").textContent = "v" + a.version;
      if (a.published_version && a.published_version !== a.version) {
        byTest("article-live").hidden = false;
        byTest("article-live").textContent = t("trainer.live_version", { v: a.published_version });
      }
    }
    f.language.disabled = state.mode !== "new";
    var actions = { submit: ["draft"], publish: ["in_review"], reject: ["in_review"],
                    archive: ["draft", "in_review", "published"], restore: ["archived"] };
    Object.keys(actions).forEach(function (action) {
      byTest(action + "-article").hidden = !a || actions[action].indexOf(a.status) < 0;
    });
    byTest("save-article").hidden = !!(a && a.status === "archived");
    document.body.setAttribute("data-editor-mode", state.mode);
  }

  function showEditor(show) {
    byTest("editor-area").hidden = !show;
    byTest("editor-empty").hidden = show;
    byTest("article-meta").hidden = !(show && state.current && state.mode === "edit");
  }

  function renderSource() {
    var pane = byTest("source-pane");
    var s = state.mode === "translate" ? state.source : null;
    pane.hidden = !s;
    byTest("editor-area").classList.toggle("is-side-by-side", !!s);
    if (!s) return;
    byTest("source-language").textContent = LANG_NAMES[s.language] || s.language;
    byTest("source-title").textContent = s.title;
    byTest("source-reply").textContent = s.reply;
    byTest("source-body").innerHTML = markdown(s.body);
    var qs = byTest("source-questions");
    qs.textContent = "";
    s.questions.forEach(function (q) { qs.appendChild(el("li", {}, q)); });
  }

  function newArticle() {
    state.current = null; state.mode = "new"; state.source = null;
    fillForm(null);
    renderEditorHead(); renderSource(); showEditor(true);
    f.title.focus();
  }

  function openArticle(id) {
    hideError();
    return guard(api("GET", "/v1/kb/articles/" + encodeURIComponent(id))).then(function (a) {
      state.current = a; state.mode = "edit"; state.source = null;
      document.body.setAttribute("data-article-id", a.id);
      fillForm(a);
      renderEditorHead(); renderSource(); showEditor(true); renderList();
      loadTranslations(); loadVersions();
    });
  }

  function startTranslation() {
    var source = state.current;
    var language = byTest("translation-language").value;
    if (!source) return;
    if (language === source.language) { showError(t("trainer.same_language")); return; }
    state.source = source; state.current = null; state.mode = "translate";
    fillForm(null);
    f.language.value = language;
    f.campaign.value = source.campaign || "";
    f.tags.value = source.tags.join(", ");
    renderEditorHead(); renderSource(); showEditor(true);
    f.title.focus();
  }

  function save(e) {
    e.preventDefault();
    hideError();
    var content = formContent();
    var note = f.note.value.trim();
    var request;
    if (state.mode === "new") {
      request = api("POST", "/v1/kb/articles", Object.assign(content, {
        language: f.language.value, note: note }));
    } else if (state.mode === "translate") {
      request = api("POST", "/v1/kb/articles/" + encodeURIComponent(state.source.id) + "/translations",
                    Object.assign(content, { language: f.language.value, note: note }));
    } else {
      request = api("PATCH", "/v1/kb/articles/" + encodeURIComponent(state.current.id),
                    Object.assign(content, { base_version: state.current.version, note: note }));
    }
    return guard(request).then(function (a) {
      document.body.setAttribute("data-saved-version", String(a.version));
      return loadArticles().then(function () { return openArticle(a.id); });
    });
  }

  function transition(action) {
    hideError();
    var a = state.current;
    return guard(api("POST", "/v1/kb/articles/" + encodeURIComponent(a.id) + "/" + action,
                     { note: f.note.value.trim() })).then(function () {
      return loadArticles().then(function () { return openArticle(a.id); });
    });
  }

  function cancelEdit() {
    if (state.mode === "translate" && state.source) { openArticle(state.source.id); return; }
    if (state.current) { openArticle(state.current.id); return; }
    state.mode = "none"; showEditor(false);
  }

  /* ------------------------------------------------ translations, versions */

  function loadTranslations() {
    var a = state.current;
    return guard(api("GET", "/v1/kb/articles/" + encodeURIComponent(a.id) + "/translations")).then(function (data) {
      var list = byTest("translation-list");
      list.textContent = "";
      data.articles.forEach(function (v) {
        var li = el("li", { "class": "t-variant", "data-testid": "translation-item", "data-language": v.language,
                            "data-article-id": v.id, "data-status": v.status });
        var link = el("button", { type: "button", "class": "link", dir: "auto" }, (LANG_NAMES[v.language] || v.language) + " — " + v.title);
        if (v.id === a.id) li.classList.add("is-current");
        link.addEventListener("click", function () { openArticle(v.id); });
        li.appendChild(link);
        li.appendChild(el("span", { "class": "badge t-status", "data-status": v.status }, statusLabel(v.status)));
        list.appendChild(li);
      });
    });
  }

  function loadVersions() {
    var a = state.current;
    byTest("diff-view").hidden = true;
    return guard(api("GET", "/v1/kb/articles/" + encodeURIComponent(a.id) + "/versions")).then(function (data) {
      var list = byTest("version-list");
      list.textContent = "";
      data.versions.slice().reverse().forEach(function (v) {
        var li = el("li", { "class": "t-version", "data-testid": "version-item", "data-version": String(v.version),
                            "data-action": v.action });
        var when = new Date(v.created_at);
        li.appendChild(el("span", { "class": "tag" }, "v" + v.version));
        li.appendChild(el("span", { "class": "t-version__action" }, t("action." + v.action)));
        li.appendChild(el("span", { "class": "t-version__who", dir: "auto" }, v.author));
        li.appendChild(el("time", { "class": "t-version__when", dir: "ltr", datetime: v.created_at },
                          when.toLocaleString(I.getLang())));
        if (v.note) li.appendChild(el("span", { "class": "t-version__note", dir: "auto" }, v.note));
        if (v.version > 1) {
          var diff = el("button", { type: "button", "class": "link", "data-testid": "diff-button" }, t("trainer.diff"));
          diff.addEventListener("click", function () { showDiff(v.version - 1, v.version); });
          li.appendChild(diff);
        }
        if (v.version !== a.version) {
          var back = el("button", { type: "button", "class": "link", "data-testid": "rollback-button", "data-write": "" }, t("trainer.rollback"));
          back.addEventListener("click", function () { rollback(v.version); });
          li.appendChild(back);
        }
        list.appendChild(li);
      });
    });
  }

  function showDiff(from, to) {
    var a = state.current;
    return guard(api("GET", "/v1/kb/articles/" + encodeURIComponent(a.id) + "/diff?" +
                     query({ from_version: from, to_version: to }))).then(function (data) {
      var view = byTest("diff-view");
      view.textContent = "";
      view.hidden = false;
      view.setAttribute("data-from", String(from));
      view.setAttribute("data-to", String(to));
      view.appendChild(el("h4", {}, t("trainer.diff_title", { from: from, to: to })));
      if (!data.changes.length) view.appendChild(el("p", { "class": "empty" }, t("trainer.no_changes")));
      data.changes.forEach(function (change) {
        var block = el("div", { "class": "t-diff__field", "data-testid": "diff-field", "data-field": change.field });
        block.appendChild(el("h5", {}, t("trainer.field." + change.field)));
        var pre = el("pre", { dir: "auto" });
        change.diff.forEach(function (line) {
          if (/^(---|\+\+\+|@@)/.test(line)) return;
          var kind = line[0] === "+" ? "add" : line[0] === "-" ? "del" : "ctx";
          pre.appendChild(el("span", { "class": "t-diff__" + kind, "data-testid": "diff-line-" + kind }, line));
          pre.appendChild(document.createTextNode("\n"));
        });
        block.appendChild(pre);
        view.appendChild(block);
      });
    });
  }

  function rollback(version) {
    hideError();
    var a = state.current;
    return guard(api("POST", "/v1/kb/articles/" + encodeURIComponent(a.id) + "/rollback", { version: version }))
      .then(function () { return loadArticles().then(function () { return openArticle(a.id); }); });
  }

  /* --------------------------------------------------------- import/export */

  function startImport(e) {
    e.preventDefault();
    hideError();
    var file = byTest("import-file").files[0];
    if (!file) { showError(t("trainer.pick_file")); return; }
    var form = new FormData();
    form.append("file", file, file.name);
    var params = query({ publish: byTest("import-publish").checked ? "true" : "false" });
    var progress = byTest("import-progress");
    progress.hidden = false;
    progress.setAttribute("data-state", "running");
    byTest("import-report").hidden = true;
    byTest("import-summary").textContent = "";
    guard(api("POST", "/v1/kb/import?" + params, form)).then(pollImport).catch(function () {
      progress.setAttribute("data-state", "failed");
    });
  }

  function pollImport(job) {
    var progress = byTest("import-progress");
    $("progress", progress).max = Math.max(job.total, 1);
    $("progress", progress).value = job.done;
    $(".t-progress__text", progress).textContent = t("trainer.progress", { done: job.done, total: job.total });
    if (job.status === "running") {
      window.setTimeout(function () {
        guard(api("GET", "/v1/kb/imports/" + encodeURIComponent(job.import_id))).then(pollImport);
      }, 300);
      return;
    }
    progress.setAttribute("data-state", job.status);
    if (job.status === "failed") { showError(job.error || "import failed"); return; }
    renderReport(job.report);
    loadArticles();
  }

  function renderReport(report) {
    byTest("import-summary").textContent = t("trainer.import_summary", report);
    byTest("import-summary").setAttribute("data-created", String(report.created));
    byTest("import-summary").setAttribute("data-errors", String(report.errors));
    var table = byTest("import-report");
    var body = $("tbody", table);
    body.textContent = "";
    report.rows.forEach(function (row) {
      var tr = el("tr", { "data-testid": "import-row", "data-status": row.status, "data-where": row.where });
      tr.appendChild(el("td", { dir: "ltr" }, row.where));
      tr.appendChild(el("td", {}, t("import." + row.status)));
      tr.appendChild(el("td", { dir: "ltr" }, row.external_id || ""));
      tr.appendChild(el("td", {}, row.language || ""));
      tr.appendChild(el("td", { "data-testid": "import-reason", dir: "auto" }, row.reason || ""));
      body.appendChild(tr);
    });
    table.hidden = false;
  }

  function exportAs(format) {
    hideError();
    guard(api("GET", "/v1/kb/export?" + query({ format: format }), undefined, { raw: true }))
      .then(function (response) { return response.blob(); })
      .then(function (blob) {
        var link = el("a", { href: URL.createObjectURL(blob),
                             download: state.tenant + "-articles." + (format === "markdown" ? "zip" : format) });
        document.body.appendChild(link);
        link.click();
        link.remove();
      });
  }

  /* ------------------------------------------------------------------ gaps */

  function loadGaps() {
    return guard(api("GET", "/v1/kb/gaps")).then(function (data) {
      state.gaps = data.gaps;
      renderGaps();
    });
  }

  function renderGaps() {
    var list = byTest("gap-list");
    list.textContent = "";
    state.gaps.forEach(function (g) {
      var li = el("li", { "class": "t-gap", "data-testid": "gap-item", "data-gap-id": g.id, "data-count": String(g.count) });
      var head = el("div", { "class": "t-gap__head" });
      head.appendChild(el("span", { "class": "count", "data-testid": "gap-count" }, g.count));
      var langs = el("span", { "class": "t-gap__langs", "data-testid": "gap-languages" });
      Object.keys(g.languages).forEach(function (lang) {
        langs.appendChild(el("span", { "class": "tag", "data-language": lang }, (LANG_NAMES[lang] || lang) + " ×" + g.languages[lang]));
      });
      head.appendChild(langs);
      var draft = el("button", { type: "button", "class": "btn btn--primary", "data-testid": "gap-draft", "data-write": "" }, t("trainer.gap_draft"));
      draft.addEventListener("click", function () { draftFromGap(g.id); });
      var dismiss = el("button", { type: "button", "class": "btn btn--ghost", "data-testid": "gap-dismiss", "data-write": "" }, t("trainer.gap_dismiss"));
      dismiss.addEventListener("click", function () { dismissGap(g.id); });
      head.appendChild(draft); head.appendChild(dismiss);
      li.appendChild(head);
      var examples = el("ul", { "class": "t-gap__examples" });
      g.examples.forEach(function (ex) {
        var item = el("li", { "data-testid": "gap-example", "data-language": ex.language || "" });
        item.appendChild(el("span", { "class": "tag" }, LANG_NAMES[ex.language] || ex.language || "?"));
        item.appendChild(el("q", { dir: "auto", lang: ex.language || "" }, ex.text));
        examples.appendChild(item);
      });
      li.appendChild(examples);
      list.appendChild(li);
    });
    byTest("gap-list-empty").hidden = state.gaps.length > 0;
    byTest("gap-total").textContent = String(state.gaps.length);
  }

  function draftFromGap(id) {
    hideError();
    return guard(api("POST", "/v1/kb/gaps/" + encodeURIComponent(id) + "/draft", {})).then(function (a) {
      loadGaps();
      showTab("articles");
      return loadArticles().then(function () { return openArticle(a.id); });
    });
  }

  function dismissGap(id) {
    hideError();
    return guard(api("POST", "/v1/kb/gaps/" + encodeURIComponent(id) + "/dismiss")).then(loadGaps);
  }

  /* ------------------------------------------------------------------ init */

  function updateLangButtons() {
    var lang = I.getLang();
    $$(".lang").forEach(function (b) { b.setAttribute("aria-pressed", b.getAttribute("data-lang") === lang ? "true" : "false"); });
  }

  function init() {
    I.applyI18n(document);
    updateLangButtons();
    I.onChange(function () {
      updateLangButtons();
      renderList();
      renderEditorHead();
      renderGaps();
      if (state.current && state.mode === "edit") loadVersions();
    });
    $$(".lang").forEach(function (b) { b.addEventListener("click", function () { I.setLang(b.getAttribute("data-lang")); }); });
    $(".toast__close", toast).addEventListener("click", hideError);
    $$(".tab").forEach(function (b) { b.addEventListener("click", function () { showTab(b.getAttribute("data-tab")); }); });

    var reload;
    byTest("filters").addEventListener("input", function () { window.clearTimeout(reload); reload = window.setTimeout(loadArticles, 250); });
    byTest("filters").addEventListener("submit", function (e) { e.preventDefault(); loadArticles(); });
    byTest("new-article").addEventListener("click", newArticle);
    byTest("editor").addEventListener("submit", save);
    byTest("editor").addEventListener("input", renderPreview);
    f.language.addEventListener("change", renderEditorHead);
    ["submit", "publish", "reject", "archive", "restore"].forEach(function (action) {
      byTest(action + "-article").addEventListener("click", function () { transition(action); });
    });
    byTest("cancel-edit").addEventListener("click", cancelEdit);
    byTest("add-translation").addEventListener("click", startTranslation);
    byTest("import-form").addEventListener("submit", startImport);
    ["jsonl", "csv", "markdown"].forEach(function (format) {
      byTest("export-" + format).addEventListener("click", function () { exportAs(format); });
    });

    showTab("articles");
    window.RafiqSession.ready.then(function (me) {
      state.me = me;
      state.tenant = me.tenant;
      // Supervisors review the knowledge base here; only trainers write it (the API says the
      // same), so the writing controls are not offered to them.
      if (me.roles.indexOf("trainer") < 0) document.body.setAttribute("data-readonly", "true");
      return Promise.all([loadArticles(), loadGaps()]);
    }).then(function () {
      document.body.setAttribute("data-ready", "true");
    }, function () { document.body.setAttribute("data-ready", "error"); });
  }

  window.__rafiqTrainer = { state: state };
  init();
})();
