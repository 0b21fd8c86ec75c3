/* Rafiq administration page: the users of the administrator's tenant, its API keys, its
 * settings (redaction, retention) and its audit log. Talks to /v1/users, /v1/apikeys,
 * /v1/settings and /v1/audit as the signed-in administrator (session.js: cookie, CSRF header,
 * back to the sign-in page when the session ends).
 */
(function () {
  "use strict";

  var I = window.RafiqI18n;
  var t = I.t;
  var Session = window.RafiqSession;

  var ROLES = ["agent", "supervisor", "trainer", "admin"];
  var KINDS = ["card", "iban", "rib", "cin", "phone", "email", "birth_date"];
  var FAMILIES = ["auth.", "user.", "apikey.", "settings.", "call.", "kb.", "audit."];
  var NAME_RE = /^[A-Za-z0-9_.@+-]{1,64}$/;
  var AUDIT_PAGE = 50;
  var TABS = ["users", "keys", "settings", "audit"];

  var Dom = window.RafiqDom, $ = Dom.$, $$ = Dom.$$, byTest = Dom.byTest, el = Dom.el;

  var state = {
    me: null,
    tab: null,
    users: [],
    keys: [],
    settings: null,
    audit: { filters: {}, cursor: null, stack: [], next: null, entries: [] }
  };

  /* ------------------------------------------------------------------ HTTP */

  function api(method, path, body) {
    var init = { method: method, headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (r) {
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!r.ok) {
          var detail = data && data.detail;
          var error = new Error(detail && detail.message ? detail.message : "HTTP " + r.status);
          error.status = r.status;
          error.code = detail && typeof detail === "object" && !Array.isArray(detail) ? detail.code : null;
          if (Array.isArray(detail)) {
            error.fields = detail.map(function (d) { return (d.loc || []).slice(-1)[0]; }).join(", ");
          }
          throw error;
        }
        return data;
      });
    }, function () {
      var error = new Error("network");
      error.code = "network";
      throw error;
    });
  }

  function describe(error) {
    if (!error) return "";
    if (error.code && I.DICT.fr["error." + error.code]) return t("error." + error.code);
    if (error.fields) return t("error.invalid", { fields: error.fields });
    if (error.status) return t("error.http", { status: error.status }) + (error.message ? " — " + error.message : "");
    return error.message || String(error);
  }

  function showIn(box, text) {
    box.textContent = text || "";
    box.hidden = !text;
  }

  var toast = byTest("error");
  function showToast(text) {
    $(".toast__text", toast).textContent = text;
    toast.hidden = false;
  }

  /* --------------------------------------------------------------- formats */

  function locale() {
    var lang = I.getLang();
    return lang === "ar" ? "ar-MA" : lang === "en" ? "en-GB" : "fr-FR";
  }

  function fmtDate(iso, withTime) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    var opts = withTime ? { dateStyle: "short", timeStyle: "medium" } : { dateStyle: "medium" };
    try { return d.toLocaleString(locale(), opts); } catch (e) { return d.toISOString(); }
  }

  function roleList(roles) {
    return (roles || []).map(function (r) { return t("role." + r); }).join(", ");
  }

  function randomPassword() {
    var alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += alphabet.charAt(bytes[i] % alphabet.length);
    return out;
  }

  /* ------------------------------------------------------------------ tabs */

  var loaders = {
    users: function () { return loadUsers(); },
    keys: function () { return Promise.all([loadKeys(), loadUsers()]); },
    settings: function () { return loadSettings(); },
    audit: function () { return Promise.all([loadUsers(), loadKeys()]).then(function () { return loadAudit(state.audit.cursor); }); }
  };

  function showTab(name, focus) {
    if (TABS.indexOf(name) < 0) name = "users";
    state.tab = name;
    $$(".tab").forEach(function (b) {
      var on = b.getAttribute("data-tab") === name;
      b.setAttribute("aria-selected", on ? "true" : "false");
      b.tabIndex = on ? 0 : -1;
      if (on && focus) b.focus();
    });
    $$(".tabpanel").forEach(function (p) { p.hidden = p.getAttribute("data-panel") !== name; });
    document.body.setAttribute("data-tab", name);
    if (location.hash !== "#" + name) history.replaceState(null, "", location.pathname + location.search + "#" + name);
    return loaders[name]().catch(function (e) { showToast(describe(e)); });
  }

  function onTabKey(e) {
    var i = TABS.indexOf(state.tab);
    var rtl = I.isRtl();
    var step = { ArrowRight: rtl ? -1 : 1, ArrowLeft: rtl ? 1 : -1 }[e.key];
    if (step) i = (i + step + TABS.length) % TABS.length;
    else if (e.key === "Home") i = 0;
    else if (e.key === "End") i = TABS.length - 1;
    else return;
    e.preventDefault();
    showTab(TABS[i], true);
  }

  /* -------------------------------------------------------------- confirm */

  var confirmDialog = byTest("confirm-dialog");

  function confirmAction(text, yesLabel) {
    byTest("confirm-text").textContent = text;
    byTest("confirm-yes").textContent = yesLabel;
    confirmDialog.returnValue = "";
    return new Promise(function (resolve) {
      confirmDialog.addEventListener("close", function done() {
        confirmDialog.removeEventListener("close", done);
        resolve(confirmDialog.returnValue === "yes");
      });
      confirmDialog.showModal();
      byTest("confirm-no").focus();
    });
  }

  /* ----------------------------------------------------------------- users */

  function roleBoxes(fieldset, prefix) {
    ROLES.forEach(function (role) {
      var id = prefix + "-" + role;
      var label = el("label", { "class": "a-check", "for": id });
      var box = el("input", { type: "checkbox", id: id, value: role, "data-testid": prefix + "-role-" + role });
      var name = el("span", { "class": "a-check__name", "data-i18n": "role." + role }, t("role." + role));
      var hint = el("small", { "class": "a-check__hint", "data-i18n": "role.hint." + role }, t("role.hint." + role));
      label.appendChild(box);
      label.appendChild(name);
      label.appendChild(hint);
      fieldset.appendChild(label);
    });
  }

  function checkedRoles(fieldset) {
    return $$("input[type=checkbox]", fieldset).filter(function (b) { return b.checked; })
      .map(function (b) { return b.value; });
  }

  function loadUsers() {
    return api("GET", "/v1/users").then(function (data) {
      state.users = data.users || [];
      renderUsers();
    });
  }

  function userName(u) { return u.display_name && u.display_name !== u.username ? u.display_name + " (" + u.username + ")" : u.username; }

  function renderUsers() {
    var body = byTest("user-list");
    var frag = document.createDocumentFragment();
    state.users.forEach(function (u) {
      var self = state.me && u.id === state.me.id;
      var tr = el("tr", { "data-testid": "user-row", "data-user-id": u.id, "data-username": u.username,
                          "data-disabled": u.disabled ? "true" : "false" });
      if (u.disabled) tr.className = "is-disabled";
      var nameCell = el("td", { dir: "ltr", "class": "a-mono" }, u.username);
      if (self) nameCell.appendChild(el("span", { "class": "tag tag--small a-you" }, t("users.you")));
      tr.appendChild(nameCell);
      tr.appendChild(el("td", { dir: "auto", "data-testid": "user-display-name" }, u.display_name));
      var roles = el("td", { "data-testid": "user-roles", "data-roles": u.roles.join(" ") });
      u.roles.forEach(function (r) { roles.appendChild(el("span", { "class": "a-chip a-chip--" + r }, t("role." + r))); });
      tr.appendChild(roles);
      tr.appendChild(el("td", { dir: "ltr", "data-testid": "user-team" }, u.team || t("admin.none")));
      var status = el("td", {});
      status.appendChild(el("span", { "class": "a-status a-status--" + (u.disabled ? "off" : "on"), "data-testid": "user-status" },
                            t(u.disabled ? "users.disabled" : "users.active")));
      tr.appendChild(status);
      var cell = el("td", {});
      var actions = el("div", { "class": "a-actions" });
      cell.appendChild(actions);
      actions.appendChild(rowButton("users.edit", "user-edit", function () { openUserDialog(u); }, userName(u)));
      actions.appendChild(rowButton("users.reset", "user-reset", function () { openPasswordDialog(u); }, userName(u)));
      if (!self) {
        actions.appendChild(rowButton(u.disabled ? "users.enable" : "users.disable", "user-toggle",
                                      function () { toggleUser(u); }, userName(u)));
        actions.appendChild(rowButton("users.delete", "user-delete", function () { deleteUser(u); }, userName(u), "danger"));
      }
      tr.appendChild(cell);
      frag.appendChild(tr);
    });
    body.replaceChildren(frag);
    byTest("user-list-empty").hidden = state.users.length > 0;
    byTest("user-count").textContent = t("users.count", { n: state.users.length });
  }

  function rowButton(key, testid, onClick, who, kind) {
    var b = el("button", { type: "button", "class": "btn btn--small" + (kind ? " btn--" + kind : ""), "data-testid": testid },
               t(key));
    b.setAttribute("aria-label", t(key) + " — " + who);
    b.addEventListener("click", onClick);
    return b;
  }

  function createUser(e) {
    e.preventDefault();
    var form = byTest("user-form");
    var err = byTest("user-form-error");
    var ok = byTest("user-form-ok");
    showIn(err, ""); showIn(ok, "");
    var username = byTest("new-username").value.trim();
    var password = byTest("new-password").value;
    var display = byTest("new-display-name").value.trim();
    var team = byTest("new-team").value.trim();
    var roles = checkedRoles(byTest("new-roles"));
    var problem = !NAME_RE.test(username) ? [t("users.username") + " : " + t("users.username_hint"), "new-username"]
      : password.length < 8 ? [t("error.weak_password"), "new-password"]
      : !roles.length ? [t("users.need_role"), "new-role-agent"]
      : team && !NAME_RE.test(team) ? [t("users.team") + " : " + t("users.username_hint"), "new-team"] : null;
    if (problem) {
      showIn(err, problem[0]);
      byTest(problem[1]).focus();
      return;
    }
    var body = { username: username, password: password, roles: roles };
    if (display) body.display_name = display;
    if (team) body.team = team;
    var button = byTest("create-user");
    button.disabled = true;
    api("POST", "/v1/users", body).then(function (user) {
      form.reset();
      showIn(ok, t("users.created", { name: user.username }));
      byTest("new-username").focus();
      return loadUsers();
    }).catch(function (e) {
      showIn(err, describe(e));
    }).then(function () { button.disabled = false; });
  }

  var editing = null;

  function openUserDialog(u) {
    editing = u;
    var dialog = byTest("user-dialog");
    var self = state.me && u.id === state.me.id;
    byTest("user-dialog-title").textContent = t("users.edit_title", { name: u.username });
    showIn(byTest("user-dialog-error"), "");
    byTest("edit-display-name").value = u.display_name || "";
    byTest("edit-team").value = u.team || "";
    $$("input[type=checkbox]", byTest("edit-roles")).forEach(function (b) {
      b.checked = u.roles.indexOf(b.value) >= 0;
      b.disabled = !!self;  // changing one's own roles would end one's own session
    });
    byTest("edit-roles-self").hidden = !self;
    dialog.showModal();
    byTest("edit-display-name").focus();
  }

  function saveUser(e) {
    e.preventDefault();
    var u = editing;
    if (!u) return;
    var err = byTest("user-dialog-error");
    var changes = {};
    var display = byTest("edit-display-name").value.trim();
    if (display && display !== u.display_name) changes.display_name = display;
    var team = byTest("edit-team").value.trim();
    if (team !== (u.team || "")) {
      if (team && !NAME_RE.test(team)) { showIn(err, t("users.team") + " : " + t("users.username_hint")); return; }
      changes.team = team || null;
    }
    if (!(state.me && u.id === state.me.id)) {
      var roles = checkedRoles(byTest("edit-roles"));
      if (!roles.length) { showIn(err, t("users.need_role")); return; }
      if (roles.slice().sort().join() !== u.roles.slice().sort().join()) changes.roles = roles;
    }
    if (!Object.keys(changes).length) { byTest("user-dialog").close(); return; }
    api("PATCH", "/v1/users/" + encodeURIComponent(u.id), changes).then(function () {
      byTest("user-dialog").close();
      return loadUsers();
    }).catch(function (e2) { showIn(err, describe(e2)); });
  }

  function openPasswordDialog(u) {
    editing = u;
    byTest("password-dialog-title").textContent = t("users.reset_title", { name: u.username });
    showIn(byTest("password-dialog-error"), "");
    byTest("reset-password").value = "";
    byTest("password-dialog").showModal();
    byTest("reset-password").focus();
  }

  function savePassword(e) {
    e.preventDefault();
    var u = editing;
    var err = byTest("password-dialog-error");
    var password = byTest("reset-password").value;
    if (password.length < 8) { showIn(err, t("error.weak_password")); byTest("reset-password").focus(); return; }
    api("PATCH", "/v1/users/" + encodeURIComponent(u.id), { password: password }).then(function () {
      byTest("password-dialog").close();
      showIn(byTest("user-form-ok"), t("users.reset_done", { name: u.username }));
      return loadUsers();
    }).catch(function (e2) { showIn(err, describe(e2)); });
  }

  function toggleUser(u) {
    var ask = u.disabled ? Promise.resolve(true)
      : confirmAction(t("users.disable_confirm", { name: u.username }), t("users.disable"));
    return ask.then(function (yes) {
      if (!yes) return;
      return api("PATCH", "/v1/users/" + encodeURIComponent(u.id), { disabled: !u.disabled }).then(loadUsers);
    }).catch(function (e) { showToast(describe(e)); });
  }

  function deleteUser(u) {
    return confirmAction(t("users.delete_confirm", { name: u.username }), t("users.delete")).then(function (yes) {
      if (!yes) return;
      return api("DELETE", "/v1/users/" + encodeURIComponent(u.id)).then(loadUsers);
    }).catch(function (e) { showToast(describe(e)); });
  }

  /* -------------------------------------------------------------- API keys */

  function keyStatus(k) {
    if (k.revoked_at) return "revoked";
    if (k.expires_at && new Date(k.expires_at).getTime() <= Date.now()) return "expired";
    return "active";
  }

  function loadKeys() {
    return api("GET", "/v1/apikeys").then(function (data) {
      state.keys = data.keys || [];
      renderKeys();
    });
  }

  function renderKeys() {
    var frag = document.createDocumentFragment();
    // Active keys first, newest first within each group.
    var keys = state.keys.slice().sort(function (a, b) {
      var sa = keyStatus(a) === "active" ? 0 : 1, sb = keyStatus(b) === "active" ? 0 : 1;
      return sa - sb || String(b.created_at).localeCompare(String(a.created_at));
    });
    keys.forEach(function (k) {
      var status = keyStatus(k);
      var tr = el("tr", { "data-testid": "key-row", "data-key-id": k.id, "data-name": k.name, "data-status": status });
      if (status !== "active") tr.className = "is-disabled";
      tr.appendChild(el("td", { dir: "auto", "data-testid": "key-row-name" }, k.name));
      tr.appendChild(el("td", {}, roleList(k.roles)));
      tr.appendChild(el("td", { dir: "ltr" }, k.created_by || t("admin.none")));
      tr.appendChild(el("td", {}, fmtDate(k.created_at)));
      tr.appendChild(el("td", {}, k.expires_at ? fmtDate(k.expires_at) : t("admin.never")));
      tr.appendChild(el("td", {}, k.last_used_at ? fmtDate(k.last_used_at, true) : t("admin.never")));
      var cell = el("td", {});
      cell.appendChild(el("span", { "class": "a-status a-status--" + (status === "active" ? "on" : "off"), "data-testid": "key-status" },
                          t("keys." + status)));
      tr.appendChild(cell);
      var actionCell = el("td", {});
      var actions = el("div", { "class": "a-actions" });
      if (status === "active") actions.appendChild(rowButton("keys.revoke", "key-revoke", function () { revokeKey(k); }, k.name, "danger"));
      actionCell.appendChild(actions);
      tr.appendChild(actionCell);
      frag.appendChild(tr);
    });
    byTest("key-list").replaceChildren(frag);
    byTest("key-list-empty").hidden = state.keys.length > 0;
  }

  function createKey(e) {
    e.preventDefault();
    var err = byTest("key-form-error");
    showIn(err, "");
    var name = byTest("key-name").value.trim();
    var days = byTest("key-expires").value.trim();
    if (!name) { showIn(err, t("keys.name") + " ?"); byTest("key-name").focus(); return; }
    var body = { name: name };
    if (days) {
      var n = Number(days);
      if (!(n >= 1 && n <= 3650 && Math.floor(n) === n)) { showIn(err, t("keys.expires") + " : 1–3650"); byTest("key-expires").focus(); return; }
      body.expires_in_days = n;
    }
    var button = byTest("create-key");
    button.disabled = true;
    api("POST", "/v1/apikeys", body).then(function (created) {
      byTest("key-form").reset();
      showSecret(created);
      return loadKeys();
    }).catch(function (e2) { showIn(err, describe(e2)); }).then(function () { button.disabled = false; });
  }

  function showSecret(created) {
    var box = byTest("new-key");
    byTest("new-key-title").textContent = t("keys.created_title", { name: created.name });
    box.setAttribute("data-key-id", created.id);
    byTest("new-key-value").value = created.key;
    byTest("copy-status").textContent = "";
    box.hidden = false;
    byTest("new-key-value").focus();
    byTest("new-key-value").select();
  }

  function hideSecret() {
    var box = byTest("new-key");
    byTest("new-key-value").value = "";  // gone from the page: shown once
    box.hidden = true;
    box.removeAttribute("data-key-id");
    byTest("key-name").focus();
  }

  function copyKey() {
    var input = byTest("new-key-value");
    var value = input.value;
    var status = byTest("copy-status");
    function fallback() {
      input.focus();
      input.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      return ok;
    }
    var copying = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(value).then(function () { return true; }, fallback)
      : Promise.resolve(fallback());
    copying.then(function (ok) {
      status.setAttribute("data-copied", ok ? "true" : "false");
      status.textContent = t(ok ? "keys.copied" : "keys.copy_failed");
    });
  }

  function revokeKey(k) {
    return confirmAction(t("keys.revoke_confirm", { name: k.name }), t("keys.revoke")).then(function (yes) {
      if (!yes) return;
      return api("DELETE", "/v1/apikeys/" + encodeURIComponent(k.id)).then(loadKeys);
    }).catch(function (e) { showToast(describe(e)); });
  }

  /* -------------------------------------------------------------- settings */

  function kindBoxes() {
    var fieldset = byTest("redact-kinds");
    var hint = $("small", fieldset);
    KINDS.forEach(function (kind) {
      var id = "redact-" + kind;
      var label = el("label", { "class": "a-check", "for": id });
      label.appendChild(el("input", { type: "checkbox", id: id, value: kind, "data-testid": "redact-" + kind }));
      label.appendChild(el("span", { "class": "a-check__name", "data-i18n": "kind." + kind }, t("kind." + kind)));
      label.appendChild(el("code", { "class": "a-check__hint", dir: "ltr" }, kind));
      fieldset.insertBefore(label, hint);
    });
  }

  function loadSettings() {
    return api("GET", "/v1/settings").then(function (s) {
      state.settings = s;
      KINDS.forEach(function (kind) { byTest("redact-" + kind).checked = s.redact.indexOf(kind) >= 0; });
      byTest("retention-days").value = String(s.retention_days);
      byTest("settings-form").setAttribute("data-loaded", "true");
    });
  }

  function saveSettings(e) {
    e.preventDefault();
    var err = byTest("settings-error");
    var status = byTest("settings-status");
    showIn(err, "");
    status.textContent = "";
    var days = Number(byTest("retention-days").value);
    if (byTest("retention-days").value.trim() === "" || !(days >= 0 && days <= 36500 && Math.floor(days) === days)) {
      showIn(err, t("settings.retention") + " : 0–36500");
      byTest("retention-days").focus();
      return;
    }
    var redact = KINDS.filter(function (kind) { return byTest("redact-" + kind).checked; });
    var button = byTest("settings-save");
    button.disabled = true;
    api("PUT", "/v1/settings", { redact: redact, retention_days: days }).then(function (s) {
      state.settings = s;
      status.textContent = t("admin.saved");
      status.setAttribute("data-saved", "true");
    }).catch(function (e2) { showIn(err, describe(e2)); }).then(function () { button.disabled = false; });
  }

  /* ----------------------------------------------------------------- audit */

  // A date field (local day) as the instant it starts, in UTC ISO form.
  function dayStart(value, plusDays) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || "");
    if (!m) return null;
    return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (plusDays || 0)).toISOString();
  }

  function readFilters() {
    var f = {};
    var action = byTest("audit-action").value.trim();
    var actor = byTest("audit-actor").value.trim();
    var since = dayStart(byTest("audit-since").value, 0);
    var until = dayStart(byTest("audit-until").value, 1);  // the "to" day included
    if (action) f.action = action;
    if (actor) f.actor = actor;
    if (since) f.since = since;
    if (until) f.until = until;
    return f;
  }

  function qs(params) {
    var q = new URLSearchParams();
    Object.keys(params).forEach(function (k) {
      if (params[k] !== null && params[k] !== undefined && params[k] !== "") q.set(k, params[k]);
    });
    return q.toString();
  }

  function updateExportLinks() {
    var f = state.audit.filters;
    byTest("audit-export-csv").href = "/v1/audit/export?" + qs(Object.assign({ format: "csv" }, f));
    byTest("audit-export-jsonl").href = "/v1/audit/export?" + qs(Object.assign({ format: "jsonl" }, f));
  }

  function loadAudit(cursor) {
    var a = state.audit;
    var params = Object.assign({ limit: AUDIT_PAGE }, a.filters);
    if (cursor) params.before_id = cursor;
    var table = byTest("audit-table");
    table.setAttribute("aria-busy", "true");
    showIn(byTest("audit-error"), "");
    return api("GET", "/v1/audit?" + qs(params)).then(function (data) {
      a.cursor = cursor || null;
      a.entries = data.entries || [];
      a.next = data.next_before_id || null;
      renderAudit();
    }).catch(function (e) {
      showIn(byTest("audit-error"), describe(e));
    }).then(function () { table.setAttribute("aria-busy", "false"); });
  }

  function targetLabel(target) {
    if (!target) return "";
    var user = state.users.filter(function (u) { return u.id === target; })[0];
    if (user) return user.username;
    var key = state.keys.filter(function (k) { return k.id === target; })[0];
    if (key) return key.name;
    return target;
  }

  function renderAudit() {
    var a = state.audit;
    var frag = document.createDocumentFragment();
    a.entries.forEach(function (entry) {
      var tr = el("tr", { "data-testid": "audit-row", "data-id": String(entry.id), "data-action": entry.action,
                          "data-actor": entry.actor || "", "data-outcome": entry.outcome, "data-target": entry.target || "" });
      if (entry.outcome !== "ok") tr.className = "is-refused";
      tr.appendChild(el("td", { "class": "a-num" }, entry.id));
      tr.appendChild(el("td", { "class": "a-nowrap" }, fmtDate(entry.at, true)));
      tr.appendChild(el("td", { dir: "ltr", "class": "a-mono" }, entry.actor || t("admin.none")));
      tr.appendChild(el("td", { dir: "ltr", "class": "a-mono", "data-testid": "audit-action-cell" }, entry.action));
      var target = el("td", { dir: "ltr", "class": "a-mono a-target" }, targetLabel(entry.target));
      if (entry.target) target.title = entry.target;
      tr.appendChild(target);
      var outcome = el("td", {});
      outcome.appendChild(el("span", { "class": "a-status a-status--" + (entry.outcome === "ok" ? "on" : "off") }, entry.outcome));
      if (entry.detail && Object.keys(entry.detail).length) outcome.title = JSON.stringify(entry.detail);
      tr.appendChild(outcome);
      tr.appendChild(el("td", { dir: "ltr", "class": "a-mono" }, entry.ip || ""));
      frag.appendChild(tr);
    });
    byTest("audit-list").replaceChildren(frag);
    byTest("audit-list-empty").hidden = a.entries.length > 0;
    byTest("audit-older").disabled = !a.next;
    byTest("audit-newest").disabled = !a.cursor;
    byTest("audit-page").textContent = t("audit.page", { n: a.stack.length + 1 });
  }

  function applyFilters(e) {
    if (e) e.preventDefault();
    state.audit.filters = readFilters();
    state.audit.stack = [];
    updateExportLinks();
    return loadAudit(null);
  }

  function resetFilters() {
    byTest("audit-filters").reset();
    return applyFilters();
  }

  function olderPage() {
    var a = state.audit;
    if (!a.next) return;
    a.stack.push(a.cursor);
    loadAudit(a.next);
  }

  function newestPage() {
    state.audit.stack = [];
    loadAudit(null);
  }

  function verifyChain() {
    var button = byTest("audit-verify");
    var out = byTest("verify-result");
    button.disabled = true;
    button.textContent = t("audit.verifying");
    api("GET", "/v1/audit/verify").then(function (r) {
      out.setAttribute("data-ok", r.ok ? "true" : "false");
      out.setAttribute("data-entries", String(r.entries));
      out.className = "a-verify " + (r.ok ? "is-ok" : "is-bad");
      out.textContent = r.ok ? t("audit.verify_ok", { n: r.entries }) : t("audit.verify_bad", { id: r.first_bad_id });
      if (r.head_hash) out.title = r.head_hash;
      out.hidden = false;
    }).catch(function (e) {
      out.setAttribute("data-ok", "error");
      out.className = "a-verify is-bad";
      out.textContent = describe(e);
      out.hidden = false;
    }).then(function () {
      button.disabled = false;
      button.textContent = t("audit.verify");
    });
  }

  function fillFamilies() {
    var list = $("#au-families");
    list.replaceChildren.apply(list, FAMILIES.map(function (f) {
      return el("option", { value: f }, t("audit.family." + f));
    }));
  }

  /* ------------------------------------------------------------------ init */

  function init() {
    I.applyI18n(document);
    I.bindLangButtons(document);
    roleBoxes(byTest("new-roles"), "new");
    roleBoxes(byTest("edit-roles"), "edit");
    kindBoxes();
    fillFamilies();
    I.onChange(function () {
      renderUsers();
      renderKeys();
      renderAudit();
      fillFamilies();
      if (editing && byTest("user-dialog").open) byTest("user-dialog-title").textContent = t("users.edit_title", { name: editing.username });
    });

    $(".toast__close", toast).addEventListener("click", function () { toast.hidden = true; });
    $$(".tab").forEach(function (b) {
      b.addEventListener("click", function () { showTab(b.getAttribute("data-tab")); });
      b.addEventListener("keydown", onTabKey);
    });

    byTest("user-form").addEventListener("submit", createUser);
    byTest("user-dialog-form").addEventListener("submit", saveUser);
    byTest("password-dialog-form").addEventListener("submit", savePassword);
    $$("[data-close]").forEach(function (b) {
      b.addEventListener("click", function () { b.closest("dialog").close(); });
    });
    $$("[data-target]").forEach(function (b) {
      b.addEventListener("click", function () {
        var input = document.getElementById(b.getAttribute("data-target"));
        input.value = randomPassword();
        input.focus();
        input.select();
      });
    });

    byTest("key-form").addEventListener("submit", createKey);
    byTest("copy-key").addEventListener("click", copyKey);
    byTest("new-key-done").addEventListener("click", hideSecret);

    byTest("settings-form").addEventListener("submit", saveSettings);
    byTest("settings-form").addEventListener("change", function () { byTest("settings-status").textContent = ""; });

    byTest("audit-filters").addEventListener("submit", applyFilters);
    byTest("audit-reset").addEventListener("click", resetFilters);
    byTest("audit-older").addEventListener("click", olderPage);
    byTest("audit-newest").addEventListener("click", newestPage);
    byTest("audit-verify").addEventListener("click", verifyChain);
    updateExportLinks();
    renderAudit();

    window.addEventListener("hashchange", function () {
      var name = location.hash.slice(1);
      if (TABS.indexOf(name) >= 0 && name !== state.tab) showTab(name);
    });

    Session.ready.then(function (me) {
      state.me = me;
      return showTab(location.hash.slice(1));
    }).then(function () {
      document.body.setAttribute("data-ready", "true");
    });
  }

  window.__rafiqAdmin = { state: state };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
