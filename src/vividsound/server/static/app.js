// vividsound page: talks to the /v1 API of the server that served it. No libraries, no network
// beyond this origin. History lives in localStorage under HISTORY_KEY.
"use strict";

const HISTORY_KEY = "vividsound.history.v1";
const APIKEY_KEY = "vividsound.apiKey";
const HISTORY_MAX = 50;

const $ = (id) => document.getElementById(id);
const state = { authRequired: false, limits: null, busy: false, source: null, editBusy: false };

// ------------------------------------------------------------------------------------------ API
function headers(extra = {}) {
  const h = { ...extra };
  const key = $("api-key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  if (res.status === 401) showKeyField();
  return res;
}

async function errorText(res) {
  try {
    const body = await res.json();
    if (body && body.error) return body.error;
  } catch (e) { /* not JSON */ }
  return `${res.status} ${res.statusText}`;
}

// Audio and images go straight to the URL unless a key is needed: <audio>/<img> cannot send headers,
// so then they are fetched with the key and shown from a blob: URL.
async function mediaUrl(url) {
  if (!state.authRequired) return url;
  const res = await api(url);
  if (!res.ok) throw new Error(await errorText(res));
  return URL.createObjectURL(await res.blob());
}

function showKeyField() {
  state.authRequired = true;
  $("key-row").hidden = false;
}

// ------------------------------------------------------------------------------------------ status
async function refreshStatus() {
  const el = $("status");
  try {
    const res = await api("/v1/health");
    if (res.status === 401) {
      el.className = "status bad";
      $("status-text").textContent = "API key needed";
      return null;
    }
    const h = await res.json();
    if (h.auth) showKeyField();
    el.className = "status ok";
    $("status-text").textContent = `${h.model} · ${h.queue.pending} waiting`;
    return h;
  } catch (e) {
    el.className = "status bad";
    $("status-text").textContent = "server unreachable";
    return null;
  }
}

async function loadModel() {
  const res = await api("/v1/model");
  if (!res.ok) return;
  const m = await res.json();
  const L = m.limits;
  state.limits = L;
  const dur = $("duration");
  dur.max = String(L.max_duration);
  dur.step = L.max_duration <= 3 ? "0.05" : "0.1";
  const def = Math.min(m.defaults.duration || 2, L.max_duration);
  dur.value = String(def);
  $("top_k").max = String(L.max_top_k);
  $("top_k").value = String(Math.min(m.defaults.top_k || L.max_top_k, L.max_top_k));
  $("temperature").value = String(m.defaults.temperature || 1);
  $("prompt").maxLength = L.max_prompt_chars;
  const sel = $("num_samples");
  for (const opt of [...sel.options]) opt.disabled = Number(opt.value) > L.max_samples;
  if (Number(sel.value) > L.max_samples) sel.value = "1";
  $("model-line").textContent = `model ${m.name} · ≤ ${L.max_duration} s · ${m.mel.sample_rate} Hz`;
  syncOutputs();
}

function syncOutputs() {
  $("duration-out").textContent = Number($("duration").value).toFixed(2) + " s";
  $("temperature-out").textContent = Number($("temperature").value).toFixed(2);
}

// ------------------------------------------------------------------------------------------ generate
function requestBody() {
  const body = {
    prompt: $("prompt").value.trim(),
    duration: Number($("duration").value),
    temperature: Number($("temperature").value),
    num_samples: Number($("num_samples").value),
    format: $("format").value,
    response: "json",
  };
  const k = $("top_k").value.trim();
  if (k) body.top_k = Number(k);
  const seed = $("seed").value.trim();
  if (seed) body.seed = Number(seed);
  const neg = $("negative_prompt").value.trim();
  if (neg) body.negative_prompt = neg;
  return body;
}

function setBusy(on) {
  state.busy = on;
  $("generate").disabled = on;
  $("generate").textContent = on ? "Generating…" : "Generate";
  $("progress-wrap").hidden = !on;
}

function showError(msg) {
  const el = $("error");
  el.textContent = msg || "";
  el.hidden = !msg;
}

// While a request runs, poll /v1/health for the model's token count (real progress) and the queue.
function startProgress() {
  const t0 = performance.now();
  const bar = $("progress");
  const text = $("progress-text");
  bar.removeAttribute("value");
  text.textContent = "sending…";
  const timer = setInterval(async () => {
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    const h = await refreshStatus();
    if (!state.busy) return;
    if (h && h.queue.busy && h.queue.tokens_total > 0) {
      const pct = Math.round((100 * h.queue.tokens_done) / h.queue.tokens_total);
      bar.value = pct;
      text.textContent = `generating ${pct}% · ${secs} s`;
    } else if (h && h.queue.pending > 0) {
      bar.removeAttribute("value");
      text.textContent = `queued (${h.queue.pending} waiting) · ${secs} s`;
    } else {
      text.textContent = `working · ${secs} s`;
    }
  }, 400);
  return () => clearInterval(timer);
}

async function generate(ev) {
  ev.preventDefault();
  if (state.busy) return;
  const body = requestBody();
  if (!body.prompt) { showError("Describe the sound first, e.g. 'a dog barks'."); return; }
  showError("");
  setBusy(true);
  const stop = startProgress();
  try {
    let res = await api("/v1/generate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (res.status === 503) {
      const wait = Number(res.headers.get("Retry-After") || "2");
      $("progress-text").textContent = `server busy, retrying in ${wait} s`;
      await new Promise((r) => setTimeout(r, wait * 1000));
      res = await api("/v1/generate", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    }
    if (!res.ok) { showError(await errorText(res)); return; }
    const data = await res.json();
    const entry = {
      time: new Date().toISOString(),
      prompt: body.prompt,
      settings: data.settings,
      request: body,
      results: data.results.map((r) => ({ id: r.id, url: r.url, spectrogram_url: r.spectrogram_url,
                                          seed: r.seed, format: r.format, duration: r.duration })),
    };
    addHistory(entry);
    await showResults(entry);
  } catch (e) {
    showError("Request failed: " + e.message);
  } finally {
    stop();
    setBusy(false);
    refreshStatus();
  }
}

// ------------------------------------------------------------------------------------------ results
async function renderResult(entry, r) {
  const node = $("result-template").content.firstElementChild.cloneNode(true);
  node.querySelector(".prompt").textContent = entry.prompt;
  const s = entry.settings || {};
  node.querySelector(".meta").textContent =
    `seed ${r.seed} · ${Number(r.duration).toFixed(2)} s · top-k ${s.top_k ?? "–"} · temp ${s.temperature ?? "–"}`;
  const audio = node.querySelector("audio");
  const img = node.querySelector("img");
  const link = node.querySelector(".download");
  link.download = `vividsound-${r.seed}-${slug(entry.prompt)}.${r.format}`;
  try {
    const [aurl, iurl] = await Promise.all([mediaUrl(r.url), mediaUrl(r.spectrogram_url)]);
    audio.src = aurl;
    img.src = iurl;
    link.href = aurl;
  } catch (e) {
    node.classList.add("gone");
    node.querySelector(".meta").textContent += " · no longer on the server";
  }
  node.querySelector(".edit-this").addEventListener("click", () =>
    setSource({ id: r.id, url: r.url, spectrogram_url: r.spectrogram_url, duration: r.duration, prompt: entry.prompt }));
  img.addEventListener("error", () => img.remove());
  audio.addEventListener("error", () => {
    node.classList.add("gone");
    node.querySelector(".meta").textContent = "this sound is no longer on the server";
  });
  return node;
}

async function showResults(entry) {
  const box = $("results");
  const nodes = await Promise.all(entry.results.map((r) => renderResult(entry, r)));
  box.replaceChildren(...nodes);
  $("results-empty").hidden = nodes.length > 0;
}

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 40) || "sound";
}

// ------------------------------------------------------------------------------------------ history
function loadHistory() {
  try {
    const items = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
    return Array.isArray(items) ? items : [];
  } catch (e) {
    return [];
  }
}

function saveHistory(items) {
  try {
    localStorage.setItem(HISTORY_KEY, JSON.stringify(items.slice(0, HISTORY_MAX)));
  } catch (e) { /* storage full or disabled: history is a convenience */ }
}

function addHistory(entry) {
  saveHistory([entry, ...loadHistory()]);
  renderHistory();
}

function renderHistory() {
  const list = $("history");
  const items = loadHistory();
  list.replaceChildren(...items.map((entry, i) => {
    const li = document.createElement("li");
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = entry.prompt;
    const when = document.createElement("span");
    when.className = "when";
    const seeds = entry.results.map((r) => r.seed).join(", ");
    when.textContent = `${new Date(entry.time).toLocaleString()} · ${entry.results.length} sound(s) · seed ${seeds}`;
    const buttons = document.createElement("div");
    buttons.className = "buttons";
    const show = document.createElement("button");
    show.type = "button";
    show.textContent = "Show";
    show.addEventListener("click", () => showResults(entry));
    const reuse = document.createElement("button");
    reuse.type = "button";
    reuse.textContent = "Reuse settings";
    reuse.addEventListener("click", () => reuseSettings(entry));
    buttons.append(show, reuse);
    li.append(what, buttons, when);
    li.dataset.index = String(i);
    return li;
  }));
  $("history-empty").hidden = items.length > 0;
}

function reuseSettings(entry) {
  const q = entry.request || {};
  $("prompt").value = entry.prompt;
  if (q.duration) $("duration").value = String(q.duration);
  if (q.temperature) $("temperature").value = String(q.temperature);
  if (q.top_k) $("top_k").value = String(q.top_k);
  $("seed").value = entry.results.length ? String(entry.results[0].seed) : "";
  if (q.num_samples) $("num_samples").value = String(q.num_samples);
  if (q.format) $("format").value = q.format;
  syncOutputs();
  $("prompt").focus();
}

// ------------------------------------------------------------------------------------------ edit
// A source clip (an upload or a result) is shown as a spectrogram: dragging selects a span to fill in,
// a click picks a point to continue from. Results are A/B-compared against the source.
async function setSource(item) {
  state.source = item;
  $("edit-empty").hidden = true;
  $("edit-work").hidden = false;
  $("edit-result").hidden = true;
  $("edit-sel").hidden = true;
  $("edit-point").hidden = true;
  const d = Number(item.duration);
  $("edit-start").max = String(d);
  $("edit-end").max = String(d);
  $("edit-start").value = (d * 0.4).toFixed(2);
  $("edit-end").value = (d * 0.6).toFixed(2);
  $("edit-duration").value = String(Math.round(Math.max(d + 2, Math.min(10, 2 * d)) * 10) / 10);
  if (item.prompt && !$("edit-prompt").value) $("edit-prompt").value = item.prompt;
  showEditError("");
  try {
    const [aurl, iurl] = await Promise.all([mediaUrl(item.url), mediaUrl(item.spectrogram_url)]);
    $("edit-orig").src = aurl;
    $("edit-spec").src = iurl;
  } catch (e) {
    showEditError("This clip is no longer on the server.");
  }
  drawSelection();
  $("edit-panel").scrollIntoView({ block: "nearest" });
}

function showEditError(msg) {
  $("edit-error").textContent = msg || "";
  $("edit-error").hidden = !msg;
}

function drawSelection() {
  if (!state.source) return;
  const d = Number(state.source.duration);
  const op = $("edit-op").value;
  const s = Math.max(0, Math.min(d, Number($("edit-start").value)));
  const e = Math.max(0, Math.min(d, Number($("edit-end").value)));
  const sel = $("edit-sel"), pt = $("edit-point");
  sel.hidden = op !== "inpaint" || !(e > s);
  pt.hidden = op !== "continue";
  sel.style.left = (100 * s / d) + "%";
  sel.style.width = (100 * (e - s) / d) + "%";
  pt.style.left = (100 * s / d) + "%";
  $("edit-end").disabled = op !== "inpaint";
  $("edit-duration").disabled = op !== "continue";
  $("edit-strength").disabled = op !== "vary";
  $("edit-strength-out").textContent = Number($("edit-strength").value).toFixed(2);
}

function initSelection() {
  const wrap = $("edit-spec-wrap");
  let x0 = null;
  const timeAt = (ev) => {
    const r = wrap.getBoundingClientRect();
    const f = Math.max(0, Math.min(1, (ev.clientX - r.left) / r.width));
    return f * Number(state.source ? state.source.duration : 0);
  };
  wrap.addEventListener("pointerdown", (ev) => {
    if (!state.source) return;
    x0 = ev.clientX;
    wrap.setPointerCapture(ev.pointerId);
    $("edit-start").value = timeAt(ev).toFixed(2);
  });
  wrap.addEventListener("pointermove", (ev) => {
    if (x0 === null || Math.abs(ev.clientX - x0) < 4) return;
    const a = timeAt({ clientX: Math.min(x0, ev.clientX) }), b = timeAt({ clientX: Math.max(x0, ev.clientX) });
    $("edit-op").value = "inpaint";
    $("edit-start").value = a.toFixed(2);
    $("edit-end").value = b.toFixed(2);
    drawSelection();
  });
  wrap.addEventListener("pointerup", (ev) => {
    if (x0 === null) return;
    if (Math.abs(ev.clientX - x0) < 4) {  // a click: a point to continue from
      $("edit-op").value = "continue";
      $("edit-start").value = timeAt(ev).toFixed(2);
    }
    x0 = null;
    drawSelection();
  });
}

async function uploadClip() {
  const file = $("edit-file").files[0];
  if (!file) return;
  showEditError("");
  $("edit-progress").textContent = "uploading…";
  try {
    const res = await api("/v1/clips", { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file });
    if (!res.ok) { showEditError(await errorText(res)); return; }
    const item = await res.json();
    await setSource({ ...item, prompt: "" });
  } catch (e) {
    showEditError("Upload failed: " + e.message);
  } finally {
    $("edit-progress").textContent = "";
  }
}

function editBody() {
  const op = $("edit-op").value;
  const body = { op, source: state.source.id, format: $("format").value };
  const prompt = $("edit-prompt").value.trim();
  const neg = $("edit-negative").value.trim();
  if (prompt) body.prompt = prompt;
  if (neg) body.negative_prompt = neg;
  const seed = $("seed").value.trim();
  if (seed) body.seed = Number(seed);
  if (op === "inpaint") { body.start = Number($("edit-start").value); body.end = Number($("edit-end").value); }
  if (op === "continue") {
    body.duration = Number($("edit-duration").value);
    const s = Number($("edit-start").value);
    if (s > 0 && s < Number(state.source.duration)) body.start = s;
  }
  if (op === "vary") body.strength = Number($("edit-strength").value);
  return body;
}

async function runEdit() {
  if (!state.source || state.editBusy) return;
  const body = editBody();
  if ((body.op === "inpaint" || body.op === "continue") && !body.prompt) {
    showEditError("Describe what the new part should sound like.");
    return;
  }
  showEditError("");
  state.editBusy = true;
  $("edit-run").disabled = true;
  $("edit-progress").textContent = "working…";
  const t0 = performance.now();
  const timer = setInterval(async () => {
    const h = await refreshStatus();
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    if (h && h.queue.busy && h.queue.tokens_total > 0)
      $("edit-progress").textContent = `${Math.round((100 * h.queue.tokens_done) / h.queue.tokens_total)}% · ${secs} s`;
  }, 400);
  try {
    const res = await api("/v1/edit", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!res.ok) { showEditError(await errorText(res)); return; }
    const data = await res.json();
    const r = data.results[0];
    const [aurl, burl, iurl] = await Promise.all([mediaUrl(state.source.url), mediaUrl(r.url), mediaUrl(r.spectrogram_url)]);
    $("edit-a").src = aurl;
    $("edit-b").src = burl;
    $("edit-result-spec").src = iurl;
    $("edit-download").href = burl;
    $("edit-download").download = `vividsound-${body.op}-${r.seed}.${r.format}`;
    const s = data.settings;
    const what = body.op === "inpaint" ? `filled ${s.span_seconds[0].toFixed(2)}–${s.span_seconds[1].toFixed(2)} s`
      : body.op === "continue" ? `continued after ${Number(s.given_seconds).toFixed(2)} s` : `varied at strength ${s.strength}`;
    $("edit-result-what").textContent = what + (body.prompt ? ` · ${body.prompt}` : "");
    $("edit-result-meta").textContent = `seed ${r.seed} · ${Number(r.duration).toFixed(2)} s`;
    $("edit-result").hidden = false;
    state.result = { ...r, prompt: body.prompt || "" };
    setAB("A");
  } catch (e) {
    showEditError("Edit failed: " + e.message);
  } finally {
    clearInterval(timer);
    state.editBusy = false;
    $("edit-run").disabled = false;
    $("edit-progress").textContent = "";
  }
}

// A/B: one button swaps which of the two players sounds, at the same position in the clip.
function setAB(which) {
  const btn = $("ab-toggle");
  btn.dataset.ab = which;
  btn.textContent = which === "A" ? "Playing A: original · switch to B" : "Playing B: edited · switch to A";
}

function toggleAB() {
  const now = $("ab-toggle").dataset.ab;
  const from = now === "A" ? $("edit-a") : $("edit-b");
  const to = now === "A" ? $("edit-b") : $("edit-a");
  const playing = !from.paused;
  if (Number.isFinite(to.duration)) to.currentTime = Math.min(from.currentTime || 0, to.duration);
  from.pause();
  if (playing) to.play().catch(() => {});
  setAB(now === "A" ? "B" : "A");
}

function initEdit() {
  $("edit-file").addEventListener("change", uploadClip);
  $("edit-run").addEventListener("click", runEdit);
  $("ab-toggle").addEventListener("click", toggleAB);
  for (const id of ["edit-op", "edit-start", "edit-end", "edit-strength"]) $(id).addEventListener("input", drawSelection);
  initSelection();
  drawSelection();
}

// ------------------------------------------------------------------------------------------ start
function init() {
  const saved = localStorage.getItem(APIKEY_KEY);
  if (saved) $("api-key").value = saved;
  $("api-key").addEventListener("change", () => {
    localStorage.setItem(APIKEY_KEY, $("api-key").value.trim());
    refreshStatus().then((h) => { if (h) loadModel(); });
  });
  for (const chip of document.querySelectorAll("#examples .chip")) {
    chip.addEventListener("click", () => { $("prompt").value = chip.textContent; $("prompt").focus(); });
  }
  $("duration").addEventListener("input", syncOutputs);
  $("temperature").addEventListener("input", syncOutputs);
  $("dice").addEventListener("click", () => { $("seed").value = String(Math.floor(Math.random() * 2 ** 31)); });
  $("form").addEventListener("submit", generate);
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("form").requestSubmit();
  });
  $("clear-history").addEventListener("click", () => { saveHistory([]); renderHistory(); });
  syncOutputs();
  initEdit();
  renderHistory();
  refreshStatus().then((h) => { if (h) loadModel(); });
}

document.addEventListener("DOMContentLoaded", init);
