/* Rafiq pages' JSON API helper: RafiqApi.call(method, path, body) → a promise of the parsed
 * answer; an error answer rejects with an Error whose message is the server's (code: message)
 * and whose .code and .status are set. session.js (loaded before) adds the CSRF header. */
(function () {
  "use strict";

  function call(method, path, body) {
    var init = { method: method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (response.ok) return data;
        var detail = data && data.detail;
        var message = detail && detail.message ? detail.code + ": " + detail.message
          : Array.isArray(detail) ? detail.map(function (d) { return (d.loc || []).slice(-1)[0] + ": " + d.msg; }).join("; ")
          : response.status + " " + response.statusText;
        var error = new Error(message);
        error.code = detail && detail.code;
        error.status = response.status;
        throw error;
      });
    });
  }

  /* The page's own socket URL (ws: or wss: as the page). */
  function socketUrl(path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  window.RafiqApi = { call: call, socketUrl: socketUrl };
})();
