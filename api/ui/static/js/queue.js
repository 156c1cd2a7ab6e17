// The queue: the stages that wait for a node, a quota or a project that ranks higher, in the
// order they start, with why each waits and for how long (`winsctl get queue` shows the same).

import { api } from "./api.js";
import { add, age, clear, fill, h, message } from "./dom.js";
import { link } from "./router.js";
import { every } from "./poll.js";

const WHY = {
  "no-fit": "no node has room",
  quota: "its quota is full",
  behind: "waits behind a higher priority",
};

function row(item) {
  const combo = Object.entries(item.matrix || {}).map(([k, v]) => `${k}=${v}`).join(",");
  const project = item.project
    ? h("a", { href: link(["projects", item.project]) }, item.project)
    : h("span", { class: "muted" }, "a project you may not see");
  return h(
    "tr",
    {},
    h("td", {}, String(item.position)),
    h("td", {}, project),
    h("td", {}, item.stage ? `${item.stage}${combo ? ` [${combo}]` : ""}` : "—"),
    h("td", {}, String(item.priority)),
    h("td", {}, age(item.since)),
    h("td", {}, WHY[item.why] || item.why, item.detail ? h("div", { class: "muted" }, item.detail) : null),
  );
}

export async function render({ root }) {
  document.title = "Queue · Winslow";
  const body = h("tbody");
  const empty = h("p", { class: "muted" }, "Nothing waits: every stage that can start has started.");
  const problem = h("div");
  let wrap;
  add(
    root,
    h("div", { class: "page-head" }, h("h1", {}, "Queue")),
    h("p", { class: "muted" }, "Stages waiting for resources, in the order they start: higher priority first, then the longer wait."),
    problem,
    (wrap = h(
      "div",
      { class: "table-wrap", hidden: true },
      h(
        "table",
        { class: "grid queue" },
        h("caption", { class: "sr-only" }, "Stages waiting for resources, in the order they start"),
        h("thead", {}, h("tr", {}, ...["#", "Project", "Stage", "Priority", "Waiting", "Why"].map((t) => h("th", { scope: "col" }, t)))),
        body,
      ),
    )),
    empty,
  );
  return every(2000, async () => {
    const items = (await api.get("/api/v1/queue")).items || [];
    fill(body, ...items.map(row));
    empty.hidden = items.length > 0;
    wrap.hidden = !items.length;
    root.dataset.ready = "true";
  }, (error) => {
    clear(problem);
    if (error) add(problem, message("error", error.message));
  });
}
