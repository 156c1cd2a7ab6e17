// The pipeline tab: the stages the project snapshotted when it started (or its own stages).

import { bytes, fill, h } from "../dom.js";
import { link } from "../router.js";

export function pipeline({ body, state }) {
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
      h("ol", { class: "stages" }, stages.map((st) => stage(st, s.currentStage))),
    );
  };
  body.refresh();
}

function stage(st, current) {
  const r = st.resources || {};
  return h(
    "li",
    { class: st.name === current ? "current" : "" },
    h("div", { class: "stage-name" }, h("strong", {}, st.name), st.confirm ? h("span", { class: "badge human" }, "☛ confirm first") : null, st.name === current ? h("span", { class: "badge run" }, "◀ current") : null),
    h(
      "dl",
      { class: "facts compact" },
      h("dt", {}, "Image"), h("dd", {}, h("code", {}, st.image)),
      h("dt", {}, "Command"), h("dd", {}, h("code", {}, [...(st.command || []), ...(st.args || [])].join(" ") || "(image default)")),
      h("dt", {}, "Resources"), h("dd", {}, `${r.cpu ?? 1} CPU · ${typeof r.memory === "number" ? bytes(r.memory) : r.memory || "256Mi"} memory · ${r.gpu ?? 0} GPU`),
      Object.keys(st.env || {}).length ? [h("dt", {}, "Env"), h("dd", {}, Object.entries(st.env).map(([k, v]) => h("code", { class: "kv" }, `${k}=${v}`)))] : null,
    ),
  );
}
