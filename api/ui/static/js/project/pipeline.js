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

// Each stage's state: its latest run counts when it is newer than the runs of all it needs
// (a stage whose needs ran again since has not started in this pass).
function states(stages, needs, status, runs) {
  const latest = new Map();
  for (const run of runs) if (!latest.has(run.spec.stage)) latest.set(run.spec.stage, run); // newest first
  const result = new Map();
  const visit = (i, seen = new Set()) => {
    const st = stages[i];
    if (result.has(st.name)) return result.get(st.name);
    if (seen.has(st.name)) return null;
    seen.add(st.name);
    const run = latest.get(st.name) || null;
    let counts = Boolean(run);
    for (const n of needs[i]) {
      const before = visit(stages.findIndex((x) => x.name === n), seen);
      const mine = before && before.current;
      if (!mine || (run && runNumber(mine.metadata.name) > runNumber(run.metadata.name))) counts = false;
    }
    const found = { run, current: counts ? run : null };
    result.set(st.name, found);
    return found;
  };
  stages.forEach((_, i) => visit(i));
  const gate = needsHuman(status) ? status.currentStage : null;
  return stages.map((st) => {
    const { run, current: now } = result.get(st.name);
    if (st.name === gate) return { word: "waits for confirmation", gate: true, run, now };
    if (now) return { word: (now.status || {}).phase || "Pending", run, now };
    return { word: "not started", run, now };
  });
}

function badge(found) {
  if (found.gate) return h("span", { class: "badge human" }, h("span", { "aria-hidden": "true" }, "☛"), " waits for confirmation");
  if (found.now) return phaseBadge(found.word);
  return h("span", { class: "badge other" }, h("span", { "aria-hidden": "true" }, "○"), " not started");
}

// The graph: an ordered list (named for screen readers) laid out as a grid, with an SVG of arrows
// behind it, measured from the boxes after layout, so it follows them when the page narrows.
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

  function update(stages, status, runs) {
    const needs = needsOf(stages);
    const k = JSON.stringify(stages.map((st, i) => [st.name, needs[i]]));
    if (k !== shape) {
      shape = k;
      const places = layout(stages, needs);
      boxes = new Map();
      links = stages.flatMap((st, i) => needs[i].map((n) => [n, st.name]));
      fill(list, stages.map((st, i) => {
        const parts = { badge: h("span"), facts: h("span", { class: "graph-facts" }), extra: h("span", { class: "graph-extra" }) };
        const a = h("a", { class: "graph-link" }, h("strong", { class: "graph-name" }, st.name), parts.badge, parts.facts, parts.extra);
        const li = h("li", { class: "graph-stage", dataset: { stage: st.name } }, a);
        li.style.setProperty("--col", String(places[i].col + 1));
        li.style.setProperty("--row", String(places[i].row + 1));
        boxes.set(st.name, { li, a, parts, key: "" });
        return li;
      }));
    }
    const found = states(stages, needs, status, runs);
    const words = [];
    stages.forEach((st, i) => {
      const b = boxes.get(st.name);
      const f = found[i];
      words.push(`${st.name} ${f.gate ? f.word : f.word.toLowerCase()}`);
      const run = f.now || f.run;
      const facts = f.now ? `${duration(runSeconds(f.now))} · ${(f.now.status || {}).node || "no node yet"}` : "";
      const extra = f.now ? `run #${runNumber(f.now.metadata.name)}` : f.run ? `earlier run #${runNumber(f.run.metadata.name)}: ${(f.run.status || {}).phase}` : st.confirm && !f.gate ? "asks for confirmation first" : "";
      const k2 = [f.word, facts, extra, run ? run.metadata.name : ""].join("|");
      if (k2 === b.key) return;
      b.key = k2;
      b.li.className = `graph-stage${f.gate ? " gate" : ""}`;
      b.li.dataset.state = f.word;
      fill(b.parts.badge, badge(f));
      b.parts.facts.textContent = facts;
      b.parts.extra.textContent = extra;
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
      Object.keys(st.env || {}).length ? [h("dt", {}, "Env"), h("dd", {}, Object.entries(st.env).map(([k, v]) => h("code", { class: "kv" }, `${k}=${v}`)))] : null,
    ),
  );
}
