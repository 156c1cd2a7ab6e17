// A small SVG line chart for a node's last hour; gaps (no heartbeat) break the line.
import { h, svg } from "./dom.js";

export function lineChart({ title, series, start, step, max, format }) {
  const width = 320;
  const height = 84;
  const pad = { l: 4, r: 4, t: 6, b: 16 };
  const n = Math.max(...series.map((s) => s.values.length), 1);
  const slots = Math.max(n, Math.round(3600 / step)); // an hour wide, the latest sample at the right
  const top = max ?? Math.max(1e-9, ...series.flatMap((s) => s.values.filter((v) => v !== null)));
  const x = (i) => pad.l + ((width - pad.l - pad.r) * (slots - n + i)) / Math.max(1, slots - 1);
  const y = (v) => pad.t + (height - pad.t - pad.b) * (1 - Math.min(1, v / top));
  const paths = series.map((s, k) => {
    let d = "";
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    const lastIndex = s.values.length - 1 - [...s.values].reverse().findIndex((v) => v !== null && v !== undefined);
    const hasLast = lastIndex < s.values.length;
    return [
      svg("path", { d, class: `line s${k}`, fill: "none", "stroke-dasharray": k ? "4 3" : null }),
      hasLast ? svg("circle", { cx: x(lastIndex).toFixed(1), cy: y(s.values[lastIndex]).toFixed(1), r: 2.5, class: `dot s${k}` }) : null,
    ];
  });
  const minutes = Math.round((slots * step) / 60);
  const last = series.map((s) => [...s.values].reverse().find((v) => v !== null && v !== undefined));
  const label = series.map((s, k) => `${s.name} ${last[k] === undefined ? "–" : format(last[k])}`).join(", ");
  return h(
    "figure",
    { class: "chart" },
    h("figcaption", {}, h("span", {}, title), h("span", { class: "muted" }, series.map((s, k) => h("span", { class: `key s${k}` }, `${s.name} ${last[k] === undefined ? "–" : format(last[k])}`)))),
    svg(
      "svg",
      { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title} over the last ${minutes} minutes: now ${label}`, preserveAspectRatio: "none" },
      svg("line", { x1: pad.l, x2: width - pad.r, y1: y(0), y2: y(0), class: "axis" }),
      svg("line", { x1: pad.l, x2: width - pad.r, y1: y(top), y2: y(top), class: "grid-line" }),
      paths,
      svg("text", { x: pad.l, y: height - 3, class: "tick" }, start ? `${minutes} min ago` : ""),
      svg("text", { x: width - pad.r, y: height - 3, class: "tick", "text-anchor": "end" }, "now"),
    ),
  );
}
