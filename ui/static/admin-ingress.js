/* Rafiq administration page, Settings tab: the telephony ingresses of this server and how each
 * authenticates its connections (GET /v1/telephony/ingress), those open to anyone who knows the
 * address flagged. Its own strings in French, Arabic and English. Read-only: the credentials are
 * the server's environment (RAFIQ_TWILIO_AUTH_TOKEN, …), never shown here. */
(function () {
  "use strict";

  var I = window.RafiqI18n;
  var Dom = window.RafiqDom, byTest = Dom.byTest, el = Dom.el;

  I.extend({
    fr: {
      "ingress.title": "Téléphonie : entrées du serveur",
      "ingress.hint": "Réglées dans l'environnement du serveur (voir le README). Une entrée ouverte accepte quiconque connaît son adresse.",
      "ingress.open": "Ouverte sans authentification", "ingress.secured": "Authentifiée : {method}",
      "ingress.bound": "liée à votre centre", "ingress.all_secured": "Toutes les entrées sont authentifiées.",
      "ingress.some_open": "{n} entrée(s) ouverte(s) sans authentification : à réserver au développement.",
      "ingress.error": "Impossible de lire les entrées de téléphonie."
    },
    ar: {
      "ingress.title": "الهاتف: مداخل الخادم",
      "ingress.hint": "تُضبط في بيئة الخادم (انظر README). المدخل المفتوح يقبل كل من يعرف عنوانه.",
      "ingress.open": "مفتوح بدون مصادقة", "ingress.secured": "مُصادَق: {method}",
      "ingress.bound": "مرتبط بمركزك", "ingress.all_secured": "كل المداخل مُصادَقة.",
      "ingress.some_open": "{n} مدخل مفتوح بدون مصادقة: للتطوير فقط.",
      "ingress.error": "تعذّرت قراءة مداخل الهاتف."
    },
    en: {
      "ingress.title": "Telephony: this server's ingresses",
      "ingress.hint": "Set in the server's environment (see the README). An open ingress accepts anyone who knows its address.",
      "ingress.open": "Open without authentication", "ingress.secured": "Authenticated: {method}",
      "ingress.bound": "bound to your centre", "ingress.all_secured": "Every ingress is authenticated.",
      "ingress.some_open": "{n} ingress(es) open without authentication: for development only.",
      "ingress.error": "Cannot read the telephony ingresses."
    }
  });

  var NAMES = { twilio: "Twilio Media Streams", audiohook: "Genesys AudioHook", freeswitch: "FreeSWITCH",
                audiosocket: "Asterisk AudioSocket" };
  var last = null;

  function render() {
    var list = byTest("ingress-list"), summary = byTest("ingress-summary");
    if (!list || !last) return;
    list.textContent = "";
    last.ingresses.forEach(function (row) {
      var item = el("li", { "class": "a-ingress" + (row.authenticated ? "" : " a-ingress--open"),
                            "data-testid": "ingress-" + row.ingress, "data-open": row.authenticated ? "false" : "true" });
      item.appendChild(el("strong", { dir: "ltr" }, NAMES[row.ingress] || row.ingress));
      var state = row.authenticated ? I.t("ingress.secured", { method: row.method }) : I.t("ingress.open");
      if (row.bound_here) state += " · " + I.t("ingress.bound");
      item.appendChild(el("span", {}, state));
      list.appendChild(item);
    });
    summary.textContent = last.open.length ? I.t("ingress.some_open", { n: last.open.length }) : I.t("ingress.all_secured");
    summary.setAttribute("data-open", String(last.open.length));
  }

  function load() {
    return fetch("/v1/telephony/ingress", { headers: { Accept: "application/json" }, credentials: "same-origin",
                                             cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (body) { last = body; render(); byTest("ingress-card").setAttribute("data-loaded", "true"); })
      .catch(function () { byTest("ingress-summary").textContent = I.t("ingress.error"); });
  }

  function start() {
    var card = byTest("ingress-card");
    if (!card) return;
    I.onChange(render);
    window.RafiqSession.ready.then(load);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
