/* Agent panel: after-call work. When the agent's own call ends (or an ended call of theirs is
 * opened), a card shows the call's summary and the suggested wrap-up code from the centre's
 * list; the agent confirms it or picks another (PUT /v1/calls/{id}/wrap_up). panel.js tells this
 * module what happens through two DOM events: "rafiq:call-selected" and "rafiq:call-event". */
(function () {
  "use strict";

  var I = window.RafiqI18n, t = I.t;
  I.extend({
    fr: { "wrapup.title": "Clôture de l'appel", "wrapup.code": "Code de clôture", "wrapup.confirm": "Confirmer",
          "wrapup.saved": "Enregistré : {label}", "wrapup.suggested": "Suggéré : {label}", "wrapup.failed": "Enregistrement impossible",
          "wrapup.summary": "Résumé" },
    ar: { "wrapup.title": "إغلاق المكالمة", "wrapup.code": "رمز الإغلاق", "wrapup.confirm": "تأكيد",
          "wrapup.saved": "تم الحفظ: {label}", "wrapup.suggested": "مقترح: {label}", "wrapup.failed": "تعذّر الحفظ",
          "wrapup.summary": "الملخص" },
    en: { "wrapup.title": "Call wrap-up", "wrapup.code": "Wrap-up code", "wrapup.confirm": "Confirm",
          "wrapup.saved": "Saved: {label}", "wrapup.suggested": "Suggested: {label}", "wrapup.failed": "Could not save",
          "wrapup.summary": "Summary" }
  });

  var state = { callId: null, me: null, codes: [], view: null, gen: 0 };
  var card = null;

  function el(tag, attrs, text) { return window.RafiqDom ? window.RafiqDom.el(tag, attrs, text) : make(tag, attrs, text); }
  function make(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function label(code) {
    var c = state.codes.filter(function (x) { return x.code === code; })[0];
    if (!c) return code;
    var l = c.label || {};
    return l[I.getLang()] || l["*"] || l.en || l.fr || code;
  }

  function build() {
    card = el("section", { "class": "card wrapup", "data-testid": "wrapup", "aria-labelledby": "wrapup-title" });
    card.hidden = true;
    card.appendChild(el("h2", { id: "wrapup-title", "data-i18n": "wrapup.title" }, t("wrapup.title")));
    card.appendChild(el("p", { "class": "wrapup__summary", "data-testid": "wrapup-summary" }));
    var row = el("div", { "class": "wrapup__row" });
    row.appendChild(el("label", { "for": "wrapup-code", "data-i18n": "wrapup.code" }, t("wrapup.code")));
    row.appendChild(el("select", { id: "wrapup-code", "data-testid": "wrapup-code" }));
    var button = el("button", { type: "button", "class": "btn btn--primary", "data-testid": "wrapup-confirm", "data-i18n": "wrapup.confirm" }, t("wrapup.confirm"));
    row.appendChild(button);
    card.appendChild(row);
    card.appendChild(el("p", { "class": "wrapup__status", "data-testid": "wrapup-status", role: "status", "aria-live": "polite" }));
    button.addEventListener("click", confirm);
    var main = document.querySelector("main.layout") || document.body;
    main.appendChild(card);
  }

  function fill() {
    var v = state.view;
    var select = card.querySelector("select");
    select.textContent = "";
    state.codes.forEach(function (c) { select.appendChild(el("option", { value: c.code }, label(c.code))); });
    if (v.wrap_up) select.value = v.wrap_up;
    var summary = card.querySelector(".wrapup__summary");
    summary.textContent = v.summary || "";
    summary.setAttribute("dir", /[\u0600-\u06ff]/.test(v.summary || "") ? "rtl" : "auto");
    var d = v.wrap_up_detail || {};
    var status = card.querySelector(".wrapup__status");
    status.textContent = d.confirmed ? t("wrapup.saved", { label: label(d.confirmed) })
      : d.suggested ? t("wrapup.suggested", { label: label(d.suggested) }) : "";
    card.setAttribute("data-confirmed", d.confirmed || "");
    card.hidden = false;
  }

  function open(callId) {
    var gen = ++state.gen;
    Promise.all([
      fetch("/v1/calls/" + encodeURIComponent(callId)).then(function (r) { return r.ok ? r.json() : null; }),
      fetch("/v1/wrap-up-codes").then(function (r) { return r.ok ? r.json() : { codes: [] }; })
    ]).then(function (res) {
      var view = res[0];
      if (gen !== state.gen || !view || view.status !== "ended") return;
      if (!state.me || view.agent !== state.me.username) return;  // only the agent of the call wraps it up
      state.view = view;
      state.codes = res[1].codes || [];
      fill();
    });
  }

  function confirm() {
    var code = card.querySelector("select").value;
    var callId = state.callId;
    fetch("/v1/calls/" + encodeURIComponent(callId) + "/wrap_up", {
      method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code: code })
    }).then(function (r) { return r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)); })
      .then(function (body) {
        if (callId !== state.callId) return;
        state.view.wrap_up = body.wrap_up;
        state.view.wrap_up_detail = body.wrap_up_detail;
        fill();
      }).catch(function () { card.querySelector(".wrapup__status").textContent = t("wrapup.failed"); });
  }

  document.addEventListener("rafiq:call-selected", function (e) {
    state.callId = e.detail.callId;
    state.me = e.detail.me;
    state.gen++;
    if (card) card.hidden = true;
  });
  document.addEventListener("rafiq:call-event", function (e) {
    var ev = e.detail.event;
    state.me = e.detail.me;
    if (ev && ev.type === "call.ended" && e.detail.callId === state.callId) open(state.callId);
  });
  I.onChange(function () { if (card && !card.hidden && state.view) fill(); });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", build);
  else build();
})();
