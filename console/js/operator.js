// The operator's view: the deployment's kill switch, a trader's trading state, a trader's
// mass cancel. Shown only for a token with the operator scope; the API checks it again.
import { api } from "./api.js";
import { el, statusText } from "./format.js";

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

export function startOperator() {
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
