// Files (thesis C.4, C.9): browse resources/ and project workspaces, download (the browser resumes
// with Range), upload by picking or dropping (resumable, checked piece by piece), folders, delete.

import { api, filesUrl } from "./api.js";
import { add, bytes, clear, confirmDialog, fill, h, message, rate, toast, when } from "./dom.js";
import { link } from "./router.js";
import { Upload, forget, unfinished } from "./upload.js";

// Uploads outlive the page that started them: one queue for the whole app, one file at a time.
const queue = [];
const watchers = new Set();
let running = false;

function notify() {
  watchers.forEach((fn) => fn());
}

async function pump() {
  if (running) return;
  running = true;
  try {
    for (;;) {
      const next = queue.find((u) => u.state === "queued");
      if (!next) break;
      await next.start();
    }
  } finally {
    running = false;
  }
}

export function enqueue(file, remote) {
  const existing = queue.find((u) => u.remote === remote && !["done", "failed"].includes(u.state));
  if (existing) {
    toast(`${remote} is being uploaded already`, "error");
    return existing;
  }
  const upload = new Upload(file, remote);
  let last = 0;
  upload.addEventListener("change", () => {
    const now = performance.now();
    if (upload.state === "sending" && now - last < 100) return;
    last = now;
    notify();
  });
  queue.push(upload);
  notify();
  pump();
  return upload;
}

function uploadRow(u) {
  const percent = u.file.size ? Math.floor((u.sent / u.file.size) * 100) : 100;
  const words = {
    queued: "waiting",
    hashing: "checking",
    sending: `${rate(u.speed)}`,
    paused: "paused",
    retrying: `connection lost, retrying: ${u.error}`,
    done: "done ✔",
    failed: `failed ✖ ${u.error}`,
  };
  const resumed = u.resumedAt ? ` · resumed at ${bytes(u.resumedAt)}` : "";
  const active = ["hashing", "sending", "retrying"].includes(u.state);
  return h(
    "li",
    { class: `upload ${u.state}`, dataset: { remote: u.remote } },
    h("div", { class: "upload-name" }, h("strong", {}, u.file.name), h("span", { class: "muted" }, ` → ${u.remote}`)),
    h("progress", { max: 100, value: percent, "aria-label": `Upload of ${u.file.name}` }, `${percent}%`),
    h(
      "div",
      { class: "upload-facts" },
      h("span", { class: "upload-state" }, `${percent}% · ${bytes(u.sent)} of ${bytes(u.file.size)} · ${words[u.state] || u.state}${resumed}`),
      active
        ? h("button", { type: "button", class: "small", onclick: () => u.pause() }, "Pause")
        : ["paused", "failed"].includes(u.state)
          ? h("button", { type: "button", class: "small", onclick: () => { u.state = "queued"; notify(); pump(); } }, "Resume")
          : null,
      ["done", "failed", "paused"].includes(u.state)
        ? h("button", { type: "button", class: "small link", onclick: () => { queue.splice(queue.indexOf(u), 1); notify(); } }, "Dismiss")
        : null,
    ),
  );
}

export function fileBrowser(container, { path, base, go }) {
  let here = path.replace(/\/+$/, "");
  const crumbs = h("nav", { class: "crumbs", "aria-label": "Folder" });
  const listing = h("div", { class: "listing" });
  const uploads = h("ul", { class: "uploads", "aria-label": "Uploads" });
  const leftovers = h("div");
  const picker = h("input", { type: "file", multiple: true, class: "sr-only", id: "upload-picker", "aria-label": "Files to upload" });
  const folderName = h("input", { placeholder: "new folder name", "aria-label": "New folder name", spellcheck: false });
  const folderForm = h("form", { class: "inline" }, folderName, h("button", { type: "submit" }, "Make folder"));
  const drop = h(
    "div",
    { class: "drop", tabindex: "-1" },
    h("label", { class: "button primary", for: "upload-picker" }, "⇪ Upload files…"),
    h("span", { class: "muted" }, " or drop files here"),
  );
  const tools = h("div", { class: "toolbar" }, drop, picker, folderForm);
  const hint = h("p", { class: "muted" }, "The workspaces of the projects you may see: input/, output/ and one folder per StageRun.");
  fill(container,
    crumbs,
    tools,
    hint,
    leftovers,
    uploads,
    listing,
  );

  function drawTools() {
    const root = here === "workspaces";
    tools.hidden = root;
    hint.hidden = !root;
  }

  function drawCrumbs() {
    const parts = here.split("/");
    const baseDepth = base ? base.split("/").length : 1;
    clear(crumbs);
    parts.forEach((part, i) => {
      const target = parts.slice(0, i + 1).join("/");
      if (i + 1 < baseDepth) return;
      if (i + 1 > baseDepth) add(crumbs, " / ");
      add(crumbs, i === parts.length - 1 ? h("strong", {}, part + "/") : h("a", { href: "#", onclick: (e) => { e.preventDefault(); open(target); } }, part));
    });
  }

  function drawUploads() {
    fill(uploads, ...queue.map(uploadRow));
    const mine = Object.entries(unfinished()).filter(
      ([remote]) => remote.startsWith(here + "/") && !remote.slice(here.length + 1).includes("/") && !queue.some((u) => u.remote === remote && u.state !== "failed"),
    );
    fill(leftovers, 
      ...mine.map(([remote, f]) =>
        h(
          "div",
          { class: "notice wait", role: "status" },
          `Unfinished upload of ${f.name} (${bytes(f.size)}): pick the same file again to go on where it stopped. `,
          h("label", { class: "button small", for: "upload-picker" }, "Pick it…"),
          " ",
          h("button", { type: "button", class: "small link", onclick: async () => {
            forget(remote);
            try { await api.del(filesUrl(remote)); } catch { /* nothing arrived yet */ }
            drawUploads();
          } }, "Discard"),
        ),
      ),
    );
  }

  async function open(target) {
    here = target.replace(/\/+$/, "");
    go(here);
    drawTools();
    drawCrumbs();
    drawUploads();
    await list();
  }

  async function list() {
    let data;
    try {
      data = await api.get(filesUrl(here));
    } catch (error) {
      if (error.status !== 404) {
        fill(listing, message("error", error.message));
        return;
      }
      data = { entries: [], missing: true };
    }
    const entries = data.entries || [];
    const up = here.split("/").length > (base ? base.split("/").length : 1);
    const rows = entries.map((e) => {
      const target = `${here}/${e.name}`;
      const dir = e.type === "directory";
      // What an aborted upload left (the server lists .NAME.upload as NAME): nothing to download;
      // deleting it removes only the leftover (upload=true), never a finished NAME beside it.
      const partial = e.type === "upload";
      return h(
        "tr",
        partial ? { class: "unfinished" } : {},
        h(
          "th",
          { scope: "row" },
          dir
            ? h("a", { href: "#", class: "dir", onclick: (ev) => { ev.preventDefault(); open(target); } }, e.name + "/")
            : partial
              ? h("span", {}, e.name, h("span", { class: "muted" }, ` (unfinished upload, ${bytes(e.size)})`))
              : h("span", {}, e.name),
        ),
        h("td", { class: "num" }, dir ? "–" : bytes(e.size)),
        h("td", {}, when(e.mtime)),
        h(
          "td",
          { class: "actions" },
          dir || partial ? null : h("a", { href: filesUrl(target), download: e.name, class: "button small" }, "Download"),
          target.split("/").length > 2 || here !== "workspaces"
            ? h("button", { type: "button", class: "small danger", "aria-label": `Delete ${partial ? "the unfinished upload of " : ""}${e.name}`, onclick: async () => {
                const what = dir
                  ? `the folder ${e.name} and everything in it`
                  : partial
                    ? `the ${bytes(e.size)} an unfinished upload of ${e.name} left`
                    : e.name;
                if (!(await confirmDialog(`Delete ${e.name}?`, `This deletes ${what} from ${here}/. It cannot be undone.`, "Delete", true))) return;
                try {
                  await api.del(filesUrl(target) + (partial ? "?upload=true" : ""));
                  toast(`Deleted ${e.name}`);
                } catch (error) {
                  toast(error.message, "error");
                }
                list();
              } }, "Delete")
            : null,
        ),
      );
    });
    fill(listing, 
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "grid files" },
          h("caption", { class: "sr-only" }, `Contents of ${here}`),
          h("thead", {}, h("tr", {}, ["Name", "Size", "Modified", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
          h(
            "tbody",
            {},
            up ? h("tr", {}, h("th", { scope: "row" }, h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); open(here.split("/").slice(0, -1).join("/")); } }, "↑ ..")), h("td"), h("td"), h("td")) : null,
            rows,
            entries.length
              ? null
              : h("tr", {}, h("td", { colspan: 4, class: "muted" }, data.missing ? "This folder does not exist yet: an upload or a new folder creates it." : "This folder is empty.")),
          ),
        ),
      ),
    );
    container.dataset.ready = "true";
  }

  function send(files) {
    if (here === "workspaces") return toast("Open a project's folder first, e.g. its input/", "error");
    for (const file of files) enqueue(file, `${here}/${file.name}`);
  }

  picker.addEventListener("change", () => {
    send([...picker.files]);
    picker.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    container.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  container.addEventListener("dragleave", (event) => {
    if (!container.contains(event.relatedTarget)) drop.classList.remove("over");
  });
  container.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    send([...event.dataTransfer.files]);
  });
  folderForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = folderName.value.trim();
    if (!name) return;
    try {
      await api.post(filesUrl(`${here}/${name}`));
      folderName.value = "";
      list();
    } catch (error) {
      toast(error.message, "error");
    }
  });

  let lastDone = queue.filter((u) => u.state === "done").length;
  const watcher = () => {
    drawUploads();
    const done = queue.filter((u) => u.state === "done").length;
    if (done !== lastDone) {
      lastDone = done;
      list();
    }
  };
  watchers.add(watcher);
  drawTools();
  drawCrumbs();
  drawUploads();
  list();
  return () => watchers.delete(watcher);
}

export async function render({ root, query }) {
  document.title = "Files · Winslow";
  const path = query.get("path") || "resources";
  const top = path.split("/")[0];
  add(root, 
    h("div", { class: "page-head" }, h("h1", {}, "Files")),
    h(
      "nav",
      { class: "tabs", "aria-label": "Areas" },
      h("a", { href: link(["files"], { path: "resources" }), "aria-current": top === "resources" ? "page" : null }, "Resources (shared pool)"),
      h("a", { href: link(["files"], { path: "workspaces" }), "aria-current": top === "workspaces" ? "page" : null }, "Project workspaces"),
    ),
  );
  const body = h("section");
  add(root, body);
  return fileBrowser(body, {
    path,
    base: top,
    go: (next) => window.history.replaceState(null, "", link(["files"], { path: next })),
  });
}
