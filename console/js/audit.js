// Verifies an order's audit chain in the browser, as orders-admin verify-audit does for one
// chain's links: sequences 1..n, each prev_hash the previous hash (64 zeros first), and each
// hash the SHA-256 of the record's canonical JSON (shared/src/domain/audit.rs: the fields in
// a fixed order, nested objects with sorted keys, no spaces). A status change's record keeps
// what it changed (`changes`): it is hashed over that, with `before` and `after` as null
// (the API rebuilds both from the chain); a record without `changes` is hashed as written.
const ZERO = "0".repeat(64);
const FIELDS = ["order_id", "sequence", "trader_id", "actor", "action", "at", "before", "after", "reason",
  "request_id", "idempotency_key", "prev_hash"];

function canonical(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
}

async function sha256Hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `{ok, findings: [text]}` for the records in sequence order. */
export async function verifyChain(records) {
  const findings = [];
  if (!crypto.subtle) return { ok: null, findings: ["This page is not a secure context: hashes not checked"] };
  let prev = ZERO;
  for (const [i, r] of records.entries()) {
    if (r.sequence !== i + 1) findings.push(`record ${i + 1} has sequence ${r.sequence}`);
    if (r.prev_hash !== prev) findings.push(`record ${r.sequence} does not link to the one before it`);
    const changed = r.changes !== undefined && r.changes !== null;
    const hashed = FIELDS.map((f) => [f, changed && (f === "before" || f === "after") ? null : r[f]]);
    if (changed) hashed.push(["changes", r.changes]);
    const body = `{${hashed.map(([f, v]) => `${JSON.stringify(f)}:${canonical(v)}`).join(",")}}`;
    const hash = await sha256Hex(body);
    if (hash !== r.hash) findings.push(`record ${r.sequence}'s hash is not the hash of its content`);
    prev = r.hash;
  }
  if (!records.length) findings.push("no records");
  return { ok: findings.length === 0, findings };
}
