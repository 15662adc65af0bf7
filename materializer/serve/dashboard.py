"""The live dashboard page (``GET /dashboard``, ``/dashboard/{monitor}``): one self-contained HTML page.

The server embeds the monitor's current summary (``monitoring.summary``), so the page draws at once;
then the page listens to ``/monitors/{name}/stream`` and redraws whenever an event arrives. The charts
are SVG drawn by the page's own short script: no CDN, no downloaded library, readable offline. The
layout is a grid that reads on a laptop and on a wall monitor (type scales with the window's width).
Every number shown carries its exact value in ``data-value``, so tests and scrapers read what is drawn.
"""

from __future__ import annotations

import html
from typing import Any

import orjson

STYLE = """
:root { --fg:#17202a; --muted:#5d6d7e; --line:#d5dbdb; --bg:#fbfcfc; --card:#ffffff; --good:#1e8449;
        --bad:#c0392b; --warn:#b9770e; --accent:#1f618d; font-size: clamp(14px, 0.55vw + 9px, 28px); }
* { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
       background: var(--bg); line-height: 1.35; }
header { display: flex; flex-wrap: wrap; gap: .4rem 1.5rem; align-items: baseline; padding: .8rem 1.2rem;
         border-bottom: 1px solid var(--line); background: var(--card); }
header h1 { font-size: 1.35rem; margin: 0; }
header nav a { margin-right: .8rem; color: var(--accent); text-decoration: none; }
header nav a.current { font-weight: 700; text-decoration: underline; }
#live { font-size: .85rem; color: var(--muted); }
#live .dot { display: inline-block; width: .6rem; height: .6rem; border-radius: 50%; background: var(--muted);
             margin-right: .3rem; }
#live.on .dot { background: var(--good); } #live.off .dot { background: var(--bad); }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(30rem, 1fr)); gap: 1rem; padding: 1rem 1.2rem; }
section { background: var(--card); border: 1px solid var(--line); border-radius: .4rem; padding: .8rem 1rem; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 1rem; margin: 0 0 .5rem; } h2 small { color: var(--muted); font-weight: 400; }
.caveat { color: var(--muted); font-size: .9rem; margin: 0; }
.tiles { display: flex; flex-wrap: wrap; gap: .6rem; }
.tile { border: 1px solid var(--line); border-radius: .3rem; padding: .4rem .7rem; min-width: 7.5rem; }
.tile .label { font-size: .75rem; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
.tile .value { font-size: 1.45rem; font-variant-numeric: tabular-nums; font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: right; padding: .25rem .5rem; border-bottom: 1px solid var(--line); }
th:first-child, td:first-child { text-align: left; }
th { font-size: .8rem; color: var(--muted); font-weight: 600; }
.badge { padding: .05rem .4rem; border-radius: .8rem; font-size: .8rem; white-space: nowrap; }
.badge.yes { background: #fadbd8; color: var(--bad); } .badge.no { background: #eaeded; color: var(--muted); }
.badge.ok { background: #d5f5e3; color: var(--good); }
svg { width: 100%; height: auto; display: block; overflow: visible; }
svg text { fill: var(--muted); }
section { overflow-x: auto; } table { font-size: .92rem; }
.legend { display: flex; flex-wrap: wrap; gap: .2rem 1rem; font-size: .85rem; margin-top: .3rem; }
.legend i { display: inline-block; width: .9rem; height: .25rem; margin-right: .3rem; vertical-align: middle; }
.empty { color: var(--muted); font-style: italic; }
#error { display: none; color: var(--bad); padding: .3rem 1.2rem; }
"""

SCRIPT = r"""
const COLORS = ["#1f618d", "#ca6f1e", "#239b56", "#7d3c98", "#b03a2e", "#117a65", "#2e4053", "#9a7d0a"];
const state = {doc: JSON.parse(document.getElementById("initial").textContent), clock: null};
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
function fmt(v, metric) {
  if (v === null || v === undefined) return "–";
  if (metric === "n" || metric === "pending" || metric === "n_labelled" || metric === "n_invalid" || Number.isInteger(v) && Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  if (metric === "coverage") return (100 * v).toFixed(1) + "%";
  if (metric === "cost") return v.toLocaleString("en-US", {maximumFractionDigits: 0});
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(3);
}
function ago(seconds) {
  if (seconds === null || seconds === undefined) return "no events yet";
  const s = Math.max(0, seconds);
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return (s / 60).toFixed(0) + " min";
  if (s < 172800) return (s / 3600).toFixed(1) + " h";
  return (s / 86400).toFixed(1) + " d";
}
function when(iso) { return iso ? iso.replace("T", " ").slice(0, 19) + " UTC" : "–"; }
function tile(label, value, metric, attrs) {
  return `<div class="tile" ${attrs || ""}><div class="label">${esc(label)}</div>` +
         `<div class="value" data-metric="${metric}" data-value="${value === null || value === undefined ? "" : value}">${fmt(value, metric)}</div></div>`;
}
function chart(el, series, opts) {
  // series: [{name, color, points: [[iso, value], ...]}]; a null value breaks the line. Drawn at the
  // element's own width, so the text keeps its size on a laptop and on a wall monitor.
  const fs = parseFloat(getComputedStyle(document.documentElement).fontSize);
  const W = Math.max(280, el.clientWidth || 640), H = opts.height || Math.round(Math.min(W * 0.32, window.innerHeight * 0.45)), L = 4.2 * fs, R = 12, T = 10, B = 2 * fs;
  const all = series.flatMap(s => s.points.filter(p => p[1] !== null && p[1] !== undefined));
  if (!all.length) { el.innerHTML = `<p class="empty">no ${esc(opts.what || "data")} in this period yet</p>`; return; }
  const xs = all.map(p => Date.parse(p[0])), ys = all.map(p => p[1]);
  let x0 = Math.min(...xs), x1 = Math.max(...xs); if (x0 === x1) { x0 -= 3600e3; x1 += 3600e3; }
  let y0 = opts.min !== undefined ? opts.min : Math.min(...ys), y1 = opts.max !== undefined ? opts.max : Math.max(...ys);
  if (opts.max === undefined && y1 <= y0) y1 = y0 + 1;
  const px = t => L + (W - L - R) * (t - x0) / (x1 - x0), py = v => T + (H - T - B) * (1 - (v - y0) / (y1 - y0));
  let out = `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" style="font-size:${0.72 * fs}px" role="img" aria-label="${esc(opts.what || "chart")}" data-chart="${esc(opts.id || "")}">`;
  for (let i = 0; i <= 4; i++) {
    const v = y0 + (y1 - y0) * i / 4, y = py(v);
    out += `<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#eaeded"/>` +
           `<text x="${L - 6}" y="${y + 4}" text-anchor="end">${opts.percent ? (100 * v).toFixed(0) + "%" : fmt(v, opts.metric)}</text>`;
  }
  for (let i = 0; i <= 4; i++) {
    const t = x0 + (x1 - x0) * i / 4, d = new Date(t).toISOString();
    out += `<text x="${px(t)}" y="${H - 6}" text-anchor="${i === 0 ? "start" : i === 4 ? "end" : "middle"}">${d.slice(5, 10)} ${d.slice(11, 16)}</text>`;
  }
  if (opts.threshold !== undefined) out += `<line x1="${L}" x2="${W - R}" y1="${py(opts.threshold)}" y2="${py(opts.threshold)}" stroke="#c0392b" stroke-dasharray="4 3"/>`;
  series.forEach((s, k) => {
    let d = "", pen = false;
    s.points.forEach(p => {
      if (p[1] === null || p[1] === undefined) { pen = false; return; }
      d += (pen ? "L" : "M") + px(Date.parse(p[0])).toFixed(1) + "," + py(p[1]).toFixed(1); pen = true;
    });
    out += `<path d="${d}" fill="none" stroke="${s.color || COLORS[k % COLORS.length]}" stroke-width="2" data-series="${esc(s.name)}" data-points="${s.points.length}"/>`;
  });
  out += "</svg><div class='legend'>" + series.map((s, k) => `<span><i style="background:${s.color || COLORS[k % COLORS.length]}"></i>${esc(s.name)}</span>`).join("") + "</div>";
  el.innerHTML = out;
}
function caveat(doc) {
  const pending = doc.overall.pending;
  if (doc.label_policy === "implicit_negative")
    return `Labels arrive late: a prediction counts only once ${esc(doc.maturity)} have passed since it was made ` +
           `(no label by then means negative). ${fmt(pending, "pending")} predictions are still pending and are not counted; ` +
           `the most recent buckets fill in as they mature.`;
  return `Only predictions whose outcome has arrived are counted (coverage below); ${fmt(pending, "pending")} of this window's ` +
         `predictions have no outcome yet, and late outcomes can still change these numbers.`;
}
function render(doc) {
  state.doc = doc;
  const [head, second] = doc.headline;
  $("asof").textContent = when(doc.as_of); $("asof").dataset.value = doc.as_of;
  $("window").textContent = doc.window;
  $("caveat").innerHTML = caveat(doc);
  let tiles = tile(head, doc.overall[head], head, 'data-group="all"') + tile(second, doc.overall[second], second, 'data-group="all"') +
              tile("predictions (n)", doc.overall.n, "n", 'data-group="all"') + tile("label coverage", doc.overall.coverage, "coverage", 'data-group="all"') +
              tile("pending", doc.overall.pending, "pending", 'data-group="all"') + tile("invalid", doc.overall.n_invalid, "n_invalid", 'data-group="all"');
  if (doc.overall.cost !== undefined) tiles += tile("cost", doc.overall.cost, "cost", 'data-group="all"');
  $("overall").innerHTML = tiles;
  $("by_version").innerHTML = doc.by_version.length ? "<table><tr><th>version</th>" +
    [head, second, "n", "coverage", "pending"].map(m => `<th>${esc(m)}</th>`).join("") + "</tr>" +
    doc.by_version.map(v => `<tr data-version="${esc(v.version)}"><td>${esc(v.version)}</td>` +
      [head, second, "n", "coverage", "pending"].map(m => `<td data-metric="${m}" data-value="${v.metrics[m] === null ? "" : v.metrics[m]}">${fmt(v.metrics[m], m)}</td>`).join("") + "</tr>").join("") + "</table>"
    : '<p class="empty">no model version column: declare predictions.version to compare versions</p>';
  const versions = Object.keys(doc.series[head] || {});
  drawCharts(doc);
  $("versions").innerHTML = doc.versions.length ? "<table><tr><th>metric</th><th>a</th><th>b</th><th>value a</th><th>value b</th><th>difference</th><th>statistic</th><th>significant</th></tr>" +
    doc.versions.map(c => `<tr data-metric="${esc(c.metric)}"><td>${esc(c.metric)}</td><td>${esc(c.version_a)}</td><td>${esc(c.version_b)}</td>` +
      `<td data-value="${c.value_a ?? ""}">${fmt(c.value_a, c.metric)}</td><td data-value="${c.value_b ?? ""}">${fmt(c.value_b, c.metric)}</td>` +
      `<td>${fmt(c.difference, c.metric)}</td><td>${fmt(c.statistic)}</td>` +
      `<td><span class="badge ${c.significant ? "yes" : "no"}" data-significant="${c.significant}">${c.significant === null ? "n/a" : c.significant ? "yes, at 5%" : "no"}</span></td></tr>`).join("") + "</table>"
    : '<p class="empty">one version only in this window (or no version column)</p>';
  $("drift").innerHTML = doc.drift.length ? "<table><tr><th>column</th><th>n</th><th>psi</th><th>js</th><th>ks</th><th></th></tr>" +
    doc.drift.map(d => `<tr data-column="${esc(d.column_name)}"><td>${esc(d.column_name)}</td><td>${fmt(d.n, "n")}</td>` +
      `<td data-value="${d.psi ?? ""}">${fmt(d.psi)}</td><td>${fmt(d.js)}</td><td>${fmt(d.ks)}</td>` +
      `<td><span class="badge ${d.drifted ? "yes" : "ok"}">${d.drifted ? "psi over " + d.threshold : "under " + d.threshold}</span></td></tr>`).join("") + "</table>"
    : `<p class="empty">no reference stored: add reference: to the monitor and run materializer reference ${esc(doc.monitor)}</p>`;
  renderFreshness(doc, 0);
}
function drawCharts(doc) {
  const head = doc.headline[0], versions = Object.keys(doc.series[head] || {});
  chart($("headline_chart"), versions.map(v => ({name: v, points: doc.series[head][v]})),
        {id: "headline", what: head, metric: head, min: head === "mae" || head === "rmse" ? 0 : undefined});
  $("headline_title").textContent = head;
  chart($("coverage_chart"), [{name: "label coverage", points: doc.series.coverage, color: "#239b56"}],
        {id: "coverage", what: "labels", min: 0, max: 1, percent: true});
  const counts = [{name: "predictions counted", points: doc.series.n, color: "#7f8c8d"}];
  if (doc.label_policy === "explicit") counts.unshift({name: "without an outcome yet", points: doc.series.pending, color: "#ca6f1e"});
  chart($("pending_chart"), counts, {id: "pending", what: "predictions", min: 0, metric: "n"});
}
function renderFreshness(doc, extra) {
  $("freshness").innerHTML = doc.freshness.length ? "<table><tr><th>feature view</th><th>newest event</th><th>age</th></tr>" +
    doc.freshness.map(f => `<tr data-view="${esc(f.view)}"><td>${esc(f.view)}</td><td>${when(f.newest_event)}</td>` +
      `<td data-value="${f.age_seconds ?? ""}">${ago(f.age_seconds === null ? null : f.age_seconds + extra)}</td></tr>`).join("") + "</table>"
    : '<p class="empty">no feature views</p>';
}
function connect() {
  const url = `${ROOT}monitors/${encodeURIComponent(state.doc.monitor)}/stream?window=${encodeURIComponent(state.doc.window)}`;
  const source = new EventSource(url);
  source.addEventListener("open", () => { $("live").className = "on"; $("live_text").textContent = "live"; $("error").style.display = "none"; });
  source.addEventListener("summary", (e) => { $("error").style.display = "none"; render(JSON.parse(e.data)); window.__updates = (window.__updates || 0) + 1; });
  source.addEventListener("heartbeat", (e) => {
    const clock = JSON.parse(e.data).as_of;
    renderFreshness(state.doc, (Date.parse(clock) - Date.parse(state.doc.as_of)) / 1000);
    $("asof").textContent = when(clock); $("asof").dataset.value = clock;
  });
  source.addEventListener("error", (e) => {
    $("live").className = "off"; $("live_text").textContent = "reconnecting";
    if (e.data) { $("error").textContent = JSON.parse(e.data).detail; $("error").style.display = "block"; }
  });
}
render(state.doc);
connect();
let resizing = null;
window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(() => drawCharts(state.doc), 150); });
"""


def page(project_name: str, monitors: list[str], doc: dict[str, Any]) -> str:
    """The dashboard of one monitor, its current summary embedded."""
    esc = html.escape
    name = doc["monitor"]
    nav = "".join(f'<a href="/dashboard/{esc(m)}" class="{"current" if m == name else ""}">{esc(m)}</a>'
                  for m in monitors)
    windows = " ".join(f'<a href="?window={esc(w)}" class="{"current" if w == doc["window"] else ""}">{esc(w)}</a>'
                       for w in doc["windows"])
    # </script> cannot end the embedded JSON early: orjson escapes neither < nor /, so do it here
    initial = orjson.dumps(doc, default=str).decode().replace("<", "\\u003c")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(name)} · {esc(project_name)} · materializer</title><link rel="icon" href="data:,"><style>{STYLE}</style></head>
<body>
<header>
  <h1>{esc(name)} <small style="font-weight:400;color:var(--muted)">{esc(doc["task"].replace("_", " "))}</small></h1>
  <nav>{nav}</nav>
  <span>window <strong id="window">{esc(doc["window"])}</strong> · {windows}</span>
  <span>as of <strong id="asof">{esc(doc["as_of"])}</strong></span>
  <span id="live"><span class="dot"></span><span id="live_text">connecting</span></span>
</header>
<div id="error" role="alert"></div>
<main>
  <section class="wide"><h2>{esc(project_name)}: how the model is doing <small>(window <span>{esc(doc["window"])}</span>)</small></h2>
    <div class="tiles" id="overall"></div><p class="caveat" id="caveat"></p></section>
  <section class="wide"><h2><span id="headline_title"></span> per time bucket, by model version
    <small>(bucket {esc(doc["bucket"])})</small></h2><div id="headline_chart"></div></section>
  <section><h2>By model version</h2><div id="by_version"></div></section>
  <section><h2>Champion and challenger <small>(two-sided test at 5%)</small></h2><div id="versions"></div></section>
  <section><h2>Label coverage per bucket</h2><div id="coverage_chart"></div></section>
  <section><h2>Predictions per bucket <small>{"(pending ones join their bucket when they mature)" if doc["label_policy"] == "implicit_negative" else "(and those still without an outcome)"}</small></h2><div id="pending_chart"></div></section>
  <section><h2>Drift against the training reference <small>(psi threshold
    {doc["drift_threshold"]:g})</small></h2><div id="drift"></div></section>
  <section><h2>Feature freshness</h2><div id="freshness"></div></section>
</main>
<script type="application/json" id="initial">{initial}</script>
<script>const ROOT = "/";{SCRIPT}</script>
</body></html>"""
