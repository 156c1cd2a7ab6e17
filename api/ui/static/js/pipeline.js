// One pipeline: its YAML in an editor that validates as you type (the API's dry run) and shows each
// error at its line before anything is saved; and the form that creates a project from it.

import { ApiError, api } from "./api.js";
import { add, clear, field, fill, h, message, toast } from "./dom.js";
import { link } from "./router.js";
import { lineOf } from "./yamlpath.js";
import { dump, load } from "../vendor/js-yaml.mjs";

const TEMPLATE = `apiVersion: winslow/v1
kind: Pipeline
metadata:
  name: my-pipeline
spec:
  stages:
    - name: detect
      image: winslow/busybox:latest
      command: [sh, -c, "echo detecting; sleep 5"]
      resources: {cpu: 1, memory: 256Mi, gpu: 0}
    - name: check
      image: winslow/busybox:latest
      command: [sh, -c, "echo checked"]
      confirm: true
`;

// What the node returns spells out every default; the editor shows what a person would write.
function compact(value) {
  if (Array.isArray(value)) return value.map((v) => compact(v));
  if (!value || typeof value !== "object") return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    const c = compact(v);
    const empty = (Array.isArray(c) && !c.length) || (c && typeof c === "object" && !Array.isArray(c) && !Object.keys(c).length);
    const defaulted = (k === "confirm" && c === false) || (k === "workspace" && c && c.mode === "incremental" && Object.keys(c).length === 1);
    if (!empty && !defaulted) out[k] = c;
  }
  return out;
}

function clean(manifest) {
  const copy = compact(manifest);
  for (const key of ["uid", "generation", "creationTimestamp"]) delete copy.metadata[key];
  return copy;
}

export async function render(ctx) {
  const name = ctx.parts[1];
  if (ctx.parts[2] === "new-project") return newProject(ctx, name);
  return editor(ctx, name === "_new" ? null : name);
}

async function editor({ root }, name) {
  document.title = `${name || "New pipeline"} · Winslow`;
  let generation = null;
  let text = TEMPLATE;
  if (name) {
    const manifest = await api.get(`/api/v1/pipelines/${encodeURIComponent(name)}`);
    generation = manifest.metadata.generation ?? null;
    text = dump(clean(manifest), { lineWidth: 100, noRefs: true });
  }
  const area = h("textarea", { class: "code", spellcheck: false, rows: 24, "aria-label": "Pipeline YAML", wrap: "off" });
  area.value = text;
  const gutter = h("pre", { class: "gutter", "aria-hidden": "true" });
  const problems = h("ul", { class: "problems", "aria-live": "polite" });
  const verdict = h("span", { class: "verdict", "aria-live": "polite" });
  const save = h("button", { type: "button", class: "primary" }, name ? "Save" : "Create");
  add(root, 
    h("p", { class: "crumbs" }, h("a", { href: link(["pipelines"]) }, "Pipelines"), " / ", name || "new"),
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, name || "New pipeline"),
      name ? h("a", { class: "button", href: link(["pipelines", name, "new-project"]) }, "New project from it…") : null,
    ),
    h("p", { class: "muted" }, "Edit the YAML; it is checked by the node as you type, and errors show at their line. Projects that already started keep the stages they snapshotted."),
    h("div", { class: "editor" }, gutter, area),
    h("div", { class: "editor-bar" }, verdict, h("span", { class: "grow" }), save),
    problems,
  );

  let marked = new Map(); // line -> messages

  function drawGutter() {
    const count = area.value.split("\n").length;
    const out = [];
    for (let i = 1; i <= count; i++) out.push(marked.has(i) ? `✖ ${i}` : String(i));
    gutter.textContent = out.join("\n");
    gutter.scrollTop = area.scrollTop;
  }

  function goTo(line) {
    const lines = area.value.split("\n");
    const start = lines.slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
    area.focus();
    area.setSelectionRange(start, start + lines[line - 1].length);
    const lineHeight = area.scrollHeight / lines.length;
    area.scrollTop = Math.max(0, (line - 5) * lineHeight);
  }

  function show(list) {
    marked = new Map();
    for (const p of list) marked.set(p.line, [...(marked.get(p.line) || []), p.text]);
    fill(problems, 
      ...list.map((p) =>
        h("li", {}, h("button", { type: "button", class: "link", onclick: () => goTo(p.line) }, `line ${p.line}`), `: ${p.text}`),
      ),
    );
    drawGutter();
  }

  function parse() {
    try {
      const doc = load(area.value);
      if (doc && typeof doc === "object" && doc.metadata && generation !== null && doc.metadata.name === name && doc.metadata.generation === undefined) {
        doc.metadata.generation = generation;
      }
      return { doc };
    } catch (error) {
      const line = error.mark ? error.mark.line + 1 : 1;
      return { problems: [{ line, text: `not valid YAML: ${error.reason || error.message}` }] };
    }
  }

  function located(error) {
    if (!(error instanceof ApiError) || !error.problems.length) return [{ line: 1, text: error.message }];
    return error.problems.map((p) => {
      const path = String(p.field || "").replace(/^[^:]*\[document \d+\]: /, "");
      return { line: lineOf(area.value, path), text: `${path || "document"}: ${p.message}` };
    });
  }

  let checking = 0;
  async function validate() {
    const mine = ++checking;
    const { doc, problems: syntax } = parse();
    if (syntax) {
      verdict.textContent = "✖ not valid YAML";
      verdict.className = "verdict bad";
      show(syntax);
      return false;
    }
    try {
      await api.post("/api/v1/apply", { documents: [doc], source: "editor", dryRun: true });
      if (mine !== checking) return false;
      if (doc.kind !== "Pipeline") throw new ApiError(422, "this editor saves pipelines: kind must be Pipeline", { problems: [{ field: "kind", message: "must be Pipeline here" }] });
      verdict.textContent = "✔ valid";
      verdict.className = "verdict ok";
      show([]);
      return true;
    } catch (error) {
      if (mine !== checking) return false;
      if (error.status === 403) {
        verdict.textContent = `✔ valid, but ${error.message}`;
        verdict.className = "verdict warn";
        show([]);
        return false;
      }
      verdict.textContent = `✖ ${error.problems.length || 1} problem${error.problems.length > 1 ? "s" : ""}`;
      verdict.className = "verdict bad";
      show(located(error));
      return false;
    }
  }

  let timer = null;
  area.addEventListener("input", () => {
    drawGutter();
    clearTimeout(timer);
    timer = setTimeout(validate, 400);
  });
  area.addEventListener("scroll", () => (gutter.scrollTop = area.scrollTop));
  area.addEventListener("keydown", (event) => {
    if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !event.altKey) {
      event.preventDefault();
      area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end");
      area.dispatchEvent(new Event("input"));
    }
  });
  save.addEventListener("click", async () => {
    if (!(await validate())) return toast("Fix the problems first", "error");
    const { doc } = parse();
    try {
      if (name && doc.metadata.name === name) {
        await api.put(`/api/v1/pipelines/${encodeURIComponent(name)}`, doc);
      } else {
        await api.post("/api/v1/pipelines", doc);
      }
      toast(`Saved pipeline ${doc.metadata.name}`);
      location.hash = link(["pipelines", doc.metadata.name]);
    } catch (error) {
      show(located(error));
      toast(error.message, "error");
    }
  });
  drawGutter();
  validate();
  root.dataset.ready = "true";
}

function pairs(text) {
  const env = {};
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t) continue;
    const i = t.indexOf("=");
    if (i <= 0) throw new Error(`env: ${JSON.stringify(t)} is not KEY=VALUE`);
    env[t.slice(0, i).trim()] = t.slice(i + 1);
  }
  return env;
}

const list = (text) => text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);

async function newProject({ root, me }, pipeline) {
  document.title = `New project · ${pipeline} · Winslow`;
  const p = await api.get(`/api/v1/pipelines/${encodeURIComponent(pipeline)}`);
  const projectName = h("input", { name: "name", required: true, pattern: "[a-z0-9]([-a-z0-9]*[a-z0-9])?", maxlength: 63, spellcheck: false, autocomplete: "off" });
  const tags = h("input", { name: "tags", placeholder: "ulm, junction-4", spellcheck: false });
  const members = h("input", { name: "members", placeholder: "alice, group:vision", spellcheck: false });
  const env = h("textarea", { name: "env", rows: 3, placeholder: "MIN_TRACK_LENGTH=40", spellcheck: false, class: "code" });
  const paused = h("input", { type: "checkbox", name: "paused" });
  const status = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card form" },
    field("Project name", projectName, "lowercase letters, digits and -, e.g. ulm-junction-4"),
    field("Tags", tags, "separated by commas or spaces"),
    field("Members", members, `who else may see and change it (you, ${me.name}, own it); users or group:NAME`),
    field("Environment", env, "one KEY=VALUE per line; overrides the pipeline's env"),
    h("label", { class: "check" }, paused, " Create paused (start it later with Resume)"),
    status,
    h("div", { class: "actions" }, h("a", { class: "button secondary", href: link(["pipelines"]) }, "Cancel"), h("button", { type: "submit", class: "primary" }, "Create project")),
  );
  add(root, 
    h("p", { class: "crumbs" }, h("a", { href: link(["pipelines"]) }, "Pipelines"), " / ", h("a", { href: link(["pipelines", pipeline]) }, pipeline), " / new project"),
    h("div", { class: "page-head" }, h("h1", {}, `New project from ${pipeline}`)),
    h("p", { class: "muted" }, "Stages: ", p.spec.stages.map((s, i) => [i ? " → " : "", s.confirm ? "☛ " : "", s.name])),
    form,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(status);
    try {
      const manifest = {
        apiVersion: "winslow/v1",
        kind: "Project",
        metadata: { name: projectName.value.trim() },
        spec: { pipeline, env: pairs(env.value), tags: list(tags.value), members: list(members.value), paused: paused.checked },
      };
      await api.post("/api/v1/projects", manifest);
      toast(`Created project ${manifest.metadata.name}`);
      location.hash = link(["projects", manifest.metadata.name]);
    } catch (error) {
      add(status, message("error", error.message));
    }
  });
  projectName.focus();
  root.dataset.ready = "true";
}
