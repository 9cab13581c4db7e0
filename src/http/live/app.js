// Wattline live page: one EventSource for every enabled region. The snapshot fills the table and
// chart; each `price` event merges its points. No framework, no build step.
"use strict";

const body = document.body;
const regionCodes = body.dataset.regions.split(",").filter(Boolean);
const series = new Map(); // region -> { currency, unit, timeZone, points: Map(start -> point) }
let events = 0;
let snapshots = 0;
// Server time minus browser time: the page follows the server's clock, not the viewer's.
let offset = 0;
const now = () => Date.now() + offset;

const $ = (id) => document.getElementById(id);
const ms = (iso) => Date.parse(iso);
const endOf = (p) => ms(p.start) + p.duration_minutes * 60000;

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
  body.dataset.status = state;
}

function merge(region, points, meta) {
  let s = series.get(region);
  if (!s) {
    s = { points: new Map() };
    series.set(region, s);
  }
  Object.assign(s, meta || {});
  for (const p of points) s.points.set(p.start, p);
  // Forget what ended over a day ago.
  const horizon = now() - 86400000;
  for (const [start, p] of s.points) if (endOf(p) < horizon) s.points.delete(start);
}

function upcoming(region) {
  const s = series.get(region);
  if (!s) return [];
  const t = now();
  return [...s.points.values()].filter((p) => endOf(p) > t).sort((a, b) => ms(a.start) - ms(b.start));
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function renderTable(changed) {
  const tbody = $("prices").querySelector("tbody");
  const t = now();
  for (const region of regionCodes) {
    let row = tbody.querySelector(`tr[data-region="${region}"]`);
    if (!row) {
      row = document.createElement("tr");
      row.dataset.region = region;
      tbody.appendChild(row);
    }
    const ahead = upcoming(region);
    const current = ahead.find((p) => ms(p.start) <= t && t < endOf(p));
    const day = ahead.filter((p) => ms(p.start) < t + 86400000).map((p) => Number(p.price));
    const s = series.get(region) || {};
    row.replaceChildren(
      cell(region),
      cell(current ? current.price : "–", "num price" + (current && Number(current.price) < 0 ? " neg" : "")),
      cell(current ? `${current.currency}/${current.unit}` : (s.currency || "")),
      cell(day.length ? String(Math.min(...day)) : "–", "num"),
      cell(day.length ? String(Math.max(...day)) : "–", "num"),
      cell(current ? current.source : "–"),
      cell(current ? new Date(endOf(current)).toLocaleTimeString() : "–"),
    );
    if (current) row.dataset.price = current.price;
    if (changed && changed.has(region)) {
      row.classList.remove("updated");
      void row.offsetWidth;
      row.classList.add("updated");
    }
  }
}

function renderChart() {
  const region = $("chart-region").value || regionCodes[0];
  const svg = $("chart");
  const t = now();
  const points = upcoming(region).filter((p) => ms(p.start) < t + 86400000);
  svg.replaceChildren();
  if (!points.length) {
    $("chart-note").textContent = "No prices ahead yet.";
    return;
  }
  const [w, h, pad] = [800, 260, 36];
  const t0 = Math.min(t, ms(points[0].start));
  const t1 = endOf(points[points.length - 1]);
  const values = points.map((p) => Number(p.price));
  const lo = Math.min(0, ...values);
  const hi = Math.max(...values) || 1;
  const x = (t) => pad + ((t - t0) / (t1 - t0)) * (w - 2 * pad);
  const y = (v) => h - pad - ((v - lo) / (hi - lo || 1)) * (h - 2 * pad);
  const ns = "http://www.w3.org/2000/svg";
  const add = (name, attrs, text) => {
    const el = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.appendChild(el);
    return el;
  };
  add("line", { x1: pad, y1: y(0), x2: w - pad, y2: y(0), class: "axis" });
  // A step line: each interval is flat at its price.
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(ms(p.start)).toFixed(1)},${y(Number(p.price)).toFixed(1)} L${x(endOf(p)).toFixed(1)},${y(Number(p.price)).toFixed(1)}`).join(" ");
  add("path", { d: path, class: "line" });
  add("line", { x1: x(t), y1: pad / 2, x2: x(t), y2: h - pad, class: "now" });
  add("text", { x: 4, y: y(hi) + 4 }, String(hi));
  add("text", { x: 4, y: y(lo) + 4 }, String(lo));
  add("text", { x: pad, y: h - 8 }, new Date(t0).toLocaleString());
  add("text", { x: w - pad - 120, y: h - 8 }, new Date(t1).toLocaleString());
  const s = series.get(region) || {};
  $("chart-note").textContent = `${points.length} intervals · ${points[0].currency}/${points[0].unit} · source ${points[0].source}` + (s.timeZone ? ` · market time zone ${s.timeZone}` : "");
}

function render(changed) {
  renderTable(changed);
  renderChart();
  body.dataset.events = String(events);
  body.dataset.snapshots = String(snapshots);
}

function connect() {
  const source = new EventSource(`/api/v1/prices/stream?region=${regionCodes.join(",")}`);
  source.onopen = () => setStatus("live", "live");
  source.onerror = () => setStatus("down", "reconnecting…");
  source.addEventListener("snapshot", (e) => {
    const data = JSON.parse(e.data);
    offset = ms(data.generated_at) - Date.now();
    for (const r of data.regions) {
      series.delete(r.region);
      merge(r.region, r.prices, { currency: r.currency, unit: r.unit, timeZone: r.time_zone });
    }
    snapshots += 1;
    render(new Set(data.regions.map((r) => r.region)));
  });
  source.addEventListener("price", (e) => {
    const data = JSON.parse(e.data);
    offset = ms(data.produced_at) - Date.now();
    merge(data.region, data.points);
    events += 1;
    render(new Set([data.region]));
  });
  source.addEventListener("reset", () => setStatus("live", "resynchronising…"));
  source.addEventListener("lagged", () => setStatus("down", "fell behind; reconnecting…"));
  source.addEventListener("shutdown", () => setStatus("down", "server restarting; reconnecting…"));
}

async function loadActors() {
  const key = sessionStorage.getItem("wattline-key");
  if (!key) return;
  try {
    const response = await fetch("/api/v1/admin/actors", { headers: { "X-API-Key": key } });
    const data = await response.json();
    if (!response.ok) {
      $("operator-note").textContent = data.error ? data.error.message : `HTTP ${response.status}`;
      $("actors").hidden = true;
      return;
    }
    const tbody = $("actors").querySelector("tbody");
    tbody.replaceChildren(...data.actors.map((a) => {
      const tr = document.createElement("tr");
      tr.append(cell(a.name), cell(a.state), cell(String(a.restarts), "num"), cell(String(a.mailbox_length), "num"),
        cell(String(a.messages_handled), "num"), cell(a.last_error || ""));
      return tr;
    }));
    $("actors").hidden = false;
    $("operator-note").textContent = `Node ${data.node_id} · ${data.stream.subscribers} stream subscribers · fan-out ${data.stream.fanout ? (data.stream.fanout_up ? "up" : "down, local delivery") : "in-process"}`;
  } catch (error) {
    $("operator-note").textContent = String(error);
  }
}

for (const region of regionCodes) {
  const option = document.createElement("option");
  option.value = option.textContent = region;
  $("chart-region").appendChild(option);
}
$("chart-region").addEventListener("change", renderChart);
$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("wattline-key", $("api-key").value);
  loadActors();
});
setInterval(loadActors, 5000);
setInterval(() => render(), 30000);
loadActors();
connect();
