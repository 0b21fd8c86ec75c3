/* Rafiq agent panel: the agent types a question (any of the call languages) and gets the
 * knowledge base's answers, from the articles of the call's campaign during a call
 * (GET /v1/calls/{call_id}/answers), from all the tenant's articles otherwise (GET /v1/kb/answers).
 * Answers come in the customer's language when a variant exists. Enter searches; each answer
 * has a button that copies its text. */
(function () {
  "use strict";

  var I = window.RafiqI18n;
  var t = I.t;

  I.extend({
    fr: {
      "search.label": "Chercher dans la base", "search.placeholder": "Tapez une question…",
      "search.submit": "Chercher", "search.none": "Aucune réponse trouvée", "search.failed": "Recherche impossible",
      "search.copy": "Copier", "search.copied": "Copié", "search.busy": "Recherche…"
    },
    ar: {
      "search.label": "البحث في قاعدة المعارف", "search.placeholder": "اكتب سؤالًا…",
      "search.submit": "بحث", "search.none": "لا توجد إجابة", "search.failed": "تعذّر البحث",
      "search.copy": "نسخ", "search.copied": "تم النسخ", "search.busy": "جارٍ البحث…"
    },
    en: {
      "search.label": "Search the knowledge base", "search.placeholder": "Type a question…",
      "search.submit": "Search", "search.none": "No answer found", "search.failed": "Search failed",
      "search.copy": "Copy", "search.copied": "Copied", "search.busy": "Searching…"
    }
  });

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function customerLanguage() {
    var panel = window.__rafiq;
    var lang = null;
    if (panel && panel.state && panel.state.segments) {
      panel.state.segments.forEach(function (seg) {
        if (seg.data && seg.data.speaker === "customer" && seg.data.language) lang = String(seg.data.language);
      });
    }
    return lang;
  }

  function build() {
    var pane = document.querySelector(".pane--suggestions");
    var list = document.querySelector('[data-testid="suggestions"]');
    if (!pane || !list) return;
    var form = el("form", { class: "kbsearch", "data-testid": "kb-search", role: "search" });
    var label = el("label", { class: "kbsearch__label", for: "kb-search-input", "data-i18n": "search.label" }, t("search.label"));
    var input = el("input", { id: "kb-search-input", class: "kbsearch__input", type: "search", dir: "auto",
                              maxlength: "500", autocomplete: "off", "data-testid": "kb-search-input",
                              "data-i18n-placeholder": "search.placeholder" });
    input.placeholder = t("search.placeholder");
    var button = el("button", { type: "submit", class: "btn", "data-testid": "kb-search-submit", "data-i18n": "search.submit" },
                    t("search.submit"));
    var status = el("p", { class: "kbsearch__status", "data-testid": "kb-search-status", "aria-live": "polite" });
    status.hidden = true;
    var results = el("ul", { class: "kbsearch__results", "data-testid": "kb-search-results" });
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(button);
    form.appendChild(status);
    form.appendChild(results);
    pane.insertBefore(form, list);

    function say(key) {
      status.hidden = !key;
      if (key) { status.setAttribute("data-i18n", key); status.textContent = t(key); }
    }

    function render(answers) {
      var frag = document.createDocumentFragment();
      answers.forEach(function (a) {
        var li = el("li", { class: "kbsearch__result", "data-testid": "kb-search-result", "data-article-id": a.article_id });
        var head = el("div", { class: "kbsearch__head" });
        head.appendChild(el("strong", { class: "kbsearch__title", dir: "auto" }, a.title));
        head.appendChild(el("span", { class: "tag tag--small", lang: "en" }, String(a.language || "").toUpperCase()));
        head.appendChild(el("span", { class: "src__score", dir: "ltr", "data-testid": "kb-search-score" },
                            Math.round(Number(a.score) * 100) + "%"));
        var text = el("p", { class: "kbsearch__text", dir: "auto", lang: a.language || "", "data-testid": "kb-search-text" }, a.text);
        var copy = el("button", { type: "button", class: "btn btn--ghost", "data-i18n": "search.copy" }, t("search.copy"));
        copy.addEventListener("click", function () {
          var done = function () { copy.setAttribute("data-i18n", "search.copied"); copy.textContent = t("search.copied"); };
          if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(a.text).then(done, function () {});
          else done();
        });
        li.appendChild(head);
        li.appendChild(text);
        li.appendChild(copy);
        frag.appendChild(li);
      });
      results.replaceChildren(frag);
    }

    var generation = 0;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var q = input.value.trim();
      if (!q) { input.focus(); return; }
      var callId = document.body.getAttribute("data-call-id") || "";
      var params = new URLSearchParams({ q: q });
      var lang = customerLanguage();
      if (lang) params.set("language", lang.split(/[-_]/)[0]);
      var url = (callId ? "/v1/calls/" + encodeURIComponent(callId) + "/answers?" : "/v1/kb/answers?") + params.toString();
      var mine = ++generation;
      form.setAttribute("aria-busy", "true");
      say("search.busy");
      fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      }).then(function (body) {
        if (mine !== generation) return;
        render(body.answers || []);
        say(body.answers && body.answers.length ? null : "search.none");
      }).catch(function () {
        if (mine !== generation) return;
        results.replaceChildren();
        say("search.failed");
      }).then(function () {
        if (mine === generation) form.removeAttribute("aria-busy");
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", build);
  else build();
})();
