// The overview tab: the project's controls (pause, resume, confirm, kill) and its environment.
// Like every tab it gets the project page's view ({ name, query, body, state, load }), draws
// into body and sets body.refresh, which the page calls after each poll.

import { api } from "../api.js";
import { confirmDialog, fill, h, needsHuman, toast } from "../dom.js";

export function overview(view) {
  const { body, state } = view;
  const controls = h("div", { class: "controls", role: "group", "aria-label": "Project controls" });
  const env = h("div");
  fill(body, h("h2", {}, "Controls"), controls, h("h2", {}, "Environment"), env);
  const from = h("select", { "aria-label": "Stage to resume from" });
  const act = actor(view);
  let stagesKey = "";
  let envKey = "";
  body.refresh = () => {
    const names = stages(state.project);
    if (names.join() !== stagesKey) {
      stagesKey = names.join();
      const keep = from.value;
      from.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
      if (names.includes(keep)) from.value = keep;
    }
    drawControls(controls, from, names, view, act);
    const k = JSON.stringify(state.project.spec.env || {});
    if (k !== envKey) {
      envKey = k;
      drawEnv(env, state.project.spec.env || {}, act);
    }
  };
  body.refresh();
}

// act(label, path, payload) posts to the project's action `path`, says how it went, and redraws.
function actor({ name, body, load }) {
  return async (label, path, payload) => {
    try {
      await api.post(`/api/v1/projects/${encodeURIComponent(name)}/${path}`, payload);
      toast(`${label}: done`);
      await load();
      body.refresh();
    } catch (error) {
      toast(`${label}: ${error.message}`, "error");
    }
  };
}

function stages(project) {
  const s = project.status || {};
  if (s.pipeline && s.pipeline.stages) return s.pipeline.stages.map((x) => x.name);
  return (project.spec.stages || []).map((x) => x.name);
}

function drawControls(controls, from, names, { name, state }, act) {
  const p = state.project;
  const s = p.status || {};
  const running = state.runs.some((r) => ["Running", "Pending"].includes(r.status.phase));
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

function drawEnv(env, vars, act) {
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
