// Resumable uploads with the Content-Range protocol of `winsctl cp`, checked piece by piece.
//
// A browser cannot hash a file of tens of GB as it streams it (crypto.subtle has no streaming
// digest), so each piece is hashed on its own in a worker, the next one while the current one is
// on the wire, and sent with X-Piece-Sha256; the node keeps a piece only whole and matching. After a
// dropped connection the upload asks the node where it stands (HEAD ?upload=true) and goes on; after
// a closed tab, picking the same file again for the same place goes on where it stopped (the file's
// name, size and date are remembered in localStorage, so a different file is never appended).

import { ApiError, csrf, filesUrl } from "./api.js";

export const PIECE = 128 * 1024 * 1024;
const EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const STORE = "winslow.uploads";
const RETRIES = 20;

let worker = null;
let nextId = 0;
const pending = new Map();

function hashBlob(blob) {
  if (!worker) {
    worker = new Worker(new URL("./hash-worker.js", import.meta.url), { type: "module" });
    worker.onmessage = (event) => {
      const { id, hex, error } = event.data;
      const entry = pending.get(id);
      pending.delete(id);
      if (entry) error ? entry.reject(new Error(error)) : entry.resolve(hex);
    };
  }
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, blob });
  });
}

function records() {
  try {
    return JSON.parse(localStorage.getItem(STORE)) || {};
  } catch {
    return {};
  }
}

function save(all) {
  try {
    localStorage.setItem(STORE, JSON.stringify(all));
  } catch {
    // private mode or a full store: uploads still work, only a closed tab cannot resume
  }
}

function identity(file) {
  return { name: file.name, size: file.size, lastModified: file.lastModified };
}

// Uploads this browser began and did not finish: {remote: {name, size, lastModified}}.
export function unfinished() {
  return records();
}

export function forget(remote) {
  const all = records();
  delete all[remote];
  save(all);
}

class Interrupted extends Error {}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Upload extends EventTarget {
  constructor(file, remote) {
    super();
    this.file = file;
    this.remote = remote;
    this.sent = 0;
    this.state = "queued"; // queued, hashing, sending, paused, retrying, done, failed
    this.error = "";
    this.resumedAt = 0;
    this.xhr = null;
    this.stopped = false;
    this.started = 0;
    this.startedAt = 0;
  }

  emit(state) {
    if (state) this.state = state;
    this.dispatchEvent(new Event("change"));
  }

  get speed() {
    const seconds = (performance.now() - this.started) / 1000;
    return seconds > 0.2 ? (this.sent - this.startedAt) / seconds : 0;
  }

  pause() {
    this.stopped = true;
    if (this.xhr) this.xhr.abort();
    this.emit("paused");
  }

  async offsetOnServer() {
    const response = await fetch(filesUrl(this.remote) + "?upload=true", { method: "HEAD", credentials: "same-origin" });
    if (!response.ok) throw new ApiError(response.status, `cannot ask the node about ${this.remote} (HTTP ${response.status})`);
    return Number(response.headers.get("Upload-Offset") || 0);
  }

  async start() {
    this.stopped = false;
    this.error = "";
    const file = this.file;
    let failures = 0;
    while (!this.stopped) {
      try {
        let offset = await this.offsetOnServer();
        const known = records()[this.remote];
        const same = known && known.size === file.size && known.lastModified === file.lastModified && known.name === file.name;
        if (!(offset > 0 && offset < file.size && same)) offset = 0;
        if (!this.started) this.resumedAt = offset;
        save({ ...records(), [this.remote]: identity(file) });
        this.sent = offset;
        this.started = performance.now();
        this.startedAt = offset;
        await this.send(offset);
        forget(this.remote);
        this.emit("done");
        return;
      } catch (error) {
        if (this.stopped) return;
        const retry =
          !(error instanceof ApiError) ||
          error.status >= 500 ||
          error.status === 409 ||
          (error.status === 422 && "offset" in error.body);
        if (!retry || ++failures > RETRIES) {
          this.error = error.message;
          this.emit("failed");
          return;
        }
        this.error = error.message;
        this.emit("retrying");
        if (!navigator.onLine) await new Promise((resolve) => addEventListener("online", resolve, { once: true }));
        await sleep(Math.min(10000, 500 * 2 ** Math.min(failures, 5)));
      }
    }
  }

  async send(offset) {
    const file = this.file;
    const piece = (start) => file.slice(start, Math.min(start + PIECE, file.size));
    let next = { start: offset, digest: file.size ? hashBlob(piece(offset)) : Promise.resolve(EMPTY) };
    this.emit("hashing");
    for (;;) {
      const start = next.start;
      const end = Math.min(start + PIECE, file.size);
      const digest = await next.digest;
      if (this.stopped) throw new Interrupted("paused");
      if (end < file.size) next = { start: end, digest: hashBlob(piece(end)) };
      this.emit("sending");
      const reply = await this.put(start, end, digest);
      if (reply.status === 201) return;
      if (reply.status === 202) continue;
      const body = reply.body || {};
      throw new ApiError(reply.status, body.detail || `HTTP ${reply.status}`, body);
    }
  }

  put(start, end, digest) {
    const file = this.file;
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      xhr.open("PUT", filesUrl(this.remote));
      if (file.size) xhr.setRequestHeader("Content-Range", `bytes ${start}-${end - 1}/${file.size}`);
      xhr.setRequestHeader("X-Piece-Sha256", digest);
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = (event) => {
        this.sent = start + event.loaded;
        this.emit();
      };
      xhr.onload = () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          body = null;
        }
        if (xhr.status === 201 || xhr.status === 202) this.sent = xhr.status === 201 ? file.size : end;
        resolve({ status: xhr.status, body });
      };
      xhr.onerror = () => reject(new Error("the connection to the node dropped"));
      xhr.onabort = () => reject(new Interrupted("paused"));
      xhr.send(file.slice(start, end));
    });
  }
}
