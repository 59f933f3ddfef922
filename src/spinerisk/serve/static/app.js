// The clinician page: a form built from GET /v1/schema, POST /v1/predict, and the result
// (risk, interval, waterfall of drivers, pathway, red flags). No external scripts.
"use strict";

const state = { schema: null, examples: {} };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function fieldInput(f) {
  if (f.kind === "category" || f.kind === "binary") {
    const select = el("select", { id: "f-" + f.name, name: f.name });
    select.append(el("option", { value: "" }, "not recorded"));
    const levels = f.kind === "binary" ? [["1", "yes"], ["0", "no"]] : f.levels.map((l) => [l, l]);
    for (const [value, text] of levels) select.append(el("option", { value }, text));
    return select;
  }
  const input = el("input", { id: "f-" + f.name, name: f.name, type: "number",
                              min: f.low, max: f.high, step: f.kind === "integer" ? "1" : "any" });
  return input;
}

function buildForm(schema) {
  const groups = $("groups");
  groups.replaceChildren();
  for (const group of schema.groups) {
    const fs = el("fieldset", { class: group.name === "red flags" ? "red-flags" : "" },
                  el("legend", {}, group.name));
    for (const f of group.fields) {
      const hint = [f.unit && f.kind !== "binary" ? f.unit : "", f.allowed].filter(Boolean).join("; ");
      const label = el("label", { for: "f-" + f.name }, f.label + (f.required ? " *" : ""),
                       el("span", { class: "hint" }, hint));
      fs.append(el("div", { class: "field", id: "row-" + f.name }, label, fieldInput(f)));
    }
    groups.append(fs);
  }
}

function readForm() {
  const patient = {};
  for (const group of state.schema.groups) {
    for (const f of group.fields) {
      const raw = $("f-" + f.name).value;
      if (raw === "") continue;
      patient[f.name] = f.kind === "category" ? raw : Number(raw);
    }
  }
  return patient;
}

function fillForm(record) {
  for (const group of state.schema.groups) {
    for (const f of group.fields) {
      const v = record[f.name];
      $("f-" + f.name).value = v === undefined || v === null ? "" : String(v);
    }
  }
}

function clearProblems() {
  document.querySelectorAll(".field.bad").forEach((row) => row.classList.remove("bad"));
  document.querySelectorAll(".field .problem").forEach((p) => p.remove());
}

function showProblems(body) {
  const box = $("errors");
  box.replaceChildren(el("strong", {}, body.detail || "The request was refused."));
  const list = el("ul");
  for (const p of body.problems || []) {
    const text = `${p.field}: ${p.issue}` + (p.value !== undefined && p.value !== null ? ` (value ${p.value})` : "") +
      (p.allowed ? `; allowed: ${p.allowed}` : "") + (p.fix ? `; fix: ${p.fix}` : "");
    list.append(el("li", {}, text));
    const row = $("row-" + p.field);
    if (row) { row.classList.add("bad"); row.append(el("div", { class: "problem" }, text)); }
  }
  box.append(list);
  box.hidden = false;
  $("answer").hidden = true;
  $("result").hidden = false;
}

const pct = (r) => (100 * r < 1 ? (100 * r).toFixed(1) : Math.round(100 * r)) + "%";

function drawWaterfall(expl) {
  const svg = $("waterfall");
  const NS = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const steps = expl.steps;
  const rows = steps.length + 2;
  const width = svg.clientWidth || 600, rowH = 24, left = 250, right = 60;
  svg.setAttribute("viewBox", `0 0 ${width} ${rows * rowH + 10}`);
  svg.style.height = rows * rowH + 10 + "px";
  const risks = [expl.base_risk, ...steps.map((s) => s.risk_after)];
  const lo = Math.min(...risks), hi = Math.max(...risks);
  const pad = Math.max(0.02, (hi - lo) * 0.1);
  const x0 = Math.max(0, lo - pad), x1 = Math.min(1, hi + pad);
  const x = (r) => left + ((r - x0) / (x1 - x0)) * (width - left - right);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  const bar = (i, a, b, cls, label, value) => {
    const y = i * rowH + 4;
    add("text", { x: 4, y: y + 14 }, label.length > 40 ? label.slice(0, 39) + "…" : label);
    add("rect", { x: Math.min(x(a), x(b)), y, width: Math.max(2, Math.abs(x(b) - x(a))), height: rowH - 8, class: cls });
    add("text", { x: Math.max(x(a), x(b)) + 4, y: y + 14 }, value);
  };
  bar(0, x0, expl.base_risk, "total", "Average prediction", pct(expl.base_risk));
  steps.forEach((s, i) => {
    const delta = s.risk_after - s.risk_before;
    bar(i + 1, s.risk_before, s.risk_after, delta >= 0 ? "up" : "down", s.phrase,
        (delta >= 0 ? "+" : "−") + (100 * Math.abs(delta)).toFixed(1) + " pts");
  });
  bar(steps.length + 1, x0, expl.model_risk, "total", "This patient", pct(expl.model_risk));
}

function showAnswer(res) {
  $("errors").hidden = true;
  $("risk-label").textContent = "Predicted " + res.outcome;
  $("risk").textContent = pct(res.risk);
  const iv = res.interval;
  $("interval").textContent = iv ? `${pct(iv.low)} – ${pct(iv.high)}: ${iv.label} (${iv.method})` : "no interval available";
  $("model").textContent = `${res.model.name} v${res.model.version} (${res.model.alias || "loaded"}), ${res.model.learner}`;
  const pw = res.pathway;
  const flags = $("red-flags");
  flags.replaceChildren();
  if (pw.red_flags.length) {
    flags.append(el("div", { class: "red-flag" }, "RED FLAGS: " + pw.red_flags.map((f) => f.label).join("; ") +
      (pw.urgent_triage ? " — urgent triage" : "")));
  } else {
    flags.append(el("div", {}, "No red flags recorded."));
  }
  const supported = pw.phenotypes.filter((p) => p.status === "supported").map((p) => p.name);
  $("phenotypes").textContent = supported.length ? supported.join(", ") : "none supported";
  $("step").textContent = pw.diagnostic_steps.length ? pw.diagnostic_steps.map((s) => s.step).join("; ") : "none";
  const c = pw.concordance;
  $("concordance").textContent = c.procedure ? `${c.procedure}: ${c.label} — ${c.explanation}` : "none recorded";
  $("candidates").textContent = pw.candidate_interventions.length ? pw.candidate_interventions.map((x) => x.procedure).join(", ") : "none";
  const ood = res.out_of_distribution;
  $("ood").hidden = !ood.warning;
  $("ood").textContent = ood.warning ? "Outside the training data: " + ood.variables.map((v) => v.reason).join("; ") : "";
  drawWaterfall(res.explanation);
  $("sentences").replaceChildren(...res.explanation.steps.map((s) => el("li", {}, s.sentence)));
  $("explain-note").textContent = res.explanation.note;
  const notes = [];
  if (pw.not_assessed.length) notes.push("Not assessed (missing findings): " + pw.not_assessed.map((n) => n.label).join("; "));
  if (ood.never_missing.length) notes.push("Left empty although recorded for every training patient: " + ood.never_missing.join(", "));
  $("not-assessed").textContent = notes.join(". ");
  $("result-notice").textContent = res.notice;
  $("answer").hidden = false;
  $("result").hidden = false;
}

async function submit(event) {
  event.preventDefault();
  clearProblems();
  sessionStorage.setItem("spinerisk-key", $("api-key").value);
  const response = await fetch("/v1/predict", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-API-Key": $("api-key").value },
    body: JSON.stringify({ patient: readForm() }),
  });
  const body = await response.json();
  if (response.ok) showAnswer(body); else showProblems(body);
}

async function start() {
  state.schema = await (await fetch("/v1/schema")).json();
  state.examples = state.schema.examples || {};
  buildForm(state.schema);
  for (const name of Object.keys(state.examples)) $("example").append(el("option", { value: name }, name));
  $("api-key").value = sessionStorage.getItem("spinerisk-key") || "";
  $("load-example").addEventListener("click", () => fillForm(state.examples[$("example").value] || {}));
  $("clear").addEventListener("click", () => fillForm({}));
  $("patient-form").addEventListener("submit", submit);
  document.body.dataset.ready = "1";
}

start();
