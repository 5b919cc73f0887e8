// The trader's view: ticket, blotter (live), order detail with fills and audit, account.
import { api, Problem } from "./api.js";
import { connectLive } from "./live.js";
import { verifyChain } from "./audit.js";
import { CANCELLABLE, REPLACEABLE, TERMINAL, el, money, qty, statusText, timeCell } from "./format.js";


const $ = (id) => document.getElementById(id);
const FIELDS = ["symbol", "side", "type", "quantity", "limit_price", "stop_price", "time_in_force", "client_order_id"];

/** order id → the order as last known (API shape); the highest version wins. */
const orders = new Map();
let live = null;
let accountTimer = null;

function showResult(node, text, ok) {
  node.textContent = text;
  node.classList.toggle("bad", ok === false);
  node.classList.toggle("ok", ok === true);
}

function clearFieldErrors() {
  for (const f of FIELDS) {
    $(`e-${f}`).textContent = "";
    const input = $(`f-${f}`);
    if (input) input.removeAttribute("aria-invalid");
  }
}

function ticketBody(form) {
  const data = new FormData(form);
  const body = {
    symbol: String(data.get("symbol") || "").trim().toUpperCase(),
    side: data.get("side"),
    type: data.get("type"),
    quantity: String(data.get("quantity") || "").trim(),
    time_in_force: data.get("time_in_force"),
  };
  // Optional fields go only when filled in: the API says which are required for the type.
  for (const f of ["limit_price", "stop_price", "client_order_id"]) {
    const v = String(data.get(f) || "").trim();
    if (v) body[f] = v;
  }
  return body;
}

async function submitTicket(event) {
  event.preventDefault();
  const form = event.target;
  const result = $("ticket-result");
  clearFieldErrors();
  showResult(result, "Submitting…");
  const button = $("submit-order");
  button.disabled = true;
  try {
    const order = await api.submit(ticketBody(form));
    merge(order);
    showResult(result, `Order ${order.order_id} accepted: ${statusText(order.status)}`, true);
    scheduleAccount();
  } catch (e) {
    if (!(e instanceof Problem)) throw e;
    let first = null;
    for (const { field, message } of e.errors) {
      const slot = $(`e-${field}`);
      if (slot) {
        slot.textContent = message;
        const input = $(`f-${field}`) || form.querySelector(`[name="${field}"]`);
        if (input) {
          input.setAttribute("aria-invalid", "true");
          first = first || input;
        }
      }
    }
    showResult(result, e.message, false);
    if (first) first.focus();
  } finally {
    button.disabled = false;
  }
}

function isNewer(id, version) {
  const known = orders.get(id);
  return !known || version > known.version;
}

/** A full order from the API: kept if it is newer than what the blotter shows. */
function merge(order) {
  if (!isNewer(order.order_id, order.version)) return;
  orders.set(order.order_id, order);
  renderBlotter();
}

/** A live update: applied onto the known order; an unknown order is fetched whole. */
async function onUpdate(u) {
  if (!isNewer(u.order_id, u.version)) return; // a repeat: (order_id, version) already shown
  const known = orders.get(u.order_id);
  // A replace changes the order's values, which the update does not carry: read it whole.
  const replacing = known && (known.status === "REPLACE_REQUESTED" || u.new_status === "REPLACE_REQUESTED");
  if (known && !replacing) {
    orders.set(u.order_id, {
      ...known,
      status: u.new_status,
      filled_quantity: u.filled_quantity,
      average_fill_price: u.average_price,
      version: u.version,
      updated_at: u.timestamp,
    });
    renderBlotter();
  } else {
    try {
      merge(await api.getOrder(u.order_id));
    } catch (e) {
      showResult($("blotter-result"), `Order ${u.order_id}: ${e.message}`, false);
    }
  }
  if ($("detail").dataset.orderId === u.order_id) showDetail(u.order_id);
  scheduleAccount();
}

function actions(order) {
  const cell = el("td");
  if (CANCELLABLE.has(order.status)) {
    cell.append(el("button", { type: "button", "aria-label": `Cancel order ${order.order_id}`,
      onclick: () => cancel(order.order_id) }, "Cancel"));
    if (REPLACEABLE.has(order.status)) {
      cell.append(" ", el("button", { type: "button", "aria-label": `Replace order ${order.order_id}`,
        onclick: () => openReplace(order) }, "Replace"));
    }
  }
  return cell;
}

/** Rebuilds only the rows whose version changed, so focus (e.g. on a Cancel button) stays put. */
function renderBlotter() {
  const body = $("orders").tBodies[0];
  const existing = new Map([...body.rows].map((r) => [r.dataset.orderId, r]));
  const sorted = [...orders.values()].sort((a, b) => (a.order_id < b.order_id ? 1 : -1));
  sorted.forEach((o, i) => {
    let row = existing.get(o.order_id);
    if (!row || row.dataset.version !== String(o.version)) {
      const fresh = row_(o);
      if (row) row.replaceWith(fresh);
      row = fresh;
    }
    if (body.rows[i] !== row) body.insertBefore(row, body.rows[i] || null);
  });
}

function row_(o) {
  const status = el("td", { class: `status${TERMINAL.has(o.status) ? " terminal" : ""}` }, statusText(o.status));
  const updated = el("td");
  updated.append(timeCell(o.updated_at));
  const idCell = el("td");
  idCell.append(el("button", { type: "button", class: "link", "aria-label": `Details of order ${o.order_id}`,
    onclick: () => showDetail(o.order_id) }, o.order_id));
  return el("tr", { "data-order-id": o.order_id, "data-status": o.status, "data-version": String(o.version) },
    idCell, el("td", {}, o.symbol), el("td", {}, o.side), el("td", {}, o.type.replace("_", " ")),
    el("td", { class: "num" }, qty(o.quantity)), el("td", { class: "num" }, money(o.limit_price)),
    el("td", { class: "num" }, money(o.stop_price)), el("td", {}, o.time_in_force.toUpperCase()), status,
    el("td", { class: "num" }, qty(o.filled_quantity)), el("td", { class: "num" }, money(o.average_fill_price)),
    updated, actions(o));
}

async function cancel(id) {
  const result = $("blotter-result");
  try {
    const order = await api.cancel(id);
    merge(order);
    showResult(result, `Order ${id}: ${statusText(order.status)}`, true);
  } catch (e) {
    showResult(result, `Cancel ${id}: ${e.message}`, false);
  }
}

const REPLACE_FIELDS = ["quantity", "limit_price", "stop_price", "time_in_force"];

/** Opens the replace form on `order`, filled with its values (a price its type lacks is disabled). */
function openReplace(order) {
  const section = $("replace");
  section.hidden = false;
  section.dataset.orderId = order.order_id;
  $("replace-title").textContent = `Replace order ${order.order_id} (${order.symbol}, ${order.side} ${order.type.replace("_", " ")})`;
  const hasLimit = order.type === "limit" || order.type === "stop_limit";
  const hasStop = order.type === "stop" || order.type === "stop_limit";
  $("r-quantity").value = order.quantity;
  $("r-limit_price").value = order.limit_price ?? "";
  $("r-limit_price").disabled = !hasLimit;
  $("r-stop_price").value = order.stop_price ?? "";
  $("r-stop_price").disabled = !hasStop;
  $("r-time_in_force").value = ["day", "gtc"].includes(order.time_in_force) ? order.time_in_force : "day";
  for (const f of REPLACE_FIELDS) {
    $(`er-${f}`).textContent = "";
    $(`r-${f}`).removeAttribute("aria-invalid");
  }
  showResult($("replace-result"), "");
  $("r-quantity").focus();
}

async function submitReplace(event) {
  event.preventDefault();
  const id = $("replace").dataset.orderId;
  const order = orders.get(id);
  const result = $("replace-result");
  for (const f of REPLACE_FIELDS) {
    $(`er-${f}`).textContent = "";
    $(`r-${f}`).removeAttribute("aria-invalid");
  }
  // Only what changed goes: the API replaces the given fields and keeps the rest.
  const change = {};
  for (const f of REPLACE_FIELDS) {
    const input = $(`r-${f}`);
    const v = String(input.value || "").trim();
    if (!input.disabled && v && v !== String(order?.[f] ?? "")) change[f] = v;
  }
  if (!Object.keys(change).length) {
    showResult(result, "Nothing changed: edit a value first", false);
    return;
  }
  showResult(result, "Sending the replace…");
  try {
    const replaced = await api.replace(id, change);
    merge(replaced);
    showResult(result, `Order ${id}: ${statusText(replaced.status)}; the venue's answer follows in the blotter`, true);
    scheduleAccount();
  } catch (e) {
    if (!(e instanceof Problem)) throw e;
    let first = null;
    for (const { field, message } of e.errors) {
      const slot = $(`er-${field}`);
      if (slot) {
        slot.textContent = message;
        $(`r-${field}`).setAttribute("aria-invalid", "true");
        first = first || $(`r-${field}`);
      }
    }
    showResult(result, e.message, false);
    if (first) first.focus();
  }
}

function figures(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", {}, k), v instanceof Node ? (() => {
    const dd = el("dd"); dd.append(v); return dd;
  })() : el("dd", {}, v)]));
}

async function showDetail(id) {
  const section = $("detail");
  section.hidden = false;
  section.dataset.orderId = id;
  $("detail-title").textContent = `Order ${id}`;
  try {
    const [order, fills, audit] = await Promise.all([api.getOrder(id), api.fills(id), api.audit(id)]);
    merge(order);
    figures($("detail-figures"), [
      ["Symbol", order.symbol], ["Side", order.side], ["Type", order.type.replace("_", " ")],
      ["Quantity", qty(order.quantity)], ["Limit price", money(order.limit_price)],
      ["Stop price", money(order.stop_price)], ["Time in force", order.time_in_force.toUpperCase()],
      ["Status", statusText(order.status)], ["Filled", qty(order.filled_quantity)],
      ["Average fill price", money(order.average_fill_price)], ["Reserved", money(order.reserved_amount)],
      ["Client order id", order.client_order_id ?? "—"], ["Reason", order.reason ?? "—"],
      ["Created", timeCell(order.created_at)], ["Updated", timeCell(order.updated_at)],
    ]);
    $("fills").tBodies[0].replaceChildren(...fills.fills.map((f) => {
      const at = el("td"); at.append(timeCell(f.executed_at));
      return el("tr", {}, el("td", {}, f.execution_id), el("td", { class: "num" }, qty(f.quantity)),
        el("td", { class: "num" }, money(f.price)), at);
    }));
    if (!fills.fills.length) $("fills").tBodies[0].append(el("tr", {}, el("td", { colspan: "4" }, "No fills")));
    $("audit").tBodies[0].replaceChildren(...audit.records.map((r) => {
      const at = el("td"); at.append(timeCell(r.at));
      return el("tr", {}, el("td", { class: "num" }, String(r.sequence)), el("td", {}, r.action),
        el("td", {}, r.actor), at, el("td", {}, r.after ? statusText(r.after.status) : "—"),
        el("td", {}, r.reason ?? "—"), el("td", { title: r.hash }, r.hash.slice(0, 12) + "…"));
    }));
    const verdict = await verifyChain(audit.records);
    const v = $("audit-verdict");
    v.dataset.ok = String(verdict.ok);
    v.textContent = verdict.ok
      ? `Audit chain verified: ${audit.records.length} records, each linked and hashed correctly.`
      : `Audit chain NOT verified: ${verdict.findings.join("; ")}.`;
  } catch (e) {
    showResult($("blotter-result"), `Order ${id}: ${e.message}`, false);
  }
}

async function loadAccount() {
  try {
    const a = await api.account();
    figures($("account-figures"), [
      ["Cash", money(a.cash)], ["Reserved", money(a.reserved)], ["Buying power", money(a.buying_power)],
      ["Realized P&L today", money(a.realized_pnl_today)], ["Max order notional", money(a.limits.max_order_notional)],
      ["Max open orders", String(a.limits.max_open_orders)],
    ]);
    const rows = a.positions.map((p) => el("tr", {}, el("td", {}, p.symbol), el("td", { class: "num" }, qty(p.quantity)),
      el("td", { class: "num" }, money(p.average_cost))));
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: "3" }, "No positions")));
    $("positions").tBodies[0].replaceChildren(...rows);
    showResult($("account-result"), "");
  } catch (e) {
    showResult($("account-result"), e.message, false);
  }
}

function scheduleAccount() {
  clearTimeout(accountTimer);
  accountTimer = setTimeout(loadAccount, 300);
}

export async function startTrader(token) {
  $("trader-view").hidden = false;
  $("ticket-form").onsubmit = submitTicket;
  $("replace-form").onsubmit = submitReplace;
  $("close-replace").onclick = () => {
    $("replace").hidden = true;
  };
  $("refresh-account").onclick = loadAccount;
  $("close-detail").onclick = () => {
    $("detail").hidden = true;
    delete $("detail").dataset.orderId;
  };
  // Connect first, then list: an update between the two is not lost, and the list's
  // older versions never overwrite a newer update.
  live = connectLive(token, { onUpdate, onState: (s) => { $("live-status").textContent = s; } });
  window.consoleLive = live;
  try {
    const page = await api.listOrders();
    page.orders.forEach(merge);
  } catch (e) {
    showResult($("blotter-result"), e.message, false);
  }
  renderBlotter();
  loadAccount();
}

export function stopTrader() {
  if (live) live.stop();
  live = null;
  orders.clear();
  $("trader-view").hidden = true;
  $("live-status").textContent = "";
}
