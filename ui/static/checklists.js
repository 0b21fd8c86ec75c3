/* Rafiq call-script / quality checklist editor (/checklists): trainers and supervisors write,
 * per campaign (or for every campaign), the steps the agent's panel ticks during a call and the
 * quality score checks after it: each step's label, phrases and example sentences.
 *
 * Talks to /v1/checklists as the signed-in user (session.js adds the CSRF header).
 */
(function () {
  "use strict";

  var I = window.RafiqI18n;
  var t = I.t;
  var Dom = window.RafiqDom, $ = Dom.$, $$ = Dom.$$, byTest = Dom.byTest, el = Dom.el;

  var state = { checklists: [], current: null, template: null };

  function api(method, path, body) {
    var init = { method: method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!response.ok) {
          var detail = data && data.detail;
          var message = detail && detail.message ? detail.code + ": " + detail.message
            : Array.isArray(detail) ? detail.map(function (d) { return (d.loc || []).slice(-2).join(".") + ": " + d.msg; }).join("; ")
            : response.status + " " + response.statusText;
          throw new Error(message);
        }
        return data;
      });
    });
  }

  var toast = byTest("error");
  function showError(message) { $(".toast__text", toast).textContent = message; toast.hidden = false; }
  function hideError() { toast.hidden = true; }
  function guard(promise) { return promise.catch(function (e) { showError(e.message || String(e)); throw e; }); }

  /* ------------------------------------------------------------------ list */

  function renderList() {
    var list = byTest("checklist-list");
    list.textContent = "";
    state.checklists.forEach(function (c) {
      var li = el("li");
      var button = el("button", { type: "button", "class": "cl-entry", "data-testid": "checklist-entry", "data-id": c.id,
                                  "aria-current": state.current && state.current.id === c.id ? "true" : "false" });
      button.appendChild(el("span", { "class": "cl-entry__name", dir: "auto" }, c.name));
      button.appendChild(el("span", { "class": "cl-entry__campaign", "data-testid": "checklist-campaign", dir: "auto" },
        c.campaign || t("cl.every_campaign")));
      button.addEventListener("click", function () { open(c); });
      li.appendChild(button);
      list.appendChild(li);
    });
    byTest("checklist-empty").hidden = state.checklists.length > 0;
  }

  function load() {
    return guard(api("GET", "/v1/checklists")).then(function (body) {
      state.checklists = body.checklists;
      renderList();
    });
  }

  /* ---------------------------------------------------------------- editor */

  var form = byTest("checklist-editor");

  function lines(text) { return String(text || "").split("\n").map(function (s) { return s.trim(); }).filter(Boolean); }

  function addItem(item) {
    var node = document.getElementById("tpl-item").content.firstElementChild.cloneNode(true);
    I.applyI18n(node);
    $(".cl-item__label", node).value = item.label || "";
    $(".cl-item__id", node).value = item.id || "";
    $(".cl-item__weight", node).value = item.weight === undefined ? 1 : item.weight;
    $(".cl-item__required", node).checked = item.required !== false;
    $(".cl-item__end", node).checked = !!item.marks_end;
    $(".cl-item__phrases", node).value = (item.phrases || []).join("\n");
    $(".cl-item__examples", node).value = (item.examples || []).join("\n");
    $(".cl-item__remove", node).addEventListener("click", function () { node.remove(); });
    byTest("item-list").appendChild(node);
    return node;
  }

  function slug(text) {
    var s = String(text || "").toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40);
    return s || "step-" + (byTest("item-list").children.length + 1);
  }

  function renderHead() {
    var c = state.current;
    byTest("editor-title").textContent = c && c.id ? t("cl.title_edit", { name: c.name, version: c.version }) : t("cl.title_new");
    byTest("delete-checklist").hidden = !(c && c.id);
  }

  function fill(c) {
    state.current = c;
    byTest("checklist-pick").hidden = true;
    form.hidden = false;
    form.elements.name.value = c.name || "";
    form.elements.campaign.value = c.campaign || "";
    form.elements.remind_after_s.value = c.remind_after_s === null || c.remind_after_s === undefined ? "" : c.remind_after_s;
    form.elements.products.value = (c.products || []).join(", ");
    byTest("item-list").textContent = "";
    (c.items || []).forEach(addItem);
    byTest("saved-status").textContent = "";
    renderHead();
    renderList();
  }

  function open(c) { hideError(); fill(c); form.elements.name.focus(); }

  function startNew() {
    hideError();
    var ready = state.template ? Promise.resolve(state.template)
      : guard(api("GET", "/v1/checklists/template")).then(function (body) { state.template = body.items; return body.items; });
    return ready.then(function (items) {
      fill({ name: "", campaign: null, items: items, products: [] });
      form.elements.name.focus();
    });
  }

  function collect() {
    var remind = form.elements.remind_after_s.value.trim();
    return {
      name: form.elements.name.value.trim(),
      campaign: form.elements.campaign.value.trim() || null,
      remind_after_s: remind === "" ? null : Number(remind),
      products: form.elements.products.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean),
      items: $$('[data-testid="item-row"]', form).map(function (row) {
        var label = $(".cl-item__label", row).value.trim();
        var id = $(".cl-item__id", row).value.trim() || slug(label);
        $(".cl-item__id", row).value = id;
        return {
          id: id, label: label,
          weight: Number($(".cl-item__weight", row).value || 1),
          required: $(".cl-item__required", row).checked,
          marks_end: $(".cl-item__end", row).checked,
          phrases: lines($(".cl-item__phrases", row).value),
          examples: lines($(".cl-item__examples", row).value)
        };
      })
    };
  }

  function save(e) {
    e.preventDefault();
    hideError();
    var body = collect();
    var c = state.current;
    var request = c && c.id ? api("PUT", "/v1/checklists/" + encodeURIComponent(c.id), body) : api("POST", "/v1/checklists", body);
    var button = byTest("save-checklist");
    button.disabled = true;
    return guard(request).then(function (saved) {
      return load().then(function () {
        fill(saved);
        byTest("saved-status").textContent = t("cl.saved", { version: saved.version });
      });
    }).catch(function () { /* shown in the toast; the form keeps what was typed */ }).then(function () {
      button.disabled = false;
    });
  }

  function remove() {
    var c = state.current;
    if (!c || !c.id || !window.confirm(t("cl.confirm_delete"))) return;
    hideError();
    guard(api("DELETE", "/v1/checklists/" + encodeURIComponent(c.id))).then(function () {
      state.current = null;
      form.hidden = true;
      byTest("checklist-pick").hidden = false;
      return load();
    }).catch(function () { /* shown */ });
  }

  function init() {
    I.applyI18n(document);
    I.bindLangButtons(document);
    I.onChange(function () { renderList(); if (state.current) renderHead(); });
    $(".toast__close", toast).addEventListener("click", hideError);
    byTest("new-checklist").addEventListener("click", startNew);
    byTest("add-item").addEventListener("click", function () {
      var node = addItem({ label: "", required: true });
      $(".cl-item__label", node).focus();
    });
    byTest("delete-checklist").addEventListener("click", remove);
    form.addEventListener("submit", save);
    window.RafiqSession.ready.then(load).then(function () {
      document.body.setAttribute("data-ready", "true");
    }, function () { document.body.setAttribute("data-ready", "error"); });
  }

  window.__rafiqChecklists = { state: state };
  init();
})();
