/* Salvo report.html charts: uPlot over the series embedded in #salvo-chart-data (no network). */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("salvo-chart-data").textContent);
  var charts = [];
  var syncing = false;
  var palette = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];

  function colour(n) {
    return n < palette.length ? palette[n] : "hsl(" + ((n * 47) % 360) + ", 65%, 45%)";
  }

  function width(el) {
    return Math.max(320, el.clientWidth || 900);
  }

  function utcDate(ts) {
    return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
  }

  /* Zooming one chart zooms them all: the time axis is shared. */
  function syncScale(u, key) {
    if (key !== "x" || syncing) return;
    syncing = true;
    var min = u.scales.x.min, max = u.scales.x.max;
    charts.forEach(function (other) {
      if (other !== u) other.setScale("x", {min: min, max: max});
    });
    syncing = false;
  }

  function noData(el, message) {
    var p = document.createElement("p");
    p.className = "no-data";
    p.textContent = message;
    el.appendChild(p);
  }

  function draw(id, series, columns, axes, scales) {
    var el = document.getElementById(id);
    var opts = {
      width: width(el),
      height: 260,
      tzDate: utcDate,
      cursor: {sync: {key: "salvo"}, drag: {x: true, y: false}},
      scales: Object.assign({x: {time: true}}, scales || {}),
      series: [{label: "time (UTC)"}].concat(series),
      axes: [{}].concat(axes),
      hooks: {setScale: [syncScale]},
    };
    var chart = new uPlot(opts, columns, el);
    chart.root.setAttribute("data-chart", id);
    charts.push(chart);
    return chart;
  }

  function pick(points, key) {
    return points.map(function (p) {
      var v = p[key];
      return v === undefined ? null : v;
    });
  }

  var points = data.series || [];
  if (!points.length) {
    ["chart-latency", "chart-throughput", "chart-executors", "chart-regions"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) noData(el, "no request was recorded: nothing to draw");
    });
  } else {
    var t = pick(points, "t");
    var ms = function (u, vals) {
      return vals.map(function (v) { return v == null ? "" : v >= 1000 ? (v / 1000) + " s" : v + " ms"; });
    };
    draw("chart-latency", [
      {label: "p50", points: {show: false}, stroke: colour(1), width: 1.5, value: function (u, v) { return v == null ? "-" : v.toFixed(1) + " ms"; }},
      {label: "p95", points: {show: false}, stroke: colour(0), width: 1.5, value: function (u, v) { return v == null ? "-" : v.toFixed(1) + " ms"; }},
      {label: "p99", points: {show: false}, stroke: colour(3), width: 1.5, value: function (u, v) { return v == null ? "-" : v.toFixed(1) + " ms"; }},
      {label: "max", stroke: colour(2), paths: function () { return null; },
       points: {show: true, size: 5, fill: colour(2)},
       value: function (u, v) { return v == null ? "-" : v.toFixed(1) + " ms"; }},
    ], [t, pick(points, "p50"), pick(points, "p95"), pick(points, "p99"), pick(points, "max")],
    [{label: "latency", values: ms, size: 70}], {y: {distr: 3, log: 10}});

    draw("chart-throughput", [
      {label: "requests/s", stroke: colour(0), fill: "rgba(37,99,235,0.08)", width: 1.5, scale: "rps"},
      {label: "failures/s", stroke: colour(2), width: 1.5, scale: "err"},
    ], [t, pick(points, "requests"), pick(points, "failures")],
    [{label: "requests/s", scale: "rps", size: 60},
     {label: "failures/s", scale: "err", side: 1, grid: {show: false}, stroke: colour(2), size: 60}],
    {rps: {range: function (u, min, max) { return [0, Math.max(1, max * 1.05)]; }},
     err: {range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; }}});

    /* One line per named series (executor or region), aligned on the merged seconds (null where it sent nothing). */
    function perSeries(id, named, empty) {
      var names = Object.keys(named || {});
      if (!names.length) {
        noData(document.getElementById(id), empty);
        return;
      }
      var columns = [t];
      var series = names.map(function (name, n) {
        var own = named[name], at = {};
        own.t.forEach(function (second, i) { at[second] = own.requests[i]; });
        columns.push(t.map(function (second) { return second in at ? at[second] : null; }));
        return {label: name, stroke: colour(n), width: 1.2, points: {show: false}};
      });
      draw(id, series, columns, [{label: "requests/s", size: 60}],
           {y: {range: function (u, min, max) { return [0, Math.max(1, max * 1.05)]; }}});
    }

    perSeries("chart-executors", data.executors, "no executor reported a per-second series");
    if (Object.keys(data.executors || {}).length && data.executors_hidden > 0) {
      noData(document.getElementById("chart-executors"),
             data.executors_hidden + " more executor(s) not drawn: see the table per executor");
    }
    if (document.getElementById("chart-regions")) {
      perSeries("chart-regions", data.regions, "no region reported a per-second series");
    }
  }

  /* Open model: the arrivals each second was planned for, those sent (achieved) and those dropped. */
  var arrivals = data.arrivals;
  if (document.getElementById("chart-arrivals") && arrivals && arrivals.t.length) {
    draw("chart-arrivals", [
      {label: "planned/s", stroke: colour(1), width: 1.5, dash: [6, 4], points: {show: false}},
      {label: "sent/s", stroke: colour(0), fill: "rgba(37,99,235,0.08)", width: 1.5, points: {show: false}},
      {label: "dropped/s", stroke: colour(2), width: 1.5, points: {show: false}},
    ], [arrivals.t, arrivals.planned, arrivals.sent, arrivals.dropped], [{label: "arrivals/s", size: 60}],
    {y: {range: function (u, min, max) { return [0, Math.max(1, max * 1.05)]; }}});
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (chart) {
      chart.setSize({width: width(chart.root.parentNode), height: 260});
    });
  });
  window.salvoCharts = charts;  /* for the curious (and the browser test) */
  document.body.setAttribute("data-charts-drawn", String(charts.length));
})();
