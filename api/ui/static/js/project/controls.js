// The project's controls (pause, resume, resume from a stage, confirm, kill) in its head, on every
// tab. Built once, updated after each poll (so focus and the chosen stage stay), each button
// enabled only when its action can succeed. When a gate waits, links to what to review sit
// beside Confirm: the project's output/ folder and the workspace of the run before the gate.

import { api } from "../api.js";
import { confirmDialog, fill, h, needsHuman, toast } from "../dom.js";
import { link } from "../router.js";

const ACTIVE = ["Running", "Pending"];
const STOPPED = ["Failed", "Killed", "Lost"];

// view: the project page's { name, state, load }; redraw() redraws the tab after an action.
export function projectControls(view, redraw) {
  const { name, state } = view;
  const act = async (label, path, payload) => {
    try {
      await api.post(`/api/v1/projects/${encodeURIComponent(name)}/${path}`, payload);
      toast(`${label}: done`);
      touched = false;
      await view.load();
      refresh();
      redraw();
    } catch (error) {
      toast(`${label}: ${error.message}`, "error");
    }
  };
  const from = h("select", { "aria-label": "Stage to resume from", onchange: () => { touched = true; } });
  let touched = false;
  let stagesKey = "";
  const pause = h("button", { type: "button", onclick: () => act("Pause", "pause") }, icon("❚❚"), "Pause");
  const resume = h("button", { type: "button", onclick: () => act("Resume", "resume") }, icon("▶"), "Resume");
  const resumeFrom = h("button", { type: "button", onclick: () => resumeFromStage(view, from.value, act) }, icon("↻"), "Resume from stage");
  const confirmText = h("span", {}, "Confirm");
  const confirm = h("button", { type: "button", onclick: () => act(`Confirm ${state.project.status.currentStage}`, "confirm") }, icon("☛"), confirmText);
  const kill = h("button", {
    type: "button",
    class: "danger",
    onclick: async () => {
      if (await confirmDialog("Kill the running stage?", `The running stage of ${name} stops now and the project pauses.`, "Kill", true)) act("Kill", "kill");
    },
  }, icon("■"), "Kill");
  const review = h("span", { class: "review" });
  const el = h("div", { class: "controls", role: "group", "aria-label": "Project controls" },
    pause, resume, h("span", { class: "joined" }, from, resumeFrom), confirm, review, kill);

  function refresh() {
    const p = state.project;
    const s = p.status || {};
    const names = stageNames(p);
    if (names.join() !== stagesKey) {
      stagesKey = names.join();
      const keep = from.value;
      from.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
      if (names.includes(keep)) from.value = keep;
    }
    const def = defaultStage(state.runs, s, names);
    if (!touched && def) from.value = def;
    const running = state.runs.some((r) => ACTIVE.includes((r.status || {}).phase));
    const waiting = needsHuman(s);
    pause.disabled = Boolean(p.spec.paused);
    resume.disabled = running;
    resumeFrom.disabled = running || !names.length;
    from.disabled = resumeFrom.disabled;
    confirm.disabled = !waiting;
    confirm.className = waiting ? "primary" : "";
    confirmText.textContent = waiting ? `Confirm ${s.currentStage}` : "Confirm";
    kill.disabled = !running;
    const key = waiting ? `${s.currentStage} ${(state.runs[0] || { metadata: {} }).metadata.name}` : "";
    if (review.dataset.key !== key) {
      review.dataset.key = key;
      fill(review, waiting ? reviewLinks(name, s.currentStage, state.runs[0]) : null);
    }
  }
  return { el, refresh };
}

// A symbol beside a button's word: seen, not read out (the word is the button's name).
function icon(symbol) {
  return h("span", { "aria-hidden": "true" }, `${symbol} `);
}

function stageNames(project) {
  const s = project.status || {};
  if (s.pipeline && s.pipeline.stages) return s.pipeline.stages.map((x) => x.name);
  return (project.spec.stages || []).map((x) => x.name);
}

// The stage of the newest run if it failed, was killed or lost; else the current stage; else the first.
export function defaultStage(runs, status, names) {
  const last = runs[0];
  if (last && STOPPED.includes((last.status || {}).phase) && names.includes(last.spec.stage)) return last.spec.stage;
  if (names.includes(status.currentStage)) return status.currentStage;
  return names[0];
}

// Asks first when the resume would rerun a stage that has already succeeded.
async function resumeFromStage({ name, state }, stage, act) {
  const names = stageNames(state.project);
  const after = names.slice(names.indexOf(stage));
  const done = after.filter((n) => state.runs.some((r) => r.spec.stage === n && (r.status || {}).phase === "Succeeded"));
  if (done.length) {
    const body = `${done.join(", ")} already succeeded. Resuming ${name} from ${stage} reruns ${after.join(", ")}.`;
    if (!(await confirmDialog(`Rerun from ${stage}?`, body, `Rerun from ${stage}`))) return;
  }
  act(`Resume from ${stage}`, "resume", { from: stage });
}

// What the person at a gate reviews: the output/ folder and the workspace of the run before it.
function reviewLinks(name, stage, last) {
  const files = (path) => link(["projects", name, "files"], { path });
  return h("span", { class: "review-links" }, "Review: ",
    h("a", { href: files(`workspaces/${name}/output`) }, "output/"),
    last ? [" · ", h("a", { href: files(`workspaces/${name}/stages/${last.metadata.name}`), title: last.metadata.name }, `${last.spec.stage} workspace`)] : null);
}
