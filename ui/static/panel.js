/* Rafiq agent panel.
 *
 * Follows one call over WebSocket /v1/calls/{call_id}/events (see README,
 * "APIs and protocols") and renders its transcript and suggestions. Events are
 * replayed when the socket (re)connects, so everything is keyed: transcript
 * lines by segment_id, suggestion cards by suggestion_id; a replayed event
 * updates what is shown in place instead of adding to it.
 *
 * Signed in (session.js): an agent's panel follows their own calls by itself over
 * WebSocket /v1/agents/me/calls (a call that starts opens at once) and lists their
 * earlier calls; a supervisor's lists the calls of their team or tenant, read-only.
 */
(function () {
  "use strict";

  var I = window.RafiqI18n;
  var t = I.t;

  var CALL_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
  var CALLS_REFRESH_MS = 3000;
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 10000;
  var STABLE_SOCKET_MS = 5000;
  var SCROLL_SLACK_PX = 48;
  var QUOTE_MAX = 160;

  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  var Session = window.RafiqSession;
  var Speculative = window.RafiqPanelSuggestions; // panel-suggestions.js

  var els = {
    callsTitle: $('[data-testid="calls-title"]'),
    follow: $('[data-testid="follow-status"]'),
    followLabel: $('[data-testid="follow-status"] .follow__label'),
    conn: $('[data-testid="connection-status"]'),
    connLabel: $('[data-testid="connection-status"] .conn__label'),
    toast: $('[data-testid="error"]'),
    toastText: $('[data-testid="error"] .toast__text'),
    toastClose: $('[data-testid="error"] .toast__close'),
    demo: $('[data-testid="demo-button"]'),
    demoLabel: $('[data-testid="demo-button"] .demo-label'),
    form: $('[data-testid="call-id-form"]'),
    input: $('[data-testid="call-id-input"]'),
    callList: $('[data-testid="call-list"]'),
    callListEmpty: $('[data-testid="call-list-empty"]'),
    checklist: $('[data-testid="checklist"]'),
    checklistProgress: $('[data-testid="checklist-progress"]'),
    currentCallId: $('[data-testid="current-call-id"]'),
    callStatus: $('[data-testid="call-status"]'),
    callStatusLabel: $('[data-testid="call-status"] .call-status__label'),
    elapsed: $('[data-testid="call-elapsed"]'),
    transcript: $('[data-testid="transcript"]'),
    transcriptEmpty: $('[data-testid="transcript-empty"]'),
    jump: $('[data-testid="jump-latest"]'),
    suggestions: $('[data-testid="suggestions"]'),
    suggestionsEmpty: $('[data-testid="suggestions-empty"]'),
    suggestionCount: $('[data-testid="suggestion-count"]'),
    tplSegment: $("#tpl-segment"),
    tplSuggestion: $("#tpl-suggestion")
  };

  /* ------------------------------------------------------------------ state */

  var state = {
    callId: null,
    ws: null,
    wsGen: 0,            // bumps on every new socket / call switch; stale sockets are ignored
    reconnectTimer: null,
    backoff: BACKOFF_MIN_MS,
    connects: 0,
    eventsSeen: 0,
    apiOnline: null,
    call: null,          // {status, startedAt(ms), endedAt(ms), tenant, reason}
    segments: new Map(), // segment_id -> {data, el}
    suggestions: new Map(), // suggestion_id -> {data, el, action, text, editing}
    stickToBottom: true,
    calls: [],
    me: null,            // the signed-in user (GET /v1/me)
    isAgent: false,      // follows their own calls; may play the demo and give feedback
    follow: null         // the /v1/agents/me/calls socket: {ws, gen, backoff, timer, known}
  };

  /* ---------------------------------------------------------------- helpers */

  function parseTime(v) {
    if (v === null || v === undefined || v === "") return null;
    if (typeof v === "number") return v > 1e12 ? v : v * 1000;
    if (typeof v === "string" && /^\d+(\.\d+)?$/.test(v)) {
      var n = parseFloat(v);
      return n > 1e12 ? n : n * 1000;
    }
    var ms = Date.parse(v);
    return isNaN(ms) ? null : ms;
  }

  function fmtDuration(seconds) {
    if (!isFinite(seconds) || seconds < 0) seconds = 0;
    seconds = Math.floor(seconds);
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var mm = (m < 10 ? "0" : "") + m;
    var ss = (s < 10 ? "0" : "") + s;
    return h > 0 ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  }

  function fmtClock(ms) {
    if (ms === null) return "";
    var d = new Date(ms);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function fmtScore(score) {
    var n = Number(score);
    if (score === null || score === undefined || !isFinite(n)) return "—";
    if (n >= 0 && n <= 1) return Math.round(n * 100) + "%";
    return n.toFixed(2);
  }

  function langTag(lang) {
    if (!lang) return "—";
    return String(lang).split(/[-_]/)[0].toUpperCase();
  }

  function isArabicLang(lang) {
    return !!lang && /^(ar|ary)\b/i.test(String(lang));
  }

  var ARABIC_RE = /[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]/;

  // Arabic lines are right-to-left; everything else lets the browser decide
  // from the first strong character (dir="auto").
  function textDir(lang, text) {
    if (isArabicLang(lang) && ARABIC_RE.test(text || "")) return "rtl";
    return "auto";
  }

  function truncate(s, n) {
    s = String(s || "");
    return s.length > n ? s.slice(0, n - 1) + "…" : s;
  }

  function apiUrl(path) { return path; }

  function eventsUrl(callId) {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    return proto + "//" + location.host + "/v1/calls/" + encodeURIComponent(callId) + "/events";
  }

  function showError(key, detail) {
    var msg = t(key) + (detail ? " (" + detail + ")" : "");
    els.toastText.textContent = msg;
    els.toastText.setAttribute("data-i18n-key", key);
    els.toast.hidden = false;
    clearTimeout(showError._timer);
    showError._timer = setTimeout(hideError, 8000);
  }

  function hideError() { els.toast.hidden = true; }

  function setConn(s) {
    els.conn.setAttribute("data-state", s);
    els.connLabel.setAttribute("data-i18n", "conn." + s);
    els.connLabel.textContent = t("conn." + s);
  }

  function refreshConnIdle() {
    if (state.callId) return;
    setConn(state.apiOnline === false ? "offline" : "idle");
  }

  /* --------------------------------------------------------------- call list */

  var callsTimer = null;

  function renderCallList() {
    // Skip the work (and keep focus/hover) when nothing changed since the last refresh.
    var signature = JSON.stringify([state.callId, I.getLang(), state.calls]);
    if (signature === renderCallList._last) return;
    renderCallList._last = signature;
    var calls = state.calls.slice();
    // Newest first (the server already sorts; keep its order when times are missing).
    calls = calls.map(function (c, i) { return { c: c, i: i, ts: parseTime(c.started_at) }; })
      .sort(function (a, b) {
        if (a.ts !== null && b.ts !== null && a.ts !== b.ts) return b.ts - a.ts;
        return a.i - b.i;
      }).map(function (x) { return x.c; });

    var frag = document.createDocumentFragment();
    calls.forEach(function (c) {
      var li = document.createElement("li");
      var btn = document.createElement("button");
      var live = c.status === "live" || (c.status !== "ended" && !c.ended_at);
      btn.type = "button";
      btn.className = "call-item" + (live ? " is-live" : "") + (c.call_id === state.callId ? " is-current" : "");
      btn.setAttribute("data-testid", "call-item");
      btn.setAttribute("data-call-id", c.call_id);
      btn.setAttribute("data-status", c.status || (live ? "live" : "ended"));
      if (c.call_id === state.callId) btn.setAttribute("aria-current", "true");

      var id = document.createElement("span");
      id.className = "call-item__id";
      id.dir = "ltr";
      id.textContent = c.call_id;
      var meta = document.createElement("span");
      meta.className = "call-item__meta";
      var badge = document.createElement("span");
      badge.className = "pill " + (live ? "pill--live" : "pill--ended");
      badge.setAttribute("data-i18n", live ? "calls.live" : "calls.ended");
      badge.textContent = t(live ? "calls.live" : "calls.ended");
      var time = document.createElement("span");
      time.className = "call-item__time";
      time.dir = "ltr";
      time.textContent = fmtClock(parseTime(c.started_at));
      meta.appendChild(badge);
      if (!state.isAgent || (c.agent && state.me && c.agent !== state.me.username)) {
        var who = document.createElement("span");
        who.className = "call-item__agent";
        who.setAttribute("data-testid", "call-item-agent");
        who.dir = "auto";
        who.textContent = c.agent || t("calls.no_agent");
        who.title = c.agent ? t("calls.agent", { name: c.agent }) : t("calls.no_agent");
        meta.appendChild(who);
      }
      meta.appendChild(time);
      btn.appendChild(id);
      btn.appendChild(meta);
      btn.addEventListener("click", function () { selectCall(c.call_id); });
      li.appendChild(btn);
      frag.appendChild(li);
    });
    els.callList.replaceChildren(frag);
    els.callListEmpty.hidden = calls.length > 0;
  }

  function loadCalls() {
    clearTimeout(callsTimer);
    return fetch(apiUrl("/v1/calls"), { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (body) {
        state.apiOnline = true;
        state.calls = (body && Array.isArray(body.calls)) ? body.calls : [];
        renderCallList();
      })
      .catch(function () {
        state.apiOnline = false;
      })
      .then(function () {
        refreshConnIdle();
        callsTimer = setTimeout(loadCalls, CALLS_REFRESH_MS);
      });
  }

  /* -------------------------------------------------------------- transcript */

  function isNearBottom() {
    var el = els.transcript;
    return el.scrollHeight - el.scrollTop - el.clientHeight <= SCROLL_SLACK_PX;
  }

  function scrollToBottom() {
    els.transcript.scrollTop = els.transcript.scrollHeight;
    state.stickToBottom = true;
    els.jump.hidden = true;
  }

  function segStart(d) {
    var n = Number(d.start);
    return isFinite(n) ? n : Infinity;
  }

  function placeSegment(el, start) {
    // Keep lines ordered by start time (two channels can finalise out of order).
    var nodes = els.transcript.querySelectorAll('[data-testid="segment"]');
    for (var i = nodes.length - 1; i >= 0; i--) {
      var n = nodes[i];
      if (n === el) continue;
      if (Number(n.getAttribute("data-start")) <= start) {
        if (n.nextSibling !== el) n.after(el);
        return;
      }
    }
    var first = els.transcript.querySelector('[data-testid="segment"]');
    if (first !== el) {
      if (first) first.before(el); else els.transcript.appendChild(el);
    }
  }

  function renderSegment(entry) {
    var d = entry.data;
    var el = entry.el;
    var speaker = d.speaker === "agent" || d.speaker === "customer" ? d.speaker : "unknown";
    el.setAttribute("data-segment-id", d.segment_id);
    el.setAttribute("data-speaker", d.speaker || "unknown");
    el.setAttribute("data-final", entry.final ? "true" : "false");
    el.setAttribute("data-start", String(segStart(d) === Infinity ? 1e12 : segStart(d)));
    el.className = "seg seg--" + speaker + (entry.final ? " is-final" : " is-partial");
    var sp = $(".seg__speaker", el);
    sp.setAttribute("data-i18n", "speaker." + speaker);
    sp.textContent = t("speaker." + speaker);
    var lg = $(".seg__lang", el);
    lg.textContent = langTag(d.language);
    if (d.language) lg.setAttribute("title", String(d.language));
    var tm = $(".seg__time", el);
    tm.textContent = fmtDuration(Number(d.start) || 0);
    var tx = $(".seg__text", el);
    tx.textContent = d.text || "";
    tx.setAttribute("dir", textDir(d.language, d.text));
    if (d.language) tx.setAttribute("lang", String(d.language).split(/[-_]/)[0]);
  }

  function onTranscript(ev, isFinal) {
    if (ev.segment_id === undefined || ev.segment_id === null) return;
    var key = String(ev.segment_id);
    var entry = state.segments.get(key);
    if (entry && entry.final && !isFinal) return; // a late partial never overrides the final
    var stick = isNearBottom();
    var prevStart = entry ? segStart(entry.data) : null;
    if (!entry) {
      var el = els.tplSegment.content.firstElementChild.cloneNode(true);
      I.applyI18n(el);
      entry = { data: ev, el: el, final: isFinal };
      state.segments.set(key, entry);
    } else {
      entry.data = ev;
      entry.final = entry.final || isFinal;
    }
    renderSegment(entry);
    if (prevStart === null || prevStart !== segStart(ev) || !entry.el.isConnected) {
      placeSegment(entry.el, segStart(ev));
    }
    els.transcriptEmpty.hidden = true;
    refreshQuotesFor(key);
    if (stick || state.stickToBottom) {
      scrollToBottom();
    } else {
      els.jump.hidden = false;
    }
  }

  /* ------------------------------------------------------------- suggestions */

  function refreshQuotesFor(segmentId) {
    state.suggestions.forEach(function (s) {
      if (String(s.data.for_segment_id) === segmentId) renderQuote(s);
    });
  }

  // The knowledge base had no variant in the customer's language: the answer is the original,
  // and the agent must see that before reading it out.
  function renderLanguageFallback(s, seg) {
    var badge = $(".sugg__fallback", s.el);
    var asked = seg && seg.data.language ? String(seg.data.language).split(/[-_]/)[0] : "";
    var given = s.data.language ? String(s.data.language).split(/[-_]/)[0] : "";
    var fallback = !!(asked && given && asked !== given);
    s.el.setAttribute("data-language-fallback", fallback ? "true" : "false");
    badge.hidden = !fallback;
    if (fallback) {
      badge.textContent = t("suggestion.other_language", { lang: langTag(asked) });
    }
  }

  function renderQuote(s) {
    var box = $(".sugg__for", s.el);
    var q = $(".sugg__for-text", s.el);
    var fid = s.data.for_segment_id;
    if (fid === undefined || fid === null || fid === "") { box.hidden = true; return; }
    box.hidden = false;
    box.setAttribute("data-for-segment-id", String(fid));
    var seg = state.segments.get(String(fid));
    renderLanguageFallback(s, seg);
    if (seg && seg.data.text) {
      q.textContent = truncate(seg.data.text, QUOTE_MAX);
      q.setAttribute("dir", textDir(seg.data.language, seg.data.text));
      if (seg.data.language) q.setAttribute("lang", String(seg.data.language).split(/[-_]/)[0]);
      q.removeAttribute("data-i18n");
    } else {
      q.removeAttribute("lang");
      q.setAttribute("data-i18n", "suggestion.unknown_segment");
      q.textContent = t("suggestion.unknown_segment");
      q.setAttribute("dir", "auto");
    }
  }

  function renderSources(s) {
    var list = $(".sugg__source-list", s.el);
    var sources = Array.isArray(s.data.sources) ? s.data.sources : [];
    var frag = document.createDocumentFragment();
    if (!sources.length) {
      var none = document.createElement("li");
      none.className = "sugg__source sugg__source--none";
      none.setAttribute("data-i18n", "suggestion.no_sources");
      none.textContent = t("suggestion.no_sources");
      frag.appendChild(none);
    }
    sources.forEach(function (src) {
      var li = document.createElement("li");
      li.className = "sugg__source";
      li.setAttribute("data-testid", "suggestion-source");
      if (src.article_id !== undefined) li.setAttribute("data-article-id", String(src.article_id));
      var title = document.createElement("span");
      title.className = "src__title";
      title.dir = "auto";
      title.textContent = src.title || String(src.article_id || "");
      var id = document.createElement("code");
      id.className = "src__id";
      id.dir = "ltr";
      id.setAttribute("data-testid", "source-article-id");
      id.textContent = src.article_id !== undefined && src.article_id !== null ? String(src.article_id) : "";
      var lang = document.createElement("span");
      lang.className = "tag tag--small";
      lang.textContent = src.language ? langTag(src.language) : "";
      lang.hidden = !src.language;
      var score = document.createElement("span");
      score.className = "src__score";
      score.dir = "ltr";
      score.setAttribute("data-testid", "suggestion-score");
      score.setAttribute("data-score", String(src.score));
      score.setAttribute("data-i18n-title", "suggestion.score");
      score.title = t("suggestion.score") + " " + (isFinite(Number(src.score)) ? Number(src.score).toFixed(3) : "");
      score.textContent = fmtScore(src.score);
      var bar = document.createElement("span");
      bar.className = "src__bar";
      var fill = document.createElement("span");
      var pct = Number(src.score);
      fill.style.width = (pct >= 0 && pct <= 1 ? Math.round(pct * 100) : 0) + "%";
      bar.appendChild(fill);
      li.appendChild(title);
      li.appendChild(lang);
      li.appendChild(id);
      li.appendChild(bar);
      li.appendChild(score);
      frag.appendChild(li);
    });
    list.replaceChildren(frag);
  }

  function renderSuggestionState(s) {
    var el = s.el;
    var action = s.action || "new";
    el.setAttribute("data-state", action);
    el.classList.toggle("is-used", action === "used");
    el.classList.toggle("is-edited", action === "edited");
    el.classList.toggle("is-dismissed", action === "dismissed");
    var badge = $(".sugg__state", el);
    badge.setAttribute("data-i18n", "suggestion.state." + action);
    badge.textContent = t("suggestion.state." + action);
    var txt = $(".sugg__text", el);
    var shown = action === "edited" && s.text ? s.text : (s.data.text || "");
    txt.textContent = shown;
    txt.setAttribute("dir", textDir(s.data.language, shown));
    $(".sugg__preview", el).textContent = truncate(shown, 80);
    updateClamp(s);
    $(".sugg__show", el).hidden = action !== "dismissed";
    if (action !== "dismissed") setExpanded(el, false);
  }

  // Long knowledge-base answers are cut to a few lines so that the sources and the
  // buttons stay in view; "Show more" opens the whole text.
  function updateClamp(s) {
    var txt = $(".sugg__text", s.el);
    var more = $(".sugg__more", s.el);
    txt.classList.toggle("is-clamped", !s.showAll);
    var key = s.showAll ? "suggestion.less" : "suggestion.more";
    more.setAttribute("data-i18n", key);
    more.textContent = t(key);
    more.setAttribute("aria-expanded", s.showAll ? "true" : "false");
    requestAnimationFrame(function () {
      more.hidden = !s.showAll && txt.scrollHeight <= txt.clientHeight + 1;
    });
  }

  function setExpanded(el, expanded) {
    el.classList.toggle("is-expanded", expanded);
    var btn = $(".sugg__show", el);
    var key = expanded ? "suggestion.hide" : "suggestion.show";
    btn.setAttribute("data-i18n", key);
    btn.setAttribute("aria-expanded", expanded ? "true" : "false");
    btn.textContent = t(key);
  }

  function renderSuggestion(s) {
    var el = s.el;
    var d = s.data;
    el.setAttribute("data-suggestion-id", String(d.suggestion_id));
    if (d.for_segment_id !== undefined && d.for_segment_id !== null) {
      el.setAttribute("data-for-segment-id", String(d.for_segment_id));
    }
    var lg = $(".sugg__lang", el);
    lg.textContent = langTag(d.language);
    if (d.language) lg.title = String(d.language);
    var tx = $(".sugg__text", el);
    if (d.language) tx.setAttribute("lang", String(d.language).split(/[-_]/)[0]);
    renderQuote(s);
    renderSources(s);
    renderSuggestionState(s);
  }

  function updateSuggestionCount() {
    els.suggestionCount.textContent = String(state.suggestions.size);
    els.suggestionsEmpty.hidden = state.suggestions.size > 0;
  }

  function onSuggestion(ev) {
    if (ev.suggestion_id === undefined || ev.suggestion_id === null) return;
    var key = String(ev.suggestion_id);
    var s = state.suggestions.get(key);
    if (!s && Speculative) {  // panel-suggestions.js: a provisional card swapped in place
      s = Speculative.adopt(state.suggestions, ev);
      if (s && s.skip) return;
    }
    if (!s) {
      var el = els.tplSuggestion.content.firstElementChild.cloneNode(true);
      I.applyI18n(el);
      s = { data: ev, el: el, action: null, text: null };
      state.suggestions.set(key, s);
      wireSuggestion(s, key);
      // Newest first: a new card goes on top; a replayed one stays where it is.
      els.suggestions.insertBefore(el, els.suggestionsEmpty.nextSibling);
    } else {
      s.data = ev;
    }
    renderSuggestion(s);
    if (Speculative) Speculative.mark(s);
    updateSuggestionCount();
  }

  function onFeedback(ev) {
    var s = state.suggestions.get(String(ev.suggestion_id));
    if (!s) {
      // Feedback for a card we have not seen yet: remember it for when it arrives.
      state.pendingFeedback = state.pendingFeedback || new Map();
      state.pendingFeedback.set(String(ev.suggestion_id), ev);
      return;
    }
    applyFeedback(s, ev);
  }

  function applyFeedback(s, ev) {
    s.action = ev.action || null;
    if (ev.action === "edited") s.text = ev.text || s.text;
    renderSuggestionState(s);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(function () { return true; }, function () { return legacyCopy(text); });
    }
    return Promise.resolve(legacyCopy(text));
  }

  function legacyCopy(text) {
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    ta.remove();
    return ok;
  }

  function sendFeedback(s, action, text) {
    var callId = state.callId;
    var sid = String(s.data.suggestion_id);
    var buttons = $$(".sugg__actions button, .sugg__editor button", s.el);
    buttons.forEach(function (b) { b.disabled = true; });
    s.el.setAttribute("aria-busy", "true");
    var url = "/v1/calls/" + encodeURIComponent(callId) + "/suggestions/" + encodeURIComponent(sid) + "/feedback";
    return fetch(apiUrl(url), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ action: action, text: text === undefined ? null : text })
    }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json().catch(function () { return null; });
    }).then(function (body) {
      if (state.callId !== callId) return;
      var ev = body && body.action ? body : { call_id: callId, suggestion_id: sid, action: action, text: text === undefined ? null : text };
      applyFeedback(s, ev);
      return true;
    }).catch(function (err) {
      showError("error.feedback", err && err.message);
      return false;
    }).then(function (ok) {
      buttons.forEach(function (b) { b.disabled = false; });
      s.el.removeAttribute("aria-busy");
      return ok;
    });
  }

  function closeEditor(s) {
    $(".sugg__editor", s.el).hidden = true;
    $(".sugg__text", s.el).hidden = false;
    $(".sugg__actions", s.el).hidden = false;
    s.el.classList.remove("is-editing");
    updateClamp(s);
  }

  function wireSuggestion(s) {
    var el = s.el;
    $('[data-testid="use-button"]', el).addEventListener("click", function () {
      var text = s.action === "edited" && s.text ? s.text : (s.data.text || "");
      copyText(text).then(function (copied) {
        el.setAttribute("data-copied", copied ? "true" : "false");
      });
      sendFeedback(s, "used", text);
    });
    $('[data-testid="edit-button"]', el).addEventListener("click", function () {
      var ta = $(".sugg__textarea", el);
      ta.value = s.action === "edited" && s.text ? s.text : (s.data.text || "");
      ta.setAttribute("dir", textDir(s.data.language, ta.value));
      $(".sugg__editor", el).hidden = false;
      $(".sugg__text", el).hidden = true;
      $(".sugg__actions", el).hidden = true;
      $(".sugg__more", el).hidden = true;
      el.classList.add("is-editing");
      ta.focus();
    });
    $('[data-testid="cancel-button"]', el).addEventListener("click", function () { closeEditor(s); });
    $('[data-testid="save-button"]', el).addEventListener("click", function () {
      var text = $(".sugg__textarea", el).value.trim();
      if (!text) return;
      sendFeedback(s, "edited", text).then(function (ok) { if (ok) closeEditor(s); });
    });
    $('[data-testid="dismiss-button"]', el).addEventListener("click", function () {
      sendFeedback(s, "dismissed", null);
    });
    $(".sugg__more", el).addEventListener("click", function () {
      s.showAll = !s.showAll;
      updateClamp(s);
    });
    $(".sugg__show", el).addEventListener("click", function () {
      setExpanded(el, !el.classList.contains("is-expanded"));
      updateClamp(s);
    });
    $(".sugg__textarea", el).addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $('[data-testid="save-button"]', el).click();
      if (e.key === "Escape") closeEditor(s);
    });
  }

  /* -------------------------------------------------------------- call state */

  var elapsedTimer = null;

  function setCallStatus(status) {
    els.callStatus.setAttribute("data-status", status);
    els.callStatusLabel.setAttribute("data-i18n", "status." + status);
    els.callStatusLabel.textContent = t("status." + status);
  }

  function lastSegmentEnd() {
    var max = 0;
    state.segments.forEach(function (s) {
      var e = Number(s.data.end);
      if (isFinite(e) && e > max) max = e;
    });
    return max;
  }

  function updateElapsed() {
    var c = state.call;
    var secs = 0;
    if (c && c.startedAt !== null) {
      var end = c.status === "ended" ? (c.endedAt !== null ? c.endedAt : c.startedAt + lastSegmentEnd() * 1000) : Date.now();
      secs = (end - c.startedAt) / 1000;
      // A call streamed faster than real time still lasted at least its audio.
      if (c.status === "ended") secs = Math.max(secs, lastSegmentEnd());
    } else if (state.callId) {
      secs = lastSegmentEnd();
    }
    els.elapsed.textContent = fmtDuration(secs);
  }

  function onCallStarted(ev) {
    state.call = state.call || { status: "live", startedAt: null, endedAt: null };
    state.call.startedAt = parseTime(ev.started_at);
    state.call.tenant = ev.tenant;
    if (state.call.status !== "ended") {
      state.call.status = "live";
      setCallStatus("live");
    }
    if (!state.segments.size) {
      els.transcriptEmpty.setAttribute("data-i18n", "transcript.empty");
      els.transcriptEmpty.textContent = t("transcript.empty");
    }
    updateElapsed();
  }

  function onCallEnded(ev) {
    state.call = state.call || { status: "ended", startedAt: null, endedAt: null };
    state.call.status = "ended";
    state.call.endedAt = parseTime(ev.ended_at);
    state.call.reason = ev.reason;
    setCallStatus("ended");
    updateElapsed();
    // Mark the entry in the call list without waiting for the next refresh.
    var item = els.callList.querySelector('[data-call-id="' + cssEscape(state.callId) + '"]');
    if (item && item.getAttribute("data-status") !== "ended") loadCalls();
  }

  function cssEscape(s) {
    return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, "\\$&");
  }

  function handleEvent(ev) {
    if (!ev || typeof ev !== "object") return;
    if (ev.call_id && state.callId && String(ev.call_id) !== state.callId) return;
    state.eventsSeen++;
    if (window.RafiqScript) window.RafiqScript.onEvent(ev);  // the call's script and key facts (panel-script.js)
    state.socketEvents = (state.socketEvents || 0) + 1;
    document.body.setAttribute("data-socket-events", String(state.socketEvents));
    // Panel modules (panel-notes.js, …) follow the open call's events without touching this file.
    document.dispatchEvent(new CustomEvent("rafiq:call-event", { detail: ev }));
    switch (ev.type) {
      case "call.started": onCallStarted(ev); break;
      case "transcript.partial": onTranscript(ev, false); break;
      case "transcript.final": onTranscript(ev, true); break;
      case "suggestion":
        onSuggestion(ev);
        if (state.pendingFeedback && state.pendingFeedback.has(String(ev.suggestion_id))) {
          var fb = state.pendingFeedback.get(String(ev.suggestion_id));
          state.pendingFeedback.delete(String(ev.suggestion_id));
          onFeedback(fb);
        }
        break;
      case "suggestion.feedback": onFeedback(ev); break;
      case "suggestion.retracted":
        if (Speculative && Speculative.retract(state.suggestions, ev)) updateSuggestionCount();
        break;
      case "suggestion.draft": if (Speculative) Speculative.draft(state.suggestions, ev); break;
      case "call.ended": onCallEnded(ev); break;
      case "error": state.lastError = ev.code || "error"; break;
      default: break; // unknown event types are ignored (forward compatible)
    }
    // Panel modules (panel-wrapup.js) follow the open call's events.
    document.dispatchEvent(new CustomEvent("rafiq:call-event", { detail: { event: ev, callId: state.callId, me: state.me } }));
  }

  /* --------------------------------------------------------------- websocket */

  function closeSocket() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    state.wsGen++;
    if (state.ws) {
      try { state.ws.close(1000); } catch (e) { /* ignore */ }
    }
    state.ws = null;
  }

  function connect() {
    var callId = state.callId;
    if (!callId) return;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    var gen = ++state.wsGen;
    setConn(state.connects > 0 ? "reconnecting" : "connecting");
    var ws;
    try {
      ws = new WebSocket(eventsUrl(callId));
    } catch (e) {
      scheduleReconnect(gen);
      return;
    }
    state.ws = ws;
    var openedAt = 0;
    ws.onopen = function () {
      if (gen !== state.wsGen) return;
      openedAt = Date.now();
      state.connects++;
      setConn("connected");
      document.body.setAttribute("data-ws-connects", String(state.connects));
      // Events received on this socket (a replay first): lets a reader tell when it is complete.
      state.socketEvents = 0;
      document.body.setAttribute("data-socket-events", "0");
    };
    ws.onmessage = function (msg) {
      if (gen !== state.wsGen) return;
      var ev;
      try { ev = JSON.parse(msg.data); } catch (e) { return; }
      if (Array.isArray(ev)) ev.forEach(handleEvent); else handleEvent(ev);
      state.backoff = BACKOFF_MIN_MS;
    };
    ws.onclose = function (e) {
      if (gen !== state.wsGen) return;
      state.ws = null;
      if (openedAt && Date.now() - openedAt > STABLE_SOCKET_MS) state.backoff = BACKOFF_MIN_MS;
      var ended = state.call && state.call.status === "ended";
      if (ended && e.code === 1000) {
        // The server finished the stream of an ended call: everything is shown.
        setConn("closed");
        return;
      }
      if (!openedAt && Session) Session.check();  // a refused handshake: signed out → /login
      if (!state.segments.size && !state.call && (e.code === 4404 || e.code === 1008 || state.lastError === "unknown_call")) {
        if (!state.unknownShown) showError("error.unknown_call", callId);
        state.unknownShown = true;
      }
      scheduleReconnect(gen);
    };
    ws.onerror = function () { /* onclose follows */ };
  }

  function scheduleReconnect(gen) {
    if (gen !== state.wsGen || !state.callId) return;
    setConn("reconnecting");
    var delay = state.backoff + Math.floor(Math.random() * state.backoff * 0.3);
    state.backoff = Math.min(state.backoff * 2, BACKOFF_MAX_MS);
    state.reconnectTimer = setTimeout(function () {
      if (gen === state.wsGen) connect();
    }, delay);
  }

  /* ---------------------------------------------------------------- checklist */

  function checklistKey(callId) { return "rafiq.checklist." + callId; }

  function loadChecklist() {
    var saved = {};
    if (state.callId) {
      try { saved = JSON.parse(localStorage.getItem(checklistKey(state.callId)) || "{}") || {}; } catch (e) { saved = {}; }
    }
    $$('[data-testid="checklist-item"]', els.checklist).forEach(function (cb) {
      cb.checked = !!saved[cb.getAttribute("data-item")];
      cb.disabled = !state.callId;
    });
    els.checklist.classList.toggle("is-disabled", !state.callId);
    updateChecklistProgress();
  }

  function saveChecklist() {
    if (!state.callId) return;
    var saved = {};
    $$('[data-testid="checklist-item"]', els.checklist).forEach(function (cb) {
      if (cb.checked) saved[cb.getAttribute("data-item")] = true;
    });
    try { localStorage.setItem(checklistKey(state.callId), JSON.stringify(saved)); } catch (e) { /* ignore */ }
    updateChecklistProgress();
  }

  function updateChecklistProgress() {
    var boxes = $$('[data-testid="checklist-item"]', els.checklist);
    var done = boxes.filter(function (b) { return b.checked; }).length;
    els.checklistProgress.textContent = t("checklist.progress", { done: done, total: boxes.length });
  }

  /* ----------------------------------------------------------- select a call */

  function resetView() {
    state.segments.clear();
    state.suggestions.clear();
    state.pendingFeedback = null;
    state.lastError = null;
    state.unknownShown = false;
    state.call = null;
    state.eventsSeen = 0;
    state.connects = 0;
    state.backoff = BACKOFF_MIN_MS;
    state.stickToBottom = true;
    $$('[data-testid="segment"]', els.transcript).forEach(function (n) { n.remove(); });
    $$('[data-testid="suggestion"]', els.suggestions).forEach(function (n) { n.remove(); });
    els.transcriptEmpty.hidden = false;
    var hint = state.callId ? "transcript.empty" : pickHint();
    els.transcriptEmpty.setAttribute("data-i18n", hint);
    els.transcriptEmpty.textContent = t(hint);
    els.jump.hidden = true;
    updateSuggestionCount();
    setCallStatus(state.callId ? "waiting" : "idle");
    els.currentCallId.textContent = state.callId || "";
    els.currentCallId.title = state.callId || "";
    document.body.setAttribute("data-call-id", state.callId || "");
    document.body.setAttribute("data-ws-connects", "0");
    updateElapsed();
    document.dispatchEvent(new CustomEvent("rafiq:call-open", { detail: { callId: state.callId, me: state.me } }));
  }

  function selectCall(callId, opts) {
    opts = opts || {};
    callId = callId ? String(callId).trim() : "";
    if (callId && !CALL_ID_RE.test(callId)) {
      showError("error.call_id");
      return;
    }
    if (callId === (state.callId || "") && !opts.force) return;
    closeSocket();
    state.callId = callId || null;
    document.dispatchEvent(new CustomEvent("rafiq:call-selected", { detail: { callId: state.callId, me: state.me } }));
    resetView();
    loadChecklist();
    if (window.RafiqScript) window.RafiqScript.reset(state.callId);
    renderCallList();
    if (!opts.fromHash) {
      var want = callId ? "#call=" + encodeURIComponent(callId) : "";
      if (location.hash !== want) history.replaceState(null, "", location.pathname + location.search + want);
    }
    if (callId) {
      els.input.value = callId;
      connect();
    } else {
      refreshConnIdle();
    }
  }

  function callFromHash() {
    var m = /(?:^#|&)call=([^&]*)/.exec(location.hash || "");
    if (!m) return "";
    try { return decodeURIComponent(m[1]); } catch (e) { return ""; }
  }

  function pickHint() {
    if (!state.me) return "transcript.pick";
    return state.isAgent ? "transcript.pick_agent" : "transcript.pick_supervisor";
  }

  /* ------------------------------------------------- follow the agent's calls */

  // WebSocket /v1/agents/me/calls: {"type": "agent.calls", "live": [...]} on connect, then
  // agent.call.started / agent.call.ended. A call of the agent's that starts (or that is live
  // and not yet seen, e.g. at sign-in or after a reconnect) opens by itself.

  function setFollow(s) {
    els.follow.hidden = false;
    els.follow.setAttribute("data-state", s);
    var key = s === "reconnecting" ? "follow.reconnecting" : s === "live" ? "follow.live" : "follow.waiting";
    els.followLabel.setAttribute("data-i18n", key);
    els.followLabel.textContent = t(key);
  }

  function myCallsUrl() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    return proto + "//" + location.host + "/v1/agents/me/calls";
  }

  function openOwnCall(callId) {
    if (!callId || !CALL_ID_RE.test(String(callId))) return;
    if (String(callId) !== state.callId) selectCall(String(callId));
    setFollow("live");
  }

  function onMyCalls(ev) {
    var f = state.follow;
    if (ev.type === "agent.calls") {
      var live = (Array.isArray(ev.live) ? ev.live : []).slice().sort(function (a, b) {
        return (parseTime(b.started_at) || 0) - (parseTime(a.started_at) || 0);
      });
      var fresh = live.filter(function (c) { return !f.known[c.call_id]; });
      live.forEach(function (c) { f.known[c.call_id] = true; });
      var showing = live.some(function (c) { return c.call_id === state.callId; });
      if (fresh.length && !showing) openOwnCall(fresh[0].call_id);
      else setFollow(showing ? "live" : "waiting");
      loadCalls();
    } else if (ev.type === "agent.call.started") {
      f.known[ev.call_id] = true;
      openOwnCall(ev.call_id);
      loadCalls();
    } else if (ev.type === "agent.call.ended") {
      if (String(ev.call_id) === state.callId) setFollow("waiting");
      loadCalls();
    }
  }

  function followMyCalls() {
    var f = state.follow = state.follow || { ws: null, gen: 0, backoff: BACKOFF_MIN_MS, timer: null, known: {} };
    clearTimeout(f.timer);
    var gen = ++f.gen;
    var ws;
    try {
      ws = new WebSocket(myCallsUrl());
    } catch (e) {
      f.timer = setTimeout(followMyCalls, f.backoff);
      return;
    }
    f.ws = ws;
    var opened = false;
    ws.onopen = function () {
      if (gen !== f.gen) return;
      opened = true;
      f.backoff = BACKOFF_MIN_MS;
      document.body.setAttribute("data-following", "true");
    };
    ws.onmessage = function (msg) {
      if (gen !== f.gen) return;
      var ev;
      try { ev = JSON.parse(msg.data); } catch (e) { return; }
      if (ev && typeof ev === "object") onMyCalls(ev);
    };
    ws.onclose = function () {
      if (gen !== f.gen) return;
      f.ws = null;
      document.body.setAttribute("data-following", "false");
      if (!opened && Session) Session.check();  // refused: the session may be over
      setFollow("reconnecting");
      var delay = f.backoff + Math.floor(Math.random() * f.backoff * 0.3);
      f.backoff = Math.min(f.backoff * 2, BACKOFF_MAX_MS);
      f.timer = setTimeout(function () { if (gen === f.gen) followMyCalls(); }, delay);
    };
    ws.onerror = function () { /* onclose follows */ };
  }

  /* -------------------------------------------------------------------- demo */

  function playDemo() {
    els.demo.disabled = true;
    els.demoLabel.setAttribute("data-i18n", "demo.starting");
    els.demoLabel.textContent = t("demo.starting");
    fetch(apiUrl("/v1/demo/calls"), { method: "POST", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.ok) return r.json();
        return r.json().catch(function () { return null; }).then(function (body) {
          var detail = body && body.detail;
          var message = detail && typeof detail === "object" ? (detail.message || detail.code) : detail;
          if (r.status === 503 && !message) throw { key: "error.not_ready" };
          throw { key: "error.demo", detail: message || ("HTTP " + r.status) };
        });
      })
      .then(function (body) {
        if (!body || !body.call_id) throw { key: "error.demo" };
        hideError();
        selectCall(String(body.call_id));
        loadCalls();
      })
      .catch(function (err) {
        showError(err && err.key ? err.key : "error.demo", err && err.detail ? err.detail : (err && err.message));
      })
      .then(function () {
        els.demo.disabled = false;
        els.demoLabel.setAttribute("data-i18n", "demo.play");
        els.demoLabel.textContent = t("demo.play");
      });
  }

  /* -------------------------------------------------------------------- init */

  function updateLangButtons() {
    var lang = I.getLang();
    $$(".lang").forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-lang") === lang ? "true" : "false");
    });
  }

  function init() {
    I.applyI18n(document);
    updateLangButtons();
    I.onChange(function () {
      updateLangButtons();
      renderCallList();
      updateChecklistProgress();
      state.suggestions.forEach(renderQuote);  // the language-fallback badge's text
      var key = els.toastText.getAttribute("data-i18n-key");
      if (key && !els.toast.hidden) els.toastText.textContent = t(key);
    });
    $$(".lang").forEach(function (b) {
      b.addEventListener("click", function () { I.setLang(b.getAttribute("data-lang")); });
    });

    els.toastClose.addEventListener("click", hideError);
    els.demo.addEventListener("click", playDemo);
    els.form.addEventListener("submit", function (e) {
      e.preventDefault();
      var v = els.input.value.trim();
      if (!CALL_ID_RE.test(v)) { showError("error.call_id"); return; }
      selectCall(v, { force: v !== state.callId ? false : true });
    });
    $$('[data-testid="checklist-item"]', els.checklist).forEach(function (cb) {
      cb.addEventListener("change", saveChecklist);
    });
    els.transcript.addEventListener("scroll", function () {
      state.stickToBottom = isNearBottom();
      if (state.stickToBottom) els.jump.hidden = true;
    }, { passive: true });
    els.jump.addEventListener("click", scrollToBottom);
    window.addEventListener("hashchange", function () {
      var id = callFromHash();
      if (id !== (state.callId || "")) selectCall(id, { fromHash: true });
    });
    window.addEventListener("storage", function (e) {
      if (state.callId && e.key === checklistKey(state.callId)) loadChecklist();
    });

    elapsedTimer = setInterval(updateElapsed, 1000);
    resetView();
    loadChecklist();
    var ready = Session ? Session.ready : Promise.resolve(null);
    ready.then(start);
  }

  // Once the signed-in user is known: their role decides what the panel does.
  function start(me) {
    state.me = me;
    state.isAgent = !!(me && me.roles.indexOf("agent") >= 0);
    var title = state.isAgent ? "calls.title_mine" : me && me.team ? "calls.title_team" : "calls.title_tenant";
    els.callsTitle.setAttribute("data-i18n", title);
    els.callsTitle.textContent = t(title);
    els.demo.hidden = !state.isAgent;
    document.body.setAttribute("data-role", state.isAgent ? "agent" : "supervisor");
    if (!state.callId) resetView();
    document.dispatchEvent(new CustomEvent("rafiq:panel-user", { detail: { me: me, isAgent: state.isAgent } }));
    loadCalls();
    var initial = callFromHash();
    if (initial) selectCall(initial, { fromHash: true });
    if (state.isAgent) {
      setFollow("waiting");
      followMyCalls();
    }
    document.body.setAttribute("data-ready", "true");
  }

  // Small hook for debugging and tests: inspect state, drop the socket to
  // exercise the reconnect-and-replay path.
  window.__rafiq = {
    state: state,
    selectCall: selectCall,
    dropFollow: function () { if (state.follow && state.follow.ws) state.follow.ws.close(4000, "client drop"); },
    dropSocket: function () { if (state.ws) state.ws.close(4000, "client drop"); },
    get connects() { return state.connects; }
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
