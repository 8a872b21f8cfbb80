// A small line chart on a canvas: the loss per step, redrawn as points arrive. No library.
"use strict";
function drawLossChart(canvas, points) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = { l: 56, r: 16, t: 16, b: 32 };
  ctx.clearRect(0, 0, w, h);
  ctx.font = "12px sans-serif";
  ctx.fillStyle = "#1d2330";
  ctx.strokeStyle = "#c7ccd8";
  ctx.strokeRect(pad.l, pad.t, w - pad.l - pad.r, h - pad.t - pad.b);
  if (points.length === 0) { ctx.fillText("waiting for the first step…", pad.l + 10, pad.t + 20); return; }
  const steps = points.map(p => p.step), losses = points.map(p => p.loss);
  const x0 = Math.min(...steps), x1 = Math.max(...steps, x0 + 1);
  let y0 = Math.min(...losses), y1 = Math.max(...losses);
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const sx = s => pad.l + (s - x0) / (x1 - x0) * (w - pad.l - pad.r);
  const sy = v => pad.t + (1 - (v - y0) / (y1 - y0)) * (h - pad.t - pad.b);
  ctx.fillText(y1.toFixed(3), 4, pad.t + 10);
  ctx.fillText(y0.toFixed(3), 4, h - pad.b);
  ctx.fillText("step " + x0, pad.l, h - 10);
  ctx.fillText("step " + x1, w - pad.r - 50, h - 10);
  ctx.fillText("loss", pad.l + 6, pad.t + 14);
  ctx.strokeStyle = "#1a56c4";
  ctx.lineWidth = 2;
  ctx.beginPath();
  points.forEach((p, i) => (i ? ctx.lineTo(sx(p.step), sy(p.loss)) : ctx.moveTo(sx(p.step), sy(p.loss))));
  ctx.stroke();
  ctx.fillStyle = "#1a56c4";
  points.forEach(p => { ctx.beginPath(); ctx.arc(sx(p.step), sy(p.loss), 3, 0, 2 * Math.PI); ctx.fill(); });
}
