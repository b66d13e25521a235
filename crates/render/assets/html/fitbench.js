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
  var VERDICT_COLOR = { WORSE: "#d62728", inconclusive: "#e6a700", same: "#1f77b4", better: "#2ca02c", accepted: "#9467bd", advisory: "#9467bd" };
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
  // Tick labels of a log axis: plain numbers between 0.01 and 10⁵, 1e-4 style otherwise.
  function logTicks(u, splits) {
    return splits.map(function (v) {
      if (v === null || v === undefined) return "";
      var a = Math.abs(v);
      if (a >= 0.01 && a < 1e5) return String(Number(v.toPrecision(3)));
      return v.toExponential(0).replace("e+", "e");
    });
  }
  function positive(v) { return v !== null && v !== undefined && v > 0 ? v : null; }

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

  // Makes a table's columns sort on click: by each cell's data-sort number where it has one,
  // else by its text; cells without a value sort last.
  function makeSortable(table) {
    var header = table.tHead && table.tHead.rows[0];
    var body = table.tBodies[0];
    if (!header || !body) return;
    var state = { col: -1, asc: true };
    function key(row, ci) {
      var cell = row.cells[ci];
      if (!cell) return null;
      var d = cell.getAttribute("data-sort");
      if (d !== null && d !== "") { var v = Number(d); return isFinite(v) ? v : null; }
      var t = cell.textContent;
      return t === "" || t === "–" ? null : t;
    }
    Array.prototype.forEach.call(header.cells, function (th, ci) {
      th.title = "click to sort";
      th.addEventListener("click", function () {
        state.asc = state.col === ci ? !state.asc : true;
        state.col = ci;
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a, ci), y = key(b, ci);
          if (x === null && y === null) return 0;
          if (x === null) return 1;
          if (y === null) return -1;
          var o = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return state.asc ? o : -o;
        });
        rows.forEach(function (r) { body.appendChild(r); });
        Array.prototype.forEach.call(header.cells, function (h, i) {
          h.className = i === state.col ? (state.asc ? "asc" : "desc") : "";
        });
      });
    });
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

  function datasetSection(sec, ds) {
    var hasFlops = ds.series.some(function (s) { return !!s.flops_per_step; });
    // The chart opens with the leading trainers shown (the verdict's best and tied).
    var hidden = {};
    if (ds.leaders && ds.leaders.length && ds.leaders.length < ds.series.length) {
      ds.series.forEach(function (s) { if (ds.leaders.indexOf(s.trainer) < 0) hidden[s.trainer] = true; });
    }
    var state = { axis: "time", loss: "train", hidden: hidden };
    var controls = sec.querySelector(".controls");
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
    var legend = sec.querySelector(".legend");
    var target = sec.querySelector(".chart");
    var readout = sec.querySelector(".readout");
    readout.textContent = "hover over the chart for values";
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
          { label: AXES[state.axis].label, values: logTicks },
          { label: (state.loss === "both" ? "MSE" : state.loss + " MSE") + " [standardised]", size: 70, values: logTicks }
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
  }

  function profileCharts() {
    Array.prototype.forEach.call(document.querySelectorAll("div.profile"), function (box) {
      var p = DATA.profiles[Number(box.getAttribute("data-index"))];
      var chartBox = box.querySelector(".chart");
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
        width: chartWidth(chartBox), height: 300, series: series,
        scales: { x: { time: false }, y: { range: [0, 1.02] } },
        axes: [{ label: "log₂ τ (time within τ × the fastest)" }, { label: "fraction of datasets" }]
      }, uPlot.join(tables), chartBox);
    });
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
    var tbody = el("tbody");
    DATA.trainers.forEach(function (t) {
      tbody.appendChild(el("tr", {}, [
        el("td", {}, [el("span", { cls: "swatch", style: "background:" + color(t.color) }), t.label]),
        el("td", { text: JSON.stringify(t.config) })
      ]));
    });
    var table = el("table", { cls: "sortable" }, [el("thead", {}, [el("tr", {}, [el("th", { text: "trainer" }), el("th", { text: "options" })])]), tbody]);
    target.appendChild(table);
    target.appendChild(el("h3", { text: "Configuration" }));
    target.appendChild(el("pre", { text: JSON.stringify(DATA.config, null, 2) }));
  }

  function reportPage() {
    Array.prototype.forEach.call(document.querySelectorAll("section.dataset"), function (sec) {
      datasetSection(sec, DATA.datasets[Number(sec.getAttribute("data-index"))]);
    });
    profileCharts();
    environmentSection(document.getElementById("environment"));
  }

  // ---- check page -------------------------------------------------------------------------

  function checkPage() {
    Array.prototype.forEach.call(document.querySelectorAll("section.pair"), function (box) {
      var p = DATA.pairs[Number(box.getAttribute("data-index"))];
      var chartBox = box.querySelector(".chart");
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
          width: Math.min(700, chartWidth(chartBox)), height: 240, series: series,
          scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
          axes: [{ label: "iteration", values: logTicks }, { label: "train MSE", size: 70, values: logTicks }]
        }, uPlot.join(tables), chartBox);
      } else {
        chartBox.appendChild(el("p", { text: "No curve in either report." }));
      }
    });
    var env = document.getElementById("environment");
    env.appendChild(el("h2", { text: "Environments" }));
    env.appendChild(el("h3", { text: "Baseline" }));
    env.appendChild(keyValues(DATA.environments[0]));
    env.appendChild(el("h3", { text: "Current" }));
    env.appendChild(keyValues(DATA.environments[1]));
  }

  // fitbench ab: every pair's ratio (current / baseline seconds per step) in schedule order,
  // with 1 and the threshold band.
  function abPage() {
    var hi = 1 + DATA.threshold, lo = 1 / hi;
    Array.prototype.forEach.call(document.querySelectorAll("section.pair"), function (box) {
      var c = DATA.cells[Number(box.getAttribute("data-index"))];
      var chartBox = box.querySelector(".chart");
      var xs = [], ys = [];
      c.ratios.forEach(function (r, i) { if (positive(r) !== null) { xs.push(i + 1); ys.push(r); } });
      if (!xs.length) { chartBox.appendChild(el("p", { text: "No timed pair." })); return; }
      var flat = function (v) { return xs.map(function () { return v; }); };
      makeChart({
        width: Math.min(700, chartWidth(chartBox)), height: 200,
        series: [{ label: "pair" },
          { label: "ratio", stroke: VERDICT_COLOR[c.verdict] || "#9467bd", width: 0, points: { show: true, size: 7 } },
          { label: "1 + threshold", stroke: "#d62728", dash: [6, 4], width: 1, points: { show: false } },
          { label: "1", stroke: "#999", width: 1, points: { show: false } },
          { label: "1 / (1 + threshold)", stroke: "#2ca02c", dash: [6, 4], width: 1, points: { show: false } }],
        // Linear, around the data and the threshold band (a log axis would snap to decades).
        scales: { x: { time: false }, y: { range: function (u, mn, mx) {
          var a = Math.min(mn, lo), b = Math.max(mx, hi), pad = 0.08 * (b - a);
          return [a - pad, b + pad];
        } } },
        axes: [{ label: "pair (schedule order)" }, { label: "current / baseline", size: 70 }]
      }, [xs, ys, flat(hi), flat(1), flat(lo)], chartBox);
    });
    var env = document.getElementById("environment");
    env.appendChild(el("h2", { text: "Settings and binaries" }));
    env.appendChild(keyValues(DATA.settings));
    env.appendChild(el("h3", { text: "Baseline" }));
    env.appendChild(keyValues(DATA.sides[0]));
    env.appendChild(el("h3", { text: "Current" }));
    env.appendChild(keyValues(DATA.sides[1]));
  }

  try {
    if (DATA.kind === "check") checkPage(); else if (DATA.kind === "ab") abPage(); else reportPage();
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (t) {
      if (!t.getAttribute("data-sortable")) { t.setAttribute("data-sortable", "1"); makeSortable(t); }
    });
    finish();
  } catch (e) {
    document.body.setAttribute("data-rendered", "error");
    throw e;
  }
})();
