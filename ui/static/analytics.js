/* Rafiq supervisors' dashboard (/supervisor/analytics): every chart of GET /v1/analytics/charts,
 * drawn with the vendored Chart.js, with its numbers as a table and its JSON and CSV links.
 * Filters (dates, team, campaign) live in the URL's query, so a view can be shared. */
(function () {
  "use strict";

  var I = window.RafiqI18n;
  var t = I.t;
  var D = window.RafiqDom;
  var $ = D.$, $$ = D.$$, byTest = D.byTest, el = D.el;

  var COLORS = ["#1f5fbf", "#0e7c6b", "#b54708", "#5b47b8", "#d92d20", "#12805c", "#98a2b3", "#c11574"];
  var SENTIMENT_COLORS = { negative: "#d92d20", neutral: "#98a2b3", positive: "#12805c" };

  // How each chart is drawn: kind, the column on the axis (label), the columns drawn (series).
  var SPECS = [
    { name: "calls_per_day", type: "bar", label: "day", series: ["calls"] },
    { name: "calls_per_hour", type: "bar", label: "hour", series: ["calls"] },
    { name: "handle_time", type: "line", label: "day", series: ["avg_handle_s"] },
    { name: "talk_listen", type: "bar", label: "agent", series: ["talk_listen_ratio"] },
    { name: "silence_share", type: "line", label: "day", series: ["silence_share", "overtalk_share"] },
    { name: "language_mix", type: "doughnut", label: "language", series: ["calls"] },
    { name: "sentiment", type: "doughnut", label: "sentiment", series: ["calls"], sentiment: true },
    { name: "sentiment_trend", type: "bar", label: "day", series: ["negative", "neutral", "positive"], stacked: true },
    { name: "top_articles", type: "bar", label: "title", series: ["suggested", "used"], horizontal: true },
    { name: "acceptance_by_agent", type: "bar", label: "agent", series: ["used", "edited", "dismissed", "no_action"], stacked: true },
    { name: "acceptance_by_article", type: "bar", label: "title", series: ["used", "edited", "dismissed", "no_action"], stacked: true, horizontal: true },
    { name: "knowledge_gaps", type: "bar", label: "day", series: ["opened"] },
    { name: "alerts_per_rule", type: "bar", label: "rule_id", series: ["alerts", "acknowledged"] },
    { name: "quality_by_agent", type: "bar", label: "agent", series: ["mean_score"], pending: "analytics.quality_pending" },
    { name: "compute", type: "bar", label: "day", series: ["asr_encoder_s", "asr_decoder_s"], stacked: true }
  ];
  var TOTALS = ["calls", "ended", "avg_handle_s", "suggestions_shown", "suggestions_used", "alerts", "asr_s", "energy_wh"];

  var state = { charts: {}, data: {}, totals: null };
  var toast = byTest("error");

  function showError(text) {
    $(".toast__text", toast).textContent = text;
    toast.hidden = false;
  }

  function isoDay(date) { return date.toISOString().slice(0, 10); }

  /* The filters: from the URL, else the last 30 days. */
  function readFilters() {
    var q = new URLSearchParams(location.search);
    var to = q.get("to") || isoDay(new Date());
    var from = q.get("from") || isoDay(new Date(Date.parse(to) - 29 * 86400000));
    return { from: from, to: to, team: q.get("team") || "", campaign: q.get("campaign") || "" };
  }

  function query(filters, format) {
    var q = new URLSearchParams();
    ["from", "to", "team", "campaign"].forEach(function (k) { if (filters[k]) q.set(k, filters[k]); });
    if (format) q.set("format", format);
    return q.toString();
  }

  function chartUrl(name, filters, format) {
    return "/v1/analytics/charts/" + encodeURIComponent(name) + "?" + query(filters, format);
  }

  /* ---------------------------------------------------------------- layout */

  function buildCards() {
    var grid = byTest("charts");
    SPECS.forEach(function (spec) {
      var card = el("article", { "class": "card a-chart", "data-testid": "chart", "data-chart": spec.name,
                                 "aria-labelledby": "chart-title-" + spec.name });
      var head = el("div", { "class": "a-chart__head" });
      head.appendChild(el("h2", { id: "chart-title-" + spec.name, "data-i18n": "chart." + spec.name }, t("chart." + spec.name)));
      var links = el("div", { "class": "a-chart__links" });
      links.appendChild(el("a", { "data-testid": "chart-json", href: "#" }, "JSON"));
      links.appendChild(el("a", { "data-testid": "chart-csv", href: "#" }, "CSV"));
      head.appendChild(links);
      card.appendChild(head);
      var box = el("div", { "class": "a-chart__canvas" });
      box.appendChild(el("canvas", { role: "img", "data-testid": "chart-canvas", "aria-label": t("chart." + spec.name) }));
      card.appendChild(box);
      card.appendChild(el("p", { "class": "a-chart__empty", "data-testid": "chart-empty", hidden: "" }));
      var details = el("details", { "data-testid": "chart-numbers" });
      details.appendChild(el("summary", { "data-i18n": "analytics.numbers" }, t("analytics.numbers")));
      details.appendChild(el("table", { "class": "a-table", "data-testid": "chart-table" }));
      card.appendChild(details);
      grid.appendChild(card);
    });
  }

  function card(name) { return $('[data-chart="' + name + '"]'); }

  function format(value) {
    if (value === null || value === undefined) return "";
    return String(value);
  }

  function renderTable(name) {
    var data = state.data[name];
    var table = $('[data-testid="chart-table"]', card(name));
    table.textContent = "";
    if (!data) return;
    var head = el("tr");
    data.columns.forEach(function (c) { head.appendChild(el("th", { scope: "col" }, t("col." + c) === "col." + c ? c : t("col." + c))); });
    var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
    var body = el("tbody");
    data.rows.forEach(function (row) {
      var tr = el("tr", { "data-testid": "chart-row" });
      data.columns.forEach(function (c) {
        tr.appendChild(el("td", { "data-column": c, "data-numeric": typeof row[c] === "number" ? "true" : "false", dir: "auto" },
                          format(row[c])));
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
  }

  function axisLabel(spec, row) {
    var value = row[spec.label];
    if (spec.label === "title") return value || row.article_id || "?";
    if (spec.label === "sentiment") return t("col." + value);
    if (spec.label === "rule_id") return row.title || value || "?";
    if (spec.label === "language") return value ? value.toUpperCase() : "—";
    return format(value);
  }

  function renderChart(spec) {
    var data = state.data[spec.name];
    var box = card(spec.name);
    var empty = $('[data-testid="chart-empty"]', box);
    if (state.charts[spec.name]) { state.charts[spec.name].destroy(); delete state.charts[spec.name]; }
    var rows = data ? data.rows : [];
    box.setAttribute("data-rows", String(rows.length));
    // Rows whose drawn values are all zero (no call in an hour, no label yet) draw nothing useful.
    var anything = rows.some(function (row) {
      return spec.series.some(function (c) { return row[c] !== null && row[c] !== undefined && row[c] !== 0; });
    });
    $(".a-chart__canvas", box).hidden = !anything;
    if (!anything) {
      empty.textContent = t(spec.pending || "analytics.empty");
      empty.hidden = false;
      return;
    }
    empty.hidden = true;
    if (!window.Chart) return;  // the library failed to load: the numbers table still shows them
    var labels = rows.map(function (row) { return axisLabel(spec, row); });
    var datasets = spec.series.map(function (column, i) {
      var colors = spec.type === "doughnut"
        ? rows.map(function (row, j) { return spec.sentiment ? SENTIMENT_COLORS[row.sentiment] : COLORS[j % COLORS.length]; })
        : (SENTIMENT_COLORS[column] || COLORS[i % COLORS.length]);
      return { label: t("col." + column), data: rows.map(function (row) { return row[column]; }),
               backgroundColor: colors, borderColor: colors, fill: false, tension: 0.2 };
    });
    var rtl = I.isRtl();
    var options = {
      responsive: true, maintainAspectRatio: false, animation: false, locale: I.getLang(),
      indexAxis: spec.horizontal ? "y" : "x",
      plugins: { legend: { display: spec.series.length > 1 || spec.type === "doughnut", rtl: rtl,
                           textDirection: rtl ? "rtl" : "ltr" },
                 tooltip: { rtl: rtl, textDirection: rtl ? "rtl" : "ltr" } }
    };
    if (spec.type !== "doughnut") {
      options.scales = { x: { stacked: !!spec.stacked, reverse: rtl && !spec.horizontal },
                         y: { stacked: !!spec.stacked, beginAtZero: true, position: rtl ? "right" : "left" } };
    }
    var canvas = $("canvas", box);
    canvas.setAttribute("aria-label", t("chart." + spec.name) + " — " + labels.join(", "));
    state.charts[spec.name] = new window.Chart(canvas, { type: spec.type, data: { labels: labels, datasets: datasets },
                                                         options: options });
  }

  function renderTotals() {
    var box = byTest("totals");
    box.textContent = "";
    var row = state.totals;
    if (!row) return;
    TOTALS.forEach(function (key) {
      var item = el("div", { "class": "card a-total", "data-testid": "total", "data-total": key });
      item.appendChild(el("div", { "class": "a-total__value", "data-testid": "total-value" }, format(row[key])));
      item.appendChild(el("div", { "class": "a-total__label", "data-i18n": "total." + key }, t("total." + key)));
      box.appendChild(item);
    });
  }

  /* ---------------------------------------------------------------- data */

  function fetchChart(name, filters) {
    return fetch(chartUrl(name, filters), { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) {
        if (!r.ok) {
          return r.json().catch(function () { return {}; }).then(function (body) {
            var detail = body && body.detail;
            throw new Error((detail && detail.message) || ("HTTP " + r.status));
          });
        }
        return r.json();
      });
  }

  function load() {
    var filters = readFilters();
    var form = byTest("analytics-filters");
    ["from", "to", "team", "campaign"].forEach(function (k) { form.elements[k].value = filters[k]; });
    SPECS.forEach(function (spec) {
      var links = card(spec.name);
      $('[data-testid="chart-json"]', links).setAttribute("href", chartUrl(spec.name, filters));
      $('[data-testid="chart-csv"]', links).setAttribute("href", chartUrl(spec.name, filters, "csv"));
    });
    document.body.setAttribute("data-ready", "loading");
    var names = ["totals"].concat(SPECS.map(function (s) { return s.name; }));
    return Promise.all(names.map(function (name) {
      return fetchChart(name, filters).then(function (data) { state.data[name] = data; }, function (err) {
        state.data[name] = null;
        showError(t("analytics.failed", { chart: t("chart." + name) }) + " — " + err.message);
      });
    })).then(function () {
      state.totals = state.data.totals ? state.data.totals.rows[0] : null;
      renderAll();
      document.body.setAttribute("data-ready", "true");
    });
  }

  function renderAll() {
    renderTotals();
    SPECS.forEach(function (spec) { renderTable(spec.name); renderChart(spec); });
  }

  function apply(event) {
    event.preventDefault();
    var form = byTest("analytics-filters");
    var filters = {};
    ["from", "to", "team", "campaign"].forEach(function (k) { filters[k] = form.elements[k].value.trim(); });
    history.replaceState(null, "", location.pathname + "?" + query(filters));
    toast.hidden = true;
    load();
  }

  function init() {
    I.applyI18n(document);
    I.bindLangButtons(document);
    I.onChange(function () { if (document.body.getAttribute("data-ready") === "true") renderAll(); });
    $(".toast__close", toast).addEventListener("click", function () { toast.hidden = true; });
    buildCards();
    byTest("analytics-filters").addEventListener("submit", apply);
    window.RafiqSession.ready.then(function (me) {
      // A supervisor with a team sees that team only: the field shows it and cannot change it.
      if (me.team) {
        var team = byTest("analytics-filters").elements.team;
        team.value = me.team;
        team.readOnly = true;
        var q = new URLSearchParams(location.search);
        if (!q.get("team")) { q.set("team", me.team); history.replaceState(null, "", location.pathname + "?" + q.toString()); }
      }
      return load();
    }).catch(function () { document.body.setAttribute("data-ready", "error"); });
  }

  window.__rafiqAnalytics = { state: state };
  init();
})();
