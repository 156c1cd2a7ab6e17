// The history tab: the project's sweeps side by side (project/sweeps.js), then its StageRuns,
// newest first, each with a link to its log.

import { add, duration, fill, h, phaseBadge, when } from "../dom.js";
import { link } from "../router.js";
import { runNumber, runSeconds } from "./runs.js";
import { unitKey } from "./pipeline.js";
import { sweeps } from "./sweeps.js";

const COLUMNS = ["Run", "Stage", "Node", "Phase", "Progress", "Trigger", "Started", "Duration", "Exit", "Results", "Log"];

export function history({ name, body, state }) {
  const tbody = h("tbody");
  const sweepHost = h("div", { class: "sweeps" });
  const refreshSweeps = sweeps(sweepHost, { name, state });
  fill(body, 
    sweepHost,
    h("h2", {}, "StageRuns"),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "grid history" },
        h("thead", {}, h("tr", {}, COLUMNS.map((t) => h("th", { scope: "col" }, t)))),
        tbody,
      ),
    ),
  );
  let drawn = null;
  body.refresh = () => {
    refreshSweeps();
    // Rebuilt only when a run changed, or each 10 s for the ages, or while one runs (its
    // duration grows): a sweep's 50 rows rebuilt every second cost 70 ms of the page's time.
    const active = state.runs.some((r) => ["Pending", "Running"].includes((r.status || {}).phase));
    const key = active ? null : JSON.stringify(state.runs) + Math.floor(Date.now() / 10000);
    if (key !== null && key === drawn) return;
    drawn = key;
    fill(tbody, ...state.runs.map((run) => row(name, run)));
    if (!state.runs.length) add(tbody, h("tr", {}, h("td", { colspan: COLUMNS.length, class: "muted" }, "No StageRun yet.")));
  };
  body.refresh();
}

function row(name, run) {
  const s = run.status || {};
  return h(
    "tr",
    { class: ["Failed", "Lost"].includes(s.phase) ? "row-bad" : "" },
    h("th", { scope: "row" }, `#${runNumber(run.metadata.name)}`),
    h("td", {}, run.spec.stage, combination(s.matrix)),
    h("td", {}, s.node || "–"),
    h("td", {}, phaseBadge(s.phase)),
    h("td", {}, progress(run)),
    h("td", {},
      s.trigger === "user" ? (s.triggeredBy ? `user (${s.triggeredBy})` : "user") : "⚙ auto",
      (run.spec.pipelineChanges || []).length
        ? h("span", { class: "tag", title: run.spec.pipelineChanges.join("\n") }, "new pipeline")
        : null),
    h("td", {}, when(s.startTime)),
    h("td", { class: "num" }, duration(runSeconds(run))),
    h("td", { class: "num" }, s.exitCode ?? "–"),
    h("td", {}, results(s.results || {})),
    h("td", {}, h("a", { href: link(["projects", name, "logs"], { run: run.metadata.name }) }, "log")),
  );
}

// A sweep's run: which combination it ran (`LR=0.1,BATCH=8`), under its stage's name.
function combination(matrix) {
  const label = unitKey(matrix);
  return label ? h("small", { class: "combo" }, h("code", {}, label)) : null;
}

// A bar and its number: the number is what a screen reader and a phone read first.
function progress(run) {
  const value = run.status.progress;
  if (value === null || value === undefined) return "–";
  const label = `${run.spec.stage} ${Math.round(value)}%`;
  return h("span", { class: "meter" }, h("progress", { max: 100, value, "aria-label": label }), ` ${Math.round(value)}%`);
}

// What the stage reported (WINSLOW_RESULT lines), as a small table of its own.
function results(values) {
  const entries = Object.entries(values);
  if (!entries.length) return "–";
  return h(
    "table",
    { class: "results" },
    h("tbody", {}, entries.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)))),
  );
}
