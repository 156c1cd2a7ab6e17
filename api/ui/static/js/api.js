// The REST API as the UI uses it: same routes as winsctl, the sign-in cookie instead of a bearer
// token, and the CSRF cookie's value echoed in a header on every state-changing request.

export class ApiError extends Error {
  constructor(status, detail, body) {
    super(detail);
    this.status = status;
    this.body = body || {};
  }
  get problems() {
    return Array.isArray(this.body.problems) ? this.body.problems : [];
  }
}

export function csrf() {
  const m = document.cookie.match(/(?:^|;\s*)winslow_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

const listeners = new Set();
// Called with no argument when a request finds the session gone (HTTP 401).
export function onSignedOut(fn) {
  listeners.add(fn);
}

export function filesUrl(path) {
  return "/api/v1/files/" + path.split("/").filter(Boolean).map(encodeURIComponent).join("/");
}

async function errorOf(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  let detail = body.detail;
  if (typeof detail !== "string") detail = detail ? JSON.stringify(detail) : `HTTP ${response.status}`;
  return new ApiError(response.status, detail, body);
}

export async function request(method, path, { body, signal, headers = {}, raw = false } = {}) {
  const init = { method, headers: { ...headers }, signal, credentials: "same-origin" };
  if (!["GET", "HEAD"].includes(method)) init.headers["X-CSRF-Token"] = csrf();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401 && !path.startsWith("/api/v1/session")) listeners.forEach((fn) => fn());
  if (!response.ok) throw await errorOf(response);
  if (raw || method === "HEAD") return response;
  return response.status === 204 ? null : response.json();
}

export const api = {
  get: (path, opts) => request("GET", path, opts),
  post: (path, body, opts) => request("POST", path, { ...opts, body }),
  put: (path, body, opts) => request("PUT", path, { ...opts, body }),
  del: (path, opts) => request("DELETE", path, opts),
  head: (path, opts) => request("HEAD", path, opts),
};
