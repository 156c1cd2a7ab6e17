// One project (thesis C.2-C.7): controls, env, StageRun history, the live log, files, pipeline.

import { api } from "./api.js";
import { add, age, bytes, confirmDialog, duration, fill, h, message, needsHuman, phaseBadge, toast, when } from "./dom.js";
import { fileBrowser } from "./files.js";
import { followLog } from "./log.js";
import { link } from "./main.js";
import { every } from "./poll.js";

const TABS = [
  ["overview", "Overview"],
  ["history", "History"],
  ["logs", "Log"],
  ["files", "Files"],
  ["pipeline", "Pipeline"],
];

function runNumber(name) {
  return Number(name.split(".")[1]);
}

function runSeconds(run) {
  const s = run.status || {};
  if (!s.startTime) return null;
  const end = s.finishTime ? Date.parse(s.finishTime) : Date.now();
  return (end - Date.parse(s.startTime)) / 1000;
}

export async function render(ctx) {
  const { root, parts, query } = ctx;
  const name = parts[1];
  const tab = TABS.some(([t]) => t === parts[2]) ? parts[2] : "overview";
  document.title = `${name} · Winslow`;
  const head = h("div", { class: "project-head" });
  const body = h("section", { class: "tab-body", id: "tab-body", role: "tabpanel" });
  const tabs = h(
    "nav",
    { class: "tabs", "aria-label": "Project sections" },
    TABS.map(([t, label]) =>
      h("a", { href: link(["projects", name, t]), "aria-current": t === tab ? "page" : null }, label),
    ),
  );
  add(root, 
    h("p", { class: "crumbs" }, h("a", { href: link(["projects"]) }, "Projects"), " / ", name),
    head,
    tabs,
    body,
  );

  const state = { project: null, runs: [] };
  const stops = [];

  async function load() {
    const [project, runs] = await Promise.all([
      api.get(`/api/v1/projects/${encodeURIComponent(name)}`),
      api.get(`/api/v1/stageruns?project=${encodeURIComponent(name)}`),
    ]);
    state.project = project;
    state.runs = (runs.items || []).slice().sort((a, b) => runNumber(b.metadata.name) - runNumber(a.metadata.name));
    renderHead();
  }

  function renderHead() {
    const p = state.project;
    const s = p.status || {};
    fill(head, 
      h("div", { class: "page-head" }, h("h1", {}, name), phaseBadge(s.phase, s)),
      needsHuman(s) ? h("div", { class: "notice human", role: "status" }, `☛ ${s.reason}`) : null,
      h(
        "dl",
        { class: "facts" },
        needsHuman(s) ? null : [h("dt", {}, "Reason"), h("dd", { class: "reason" }, s.reason || "–")],
        h("dt", {}, "Stage"), h("dd", {}, s.currentStage || "–"),
        h("dt", {}, "Pipeline"), h("dd", {}, p.spec.pipeline ? h("a", { href: link(["pipelines", p.spec.pipeline]) }, p.spec.pipeline) : "own stages"),
        h("dt", {}, "Owner"), h("dd", {}, p.spec.owner || "–"),
        h("dt", {}, "Members"), h("dd", {}, (p.spec.members || []).join(", ") || "–"),
        h("dt", {}, "Tags"), h("dd", {}, (p.spec.tags || []).map((t) => h("span", { class: "tag" }, t)), (p.spec.tags || []).length ? null : "–"),
        h("dt", {}, "Age"), h("dd", {}, age(p.metadata.creationTimestamp)),
      ),
    );
  }

  try {
    await load();
  } catch (error) {
    fill(head, h("h1", {}, name), message("error", error.message));
    tabs.remove();
    return () => {};
  }
  const views = { overview, history, logs, files, pipeline };
  const stopView = await views[tab]();
  if (stopView) stops.push(stopView);
  stops.push(every(1000, async () => {
    await load();
    if (body.refresh) body.refresh();
  }));
  return () => stops.forEach((s) => s());

  // ---------------------------------------------------------------- overview: controls and env
  function overview() {
    const controls = h("div", { class: "controls", role: "group", "aria-label": "Project controls" });
    const env = h("div");
    fill(body, h("h2", {}, "Controls"), controls, h("h2", {}, "Environment"), env);
    const from = h("select", { "aria-label": "Stage to resume from" });
    let stagesKey = "";

    async function act(label, path, payload) {
      try {
        await api.post(`/api/v1/projects/${encodeURIComponent(name)}/${path}`, payload);
        toast(`${label}: done`);
        await load();
        body.refresh();
      } catch (error) {
        toast(`${label}: ${error.message}`, "error");
      }
    }

    function stages() {
      const s = state.project.status || {};
      if (s.pipeline && s.pipeline.stages) return s.pipeline.stages.map((x) => x.name);
      return (state.project.spec.stages || []).map((x) => x.name);
    }

    function drawControls() {
      const p = state.project;
      const s = p.status || {};
      const running = state.runs.some((r) => ["Running", "Pending"].includes(r.status.phase));
      const names = stages();
      if (names.join() !== stagesKey) {
        stagesKey = names.join();
        const keep = from.value;
        from.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
        if (names.includes(keep)) from.value = keep;
      }
      const waiting = needsHuman(s);
      fill(controls, 
        h("button", { type: "button", disabled: p.spec.paused, onclick: () => act("Pause", "pause") }, "❚❚ Pause"),
        h("button", { type: "button", onclick: () => act("Resume", "resume") }, "▶ Resume"),
        h(
          "span",
          { class: "joined" },
          from,
          h("button", { type: "button", disabled: !names.length, onclick: () => act(`Resume from ${from.value}`, "resume", { from: from.value }) }, "↻ Resume from stage"),
        ),
        h(
          "button",
          { type: "button", class: waiting ? "primary" : "", disabled: !waiting, onclick: () => act(`Confirm ${s.currentStage}`, "confirm") },
          waiting ? `☛ Confirm ${s.currentStage}` : "☛ Confirm",
        ),
        h(
          "button",
          {
            type: "button",
            class: "danger",
            disabled: !running,
            onclick: async () => {
              if (await confirmDialog("Kill the running stage?", `The running stage of ${name} stops now and the project pauses.`, "Kill", true)) act("Kill", "kill");
            },
          },
          "■ Kill",
        ),
      );
    }

    function drawEnv() {
      const vars = state.project.spec.env || {};
      const key = h("input", { placeholder: "NAME", "aria-label": "Variable name", pattern: "[A-Za-z_][A-Za-z0-9_]*", required: true, spellcheck: false });
      const value = h("input", { placeholder: "value", "aria-label": "Variable value", spellcheck: false });
      const form = h(
        "form",
        { class: "inline" },
        key,
        h("span", { "aria-hidden": "true" }, "="),
        value,
        h("button", { type: "submit" }, "Set"),
      );
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        act(`Set ${key.value}`, "env", { set: { [key.value]: value.value }, unset: [] });
      });
      const entries = Object.entries(vars).sort();
      fill(env, 
        h("p", { class: "muted" }, "Applies from the next StageRun on."),
        entries.length
          ? h(
              "table",
              { class: "grid env" },
              h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Value"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
              h(
                "tbody",
                {},
                entries.map(([k, v]) =>
                  h(
                    "tr",
                    {},
                    h("th", { scope: "row" }, h("code", {}, k)),
                    h("td", {}, h("code", {}, v)),
                    h("td", { class: "actions" }, h("button", { type: "button", class: "link", "aria-label": `Remove ${k}`, onclick: () => act(`Remove ${k}`, "env", { set: {}, unset: [k] }) }, "Remove")),
                  ),
                ),
              ),
            )
          : h("p", { class: "muted" }, "No project variables."),
        form,
      );
    }

    let envKey = "";
    body.refresh = () => {
      drawControls();
      const k = JSON.stringify(state.project.spec.env || {});
      if (k !== envKey) {
        envKey = k;
        drawEnv();
      }
    };
    body.refresh();
  }

  // ---------------------------------------------------------------- history of StageRuns
  function history() {
    const tbody = h("tbody");
    fill(body, 
      h("h2", {}, "StageRuns"),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "grid history" },
          h("thead", {}, h("tr", {}, ["Run", "Stage", "Node", "Phase", "Trigger", "Started", "Duration", "Exit", "Log"].map((t) => h("th", { scope: "col" }, t)))),
          tbody,
        ),
      ),
    );
    body.refresh = () => {
      fill(tbody, 
        ...state.runs.map((run) => {
          const s = run.status || {};
          return h(
            "tr",
            { class: ["Failed", "Lost"].includes(s.phase) ? "row-bad" : "" },
            h("th", { scope: "row" }, `#${runNumber(run.metadata.name)}`),
            h("td", {}, run.spec.stage),
            h("td", {}, s.node || "–"),
            h("td", {}, phaseBadge(s.phase)),
            h("td", {}, s.trigger === "user" ? (s.triggeredBy ? `user (${s.triggeredBy})` : "user") : "⚙ auto"),
            h("td", {}, when(s.startTime)),
            h("td", { class: "num" }, duration(runSeconds(run))),
            h("td", { class: "num" }, s.exitCode ?? "–"),
            h("td", {}, h("a", { href: link(["projects", name, "logs"], { run: run.metadata.name }) }, "log")),
          );
        }),
      );
      if (!state.runs.length) add(tbody, h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No StageRun yet.")));
    };
    body.refresh();
  }

  // ---------------------------------------------------------------- the live log
  function logs() {
    const chosen = query.get("run");
    const stream = followLog(body, {
      runs: () => state.runs,
      chosen,
      onPick: (run) => window.history.replaceState(null, "", link(["projects", name, "logs"], run ? { run } : {})),
    });
    body.refresh = stream.refresh;
    return stream.stop;
  }

  // ---------------------------------------------------------------- files of the workspace
  function files() {
    body.refresh = null;
    const path = query.get("path") || `workspaces/${name}`;
    return fileBrowser(body, {
      path,
      base: `workspaces/${name}`,
      go: (next) => window.history.replaceState(null, "", link(["projects", name, "files"], { path: next })),
    });
  }

  // ---------------------------------------------------------------- the pipeline snapshot
  function pipeline() {
    let key = "";
    body.refresh = () => {
      const s = state.project.status || {};
      const snapshot = s.pipeline;
      const k = JSON.stringify(snapshot || state.project.spec.stages || null);
      if (k === key) return;
      key = k;
      const stages = snapshot ? snapshot.stages : state.project.spec.stages || [];
      fill(body, 
        h("h2", {}, snapshot ? `Pipeline ${snapshot.name || ""} as snapshotted when the project started` : "Pipeline (not started yet)"),
        !snapshot && state.project.spec.pipeline
          ? h("p", { class: "muted" }, "The project snapshots ", h("a", { href: link(["pipelines", state.project.spec.pipeline]) }, state.project.spec.pipeline), " when it starts.")
          : null,
        h(
          "ol",
          { class: "stages" },
          stages.map((st) => {
            const r = st.resources || {};
            return h(
              "li",
              { class: st.name === s.currentStage ? "current" : "" },
              h("div", { class: "stage-name" }, h("strong", {}, st.name), st.confirm ? h("span", { class: "badge human" }, "☛ confirm first") : null, st.name === s.currentStage ? h("span", { class: "badge run" }, "◀ current") : null),
              h(
                "dl",
                { class: "facts compact" },
                h("dt", {}, "Image"), h("dd", {}, h("code", {}, st.image)),
                h("dt", {}, "Command"), h("dd", {}, h("code", {}, [...(st.command || []), ...(st.args || [])].join(" ") || "(image default)")),
                h("dt", {}, "Resources"), h("dd", {}, `${r.cpu ?? 1} CPU · ${typeof r.memory === "number" ? bytes(r.memory) : r.memory || "256Mi"} memory · ${r.gpu ?? 0} GPU`),
                Object.keys(st.env || {}).length ? [h("dt", {}, "Env"), h("dd", {}, Object.entries(st.env).map(([k, v]) => h("code", { class: "kv" }, `${k}=${v}`)))] : null,
              ),
            );
          }),
        ),
      );
    };
    body.refresh();
  }
}
