// The project's head: name and phase, what waits for a human, pipeline changes, and the facts.
// It fills two parts of the head: `top` (name, phase, notices) and `facts`; the controls
// (project/controls.js), drawn by the project page, sit between them.

import { age, fill, h, needsHuman, phaseBadge, when } from "../dom.js";
import { plainReason } from "../reason.js";
import { link } from "../router.js";

export function renderHead({ top, facts }, name, p) {
  const s = p.status || {};
  fill(top, 
    h("div", { class: "page-head" }, h("h1", {}, name), phaseBadge(s.phase, s)),
    needsHuman(s)
      ? h("div", { class: "notice human", role: "status" }, `☛ ${plainReason(s.reason)}`,
          s.waitingSince ? h("span", { class: "waiting-since" }, ` (waiting since ${when(s.waitingSince)}, ${age(s.waitingSince)})`) : null)
      : null,
    (s.notifyFailures || []).length
      ? h("div", { class: "notice", role: "status" }, "Notifications not sent: ",
          h("ul", { class: "changes" }, s.notifyFailures.map((f) => h("li", {}, f))))
      : null,
    (s.pipelineChanges || []).length
      ? h("div", { class: "notice", role: "status" },
          `Pipeline ${p.spec.pipeline} changed since this project took it; a resume takes it as it is now: `,
          h("ul", { class: "changes" }, s.pipelineChanges.map((c) => h("li", {}, c))))
      : null,
  );
  fill(facts, 
    h(
      "dl",
      { class: "facts" },
      needsHuman(s) ? null : [h("dt", {}, "Reason"), h("dd", { class: "reason" }, plainReason(s.reason) || "–")],
      h("dt", {}, "Stage"), h("dd", {}, s.currentStage || "–"),
      h("dt", {}, "Pipeline"), h("dd", {}, p.spec.pipeline ? h("a", { href: link(["pipelines", p.spec.pipeline]) }, p.spec.pipeline) : "own stages"),
      h("dt", {}, "Owner"), h("dd", {}, p.spec.owner || "–"),
      h("dt", {}, "Members"), h("dd", {}, (p.spec.members || []).join(", ") || "–"),
      h("dt", {}, "Tags"), h("dd", {}, (p.spec.tags || []).map((t) => h("span", { class: "tag" }, t)), (p.spec.tags || []).length ? null : "–"),
      h("dt", {}, "Age"), h("dd", {}, age(p.metadata.creationTimestamp)),
    ),
  );
}
