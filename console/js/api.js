// The HTTP API (infra/openapi.yaml): every request the console makes goes through here,
// and only to routes that document lists.
import config from "../config.js";

export class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || body?.message || `HTTP ${status}`);
    this.status = status;
    this.type = body?.type || null;
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
    this.auditId = body?.audit_id || null;
  }
}

let token = null;
export function setToken(t) {
  token = t;
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

async function call(method, path, { body, idempotent = false, query } = {}) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (idempotent) headers["idempotency-key"] = newKey();
  let url = `${config.apiBase}/api/v1${path}`;
  if (query) {
    const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== ""));
    if ([...q].length) url += `?${q}`;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new Problem(0, { detail: `The API did not answer (${e.message}); check the connection and retry` });
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { detail: text };
  }
  if (!response.ok) throw new Problem(response.status, parsed);
  return parsed;
}

const seg = encodeURIComponent;
export const api = {
  listOrders: (cursor) => call("GET", "/orders", { query: { limit: "50", cursor } }),
  getOrder: (id) => call("GET", `/orders/${seg(id)}`),
  submit: (order) => call("POST", "/orders", { body: order, idempotent: true }),
  cancel: (id) => call("POST", `/orders/${seg(id)}/cancel`),
  fills: (id) => call("GET", `/orders/${seg(id)}/fills`),
  audit: (id) => call("GET", `/orders/${seg(id)}/audit`),
  account: () => call("GET", "/account"),
  deploymentState: () => call("GET", "/operator/trading-state"),
  traderState: (trader) => call("GET", `/operator/traders/${seg(trader)}/trading-state`),
  setDeploymentState: (change) => call("PUT", "/operator/trading-state", { body: change, idempotent: true }),
  setTraderState: (trader, change) =>
    call("PUT", `/operator/traders/${seg(trader)}/trading-state`, { body: change, idempotent: true }),
  verifyAudit: (trader, cursor) =>
    call("GET", `/operator/traders/${seg(trader)}/audit-verification`, { query: { cursor } }),
  cancelAllFor: (trader) => call("DELETE", `/operator/traders/${seg(trader)}/orders`),
  attention: (kind, date, cursor) => call("GET", "/operator/attention", { query: { kind, date, cursor } }),
  deadLetters: () => call("GET", "/operator/dead-letters"),
  redrive: () => call("POST", "/operator/dead-letters/redrive"),
  replace: (id, change) => call("PATCH", `/orders/${seg(id)}`, { body: change, idempotent: true }),
};

/** The token's claims, read without verifying it (the API verifies; this only picks views). */
export function claims(jwt) {
  const parts = jwt.split(".");
  if (parts.length !== 3) throw new Error("This is not a JWT: it must be three dot-separated parts");
  let json;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    json = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
  } catch {
    throw new Error("The token's payload is not base64url JSON");
  }
  if (typeof json.sub !== "string" || !json.sub) throw new Error("The token has no `sub` (the trader or operator id)");
  if (typeof json.exp === "number" && json.exp * 1000 < Date.now()) throw new Error("The token has expired: make a new one");
  const raw = json.scope ?? json.scp ?? "";
  const scopes = Array.isArray(raw) ? raw : String(raw).split(/\s+/).filter(Boolean);
  return { sub: json.sub, exp: json.exp, scopes };
}

export function liveUrl() {
  if (config.liveUrl) return config.liveUrl;
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/live`;
}

export { config };
