// replog dashboard: polls the master's /health and /messages, appends, and switches faults through
// the master's /ui/faults/{id}. Data from the server is only ever written with textContent.
"use strict";

const HEALTH_EVERY_MS = 250; // Suspected lasts only suspect..unhealthy seconds: sample it well within that
const MESSAGES_EVERY_MS = 500;
const FAULTS_EVERY_MS = 1000;
const REQUEST_TIMEOUT_MS = 3000;
const NEWEST = 20;

const state = {
  config: { w_max: 1, default_w: 1, tokens: { client: false, read: false, cluster: false } },
  lastIndex: null,
  shownIndex: null,
  messagesAt: 0,
  cards: new Map(), // "secondary-0" -> {root, fields...}
  faultsBusy: new Set(),
  appendSeq: 0,
};

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function authHeaders(name) {
  const input = $("token-" + name);
  const token = input && state.config.tokens[name] ? input.value.trim() : "";
  return token ? { Authorization: "Bearer " + token } : {};
}

// fetch + JSON; never throws: {ok, status, body, error}
async function call(method, url, { body, token } = {}) {
  const headers = token ? authHeaders(token) : {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  try {
    const response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      signal: method === "GET" ? AbortSignal.timeout(REQUEST_TIMEOUT_MS) : undefined,
    });
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    const error = response.ok ? "" : (data && data.error) || response.statusText || "HTTP " + response.status;
    return { ok: response.ok, status: response.status, body: data, error };
  } catch (exc) {
    return { ok: false, status: 0, body: null, error: "no answer from the master (" + exc.message + ")" };
  }
}

function setResult(node, outcome, text) {
  node.dataset.outcome = outcome;
  node.textContent = text;
}

// ------------------------------------------------------------------ cards

function stat(parent, label) {
  const box = el("div");
  box.append(el("dt", "", label));
  const value = el("dd", "", "–");
  box.append(value);
  parent.append(box);
  return value;
}

function card(key, title) {
  const root = el("article", "card");
  root.id = "node-" + key;
  root.dataset.node = key;
  const head = el("div", "card-head");
  head.append(el("h3", "", title));
  const badge = el("span", "badge status", "…");
  head.append(badge);
  const address = el("div", "address");
  const stats = el("dl", "stats");
  root.append(head, address, stats);
  $("nodes").append(root);
  return { root, badge, address, stats };
}

function masterCard() {
  const c = card("master", "master");
  c.address.textContent = location.host;
  c.last = stat(c.stats, "last index");
  c.quorum = stat(c.stats, "alive / needed");
  c.waiting = stat(c.stats, "waiting");
  c.note = el("p", "note");
  c.root.append(c.note);
  return c;
}

function number(label, attrs) {
  const wrap = el("label", "", label);
  const input = el("input");
  input.type = "number";
  for (const [name, value] of Object.entries(attrs)) input.setAttribute(name, value);
  wrap.append(input);
  return [wrap, input];
}

function secondaryCard(id) {
  const c = card("secondary-" + id, "secondary " + id);
  c.acked = stat(c.stats, "acked index");
  c.acked.className = "acked";
  c.lag = stat(c.stats, "lag");
  c.lag.className = "lag";
  c.heard = stat(c.stats, "heard ago");
  c.note = el("p", "note");
  c.root.append(c.note);

  const faults = el("div", "faults");
  faults.append(el("h3", "", "Faults"));
  c.faultsActive = el("div", "faults-active", "…");
  faults.append(c.faultsActive);
  const form = el("form", "faults-form");
  form.autocomplete = "off";
  const [errorWrap, errorInput] = number("error_after_append (0..1)", { min: "0", max: "1", step: "0.05" });
  const [minWrap, minInput] = number("delay_ms min", { min: "0", step: "1" });
  const [maxWrap, maxInput] = number("delay_ms max", { min: "0", step: "1" });
  const [loopWrap, loopInput] = number("internal_looping s", { min: "0", step: "0.5" });
  const [unavWrap, unavInput] = number("server_unavailable s", { min: "0", step: "0.5" });
  errorInput.name = "error_after_append";
  minInput.name = "delay_min";
  maxInput.name = "delay_max";
  loopInput.name = "internal_looping";
  unavInput.name = "server_unavailable";
  const buttons = el("div", "faults-buttons");
  const apply = el("button", "apply", "Apply");
  apply.type = "submit";
  const clear = el("button", "secondary clear", "Clear");
  clear.type = "button";
  buttons.append(apply, clear);
  form.append(errorWrap, loopWrap, minWrap, maxWrap, unavWrap, buttons);
  faults.append(form);
  c.faultsResult = el("p", "result faults-result");
  faults.append(c.faultsResult);
  c.root.append(faults);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const settings = {};
    const value = (input) => (input.value.trim() === "" ? null : Number(input.value));
    if (value(errorInput) !== null) settings.error_after_append = value(errorInput);
    if (value(minInput) !== null || value(maxInput) !== null) {
      const low = value(minInput) ?? value(maxInput);
      settings.delay_ms = [low, value(maxInput) ?? low];
    }
    if (value(loopInput) !== null) settings.internal_looping = value(loopInput);
    if (value(unavInput) !== null) settings.server_unavailable = value(unavInput);
    if (Object.keys(settings).length === 0) {
      setResult(c.faultsResult, "error", "fill in at least one fault");
      return;
    }
    postFaults(id, c, settings);
  });
  clear.addEventListener("click", () => {
    for (const input of [errorInput, minInput, maxInput, loopInput, unavInput]) input.value = "";
    postFaults(id, c, { error_after_append: 0, delay_ms: [0, 0], internal_looping: 0, server_unavailable: 0 });
  });
  return c;
}

function setStatus(c, status) {
  c.root.dataset.status = status;
  c.badge.dataset.status = status;
  c.badge.textContent = status;
}

// ----------------------------------------------------------------- faults

function describeFaults(f) {
  const parts = [];
  if (f.error_after_append > 0) parts.push("error_after_append " + f.error_after_append);
  if (f.delay_ms && (f.delay_ms[0] > 0 || f.delay_ms[1] > 0)) {
    parts.push("delay " + (f.delay_ms[0] === f.delay_ms[1] ? f.delay_ms[0] : f.delay_ms.join("–")) + " ms");
  }
  if (f.internal_looping > 0) parts.push("looping, " + f.internal_looping.toFixed(1) + " s left");
  if (f.server_unavailable > 0) parts.push("unavailable, " + f.server_unavailable.toFixed(1) + " s left");
  return parts;
}

function showFaults(c, faults) {
  const parts = describeFaults(faults);
  c.faultsActive.dataset.active = String(parts.length > 0);
  c.faultsActive.textContent = parts.length ? "active: " + parts.join(" · ") : "no faults";
}

async function postFaults(id, c, settings) {
  setResult(c.faultsResult, "pending", "sending…");
  const answer = await call("POST", "/ui/faults/" + id, { body: settings, token: "cluster" });
  if (answer.ok) {
    showFaults(c, answer.body);
    setResult(c.faultsResult, "ok", "applied " + JSON.stringify(settings));
  } else {
    setResult(c.faultsResult, "error", answer.status ? answer.status + ": " + answer.error : answer.error);
  }
}

async function pollFaults(id) {
  const c = state.cards.get("secondary-" + id);
  if (!c || state.faultsBusy.has(id)) return;
  state.faultsBusy.add(id); // a stopped secondary must not pile up requests
  try {
    const answer = await call("GET", "/ui/faults/" + id);
    if (answer.ok) showFaults(c, answer.body);
    else {
      c.faultsActive.dataset.active = "false";
      c.faultsActive.textContent = "faults unknown: " + answer.error;
    }
  } finally {
    state.faultsBusy.delete(id);
  }
}

// ----------------------------------------------------------------- health

// With failover the node that serves the page may be any node: its own card says which, its role and
// its term; the leader's view of the others ("peers", by node id: 0 is the master, N + 1 secondary N)
// fills the secondaries' cards.
function failoverView(health) {
  const peers = (health.peers || []).filter((p) => p.id > 0).map((p) => ({ ...p, id: p.id - 1, link: "", reconnects: 0 }));
  const leader = health.leader ? health.leader.name : "none known";
  const role = health.name + " · " + health.role + " · term " + health.term + " · leader " + leader;
  return { peers, role };
}

function renderHealth(health) {
  if (!state.cards.has("master")) state.cards.set("master", masterCard());
  const m = state.cards.get("master");
  const failover = health.term !== undefined;
  const view = failover ? failoverView(health) : { peers: health.secondaries, role: "" };
  setStatus(m, health.read_only ? "Read-only" : "Writable");
  m.address.textContent = (failover ? view.role + " · " : "") + location.host + " · log " + health.log_id;
  m.last.textContent = health.last_index;
  m.quorum.textContent = health.quorum.alive + " / " + health.quorum.needed;
  m.waiting.textContent = health.waiting === undefined ? "" : health.waiting;
  m.note.textContent = "";

  for (const s of view.peers) {
    const key = "secondary-" + s.id;
    if (!state.cards.has(key)) state.cards.set(key, secondaryCard(s.id));
    const c = state.cards.get(key);
    setStatus(c, s.status);
    c.address.textContent = s.url + " · link " + s.link + " · " + s.reconnects + " connects";
    c.acked.textContent = s.acked_index;
    c.lag.textContent = s.lag;
    c.heard.textContent = s.last_heard_ms_ago === null ? "never" : s.last_heard_ms_ago + " ms";
    c.note.textContent = s.last_error || "";
  }

  const banner = $("banner");
  const q = health.quorum;
  const total = state.config.w_max;
  if (health.read_only) {
    banner.dataset.state = "read-only";
    banner.textContent =
      "READ-ONLY — no quorum: " + q.alive + " of " + total + " nodes alive, " + q.needed +
      " needed. Appends are refused (503) until quorum returns.";
  } else {
    banner.dataset.state = "writable";
    banner.textContent = "Writable — quorum: " + q.alive + " of " + total + " nodes alive, " + q.needed + " needed.";
  }
  if (failover) banner.textContent += " " + (health.leader ? "Leader: " + health.leader.name + ", term " + health.term + "." : "No leader known (term " + health.term + ").");
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

function renderUnreachable(error) {
  const banner = $("banner");
  banner.dataset.state = "unreachable";
  banner.textContent = "Master unreachable: " + error;
  const m = state.cards.get("master");
  if (m) {
    setStatus(m, "Unreachable");
    m.note.textContent = error;
  }
}

async function pollHealth() {
  const answer = await call("GET", "/health");
  if (answer.ok && answer.body) {
    state.lastIndex = answer.body.last_index;
    renderHealth(answer.body);
  } else {
    renderUnreachable(answer.error);
  }
}

// ---------------------------------------------------------------- cluster

async function pollCluster() {
  const answer = await call("GET", "/ui/cluster");
  if (!answer.ok || !Array.isArray(answer.body)) return;
  const rows = $("cluster-rows");
  rows.textContent = "";
  for (const node of answer.body) {
    const row = el("tr");
    row.dataset.node = node.name;
    row.dataset.role = node.error ? "unreachable" : node.role;
    const cells = node.error
      ? [node.name, "unreachable", "", "", "", node.error]
      : [node.name, node.role, String(node.term), node.leader || "none known", String(node.last_index) + " / " + String(node.commit_index), node.rolled_back ? node.rolled_back + " rolled back" : ""];
    for (const text of cells) row.append(el("td", "", text));
    rows.append(row);
  }
}

// --------------------------------------------------------------- messages

async function pollMessages() {
  if (state.lastIndex === null) return;
  const last = state.lastIndex;
  const from = Math.max(1, last - NEWEST + 1);
  const answer = await call("GET", "/messages?detail=1&from=" + from + "&limit=" + NEWEST, { token: "read" });
  const error = $("messages-error");
  if (!answer.ok) {
    error.hidden = false;
    error.textContent = "cannot read messages: " + (answer.status ? answer.status + ": " : "") + answer.error;
    state.shownIndex = null;
    return;
  }
  error.hidden = true;
  const list = $("messages");
  const rows = answer.body.slice().reverse(); // newest first
  list.replaceChildren(
    ...rows.map((entry) => {
      const row = el("li");
      row.dataset.index = entry.index;
      row.append(el("span", "index", "#" + entry.index), el("span", "text", entry.msg));
      return row;
    }),
  );
  $("messages-empty").hidden = rows.length > 0;
  $("messages-range").textContent = rows.length ? "(#" + rows[rows.length - 1].index + "–#" + rows[0].index + ")" : "";
  state.shownIndex = rows.length ? rows[0].index : 0;
}

// ----------------------------------------------------------------- append

async function append(event) {
  event.preventDefault();
  const msg = $("append-msg").value;
  const w = Number($("append-w").value);
  const body = { msg, w };
  const timeout = $("append-timeout").value.trim();
  if (timeout !== "") body.timeout_ms = Number(timeout);
  const seq = ++state.appendSeq;
  const result = $("append-result");
  setResult(result, "pending", "waiting for w=" + w + "…");
  const answer = await call("POST", "/messages", { body, token: "client" });
  if (seq !== state.appendSeq) return; // a newer append owns the result line
  if (answer.ok) {
    const b = answer.body;
    setResult(result, "ok", answer.status + ": index " + b.index + ", w=" + b.w + (b.duplicate ? " (duplicate)" : ""));
    $("append-msg").value = "";
    state.shownIndex = null;
  } else {
    setResult(result, "error", (answer.status ? answer.status + ": " : "") + answer.error);
  }
}

// ------------------------------------------------------------------- boot

function every(ms, task) {
  let busy = false;
  const run = async () => {
    if (busy) return;
    busy = true;
    try {
      await task();
    } catch (exc) {
      console.error(exc);
    } finally {
      busy = false;
    }
  };
  run();
  setInterval(run, ms);
}

function setupTokens() {
  const tokens = state.config.tokens;
  let any = false;
  for (const name of ["read", "client", "cluster"]) {
    if (!tokens[name]) continue;
    any = true;
    $("label-token-" + name).hidden = false;
    const input = $("token-" + name);
    input.value = sessionStorage.getItem("replog-token-" + name) || "";
    input.addEventListener("input", () => {
      sessionStorage.setItem("replog-token-" + name, input.value);
      state.shownIndex = null;
    });
  }
  $("access").hidden = !any;
  $("access").addEventListener("submit", (event) => event.preventDefault());
}

function setupAppend() {
  const select = $("append-w");
  for (let w = 1; w <= state.config.w_max; w++) {
    const option = el("option", "", String(w));
    option.value = String(w);
    select.append(option);
  }
  select.value = String(state.config.default_w);
  $("append-form").addEventListener("submit", append);
}

async function boot() {
  const answer = await call("GET", "/ui/config");
  if (answer.ok) state.config = answer.body;
  setupTokens();
  setupAppend();
  every(HEALTH_EVERY_MS, pollHealth);
  every(MESSAGES_EVERY_MS, async () => {
    if (state.lastIndex !== null && (state.lastIndex !== state.shownIndex || Date.now() - state.messagesAt > 5000)) {
      state.messagesAt = Date.now();
      await pollMessages();
    }
  });
  if (state.config.failover) {
    $("cluster-section").hidden = false;
    every(HEALTH_EVERY_MS * 2, pollCluster);
  }
  every(FAULTS_EVERY_MS, async () => {
    for (let id = 0; id < state.config.w_max - 1; id++) pollFaults(id);
  });
}

document.addEventListener("DOMContentLoaded", boot);
