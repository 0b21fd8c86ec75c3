/* Rafiq agent panel: suggestions that arrive before the customer has finished.
 *
 * A suggestion may come while the customer is still speaking ("provisional": true); a later
 * one with "replaces": <id> takes its place, and a "suggestion.retracted" event withdraws it.
 * The replacing suggestion is drawn in the same card (same element, same place in the list):
 * only its text, sources and badge change, so nothing jumps or flickers. A replayed stream
 * (reconnect) brings the replaced suggestion again; it is recognised and left out.
 *
 * panel.js calls adopt() for a suggestion it has no card for, mark() after drawing a card, and
 * retract() for "suggestion.retracted".
 */
(function () {
  "use strict";

  var I = window.RafiqI18n;

  I.extend({
    fr: { "suggestion.provisional": "Provisoire", "suggestion.provisional_hint": "Le client parle encore : réponse probable",
          "suggestion.draft": "Réponse proposée (IA, d'après l'article)" },
    ar: { "suggestion.provisional": "مؤقت", "suggestion.provisional_hint": "العميل ما زال يتكلم: إجابة مرجّحة",
          "suggestion.draft": "رد مقترح (ذكاء اصطناعي، من المقال)" },
    en: { "suggestion.provisional": "Provisional", "suggestion.provisional_hint": "The customer is still speaking: a likely answer",
          "suggestion.draft": "Suggested reply (AI, from the article)" }
  });

  var gone = new Map(); // call_id -> Set of suggestion ids replaced or retracted

  function goneOf(callId) {
    var key = String(callId || "");
    if (!gone.has(key)) gone.set(key, new Set());
    return gone.get(key);
  }

  /* The card an incoming suggestion is drawn in: the one of the suggestion it replaces, moved
   * under the new id. Returns {skip: true} for a suggestion already replaced (a replay), the
   * card to reuse, or null for a new card. */
  function adopt(cards, ev) {
    var ids = goneOf(ev.call_id);
    if (ids.has(String(ev.suggestion_id))) return { skip: true };
    if (ev.replaces === undefined || ev.replaces === null) return null;
    var old = String(ev.replaces);
    ids.add(old);
    var card = cards.get(old);
    if (!card) return null;
    cards.delete(old);
    cards.set(String(ev.suggestion_id), card);
    card.data = ev;
    card.el.setAttribute("data-replaced", old);
    return card;
  }

  function mark(card) {
    var el = card.el;
    var provisional = card.data.provisional === true;
    el.setAttribute("data-provisional", provisional ? "true" : "false");
    el.classList.toggle("is-provisional", provisional);
    var badge = el.querySelector(".sugg__provisional");
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "tag sugg__provisional";
      badge.setAttribute("data-testid", "suggestion-provisional");
      badge.setAttribute("data-i18n", "suggestion.provisional");
      badge.setAttribute("data-i18n-title", "suggestion.provisional_hint");
      var head = el.querySelector(".sugg__head");
      head.insertBefore(badge, head.querySelector(".sugg__state"));
    }
    badge.textContent = I.t("suggestion.provisional");
    badge.title = I.t("suggestion.provisional_hint");
    badge.hidden = !provisional;
  }

  /* A provisional suggestion the final words did not bear out: its card goes. */
  function retract(cards, ev) {
    var id = String(ev.suggestion_id);
    goneOf(ev.call_id).add(id);
    var card = cards.get(id);
    if (!card) return false;
    cards.delete(id);
    card.el.remove();
    return true;
  }

  /* An LLM's reply drafted from the card's article(s) (RAFIQ_LLM_URL): shown above the article's
   * text, which stays. Only a ready draft is shown; a refused or late one leaves the card as is. */
  function draft(cards, ev) {
    var card = cards.get(String(ev.suggestion_id));
    if (!card || ev.status !== "ready" || !ev.text) return;
    var box = card.el.querySelector(".sugg__draft");
    if (!box) {
      box = document.createElement("div");
      box.className = "sugg__draft";
      box.setAttribute("data-testid", "suggestion-draft");
      var label = document.createElement("span");
      label.className = "sugg__draft-label";
      label.setAttribute("data-i18n", "suggestion.draft");
      var text = document.createElement("p");
      text.className = "sugg__draft-text";
      text.dir = "auto";
      box.appendChild(label);
      box.appendChild(text);
      var body = card.el.querySelector(".sugg__body");
      body.insertBefore(box, body.querySelector(".sugg__text"));
    }
    box.querySelector(".sugg__draft-label").textContent = I.t("suggestion.draft");
    var p = box.querySelector(".sugg__draft-text");
    p.textContent = ev.text;
    if (ev.language) p.setAttribute("lang", String(ev.language));
  }

  window.RafiqPanelSuggestions = { adopt: adopt, mark: mark, retract: retract, draft: draft };
})();
