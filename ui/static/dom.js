/* Rafiq pages' DOM helpers: query by selector or test id, and build an element. */
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function byTest(id, root) { return $('[data-testid="' + id + '"]', root); }
  /* <tag attrs…>text</tag>; text goes in as text, never as HTML. */
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  window.RafiqDom = { $: $, $$: $$, byTest: byTest, el: el };
})();
