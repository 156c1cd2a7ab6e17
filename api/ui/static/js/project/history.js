// The history tab: the project's StageRuns, newest first, each with a link to its log.

import { add, duration, fill, h, phaseBadge, when } from "../dom.js";
import { link } from "../router.js";
import { runNumber, runSeconds } from "./runs.js";

const COLUMNS = ["Run", "Stage", "Node", "Phase", "Trigger", "Started", "Duration", "Exit", "Log"];

export function history({ name, body, state }) {
  const tbody = h("tbody");
  fill(body, 
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
  body.refresh = () => {
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
    h("td", {}, run.spec.stage),
    h("td", {}, s.node || "–"),
    h("td", {}, phaseBadge(s.phase)),
    h("td", {},
      s.trigger === "user" ? (s.triggeredBy ? `user (${s.triggeredBy})` : "user") : "⚙ auto",
      (run.spec.pipelineChanges || []).length
        ? h("span", { class: "tag", title: run.spec.pipelineChanges.join("\n") }, "new pipeline")
        : null),
    h("td", {}, when(s.startTime)),
    h("td", { class: "num" }, duration(runSeconds(run))),
    h("td", { class: "num" }, s.exitCode ?? "–"),
    h("td", {}, h("a", { href: link(["projects", name, "logs"], { run: run.metadata.name }) }, "log")),
  );
}
