/* Rafiq supervisors' live floor: every live call of the supervisor's tenant (or team), kept up
 * to date over one WebSocket (/v1/floor: a snapshot, then each change) — agent, campaign,
 * languages, duration, the customer's sentiment and its trend, silence, overtalk, the last
 * suggestion and what the agent did with it, open alerts (acknowledged here). A call opens in
 * the agent panel, read-only, exactly as the agent sees it; a note goes to its agent from here.
 */
(function () {
  "use strict";

  var I = window.RafiqI18n, t = I.t;
  var Dom = window.RafiqDom, $ = Dom.$, $$ = Dom.$$, byTest = Dom.byTest, el = Dom.el;
  var Api = window.RafiqApi;

  var BACKOFF_MIN_MS = 500, BACKOFF_MAX_MS = 10000;
  var TREND_ARROWS = { rising: "↗", falling: "↘", steady: "→" };

  var state = { calls: {}, ws: null, gen: 0, backoff: BACKOFF_MIN_MS, noteFor: null, messages: 0 };
  var els = {};

  /* ------------------------------------------------------------- formatting */

  function duration(startedAt) {
    var seconds = Math.max(0, Math.floor((Date.now() - Date.parse(startedAt)) / 1000));
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  function seconds(value) { return (Math.round(value * 10) / 10) + " s"; }

  function showError(text) {
    $(".toast__text", els.toast).textContent = text;
    els.toast.hidden = false;
  }

  function setConn(s) {
    els.conn.setAttribute("data-state", s);
    var label = $(".conn__label", els.conn);
    label.setAttribute("data-i18n", "conn." + s);
    label.textContent = t("conn." + s);
  }

  /* ------------------------------------------------------------------ rows */

  function cell(testid, text) {
    var td = el("td", { "data-testid": testid });
    if (text !== undefined) td.textContent = text;
    return td;
  }

  function sentimentCell(call) {
    var td = cell("floor-sentiment");
    var s = call.sentiment;
    if (!s) { td.textContent = "—"; return td; }
    td.setAttribute("data-label", s.label);
    td.appendChild(el("span", { "class": "floor__mood", "data-mood": s.label }, t("sentiment." + s.label)));
    if (call.sentiment_trend) {
      td.appendChild(el("span", { "class": "floor__trend", "data-testid": "floor-trend", "data-trend": call.sentiment_trend,
                                  title: t("trend." + call.sentiment_trend) }, " " + TREND_ARROWS[call.sentiment_trend]));
    }
    return td;
  }

  function suggestionCell(call) {
    var td = cell("floor-suggestion");
    var s = call.last_suggestion;
    if (!s) { td.textContent = "—"; return td; }
    td.appendChild(el("span", { "class": "floor__sugg", dir: "auto", title: s.text }, s.title || s.text));
    var action = s.action || "none";
    td.appendChild(el("span", { "class": "tag floor__used", "data-testid": "floor-suggestion-action", "data-action": action },
                      t("floor.action." + action)));
    return td;
  }

  function alertsCell(call) {
    var td = cell("floor-alerts");
    var list = el("ul", { "class": "floor__alerts" });
    (call.alerts || []).forEach(function (a) {
      var li = el("li", { "class": "floor__alert", "data-testid": "floor-alert", "data-alert-id": a.alert_id,
                          "data-kind": a.kind });
      li.appendChild(el("span", { "class": "floor__alert-title", dir: "auto", title: a.detail || "" },
                        t("alert.kind." + a.kind) + " · " + a.title));
      var ack = el("button", { type: "button", "class": "btn floor__ack", "data-testid": "floor-ack",
                               "aria-label": t("floor.ack_label", { title: a.title }) }, t("floor.ack"));
      ack.addEventListener("click", function () { acknowledge(call.call_id, a.alert_id, ack); });
      li.appendChild(ack);
      list.appendChild(li);
    });
    td.appendChild(list);
    return td;
  }

  function renderRow(call) {
    var tr = el("tr", { "data-testid": "floor-row", "data-call-id": call.call_id,
                        "data-alerts": String((call.alerts || []).length) });
    tr.appendChild(cell("floor-agent", call.agent || t("calls.no_agent")));
    tr.appendChild(cell("floor-campaign", call.campaign || "—"));
    tr.appendChild(cell("floor-languages", (call.languages || []).map(function (l) { return l.toUpperCase(); }).join(" · ") || "—"));
    var d = cell("floor-duration", duration(call.started_at));
    d.setAttribute("dir", "ltr");
    tr.appendChild(d);
    tr.appendChild(sentimentCell(call));
    var quiet = call.silent_for_s ? t("floor.silent_now", { s: call.silent_for_s }) + " · " : "";
    tr.appendChild(cell("floor-silence", quiet + seconds(call.silence_s)));
    tr.appendChild(cell("floor-overtalk", seconds(call.overtalk_s)));
    tr.appendChild(suggestionCell(call));
    tr.appendChild(alertsCell(call));
    var actions = cell("floor-actions");
    var open = el("a", { "class": "btn", href: "/#call=" + encodeURIComponent(call.call_id), "data-testid": "floor-open",
                         "aria-label": t("floor.open_label", { agent: call.agent || call.call_id }) }, t("floor.open"));
    var note = el("button", { type: "button", "class": "btn", "data-testid": "floor-note",
                              "aria-label": t("floor.note_label", { agent: call.agent || call.call_id }) }, t("floor.note"));
    note.addEventListener("click", function () { openNote(call.call_id); });
    actions.appendChild(open);
    actions.appendChild(note);
    tr.appendChild(actions);
    return tr;
  }

  function order(a, b) {
    var alerts = (b.alerts || []).length - (a.alerts || []).length;
    return alerts || (a.started_at < b.started_at ? -1 : a.started_at > b.started_at ? 1 : 0);
  }

  function render() {
    var calls = Object.keys(state.calls).map(function (id) { return state.calls[id]; }).sort(order);
    // Keep focus on the button it was on when the row is rebuilt (keyboard users).
    var focused = document.activeElement, focusKey = null;
    if (focused && els.rows.contains(focused)) {
      var row = focused.closest("tr");
      focusKey = [row && row.getAttribute("data-call-id"), focused.getAttribute("data-testid")];
    }
    els.rows.textContent = "";
    calls.forEach(function (call) { els.rows.appendChild(renderRow(call)); });
    els.empty.hidden = calls.length > 0;
    els.count.textContent = String(calls.length);
    var open = calls.reduce(function (n, c) { return n + (c.alerts || []).length; }, 0);
    els.alertCount.hidden = open === 0;
    els.alertCount.textContent = t("floor.open_alerts", { n: open });
    if (focusKey && focusKey[0]) {
      var again = $('tr[data-call-id="' + CSS.escape(focusKey[0]) + '"] [data-testid="' + focusKey[1] + '"]', els.rows);
      if (again) again.focus();
    }
  }

  function tick() {
    $$('[data-testid="floor-row"]', els.rows).forEach(function (tr) {
      var call = state.calls[tr.getAttribute("data-call-id")];
      if (call) byTest("floor-duration", tr).textContent = duration(call.started_at);
    });
  }

  /* --------------------------------------------------------------- actions */

  function acknowledge(callId, alertId, button) {
    button.disabled = true;
    Api.call("POST", "/v1/calls/" + encodeURIComponent(callId) + "/alerts/" + encodeURIComponent(alertId) + "/ack")
      .then(function () {
        // The floor's own change follows on the socket; remove it now so the click shows at once.
        var call = state.calls[callId];
        if (call) call.alerts = (call.alerts || []).filter(function (a) { return a.alert_id !== alertId; });
        render();
      }, function (err) {
        button.disabled = false;
        showError(t("floor.ack_failed") + " " + err.message);
      });
  }

  function openNote(callId) {
    var call = state.calls[callId];
    state.noteFor = callId;
    els.noteTitle.textContent = t("floor.note_to", { agent: (call && call.agent) || callId });
    els.noteStatus.textContent = "";
    els.noteForm.hidden = false;
    els.noteText.focus();
  }

  function closeNote() {
    var callId = state.noteFor;
    state.noteFor = null;
    els.noteForm.hidden = true;
    var back = callId && $('tr[data-call-id="' + CSS.escape(callId) + '"] [data-testid="floor-note"]', els.rows);
    if (back) back.focus();
  }

  function sendNote(e) {
    e.preventDefault();
    var text = els.noteText.value.trim();
    if (!text || !state.noteFor) return;
    els.noteSend.disabled = true;
    Api.call("POST", "/v1/calls/" + encodeURIComponent(state.noteFor) + "/notes", { text: text }).then(function () {
      els.noteText.value = "";
      els.noteStatus.textContent = t("floor.note_sent");
    }, function (err) {
      els.noteStatus.textContent = t("notes.failed") + " " + err.message;
    }).then(function () { els.noteSend.disabled = false; });
  }

  /* ---------------------------------------------------------------- socket */

  function onMessage(message) {
    state.messages++;
    document.body.setAttribute("data-floor-messages", String(state.messages));
    if (message.type === "floor.snapshot") {
      state.calls = {};
      (message.calls || []).forEach(function (c) { state.calls[c.call_id] = c; });
    } else if (message.type === "floor.call") {
      state.calls[message.call.call_id] = message.call;
    } else if (message.type === "floor.call.ended") {
      delete state.calls[message.call_id];
      if (state.noteFor === message.call_id) closeNote();
    } else {
      return;
    }
    render();
  }

  function connect() {
    var gen = ++state.gen;
    setConn(state.ws === null && state.messages === 0 ? "connecting" : "reconnecting");
    var ws = new WebSocket(Api.socketUrl("/v1/floor"));
    state.ws = ws;
    var opened = false;
    ws.onopen = function () { if (gen === state.gen) { opened = true; setConn("connected"); } };
    ws.onmessage = function (msg) {
      if (gen !== state.gen) return;
      try { onMessage(JSON.parse(msg.data)); } catch (e) { return; }
      state.backoff = BACKOFF_MIN_MS;
    };
    ws.onclose = function () {
      if (gen !== state.gen) return;
      if (!opened) window.RafiqSession.check();  // refused: a session that ended goes to sign-in
      setConn("reconnecting");
      var delay = state.backoff;
      state.backoff = Math.min(BACKOFF_MAX_MS, state.backoff * 2);
      setTimeout(function () { if (gen === state.gen) connect(); }, delay);
    };
    ws.onerror = function () { /* onclose follows */ };
  }

  /* ------------------------------------------------------------------ init */

  function init() {
    els = {
      rows: byTest("floor-rows"), empty: byTest("floor-empty"), count: byTest("floor-count"),
      alertCount: byTest("floor-alert-count"), conn: byTest("connection-status"), toast: byTest("error"),
      noteForm: byTest("floor-note-form"), noteText: byTest("floor-note-text"), noteTitle: byTest("floor-note-title"),
      noteSend: byTest("floor-note-send"), noteStatus: byTest("floor-note-status")
    };
    I.applyI18n(document);
    I.bindLangButtons(document);
    I.onChange(render);
    $(".toast__close", els.toast).addEventListener("click", function () { els.toast.hidden = true; });
    els.noteForm.addEventListener("submit", sendNote);
    byTest("floor-note-cancel").addEventListener("click", closeNote);
    els.noteForm.addEventListener("keydown", function (e) {
      if (e.key === "Escape") closeNote();
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) sendNote(e);
    });
    setInterval(tick, 1000);
    window.RafiqSession.ready.then(function () {
      connect();
      document.body.setAttribute("data-ready", "true");
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
