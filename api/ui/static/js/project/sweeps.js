// Sweeps side by side: for each sweep stage of the current pass, a table with one row per
// combination (its variables, phase, duration and results), sortable by any column, with the
// best row by a chosen result marked in words, and exported as CSV from the browser (a Blob: the
// table is what the user sees, so no route of its own is needed).
// Drawn on the History tab, above the StageRuns; `sweeps(host, view)` returns a refresh function
// the tab calls after each poll. The table is rebuilt only when what it shows changed, and its
// header only when its columns changed, so focus stays on a header button while runs go on.

import { duration, fill, h, phaseBadge } from "../dom.js";
import { link } from "../router.js";
import { currentPass, isSweep, needsOf, unitKey } from "./pipeline.js";
import { runNumber, runSeconds } from "./runs.js";

export function sweeps(host, { name, state }) {
  const tables = new Map();
  return () => {
    const s = state.project.status || {};
    const stages = (s.pipeline ? s.pipeline.stages : state.project.spec.stages) || [];
    const { units } = currentPass(stages, needsOf(stages), state.runs);
    const shown = stages
      .map((st, i) => [st, [...units[i].values()].sort((a, b) => runNumber(a.metadata.name) - runNumber(b.metadata.name))])
      .filter(([st, runs]) => runs.length && isSweep(st, runs));
    const names = shown.map(([st]) => st.name).join("|");
    if (names !== host.dataset.stages) {
      host.dataset.stages = names;
      tables.clear();
      fill(host, shown.length ? h("h2", {}, "Sweeps") : null, shown.map(([st]) => {
        const t = sweepTable(name, st);
        tables.set(st.name, t);
        return t.el;
      }));
    }
    for (const [st, runs] of shown) tables.get(st.name).update(runs);
  };
}

// A value's sort key: numbers as numbers, the rest as text; empty cells sort last either way.
function compare(a, b) {
  if (a === b) return 0;
  if (a === "" || a === null || a === undefined) return 1;
  if (b === "" || b === null || b === undefined) return -1;
  const [x, y] = [Number(a), Number(b)];
  if (Number.isFinite(x) && Number.isFinite(y)) return x - y;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

// The rows as the table and the CSV read them: one per run, its cells keyed by column id.
function rowsOf(runs, vars, keys) {
  return runs.map((run) => {
    const s = run.status || {};
    const seconds = runSeconds(run);
    const cells = { phase: s.phase || "Pending", duration: seconds === null ? "" : Math.round(seconds) };
    for (const v of vars) cells[`var:${v}`] = (s.matrix || {})[v] ?? "";
    for (const k of keys) cells[`result:${k}`] = (s.results || {})[k] ?? "";
    return { run, cells, label: unitKey(s.matrix) };
  });
}

function sweepTable(project, st) {
  const caption = h("caption", { class: "sr-only" });
  const thead = h("thead");
  const tbody = h("tbody");
  const best = h("select", { "aria-describedby": `sweep-best-note-${st.name}` });
  const note = h("span", { class: "muted", id: `sweep-best-note-${st.name}` }, "the best row is marked ★ best");
  const exportButton = h("button", { type: "button", class: "small" }, "Export CSV");
  const el = h("section", { class: "sweep", dataset: { stage: st.name }, "aria-labelledby": `sweep-title-${st.name}` },
    h("h3", { id: `sweep-title-${st.name}` }, `Sweep of ${st.name}`),
    h("div", { class: "sweep-tools" },
      h("label", { class: "inline-field" }, "Best by ", best), note, exportButton),
    h("div", { class: "table-wrap" }, h("table", { class: "grid sweep-table" }, caption, thead, tbody)));
  let columns = [];
  let rows = [];
  let sort = { id: null, dir: "ascending" };
  let columnKey = "";
  let rowKey = "";

  best.addEventListener("change", () => drawRows(true));
  exportButton.addEventListener("click", () => download(`${project}-${st.name}-sweep.csv`, csv(columns, sorted())));

  function sorted() {
    if (!sort.id) return rows;
    const sign = sort.dir === "ascending" ? 1 : -1;
    // empty cells last in both directions: they have nothing to rank
    return rows.slice().sort((a, b) => {
      const [x, y] = [a.cells[sort.id], b.cells[sort.id]];
      if (x === "" || y === "") return compare(x, y);
      return sign * compare(x, y);
    });
  }

  function drawHead() {
    fill(thead, h("tr", {}, columns.map((c) => {
      const th = h("th", { scope: "col", class: c.num ? "num" : null, dataset: { column: c.id } });
      if (sort.id === c.id) th.setAttribute("aria-sort", sort.dir);
      const arrow = sort.id === c.id ? (sort.dir === "ascending" ? "▲" : "▼") : "↕";
      th.append(h("button", { type: "button", class: "link sort", onclick: () => {
        sort = { id: c.id, dir: sort.id === c.id && sort.dir === "ascending" ? "descending" : "ascending" };
        drawHead();
        thead.querySelector(`th[data-column="${CSS.escape(c.id)}"] button`).focus();
        drawRows(true);
      } }, c.title, " ", h("span", { "aria-hidden": "true" }, arrow)));
      return th;
    }), h("th", { scope: "col" }, "Log")));
  }

  // The best row by the chosen result: the highest or lowest number in its column.
  function bestRow() {
    const [how, key] = best.value.split(":");
    if (!key) return null;
    const scored = rows.filter((r) => Number.isFinite(Number(r.cells[`result:${key}`])) && r.cells[`result:${key}`] !== "");
    if (!scored.length) return null;
    return scored.reduce((a, b) => {
      const d = Number(b.cells[`result:${key}`]) - Number(a.cells[`result:${key}`]);
      return (how === "max" ? d > 0 : d < 0) ? b : a;
    });
  }

  function drawRows(force = false) {
    const order = sorted();
    const key = JSON.stringify([order.map((r) => [r.run.metadata.name, r.cells]), best.value, sort]);
    if (key === rowKey && !force) return;
    rowKey = key;
    const top = bestRow();
    caption.textContent = `Sweep of ${st.name}: ${rows.length} combinations` + (sort.id ? `, sorted by ${columns.find((c) => c.id === sort.id).title}, ${sort.dir}` : "");
    fill(tbody, order.map((r) => h("tr", { class: r === top ? "row-best" : "", dataset: { combo: r.label } },
      columns.map((c, i) => {
        const value = c.id === "phase" ? phaseBadge(r.cells.phase) : c.id === "duration" ? duration(r.cells.duration === "" ? null : r.cells.duration) : String(r.cells[c.id]);
        const mark = i === 0 && r === top ? h("span", { class: "best-mark" }, h("span", { "aria-hidden": "true" }, "★"), " best ") : null;
        return h(i === 0 ? "th" : "td", { scope: i === 0 ? "row" : null, class: c.num ? "num" : null }, mark, value);
      }),
      h("td", {}, h("a", { href: link(["projects", project, "logs"], { run: r.run.metadata.name }), "aria-label": `log of ${r.label}` }, "log")))));
  }

  function update(runs) {
    const vars = [...new Set([...Object.keys(st.matrix || {}), ...runs.flatMap((r) => Object.keys((r.status || {}).matrix || {}))])];
    const keys = [...new Set(runs.flatMap((r) => Object.keys((r.status || {}).results || {})))];
    const next = [
      ...vars.map((v) => ({ id: `var:${v}`, title: v })),
      { id: "phase", title: "Phase" },
      { id: "duration", title: "Duration", num: true },
      ...keys.map((k) => ({ id: `result:${k}`, title: k, num: true })),
    ];
    rows = rowsOf(runs, vars, keys);
    const k = JSON.stringify(next);
    if (k !== columnKey) {
      columnKey = k;
      columns = next;
      const chosen = best.value;
      fill(best, h("option", { value: "" }, "(none)"), keys.flatMap((key) => [
        h("option", { value: `max:${key}` }, `${key}, highest`),
        h("option", { value: `min:${key}` }, `${key}, lowest`),
      ]));
      if ([...best.options].some((o) => o.value === chosen)) best.value = chosen;
      drawHead();
    }
    drawRows();
  }

  return { el, update };
}

// CSV as spreadsheets read it: quoted where needed, and a text cell that a spreadsheet would run
// as a formula (=, +, -, @ not starting a number) prefixed with ' so it stays text.
export function csv(columns, rows) {
  const cell = (v) => {
    let t = String(v ?? "");
    if (/^[=+\-@\t\r]/.test(t) && !Number.isFinite(Number(t))) t = `'${t}`;
    return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
  };
  const head = columns.map((c) => (c.id === "duration" ? "duration_s" : c.title));
  const lines = [head, ...rows.map((r) => columns.map((c) => r.cells[c.id]))];
  return lines.map((line) => line.map(cell).join(",")).join("\r\n") + "\r\n";
}

function download(filename, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const a = h("a", { href: url, download: filename, class: "sr-only" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
