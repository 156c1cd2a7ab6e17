// Nodes (thesis C.10, C.11): every node's capacity, reservations, load now and over the last hour.

import { api } from "./api.js";
import { add, age, bytes, clear, fill, h, message, rate } from "./dom.js";
import { lineChart } from "./chart.js";
import { link } from "./router.js";
import { every } from "./poll.js";

function meter(label, used, total, format) {
  const ratio = total ? Math.min(1, used / total) : 0;
  return h(
    "div",
    { class: "meter" },
    h("div", { class: "meter-label" }, h("span", {}, label), h("span", { class: "muted" }, `${format(used)} of ${format(total)} (${Math.round(ratio * 100)}%)`)),
    h("progress", { max: 100, value: Math.round(ratio * 100), "aria-label": `${label}: ${Math.round(ratio * 100)}%` }),
  );
}

function cores(list) {
  return h(
    "div",
    { class: "cores", role: "img", "aria-label": `CPU per core: ${list.map((c) => `${Math.round(c)}%`).join(", ")}` },
    list.map((c, i) => h("div", { class: "core", title: `core ${i}: ${Math.round(c)}%` }, h("div", { class: "core-fill", dataset: { level: Math.min(10, Math.round(c / 10)) } }), h("span", {}, `${Math.round(c)}`))),
  );
}

// As a stage's nodeSelector names them (`winslow node --label gpu=a100`).
function labels(map) {
  const pairs = Object.entries(map || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return pairs.length ? pairs.map(([k, v]) => `${k}=${v}`).join(", ") : "none";
}

function card(node, now) {
  const s = node.status;
  const u = s.utilisation || {};
  const lost = s.ready === false; // the node that answers tells (api/routes/nodes.py)
  const hist = s.history;
  const hasGpu = Boolean((s.capacity || {}).gpu || (s.gpus || []).length); // no GPU line without a GPU
  const perCore = u.cpuPercentPerCore || [];
  const cpuMean = perCore.length ? perCore.reduce((a, b) => a + b, 0) / perCore.length : 0;
  const charts = hist
    ? [
        lineChart({ title: hasGpu ? "CPU and GPU" : "CPU", series: [{ name: "cpu", values: hist.cpu }, hasGpu ? { name: "gpu", values: hist.gpu || [] } : null].filter(Boolean), start: hist.start, step: hist.step, max: 1, format: (v) => `${Math.round(v * 100)}%` }),
        lineChart({ title: "Memory", series: [{ name: "used", values: hist.memory }], start: hist.start, step: hist.step, max: s.capacity.memory || undefined, format: bytes }),
        lineChart({ title: "Network", series: [{ name: "in", values: hist.netIn }, { name: "out", values: hist.netOut }], start: hist.start, step: hist.step, format: rate }),
        lineChart({ title: "Disk", series: [{ name: "read", values: hist.diskRead }, { name: "write", values: hist.diskWrite }], start: hist.start, step: hist.step, format: rate }),
      ]
    : [h("p", { class: "muted" }, "No history published yet.")];
  return h(
    "article",
    { class: `node card ${lost ? "lost" : ""}`, "aria-labelledby": `node-${node.metadata.name}` },
    h(
      "header",
      {},
      h("h2", { id: `node-${node.metadata.name}` }, node.metadata.name),
      lost
        ? h("span", { class: "badge bad", title: s.condition || "" }, `✖ not ready ${s.notReadySince ? `for ${age(s.notReadySince, now)}` : ""}`)
        : h("span", { class: "badge ok" }, "✔ ready"),
      s.executes === false ? h("span", { class: "badge other" }, "observer") : null,
      h("span", { class: "muted" }, ` heartbeat ${age(s.heartbeat, now)} ago`),
    ),
    h(
      "div",
      { class: "node-grid" },
      h(
        "div",
        {},
        meter("CPU reserved", s.reservations.cpu || 0, s.capacity.cpu, (v) => `${Number(v).toFixed(1).replace(/\.0$/, "")}`),
        meter("Memory reserved", s.reservations.memory || 0, s.capacity.memory, bytes),
        s.capacity.gpu ? meter("GPUs reserved", s.reservations.gpu || 0, s.capacity.gpu, String) : h("p", { class: "muted small" }, "No GPUs."),
        meter("Memory in use", u.memoryUsed || 0, s.capacity.memory, bytes),
        h("div", { class: "meter-label" }, h("span", {}, "CPU per core"), h("span", { class: "muted" }, `mean ${Math.round(cpuMean)}%`)),
        cores(perCore),
        (s.gpus || []).map((g) => h("p", { class: "small" }, `GPU ${g.index}: ${g.model} · ${g.utilisation ?? "–"}% · ${bytes(g.memoryUsedBytes || 0)} of ${bytes(g.memoryBytes)}`)),
        h(
          "dl",
          { class: "facts compact" },
          h("dt", {}, "Network"), h("dd", {}, `↓ ${rate(u.netRecvPerSecond)} ↑ ${rate(u.netSentPerSecond)}`),
          h("dt", {}, "Disk"), h("dd", {}, `read ${rate(u.diskReadPerSecond)} · write ${rate(u.diskWritePerSecond)} · ${bytes(u.diskFree)} free`),
          h("dt", {}, "Running"), h("dd", {}, (s.running || []).length ? s.running.map((r) => h("a", { class: "run", href: link(["projects", r.split(".")[0], "logs"], { run: r }) }, r)) : "nothing"),
          h("dt", {}, "Labels"), h("dd", {}, labels(node.metadata.labels)),
          h("dt", {}, "Up since"), h("dd", {}, s.started ? `${age(s.started, now)}` : "–"),
        ),
      ),
      h("div", { class: "charts" }, charts),
    ),
  );
}

export async function render({ root }) {
  document.title = "Nodes · Winslow";
  const list = h("div", { class: "nodes" });
  const problem = h("div");
  add(root, 
    h("div", { class: "page-head" }, h("h1", {}, "Nodes")),
    h("p", { class: "muted" }, "Capacity, what running stages reserved, and the load of the last hour, as each node publishes it."),
    problem,
    list,
  );
  return every(2000, async () => {
    const data = await api.get("/api/v1/nodes");
    const now = Date.now();
    const items = data.items || [];
    fill(list, ...items.map((n) => card(n, now)));
    if (!items.length) add(list, h("p", { class: "muted" }, "No node has published its status."));
    root.dataset.ready = "true";
  }, (error) => {
    clear(problem);
    if (error) add(problem, message("error", error.message));
  });
}
