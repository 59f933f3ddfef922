// A self-contained rendering of /openapi.json (the machines are offline: no Swagger CDN).
"use strict";

async function render() {
  const spec = await (await fetch("/openapi.json")).json();
  const ops = document.getElementById("ops");
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const box = document.createElement("div");
      box.className = "op";
      const head = document.createElement("div");
      head.innerHTML = `<span class="method"></span><code></code>`;
      head.querySelector(".method").textContent = method;
      head.querySelector("code").textContent = path;
      const summary = document.createElement("p");
      summary.textContent = op.description || op.summary || "";
      const responses = document.createElement("p");
      responses.textContent = "Responses: " + Object.entries(op.responses || {})
        .map(([code, r]) => `${code} ${r.description}`).join("; ");
      box.append(head, summary, responses);
      const body = op.requestBody && op.requestBody.content["application/json"];
      if (body) {
        const pre = document.createElement("pre");
        pre.textContent = JSON.stringify(body.schema, null, 2);
        box.append(pre);
      }
      ops.append(box);
    }
  }
  const schemas = document.createElement("pre");
  schemas.textContent = JSON.stringify((spec.components || {}).schemas || {}, null, 2);
  ops.append(Object.assign(document.createElement("h2"), { textContent: "Schemas" }), schemas);
}

render();
