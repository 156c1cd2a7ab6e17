// The shell: sign-in, the top bar and a hash router that loads one view module per page.
// Each view's render(ctx) returns a function that stops what it started (polls, streams).

import { api, onSignedOut } from "./api.js";
import { add, clear, field, fill, h, message } from "./dom.js";

const VIEWS = {
  projects: () => import("./projects.js"),
  project: () => import("./project.js"),
  files: () => import("./files.js"),
  pipelines: () => import("./pipelines.js"),
  pipeline: () => import("./pipeline.js"),
  nodes: () => import("./nodes.js"),
  utilisation: () => import("./utilisation.js"),
};

let me = null;
let stop = null;
let generation = 0;
const main = () => document.getElementById("main");

export function parseHash(hash = location.hash) {
  const [path, search] = hash.replace(/^#\/?/, "").split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(search || "") };
}

export function link(parts, query) {
  const q = query && [...new URLSearchParams(query)].length ? `?${new URLSearchParams(query)}` : "";
  return "#/" + parts.map(encodeURIComponent).join("/") + q;
}

function viewOf(parts) {
  const [section = "projects", name] = parts;
  if (section === "projects" && name) return "project";
  if (section === "pipelines" && name) return "pipeline";
  return VIEWS[section] ? section : "projects";
}

async function route() {
  const mine = ++generation;
  if (stop) {
    const previous = stop;
    stop = null;
    previous();
  }
  if (!me) return signIn();
  const { parts, query } = parseHash();
  const view = viewOf(parts);
  const section = parts[0] && VIEWS[parts[0]] ? parts[0] : "projects";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.section === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  let module;
  try {
    module = await VIEWS[view]();
  } catch (error) {
    fill(main(), message("error", `cannot load this page: ${error.message}`));
    return;
  }
  if (mine !== generation) return;
  const root = clear(main());
  delete root.dataset.ready;
  const ctx = { root, parts, query, me, alive: () => mine === generation };
  try {
    stop = (await module.render(ctx)) || null;
    if (mine !== generation && stop) stop();
  } catch (error) {
    add(root, message("error", error.message));
  }
}

function signIn(problem) {
  document.getElementById("top").hidden = true;
  document.title = "Sign in · Winslow";
  const user = h("input", { name: "user", autocomplete: "username", spellcheck: false });
  const token = h("input", { name: "token", type: "password", required: true, autocomplete: "current-password" });
  const status = h("div", { class: "status" }, problem ? message("error", problem) : null);
  const form = h(
    "form",
    { class: "signin card", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, h("img", { src: "/ui/icon.svg", alt: "", width: 28, height: 28 }), " Winslow"),
    h("p", { class: "muted" }, "Sign in with the token an admin gave you (", h("code", {}, "winslow user add NAME"), ")."),
    field("User name (optional)", user),
    field("Token", token),
    status,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(status);
    try {
      me = await api.post("/api/v1/session", { token: token.value, user: user.value || null });
      start();
    } catch (error) {
      add(status, message("error", error.message));
      token.select();
    }
  });
  fill(main(), h("div", { class: "center" }, form));
  (user.value ? token : user).focus();
}

function start() {
  document.getElementById("top").hidden = false;
  document.getElementById("who").textContent = `${me.name}${me.admin ? " (admin)" : ""}`;
  if (!location.hash) history.replaceState(null, "", "#/projects");
  route();
}

async function signOut() {
  try {
    await api.del("/api/v1/session");
  } finally {
    me = null;
    generation++;
    if (stop) stop();
    stop = null;
    signIn();
  }
}

onSignedOut(() => {
  if (!me) return;
  me = null;
  if (stop) stop();
  stop = null;
  signIn("Your session ended; sign in again.");
});

async function boot() {
  document.getElementById("signout").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  try {
    me = await api.get("/api/v1/whoami");
  } catch {
    me = null;
  }
  if (me) start();
  else signIn();
}

boot();
