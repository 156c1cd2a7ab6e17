// The charts tab: what the stages' log parsers (a stage's `logParsers`) found in their output.
// A node writes each parser's rows to `.winslow/parsed/NAME.csv` in a run's workspace (`time`,
// then the pattern's named groups); this tab reads those files through the files API and draws one
// chart per parser and column, one series per run, so that the runs of a sweep lie on top of each
// other, each labelled by its combination (`LR=0.1,BATCH=8`) and chosen with a checkbox.
// x is the first column after `time` where it is numeric in every row (an epoch, a step), else
// the seconds since the run's first row. Drawn with uPlot (vendor/, MIT); each chart is a figure
// named for its parser and column, with a table of every run's last value for screen readers,
// and series told apart by label and dash as well as colour.

import uPlot from "../../vendor/uPlot.esm.js";
import { ApiError, filesUrl, request } from "../api.js";
import { add, fill, h, message } from "../dom.js";
import { runNumber } from "./runs.js";

const COLOURS = ["#1f6feb", "#d1242f", "#1a7f37", "#8250df", "#bc4c00", "#0a7480", "#bf3989", "#4d5566"];
const DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3]];
const FETCH_EVERY_MS = 3000; // a running run's files are read again this often
const HEIGHT = 260;

export function charts({ name, body, state }) {
  loadStyle();
  const files = new Map(); // `${run}/${parser}` -> { rows, header, final, at }
  const shown = new Map(); // `${parser}` -> Set of run names unticked
  const host = h("div", { class: "log-charts" });
  const status = h("p", { class: "muted", role: "status" });
  fill(body, h("h2", {}, "Charts from logs"), status, host);
  let drawn = "";
  let plots = [];
  let busy = false;

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const wanted = parsed(state.runs);
      if (!wanted.length) {
        plots.forEach((p) => p.plot.destroy());
        plots = [];
        drawn = "";
        fill(host, message("info", "No stage of this project has log parsers yet. A stage's `logParsers` " +
          "(a name and a pattern with named groups) turn lines of its output into rows that are charted here."));
        status.textContent = "";
        return;
      }
      await Promise.all(wanted.map((w) => fetchRows(name, w, files)));
      const key = JSON.stringify(wanted.map((w) => [w.run.metadata.name, w.parser, files.get(id(w))?.rows.length]));
      if (key === drawn) return;
      drawn = key;
      plots.forEach((p) => p.plot.destroy());
      plots = draw(host, wanted, files, shown, Math.max(280, Math.min(900, body.clientWidth - 24)));
      const rows = wanted.reduce((n, w) => n + (files.get(id(w))?.rows.length || 0), 0);
      status.textContent = `${rows} rows from ${new Set(wanted.map((w) => w.run.metadata.name)).size} runs`;
    } catch (error) {
      fill(host, message("error", error.message));
    } finally {
      busy = false;
    }
  }
  body.refresh = refresh;
  refresh();
  return () => plots.forEach((p) => p.plot.destroy());
}

function loadStyle() {
  if (document.querySelector("link[data-uplot]")) return;
  document.head.append(h("link", { rel: "stylesheet", href: "/ui/vendor/uPlot.min.css", "data-uplot": "" }));
}

// Every (run, parser) pair whose stage declared the parser, oldest run first.
function parsed(runs) {
  const found = [];
  for (const run of runs.slice().sort((a, b) => runNumber(a.metadata.name) - runNumber(b.metadata.name))) {
    for (const p of (run.spec || {}).logParsers || []) found.push({ run, parser: p.name });
  }
  return found;
}

function id(w) {
  return `${w.run.metadata.name}/${w.parser}`;
}

function active(run) {
  return ["Pending", "Running"].includes((run.status || {}).phase);
}

async function fetchRows(project, w, files) {
  const known = files.get(id(w));
  if (known && (known.final || Date.now() - known.at < FETCH_EVERY_MS)) return;
  const final = !active(w.run);
  const path = `workspaces/${project}/stages/${w.run.metadata.name}/.winslow/parsed/${w.parser}.csv`;
  try {
    const response = await request("GET", filesUrl(path), { raw: true });
    files.set(id(w), { ...readCsv(await response.text()), final, at: Date.now() });
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    files.set(id(w), { header: [], rows: [], final, at: Date.now() });
  }
}

// Whole rows only: a last line without its newline is still being written.
export function readCsv(text) {
  const lines = text.split("\n");
  lines.pop();
  const [header = [], ...rest] = lines.map(csvFields);
  return { header, rows: rest.filter((r) => r.length === header.length) };
}

function csvFields(line) {
  const fields = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let value = "";
      i += 1;
      while (i < line.length) {
        if (line[i] === '"' && line[i + 1] === '"') { value += '"'; i += 2; }
        else if (line[i] === '"') { i += 1; break; }
        else { value += line[i]; i += 1; }
      }
      fields.push(value);
      i += 1; // the comma
    } else {
      const end = line.indexOf(",", i);
      fields.push(line.slice(i, end < 0 ? line.length : end));
      i = end < 0 ? line.length + 1 : end + 1;
    }
  }
  return fields;
}

function number(text) {
  const v = text === "" ? NaN : Number(text);
  return Number.isFinite(v) ? v : null;
}

export function runLabel(run) {
  const matrix = Object.entries((run.status || {}).matrix || {}).map(([k, v]) => `${k}=${v}`).join(",");
  const n = `#${runNumber(run.metadata.name)}`;
  return matrix ? `${matrix} (${n})` : `${n} ${run.spec.stage}`;
}

function draw(host, wanted, files, shown, width) {
  const plots = [];
  const byParser = new Map();
  for (const w of wanted) {
    if (!byParser.has(w.parser)) byParser.set(w.parser, []);
    byParser.get(w.parser).push(w);
  }
  fill(host);
  for (const [parser, ws] of byParser) {
    const header = ws.map((w) => files.get(id(w))?.header || []).find((hd) => hd.length > 1) || [];
    const section = h("section", { class: "chart-group", "aria-label": `Parser ${parser}` }, h("h3", {}, parser));
    add(host, section);
    if (!header.length) {
      add(section, h("p", { class: "muted" }, `No line matched ${parser} yet.`));
      continue;
    }
    const hidden = shown.get(parser) || new Set();
    shown.set(parser, hidden);
    const columns = header.slice(1);
    const all = ws.flatMap((w) => files.get(id(w))?.rows || []);
    const byColumn = columns.length > 1 && all.length > 0 && all.every((r) => number(r[1]) !== null);
    const xName = byColumn ? columns[0] : "seconds since the run's first row";
    const yColumns = byColumn ? columns.slice(1) : columns;
    const series = ws.map((w, i) => ({ w, label: runLabel(w.run), colour: COLOURS[i % COLOURS.length], dash: DASHES[Math.floor(i / COLOURS.length) % DASHES.length] }));
    const pick = h("fieldset", { class: "chart-runs" }, h("legend", {}, "Runs shown"));
    add(section, pick);
    const groupPlots = [];
    for (const column of yColumns) {
      const ci = header.indexOf(column);
      const tables = series.map(({ w }) => xy(files.get(id(w))?.rows || [], byColumn, ci));
      const data = uPlot.join(tables.map((t) => [t.x, t.y]));
      const last = h("tbody", {}, series.map((s, i) => {
        const t = tables[i];
        const at = t.x.length - 1;
        return h("tr", {}, h("th", { scope: "row" }, s.label), h("td", {}, at >= 0 ? String(t.x[at]) : "–"), h("td", {}, at >= 0 ? String(t.y[at] ?? "–") : "–"), h("td", {}, String(t.x.length)));
      }));
      const summary = h("table", { class: "sr-only" },
        h("caption", {}, `Last values of ${column} (${parser}) by run`),
        h("thead", {}, h("tr", {}, ["Run", xName, column, "Rows"].map((t) => h("th", { scope: "col" }, t)))),
        last);
      const canvas = h("div", { class: "log-chart-canvas" });
      const figure = h("figure", { class: "log-chart", "aria-label": `Chart of ${column} from parser ${parser} against ${xName}, one line per run` },
        h("figcaption", {}, `${column} by ${xName}`), canvas, summary);
      add(section, figure);
      const plot = new uPlot({
        width,
        height: HEIGHT,
        scales: { x: { time: false } },
        axes: [axis(xName), axis(column)],
        legend: { live: false },
        series: [
          { label: xName },
          ...series.map((s) => ({ label: s.label, stroke: s.colour, dash: s.dash, width: 2, spanGaps: true, show: !hidden.has(s.w.run.metadata.name), points: { show: true, size: 5 } })),
        ],
      }, data, canvas);
      plots.push({ plot });
      groupPlots.push(plot);
    }
    series.forEach((s, i) => {
      const run = s.w.run.metadata.name;
      const box = h("input", { type: "checkbox", checked: !hidden.has(run), onchange: () => {
        if (box.checked) hidden.delete(run); else hidden.add(run);
        groupPlots.forEach((p) => p.setSeries(i + 1, { show: box.checked }));
      } });
      const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.borderTopColor = s.colour; // CSSOM, which the page's CSP allows (a style attribute it would not)
      swatch.style.borderTopStyle = s.dash.length ? "dashed" : "solid";
      add(pick, h("label", { class: "chart-run" }, box, swatch, s.label));
    });
  }
  return plots;
}

// One run's points: x from the first column or the time, y from column `ci`; rows without a number
// for y are left out, and the points are ordered by x as uPlot.join needs.
function xy(rows, byColumn, ci) {
  const t0 = rows.length ? Date.parse(rows[0][0]) : 0;
  const points = [];
  for (const r of rows) {
    const x = byColumn ? number(r[1]) : (Date.parse(r[0]) - t0) / 1000;
    const y = number(r[ci]);
    if (x !== null && Number.isFinite(x) && y !== null) points.push([x, y]);
  }
  points.sort((a, b) => a[0] - b[0]);
  const x = [];
  const y = [];
  for (const [px, py] of points) {
    if (x.length && x[x.length - 1] === px) { y[y.length - 1] = py; continue; } // a repeated x: the later row
    x.push(px);
    y.push(py);
  }
  return { x, y };
}

// Axes in the page's own colours, light or dark.
function axis(label) {
  const css = getComputedStyle(document.documentElement);
  const ink = css.getPropertyValue("--text").trim() || "#1c2330";
  const line = css.getPropertyValue("--line").trim() || "#d9dee6";
  return { label, stroke: ink, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
}
