/* Call page's quality section: the call's score (0-100) and its checklist's items — label,
 * passed or not, required or optional, the agent's utterance that satisfied it (its text and its
 * time in the call; a button that brings that utterance into view in the transcript) and who
 * overrode it and when. A supervisor marks an item passed or failed
 * (PUT /v1/calls/{id}/quality/items/{item_id}); the score then shows the server's new value. */
(function () {
  "use strict";

  var I = window.RafiqI18n, t = I.t, D = window.RafiqDom;

  function clock(seconds) {
    var s = Math.max(0, Math.round(Number(seconds) || 0));
    return Math.floor(s / 60) + ":" + (s % 60 < 10 ? "0" : "") + (s % 60);
  }

  function when(iso) {
    var d = new Date(iso);
    return isNaN(d) ? String(iso || "") : d.toLocaleString(I.getLang());
  }

  function passedOf(item) { return item.override ? !!item.override.passed : !!item.passed; }

  /* Bring the evidence's transcript line into view and give it the focus (for a keyboard user). */
  function showSegment(segmentId) {
    var seg = D.$$('[data-testid="call-segment"]').filter(function (li) {
      return li.getAttribute("data-segment-id") === segmentId;
    })[0];
    if (!seg) return;
    seg.setAttribute("tabindex", "-1");
    seg.scrollIntoView({ block: "center" });
    seg.focus();
  }

  function itemRow(item, onToggle) {
    var passed = passedOf(item);
    var li = D.el("li", { "class": "c-item q-item q-item--" + (passed ? "passed" : "failed"), "data-testid": "quality-item",
                          "data-item-id": item.item_id, "data-passed": String(passed) });
    var head = D.el("div", { "class": "q-item__head" });
    head.appendChild(D.el("span", { "class": "q-badge", "data-testid": "quality-item-status" },
      t(passed ? "callpage.q.passed" : "callpage.q.failed")));
    head.appendChild(D.el("span", { "class": "q-item__label", dir: "auto", "data-testid": "quality-item-label" }, item.label));
    head.appendChild(D.el("span", { "class": "c-item__meta" }, t(item.required ? "callpage.q.required" : "callpage.q.optional")));
    li.appendChild(head);
    var ev = item.evidence;
    if (ev && ev.text) {
      var line = D.el("div", { "class": "q-evidence" });
      var jump = D.el("button", { type: "button", "class": "q-evidence__jump", "data-testid": "quality-evidence",
                                  "data-segment-id": ev.segment_id || "",
                                  "aria-label": t("callpage.q.show_in_transcript", { time: clock(ev.start) }) });
      jump.appendChild(D.el("span", { "class": "c-seg__time", "data-testid": "quality-evidence-time" }, clock(ev.start)));
      jump.appendChild(D.el("q", { dir: "auto", "data-testid": "quality-evidence-text" }, ev.text));
      jump.addEventListener("click", function () { showSegment(ev.segment_id); });
      line.appendChild(D.el("span", { "class": "c-item__meta" },
        t(item.method === "meaning" ? "callpage.q.by_meaning" : "callpage.q.by_phrase") + " "));
      line.appendChild(jump);
      li.appendChild(line);
    } else {
      li.appendChild(D.el("div", { "class": "c-item__meta" }, t("callpage.q.no_evidence")));
    }
    if (item.override) {
      var o = item.override;
      li.appendChild(D.el("div", { "class": "c-item__meta", "data-testid": "quality-override" },
        t("callpage.q.overridden", { state: t(o.passed ? "callpage.q.passed" : "callpage.q.failed"), by: o.by || "?", at: when(o.at) }) +
        (o.reason ? " — " + o.reason : "")));
    }
    var toggle = D.el("button", { type: "button", "class": "btn q-toggle", "data-testid": "quality-toggle",
                                  "data-item-id": item.item_id },
      t(passed ? "callpage.q.mark_failed" : "callpage.q.mark_passed"));
    toggle.addEventListener("click", function () { onToggle(item, !passed, toggle); });
    li.appendChild(toggle);
    return li;
  }

  /* Draw ``quality`` (GET /v1/calls/{id}'s field) in ``section``; ``changed(newQuality)`` is
   * called after an override with the server's answer; ``failed(error)`` on an error. */
  function render(section, callId, quality, changed, failed) {
    if (!quality) { section.hidden = true; return; }
    section.hidden = false;
    var box = D.$(".c-extra", section);
    box.textContent = "";
    var head = D.el("p", { "class": "q-score" });
    head.appendChild(D.el("span", {}, t("callpage.q.score") + " "));
    head.appendChild(D.el("strong", { "data-testid": "quality-score" }, String(quality.score)));
    head.appendChild(D.el("span", {}, " / 100"));
    box.appendChild(head);
    var list = D.el("ol", { "class": "c-list q-items", "data-testid": "quality-items" });
    function onToggle(item, passed, button) {
      button.disabled = true;
      window.RafiqApi.call("PUT", "/v1/calls/" + encodeURIComponent(callId) + "/quality/items/" + encodeURIComponent(item.item_id),
                           { passed: passed })
        .then(function (fresh) {
          changed(fresh);
          // The section was drawn anew: keep the keyboard where it was.
          var again = D.$$('[data-testid="quality-toggle"]', section).filter(function (b) {
            return b.getAttribute("data-item-id") === item.item_id;
          })[0];
          if (again) again.focus();
        })
        .catch(function (err) { button.disabled = false; failed(err); });
    }
    (quality.items || []).forEach(function (item) { list.appendChild(itemRow(item, onToggle)); });
    box.appendChild(list);
  }

  window.RafiqCallQuality = { render: render };
})();
