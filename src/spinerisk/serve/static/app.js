// The clinician page: a form built from GET /v1/schema, POST /v1/predict, and the result
// (risk, interval, waterfall of drivers, pathway, red flags). No external scripts, no
// inline script or style (the server's Content-Security-Policy forbids both).
"use strict";

const state = { schema: null, examples: {}, fields: {}, last: null };
const $ = (id) => document.getElementById(id);
const NS = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// Typography for text written with ASCII operators in the contract and the wording.
const nice = (text) => String(text).replace(/>=/g, "≥").replace(/<=/g, "≤");
const fieldLabel = (name) => (state.fields[name] ? nice(state.fields[name].label) : name.replace(/_/g, " "));
const levelLabel = (field, code) => {
  const f = state.fields[field];
  return (f && f.level_labels && f.level_labels[code]) || String(code).replace(/_/g, " ");
};
const procedureName = (code) => levelLabel("procedure", code);
// Procedure codes inside pathway text (e.g. a concordance explanation) read as their names;
// only snake_case codes, so that an English word such as "mild" is never rewritten.
const namedProcedures = (text) => nice(text).replace(/\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b/g,
  (word) => (state.fields.procedure.level_labels[word] ? procedureName(word) : word));

// ------------------------------------------------------------------ the form

function fieldInput(f) {
  if (f.kind === "category" || f.kind === "binary") {
    const select = el("select", { id: "f-" + f.name, name: f.name });
    select.append(el("option", { value: "" }, "not recorded"));
    const levels = f.kind === "binary" ? [["1", "yes"], ["0", "no"]]
      : f.levels.map((code) => [code, levelLabel(f.name, code)]);
    for (const [value, text] of levels) select.append(el("option", { value }, text));
    return select;
  }
  return el("input", { id: "f-" + f.name, name: f.name, type: "number", inputmode: "decimal",
                       min: f.low, max: f.high, step: f.kind === "integer" ? "1" : "any" });
}

const allowedText = (f) => (f.kind === "category" || f.kind === "binary" ? "" : nice(f.allowed));

function buildForm(schema) {
  const groups = $("groups");
  groups.replaceChildren();
  for (const group of schema.groups) {
    const fs = el("fieldset", { class: group.name === "red flags" ? "red-flags" : "" },
                  el("legend", {}, group.name));
    for (const f of group.fields) {
      const label = el("label", { for: "f-" + f.name }, nice(f.label) + (f.required ? " *" : ""),
                       el("span", { class: "hint" }, allowedText(f)));
      fs.append(el("div", { class: "field", id: "row-" + f.name }, label, fieldInput(f)));
    }
    groups.append(fs);
  }
}

function allFields() {
  return state.schema.groups.flatMap((g) => g.fields);
}

// The record, and the problems the page can see before sending: required fields left
// empty, and numbers the browser cannot read (it would otherwise send them as missing).
function readForm() {
  const patient = {}, problems = [];
  for (const f of allFields()) {
    const input = $("f-" + f.name);
    const raw = input.value;
    if (input.validity && input.validity.badInput) {
      problems.push({ field: f.name, issue: "not a number the page can read", allowed: f.allowed });
      continue;
    }
    if (raw === "") {
      if (f.required) problems.push({ field: f.name, issue: "required, but empty", allowed: f.allowed });
      continue;
    }
    const value = f.kind === "category" ? raw : Number(raw);
    if (typeof value === "number" && !Number.isFinite(value)) {
      problems.push({ field: f.name, issue: "not a finite number", allowed: f.allowed });
      continue;
    }
    patient[f.name] = value;
  }
  return { patient, problems };
}

function fillForm(record) {
  clearProblems();
  for (const f of allFields()) {
    const v = record[f.name];
    $("f-" + f.name).value = v === undefined || v === null ? "" : String(v);
  }
}

// ------------------------------------------------------------------ result states

function clearProblems() {
  document.querySelectorAll(".field.bad").forEach((row) => row.classList.remove("bad"));
  document.querySelectorAll(".field .problem").forEach((p) => p.remove());
}

function showResultPanel(focus) {
  $("result").hidden = false;
  $("to-result").hidden = false;
  if (focus) {
    $("result").scrollIntoView({ block: "start" });
    $("result").focus({ preventScroll: true });
  }
}

// Every state replaces the previous one: a stale answer never stays on screen.
function showOnly(which) {
  for (const id of ["status", "errors", "answer"]) $(id).hidden = id !== which;
}

function showStatus(text) {
  $("status").textContent = text;
  showOnly("status");
  showResultPanel(false);
}

function problemText(p) {
  const known = Boolean(state.fields[p.field]);
  const name = known ? fieldLabel(p.field) : (p.field === "<body>" ? "Request" : p.field);
  let text = `${name}: ${nice(p.issue)}`;
  if (p.value !== undefined && p.value !== null && p.value !== "") text += ` (entered ${levelOrValue(p.field, p.value)})`;
  if (p.allowed) text += `. Allowed: ${allowedWords(p.field, p.allowed)}`;
  if (!known && p.fix) text += `. ${p.fix}`;
  return text + ".";
}

function levelOrValue(field, value) {
  const f = state.fields[field];
  return f && f.kind === "category" ? levelLabel(field, value) : value;
}

function allowedWords(field, allowed) {
  const f = state.fields[field];
  if (f && f.kind === "category") return f.levels.map((c) => levelLabel(field, c)).join(", ");
  if (f && f.kind === "binary") return "yes or no";
  return nice(allowed);
}

function showProblems(detail, problems, hint) {
  const box = $("errors");
  box.replaceChildren(el("strong", {}, detail));
  const list = el("ul");
  for (const p of problems) {
    const text = problemText(p);
    list.append(el("li", {}, text));
    const row = $("row-" + p.field);
    if (row) { row.classList.add("bad"); row.append(el("div", { class: "problem" }, text)); }
  }
  box.append(list);
  if (hint) box.append(el("p", {}, hint));
  showOnly("errors");
  showResultPanel(true);
}

function showFailure(title, hint) {
  showProblems(title, [], hint);
}

const pct = (r) => (100 * r < 1 ? (100 * r).toFixed(1) : Math.round(100 * r)) + "%";

function showAnswer(res) {
  const outcome = (state.schema.outcomes || {})[res.task] || { higher_is_better: false };
  $("risk-label").textContent = "Predicted " + nice(res.outcome);
  $("risk").textContent = pct(res.risk);
  const iv = res.interval;
  $("interval").textContent = iv ? `${pct(iv.low)} – ${pct(iv.high)}: ${iv.label} (${iv.method})` : "no interval available";
  $("model").textContent = `${res.model.name} v${res.model.version} (${res.model.alias || "loaded"}), ${res.model.learner}`;
  const pw = res.pathway;
  const flags = $("red-flags");
  flags.replaceChildren();
  if (pw.red_flags.length) {
    flags.append(el("div", { class: "red-flag" }, "RED FLAGS: " + pw.red_flags.map((f) => nice(f.label)).join("; ") +
      (pw.urgent_triage ? " — urgent triage" : "")));
  } else {
    flags.append(el("div", {}, "No red flags recorded."));
  }
  const supported = pw.phenotypes.filter((p) => p.status === "supported").map((p) => (state.schema.phenotype_labels || {})[p.name] || p.name.replace(/_/g, " "));
  $("phenotypes").textContent = supported.length ? supported.join(", ") : "none supported";
  $("step").textContent = pw.diagnostic_steps.length ? pw.diagnostic_steps.map((s) => namedProcedures(s.step)).join("; ") : "none";
  const c = pw.concordance;
  $("concordance").textContent = c.procedure ? `${procedureName(c.procedure)}: ${c.status || c.label} — ${namedProcedures(c.explanation)}` : "none recorded";
  $("candidates").textContent = pw.candidate_interventions.length
    ? pw.candidate_interventions.map((x) => procedureName(x.procedure)).join("; ") : "none";
  const ood = res.out_of_distribution;
  $("ood").hidden = !ood.warning;
  $("ood").textContent = ood.warning ? "Outside the training data: " + ood.variables.map((v) => nice(v.reason)).join("; ") : "";
  $("legend").replaceChildren(
    el("span", { class: "swatch better" }), " better for the patient  ",
    el("span", { class: "swatch worse" }), " worse for the patient  ",
    el("span", { class: "swatch total" }), " average and this patient");
  $("sentences").replaceChildren(...res.explanation.steps.map((s) => el("li", {}, nice(s.sentence))));
  $("explain-note").textContent = nice(res.explanation.note);
  const notes = [];
  if (pw.not_assessed.length) notes.push("Not assessed (missing findings): " + pw.not_assessed.map((n) => nice(n.label)).join("; "));
  if (ood.never_missing.length) notes.push("Left empty although recorded for every training patient: " + ood.never_missing.map(fieldLabel).join(", "));
  // a model developed on multiply imputed data fills what is missing: say which findings
  if (res.imputed && res.imputed.length) notes.push("Not recorded, so imputed for the risk and its range: " + res.imputed.map(fieldLabel).join(", "));
  $("not-assessed").textContent = notes.join(". ");
  $("result-notice").textContent = res.notice;
  showOnly("answer");
  showResultPanel(true);
  state.last = { explanation: res.explanation, higherIsBetter: outcome.higher_is_better, outcome: res.outcome };
  drawWaterfall();  // after the answer is visible, so the chart is sized to its box
}

// ------------------------------------------------------------------ waterfall

function niceStep(span) {
  for (const step of [0.01, 0.02, 0.05, 0.1, 0.2, 0.25]) if (span / step <= 5) return step;
  return 0.25;
}

function wrapText(svg, text, x, y, width, lineH) {
  // Word-wrap into tspans measured by the browser (the chart is visible when drawn).
  const node = document.createElementNS(NS, "text");
  node.setAttribute("x", x);
  node.setAttribute("y", y);
  svg.append(node);
  let line = document.createElementNS(NS, "tspan");
  line.setAttribute("x", x);
  node.append(line);
  let lines = 1;
  for (const word of text.split(/\s+/)) {
    const before = line.textContent;
    line.textContent = before ? before + " " + word : word;
    if (before && line.getComputedTextLength() > width) {
      line.textContent = before;
      line = document.createElementNS(NS, "tspan");
      line.setAttribute("x", x);
      line.setAttribute("dy", lineH);
      line.textContent = word;
      node.append(line);
      lines += 1;
    }
  }
  return lines;
}

function drawWaterfall() {
  const svg = $("waterfall");
  svg.replaceChildren();
  if (!state.last || $("answer").hidden) return;
  const { explanation: expl, higherIsBetter, outcome } = state.last;
  const width = Math.max(240, $("chart-box").clientWidth);
  const narrow = width < 560;  // phones: each label on its own line above its bar
  const lineH = 14, barH = 14, gap = 8, top = 6, axisH = 34, valueW = 64;
  const labelW = narrow ? width - 8 : Math.min(300, Math.round(width * 0.4));
  const plotL = narrow ? 16 : labelW + 16, plotR = width - valueW;  // room for the "0%" tick
  const risks = [expl.base_risk, expl.model_risk, ...expl.steps.map((s) => s.risk_after)];
  const step = niceStep(Math.max(...risks) * 1.05);
  const xmax = Math.max(step, Math.ceil((Math.max(...risks) * 1.05) / step) * step);
  const x = (r) => plotL + (r / xmax) * (plotR - plotL);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  const rows = [{ label: "Average prediction", a: 0, b: expl.base_risk, cls: "total", value: pct(expl.base_risk) }];
  for (const s of expl.steps) {
    const delta = s.risk_after - s.risk_before;
    const good = (delta > 0) === Boolean(higherIsBetter);
    rows.push({ label: nice(s.phrase), a: s.risk_before, b: s.risk_after, cls: good ? "better" : "worse",
                value: (delta >= 0 ? "+" : "−") + (100 * Math.abs(delta)).toFixed(1) + " pts" });
  }
  rows.push({ label: "This patient", a: 0, b: expl.model_risk, cls: "total", value: pct(expl.model_risk) });
  let y = top;
  const bars = [];
  for (const row of rows) {
    const lines = wrapText(svg, row.label, 4, y + lineH - 3, labelW, lineH);
    const barY = narrow ? y + lines * lineH + 2 : y + Math.max(0, (lines * lineH - barH) / 2);
    bars.push({ ...row, y: barY });
    y = Math.max(y + lines * lineH, barY + barH) + (narrow ? gap + 4 : gap);
  }
  const axisY = y;
  for (let t = 0; t <= xmax + 1e-9; t += step) {
    add("line", { x1: x(t), x2: x(t), y1: top, y2: axisY, class: "grid" });
    add("text", { x: x(t), y: axisY + 14, class: "tick" }, Math.round(100 * t) + "%");
  }
  add("line", { x1: plotL, x2: plotR, y1: axisY, y2: axisY, class: "axis" });
  add("text", { x: (plotL + plotR) / 2, y: axisY + 30, class: "axis-title" }, "Predicted " + nice(outcome));
  for (const b of bars) {
    const left = Math.min(x(b.a), x(b.b));
    add("rect", { x: left, y: b.y, width: Math.max(2, Math.abs(x(b.b) - x(b.a))), height: barH, class: b.cls });
    add("text", { x: Math.max(x(b.a), x(b.b)) + 4, y: b.y + barH - 3, class: "value" }, b.value);
  }
  const height = axisY + axisH;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
}

// ------------------------------------------------------------------ request

async function submit(event) {
  event.preventDefault();
  clearProblems();
  const { patient, problems } = readForm();
  if (problems.length) {
    showProblems("Not sent: please complete or correct these fields first.", problems);
    return;
  }
  sessionStorage.setItem("spinerisk-key", $("api-key").value);
  showStatus("Computing…");
  let response, body = null;
  try {
    response = await fetch("/v1/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-API-Key": $("api-key").value },
      body: JSON.stringify({ patient }),
    });
  } catch (err) {
    showFailure("The server could not be reached.", "Check the connection and that the server is running, then press Predict again.");
    return;
  }
  try { body = await response.json(); } catch (err) { body = null; }
  if (response.ok && body && body.risk !== undefined) {
    showAnswer(body);
  } else if (body && Array.isArray(body.problems)) {
    const hint = response.status === 401 ? "Enter the API key you were given at the top of the form." : "";
    showProblems(nice(body.detail), body.problems, hint);
  } else {
    showFailure(`The server answered with an error (HTTP ${response.status}) and no result.`,
                "No prediction is shown. Try again; if it persists, tell the team running the server.");
  }
}

async function start() {
  state.schema = await (await fetch("/v1/schema")).json();
  state.examples = state.schema.examples || {};
  state.fields = Object.fromEntries(allFields().map((f) => [f.name, f]));
  buildForm(state.schema);
  for (const name of Object.keys(state.examples)) $("example").append(el("option", { value: name }, name));
  $("api-key").value = sessionStorage.getItem("spinerisk-key") || "";
  $("load-example").addEventListener("click", () => fillForm(state.examples[$("example").value] || {}));
  $("clear").addEventListener("click", () => fillForm({}));
  $("patient-form").addEventListener("submit", submit);
  $("to-result").addEventListener("click", () => showResultPanel(true));
  $("to-form").addEventListener("click", () => $("entry").scrollIntoView({ block: "start" }));
  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(drawWaterfall, 100);
  });
  document.body.dataset.ready = "1";
}

start();
