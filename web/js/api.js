// HTTP access to the surgeond REST API (api/v1): JSON in and out, the bearer token the user
// pasted (kept in localStorage), error objects {error, detail, field} turned into ApiError, and
// the server clock offset taken from the "now" of list responses. No rendering here.

import { startPolling } from "./poll.js";

const TOKEN_KEY = "surgeond.token";

export class ApiError extends Error {
  constructor(status, body, path) {
    const msg = (body && (body.error || body.detail)) || `HTTP ${status}`;
    super(msg);
    this.status = status;
    this.error = body && body.error;
    this.detail = body && body.detail;
    this.field = body && body.field;
    this.path = path;
  }

  // One line for the user: "invalid spec: steps must be >= 1 (field steps)".
  describe() {
    let s = this.error || `HTTP ${this.status}`;
    if (this.detail && this.detail !== this.error) s += `: ${this.detail}`;
    if (this.field) s += ` (field ${this.field})`;
    return s;
  }
}

export function getToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || "";
  } catch (e) {
    return "";
  }
}

export function setToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch (e) {
    /* storage disabled: the token lives for this page only */
  }
  window.dispatchEvent(new CustomEvent("hs-token-changed"));
}

// Milliseconds to add to Date.now() to get the daemon's clock.
let clockOffsetMs = 0;

export function serverNow() {
  return Date.now() + clockOffsetMs;
}

export function noteServerTime(iso) {
  const t = Date.parse(iso);
  if (!Number.isNaN(t)) clockOffsetMs = t - Date.now();
}

async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    window.dispatchEvent(new CustomEvent("hs-connection", { detail: { ok: false } }));
    throw new ApiError(0, { error: "daemon unreachable", detail: String(e.message || e) }, path);
  }
  window.dispatchEvent(new CustomEvent("hs-connection", { detail: { ok: true } }));
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = { error: `HTTP ${res.status}`, detail: text.slice(0, 200) };
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data, path);
    if (res.status === 401) window.dispatchEvent(new CustomEvent("hs-auth-required", { detail: err }));
    throw err;
  }
  return data;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body) => request("POST", path, body === undefined ? {} : body),
  patch: (path, body) => request("PATCH", path, body),
  del: (path) => request("DELETE", path),
};

// Builds "api/v1/<path>?k=v&..." leaving out empty values. Relative to the page, so the
// dashboard also works behind a reverse proxy that mounts the daemon under a prefix.
export function apiPath(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const qs = q.toString();
  return `api/v1/${path}${qs ? "?" + qs : ""}`;
}

/* Calls poll() now and then every intervalMs (hiddenFactor times slower while the tab is
 * hidden), forever: the shared helper of poll.js, for panels that live as long as the page. */
export function pollForever(poll, intervalMs, hiddenFactor) {
  startPolling(poll, intervalMs, { hiddenFactor });
}
