// The live log of a StageRun: streamed from a byte offset (reconnects continue exactly there), kept
// at the bottom while the reader is there, left alone when they scroll up, and searchable.

import { add, clear, fill, h } from "./dom.js";

const LATEST = "";

export function followLog(container, { runs, chosen, onPick }) {
  const pick = h("select", { "aria-label": "StageRun" });
  const search = h("input", { type: "search", placeholder: "Search the log", "aria-label": "Search the log" });
  const count = h("span", { class: "muted count", "aria-live": "polite" });
  const prev = h("button", { type: "button", class: "small", "aria-label": "Previous match" }, "↑");
  const next = h("button", { type: "button", class: "small", "aria-label": "Next match" }, "↓");
  const state = h("span", { class: "log-state", "aria-live": "polite" });
  const pre = h("pre", { class: "log", tabindex: "0", "aria-label": "Log output" });
  const jump = h("button", { type: "button", class: "jump", hidden: true }, "↓ New output: jump to the end");
  const download = h("a", { class: "button small", download: "" }, "Download");
  fill(container, 
    h("div", { class: "log-bar" }, pick, state, h("span", { class: "grow" }), search, count, prev, next, download),
    h("div", { class: "log-wrap" }, pre, jump),
  );

  let mode = chosen || LATEST;
  let current = null; // the run being shown
  let controller = null;
  let text = "";
  let stopped = false;
  let marks = [];
  let at = -1;
  let optionsKey = "";

  const atBottom = () => pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
  pre.addEventListener("scroll", () => {
    if (atBottom()) jump.hidden = true;
  });
  jump.addEventListener("click", () => {
    pre.scrollTop = pre.scrollHeight;
    jump.hidden = true;
  });

  function target() {
    const all = runs();
    if (mode !== LATEST) return all.find((r) => r.metadata.name === mode) || { metadata: { name: mode }, status: {} };
    return all[0] || null;
  }

  function options() {
    const all = runs();
    const key = all.map((r) => r.metadata.name + r.status.phase).join() + mode;
    if (key === optionsKey) return;
    optionsKey = key;
    pick.replaceChildren(
      h("option", { value: LATEST }, "Latest run (follows new runs)"),
      ...all.map((r) => h("option", { value: r.metadata.name }, `#${r.metadata.name.split(".")[1]} ${r.spec.stage} · ${r.status.phase}`)),
    );
    pick.value = mode;
  }

  function highlight(fragmentText, into) {
    const q = search.value;
    if (!q) {
      add(into, fragmentText);
      return;
    }
    const lower = fragmentText.toLowerCase();
    const needle = q.toLowerCase();
    let from = 0;
    for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, i + needle.length)) {
      add(into, fragmentText.slice(from, i));
      const mark = h("mark", {}, fragmentText.slice(i, i + needle.length));
      marks.push(mark);
      add(into, mark);
      from = i + needle.length;
    }
    add(into, fragmentText.slice(from));
  }

  function showCount() {
    count.textContent = search.value ? (marks.length ? `${at + 1} of ${marks.length}` : "no match") : "";
  }

  function redraw() {
    marks = [];
    at = -1;
    const bottom = atBottom();
    clear(pre);
    highlight(text, pre);
    if (bottom && !search.value) pre.scrollTop = pre.scrollHeight;
    if (marks.length) go(0);
    showCount();
  }

  function go(step) {
    if (!marks.length) return;
    if (at >= 0) marks[at].classList.remove("current");
    at = (at + step + marks.length) % marks.length;
    marks[at].classList.add("current");
    marks[at].scrollIntoView({ block: "center" });
    showCount();
  }

  function appendText(chunk) {
    const bottom = atBottom();
    text += chunk;
    highlight(chunk, pre);
    if (bottom) pre.scrollTop = pre.scrollHeight;
    else jump.hidden = false;
    showCount();
  }

  async function stream(run) {
    const name = run.metadata.name;
    const decoder = new TextDecoder();
    let offset = 0;
    download.href = `/api/v1/stageruns/${encodeURIComponent(name)}/log`;
    download.setAttribute("download", `${name}.log`);
    while (!stopped && current === name) {
      controller = new AbortController();
      try {
        const response = await fetch(`/api/v1/stageruns/${encodeURIComponent(name)}/log?follow=true&offset=${offset}`, {
          signal: controller.signal,
          credentials: "same-origin",
        });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        state.textContent = "● following";
        state.className = "log-state live";
        const reader = response.body.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          offset += value.length;
          appendText(decoder.decode(value, { stream: true }));
        }
        state.textContent = "ended";
        state.className = "log-state";
        return;
      } catch (error) {
        if (stopped || current !== name) return;
        state.textContent = `reconnecting (${error.message})`;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  function show(run) {
    if (controller) controller.abort();
    current = run ? run.metadata.name : null;
    text = "";
    redraw();
    jump.hidden = true;
    if (!run) {
      state.textContent = "no StageRun yet";
      return;
    }
    stream(run);
  }

  pick.addEventListener("change", () => {
    mode = pick.value;
    onPick(mode || null);
    show(target());
  });
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(redraw, 150);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") go(event.shiftKey ? -1 : 1);
  });
  prev.addEventListener("click", () => go(-1));
  next.addEventListener("click", () => go(1));

  function refresh() {
    options();
    const run = target();
    const name = run ? run.metadata.name : null;
    if (name !== current) show(run);
  }
  refresh();
  return {
    refresh,
    stop() {
      stopped = true;
      if (controller) controller.abort();
    },
  };
}
