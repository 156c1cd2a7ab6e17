// Utilisation: were the machines busy while people were away (nights, weekends) or only during
// working hours? A table of where the compute time went and weekday x hour maps, in plain words,
// from GET /api/v1/reports/utilisation (the same numbers as the command-line report).

import { api } from "./api.js";
import { add, field, fill, h, message } from "./dom.js";
import { link } from "./router.js";

const MAPS = {
  running: ["When stages ran", "hours"],
  started: ["When stages started", "starts"],
  runningAuto: ["When stages the pipeline started by itself ran", "hours"],
  startedAuto: ["When the pipeline started stages by itself", "starts"],
};

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function pct(v) {
  return `${(v * 100).toFixed(1)}%`;
}

// One unit for the whole table, chosen by its largest figure: 2003 h, 12.5 min or 17 s.
function unitFor(total) {
  if (total >= 0.1) return [1, "h", 1];
  if (total >= 1 / 60) return [60, "min", 1];
  return [3600, "s", 0];
}

function hours(v, unit = unitFor(v)) {
  const [scale, name, digits] = unit;
  const x = v * scale;
  return `${x >= 100 ? Math.round(x) : x.toFixed(digits)} ${name}`;
}

function cell(v) {
  if (!v) return "";
  if (v >= 10) return String(Math.round(v));
  return v >= 0.1 ? v.toFixed(1) : "<.1";
}

function heatmap(report, which) {
  const values = report.heatmap[which];
  const max = Math.max(1e-9, ...values.flat());
  const grid = h("div", { class: "heat", role: "table", "aria-label": `${MAPS[which][0]} by weekday and hour` });
  add(grid, 
    h("div", { class: "heat-row", role: "row" }, h("span", { class: "heat-day", role: "columnheader" }, ""), [...Array(24).keys()].map((hh) => h("span", { class: "heat-hour", role: "columnheader" }, String(hh)))),
  );
  report.heatmap.days.forEach((day, d) => {
    add(grid, 
      h(
        "div",
        { class: "heat-row", role: "row" },
        h("span", { class: "heat-day", role: "rowheader" }, day),
        values[d].map((v, hh) => {
          const work = report.heatmap.working[d][hh];
          const level = v > 0 ? Math.max(1, Math.round((v / max) * 8)) : 0;
          const shown = MAPS[which][1] === "hours" ? cell(v) : v || "";
          return h(
            "span",
            {
              class: `heat-cell${work ? " work" : ""}`,
              role: "cell",
              dataset: { level },
              title: `${day} ${hh}:00–${hh + 1}:00${work ? " (working hours)" : ""}: ${MAPS[which][1] === "hours" ? hours(v) : `${v} starts`}`,
            },
            String(shown),
          );
        }),
      ),
    );
  });
  return grid;
}

// The answer in a sentence or two, before the table.
function summary(r, unit) {
  const by = Object.fromEntries(r.rows.map((row) => [row.key, row]));
  if (!by.all || !by.all.hours) return h("p", {}, "Nothing ran in this period.");
  const off = by.off || { hours: 0, share: 0 };
  const auto = by.auto || { hours: 0, share: 0, gain: null };
  return h("p", { class: "answer" },
    `Of ${hours(by.all.hours, unit)} of work, ${hours(off.hours, unit)} (${pct(off.share)}) ran outside working hours, while nobody was there. `,
    `The pipeline started ${pct(auto.share)} of the work by itself`,
    auto.gain === null ? "." : `, ${Math.round(auto.gain * 100)}% more than people started themselves.`);
}

// What the shading means, in words and with a sample of each.
function legend() {
  return h("p", { class: "muted small heat-legend" },
    h("span", { class: "heat-cell sample", dataset: { level: 6 }, "aria-hidden": "true" }), " darker: more activity (each cell shows its figure) · ",
    h("span", { class: "heat-cell sample work", "aria-hidden": "true" }), " grey bar at the bottom: working hours · hover a cell for its hour and figure");
}

export async function render({ root, query }) {
  document.title = "Utilisation · Winslow";
  const today = new Date();
  const from = h("input", { type: "date", value: query.get("from") || isoDay(new Date(today - 27 * 864e5)) });
  const to = h("input", { type: "date", value: query.get("to") || isoDay(today) });
  const workHours = h("input", { value: query.get("workHours") || "8-18", size: 6, pattern: "\\d{1,2}-\\d{1,2}" });
  const workDays = h("input", { value: query.get("workDays") || "Mon-Fri", size: 10 });
  const tz = h("input", { value: query.get("tz") || Intl.DateTimeFormat().resolvedOptions().timeZone || "", size: 16, spellcheck: false });
  const weight = h("select", {}, h("option", { value: "none" }, "stage-hours"), h("option", { value: "gpu" }, "GPU-hours"), h("option", { value: "cpu" }, "CPU-hours"));
  weight.value = query.get("weight") || "none";
  const which = h("select", { "aria-label": "Heat map" }, Object.entries(MAPS).map(([k, [label]]) => h("option", { value: k }, label)));
  which.value = query.get("map") || "running";
  const out = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "filters report-form" },
    field("From", from),
    field("To", to),
    field("Working hours", workHours),
    field("Working days", workDays),
    field("Time zone", tz),
    field("Count", weight),
    h("button", { type: "submit", class: "primary" }, "Show"),
  );
  add(root, 
    h("div", { class: "page-head" }, h("h1", {}, "Utilisation")),
    h("p", { class: "muted" }, "Were our GPUs and CPUs busy while we were away (nights, weekends), or only during working hours? This page adds up how long stages ran in the chosen period, from the run history (a stage still running counts until now), and splits it by when it ran and by who started it: the pipeline by itself, or a person."),
    form,
    out,
  );
  let last = null;

  function draw() {
    const r = last;
    const unit = unitFor(r.rows[0].hours);
    fill(out, 
      h("p", { class: "muted" }, `${r.runs} stage run${r.runs === 1 ? "" : "s"} · counted in ${r.unit} · working hours ${r.workDays.join(", ")} ${r.workHours} (${r.tz})`),
      summary(r, unit),
      h(
        "div",
        { class: "table-wrap fit" },
        h(
          "table",
          { class: "grid report" },
          h("caption", {}, `Where the ${r.unit} went`),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Ran"), h("th", { scope: "col", class: "num" }, "Time"), h("th", { scope: "col", class: "num" }, "Share of all"), h("th", { scope: "col", class: "num", title: "How much more ran because the pipeline started stages by itself, compared with the rest" }, "Extra work from automatic starts"))),
          h(
            "tbody",
            {},
            r.rows.map((row) =>
              h(
                "tr",
                { dataset: { key: row.key } },
                h("th", { scope: "row" }, row.label),
                h("td", { class: "num" }, hours(row.hours, unit)),
                h("td", { class: "num" }, pct(row.share)),
                h("td", { class: "num" }, row.gain === null ? "" : `+${(row.gain * 100).toFixed(0)}%`),
              ),
            ),
          ),
        ),
      ),
      h("div", { class: "page-head" }, h("h2", {}, MAPS[which.value][0]), which),
      legend(),
      h("div", { class: "table-wrap heat-wrap", tabindex: "0", role: "region", "aria-label": `${MAPS[which.value][0]}: scrolls sideways on a narrow screen` }, heatmap(r, which.value)),
    );
    root.dataset.ready = "true";
  }

  async function load() {
    const params = { from: from.value, to: to.value, workHours: workHours.value, workDays: workDays.value, weight: weight.value };
    if (tz.value) params.tz = tz.value;
    window.history.replaceState(null, "", link(["utilisation"], { ...params, map: which.value }));
    try {
      last = await api.get(`/api/v1/reports/utilisation?${new URLSearchParams(params)}`);
      draw();
    } catch (error) {
      fill(out, message("error", error.message));
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  which.addEventListener("change", () => last && draw());
  await load();
}
