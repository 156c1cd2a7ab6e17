// The hash router: which URL shows which page, links to pages, and navigation between them.
// It imports no page; pages import `link` from here (not from main.js), so nothing imports back up.
// Each view's render(ctx) returns a function that stops what it started (polls, streams).

import { add, clear, fill, message } from "./dom.js";

const VIEWS = {
  projects: () => import("./projects.js"),
  project: () => import("./project.js"),
  files: () => import("./files.js"),
  pipelines: () => import("./pipelines.js"),
  pipeline: () => import("./pipeline.js"),
  nodes: () => import("./nodes.js"),
  queue: () => import("./queue.js"),
  utilisation: () => import("./utilisation.js"),
};

export function parseHash(hash = location.hash) {
  const [path, search] = hash.replace(/^#\/?/, "").split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(search || "") };
}

export function link(parts, query) {
  const q = query && [...new URLSearchParams(query)].length ? `?${new URLSearchParams(query)}` : "";
  return "#/" + parts.map(encodeURIComponent).join("/") + q;
}

// The view module a path shows: "#/projects/NAME" is one project, "#/pipelines/NAME" one pipeline.
function viewOf(parts) {
  const [section = "projects", name] = parts;
  if (section === "projects" && name) return "project";
  if (section === "pipelines" && name) return "pipeline";
  return VIEWS[section] ? section : "projects";
}

// The top bar's entry a path belongs to.
function sectionOf(parts) {
  return parts[0] && VIEWS[parts[0]] ? parts[0] : "projects";
}

function markSection(section) {
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.section === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

// A router that renders into main() for whoever user() says is signed in, and calls signIn()
// when no one is. listen() follows the hash from then on; show() shows the page of the current
// hash (the projects when there is none); leave() stops the page shown and any page still loading.
export function createRouter({ main, user, signIn }) {
  let stop = null;
  let generation = 0;

  function leave() {
    generation++;
    if (stop) {
      const previous = stop;
      stop = null;
      previous();
    }
  }

  async function route() {
    leave();
    const mine = generation;
    const me = user();
    if (!me) return signIn();
    const { parts, query } = parseHash();
    const view = viewOf(parts);
    markSection(sectionOf(parts));
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

  function show() {
    if (!location.hash) history.replaceState(null, "", "#/projects");
    return route();
  }

  function listen() {
    window.addEventListener("hashchange", route);
  }

  return { show, leave, listen };
}
