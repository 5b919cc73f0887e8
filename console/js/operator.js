// The operator's view: the deployment's kill switch, a trader's trading state, a trader's
// mass cancel, audit verification, and what needs attention (stalled orders, the work
// queue's dead letters and their redrive, reconciliation with the venue). Shown only for
// a token with the operator scope; the API checks it again.
import { api } from "./api.js";
import { el, statusText, timeCell } from "./format.js";

const $ = (id) => document.getElementById(id);

function show(node, text, ok) {
  node.textContent = text;
  node.classList.toggle("bad", ok === false);
  node.classList.toggle("ok", ok === true);
}

function change(form) {
  const data = new FormData(form);
  const body = { state: data.get("state") };
  const reason = String(data.get("reason") || "").trim();
  if (reason) body.reason = reason;
  return body;
}

function record(result) {
  const cancelled = result.cancelled
    ? `${result.cancelled.orders.length}${result.cancelled.more ? " (more remain)" : ""}` : "—";
  $("trader-states").tBodies[0].prepend(el("tr", {}, el("td", {}, result.scope),
    el("td", {}, statusText(result.previous_state)), el("td", { "data-state": result.state }, statusText(result.state)),
    el("td", { class: "num" }, String(result.audit_sequence)), el("td", { class: "num" }, cancelled)));
}

async function showDeployment() {
  const now = $("deployment-now");
  try {
    const v = await api.deploymentState();
    now.textContent = statusText(v.state);
    now.dataset.state = v.state;
  } catch (e) {
    now.textContent = `unknown (${e.message})`;
  }
}

async function showTrader(trader) {
  const now = $("trader-now");
  try {
    const v = await api.traderState(trader);
    now.textContent = `${v.scope}: ${statusText(v.state)}`;
    now.dataset.state = v.state;
  } catch (e) {
    now.textContent = `${trader}: ${e.message}`;
    delete now.dataset.state;
  }
}

function namedTrader() {
  const trader = $("t-trader").value.trim();
  $("e-t").textContent = trader ? "" : "Enter the trader's id";
  if (!trader) $("t-trader").focus();
  return trader;
}

let auditCursor = null;

async function verifyAudit(trader, cursor) {
  const out = $("audit-check-result");
  out.textContent = "Verifying…";
  delete out.dataset.ok;
  try {
    const r = await api.verifyAudit(trader, cursor);
    const body = $("audit-broken").tBodies[0];
    body.replaceChildren(...r.broken.map((b) => el("tr", {}, el("td", {}, b.order_id), el("td", {}, b.finding))));
    $("audit-broken").hidden = r.broken.length === 0;
    out.dataset.ok = String(r.broken.length === 0);
    out.textContent = r.broken.length === 0
      ? `${r.trader_id}: ${r.orders_checked} order(s) checked, every audit chain verified${r.next_cursor ? " (more orders remain)" : ""}.`
      : `${r.trader_id}: ${r.orders_checked} order(s) checked, ${r.broken.length} chain(s) do NOT verify (listed below).`;
    auditCursor = r.next_cursor;
    $("audit-check-next").hidden = !auditCursor;
  } catch (e) {
    out.textContent = `${trader}: ${e.message}`;
  }
}

// What needs attention: a day's records of each kind, a page at a time.
const attentionCursor = { stalled: null, reconciliation: null };

function attentionDay() {
  return $("att-date").value || new Date().toISOString().slice(0, 10);
}

function nowCell(r) {
  if (!r.current_status) return el("td", {}, "gone");
  const stuck = r.kind === "stalled" && r.current_reason ? " (still stalled)" : "";
  return el("td", { "data-state": r.current_status }, `${statusText(r.current_status)}${stuck}`);
}

function attentionRow(r) {
  const common = [el("td", {}, timeCell(r.at)), el("td", {}, r.trader_id), el("td", {}, r.order_id)];
  if (r.kind === "stalled") {
    return el("tr", {}, ...common, el("td", {}, statusText(r.from_status)), nowCell(r),
      el("td", { class: "reason" }, r.reason));
  }
  const change = r.from_status === r.to_status ? statusText(r.from_status)
    : `${statusText(r.from_status)} → ${statusText(r.to_status)}`;
  return el("tr", {}, ...common, el("td", {}, r.venue_status || "—"), el("td", {}, change),
    el("td", {}, r.corrected ? "Corrected" : "Needs an operator"), nowCell(r), el("td", { class: "reason" }, r.reason));
}

async function showAttention(kind, more) {
  const table = $(kind === "stalled" ? "stalled-orders" : "reconciliation-records");
  const next = $(`${kind}-next`);
  try {
    const r = await api.attention(kind, attentionDay(), more ? attentionCursor[kind] : null);
    const rows = r.records.map(attentionRow);
    if (more) table.tBodies[0].append(...rows);
    else table.tBodies[0].replaceChildren(...rows);
    if (!more && rows.length === 0) {
      table.tBodies[0].append(el("tr", {}, el("td", { colspan: String(table.tHead.rows[0].cells.length) },
        `None on ${r.date} (UTC)`)));
    }
    attentionCursor[kind] = r.next_cursor;
    next.hidden = !r.next_cursor;
  } catch (e) {
    const field = e.errors?.find((f) => f.field === "date");
    if (field) $("e-att").textContent = field.message;
    else show($("attention-result"), `${kind}: ${e.message}`, false);
  }
}

async function showDepth() {
  const depth = $("dlq-depth");
  try {
    const d = await api.deadLetters();
    depth.textContent = `${d.messages} waiting${d.in_flight ? `, ${d.in_flight} being moved` : ""}`;
  } catch (e) {
    depth.textContent = `unknown (${e.message})`;
  }
}

function showAllAttention() {
  $("e-att").textContent = "";
  $("attention-result").textContent = "";
  showDepth();
  showAttention("stalled", false);
  showAttention("reconciliation", false);
}

export function startOperator() {
  $("attention-form").onsubmit = (event) => {
    event.preventDefault();
    showAllAttention();
  };
  $("dlq-refresh").onclick = showDepth;
  $("stalled-next").onclick = () => showAttention("stalled", true);
  $("reconciliation-next").onclick = () => showAttention("reconciliation", true);
  $("dlq-redrive").onclick = async () => {
    const out = $("dlq-result");
    const button = $("dlq-redrive");
    button.disabled = true;
    let moved = 0;
    try {
      // At most 100 messages a call; ten calls at most from one click.
      let more = false;
      for (let i = 0; i < 10; i += 1) {
        const r = await api.redrive();
        moved += r.moved;
        more = r.more;
        if (!more) break;
      }
      show(out, `${moved} dead-lettered message(s) sent back to the work queue${more ? " (more remain: redrive again)" : ""}`, true);
    } catch (e) {
      show(out, `${moved} moved, then: ${e.message}`, false);
    } finally {
      button.disabled = false;
      showAllAttention();
    }
  };
  showAllAttention();
  $("audit-check-form").onsubmit = (event) => {
    event.preventDefault();
    const trader = $("a-trader").value.trim();
    $("e-a").textContent = trader ? "" : "Enter the trader's id";
    if (trader) verifyAudit(trader, null);
    else $("a-trader").focus();
  };
  $("audit-check-next").onclick = () => verifyAudit($("a-trader").value.trim(), auditCursor);
  $("operator-view").hidden = false;
  $("deployment-refresh").onclick = showDeployment;
  $("trader-lookup").onclick = () => {
    const trader = namedTrader();
    if (trader) showTrader(trader);
  };
  showDeployment();
  $("deployment-form").onsubmit = async (event) => {
    event.preventDefault();
    const out = $("deployment-result");
    try {
      const r = await api.setDeploymentState(change(event.target));
      record(r);
      show(out, `Deployment: ${statusText(r.previous_state)} → ${statusText(r.state)} (audit #${r.audit_sequence})`, true);
      showDeployment();
    } catch (e) {
      show(out, e.message, false);
    }
  };
  $("trader-state-form").onsubmit = async (event) => {
    event.preventDefault();
    const out = $("trader-result");
    const trader = namedTrader();
    if (!trader) return;
    const body = change(event.target);
    if ($("t-cancel").checked) body.cancel_open_orders = true;
    try {
      const r = await api.setTraderState(trader, body);
      record(r);
      show(out, `${trader}: ${statusText(r.previous_state)} → ${statusText(r.state)} (audit #${r.audit_sequence})`, true);
      showTrader(trader);
    } catch (e) {
      show(out, `${trader}: ${e.message}`, false);
    }
  };
  $("cancel-all").onclick = async () => {
    const out = $("trader-result");
    const trader = namedTrader();
    if (!trader) return;
    let total = 0;
    try {
      // One page (at most 100 orders) a call; ten calls at most from one click.
      for (let i = 0; i < 10; i += 1) {
        const r = await api.cancelAllFor(trader);
        total += r.orders.length;
        if (!r.more) break;
      }
      show(out, `${trader}: ${total} open order(s) asked to cancel`, true);
    } catch (e) {
      show(out, `${trader}: ${e.message}`, false);
    }
  };
}

export function stopOperator() {
  $("operator-view").hidden = true;
}
