// Small DOM helpers: elements are built, never parsed from strings, so no text from the share can
// ever become markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) el.setAttribute(key, value);
  }
  append(el, children);
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export function bytes(n) {
  let v = Number(n || 0);
  for (const unit of ["B", "KiB", "MiB", "GiB", "TiB"]) {
    if (Math.abs(v) < 1024 || unit === "TiB") return unit === "B" ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${unit}`;
    v /= 1024;
  }
  return `${v}`;
}

export function rate(n) {
  return `${bytes(n)}/s`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  let s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hh = Math.floor(s / 3600);
  s -= hh * 3600;
  const mm = Math.floor(s / 60);
  s -= mm * 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${mm}m`;
  if (mm) return `${mm}m ${s}s`;
  return `${s}s`;
}

export function age(timestamp, now = Date.now()) {
  if (!timestamp) return "–";
  return duration((now - Date.parse(timestamp)) / 1000);
}

export function when(timestamp) {
  if (!timestamp) return "–";
  const d = new Date(timestamp);
  const pad = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Every phase string renders, known or not; the symbol carries the meaning without colour.
const PHASES = {
  running: ["▶", "run"],
  succeeded: ["✔", "ok"],
  failed: ["✖", "bad"],
  invalid: ["⚠", "bad"],
  lost: ["✖", "bad"],
  killed: ["■", "warn"],
  paused: ["❚❚", "warn"],
  waiting: ["…", "wait"],
  pending: ["…", "wait"],
  skipped: ["↷", "skipped"], // its `when` was false: done, not failed; greyed, never alarming
};

export function needsHuman(status) {
  const reason = (status && status.reason) || "";
  return (status && status.phase) === "Waiting" && /confirm/i.test(reason);
}

export function phaseBadge(phase, status) {
  const text = String(phase || "Unknown");
  let [symbol, tone] = PHASES[text.toLowerCase()] || ["•", "other"];
  let label = text;
  if (status && needsHuman(status)) {
    [symbol, tone, label] = ["☛", "human", `${text}: confirm`];
  }
  return h("span", { class: `badge ${tone}`, title: label }, h("span", { "aria-hidden": "true" }, symbol), " ", label);
}

export function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", { class: "label" }, label), input, hint ? h("small", {}, hint) : null);
}

export function message(kind, text) {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

// A modal confirmation the keyboard can answer; resolves true or false.
export function confirmDialog(title, body, action = "OK", danger = false) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-label": title },
      h("h2", {}, title),
      h("p", {}, body),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "secondary", value: "cancel", onclick: () => dialog.close("cancel") }, "Cancel"),
        h("button", { type: "button", class: danger ? "danger" : "primary", onclick: () => dialog.close("ok") }, action),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector(".actions button:last-child").focus();
  });
}

export function toast(text, kind = "info") {
  const host = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  host.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 3500);
}

// append() that skips null, false and undefined (the DOM's own would print "null") and flattens.
export function add(el, ...children) {
  return append(el, children);
}

export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}
