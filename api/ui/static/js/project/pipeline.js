// The pipeline tab: the pipeline as a graph (a box per stage, in columns by the depth of its
// needs, arrows for needs), then the stages the project snapshotted when it started (or its own).
// A stage's `needs` is read where it exists; absent, a stage needs the one before it, so today's
// pipelines draw as a line and a DAG only adds data.

import { bytes, duration, fill, h, needsHuman, phaseBadge, svg } from "../dom.js";
import { link } from "../router.js";
import { runNumber, runSeconds } from "./runs.js";

export function pipeline({ name, body, state }) {
  let key = "";
  const graphHost = h("div");
  const details = h("div");
  fill(body, graphHost, details);
  const graph = pipelineGraph(name, graphHost);
  body.refresh = () => {
    const s = state.project.status || {};
    const snapshot = s.pipeline;
    const stages = snapshot ? snapshot.stages || [] : state.project.spec.stages || [];
    graph.update(stages, s, state.runs);
    const k = JSON.stringify(snapshot || state.project.spec.stages || null) + (s.currentStage || "");
    if (k === key) return;
    key = k;
    fill(details,
      h("h2", {}, snapshot ? `Pipeline ${snapshot.name || ""} as snapshotted when the project started` : "Pipeline (not started yet)"),
      !snapshot && state.project.spec.pipeline
        ? h("p", { class: "muted" }, "The project snapshots ", h("a", { href: link(["pipelines", state.project.spec.pipeline]) }, state.project.spec.pipeline), " when it starts.")
        : null,
      h("ol", { class: "stages" }, stages.map((st) => stage(st, s.currentStage))),
    );
  };
  body.refresh();
  return () => graph.stop();
}

// What each stage needs: its `needs` where given (a name or a list), else the stage before it.
export function needsOf(stages) {
  const names = new Set(stages.map((st) => st.name));
  return stages.map((st, i) => {
    if (st.needs !== undefined && st.needs !== null) return [].concat(st.needs).filter((n) => names.has(n));
    return i ? [stages[i - 1].name] : [];
  });
}

// Column (depth of needs) and row (place within its column) of each stage.
export function layout(stages, needs) {
  const depth = new Map();
  const at = (i, seen = new Set()) => {
    const st = stages[i];
    if (depth.has(st.name)) return depth.get(st.name);
    if (seen.has(st.name)) return 0; // a cycle: the validator refuses it; draw it anyway
    seen.add(st.name);
    const d = needs[i].length ? 1 + Math.max(...needs[i].map((n) => at(stages.findIndex((x) => x.name === n), seen))) : 0;
    depth.set(st.name, d);
    return d;
  };
  const rows = new Map();
  return stages.map((st, i) => {
    const col = at(i);
    const row = rows.get(col) || 0;
    rows.set(col, row + 1);
    return { col, row };
  });
}

// The current pass through the graph, as the controller reads it (reconcilers/project/plan.py):
// in run order, a run replaces the earlier run of its unit (a sweep's combination, or the whole
// stage) and ends the pass of every stage downstream of it, which ran on what it replaces.
// Returns, per stage, a Map unit → run; `latest` is each stage's newest run of any pass.
export function currentPass(stages, needs, runs) {
  const index = new Map(stages.map((st, i) => [st.name, i]));
  const below = stages.map(() => new Set());
  const down = (i, seen) => {
    for (const [j, n] of needs.entries()) {
      if (n.includes(stages[i].name) && !seen.has(j)) {
        seen.add(j);
        down(j, seen);
      }
    }
    return seen;
  };
  stages.forEach((_, i) => { below[i] = down(i, new Set()); });
  const units = stages.map(() => new Map());
  const latest = new Map();
  const ordered = runs.slice().sort((a, b) => runNumber(a.metadata.name) - runNumber(b.metadata.name));
  for (const run of ordered) {
    const i = index.get(run.spec.stage);
    if (i === undefined) continue; // a stage since removed from the pipeline
    for (const j of below[i]) if (j !== i) units[j] = new Map();
    units[i].set(unitKey((run.status || {}).matrix), run);
    latest.set(run.spec.stage, run);
  }
  return { units, latest };
}

// A combination's key and its label: `LR=0.1,BATCH=8`, the variables in the order written.
export function unitKey(matrix) {
  return Object.entries(matrix || {}).map(([k, v]) => `${k}=${v}`).join(",");
}

// Whether a stage sweeps: its `matrix`, or runs of a combination (a resume may sweep any stage).
export function isSweep(st, runs) {
  return Boolean(st.matrix && Object.keys(st.matrix).length) || runs.some((r) => Object.keys((r.status || {}).matrix || {}).length);
}

// How many combinations a stage's `matrix` makes (resources/matrix.py expands them exactly; this
// only counts them, for "6 combinations: 2 not started"); null where it cannot tell.
const RANGE = { from: ["from", "start", "begin", "min"], to: ["to", "end", "stop", "until", "max"], step: ["step", "by", "increment", "inc", "delta"] };
export function comboCount(matrix) {
  if (!matrix) return null;
  let n = 1;
  for (const value of Object.values(matrix)) {
    if (Array.isArray(value)) n *= value.length;
    else if (value && typeof value === "object") {
      const [a, b, step] = ["from", "to", "step"].map((k) => Number(RANGE[k].map((s) => value[s]).find((v) => v !== undefined)));
      if (![a, b, step].every(Number.isFinite) || step <= 0 || b < a) return null;
      n *= Math.ceil((b - a) / step - 1e-9) + 1; // the end is always included
    } else n *= 1;
  }
  return n;
}

const ACTIVE = ["Pending", "Running"];
const BAD = ["Failed", "Lost", "Killed"];

// A sweep's phases counted in words ("4 succeeded, 1 running, 1 failed") and the one phase that
// stands for the whole: running while any runs, then failed if any failed, else succeeded.
export function sweepSummary(st, runs) {
  const counts = new Map();
  for (const run of runs) {
    const phase = (run.status || {}).phase || "Pending";
    counts.set(phase, (counts.get(phase) || 0) + 1);
  }
  const total = Math.max(comboCount(st.matrix) || 0, runs.length);
  const parts = [...counts].map(([phase, n]) => `${n} ${phase.toLowerCase()}`);
  if (total > runs.length) parts.push(`${total - runs.length} not started`);
  const phases = [...counts.keys()];
  let phase = "Succeeded";
  if (phases.some((p) => ACTIVE.includes(p)) || (total > runs.length && runs.length)) phase = "Running";
  else if (phases.some((p) => BAD.includes(p))) phase = phases.find((p) => BAD.includes(p));
  else if (phases.length && phases.every((p) => p === "Skipped")) phase = "Skipped";
  return { total, phase, text: `${total} combination${total === 1 ? "" : "s"}${parts.length ? ": " + parts.join(", ") : ""}` };
}

// Each stage's state in the current pass: the gate's, its run's phase, a sweep's summary, or
// not started (with the run of an earlier pass, if any, for context).
function states(stages, needs, status, runs) {
  const { units, latest } = currentPass(stages, needs, runs);
  const gate = needsHuman(status) ? status.currentStage : null;
  return stages.map((st, i) => {
    const now = [...units[i].values()].sort((a, b) => runNumber(a.metadata.name) - runNumber(b.metadata.name));
    const run = latest.get(st.name) || null;
    const sweep = isSweep(st, now);
    if (st.name === gate) return { word: "waits for confirmation", gate: true, run, now: now.at(-1) || null, sweep, combos: now };
    if (sweep && now.length) {
      const summary = sweepSummary(st, now);
      return { word: summary.phase, summary, run, now: now.at(-1), sweep, combos: now };
    }
    if (now.length) return { word: (now.at(-1).status || {}).phase || "Pending", run, now: now.at(-1), sweep, combos: now };
    return { word: "not started", run, now: null, sweep, combos: [] };
  });
}

function badge(found) {
  if (found.gate) return h("span", { class: "badge human" }, h("span", { "aria-hidden": "true" }, "☛"), " waits for confirmation");
  if (found.now) return phaseBadge(found.word);
  return h("span", { class: "badge other" }, h("span", { "aria-hidden": "true" }, "○"), " not started");
}

// The graph: an ordered list (named for screen readers) laid out as a grid, with an SVG of arrows
// behind it, measured from the boxes after layout, so it follows them when the page narrows.
// A box links to its run's log; a sweep's box is no link but a disclosure that opens into its
// combinations, each with its own link (a button inside a link would be neither).
function pipelineGraph(project, host) {
  const list = h("ol", { class: "graph", role: "list" });
  const edges = svg("svg", { class: "graph-edges", "aria-hidden": "true", focusable: "false" });
  const inner = h("div", { class: "graph-inner" }, edges, list);
  const box = h("div", { class: "graph-box" }, inner);
  fill(host, h("h2", {}, "Pipeline graph"), box);
  let shape = "";
  let boxes = new Map();
  let links = [];
  const observer = typeof ResizeObserver === "function" ? new ResizeObserver(() => drawEdges()) : null;
  if (observer) observer.observe(list);

  function build(stages, needs, found) {
    const places = layout(stages, needs);
    boxes = new Map();
    links = stages.flatMap((st, i) => needs[i].map((n) => [n, st.name]));
    fill(list, stages.map((st, i) => {
      const parts = { badge: h("span"), facts: h("span", { class: "graph-facts" }), extra: h("span", { class: "graph-extra" }) };
      const name = h("strong", { class: "graph-name" }, st.name);
      const b = { parts, key: "", sweep: found[i].sweep };
      if (b.sweep) {
        b.combos = h("ul", { class: "graph-combos", id: `graph-combos-${project}-${st.name}`, hidden: true });
        b.toggle = h("button", { type: "button", class: "small graph-toggle", "aria-expanded": "false", "aria-controls": b.combos.id });
        const say = (open) => fill(b.toggle, h("span", { "aria-hidden": "true" }, open ? "▾" : "▸"), open ? " Hide combinations" : " Show combinations", h("span", { class: "sr-only" }, ` of ${st.name}`));
        say(false);
        b.toggle.addEventListener("click", () => {
          const open = b.toggle.getAttribute("aria-expanded") !== "true";
          b.toggle.setAttribute("aria-expanded", String(open));
          say(open);
          b.combos.hidden = !open;
          drawEdges();
        });
        b.a = h("div", { class: "graph-link graph-sweep" }, name, parts.badge, parts.facts, parts.extra, b.toggle, b.combos);
      } else {
        b.a = h("a", { class: "graph-link" }, name, parts.badge, parts.facts, parts.extra);
      }
      b.li = h("li", { class: "graph-stage", dataset: { stage: st.name } }, b.a);
      b.li.style.setProperty("--col", String(places[i].col + 1));
      b.li.style.setProperty("--row", String(places[i].row + 1));
      boxes.set(st.name, b);
      return b.li;
    }));
  }

  function update(stages, status, runs) {
    const needs = needsOf(stages);
    const found = states(stages, needs, status, runs);
    const k = JSON.stringify(stages.map((st, i) => [st.name, needs[i], found[i].sweep]));
    if (k !== shape) {
      shape = k;
      build(stages, needs, found);
    }
    const words = [];
    stages.forEach((st, i) => {
      const b = boxes.get(st.name);
      const f = found[i];
      const state = f.gate ? f.word : f.summary ? `${f.word.toLowerCase()}, ${f.summary.text}` : f.word.toLowerCase();
      words.push(`${st.name} ${state}`);
      const run = f.now || f.run;
      const skipped = f.word === "Skipped";
      let facts = "";
      if (f.summary) facts = f.summary.text;
      else if (skipped) facts = "its condition was false";
      else if (f.now) facts = `${duration(runSeconds(f.now))} · ${(f.now.status || {}).node || "no node yet"}`;
      const extra = f.sweep && f.now ? "" : f.now ? `run #${runNumber(f.now.metadata.name)}` : f.run ? `earlier run #${runNumber(f.run.metadata.name)}: ${(f.run.status || {}).phase}` : st.confirm && !f.gate ? "asks for confirmation first" : "";
      const combos = f.combos.map((r) => [r.metadata.name, (r.status || {}).phase, Math.round(runSeconds(r) || 0)]);
      const k2 = JSON.stringify([f.word, facts, extra, run ? run.metadata.name : "", combos]);
      if (k2 === b.key) return;
      b.key = k2;
      b.li.className = `graph-stage${f.gate ? " gate" : ""}${skipped ? " skipped" : ""}${f.sweep ? " sweep" : ""}`;
      b.li.dataset.state = f.word;
      fill(b.parts.badge, badge(f));
      b.parts.facts.textContent = facts;
      b.parts.extra.textContent = extra;
      if (b.sweep) {
        b.toggle.hidden = !f.combos.length;
        fill(b.combos, f.combos.map((r) => combo(project, r)));
        return;
      }
      if (run) b.a.setAttribute("href", link(["projects", project, "logs"], { run: run.metadata.name }));
      else b.a.removeAttribute("href");
      b.a.title = run ? `The log of ${run.metadata.name}` : `${st.name} has not run`;
    });
    list.setAttribute("aria-label", `Pipeline graph of ${project}: ${words.join(", ")}`);
    drawEdges();
  }
  // An arrow from each needed stage to the stage that needs it: across when the boxes stand side
  // by side, down when the narrow layout stacks them.
  function drawEdges() {
    const w = inner.scrollWidth;
    const hgt = inner.scrollHeight;
    edges.setAttribute("width", w);
    edges.setAttribute("height", hgt);
    edges.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
    const marker = svg("marker", { id: "graph-arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "8", markerHeight: "8", orient: "auto-start-reverse" },
      svg("path", { d: "M0,0 L10,5 L0,10 z", class: "graph-head" }));
    const paths = links.map(([from, to]) => {
      const a = boxes.get(from);
      const b = boxes.get(to);
      if (!a || !b) return null;
      const p = a.li;
      const q = b.li;
      const [ax, ay, aw, ah] = [p.offsetLeft, p.offsetTop, p.offsetWidth, p.offsetHeight];
      const [bx, by, bw, bh] = [q.offsetLeft, q.offsetTop, q.offsetWidth, q.offsetHeight];
      let d;
      if (bx >= ax + aw - 1) {
        const [x1, y1, x2, y2] = [ax + aw, ay + ah / 2, bx - 2, by + bh / 2];
        const mid = (x1 + x2) / 2;
        d = `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
      } else {
        const [x1, y1, x2, y2] = [ax + aw / 2, ay + ah, bx + bw / 2, by - 2];
        const mid = (y1 + y2) / 2;
        d = `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`;
      }
      return svg("path", { d, class: "graph-edge", "marker-end": "url(#graph-arrow)", "data-from": from, "data-to": to });
    });
    fill(edges, svg("defs", {}, marker), paths);
  }

  return { update, stop: () => observer && observer.disconnect() };
}

// A sweep variable's values as written: a list, or a range (`8 to 64 step 8`).
function sweepValues(v) {
  if (Array.isArray(v)) return v.join(" | ");
  if (v && typeof v === "object") return Object.entries(v).map(([k, x]) => `${k} ${x}`).join(" ");
  return String(v);
}

// One combination of a sweep, in its opened box: its values, phase, duration and log.
function combo(project, run) {
  const s = run.status || {};
  const label = unitKey(s.matrix) || "(no variables)";
  return h("li", { class: "graph-combo", dataset: { combo: label } },
    h("code", {}, label), " ", phaseBadge(s.phase || "Pending"), " ",
    h("span", { class: "graph-facts" }, duration(runSeconds(run))), " ",
    h("a", { href: link(["projects", project, "logs"], { run: run.metadata.name }), "aria-label": `log of ${label}` }, "log"));
}

function stage(st, current) {
  const r = st.resources || {};
  return h(
    "li",
    { class: st.name === current ? "current" : "" },
    h("div", { class: "stage-name" }, h("strong", {}, st.name), st.confirm ? h("span", { class: "badge human" }, "☛ confirm first") : null, st.name === current ? h("span", { class: "badge run" }, "◀ current") : null),
    h(
      "dl",
      { class: "facts compact" },
      h("dt", {}, "Image"), h("dd", {}, h("code", {}, st.image)),
      h("dt", {}, "Command"), h("dd", {}, h("code", {}, [...(st.command || []), ...(st.args || [])].join(" ") || "(image default)")),
      h("dt", {}, "Resources"), h("dd", {}, `${r.cpu ?? 1} CPU · ${typeof r.memory === "number" ? bytes(r.memory) : r.memory || "256Mi"} memory · ${r.gpu ?? 0} GPU`),
      st.needs !== undefined && st.needs !== null ? [h("dt", {}, "Needs"), h("dd", {}, [].concat(st.needs).join(", ") || "nothing: starts at once")] : null,
      st.when ? [h("dt", {}, "When"), h("dd", {}, h("code", {}, st.when))] : null,
      st.matrix ? [h("dt", {}, "Sweep"), h("dd", {}, Object.entries(st.matrix).map(([k, v]) => h("code", { class: "kv" }, `${k}=${sweepValues(v)}`)), comboCount(st.matrix) ? ` (${comboCount(st.matrix)} combinations)` : "")] : null,
      Object.keys(st.env || {}).length ? [h("dt", {}, "Env"), h("dd", {}, Object.entries(st.env).map(([k, v]) => h("code", { class: "kv" }, `${k}=${v}`)))] : null,
    ),
  );
}
