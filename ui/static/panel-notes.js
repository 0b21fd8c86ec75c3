/* Rafiq agent panel: supervisors' notes on the open call.
 *
 * The agent sees each note the moment a supervisor sends it (a `note` event on the call's
 * stream, which panel.js hands over as a "rafiq:call-event"); notes already sent come with the
 * call's replay. A supervisor who opens a live call in the panel (read-only) gets a box to write
 * one (POST /v1/calls/{call_id}/notes).
 */
(function () {
  "use strict";

  var I = window.RafiqI18n, t = I.t;
  var Dom = window.RafiqDom, el = Dom.el, byTest = Dom.byTest;

  var state = { callId: null, isAgent: true, live: false, seen: {} };
  var card, list, empty, form, input, send, error;

  function build() {
    card = byTest("notes");
    if (!card) return false;
    var head = el("div", { "class": "card__head" });
    head.appendChild(el("h2", { id: "notes-title", "data-i18n": "notes.title" }, t("notes.title")));
    card.appendChild(head);
    list = el("ol", { "class": "notes__list", "data-testid": "note-list", role: "log", "aria-live": "polite" });
    empty = el("p", { "class": "empty", "data-testid": "note-list-empty", "data-i18n": "notes.empty" }, t("notes.empty"));
    card.appendChild(empty);
    card.appendChild(list);
    form = el("form", { "class": "notes__form", "data-testid": "note-form", novalidate: "" });
    var label = el("label", { "for": "note-input", "class": "visually-hidden", "data-i18n": "notes.write" }, t("notes.write"));
    input = el("textarea", { id: "note-input", "data-testid": "note-input", rows: "2", maxlength: "2000", dir: "auto",
                             "data-i18n-placeholder": "notes.placeholder", placeholder: t("notes.placeholder") });
    send = el("button", { type: "submit", "class": "btn btn--primary", "data-testid": "note-send",
                          "data-i18n": "notes.send" }, t("notes.send"));
    error = el("p", { "class": "notes__error", "data-testid": "note-error", role: "alert" });
    error.hidden = true;
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(send);
    form.appendChild(error);
    card.appendChild(form);
    form.addEventListener("submit", function (e) { e.preventDefault(); postNote(); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); postNote(); }
    });
    return true;
  }

  function clock(at) {
    var d = new Date(at);
    if (isNaN(d.getTime())) return "";
    return d.toLocaleTimeString(I.getLang(), { hour: "2-digit", minute: "2-digit" });
  }

  function render() {
    if (!card) return;
    var hasNotes = list.children.length > 0;
    // The agent sees the card once a call is open; a supervisor, on a live call, to write one.
    card.hidden = !state.callId || (!state.isAgent && !state.live && !hasNotes);
    empty.hidden = hasNotes;
    form.hidden = state.isAgent || !state.live;
  }

  function addNote(ev) {
    if (!ev.note_id || state.seen[ev.note_id]) return;
    state.seen[ev.note_id] = true;
    var item = el("li", { "class": "note", "data-testid": "note", "data-note-id": ev.note_id, "data-fresh": "true" });
    var meta = el("div", { "class": "note__meta" });
    meta.appendChild(el("span", { "class": "note__author", "data-testid": "note-author", dir: "auto" }, ev.author || ""));
    meta.appendChild(el("time", { "class": "note__time", datetime: ev.at || "", dir: "ltr" }, clock(ev.at)));
    item.appendChild(meta);
    item.appendChild(el("p", { "class": "note__text", "data-testid": "note-text", dir: "auto" }, ev.text || ""));
    list.insertBefore(item, list.firstChild);
    // The highlight fades after a while: a new note catches the eye, old ones do not.
    setTimeout(function () { item.removeAttribute("data-fresh"); }, 8000);
    render();
  }

  function postNote() {
    var text = input.value.trim();
    error.hidden = true;
    if (!text || !state.callId) return;
    send.disabled = true;
    fetch("/v1/calls/" + encodeURIComponent(state.callId) + "/notes", {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ text: text })
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (body) {
        if (!r.ok) throw new Error(body && body.detail && body.detail.message ? body.detail.message : "HTTP " + r.status);
        input.value = "";
        addNote(body);
      });
    }).catch(function (err) {
      error.textContent = t("notes.failed") + " " + err.message;
      error.hidden = false;
    }).then(function () { send.disabled = false; });
  }

  document.addEventListener("rafiq:panel-user", function (e) {
    state.isAgent = !!e.detail.isAgent;
    render();
  });
  document.addEventListener("rafiq:call-open", function (e) {
    if (!card && !build()) return;
    state.callId = e.detail.callId || null;
    state.live = false;
    state.seen = {};
    list.textContent = "";
    error.hidden = true;
    render();
  });
  document.addEventListener("rafiq:call-event", function (e) {
    var ev = e.detail;
    if (!card) return;
    if (ev.type === "note") addNote(ev);
    else if (ev.type === "call.started") { state.live = true; render(); }
    else if (ev.type === "call.ended") { state.live = false; render(); }
  });
  I.onChange(function () {
    if (!card) return;
    Array.prototype.forEach.call(list.querySelectorAll("time"), function (n) { n.textContent = clock(n.getAttribute("datetime")); });
  });
})();
