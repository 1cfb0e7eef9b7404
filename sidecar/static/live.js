/* Live page: open alerts table + per-device score chart, fed by /v1/stream (SSE). */
"use strict";
const $ = s => document.querySelector(s);
const params = new URLSearchParams(location.search);
const tokenQ = params.get("access_token") ? "&access_token=" + encodeURIComponent(params.get("access_token")) : "";
const chart = new ScoreChart($("#chart"), 600);
const open = new Map();          // alert_id -> alert
const devices = new Set();
let current = params.get("device") || "";

const ts = a => Date.parse(a.opened_at || a.window_end || a.detected_at);
const esc = s => String(s == null ? "" : s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));

function log(text) {
  const li = document.createElement("li"); li.textContent = new Date().toISOString().slice(11, 19) + "  " + text;
  const ol = $("#log"); ol.prepend(li); while (ol.children.length > 50) ol.lastChild.remove();
}

function renderAlerts() {
  const rows = [...open.values()].sort((a, b) => ts(b) - ts(a));
  $("#alerts tbody").innerHTML = rows.map(a => `<tr data-id="${esc(a.alert_id)}">
    <td>${esc((a.opened_at || a.window_end || "").replace("T", " ").slice(0, 19))}</td><td>${esc(a.device_id)}</td>
    <td>${esc(a.kind)}</td><td class="sev-${esc(a.severity)}">${esc(a.severity)}</td>
    <td>${a.score == null ? "" : Number(a.score).toFixed(3)}</td>
    <td>${esc((a.top_features || []).map(f => f.feature).join(", "))}</td></tr>`).join("");
  $("#open-count").textContent = rows.length;
}

function addDevice(id) {
  if (!id || devices.has(id)) return;
  devices.add(id); const o = document.createElement("option"); o.value = o.textContent = id; $("#device").append(o);
  if (!current) { current = id; $("#device").value = id; loadDevice(); }
  else if (id === current) $("#device").value = id;
}

async function getJSON(url) {
  const r = await fetch(url + (url.includes("?") ? "" : "?") + tokenQ);
  if (!r.ok) throw new Error(url + " → HTTP " + r.status);
  return r.json();
}

async function loadDevice() {
  if (!current) return;
  try {
    const d = await getJSON(`/v1/devices/${encodeURIComponent(current)}?scores=600`);
    const al = await getJSON(`/v1/anomalies?device=${encodeURIComponent(current)}&limit=200`);
    chart.set(d.recent_scores, al.items.map(a => ({ts: ts(a), severity: a.severity})));
    $("#last-score").textContent = d.last_score == null ? "" : `last score ${d.last_score.toFixed(3)}`;
  } catch (e) { chart.set([], []); }
}

async function loadInitial() {
  const page = await getJSON("/v1/anomalies?status=open&limit=500");
  for (const a of page.items) { open.set(a.alert_id, a); addDevice(a.device_id); }
  renderAlerts();
  for (const d of await getJSON("/v1/devices?limit=1000")) addDevice(d.device_id);
  if (current) { addDevice(current); $("#device").value = current; await loadDevice(); }
}

function connect() {
  const es = new EventSource("/v1/stream?types=alert.new,alert.closed,score" + tokenQ);
  es.onopen = () => { $("#conn").className = "conn on"; $("#conn").textContent = "live"; $("#conn").dataset.state = "live"; };
  es.onerror = () => { $("#conn").className = "conn off"; $("#conn").textContent = "reconnecting…"; $("#conn").dataset.state = "reconnecting"; };
  es.addEventListener("alert.new", ev => {
    const a = JSON.parse(ev.data); open.set(a.alert_id, a); addDevice(a.device_id); renderAlerts();
    if (a.device_id === current) chart.mark({ts: ts(a), severity: a.severity});
    log(`${a.severity} ${a.kind} opened on ${a.device_id}`);
  });
  es.addEventListener("alert.closed", ev => {
    const a = JSON.parse(ev.data); open.delete(a.alert_id); renderAlerts(); log(`${a.kind} closed on ${a.device_id}`);
  });
  es.addEventListener("score", ev => {
    const s = JSON.parse(ev.data); addDevice(s.device_id);
    if (s.device_id === current) { chart.add({ts: s.ts, score: s.score, threshold: s.threshold});
      $("#last-score").textContent = `last score ${s.score.toFixed(3)}`; }
  });
}

$("#device").addEventListener("change", e => { current = e.target.value; loadDevice(); });
window.addEventListener("resize", () => chart.draw());
// subscribe first, then load: events racing the initial load are applied idempotently
connect();
loadInitial().catch(e => log("load failed: " + e.message));
