/* Rafiq agent panel: the call's script and its key facts (issue 11, guidance through the call).
 *
 * Reads the call's events (panel.js hands each one to RafiqScript.onEvent, and calls
 * RafiqScript.reset when another call opens):
 *   script.loaded   → the checklist of the call (steps: item_id, label, required)
 *   script.step     → a step ticked by itself, with the utterance that said it
 *   script.reminder → required steps still open near the end of the call
 *   fact            → a key fact heard (amount, date, reference, product, masked personal data):
 *                     a chip that copies its text on click or Enter.
 * When the call has a script, the panel's hand-ticked check-list is hidden (one list only).
 */
(function () {
  "use strict";

  var I = window.RafiqI18n;
  var D = window.RafiqDom;

  I.extend({
    fr: {
      "script.title": "Script d'appel", "script.required": "obligatoire", "script.optional": "facultatif",
      "script.done": "fait", "script.open": "à faire",
      "script.reminder": "Avant de conclure : {steps}", "script.said": "Dit : « {text} »",
      "facts.title": "Faits clés", "facts.copy": "Copier {text}", "facts.copied": "Copié : {text}",
      "facts.kind.amount": "Montant", "facts.kind.date": "Date", "facts.kind.reference": "Référence",
      "facts.kind.product": "Produit", "facts.kind.personal": "Donnée personnelle"
    },
    ar: {
      "script.title": "سيناريو المكالمة", "script.required": "إلزامي", "script.optional": "اختياري",
      "script.done": "تم", "script.open": "لم يتم بعد",
      "script.reminder": "قبل الختام: {steps}", "script.said": "قيل: «{text}»",
      "facts.title": "معلومات أساسية", "facts.copy": "نسخ {text}", "facts.copied": "تم النسخ: {text}",
      "facts.kind.amount": "مبلغ", "facts.kind.date": "تاريخ", "facts.kind.reference": "مرجع",
      "facts.kind.product": "منتج", "facts.kind.personal": "معطى شخصي"
    },
    en: {
      "script.title": "Call script", "script.required": "required", "script.optional": "optional",
      "script.done": "done", "script.open": "to do",
      "script.reminder": "Before closing: {steps}", "script.said": "Said: “{text}”",
      "facts.title": "Key facts", "facts.copy": "Copy {text}", "facts.copied": "Copied: {text}",
      "facts.kind.amount": "Amount", "facts.kind.date": "Date", "facts.kind.reference": "Reference",
      "facts.kind.product": "Product", "facts.kind.personal": "Personal data"
    }
  });

  var state = { callId: null, items: [], done: {}, reminder: null, facts: {} };
  var root, els = {};

  function build() {
    root = document.getElementById("script-panel");
    if (!root) return false;
    var script = D.el("section", { "class": "card script", "data-testid": "script-panel", "aria-labelledby": "script-title" });
    var head = D.el("div", { "class": "card__head" });
    head.appendChild(D.el("h2", { id: "script-title", "data-i18n": "script.title" }, I.t("script.title")));
    els.progress = D.el("span", { "class": "script__progress", "data-testid": "script-progress" }, "0/0");
    head.appendChild(els.progress);
    script.appendChild(head);
    els.reminder = D.el("p", { "class": "script__reminder", "data-testid": "script-reminder", role: "alert" });
    els.reminder.hidden = true;
    script.appendChild(els.reminder);
    els.steps = D.el("ol", { "class": "script__steps" });
    script.appendChild(els.steps);
    script.hidden = true;
    els.script = script;

    var facts = D.el("section", { "class": "card facts", "data-testid": "facts-panel", "aria-labelledby": "facts-title" });
    var fhead = D.el("div", { "class": "card__head" });
    fhead.appendChild(D.el("h2", { id: "facts-title", "data-i18n": "facts.title" }, I.t("facts.title")));
    facts.appendChild(fhead);
    els.chips = D.el("ul", { "class": "facts__chips" });
    facts.appendChild(els.chips);
    els.copied = D.el("p", { "class": "facts__status", "data-testid": "fact-copied", role: "status", "aria-live": "polite" });
    facts.appendChild(els.copied);
    facts.hidden = true;
    els.facts = facts;

    root.appendChild(script);
    root.appendChild(facts);
    I.onChange(render);
    return true;
  }

  function manualChecklist() { return D.byTest("checklist"); }

  function reset(callId) {
    if (!root && !build()) return;
    state = { callId: callId || null, items: [], done: {}, reminder: null, facts: {} };
    els.steps.textContent = "";
    els.chips.textContent = "";
    els.copied.textContent = "";
    var manual = manualChecklist();
    if (manual) manual.hidden = false;
    render();
  }

  function onLoaded(ev) {
    state.items = (ev.items || []).map(function (item) {
      return { id: String(item.item_id), label: String(item.label || item.item_id), required: !!item.required };
    });
    var manual = manualChecklist();
    if (manual) manual.hidden = true;
    render();
  }

  function onStep(ev) {
    if (!ev.passed) return;
    state.done[String(ev.item_id)] = ev.evidence || {};
    render();
  }

  function onReminder(ev) {
    state.reminder = (ev.open || []).map(function (o) { return String(o.item_id); });
    render();
  }

  function render() {
    if (!root) return;
    els.script.hidden = !state.items.length;
    els.steps.textContent = "";
    var done = 0;
    state.items.forEach(function (item) {
      var evidence = state.done[item.id];
      if (evidence) done++;
      var li = D.el("li", { "class": "script__step", "data-testid": "script-step", "data-item": item.id,
                            "data-state": evidence ? "done" : "open", "data-required": item.required ? "true" : "false" });
      li.appendChild(D.el("span", { "class": "script__mark", "aria-hidden": "true" }, evidence ? "✓" : "○"));
      var body = D.el("span", { "class": "script__body" });
      body.appendChild(D.el("span", { "class": "script__label", dir: "auto" }, item.label));
      body.appendChild(D.el("span", { "class": "visually-hidden" },
        " — " + I.t(evidence ? "script.done" : "script.open") + ", " + I.t(item.required ? "script.required" : "script.optional")));
      if (evidence && evidence.text) {
        body.appendChild(D.el("span", { "class": "script__evidence", "data-testid": "script-evidence", dir: "auto" },
          I.t("script.said", { text: evidence.text })));
      }
      li.appendChild(body);
      els.steps.appendChild(li);
    });
    els.progress.textContent = done + "/" + state.items.length;
    var open = (state.reminder || []).filter(function (id) { return !state.done[id]; });
    els.reminder.hidden = !open.length;
    if (open.length) {
      var labels = open.map(function (id) {
        var item = state.items.filter(function (i) { return i.id === id; })[0];
        return item ? item.label : id;
      });
      els.reminder.textContent = I.t("script.reminder", { steps: labels.join(", ") });
    }
    els.reminder.setAttribute("data-open", open.join(","));
    renderFactLabels();
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(function () { return true; }, function () { return legacyCopy(text); });
    }
    return Promise.resolve(legacyCopy(text));
  }

  function legacyCopy(text) {
    var area = D.el("textarea", { "class": "visually-hidden", "aria-hidden": "true" });
    area.value = text;
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  function onFact(ev) {
    var text = String(ev.text || "");
    var key = String(ev.kind) + ":" + text.toLowerCase();
    if (!text || state.facts[key]) return;
    state.facts[key] = true;
    var li = D.el("li");
    var chip = D.el("button", { type: "button", "class": "chip", "data-testid": "fact-chip", "data-kind": String(ev.kind),
                                "data-text": text });
    if (ev.personal) chip.setAttribute("data-personal", String(ev.personal));
    chip.appendChild(D.el("span", { "class": "chip__kind" }));
    chip.appendChild(D.el("span", { "class": "chip__text", dir: "auto" }, text));
    // A button: click, Enter and Space all copy.
    chip.addEventListener("click", function () {
      copy(text).then(function (ok) {
        if (!ok) return;
        D.$$('[data-testid="fact-chip"]', els.chips).forEach(function (c) { c.removeAttribute("data-copied"); });
        chip.setAttribute("data-copied", "true");
        els.copied.textContent = I.t("facts.copied", { text: text });
      });
    });
    li.appendChild(chip);
    els.chips.appendChild(li);
    els.facts.hidden = false;
    renderFactLabels();
  }

  function renderFactLabels() {
    D.$$('[data-testid="fact-chip"]', els.chips).forEach(function (chip) {
      var text = chip.getAttribute("data-text");
      D.$(".chip__kind", chip).textContent = I.t("facts.kind." + chip.getAttribute("data-kind"));
      chip.setAttribute("aria-label", I.t("facts.copy", { text: text }));
    });
  }

  function onEvent(ev) {
    if (!root && !build()) return;
    switch (ev.type) {
      case "script.loaded": onLoaded(ev); break;
      case "script.step": onStep(ev); break;
      case "script.reminder": onReminder(ev); break;
      case "fact": onFact(ev); break;
      default: break;
    }
  }

  window.RafiqScript = { reset: reset, onEvent: onEvent };
})();
