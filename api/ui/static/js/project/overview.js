// The overview tab: the project's environment (the controls are in the head: project/controls.js).
// Like every tab it gets the project page's view ({ name, query, body, state, load }), draws
// into body and sets body.refresh, which the page calls after each poll.

import { api } from "../api.js";
import { bytes, fill, h, toast } from "../dom.js";

export function overview(view) {
  const { body, state } = view;
  const env = h("div");
  const disk = h("p", { class: "muted disk-use" }, "Measuring…");
  fill(body, h("h2", {}, "Environment"), env, h("h2", {}, "Disk use on the share"), disk);
  drawDisk(view.name, disk);
  const act = actor(view);
  let envKey = "";
  body.refresh = () => {
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

// The project's disk use (GET /api/v1/disk/projects?project=NAME, a walk cached for a minute),
// drawn once when the tab opens: sizes are for display, not worth a request on every poll.
async function drawDisk(name, into) {
  try {
    const { items } = await api.get(`/api/v1/disk/projects?project=${encodeURIComponent(name)}`);
    const d = items[0];
    if (!d) return fill(into, "Nothing on the share yet.");
    const count = `${d.workspaces} StageRun workspace${d.workspaces === 1 ? "" : "s"}`;
    fill(into, `${count}: ${bytes(d.workspaceBytes)} · logs ${bytes(d.logBytes)} · input ${bytes(d.inputBytes)} · ` +
      `output ${bytes(d.outputBytes)} · total ${bytes(d.totalBytes)}` + (d.partial ? " (at least: the count was capped)" : ""));
  } catch (error) {
    fill(into, `Disk use: ${error.message}`);
  }
}
