// fitbench's interactive report and check pages. Reads the JSON embedded in the page
// (#fitbench-data), draws every chart with uPlot, and sets data-rendered="true" on <body> once
// every chart has been drawn (scripts/screenshot-report.sh waits for that marker).
// No network access, no dependencies beyond the uPlot build inlined before this script.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("fitbench-data").textContent);
  // Tableau 10, as in the static plots.
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var VERDICT_COLOR = { WORSE: "#d62728", inconclusive: "#e6a700", same: "#7f7f7f", better: "#2ca02c" };
  var pending = 0;
  var started = false;

  function color(i) { return PALETTE[i % PALETTE.length]; }
  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "cls") e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v !== "number") return String(v);
    if (!isFinite(v)) return String(v);
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 0.01 && a < 1e5) return String(Number(v.toPrecision(5)));
    return v.toExponential(3);
  }
  function positive(v) { return v !== null && v !== undefined && v > 0 ? v : null; }
  function slug(s) { return s.replace(/[^A-Za-z0-9_-]+/g, "-"); }

  // Chart bookkeeping: the page is "rendered" once every chart has fired uPlot's ready hook.
  function chartStarted() { pending += 1; }
  function chartReady() {
    pending -= 1;
    if (pending === 0 && started) document.body.setAttribute("data-rendered", "true");
  }
  function finish() {
    started = true;
    if (pending === 0) document.body.setAttribute("data-rendered", "true");
  }
  function makeChart(opts, data, target) {
    chartStarted();
    opts.hooks = opts.hooks || {};
    opts.hooks.ready = (opts.hooks.ready || []).concat([function () { chartReady(); }]);
    return new uPlot(opts, data, target);
  }
  function chartWidth(target) {
    return Math.max(360, Math.min(1100, (target.clientWidth || 900) - 10));
  }

  // A table whose columns sort on click (numbers numerically, missing values last).
  function sortableTable(columns, rows, rowClass) {
    var table = el("table", { cls: "sortable" });
    var thead = el("thead");
    var tbody = el("tbody");
    var state = { col: -1, asc: true };
    var header = el("tr");
    columns.forEach(function (c, ci) {
      var th = el("th", { text: c.label, title: "click to sort" });
      th.addEventListener("click", function () {
        state.asc = state.col === ci ? !state.asc : true;
        state.col = ci;
        draw();
      });
      header.appendChild(th);
    });
    thead.appendChild(header);
    table.appendChild(thead);
    table.appendChild(tbody);
    function key(r, c) {
      var v = c.sort ? c.sort(r) : c.value(r);
      return v === null || v === undefined || (typeof v === "number" && !isFinite(v)) ? null : v;
    }
    function draw() {
      var sorted = rows.slice();
      if (state.col >= 0) {
        var c = columns[state.col];
        sorted.sort(function (a, b) {
          var x = key(a, c), y = key(b, c);
          if (x === null && y === null) return 0;
          if (x === null) return 1;
          if (y === null) return -1;
          var o = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return state.asc ? o : -o;
        });
      }
      tbody.textContent = "";
      sorted.forEach(function (r) {
        var tr = el("tr", { cls: rowClass ? rowClass(r) : "" });
        columns.forEach(function (c) {
          var v = c.value(r);
          tr.appendChild(el("td", { text: c.raw ? String(v === null || v === undefined ? "" : v) : fmt(v) }));
        });
        tbody.appendChild(tr);
      });
      Array.prototype.forEach.call(header.children, function (th, i) {
        th.className = i === state.col ? (state.asc ? "asc" : "desc") : "";
      });
    }
    draw();
    return table;
  }

  // ---- report page ------------------------------------------------------------------------

  var AXES = {
    time: { label: "training time [s] (only step() is timed)" },
    iter: { label: "iteration [steps]" },
    flops: { label: "model flops" }
  };

  // The uPlot data and series of one dataset for an axis and a loss selection.
  function datasetChartData(ds, axis, losses, hidden) {
    var tables = [];
    var series = [{ label: AXES[axis].label }];
    var bands = [];
    var owners = []; // trainer of each y series (for the legend and the readout)
    var col = 1;
    ds.series.forEach(function (s) {
      var b = axis === "time" ? s.time : s.iter;
      var scale = 1;
      if (axis === "flops") {
        if (!s.flops_per_step) return;
        scale = s.flops_per_step;
      }
      var xs = [], keep = [];
      b.x.forEach(function (x, i) { if (x * scale > 0) { xs.push(x * scale); keep.push(i); } });
      if (!xs.length) return;
      var table = [xs];
      losses.forEach(function (loss, li) {
        var pts = b[loss];
        var lo = keep.map(function (i) { return positive(pts[i][0]); });
        var med = keep.map(function (i) { return positive(pts[i][1]); });
        var hi = keep.map(function (i) { return positive(pts[i][2]); });
        table.push(lo, med, hi);
        var c = color(s.color);
        var dash = li === 1 || (losses.length === 1 && loss === "test") ? [6, 4] : undefined;
        var name = s.trainer + (losses.length > 1 ? " (" + loss + ")" : "");
        var show = !hidden[s.trainer];
        series.push({ label: name + " min", stroke: "transparent", width: 0, points: { show: false }, show: show });
        series.push({ label: name, stroke: c, width: 2, dash: dash, points: { show: false }, show: show });
        series.push({ label: name + " max", stroke: "transparent", width: 0, points: { show: false }, show: show });
        bands.push({ series: [col + 2, col], fill: alpha(c, li === 0 ? 0.16 : 0.08) });
        owners.push({ trainer: s.trainer, color: c, loss: loss, role: "min" },
          { trainer: s.trainer, color: c, loss: loss, role: "median" },
          { trainer: s.trainer, color: c, loss: loss, role: "max" });
        col += 3;
      });
      tables.push(table);
    });
    if (!tables.length) return null;
    var data = uPlot.join(tables);
    var xs = data[0];
    losses.forEach(function (loss, li) {
      var ref = loss === "train" ? ds.linear_train : ds.linear_test;
      if (ref && ref > 0) {
        data.push(xs.map(function () { return ref; }));
        series.push({ label: "linear reference (" + loss + ")", stroke: "#000", width: 1, dash: li === 0 ? [3, 3] : [1, 3], points: { show: false } });
        owners.push({ trainer: null, color: "#000", loss: loss, role: "reference" });
      }
    });
    return { data: data, series: series, bands: bands, owners: owners };
  }

  function datasetSection(ds, index) {
    var id = "ds-" + index + "-" + slug(ds.name);
    var hasFlops = ds.series.some(function (s) { return !!s.flops_per_step; });
    var state = { axis: "time", loss: "train", hidden: {} };
    var sec = el("section", { cls: "dataset", id: id, "data-dataset": ds.name });
    sec.appendChild(el("h3", { text: ds.name }));
    sec.appendChild(el("p", { cls: "meta", text: ds.source + " · n = " + ds.n + " (" + ds.n_train + " train, " + ds.n_test + " test) · d = " + ds.d }));
    var controls = el("div", { cls: "controls" });
    var axisSel = el("select", { "aria-label": "x axis" });
    [["time", "training time"], ["iter", "iterations"], ["flops", "model flops"]].forEach(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (o[0] === "flops" && !hasFlops) opt.disabled = true;
      axisSel.appendChild(opt);
    });
    var lossSel = el("select", { "aria-label": "loss" });
    [["train", "train MSE"], ["test", "test MSE"], ["both", "train and test"]].forEach(function (o) {
      lossSel.appendChild(el("option", { value: o[0], text: o[1] }));
    });
    var reset = el("button", { type: "button", text: "reset zoom" });
    controls.appendChild(el("label", {}, ["x: ", axisSel]));
    controls.appendChild(el("label", {}, ["loss: ", lossSel]));
    controls.appendChild(reset);
    sec.appendChild(controls);
    var legend = el("div", { cls: "legend" });
    sec.appendChild(legend);
    var target = el("div", { cls: "chart", "data-chart": ds.name });
    sec.appendChild(target);
    var readout = el("div", { cls: "readout", text: "hover over the chart for values" });
    sec.appendChild(readout);
    var chart = null, built = null;

    function legendEntries() {
      legend.textContent = "";
      ds.series.forEach(function (s) {
        var b = el("button", { type: "button", cls: "entry" + (state.hidden[s.trainer] ? " off" : ""), title: "click to hide or show" }, [
          el("span", { cls: "swatch", style: "background:" + color(s.color) }), s.trainer
        ]);
        b.addEventListener("click", function () {
          state.hidden[s.trainer] = !state.hidden[s.trainer];
          b.className = "entry" + (state.hidden[s.trainer] ? " off" : "");
          if (chart && built) {
            built.owners.forEach(function (o, i) {
              if (o.trainer === s.trainer) chart.setSeries(i + 1, { show: !state.hidden[s.trainer] });
            });
          }
        });
        legend.appendChild(b);
      });
    }

    function showReadout(u) {
      var i = u.cursor.idx;
      if (i === null || i === undefined || !built) return;
      var x = u.data[0][i];
      var parts = [AXES[state.axis].label.split(" [")[0] + " = " + fmt(x)];
      var byKey = {};
      built.owners.forEach(function (o, si) {
        if (!u.series[si + 1].show) return;
        var k = (o.trainer || "linear reference") + "|" + o.loss;
        byKey[k] = byKey[k] || { o: o };
        byKey[k][o.role] = u.data[si + 1][i];
      });
      Object.keys(byKey).forEach(function (k) {
        var e = byKey[k];
        var name = (e.o.trainer || "linear reference") + (state.loss === "both" ? " (" + e.o.loss + ")" : "");
        var v = e.o.role === "reference" ? fmt(e.reference) : fmt(e.median) + (e.min !== undefined ? " [" + fmt(e.min) + ", " + fmt(e.max) + "]" : "");
        parts.push(name + ": " + v);
      });
      readout.textContent = parts.join(" · ");
    }

    function build() {
      if (chart) { chart.destroy(); chart = null; }
      target.textContent = "";
      var losses = state.loss === "both" ? ["train", "test"] : [state.loss];
      built = datasetChartData(ds, state.axis, losses, state.hidden);
      if (!built) {
        target.appendChild(el("p", { cls: "warn", text: "No finite losses to draw for this selection (see the runs table for each run's status)." }));
        return;
      }
      var opts = {
        width: chartWidth(target),
        height: 420,
        series: built.series,
        bands: built.bands,
        legend: { show: false },
        scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
        axes: [
          { label: AXES[state.axis].label },
          { label: (state.loss === "both" ? "MSE" : state.loss + " MSE") + " [standardised]", size: 70 }
        ],
        cursor: { drag: { x: true, y: true, uni: 40 } },
        hooks: { setCursor: [showReadout] }
      };
      chart = makeChart(opts, built.data, target);
    }
    axisSel.addEventListener("change", function () { state.axis = axisSel.value; build(); });
    lossSel.addEventListener("change", function () { state.loss = lossSel.value; build(); });
    reset.addEventListener("click", build);
    legendEntries();
    build();
    return sec;
  }

  function profileCharts(target) {
    if (!DATA.profiles.length) {
      target.appendChild(el("p", { text: "Performance profiles need two or more datasets." }));
      return;
    }
    DATA.profiles.forEach(function (p) {
      var box = el("div", { cls: "profile", "data-profile": String(p.level) });
      box.appendChild(el("h3", { text: "relative suboptimality ≤ " + fmt(p.level) }));
      var chartBox = el("div", { cls: "chart" });
      box.appendChild(chartBox);
      target.appendChild(box);
      var tables = [], series = [{ label: "log₂ τ" }];
      p.series.forEach(function (s, i) {
        var pts = s[1].filter(function (q) { return isFinite(q[0]) && isFinite(q[1]); });
        if (!pts.length) return;
        tables.push([pts.map(function (q) { return q[0]; }), pts.map(function (q) { return q[1]; })]);
        var t = DATA.trainers.filter(function (tr) { return tr.label === s[0]; })[0];
        series.push({ label: s[0], stroke: color(t ? t.color : i), width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } });
      });
      if (!tables.length) {
        chartBox.appendChild(el("p", { text: "No trainer reached this level." }));
        return;
      }
      makeChart({
        width: chartWidth(target), height: 300, series: series,
        scales: { x: { time: false }, y: { range: [0, 1.02] } },
        axes: [{ label: "log₂ τ (time within τ × the fastest)" }, { label: "fraction of datasets" }]
      }, uPlot.join(tables), chartBox);
    });
  }

  function metricsTable(target) {
    target.appendChild(sortableTable([
      { label: "dataset", value: function (r) { return r.dataset; }, raw: true },
      { label: "trainer", value: function (r) { return r.trainer; }, raw: true },
      { label: "metric", value: function (r) { return r.metric; }, raw: true },
      { label: "unit", value: function (r) { return r.unit; }, raw: true },
      { label: "kind", value: function (r) { return r.kind; }, raw: true },
      { label: "median", value: function (r) { return r.value; }, sort: function (r) { return r.median; }, raw: true }
    ], DATA.metrics));
  }

  function runsTable(target) {
    var failed = DATA.runs.filter(function (r) { return r.status !== "ok"; }).length;
    target.appendChild(el("p", { text: DATA.runs.length + " runs, " + failed + " not ok (highlighted; their status and message are in the table)." }));
    target.appendChild(sortableTable([
      { label: "run", value: function (r) { return r.key; }, raw: true },
      { label: "status", value: function (r) { return r.status; }, raw: true },
      { label: "message", value: function (r) { return r.message || ""; }, raw: true },
      { label: "iterations", value: function (r) { return r.iterations; } },
      { label: "train s", value: function (r) { return r.train_s; } },
      { label: "best train MSE", value: function (r) { return r.best_train_mse; } },
      { label: "test MSE at best train", value: function (r) { return r.test_mse_at_best_train; } },
      { label: "final test MSE", value: function (r) { return r.final_test_mse; } }
    ], DATA.runs, function (r) { return r.status === "ok" ? "" : "failed"; }));
  }

  function keyValues(obj) {
    var dl = el("dl", { cls: "kv" });
    Object.keys(obj || {}).forEach(function (k) {
      var v = obj[k];
      dl.appendChild(el("dt", { text: k }));
      dl.appendChild(el("dd", { text: v !== null && typeof v === "object" ? JSON.stringify(v) : String(v) }));
    });
    return dl;
  }

  function environmentSection(target) {
    target.appendChild(el("h3", { text: "Environment" }));
    target.appendChild(keyValues(DATA.environment));
    if (DATA.merge) {
      target.appendChild(el("h3", { text: "Merge" }));
      target.appendChild(keyValues(DATA.merge));
    }
    target.appendChild(el("h3", { text: "Trainers and their options" }));
    target.appendChild(sortableTable([
      { label: "trainer", value: function (t) { return t.label; }, raw: true },
      { label: "options", value: function (t) { return JSON.stringify(t.config); }, raw: true }
    ], DATA.trainers));
    target.appendChild(el("h3", { text: "Configuration" }));
    target.appendChild(el("pre", { text: JSON.stringify(DATA.config, null, 2) }));
    target.appendChild(el("p", { cls: "meta", text: "Curves on this page keep each run's scheduled points, evenly thinned to at most " + DATA.cap + ", plus its last point; bands are thinned to " + DATA.cap + " points. report.json holds every point." }));
  }

  function reportPage() {
    var toc = document.getElementById("toc");
    var charts = document.getElementById("charts");
    DATA.datasets.forEach(function (ds, i) {
      var sec = datasetSection(ds, i);
      charts.appendChild(sec);
      toc.appendChild(el("a", { href: "#" + sec.id, text: ds.name }));
    });
    profileCharts(document.getElementById("profiles"));
    metricsTable(document.getElementById("metrics"));
    runsTable(document.getElementById("runs"));
    environmentSection(document.getElementById("environment"));
  }

  // ---- check page -------------------------------------------------------------------------

  function checkPage() {
    var c = DATA.counts;
    var tally = document.getElementById("tally");
    [["better", c[0]], ["same", c[1]], ["WORSE", c[2]], ["inconclusive", c[3]]].forEach(function (v) {
      tally.appendChild(el("span", { cls: "badge verdict-" + v[0], text: v[1] + " " + v[0] }));
    });
    var pairs = document.getElementById("pairs");
    DATA.pairs.forEach(function (p) {
      var box = el("section", { cls: "pair verdict-" + p.verdict, "data-dataset": p.dataset, "data-trainer": p.trainer });
      box.appendChild(el("h3", {}, [p.dataset + " / " + p.trainer + " — ", el("span", { cls: "badge verdict-" + p.verdict, text: p.verdict })]));
      var chartBox = el("div", { cls: "chart small" });
      box.appendChild(chartBox);
      var tables = [], series = [{ label: "iteration" }];
      [["baseline", p.baseline, "#999"], ["current", p.current, VERDICT_COLOR[p.verdict] || "#333"]].forEach(function (b) {
        var xs = [], ys = [];
        b[1].x.forEach(function (x, i) {
          var y = positive(b[1].train[i][1]);
          if (x > 0 && y !== null) { xs.push(x); ys.push(y); }
        });
        if (!xs.length) return;
        tables.push([xs, ys]);
        series.push({ label: b[0] + " median train MSE", stroke: b[2], width: 2, points: { show: false } });
      });
      if (tables.length) {
        makeChart({
          width: Math.min(700, chartWidth(pairs)), height: 240, series: series,
          scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
          axes: [{ label: "iteration" }, { label: "train MSE", size: 70 }]
        }, uPlot.join(tables), chartBox);
      } else {
        chartBox.appendChild(el("p", { text: "No curve in either report." }));
      }
      box.appendChild(sortableTable([
        { label: "metric", value: function (r) { return r.metric; }, raw: true },
        { label: "unit", value: function (r) { return r.unit; }, raw: true },
        { label: "baseline", value: function (r) { return r.baseline; }, raw: true },
        { label: "current", value: function (r) { return r.current; }, raw: true },
        { label: "ratio", value: function (r) { return r.ratio; } },
        { label: "verdict", value: function (r) { return r.verdict; }, raw: true }
      ], p.rows, function (r) { return "verdict-" + r.verdict; }));
      pairs.appendChild(box);
    });
    var notes = document.getElementById("notes");
    if (DATA.notes.length) {
      notes.appendChild(el("h2", { text: "Notes" }));
      var ul = el("ul");
      DATA.notes.forEach(function (n) { ul.appendChild(el("li", { text: n })); });
      notes.appendChild(ul);
    }
    var env = document.getElementById("environment");
    env.appendChild(el("h2", { text: "Environments" }));
    env.appendChild(el("h3", { text: "Baseline" }));
    env.appendChild(keyValues(DATA.environments[0]));
    env.appendChild(el("h3", { text: "Current" }));
    env.appendChild(keyValues(DATA.environments[1]));
  }

  try {
    if (DATA.kind === "check") checkPage(); else reportPage();
    finish();
  } catch (e) {
    document.body.setAttribute("data-rendered", "error");
    throw e;
  }
})();
