// Projects (thesis C.1): every visible project with its phase, stage, reason, node, tags and age.
// Polled every second and patched row by row, so a change shows within 2 s without a reload and a
// table of a thousand projects stays cheap; filters only hide rows.

import { api } from "./api.js";
import { add, age, clear, h, message, needsHuman, phaseBadge } from "./dom.js";
import { link } from "./router.js";
import { plainReason } from "./reason.js";
import { every } from "./poll.js";

const ATTENTION = "attention";

function nodeOfRuns(nodes) {
  const where = new Map();
  for (const node of nodes.items || []) {
    for (const run of node.status.running || []) where.set(run, node.metadata.name);
  }
  return where;
}

function facts(project, where) {
  const status = project.status || {};
  const runs = status.stageRuns || [];
  const active = runs.filter((r) => r.phase === "Running" || r.phase === "Pending");
  const node = active.map((r) => where.get(r.name)).find(Boolean) || "";
  return {
    name: project.metadata.name,
    phase: status.phase || "Unknown",
    stage: status.currentStage || "",
    reason: plainReason(status.reason),
    node,
    tags: project.spec.tags || [],
    created: project.metadata.creationTimestamp,
    pipeline: project.spec.pipeline || "",
    human: needsHuman(status),
    bad: ["failed", "invalid"].includes(String(status.phase || "").toLowerCase()),
    status,
  };
}

function rowOf(f) {
  return h(
    "tr",
    { class: f.bad ? "row-bad" : f.human ? "row-human" : "", dataset: { name: f.name } },
    h("th", { scope: "row" }, h("a", { href: link(["projects", f.name]) }, f.name)),
    h("td", { dataset: { label: "Phase" } }, phaseBadge(f.phase, f.status)),
    h("td", { dataset: { label: "Stage" } }, f.stage || "–"),
    h("td", { class: "reason", dataset: { label: "Reason" } }, f.reason),
    h("td", { dataset: { label: "Node" } }, f.node || "–"),
    h("td", { dataset: { label: "Tags" } }, f.tags.length ? h("span", {}, f.tags.map((t) => h("span", { class: "tag" }, t))) : null),
    h("td", { class: "num", dataset: { label: "Age" } }, age(f.created)),
  );
}

function signature(f) {
  return JSON.stringify([f.phase, f.stage, f.reason, f.node, f.tags, f.human]);
}

export async function render({ root, query, alive }) {
  document.title = "Projects · Winslow";
  const text = h("input", { type: "search", placeholder: "name, pipeline, reason, tag", value: query.get("q") || "", "aria-label": "Filter by text" });
  const phase = h("select", { "aria-label": "Filter by phase" }, h("option", { value: "" }, "All phases"));
  const tag = h("select", { "aria-label": "Filter by tag" }, h("option", { value: "" }, "All tags"));
  const summary = h("div", { class: "summary", "aria-live": "polite" });
  const problem = h("div");
  const tbody = h("tbody");
  const empty = h("p", { class: "muted empty", hidden: true }, "No project matches.");
  const table = h(
    "table",
    { class: "grid projects" },
    h("caption", { class: "sr-only" }, "Projects"),
    h(
      "thead",
      {},
      h("tr", {}, ["Project", "Phase", "Stage", "Reason", "Node", "Tags", "Age"].map((t) => h("th", { scope: "col" }, t))),
    ),
    tbody,
  );
  add(root, 
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Projects"),
      h("a", { class: "button primary", href: link(["pipelines"]) }, "New project…"),
    ),
    summary,
    h("div", { class: "filters", role: "search" }, text, phase, tag),
    problem,
    h("div", { class: "table-wrap" }, table),
    empty,
  );

  const rows = new Map(); // name -> {tr, sig, facts}
  let known = { phases: new Set(), tags: new Set() };

  function syncOptions(select, values, current, extra = []) {
    const wanted = [...extra, ...[...values].sort().map((v) => [v, v])];
    const have = [...select.options].slice(1).map((o) => o.value).join("\n");
    if (have === wanted.map((w) => w[0]).join("\n")) return;
    select.replaceChildren(select.options[0], ...wanted.map(([v, label]) => h("option", { value: v }, label)));
    select.value = current;
  }

  function visible(f) {
    const q = text.value.trim().toLowerCase();
    if (phase.value === ATTENTION && !(f.bad || f.human)) return false;
    if (phase.value && phase.value !== ATTENTION && f.phase !== phase.value) return false;
    if (tag.value && !f.tags.includes(tag.value)) return false;
    if (!q) return true;
    return [f.name, f.pipeline, f.reason, f.stage, f.node, ...f.tags].some((v) => v.toLowerCase().includes(q));
  }

  let address = null;
  function applyFilters() {
    let shown = 0;
    for (const entry of rows.values()) {
      const show = visible(entry.facts);
      if (entry.tr.hidden === show) entry.tr.hidden = !show; // only what changed: 1,000 rows poll each second
      shown += show;
    }
    const none = shown > 0 || rows.size === 0;
    if (empty.hidden !== none) empty.hidden = none;
    const params = {};
    if (text.value) params.q = text.value;
    if (phase.value) params.phase = phase.value;
    if (tag.value) params.tag = tag.value;
    const wanted = link(["projects"], params);
    // a refresh that ends after the user moved on must not take the address back to this page
    if (wanted !== address && alive()) history.replaceState(null, "", wanted);
    address = wanted;
  }

  let summarised = null;
  function summarise(all) {
    const counts = {};
    let attention = 0;
    for (const f of all) {
      counts[f.phase] = (counts[f.phase] || 0) + 1;
      attention += f.bad || f.human ? 1 : 0;
    }
    const key = JSON.stringify([all.length, counts, attention]);
    if (key === summarised) return; // unchanged: no DOM write, no restyle of the page
    summarised = key;
    clear(summary);
    add(summary, 
      h("span", {}, `${all.length} project${all.length === 1 ? "" : "s"}`),
      ...Object.entries(counts).sort().map(([p, n]) =>
        h("button", { type: "button", class: "chip", onclick: () => { phase.value = p; applyFilters(); } }, phaseBadge(p), ` ${n}`),
      ),
      attention
        ? h("button", { type: "button", class: "chip attention", onclick: () => { phase.value = ATTENTION; applyFilters(); } }, `⚑ ${attention} need${attention === 1 ? "s" : ""} attention`)
        : null,
    );
  }

  async function refresh() {
    const [projects, nodes] = await Promise.all([api.get("/api/v1/projects"), api.get("/api/v1/nodes")]);
    const where = nodeOfRuns(nodes);
    const all = (projects.items || []).map((p) => facts(p, where));
    const seen = new Set();
    const first = rows.size === 0;
    const fragment = document.createDocumentFragment();
    let previous = null;
    for (const f of all) {
      seen.add(f.name);
      known.phases.add(f.phase);
      f.tags.forEach((t) => known.tags.add(t));
      const sig = signature(f);
      let entry = rows.get(f.name);
      if (!entry) {
        entry = { tr: rowOf(f), sig, facts: f };
        rows.set(f.name, entry);
        if (first) add(fragment, entry.tr);
        else if (previous) previous.after(entry.tr);
        else tbody.prepend(entry.tr);
      } else if (entry.sig !== sig) {
        const tr = rowOf(f);
        entry.tr.replaceWith(tr);
        Object.assign(entry, { tr, sig, facts: f });
      } else {
        entry.facts = f;
        const shown = age(f.created);
        const cell = entry.tr.lastElementChild;
        if (cell.textContent !== shown) cell.textContent = shown; // a write restyles the whole table
      }
      const hide = !visible(f);
      if (entry.tr.hidden !== hide) entry.tr.hidden = hide;
      previous = entry.tr;
    }
    if (first) add(tbody, fragment);
    for (const [name, entry] of rows) {
      if (!seen.has(name)) {
        entry.tr.remove();
        rows.delete(name);
      }
    }
    syncOptions(phase, known.phases, query.get("phase") && !phase.value ? query.get("phase") : phase.value, [[ATTENTION, "Needs attention"]]);
    syncOptions(tag, known.tags, query.get("tag") && !tag.value ? query.get("tag") : tag.value);
    summarise(all);
    applyFilters();
    if (!all.length) {
      empty.hidden = false;
      empty.textContent = "No projects yet: create one from a pipeline.";
    }
    root.dataset.ready = "true";
  }

  for (const el of [text, phase, tag]) el.addEventListener("input", applyFilters);
  return every(1000, refresh, (error) => {
    clear(problem);
    if (error) add(problem, message("error", `cannot refresh: ${error.message}`));
  });
}
