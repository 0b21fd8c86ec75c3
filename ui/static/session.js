/* Rafiq: the signed-in session, shared by every page behind the sign-in (agent panel, trainer,
 * admin). Load it after i18n.js and session-i18n.js, before the page's own script.
 *
 * - Wraps window.fetch: a changing request (POST, PUT, PATCH, DELETE) to Rafiq carries the
 *   X-CSRF-Token header (the value of the rafiq_csrf cookie, which the session cookie needs);
 *   any 401 from Rafiq sends the browser to /login?next=<this page>.
 * - Reads GET /v1/me; RafiqSession.ready resolves with the signed-in user.
 * - Puts who is signed in, the links to the user's other pages and a sign-out button in the
 *   header (.topbar__right).
 * - RafiqSession.check(): after a WebSocket failed to open, finds out whether the session ended.
 */
(function () {
  "use strict";

  var I = window.RafiqI18n;
  var t = I.t;
  var UNSAFE = { POST: true, PUT: true, PATCH: true, DELETE: true };
  var CSRF_COOKIE = "rafiq_csrf";
  var CSRF_HEADER = "X-CSRF-Token";
  // Page → roles that may open it; the first one a user may open is their home (as the server).
  var PAGES = [
    { path: "/", roles: ["agent", "supervisor"], label: "nav.panel", testid: "nav-panel" },
    { path: "/trainer", roles: ["trainer", "supervisor"], label: "nav.trainer", testid: "nav-trainer" },
    { path: "/checklists", roles: ["trainer", "supervisor"], label: "nav.checklists", testid: "nav-checklists" },
    { path: "/supervisor", roles: ["supervisor", "admin"], label: "nav.floor", testid: "nav-floor" },
    { path: "/supervisor/alerts", roles: ["supervisor", "admin"], label: "nav.alerts", testid: "nav-alerts" },
    { path: "/supervisor/calls", roles: ["supervisor"], label: "nav.history", testid: "nav-history" },
    { path: "/supervisor/analytics", roles: ["supervisor"], label: "nav.analytics", testid: "nav-analytics" },
    { path: "/admin", roles: ["admin"], label: "nav.admin", testid: "nav-admin" }
  ];

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {
      var kv = parts[i].trim();
      var eq = kv.indexOf("=");
      if (eq > 0 && kv.slice(0, eq) === name) {
        try { return decodeURIComponent(kv.slice(eq + 1)); } catch (e) { return kv.slice(eq + 1); }
      }
    }
    return "";
  }

  function ownUrl(url) {
    try {
      var u = new URL(url, location.href);
      return u.origin === location.origin ? u : null;
    } catch (e) {
      return null;
    }
  }

  var leaving = false;

  function signInAgain() {
    if (leaving) return;
    leaving = true;
    var here = location.pathname + location.search + location.hash;
    location.assign("/login?expired=1&next=" + encodeURIComponent(here));
  }

  var nativeFetch = window.fetch.bind(window);

  function rafiqFetch(input, init) {
    init = init ? Object.assign({}, init) : {};
    var isRequest = typeof Request !== "undefined" && input instanceof Request;
    var url = ownUrl(isRequest ? input.url : String(input));
    var method = String(init.method || (isRequest ? input.method : "GET")).toUpperCase();
    if (url) {
      init.credentials = init.credentials || "same-origin";
      if (UNSAFE[method]) {
        var headers = new Headers(init.headers || (isRequest ? input.headers : undefined));
        var csrf = readCookie(CSRF_COOKIE);
        if (csrf && !headers.has(CSRF_HEADER)) headers.set(CSRF_HEADER, csrf);
        init.headers = headers;
      }
    }
    return nativeFetch(input, init).then(function (response) {
      if (response.status === 401 && url && url.pathname.indexOf("/v1/") === 0 &&
          url.pathname !== "/v1/auth/login") {
        signInAgain();
      }
      return response;
    });
  }

  window.fetch = rafiqFetch;

  function hasRole(me, roles) {
    if (!me) return false;
    for (var i = 0; i < roles.length; i++) if (me.roles.indexOf(roles[i]) >= 0) return true;
    return false;
  }

  function pagesOf(me) {
    return PAGES.filter(function (p) { return hasRole(me, p.roles); });
  }

  function homeOf(me) {
    var pages = pagesOf(me);
    return pages.length ? pages[0].path : null;
  }

  /* -------------------------------------------------------------- the header */

  function make(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function roleNames(me) {
    return me.roles.map(function (r) { return t("role." + r); }).join(", ");
  }

  function renderHeader(me) {
    var right = document.querySelector(".topbar__right");
    if (!right) return;
    var box = make("div", { "class": "session", "data-testid": "session" });

    var pages = pagesOf(me);
    if (pages.length > 1) {
      var nav = make("nav", { "class": "session__nav", "data-i18n-aria-label": "session.pages",
                              "aria-label": t("session.pages") });
      pages.forEach(function (p) {
        var a = make("a", { "class": "session__link", href: p.path, "data-testid": p.testid,
                            "data-i18n": p.label }, t(p.label));
        if (p.path === location.pathname) a.setAttribute("aria-current", "page");
        nav.appendChild(a);
      });
      box.appendChild(nav);
    }

    var who = make("span", { "class": "session__who", "data-testid": "session-user",
                             "data-username": me.username, dir: "auto" }, me.display_name || me.username);
    var label = make("span", { "class": "visually-hidden", "data-i18n": "session.user" }, t("session.user"));
    var whoBox = make("span", { "class": "session__user" });
    whoBox.appendChild(label);
    whoBox.appendChild(who);
    var detail = make("span", { "class": "session__roles", "data-testid": "session-roles" });
    whoBox.appendChild(detail);
    function renderRoles() {
      detail.textContent = roleNames(me) + (me.tenant ? " · " + me.tenant : "");
      who.title = me.username + " — " + roleNames(me) + " — " + me.tenant + (me.team ? " / " + me.team : "");
    }
    renderRoles();
    I.onChange(renderRoles);
    box.appendChild(whoBox);

    var out = make("button", { type: "button", "class": "session__out", "data-testid": "sign-out",
                               "data-i18n": "session.sign_out" }, t("session.sign_out"));
    out.addEventListener("click", function () { signOut(out); });
    box.appendChild(out);

    right.insertBefore(box, right.firstChild);
  }

  function signOut(button) {
    if (button) button.disabled = true;
    return rafiqFetch("/v1/auth/logout", { method: "POST" }).then(function (r) {
      if (r.status === 401) return;  // already signed out: signInAgain() takes over
      if (!r.ok && r.status !== 204) throw new Error("HTTP " + r.status);
      leaving = true;
      location.assign("/login?signed_out=1");
    }).catch(function () {
      if (button) button.disabled = false;
      var toast = document.querySelector('[data-testid="error"]');
      var text = toast && toast.querySelector(".toast__text");
      if (!text) return;
      text.textContent = t("session.sign_out_failed");
      toast.hidden = false;
    });
  }

  /* ---------------------------------------------------------------- the user */

  var session = {
    me: null,
    has: function (role) { return hasRole(session.me, [role]); },
    home: homeOf,
    pages: pagesOf,
    signOut: function () { return signOut(document.querySelector('[data-testid="sign-out"]')); },
    check: function () {
      // A socket that could not open: a 401 here means the session is over (fetch redirects).
      return rafiqFetch("/v1/me", { cache: "no-store" }).then(function (r) { return r.ok; }, function () { return false; });
    }
  };

  session.ready = new Promise(function (resolve) {
    function load(attempt) {
      rafiqFetch("/v1/me", { headers: { Accept: "application/json" }, cache: "no-store" }).then(function (r) {
        if (r.status === 401) return;  // on its way to /login
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json().then(function (me) {
          session.me = me;
          document.body.setAttribute("data-user", me.username);
          renderHeader(me);
          resolve(me);
        });
      }).catch(function () {
        // The server is restarting or out of reach: try again, a little slower each time.
        setTimeout(function () { load(attempt + 1); }, Math.min(10000, 500 * Math.pow(2, attempt)));
      });
    }
    function start() { load(0); }
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  });

  window.RafiqSession = session;
})();
