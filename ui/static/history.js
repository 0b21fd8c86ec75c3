/* Call history page (/supervisor/calls): filters (kept in the address, so a search can be
 * reloaded or shared), full-text search, pages read with the API's cursor, export links that
 * carry the same filters. Data: GET /v1/calls, /v1/calls/export, /v1/wrap-up-codes. */
(function () {
  "use strict";

  var I = window.RafiqI18n, t = I.t, D = window.RafiqDom;
  var FIELDS = ["q", "from", "to", "agent", "team", "campaign", "language", "sentiment", "min_duration", "wrap_up",
                "has_alert", "suggestion_used"];
  var PAGE = 50;
  var state = { cursor: null, shown: 0, codes: [] };
  var form = D.byTest("history-filters");
  var rows = D.byTest("history-rows");

  function control(name) { return form.elements[name]; }

  function params() {
    var p = new URLSearchParams();
    FIELDS.forEach(function (name) {
      var v = String(control(name).value || "").trim();
      if (v) p.set(name, v);
    });
    return p;
  }

  function fillFromAddress() {
    var p = new URLSearchParams(location.search);
    FIELDS.forEach(function (name) { if (p.has(name)) control(name).value = p.get(name); });
  }

  function showError(detail) {
    var toast = D.byTest("error");
    D.$(".toast__text", toast).textContent = t("history.error", { detail: detail });
    toast.hidden = false;
  }

  function fmtDuration(s) {
    if (s === null || s === undefined) return "";
    s = Math.round(s);
    return Math.floor(s / 60) + ":" + (s % 60 < 10 ? "0" : "") + (s % 60);
  }

  function fmtTime(iso) {
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString(I.getLang() === "ar" ? "ar" : I.getLang());
  }

  function codeLabel(code) {
    var found = state.codes.filter(function (c) { return c.code === code; })[0];
    if (!found) return code || "";
    var l = found.label || {};
    return l[I.getLang()] || l["*"] || l.en || l.fr || code;
  }

  function row(c) {
    var tr = D.el("tr", { "data-testid": "history-row", "data-call-id": c.call_id, "class": c.status === "live" ? "is-live" : "" });
    tr.appendChild(D.el("td", {}, fmtTime(c.started_at)));
    var cell = D.el("td");
    var link = D.el("a", { href: "/supervisor/calls/" + encodeURIComponent(c.call_id), "data-testid": "history-link" }, c.call_id);
    cell.appendChild(link);
    if (c.status === "live") cell.appendChild(D.el("span", { "class": "h-badge", "data-i18n": "history.live" }, " " + t("history.live")));
    tr.appendChild(cell);
    tr.appendChild(D.el("td", {}, c.agent || "—"));
    tr.appendChild(D.el("td", {}, c.campaign || "—"));
    tr.appendChild(D.el("td", {}, (c.languages && c.languages.length ? c.languages : [c.language || ""]).join(", ")));
    tr.appendChild(D.el("td", {}, fmtDuration(c.duration_s)));
    var sent = D.el("td");
    if (c.sentiment) sent.appendChild(D.el("span", { "class": "h-badge h-badge--" + c.sentiment }, t("sentiment." + c.sentiment)));
    tr.appendChild(sent);
    tr.appendChild(D.el("td", {}, c.suggestions_used === null || c.suggestions_used === undefined ? "" :
      c.suggestions_used + " / " + c.suggestions_shown));
    tr.appendChild(D.el("td", {}, c.alerts === null || c.alerts === undefined ? "" : c.alerts));
    tr.appendChild(D.el("td", { "data-testid": "history-wrap-up" }, c.wrap_up ? codeLabel(c.wrap_up) + (c.wrap_up_confirmed ? " ✓" : "") : ""));
    return tr;
  }

  function updateCount(more) {
    D.byTest("history-count").textContent = t(more ? "history.count_more" : "history.count", { n: state.shown });
  }

  function load(reset) {
    var p = params();
    p.set("limit", String(PAGE));
    if (!reset && state.cursor) p.set("cursor", state.cursor);
    document.body.setAttribute("data-loading", "true");
    return fetch("/v1/calls?" + p.toString(), { headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body && body.detail && body.detail.message ? body.detail.message : "HTTP " + r.status);
        return body;
      });
    }).then(function (body) {
      if (reset) { rows.textContent = ""; state.shown = 0; }
      body.calls.forEach(function (c) { rows.appendChild(row(c)); });
      state.shown += body.calls.length;
      state.cursor = body.next_cursor;
      D.byTest("history-more").hidden = !body.next_cursor;
      D.byTest("history-empty").hidden = state.shown > 0;
      updateCount(!!body.next_cursor);
      D.byTest("error").hidden = true;
    }).catch(function (err) { showError(err.message); }).then(function () {
      document.body.setAttribute("data-loading", "false");
    });
  }

  function apply() {
    var p = params();
    var query = p.toString();
    history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
    ["csv", "jsonl"].forEach(function (fmt) {
      var e = new URLSearchParams(p);
      e.set("format", fmt);
      D.byTest("export-" + fmt).setAttribute("href", "/v1/calls/export?" + e.toString());
    });
    return load(true);
  }

  function loadCodes() {
    return fetch("/v1/wrap-up-codes").then(function (r) { return r.ok ? r.json() : { codes: [] }; }).then(function (body) {
      state.codes = body.codes || [];
      var select = control("wrap_up");
      var keep = new URLSearchParams(location.search).get("wrap_up") || select.value;
      D.$$("option[data-code]", select).forEach(function (o) { o.remove(); });
      state.codes.forEach(function (c) {
        select.appendChild(D.el("option", { value: c.code, "data-code": c.code }, codeLabel(c.code)));
      });
      select.value = keep || "";
    });
  }

  function init() {
    I.applyI18n(document);
    I.bindLangButtons(document);
    I.onChange(function () {
      loadCodes().then(function () { load(true); });
    });
    fillFromAddress();
    form.addEventListener("submit", function (e) { e.preventDefault(); apply(); });
    form.addEventListener("reset", function () { setTimeout(apply, 0); });
    D.byTest("history-more").addEventListener("click", function () { load(false); });
    var ready = window.RafiqSession ? window.RafiqSession.ready : Promise.resolve(null);
    ready.then(loadCodes).then(apply).then(function () {
      document.body.setAttribute("data-ready", "true");
      control("q").focus();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
