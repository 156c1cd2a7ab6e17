// One project (thesis C.2-C.7): the page around its tabs. The head (project/head.js) and each tab
// (project/overview.js: the environment, history.js: StageRun history, logs.js: the live log,
// files.js: files, pipeline.js: the pipeline, charts.js: charts from log parsers) live in
// project/, and so do the controls (project/controls.js), which sit in the head on every tab. They share one view object:
//   { name, query, body, state: { project, runs }, load }
// A tab draws into body, sets body.refresh (called after each poll) and may return a stop function.

import { api } from "./api.js";
import { add, fill, h, message } from "./dom.js";
import { every } from "./poll.js";
import { charts } from "./project/charts.js";
import { projectControls } from "./project/controls.js";
import { renderHead } from "./project/head.js";
import { files } from "./project/files.js";
import { history } from "./project/history.js";
import { logs } from "./project/logs.js";
import { overview } from "./project/overview.js";
import { pipeline } from "./project/pipeline.js";
import { runNumber } from "./project/runs.js";
import { link } from "./router.js";

const TABS = [
  ["overview", "Overview", overview],
  ["history", "History", history],
  ["logs", "Log", logs],
  ["files", "Files", files],
  ["pipeline", "Pipeline", pipeline],
  ["charts", "Charts", charts],
];

export async function render(ctx) {
  const { root, parts, query } = ctx;
  const name = parts[1];
  const tab = TABS.find(([t]) => t === parts[2]) || TABS[0];
  document.title = `${name} · Winslow`;
  const info = { top: h("div"), facts: h("div") };
  const head = h("div", { class: "project-head" }, info.top, info.facts);
  const body = h("section", { class: "tab-body", id: "tab-body", role: "tabpanel" });
  const tabs = h(
    "nav",
    { class: "tabs", "aria-label": "Project sections" },
    TABS.map(([t, label]) =>
      h("a", { href: link(["projects", name, t]), "aria-current": t === tab[0] ? "page" : null }, label),
    ),
  );
  add(root, 
    h("p", { class: "crumbs" }, h("a", { href: link(["projects"]) }, "Projects"), " / ", name),
    head,
    tabs,
    body,
  );

  const state = { project: null, runs: [] };
  async function load() {
    const [project, runs] = await Promise.all([
      api.get(`/api/v1/projects/${encodeURIComponent(name)}`),
      api.get(`/api/v1/stageruns?project=${encodeURIComponent(name)}`),
    ]);
    state.project = project;
    state.runs = (runs.items || []).slice().sort((a, b) => runNumber(b.metadata.name) - runNumber(a.metadata.name));
    renderHead(info, name, state.project);
  }
  const view = { name, query, body, state, load };
  const controls = projectControls(view, () => body.refresh && body.refresh());

  try {
    await load();
  } catch (error) {
    fill(info.top, h("h1", {}, name), message("error", error.message));
    tabs.remove();
    return () => {};
  }
  info.facts.before(controls.el);
  controls.refresh();
  const stops = [];
  const stopTab = await tab[2](view);
  if (stopTab) stops.push(stopTab);
  stops.push(every(1000, async () => {
    await load();
    controls.refresh();
    if (body.refresh) body.refresh();
  }));
  return () => stops.forEach((s) => s());
}
