// The listening-test page: plain JavaScript, no dependencies. The server decides the pages and the
// clip order; the page only plays, collects scores and sends one page at a time.
"use strict";

// Bumped with the server's PAGE_VERSION whenever the page or its instructions change meaning.
const PAGE_VERSION = "1";

const $ = (sel) => document.querySelector(sel);
let info = null;      // GET /api/test
let token = null;     // this rater's secret (localStorage)
let current = null;   // the page being rated (GET /api/next)
let saving = false;

function storageKey() { return `vividsound.listening.${info.key}.token`; }

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path, { ...options, headers, cache: "no-store" });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    const err = new Error((body && body.error) || `the server answered ${response.status}`);
    err.status = response.status;
    throw err;
  }
  return body;
}

function show(id) {
  for (const s of ["#intro", "#rate", "#done"]) $(s).hidden = s !== id;
}

function setMsg(el, text, kind) {
  el.textContent = text;
  el.className = "msg" + (kind ? " " + kind : "");
}

function remember(newToken) {
  token = newToken;
  localStorage.setItem(storageKey(), token);
  $("#code").textContent = token;
  $("#code-row").hidden = false;
}

function forget() {
  token = null;
  localStorage.removeItem(storageKey());
  $("#code-row").hidden = true;
}

function scale(metric, title, lowText, highText) {
  const wrap = document.createElement("div");
  wrap.className = "scale";
  const label = document.createElement("label");
  const name = document.createElement("span");
  name.textContent = title;
  const out = document.createElement("output");
  out.textContent = "–";
  label.append(name, out);
  const input = document.createElement("input");
  input.type = "range"; input.min = "0"; input.max = String(info.scale_max); input.step = "1";
  input.value = String(Math.round(info.scale_max / 2));
  input.disabled = true;
  input.className = "unset";
  input.dataset.metric = metric;
  input.setAttribute("aria-label", title);
  const id = `s-${Math.random().toString(36).slice(2)}`;
  input.id = id; label.htmlFor = id;
  input.addEventListener("input", () => {
    input.classList.remove("unset");
    input.dataset.touched = "1";
    out.textContent = input.value;
    updateSubmit();
  });
  const ends = document.createElement("div");
  ends.className = "ends";
  const lo = document.createElement("span"); lo.textContent = `0 ${lowText}`;
  const hi = document.createElement("span"); hi.textContent = `${highText} ${info.scale_max}`;
  ends.append(lo, hi);
  wrap.append(label, input, ends);
  return wrap;
}

function renderPage(state) {
  current = state;
  $("#page-no").textContent = state.page;
  $("#page-count").textContent = state.pages;
  $("#progress").hidden = false;
  $("#prompt").textContent = state.prompt;
  const list = $("#clips");
  list.replaceChildren();
  state.clips.forEach((clip, i) => {
    const li = document.createElement("li");
    li.className = "clip";
    li.dataset.clip = clip.id;
    const head = document.createElement("div");
    head.className = "clip-head";
    const name = document.createElement("span");
    name.className = "clip-name";
    name.textContent = `Sound ${i + 1}`;
    const audio = document.createElement("audio");
    audio.controls = true; audio.preload = "auto"; audio.src = clip.url;
    const heard = document.createElement("span");
    heard.className = "heard";
    heard.textContent = "not heard yet";
    head.append(name, audio, heard);
    const scales = document.createElement("div");
    scales.className = "scales";
    scales.append(scale("relevance", "Relevance to the description", "not at all", "perfectly"),
                  scale("quality", "Audio quality", "very poor", "excellent"));
    audio.addEventListener("ended", () => {
      li.dataset.heard = "1";
      heard.textContent = "heard ✓";
      heard.classList.add("yes");
      for (const r of scales.querySelectorAll("input")) r.disabled = false;
      updateSubmit();
    });
    li.append(head, scales);
    list.append(li);
  });
  setMsg($("#msg"), "");
  updateSubmit();
  show("#rate");
  window.scrollTo(0, 0);
}

function updateSubmit() {
  const ranges = [...document.querySelectorAll("#clips input[type=range]")];
  const ready = ranges.length > 0 && ranges.every((r) => r.dataset.touched === "1");
  $("#submit").disabled = saving || !ready;
  for (const li of document.querySelectorAll("#clips .clip")) {
    li.classList.toggle("rated", [...li.querySelectorAll("input")].every((r) => r.dataset.touched === "1"));
  }
}

async function next() {
  const state = await api("/api/next");
  if (state.done) {
    current = null;
    $("#done-pages").textContent = state.pages;
    $("#progress").hidden = true;
    show("#done");
  } else {
    renderPage(state);
  }
}

async function submit() {
  if (!current || saving) return;
  const ratings = [...document.querySelectorAll("#clips .clip")].map((li) => ({
    clip: li.dataset.clip,
    relevance: Number(li.querySelector("input[data-metric=relevance]").value),
    quality: Number(li.querySelector("input[data-metric=quality]").value),
  }));
  saving = true;
  updateSubmit();
  setMsg($("#msg"), "Saving…");
  try {
    await api("/api/ratings", { method: "POST",
      body: JSON.stringify({ page_version: PAGE_VERSION, prompt: current.prompt_id, ratings }) });
  } catch (err) {
    saving = false;
    if (err.status === 409 && current) {
      // Saved before with other scores (an answer lost on the way, then the sliders moved): ratings are
      // final, so go on to the next page when the server has moved on.
      const was = current.prompt_id;
      try { await next(); } catch (_) { /* keep the page */ }
      if (current && current.prompt_id === was) { updateSubmit(); setMsg($("#msg"), "Not saved: " + err.message, "bad"); }
      else setMsg($("#msg"), "That page had been saved already; its first answers stand.", "bad");
      return;
    }
    updateSubmit();
    const text = err.status ? "Not saved: " + err.message : "Not saved: the server cannot be reached. Your answers " +
      "are still here; press the button again in a moment.";
    setMsg($("#msg"), text, "bad");
    return;
  }
  // The server answered only after its commit: this page is saved, whatever happens next.
  saving = false;
  const rate = $("#rate");
  try {
    await next();
    setMsg($("#msg"), "Saved.", "ok");
  } catch (err) {
    setMsg($("#msg"), "Saved. The next page could not be loaded (" + err.message + "): reload this page to go on.", "bad");
  }
  rate.dataset.saved = String(Number(rate.dataset.saved || "0") + 1);  // pages acknowledged (tests wait on it)
}

async function startNew() {
  const msg = $("#intro-msg");
  setMsg(msg, "");
  const invite = $("#invite").value.trim() || new URLSearchParams(location.search).get("invite") || null;
  try {
    const made = await api("/api/raters", { method: "POST", body: JSON.stringify({ invite }) });
    remember(made.token);
    await next();
  } catch (err) {
    setMsg(msg, err.message, "bad");
  }
}

async function resume() {
  const msg = $("#intro-msg");
  const code = $("#resume-code").value.trim();
  if (!code) { setMsg(msg, "Type your resume code first.", "bad"); return; }
  token = code;
  try {
    await next();
    remember(code);
  } catch (err) {
    token = null;
    setMsg(msg, err.status === 401 ? "This resume code is not known to this test." : err.message, "bad");
  }
}

async function init() {
  try {
    info = await api("/api/test");
  } catch (err) {
    $("#fatal").textContent = "The test server cannot be reached: " + err.message;
    $("#fatal").hidden = false;
    return;
  }
  if (info.page_version !== PAGE_VERSION) {
    $("#fatal").textContent = "This page is out of date: reload it.";
    $("#fatal").hidden = false;
    return;
  }
  document.title = `Listening test: ${info.name}`;
  $("#test-name").textContent = info.name;
  $("#intro-pages").textContent = info.pages;
  $("#invite-row").hidden = !(info.invite_required && !new URLSearchParams(location.search).get("invite"));
  $("#start").addEventListener("click", startNew);
  $("#resume").addEventListener("click", resume);
  $("#submit").addEventListener("click", submit);
  const saved = localStorage.getItem(storageKey());
  if (saved) {
    token = saved;
    try {
      await next();
      remember(saved);
      return;
    } catch (err) {
      if (err.status === 401) forget();
      else setMsg($("#intro-msg"), err.message, "bad");
    }
  }
  show("#intro");
}

init();
