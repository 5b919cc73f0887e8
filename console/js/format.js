// Display helpers. Decimals arrive as strings and stay strings: no float ever rounds a
// price or an amount on its way to the screen.

/** "1502.5" → "$1,502.50"; "-250" → "−$250.00"; null → "—". Money: at least 2 decimals. */
export function money(text) {
  if (text === null || text === undefined || text === "") return "—";
  const negative = text.startsWith("-");
  const [whole, frac = ""] = (negative ? text.slice(1) : text).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "−" : ""}$${grouped}.${frac.padEnd(2, "0")}`;
}

/** A quantity as sent ("10", "0.5"), with thousands separators. */
export function qty(text) {
  if (text === null || text === undefined || text === "") return "—";
  const [whole, frac] = text.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return frac ? `${grouped}.${frac}` : grouped;
}

const local = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  timeZoneName: "short",
});
const exchange = new Intl.DateTimeFormat("en-US", {
  timeZone: "America/New_York", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
  minute: "2-digit", second: "2-digit", timeZoneName: "short",
});

/** A <time> element: the browser's zone shown, New York's (the exchange's) on hover. */
export function timeCell(iso) {
  const el = document.createElement("time");
  if (!iso) {
    el.textContent = "—";
    return el;
  }
  const d = new Date(iso);
  el.dateTime = iso;
  el.textContent = local.format(d);
  el.title = `${exchange.format(d)} (New York)`;
  return el;
}

export const TERMINAL = new Set(["FILLED", "CANCELLED", "REJECTED", "EXPIRED"]);
export const CANCELLABLE = new Set(["PENDING", "SUBMITTED", "PARTIALLY_FILLED", "REPLACE_REQUESTED"]);
export const REPLACEABLE = new Set(["SUBMITTED", "PARTIALLY_FILLED"]);

/** Readable status text: words, not colour. */
export function statusText(status) {
  return status.toLowerCase().replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}
