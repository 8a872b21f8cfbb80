// The QLLM dashboard: login, jobs (live status), a job's loss curve (live over SSE), models, chat.
// Talks to the REST API with the same auth as any client; tokens live in sessionStorage.
"use strict";
const $ = sel => document.querySelector(sel);
const TERMINAL = new Set(["JobSucceeded", "JobFailed", "JobCancelled"]);
const STATUS_OF = { JobSubmitted: "PENDING", JobStarting: "STARTING", JobRunning: "RUNNING",
  JobRecovering: "RECOVERING", JobPaused: "PAUSED", JobResumed: "RUNNING", JobRetrying: "STARTING",
  JobCancelRequested: "CANCELLING", JobSucceeded: "SUCCEEDED", JobFailed: "FAILED", JobCancelled: "CANCELLED" };
let tokens = JSON.parse(sessionStorage.getItem("qllm.tokens") || "null");
let stopView = () => {};

function keepTokens(next) {
  tokens = next;
  if (next) sessionStorage.setItem("qllm.tokens", JSON.stringify(next));
  else sessionStorage.removeItem("qllm.tokens");
}

async function refresh() {
  const r = await fetch("/api/v1/auth/refresh", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: tokens.refresh_token }) });
  if (!r.ok) { keepTokens(null); route(); throw new Error("session expired; log in again"); }
  keepTokens(await r.json());
}

// fetch with the access token; one refresh and retry on a 401; errors thrown with the API's message
async function api(method, path, body, signal, extra = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = { ...extra, Authorization: "Bearer " + (tokens && tokens.access_token) };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 401 && attempt === 0 && tokens) { await refresh(); continue; }
    if (!r.ok) {
      const err = await r.json().catch(() => ({}));
      throw new Error(err.message || r.statusText);
    }
    return r;
  }
}

// server-sent events over fetch (EventSource cannot send Authorization); resumes with Last-Event-ID
async function follow(path, onEvent, signal, init = {}) {
  let lastId = null;
  for (let failures = 0; failures < 6 && !signal.aborted; ) {
    try {
      const headers = lastId ? { "Last-Event-ID": lastId } : {};
      const r = await api(init.method || "GET", path, init.body, signal, headers);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const frame = parseFrame(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (!frame) continue;
          if (frame.id) lastId = frame.id;
          failures = 0;
          if (onEvent(frame) === false) return;
        }
      }
      if (init.once) return;
    } catch (e) {
      if (signal.aborted) return;
      if (init.once) throw e;
    }
    failures++;
    await new Promise(res => setTimeout(res, 250 * 2 ** failures));
  }
}

function parseFrame(text) {
  const frame = { id: null, event: "message", data: [] };
  for (const line of text.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const i = line.indexOf(":"), name = line.slice(0, i), value = line.slice(i + 1).replace(/^ /, "");
    if (name === "id") frame.id = value; else if (name === "event") frame.event = value;
    else if (name === "data") frame.data.push(value);
  }
  return frame.data.length ? { ...frame, data: JSON.parse(frame.data.join("\n")) } : null;
}

function show(id) {
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== id;
  $("#nav").hidden = !tokens;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
}

// -- views ------------------------------------------------------------------------------------
function loginView() {
  show("login-view");
}

function jobsView() {
  show("jobs-view");
  const controller = new AbortController();
  const load = async () => {
    try {
      const page = await (await api("GET", "/api/v1/training/jobs?limit=50", undefined, controller.signal)).json();
      const body = $("#jobs-table tbody");
      body.replaceChildren();
      for (const job of page.items) {
        const row = body.insertRow();
        row.className = "clickable";
        row.dataset.jobId = job.job_id;
        row.onclick = () => { location.hash = "#/jobs/" + job.job_id; };
        cell(row, job.job_id); cell(row, job.status, "status-" + job.status);
        cell(row, job.step + "/" + job.max_steps); cell(row, job.loss == null ? "—" : job.loss.toFixed(4));
        cell(row, job.model_id); cell(row, job.submitted_at ? new Date(job.submitted_at).toLocaleString() : "");
      }
    } catch (e) { if (!controller.signal.aborted) $("#job-error").textContent = e.message; }
  };
  load();
  const timer = setInterval(load, 2000); // live status: the projection, polled
  return () => { clearInterval(timer); controller.abort(); };
}

function jobView(jobId) {
  show("job-view");
  const controller = new AbortController();
  const points = [];
  $("#job-id").textContent = jobId;
  $("#job-events").replaceChildren();
  const canvas = $("#loss-chart");
  drawLossChart(canvas, points);
  api("GET", "/api/v1/training/jobs/" + jobId, undefined, controller.signal)
    .then(r => r.json()).then(job => { $("#job-max").textContent = job.max_steps; }).catch(() => {});
  follow("/api/v1/training/jobs/" + jobId + "/logs", frame => {
    const e = frame.data;
    if (e.max_steps) $("#job-max").textContent = e.max_steps;
    const item = document.createElement("li");
    item.textContent = frame.id + " " + frame.event;
    $("#job-events").append(item);
    if (frame.event === "TrainingStepCompleted" && !e.redone) {
      points.push({ step: e.step, loss: e.loss });
      $("#job-step").textContent = e.step;
      $("#job-loss").textContent = e.loss.toFixed(4);
      $("#job-lr").textContent = e.lr == null ? "—" : e.lr.toExponential(2);
      $("#job-tps").textContent = e.tokens_per_s == null ? "—" : Math.round(e.tokens_per_s);
      canvas.dataset.points = points.length;
      drawLossChart(canvas, points);
    }
    if (STATUS_OF[frame.event]) {
      $("#job-status").textContent = STATUS_OF[frame.event];
      $("#job-status").className = "status-" + STATUS_OF[frame.event];
    }
    return !TERMINAL.has(frame.event);
  }, controller.signal);
  return () => controller.abort();
}

function modelsView() {
  show("models-view");
  const controller = new AbortController();
  api("GET", "/api/v1/models?limit=100", undefined, controller.signal).then(r => r.json()).then(page => {
    const body = $("#models-table tbody");
    body.replaceChildren();
    for (const m of page.items) {
      const row = body.insertRow();
      cell(row, m.model_id); cell(row, m.status, "status-" + m.status); cell(row, m.preset);
      cell(row, m.owner); cell(row, m.checkpoint_step);
    }
  }).catch(() => {});
  return () => controller.abort();
}

const conversation = [];
function chatView() {
  show("chat-view");
  return () => {};
}

async function sendChat(text) {
  conversation.push({ role: "user", content: text });
  const log = $("#chat-log");
  const you = document.createElement("div");
  you.className = "user";
  you.textContent = "you> " + text;
  const reply = document.createElement("div");
  reply.className = "assistant";
  reply.textContent = "assistant> ";
  log.append(you, reply);
  let said = "";
  const body = { model: $("#chat-model").value, messages: conversation, stream: true, max_tokens: 32 };
  try {
    await follow("/api/v1/inference/chat", frame => {
      if (frame.event === "chunk") { said += frame.data.text; reply.textContent = "assistant> " + said; }
      if (frame.event === "error") { reply.textContent += " [" + frame.data.message + "]"; return false; }
      return frame.event !== "done";
    }, new AbortController().signal, { method: "POST", body, once: true });
  } catch (e) { reply.textContent += " [" + e.message + "]"; }
  conversation.push({ role: "assistant", content: said });
}

// -- routing ----------------------------------------------------------------------------------
async function route() {
  stopView();
  if (!tokens) { stopView = () => {}; loginView(); return; }
  const hash = location.hash || "#/jobs";
  const job = hash.match(/^#\/jobs\/(.+)$/);
  stopView = job ? jobView(decodeURIComponent(job[1])) : hash === "#/models" ? modelsView()
    : hash === "#/chat" ? chatView() : jobsView();
  api("GET", "/api/v1/auth/me").then(r => r.json()).then(me => { $("#who").textContent = me.subject + " (" + me.role + ")"; })
    .catch(() => {});
}

$("#login-form").addEventListener("submit", async ev => {
  ev.preventDefault();
  $("#login-error").textContent = "";
  const r = await fetch("/api/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: $("#username").value, password: $("#password").value }) });
  const body = await r.json();
  if (!r.ok) { $("#login-error").textContent = body.message || "login failed"; return; }
  keepTokens(body);
  route();
});
$("#logout").addEventListener("click", () => { keepTokens(null); route(); });
$("#new-job").addEventListener("submit", async ev => {
  ev.preventDefault();
  $("#job-error").textContent = "";
  try {
    const r = await api("POST", "/api/v1/training/jobs", { preset: $("#job-preset").value, max_steps: Number($("#job-steps").value) });
    location.hash = "#/jobs/" + r.headers.get("Location").split("/").pop();
  } catch (e) { $("#job-error").textContent = e.message; }
});
$("#chat-form").addEventListener("submit", ev => {
  ev.preventDefault();
  const text = $("#chat-input").value;
  $("#chat-input").value = "";
  sendChat(text);
});
window.addEventListener("hashchange", route);
route();
