// Sign-in and the choice of views: the token (kept in sessionStorage, never sent anywhere but
// the API) decides which views show; the API checks the same token on every call.
import { claims, config, setToken } from "./api.js";
import { startOperator, stopOperator } from "./operator.js";
import { startTrader, stopTrader } from "./trader.js";

const KEY = "orders-console-token";
const $ = (id) => document.getElementById(id);

function signIn(token) {
  let c;
  try {
    c = claims(token);
  } catch (e) {
    $("token-error").textContent = e.message;
    $("token").setAttribute("aria-invalid", "true");
    $("token").focus();
    return false;
  }
  const trader = c.scopes.includes(config.traderScope);
  const operator = c.scopes.includes(config.operatorScope);
  if (!trader && !operator) {
    $("token-error").textContent =
      `The token has neither the trader scope (${config.traderScope}) nor the operator scope (${config.operatorScope})`;
    return false;
  }
  $("token-error").textContent = "";
  $("token").removeAttribute("aria-invalid");
  sessionStorage.setItem(KEY, token);
  setToken(token);
  $("sign-in").hidden = true;
  $("sign-out").hidden = false;
  const roles = [trader && "trader", operator && "operator"].filter(Boolean).join(" and ");
  $("who").textContent = `Signed in as ${c.sub} (${roles})`;
  document.body.dataset.roles = roles;
  if (trader) startTrader(token);
  if (operator) startOperator();
  return true;
}

function signOut() {
  sessionStorage.removeItem(KEY);
  stopTrader();
  stopOperator();
  setToken(null);
  $("sign-in").hidden = false;
  $("sign-out").hidden = true;
  $("token").value = "";
  $("who").textContent = "Not signed in";
  delete document.body.dataset.roles;
  $("token").focus();
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("token").value.trim());
});
$("sign-out").addEventListener("click", signOut);
const saved = sessionStorage.getItem(KEY);
if (saved && !signIn(saved)) sessionStorage.removeItem(KEY);
