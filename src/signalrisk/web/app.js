// The dashboard: warm up, analyse, read the results and the audit, through the same HTTP API
// as every other client. Beyond loopback the API asks for a bearer token; the page asks the
// user for it once and keeps it in sessionStorage (this tab only, gone when it closes).
"use strict";

const TOKEN_KEY = "signalrisk-token";
const $ = (id) => document.getElementById(id);
const BASIS = {
  "local-simulated":
    "estimate: what the same work would cost on AWS at list prices (the embedded platform itself is free)",
  "lambda-report": "AWS's billed duration of every invocation (its REPORT line) at the list price",
  "list-price": "estimate: instance seconds at the list hourly price plus the public IPv4 address, 60 s minimum per instance",
};
const BUSY_STATES = new Set(["warming", "terminating", "analysing"]);

class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

const view = { run: null, scaleTimer: null, info: null };

// -- the API ------------------------------------------------------------------------------

function askForToken(hint) {
  const dialog = $("token-dialog");
  $("token-hint").textContent = hint || "";
  $("token").value = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve($("token").value.trim()), { once: true });
    if (!dialog.open) dialog.showModal();
  });
}

async function request(path, options = {}) {
  for (;;) {
    const headers = { ...(options.headers || {}) };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    if (options.json !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method: options.method || "GET",
        headers,
        body: options.json === undefined ? undefined : JSON.stringify(options.json),
      });
    } catch (exc) {
      throw new ApiError(0, "unreachable", `the server did not answer (${exc.message})`);
    }
    if (response.status === 401) {
      const hint = token ? "That token was refused; try again." : "";
      sessionStorage.setItem(TOKEN_KEY, await askForToken(hint));
      continue;
    }
    if (!response.ok) {
      let error = {};
      try {
        error = (await response.json()).error || {};
      } catch (_) {
        /* not our error shape: report the status */
      }
      throw new ApiError(response.status, error.code || `http_${response.status}`,
        error.message || response.statusText, error.field);
    }
    return options.raw ? response : response.json();
  }
}

// -- formatting ---------------------------------------------------------------------------

const dash = "–";
const num = (v, digits = 5) => (v === null || v === undefined ? dash : Number(v).toFixed(digits));
// Dollars with three significant digits however small (a short job costs millionths of a cent).
function usd(v) {
  if (v === null || v === undefined) return dash;
  const value = Number(v);
  if (value === 0) return "$0";
  const digits = Math.min(20, Math.max(2, 2 - Math.floor(Math.log10(Math.abs(value)))));
  return `$${value.toFixed(digits)}`;
}
const secs = (v) => (v === null || v === undefined ? dash : `${Number(v).toFixed(3)} s`);

function cell(text, value) {
  const td = document.createElement("td");
  td.textContent = text;
  if (value !== undefined) td.dataset.value = value === null ? "" : String(value);
  return td;
}

// -- errors -------------------------------------------------------------------------------

function showError(error) {
  const box = $("error");
  const field = error.field ? ` (field ${error.field})` : "";
  box.textContent = `${error.code || "error"}: ${error.message}${field}`;
  box.dataset.code = error.code || "";
  box.hidden = false;
  if (error.field && $(error.field)) $(error.field).setAttribute("aria-invalid", "true");
}

function clearError() {
  $("error").hidden = true;
  document.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

async function action(button, work) {
  clearError();
  button.disabled = true;
  try {
    await work();
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

// -- the scale ----------------------------------------------------------------------------

function describeCost(cost) {
  if (!cost) return dash;
  return `${secs(cost.billable_s)} billable, ${usd(cost.usd)}${cost.estimate ? " (estimate)" : ""}`;
}

async function refreshScale() {
  clearTimeout(view.scaleTimer);
  let scale = null;
  try {
    scale = await request("/v1/scale");
  } catch (error) {
    showError(error);
  }
  if (scale) {
    const state = $("state");
    state.textContent = scale.service ? `${scale.state} (${scale.service}, r=${scale.r})` : scale.state;
    state.dataset.state = scale.state;
    const ready = scale.resources.filter((r) => r.state === "ready").length;
    const replaced = (scale.replacements || []).length;
    const repaired = replaced ? ` (${replaced} replaced after dying)` : "";
    $("ready-count").textContent = scale.r ? `${ready}/${scale.r} resources ready${repaired}` : "";
    $("warm-progress").max = Math.max(scale.r, 1);
    $("warm-progress").value = ready;
    $("warmup-cost").textContent = describeCost(scale.warmup);
    $("cost-to-date").textContent = describeCost(scale.cost_to_date);
    if (scale.error) showError({ code: "scale_failed", message: scale.error });
  }
  const busy = scale && BUSY_STATES.has(scale.state);
  view.scaleTimer = setTimeout(refreshScale, busy ? 500 : 5000);
  return scale;
}

async function warmup(event) {
  event.preventDefault();
  await action($("warmup"), async () => {
    await request("/warmup", { method: "POST", json: { s: $("service").value, r: $("r").value } });
    await refreshScale();
  });
}

async function terminate() {
  await action($("terminate"), async () => {
    await request("/terminate", { method: "POST" });
    await refreshScale();
  });
}

async function reset() {
  await action($("reset"), async () => {
    await request("/reset", { method: "POST" });
    view.run = null;
    $("results-card").hidden = true;
  });
}

// -- the analysis -------------------------------------------------------------------------

function analysisBody() {
  const body = { h: $("h").value, d: $("d").value, t: $("t").value, p: $("p").value };
  for (const name of ["ticker", "start", "end", "seed"]) {
    if ($(name).value !== "") body[name] = $(name).value;
  }
  return body;
}

async function analyse(event) {
  event.preventDefault();
  const progress = $("analyse-progress");
  const started = performance.now();
  const tick = setInterval(() => {
    $("analyse-elapsed").textContent = `running… ${((performance.now() - started) / 1000).toFixed(1)} s`;
  }, 100);
  progress.hidden = false;
  refreshScale();
  try {
    await action($("analyse"), async () => {
      const answer = await request("/analyse", { method: "POST", json: analysisBody() });
      await showRun(answer.run_id);
    });
  } finally {
    clearInterval(tick);
    progress.hidden = true;
    refreshScale();
    refreshAudit();
  }
}

async function showRun(runId) {
  const run = await request(`/v1/runs/${encodeURIComponent(runId)}`);
  view.run = run;
  $("results-card").hidden = false;
  $("run-id").textContent = `run ${run.run_id} · ${run.request.ticker} ${run.request.start}..${run.request.end}, ${run.request.t}`;
  $("sum-signals").textContent = `${run.signals}${run.excluded_signals ? ` (${run.excluded_signals} within the first h days excluded)` : ""}`;
  $("sum-av95").textContent = num(run.av95);
  $("sum-av99").textContent = num(run.av99);
  $("sum-total-pl").textContent = num(run.total_profit_loss, 4);
  $("sum-avg-pl").textContent = num(run.avg_profit_loss, 4);
  $("sum-time").textContent = secs(run.time);
  $("sum-cost").textContent = usd(run.cost);
  $("cost-basis").textContent = run.basis ? `Cost: ${BASIS[run.basis] || run.basis}.` : "";
  fillSignals(run.items);
  drawVarChart($("chart"), run.items, run.av95, run.av99, hover);
  await showChartImage(run);
}

function fillSignals(items) {
  const body = $("signals").tBodies[0];
  body.replaceChildren(...items.map((item, i) => {
    const row = document.createElement("tr");
    row.dataset.index = i;
    row.append(cell(String(i + 1)), cell(item.date, item.date),
      cell(num(item.var95), item.var95), cell(num(item.se95, 6), item.se95),
      cell(num(item.var99), item.var99), cell(num(item.se99, 6), item.se99),
      cell(num(item.profit_loss, 4), item.profit_loss));
    return row;
  }));
}

function hover(index, event) {
  const tooltip = $("tooltip");
  document.querySelectorAll("#signals tr.hover").forEach((row) => row.classList.remove("hover"));
  if (index === null) {
    tooltip.hidden = true;
    return;
  }
  const item = view.run.items[index];
  tooltip.replaceChildren();
  const lines = [
    ["Signal", `${index + 1} of ${view.run.items.length}`], ["Date", item.date],
    ["VaR 95%", `${num(item.var95)} ± ${num(item.se95, 6)}`],
    ["VaR 99%", `${num(item.var99)} ± ${num(item.se99, 6)}`],
    ["P/L", num(item.profit_loss, 4)],
  ];
  for (const [label, text] of lines) {
    const line = document.createElement("div");
    line.innerHTML = "<b></b> <span></span>";
    line.firstChild.textContent = label;
    line.lastChild.textContent = text;
    tooltip.append(line);
  }
  tooltip.dataset.index = index;
  tooltip.hidden = false;
  const figure = $("chart").getBoundingClientRect();
  tooltip.style.left = `${Math.min(event.clientX - figure.left + 12, figure.width - 180)}px`;
  tooltip.style.top = `${event.clientY - figure.top + 12}px`;
  const row = $("signals").tBodies[0].rows[index];
  if (row) row.classList.add("hover");
}

async function showChartImage(run) {
  // Fetched rather than linked so that the token goes with it; shown through an object URL.
  const response = await request(run.chart_path, { raw: true });
  const img = $("chart-img");
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(await response.blob());
  $("chart-link").href = img.src;
}

async function downloadCsv() {
  if (!view.run) return;
  await action($("download"), async () => {
    const response = await request(`/v1/runs/${view.run.run_id}/signals.csv`, { raw: true });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = `signalrisk-${view.run.run_id}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  });
}

// -- the audit ----------------------------------------------------------------------------

const AUDIT_ROWS = 25;

async function refreshAudit() {
  try {
    const total = (await request("/v1/audit?limit=1")).total;
    const page = await request(`/v1/audit?offset=${Math.max(0, total - AUDIT_ROWS)}&limit=${AUDIT_ROWS}`);
    $("audit-total").textContent = `${total} run${total === 1 ? "" : "s"}${total > AUDIT_ROWS ? `, the last ${AUDIT_ROWS} shown` : ""}`;
    const rows = page.items.slice().reverse().map((record) => {
      const row = document.createElement("tr");
      row.dataset.runId = record.run_id;
      row.append(cell(String(record.timestamp).replace("T", " ").slice(0, 19)),
        cell(record.status), cell(record.s), cell(String(record.r)), cell(record.ticker),
        cell(record.t), cell(String(record.h)), cell(String(record.d)), cell(String(record.p)),
        cell(String(record.signals)), cell(num(record.av95), record.av95),
        cell(num(record.av99), record.av99), cell(num(record.profit_loss, 4), record.profit_loss),
        cell(secs(record.time)), cell(usd(record.cost)));
      return row;
    });
    $("audit").tBodies[0].replaceChildren(...rows);
  } catch (error) {
    showError(error);
  }
}

// -- start --------------------------------------------------------------------------------

async function loadInfo() {
  const info = await request("/v1/info");
  view.info = info;
  $("meta").textContent = `platform ${info.platform} · version ${info.version}` +
    (sessionStorage.getItem(TOKEN_KEY) ? " · signed in with a token" : "");
  const tickers = info.tickers.map((t) => t.ticker);
  if (!tickers.includes(info.default_ticker)) tickers.unshift(info.default_ticker);
  $("ticker").replaceChildren(...tickers.map((name) => new Option(name, name)));
  $("ticker").value = info.default_ticker;
  const setWindow = () => {
    const known = info.tickers.find((t) => t.ticker === $("ticker").value);
    $("start").value = known ? known.default_start : "";
    $("end").value = known ? known.last : "";
    $("start").min = $("end").min = known ? known.first : "";
    $("start").max = $("end").max = known ? known.last : "";
  };
  $("ticker").addEventListener("change", setWindow);
  setWindow();
  const setMaxR = () => { $("r").max = info.services[$("service").value].max_r; };
  $("service").addEventListener("change", setMaxR);
  setMaxR();
  $("d").max = info.limits.max_d;
}

async function start() {
  $("warmup-form").addEventListener("submit", warmup);
  $("analyse-form").addEventListener("submit", analyse);
  $("terminate").addEventListener("click", terminate);
  $("reset").addEventListener("click", reset);
  $("download").addEventListener("click", downloadCsv);
  try {
    await loadInfo();
    const scale = await refreshScale();
    if (scale && scale.service) {
      $("service").value = scale.service;
      $("r").value = scale.r;
    }
    await refreshAudit();
    try {
      const last = await request("/v1/runs/last");
      if (last.status === "ok") await showRun(last.run_id);
    } catch (error) {
      if (error.code !== "no_analysis") throw error;
    }
  } catch (error) {
    showError(error);
  }
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", start);
