/* Call page (/supervisor/calls/{id}): one call as GET /v1/calls/{id} gives it — facts, summary,
 * wrap-up, customer sentiment curve (plain SVG), transcript with speakers and times, suggestions
 * and what the agent did with each, alerts (title, detail, kind, time, who acknowledged them),
 * notes, the quality score with its checklist (call-quality.js: a supervisor overrides an item
 * there) and the speech model's compute and energy estimate for the call. */
(function () {
  "use strict";

  var I = window.RafiqI18n, t = I.t, D = window.RafiqDom;
  var SVG = "http://www.w3.org/2000/svg";
  var SIGN = { negative: -1, neutral: 0, positive: 1 };
  var call = null;

  function callId() {
    var parts = location.pathname.split("/");
    try { return decodeURIComponent(parts[parts.length - 1]); } catch (e) { return parts[parts.length - 1]; }
  }

  function clock(seconds) {
    var s = Math.max(0, Math.round(Number(seconds) || 0));
    return Math.floor(s / 60) + ":" + (s % 60 < 10 ? "0" : "") + (s % 60);
  }

  function when(iso) {
    if (!iso) return t("callpage.none");
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString(I.getLang());
  }

  function facts(dl, pairs) {
    dl.textContent = "";
    pairs.forEach(function (p) {
      dl.appendChild(D.el("dt", {}, t(p[0])));
      dl.appendChild(D.el("dd", { "data-testid": p[2] || "" }, p[1] === null || p[1] === undefined || p[1] === "" ? t("callpage.none") : p[1]));
    });
  }

  function emptyItem(list) { list.appendChild(D.el("li", { "class": "c-muted" }, t("callpage.empty"))); }

  function textDir(text) { return /[\u0600-\u06ff]/.test(text || "") ? "rtl" : "auto"; }

  function renderCurve(box, segments) {
    box.textContent = "";
    var points = segments.filter(function (s) {
      return s.speaker === "customer" && s.sentiment && SIGN.hasOwnProperty(s.sentiment.label);
    });
    if (!points.length) { box.appendChild(D.el("p", { "class": "c-muted", "data-testid": "sentiment-none" }, t("callpage.no_sentiment"))); return; }
    var end = Math.max.apply(null, points.map(function (s) { return Number(s.end) || 0; }).concat([1]));
    var W = 600, H = 120, pad = 10;
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("class", "c-curve");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", t("callpage.sentiment"));
    svg.setAttribute("data-testid", "sentiment-curve");
    var axis = document.createElementNS(SVG, "line");
    axis.setAttribute("x1", pad); axis.setAttribute("x2", W - pad); axis.setAttribute("y1", H / 2); axis.setAttribute("y2", H / 2);
    axis.setAttribute("class", "c-curve__axis");
    svg.appendChild(axis);
    var coords = points.map(function (s) {
      var value = SIGN[s.sentiment.label] * (Number(s.sentiment.score) || 1);
      var mid = ((Number(s.start) || 0) + (Number(s.end) || 0)) / 2;
      return [pad + (W - 2 * pad) * mid / end, H / 2 - value * (H / 2 - pad), s];
    });
    var line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", coords.map(function (c) { return c[0].toFixed(1) + "," + c[1].toFixed(1); }).join(" "));
    line.setAttribute("class", "c-curve__line");
    svg.appendChild(line);
    coords.forEach(function (c) {
      var dot = document.createElementNS(SVG, "circle");
      dot.setAttribute("cx", c[0].toFixed(1)); dot.setAttribute("cy", c[1].toFixed(1)); dot.setAttribute("r", "4");
      dot.setAttribute("class", "c-curve__dot--" + c[2].sentiment.label);
      var title = document.createElementNS(SVG, "title");
      title.textContent = clock(c[2].start) + " " + t("sentiment." + c[2].sentiment.label);
      dot.appendChild(title);
      svg.appendChild(dot);
    });
    box.appendChild(svg);
  }

  function number(value, digits) {
    return Number(value || 0).toLocaleString(I.getLang(), { maximumFractionDigits: digits });
  }

  /* The speech model's time for the call (assistant/compute.py's call.compute fields). */
  function renderCompute(section, compute) {
    if (!compute) { section.hidden = true; return; }
    section.hidden = false;
    var box = D.$(".c-extra", section);
    box.textContent = "";
    var dl = D.el("dl", { "class": "c-facts" });
    [["callpage.co.encoder", "asr_encoder_s", "s", 2, "compute-encoder"],
     ["callpage.co.decoder", "asr_decoder_s", "s", 2, "compute-decoder"],
     ["callpage.co.audio", "asr_audio_s", "s", 1, "compute-audio"],
     ["callpage.co.decodes", "asr_decodes", "", 0, "compute-decodes"],
     ["callpage.co.energy", "energy_wh", "Wh", 4, "compute-energy"]].forEach(function (f) {
      dl.appendChild(D.el("dt", {}, t(f[0])));
      dl.appendChild(D.el("dd", { "data-testid": f[4], "data-value": String(compute[f[1]] || 0) },
        number(compute[f[1]], f[3]) + (f[2] ? " " + f[2] : "")));
    });
    box.appendChild(dl);
    box.appendChild(D.el("p", { "class": "c-muted c-note", "data-testid": "compute-explained" },
      t("callpage.co.explained", { watts: number(compute.watts, 1), device: compute.device || "?" })));
  }

  function render() {
    var c = call;
    D.byTest("call-title").textContent = t("callpage.title", { id: c.call_id });
    facts(D.byTest("call-facts"), [
      ["callpage.status", t(c.status === "live" ? "callpage.live" : "callpage.ended_status"), "fact-status"],
      ["callpage.agent", c.agent, "fact-agent"], ["callpage.team", c.team], ["callpage.campaign", c.campaign, "fact-campaign"],
      ["callpage.started", when(c.started_at)], ["callpage.ended", c.ended_at ? when(c.ended_at) : ""],
      ["callpage.duration", c.started_at && c.ended_at ? clock((new Date(c.ended_at) - new Date(c.started_at)) / 1000) : ""],
      ["callpage.reason", c.end_reason], ["callpage.languages", (c.summary_detail && c.summary_detail.language) || c.language]
    ]);
    var summary = D.byTest("call-summary");
    summary.textContent = c.summary || t("callpage.no_summary");
    summary.setAttribute("dir", textDir(c.summary));
    var w = c.wrap_up_detail || {};
    facts(D.byTest("call-wrap-up"), [
      ["callpage.wrap_up", c.wrap_up ? (w.label ? w.label + " (" + c.wrap_up + ")" : c.wrap_up) : "", "wrap-up-code"],
      ["callpage.suggested", w.suggested], ["callpage.confirmed", w.confirmed, "wrap-up-confirmed"],
      ["callpage.by", w.by, "wrap-up-by"], ["callpage.at", w.at ? when(w.at) : ""]
    ]);
    var segments = (c.segments || []).slice().sort(function (a, b) { return (a.start || 0) - (b.start || 0); });
    renderCurve(D.byTest("call-sentiment"), segments);
    var tr = D.byTest("call-transcript");
    tr.textContent = "";
    segments.forEach(function (s) {
      var li = D.el("li", { "class": "c-seg c-seg--" + s.speaker, "data-testid": "call-segment", "data-speaker": s.speaker,
                            "data-segment-id": s.segment_id || "" });
      li.appendChild(D.el("span", { "class": "c-seg__time" }, clock(s.start)));
      li.appendChild(D.el("span", { "class": "c-seg__who" }, t("speaker." + s.speaker)));
      li.appendChild(D.el("span", { dir: textDir(s.text), lang: s.language || "" }, s.text));
      tr.appendChild(li);
    });
    if (!segments.length) emptyItem(tr);
    var sugg = D.byTest("call-suggestions");
    sugg.textContent = "";
    (c.suggestions || []).forEach(function (s) {
      var action = s.feedback && s.feedback.action ? s.feedback.action : "shown";
      var li = D.el("li", { "class": "c-item", "data-testid": "call-suggestion", "data-action": action });
      var source = (s.sources || [])[0];
      li.appendChild(D.el("div", { "class": "c-item__meta" },
        (source ? t("callpage.source", { title: source.title || source.article_id }) + " · " : "") + t("callpage.action." + action)));
      li.appendChild(D.el("div", { dir: textDir(s.text) }, s.text));
      sugg.appendChild(li);
    });
    if (!(c.suggestions || []).length) emptyItem(sugg);
    var alerts = D.byTest("call-alerts");
    alerts.textContent = "";
    (c.alerts || []).forEach(function (a) {
      var ack = a.acknowledged;
      var li = D.el("li", { "class": "c-item", "data-testid": "call-alert", "data-kind": a.kind || "",
                            "data-acknowledged": String(!!ack) });
      var head = D.el("div", { "class": "c-item__head" });
      head.appendChild(D.el("strong", { dir: "auto", "data-testid": "alert-title" }, a.title || a.kind || ""));
      head.appendChild(D.el("span", { "class": "c-item__meta" },
        " · " + t("callpage.kind." + a.kind) + (a.at ? " · " + when(a.at) : "")));
      li.appendChild(head);
      if (a.detail) li.appendChild(D.el("div", { dir: "auto", "data-testid": "alert-detail" }, a.detail));
      li.appendChild(D.el("div", { "class": "c-item__meta", "data-testid": "alert-ack" }, ack
        ? t("callpage.acknowledged_by", { by: ack.by || "?", at: ack.at ? when(ack.at) : "" })
        : t("callpage.open")));
      alerts.appendChild(li);
    });
    if (!(c.alerts || []).length) emptyItem(alerts);
    var notes = D.byTest("call-notes");
    notes.textContent = "";
    (c.notes || []).forEach(function (n) {
      var li = D.el("li", { "class": "c-item", "data-testid": "call-note" });
      li.appendChild(D.el("div", { "class": "c-item__meta" }, n.by || n.author || ""));
      li.appendChild(D.el("div", { dir: textDir(n.text) }, n.text || ""));
      notes.appendChild(li);
    });
    if (!(c.notes || []).length) emptyItem(notes);
    window.RafiqCallQuality.render(D.byTest("call-quality"), c.call_id, c.quality,
      function (fresh) { call.quality = fresh; render(); }, showError);
    renderCompute(D.byTest("call-compute"), c.compute);
  }

  function load() {
    return fetch("/v1/calls/" + encodeURIComponent(callId()), { headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error(t("callpage.error"));
        return r.json();
      }).then(function (body) { call = body; render(); })
      .catch(showError);
  }

  function showError(err) {
    var toast = D.byTest("error");
    D.$(".toast__text", toast).textContent = err.message;
    toast.hidden = false;
  }

  function init() {
    I.applyI18n(document);
    I.bindLangButtons(document);
    I.onChange(function () { if (call) render(); });
    var ready = window.RafiqSession ? window.RafiqSession.ready : Promise.resolve(null);
    ready.then(load).then(function () { document.body.setAttribute("data-ready", "true"); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
