/* Rafiq alert rules editor (/supervisor/alerts): the tenant's rules, tenant-wide or per
 * campaign, listed, created, edited, switched off and deleted through /v1/alert-rules. Admins
 * read them; supervisors write them. Plain form controls: every step works from the keyboard. */
(function () {
  "use strict";

  var I = window.RafiqI18n, t = I.t;
  var Dom = window.RafiqDom, $ = Dom.$, $$ = Dom.$$, byTest = Dom.byTest, el = Dom.el;
  var Api = window.RafiqApi;

  var state = { rules: [], editing: null, canWrite: false };
  var els = {};

  function summary(rule) {
    var p = rule.params || {};
    if (rule.kind === "phrase") return (p.phrases || []).join(" · ") + " (" + t("rules.speaker." + (p.speaker || "any")) + ")";
    return t("rules.summary." + rule.kind, { count: p.count, seconds: p.seconds });
  }

  function status(text) { els.status.textContent = text; }

  function render() {
    els.rows.textContent = "";
    state.rules.forEach(function (rule) {
      var tr = el("tr", { "class": "rules__row", "data-testid": "rule-row", "data-rule-id": rule.rule_id,
                          "data-kind": rule.kind, "data-enabled": String(rule.enabled) });
      tr.appendChild(el("td", { "data-testid": "rule-row-title", dir: "auto" }, rule.title));
      tr.appendChild(el("td", {}, t("alert.kind." + rule.kind)));
      tr.appendChild(el("td", { dir: "auto" }, rule.campaign || t("rules.all_campaigns")));
      tr.appendChild(el("td", { "data-testid": "rule-row-summary", dir: "auto" },
                        summary(rule) + (rule.enabled ? "" : " — " + t("rules.off"))));
      var actions = el("td", { "class": "rules__actions" });
      if (state.canWrite) {
        var edit = el("button", { type: "button", "class": "btn", "data-testid": "rule-edit",
                                  "aria-label": t("rules.edit") + " : " + rule.title }, t("rules.edit"));
        edit.addEventListener("click", function () { startEdit(rule); });
        var del = el("button", { type: "button", "class": "btn btn--ghost", "data-testid": "rule-delete",
                                 "aria-label": t("rules.delete") + " : " + rule.title }, t("rules.delete"));
        del.addEventListener("click", function () { remove(rule); });
        actions.appendChild(edit);
        actions.appendChild(del);
      }
      tr.appendChild(actions);
      els.rows.appendChild(tr);
    });
    els.empty.hidden = state.rules.length > 0;
  }

  function load() {
    return Api.call("GET", "/v1/alert-rules").then(function (body) {
      state.rules = body.rules || [];
      render();
    }, function (err) { showError(err.message); });
  }

  function showError(text) {
    $(".toast__text", els.toast).textContent = text;
    els.toast.hidden = false;
  }

  /* ------------------------------------------------------------------ form */

  function showKindFields() {
    var kind = els.kind.value;
    $$("[data-for-kind]", els.form).forEach(function (label) {
      label.hidden = label.getAttribute("data-for-kind").split(" ").indexOf(kind) < 0;
    });
  }

  function resetForm() {
    state.editing = null;
    els.form.reset();
    els.kind.disabled = false;
    els.formTitle.setAttribute("data-i18n", "rules.new");
    els.formTitle.textContent = t("rules.new");
    els.formError.textContent = "";
    showKindFields();
  }

  function startEdit(rule) {
    resetForm();
    state.editing = rule;
    els.formTitle.setAttribute("data-i18n", "rules.edit");
    els.formTitle.textContent = t("rules.edit");
    els.kind.value = rule.kind;
    els.kind.disabled = true;  // a rule keeps its kind; make another for another kind
    byTest("rule-title").value = rule.title;
    byTest("rule-campaign").value = rule.campaign || "";
    byTest("rule-enabled").checked = !!rule.enabled;
    var p = rule.params || {};
    if (rule.kind === "phrase") {
      byTest("rule-phrases").value = (p.phrases || []).join("\n");
      byTest("rule-speaker").value = p.speaker || "any";
    } else if (rule.kind === "sentiment") {
      byTest("rule-count").value = p.count;
    } else {
      byTest("rule-seconds").value = p.seconds;
    }
    showKindFields();
    byTest("rule-title").focus();
  }

  function params(kind) {
    if (kind === "phrase") {
      return { phrases: byTest("rule-phrases").value.split("\n").map(function (s) { return s.trim(); })
                 .filter(Boolean), speaker: byTest("rule-speaker").value };
    }
    if (kind === "sentiment") return { count: Number(byTest("rule-count").value) };
    return { seconds: Number(byTest("rule-seconds").value) };
  }

  function save(e) {
    e.preventDefault();
    var kind = els.kind.value;
    var body = { title: byTest("rule-title").value.trim(), campaign: byTest("rule-campaign").value.trim() || null,
                 params: params(kind), enabled: byTest("rule-enabled").checked };
    var editing = state.editing;
    var request = editing
      ? Api.call("PATCH", "/v1/alert-rules/" + encodeURIComponent(editing.rule_id), body)
      : Api.call("POST", "/v1/alert-rules", Object.assign({ kind: kind }, body));
    els.save.disabled = true;
    request.then(function (rule) {
      resetForm();
      status(t("rules.saved") + " : " + rule.title);
      return load().then(function () {
        var row = $('[data-rule-id="' + CSS.escape(rule.rule_id) + '"] [data-testid="rule-edit"]', els.rows);
        if (row) row.focus();
      });
    }, function (err) {
      els.formError.textContent = err.message;
      byTest("rule-title").focus();
    }).then(function () { els.save.disabled = false; });
  }

  function remove(rule) {
    Api.call("DELETE", "/v1/alert-rules/" + encodeURIComponent(rule.rule_id)).then(function () {
      status(t("rules.deleted") + " : " + rule.title);
      if (state.editing && state.editing.rule_id === rule.rule_id) resetForm();
      return load().then(function () { els.kind.focus(); });
    }, function (err) { showError(err.message); });
  }

  function init() {
    els = {
      rows: byTest("rule-rows"), empty: byTest("rule-empty"), status: byTest("rule-status"), toast: byTest("error"),
      form: byTest("rule-form"), kind: byTest("rule-kind"), formTitle: byTest("rule-form-title"),
      formError: byTest("rule-form-error"), save: byTest("rule-save")
    };
    I.applyI18n(document);
    I.bindLangButtons(document);
    I.onChange(render);
    $(".toast__close", els.toast).addEventListener("click", function () { els.toast.hidden = true; });
    els.kind.addEventListener("change", showKindFields);
    els.form.addEventListener("submit", save);
    byTest("rule-cancel").addEventListener("click", resetForm);
    els.form.addEventListener("keydown", function (e) { if (e.key === "Escape") resetForm(); });
    showKindFields();
    window.RafiqSession.ready.then(function (me) {
      state.canWrite = me.roles.indexOf("supervisor") >= 0;
      if (!state.canWrite) {
        document.body.setAttribute("data-readonly", "true");
        byTest("rules-readonly").hidden = false;
      }
      return load();
    }).then(function () { document.body.setAttribute("data-ready", "true"); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
