// Pipelines (thesis C.8): the list, with links to view or edit each and to start a project.

import { api } from "./api.js";
import { add, age, h } from "./dom.js";
import { link } from "./router.js";

export async function render({ root }) {
  document.title = "Pipelines · Winslow";
  const data = await api.get("/api/v1/pipelines");
  const items = data.items || [];
  add(root, 
    h("div", { class: "page-head" }, h("h1", {}, "Pipelines"), h("a", { class: "button", href: link(["pipelines", "_new"]) }, "New pipeline…")),
    h("p", { class: "muted" }, "A project runs a pipeline's stages in order on the best-fitting node. Pick one to start a project."),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "grid" },
        h("thead", {}, h("tr", {}, ["Pipeline", "Stages", "Resources", "Age", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          {},
          items.map((p) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, h("a", { href: link(["pipelines", p.metadata.name]) }, p.metadata.name)),
              h("td", {}, p.spec.stages.map((s, i) => [i ? " → " : "", s.confirm ? "☛ " : "", s.name])),
              h("td", {}, p.spec.stages.some((s) => (s.resources || {}).gpu) ? "GPU" : "CPU"),
              h("td", { class: "num" }, age(p.metadata.creationTimestamp)),
              h(
                "td",
                { class: "actions" },
                h("a", { class: "button small primary", href: link(["pipelines", p.metadata.name, "new-project"]) }, "New project"),
                " ",
                h("a", { class: "button small", href: link(["pipelines", p.metadata.name]) }, "View / edit"),
              ),
            ),
          ),
          items.length ? null : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No pipelines yet.")),
        ),
      ),
    ),
  );
  root.dataset.ready = "true";
}
