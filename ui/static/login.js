/* Rafiq sign-in page: POST /v1/auth/login (the server sets the HttpOnly session cookie and the
 * CSRF cookie), then on to ?next= (a path of this site only) or the user's home page by role. */
(function () {
  "use strict";

  var I = window.RafiqI18n;
  var t = I.t;

  // The first page a user may open is their home (the same order as the server's pages).
  var HOMES = [
    { path: "/", roles: ["agent", "supervisor"] },
    { path: "/trainer", roles: ["trainer", "supervisor"] },
    { path: "/admin", roles: ["admin"] }
  ];

  function byTest(id) { return document.querySelector('[data-testid="' + id + '"]'); }

  var els = {
    form: byTest("login-form"),
    username: byTest("login-username"),
    password: byTest("login-password"),
    toggle: byTest("password-toggle"),
    submit: byTest("login-submit"),
    submitLabel: document.querySelector(".login__submit-label"),
    error: byTest("login-error"),
    notice: byTest("login-notice")
  };

  var params = new URLSearchParams(location.search);

  /** ``next`` if it is a path of this site ("/..." but not "//host" or "/\host"), else null. */
  function safeNext(raw) {
    if (!raw || raw.charAt(0) !== "/" || raw.charAt(1) === "/" || raw.charAt(1) === "\\") return null;
    if (/[\u0000-\u001f\u007f]/.test(raw)) return null;
    try {
      var u = new URL(raw, location.origin);
      if (u.origin !== location.origin || u.pathname === "/login") return null;
      return u.pathname + u.search + u.hash;
    } catch (e) {
      return null;
    }
  }

  function homeOf(me) {
    var roles = (me && me.roles) || [];
    for (var i = 0; i < HOMES.length; i++) {
      for (var j = 0; j < HOMES[i].roles.length; j++) {
        if (roles.indexOf(HOMES[i].roles[j]) >= 0) return HOMES[i].path;
      }
    }
    return "/";
  }

  function go(me) {
    location.replace(safeNext(params.get("next")) || homeOf(me));
  }

  /* --------------------------------------------------------------- messages */

  var shown = null;  // {key, vars} of the error on screen, to translate it on a language switch
  var lockTimer = null;

  function fmtWait(seconds) {
    seconds = Math.max(0, Math.ceil(seconds));
    var m = Math.floor(seconds / 60);
    var s = seconds % 60;
    return m > 0 ? t("wait.min_s", { m: m, s: s }) : t("wait.s", { s: s });
  }

  function renderError() {
    if (!shown) {
      els.error.hidden = true;
      els.error.textContent = "";
      els.error.removeAttribute("data-code");
      els.username.removeAttribute("aria-invalid");
      els.password.removeAttribute("aria-invalid");
      return;
    }
    var vars = shown.vars || {};
    if (shown.until) vars = { wait: fmtWait((shown.until - Date.now()) / 1000) };
    els.error.textContent = t(shown.key, vars);
    els.error.setAttribute("data-code", shown.code || shown.key);
    els.error.hidden = false;
  }

  function showError(key, code, vars) {
    clearInterval(lockTimer);
    shown = { key: key, code: code, vars: vars };
    renderError();
  }

  function showLocked(retryAfter) {
    clearInterval(lockTimer);
    shown = { key: "login.locked", code: "sign_in_locked", until: Date.now() + Math.max(1, retryAfter) * 1000 };
    els.error.setAttribute("data-retry-after", String(retryAfter));
    renderError();
    lockTimer = setInterval(function () {
      if (Date.now() >= shown.until) {
        clearInterval(lockTimer);
        showError("login.unlocked", "unlocked");
        return;
      }
      renderError();
    }, 1000);
  }

  function clearError() {
    clearInterval(lockTimer);
    shown = null;
    renderError();
  }

  function showNotice() {
    var key = params.get("signed_out") ? "login.signed_out" : params.get("expired") ? "login.expired" : null;
    els.notice.hidden = !key;
    if (key) {
      els.notice.setAttribute("data-i18n", key);
      els.notice.textContent = t(key);
    }
  }

  /* ---------------------------------------------------------------- sign in */

  var busy = false;

  function setBusy(on) {
    busy = on;
    els.submit.disabled = on;
    els.form.setAttribute("aria-busy", on ? "true" : "false");
    var key = on ? "login.submitting" : "login.submit";
    els.submitLabel.setAttribute("data-i18n", key);
    els.submitLabel.textContent = t(key);
  }

  function submit(e) {
    e.preventDefault();
    if (busy) return;
    var username = els.username.value.trim();
    var password = els.password.value;
    if (!username || !password) {
      showError("login.missing", "missing");
      (username ? els.password : els.username).focus();
      return;
    }
    setBusy(true);
    fetch("/v1/auth/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username: username, password: password })
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (body) {
        if (r.ok && body) {
          els.notice.hidden = true;
          clearError();
          go(body);
          return;  // stays busy while the next page loads
        }
        setBusy(false);
        var detail = body && body.detail;
        var code = detail && typeof detail === "object" ? detail.code : null;
        if (code === "sign_in_locked") {
          var wait = Number(detail.retry_after || r.headers.get("Retry-After") || 60);
          showLocked(isFinite(wait) ? wait : 60);
        } else if (r.status === 401) {
          showError("login.bad_credentials", code || "bad_credentials");
        } else {
          showError("login.failed", "http_" + r.status, { status: r.status });
        }
        els.password.setAttribute("aria-invalid", "true");
        els.password.select();
        els.password.focus();
      });
    }).catch(function () {
      setBusy(false);
      showError("login.offline", "offline");
    });
  }

  function togglePassword() {
    var show = els.password.type === "password";
    els.password.type = show ? "text" : "password";
    els.toggle.setAttribute("aria-pressed", show ? "true" : "false");
    els.toggle.setAttribute("data-i18n-aria-label", show ? "login.hide_label" : "login.show_label");
    els.toggle.setAttribute("aria-label", t(show ? "login.hide_label" : "login.show_label"));
    var label = els.toggle.querySelector("span");
    label.setAttribute("data-i18n", show ? "login.hide" : "login.show");
    label.textContent = t(show ? "login.hide" : "login.show");
    els.password.focus();
  }

  /* -------------------------------------------------------------------- init */

  function init() {
    I.applyI18n(document);
    I.bindLangButtons(document);
    I.onChange(renderError);
    els.form.addEventListener("submit", submit);
    els.toggle.addEventListener("click", togglePassword);
    els.username.addEventListener("input", function () { if (shown && shown.code !== "sign_in_locked") clearError(); });
    showNotice();
    els.username.focus();

    // Already signed in (e.g. the back button): straight on.
    fetch("/v1/me", { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (me) { if (me && !busy && me.kind === "user") go(me); })
      .catch(function () { /* not signed in, or offline: the form is there */ })
      .then(function () { document.body.setAttribute("data-ready", "true"); });
  }

  window.__rafiqLogin = { safeNext: safeNext, homeOf: homeOf };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
