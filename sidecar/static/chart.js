/* Minimal canvas line chart for one device's window scores (no dependencies, no build). */
"use strict";
window.ScoreChart = class ScoreChart {
  constructor(canvas, maxPoints) {
    this.c = canvas; this.max = maxPoints || 600;
    this.points = []; this.alerts = []; // points: {ts, score, threshold}; alerts: {ts, severity}
  }
  set(points, alerts) { this.points = points.slice(-this.max); this.alerts = alerts || []; this.draw(); }
  add(p) {
    const last = this.points[this.points.length - 1];
    if (last && p.ts <= last.ts) return; // already loaded (SSE raced the initial fetch)
    this.points.push(p); if (this.points.length > this.max) this.points.shift(); this.draw(); }
  mark(a) { this.alerts.push(a); this.draw(); }
  draw() {
    const dpr = window.devicePixelRatio || 1, w = this.c.clientWidth || 900, h = this.c.clientHeight || 280;
    this.c.width = w * dpr; this.c.height = h * dpr;
    const g = this.c.getContext("2d"); g.setTransform(dpr, 0, 0, dpr, 0, 0); g.clearRect(0, 0, w, h);
    const pad = {l: 56, r: 12, t: 10, b: 24}, pts = this.points;
    g.fillStyle = "#8a97a6"; g.font = "12px system-ui";
    if (!pts.length) { g.fillText("no scores yet for this device", pad.l, h / 2); return; }
    const t0 = pts[0].ts, t1 = Math.max(pts[pts.length - 1].ts, t0 + 1);
    let lo = Infinity, hi = -Infinity;
    for (const p of pts) { lo = Math.min(lo, p.score); hi = Math.max(hi, p.score);
      if (p.threshold != null) { lo = Math.min(lo, p.threshold); hi = Math.max(hi, p.threshold); } }
    if (hi - lo < 1e-9) { hi += 1; lo -= 1; } const m = (hi - lo) * 0.08; lo -= m; hi += m;
    const X = t => pad.l + (t - t0) / (t1 - t0) * (w - pad.l - pad.r);
    const Y = v => pad.t + (1 - (v - lo) / (hi - lo)) * (h - pad.t - pad.b);
    g.strokeStyle = "#26313d"; g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) { const v = lo + (hi - lo) * i / 4, y = Y(v);
      g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke(); g.fillText(v.toFixed(3), 4, y + 4); }
    g.fillText(new Date(t0).toISOString().slice(11, 19), pad.l, h - 6);
    g.fillText(new Date(t1).toISOString().slice(11, 19), w - pad.r - 52, h - 6);
    g.fillStyle = "#ff5d5d";
    for (const a of this.alerts) if (a.ts >= t0 && a.ts <= t1) g.fillRect(X(a.ts) - 1, pad.t, 3, h - pad.t - pad.b);
    const line = (get, color, dash) => { g.strokeStyle = color; g.lineWidth = 2; g.setLineDash(dash); g.beginPath();
      let started = false; for (const p of pts) { const v = get(p); if (v == null) continue;
        if (!started) { g.moveTo(X(p.ts), Y(v)); started = true; } else g.lineTo(X(p.ts), Y(v)); } g.stroke(); g.setLineDash([]); };
    line(p => p.threshold, "#ffb347", [6, 4]);
    line(p => p.score, "#6cb6ff", []);
  }
};
