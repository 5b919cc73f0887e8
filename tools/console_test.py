#!/usr/bin/env python3
"""The web console (issue 22) in a real browser against a running local stack with its
event source mappings (orders fill): headless Chromium from the OS packages, driven over
the W3C WebDriver protocol (chromedriver; plain HTTP and JSON, no client library).

    .venv/bin/python tools/console_test.py --api "$API_URL" --screenshots docs

Signs a fresh trader in with a dev token, submits a market order and sees it reach
FILLED in the blotter without a reload (and again after the live socket was dropped and
resumed from its cursor), shows a field-level error next to its field, opens the order's
detail (fills, audit trail, chain verified in the browser), rests a limit order and
cancels it from the blotter; then an operator halts the trader, the trader's ticket shows
the refusal, and the operator sets the trader active again. Screenshots of the trader
and operator views go to --screenshots. Every request the page made (from Chromium's
performance log) must be a console file, the live socket, or a method and path of
`infra/openapi.yaml`. Needs the stack's environment (tables, LOCAL_JWT_SECRET_FILE) for
`orders-admin seed` and `local-gateway token`. Exit 0 on success, 1 on a failure.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class Failure(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """A minimal W3C WebDriver client: one headless Chromium session."""

    def __init__(self, chromium: str, driver: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [driver, f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                self._http("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        caps = {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,1700", "--lang=en-US"],
            },
            "goog:loggingPrefs": {"performance": "ALL", "browser": "ALL"},
        }
        session = self._http("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        self.session = f"/session/{session['sessionId']}"

    def _http(self, method: str, path: str, body: object | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"{}").get("value") or {}
        except urllib.error.HTTPError as e:
            raise Failure(f"webdriver {method} {path}: {e.code} {e.read().decode()[:500]}") from None

    def cmd(self, method: str, path: str, body: object | None = None):
        return self._http(method, self.session + path, body)

    def go(self, url: str) -> None:
        self.cmd("POST", "/url", {"url": url})

    def js(self, script: str, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def js_async(self, script: str, *args):
        """`script` ends by calling arguments[arguments.length - 1](result)."""
        return self.cmd("POST", "/execute/async", {"script": script, "args": list(args)})

    def find(self, css: str) -> str:
        return self.cmd("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def click(self, css: str) -> None:
        # The blotter re-renders a row on each update: find it again if it went stale.
        for attempt in range(5):
            try:
                self.cmd("POST", f"/element/{self.find(css)}/click", {})
                return
            except Failure as e:
                if "stale element" not in str(e) or attempt == 4:
                    raise
                time.sleep(0.2)

    def type(self, css: str, text: str) -> None:
        el = self.find(css)
        self.cmd("POST", f"/element/{el}/clear", {})
        self.cmd("POST", f"/element/{el}/value", {"text": text})

    def select(self, css: str, value: str) -> None:
        self.click(f"{css} option[value='{value}']")

    def text(self, css: str) -> str:
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css) or ""

    def wait(self, what: str, script: str, *args, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(script, *args)
            if value:
                return value
            time.sleep(0.25)
        raise Failure(f"timed out after {timeout:.0f} s waiting for {what}")

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.cmd("GET", "/screenshot")))

    def log(self, kind: str) -> list[dict]:
        return self._http("POST", self.session + "/se/log", {"type": kind}) or []

    def quit(self) -> None:
        try:
            self._http("DELETE", self.session)
        except (Failure, OSError):
            pass
        self.proc.terminate()
        self.proc.wait(timeout=10)


def cargo(*args: str) -> str:
    out = subprocess.run(["cargo", "run", "-q", "--locked", *args], cwd=ROOT, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def documented_routes(spec: Path) -> list[tuple[str, re.Pattern]]:
    doc = yaml.safe_load(spec.read_text())
    routes = []
    for path, item in doc["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        for method in item:
            if method in ("get", "put", "post", "delete", "patch"):
                routes.append((method.upper(), pattern))
    return routes


def check_requests(browser: Browser, origin: str, spec: Path) -> int:
    """Every request the page made is a console file, the live socket or a documented route."""
    routes = documented_routes(spec)
    seen, bad = 0, []
    for entry in browser.log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.webSocketCreated":
            url = urlsplit(message["params"]["url"])
            if url.path != "/live":
                bad.append(f"WebSocket {url.path}")
            continue
        if message.get("method") != "Network.requestWillBeSent":
            continue
        request = message["params"]["request"]
        url = urlsplit(request["url"])
        if f"{url.scheme}://{url.netloc}" != origin:
            bad.append(f"{request['method']} {request['url']} (another origin)")
            continue
        if url.path == "/" or url.path.startswith("/console/"):
            continue
        seen += 1
        if not any(m == request["method"] and p.match(url.path) for m, p in routes):
            bad.append(f"{request['method']} {url.path}")
    if bad:
        raise Failure("requests infra/openapi.yaml does not describe: " + "; ".join(sorted(set(bad))))
    return seen


# The blotter row's status of the order id in arguments[0] (an expression).
ROW = "(document.querySelector(`#orders tr[data-order-id='${arguments[0]}']`)?.dataset.status || null)"


def sign_in(b: Browser, token: str, who: str) -> None:
    if b.js("return !document.getElementById('sign-out').hidden;"):
        b.click("#sign-out")
    b.type("#token", token)
    b.click("#sign-in-form button[type=submit]")
    b.wait(f"signed in as {who}", "return document.getElementById('who').textContent.includes(arguments[0]);",
           f"Signed in as {who}")


def submit(b: Browser, fields: dict[str, str]) -> str:
    """Fills the ticket and submits it; the ticket's result text."""
    b.js("document.getElementById('ticket-result').textContent = '';")
    b.select("#f-type", fields.get("type", "market"))
    for name in ("symbol", "quantity", "limit_price", "stop_price", "client_order_id"):
        b.type(f"#f-{name}", fields.get(name, ""))
    b.click(f"input[name=side][value={fields.get('side', 'buy')}]")
    b.select("#f-time_in_force", fields.get("time_in_force", "day"))
    b.click("#submit-order")
    return b.wait("the ticket's result", """const t = document.getElementById('ticket-result');
        return t.classList.contains('ok') || t.classList.contains('bad') ? t.className + '|' + t.textContent : null;""")


def accepted_id(result: str) -> str:
    match = re.search(r"Order ([0-9A-Z]{26}) accepted", result)
    if not match:
        raise Failure(f"the ticket did not accept the order: {result}")
    return match.group(1)


def run(b: Browser, origin: str, shots: Path, trader: str, trader_token: str, operator_token: str) -> None:
    b.go(origin + "/")
    sign_in(b, trader_token, trader)
    b.wait("the live stream", "return document.getElementById('live-status').textContent.startsWith('Live: connected');")
    b.js("window.__noReload = true;")

    # A field-level problem from the API lands next to its field.
    result = submit(b, {"symbol": "AAPL", "type": "limit", "quantity": "1"})
    if "bad" not in result or not b.text("#e-limit_price"):
        raise Failure(f"a limit order without a price: no error next to the limit price ({result})")
    if b.js("return document.getElementById('f-limit_price').getAttribute('aria-invalid');") != "true":
        raise Failure("the limit price field is not marked aria-invalid")
    if b.js("return document.activeElement && document.activeElement.id;") != "f-limit_price":
        raise Failure("the keyboard focus did not move to the field in error")

    # A market order fills in the blotter, live.
    filled = accepted_id(submit(b, {"symbol": "AAPL", "quantity": "2"}))
    b.wait(f"order {filled} FILLED in the blotter", f"return ({ROW}) === 'FILLED';", filled)
    hover = b.js("return document.querySelector(`#orders tr[data-order-id='${arguments[0]}'] time`).title;", filled)
    if not hover.endswith("(New York)") or not re.search(r"E[SD]T", hover):
        raise Failure(f"the blotter's time has no New York time on hover: {hover!r}")
    # Resume: the socket drops for 4 s; the order filled meanwhile arrives by the replay from
    # the cursor once it reconnects (the submit's answer only says PENDING).
    b.js("window.consoleLive.drop(4000);")
    b.wait("the socket down", "return document.getElementById('live-status').textContent.includes('disconnected');")
    again = accepted_id(submit(b, {"symbol": "MSFT", "quantity": "1"}))
    if b.js(f"return {ROW};", again) == "FILLED":
        raise Failure("the order showed FILLED while the socket was down: the test proves nothing")
    b.wait(f"order {again} FILLED after the reconnect", f"return ({ROW}) === 'FILLED';", again)
    status = b.text("#live-status")
    if "caught up" not in status:
        raise Failure(f"the reconnect replayed nothing from its cursor: {status!r}")
    if not b.js("return window.__noReload === true;"):
        raise Failure("the page reloaded")

    # A resting limit order, cancelled from the blotter.
    resting = accepted_id(submit(b, {"symbol": "AAPL", "type": "limit", "quantity": "1", "limit_price": "1.00",
                                     "time_in_force": "gtc"}))
    b.wait(f"order {resting} resting", f"return ['SUBMITTED', 'PENDING'].includes({ROW});", resting)
    b.click(f"#orders tr[data-order-id='{resting}'] button[aria-label^='Cancel']")
    b.wait(f"order {resting} CANCELLED", f"return ({ROW}) === 'CANCELLED';", resting, timeout=90)

    # Detail of the filled order: fills, audit trail, the chain verified in the browser.
    b.click(f"#orders tr[data-order-id='{filled}'] button.link")
    b.wait("the audit verdict", "return document.getElementById('audit-verdict').dataset.ok === 'true' "
           "&& document.querySelectorAll('#fills tbody tr td.num').length > 0;")
    b.wait("the account", "return document.querySelectorAll('#positions tbody td.num').length > 0;")
    # The browser's verification finds a changed record and a removed one.
    tampered = b.js_async("""const done = arguments[arguments.length - 1];
        Promise.all([import('/console/js/api.js'), import('/console/js/audit.js')]).then(async ([a, v]) => {
          const { records } = await a.api.audit(arguments[0]);
          const changed = structuredClone(records); changed[1].reason = 'rewritten';
          const removed = records.filter((r) => r.sequence !== 2);
          done([(await v.verifyChain(changed)).findings, (await v.verifyChain(removed)).findings]);
        }).catch((e) => done(String(e)));""", filled)
    if not (isinstance(tampered, list) and any("record 2's hash" in f for f in tampered[0])
            and any("does not link" in f for f in tampered[1])):
        raise Failure(f"the browser's audit verification missed a tampered chain: {tampered}")
    # One order left working, for the screenshot and the operator's mass cancel.
    working = accepted_id(submit(b, {"symbol": "MSFT", "type": "limit", "quantity": "3", "limit_price": "2.50",
                                     "time_in_force": "gtc", "client_order_id": "console-resting"}))
    b.wait(f"order {working} working at the venue", f"return ({ROW}) === 'SUBMITTED';", working)
    # Replaced from the blotter: the limit moves at the venue, the order keeps its id.
    b.click(f"#orders tr[data-order-id='{working}'] button[aria-label^='Replace']")
    b.js("const i = document.getElementById('r-limit_price'); i.value = '2.60';")
    b.click("#send-replace")
    b.wait("the replace's answer", "return /Replace requested/.test(document.getElementById('replace-result').textContent);")
    b.wait(f"order {working} replaced at the venue",
           f"const r = document.querySelector(`#orders tr[data-order-id='${{arguments[0]}}']`);"
           " return r && r.dataset.status === 'SUBMITTED' && r.cells[5].textContent === '$2.60';", working)
    b.click("#close-replace")
    b.wait("the account's reservation", """const dts = [...document.querySelectorAll('#account-figures dt')];
        const dt = dts.find((d) => d.textContent === 'Reserved');
        return dt && dt.nextElementSibling.textContent !== '$0.00';""")
    b.js("document.activeElement.blur(); window.scrollTo(0, 0);")
    b.cmd("POST", "/window/rect", {"width": 1400, "height": 1280})
    b.screenshot(shots / "console-trader.png")
    b.cmd("POST", "/window/rect", {"width": 1400, "height": 1700})

    # The operator halts the trader.
    sign_in(b, operator_token, "ops")
    b.type("#t-trader", trader)
    b.select("#t-state", "halted")
    b.type("#t-reason", "console test: halt")
    b.click("#trader-state-form button[type=submit]")
    b.wait("the halt", "return document.querySelector('#trader-states td[data-state=halted]') !== null;")
    # The state read back from the API (GET .../trading-state), and the deployment's.
    b.wait("the trader's state read back", "return document.getElementById('trader-now').dataset.state === 'halted';")
    b.wait("the deployment's state", "return !!document.getElementById('deployment-now').dataset.state;")
    b.click("#cancel-all")
    b.wait("the mass cancel", "return /1 open order\\(s\\) asked to cancel/.test("
           "document.getElementById('trader-result').textContent);")
    # The operator verifies the trader's audit chains.
    b.type("#a-trader", trader)
    b.click("#audit-check-form button[type=submit]")
    b.wait("the audit verification", "return document.getElementById('audit-check-result').dataset.ok === 'true';")
    # The Attention panel: the dead-letter queue's depth and the day's stalled and
    # reconciliation lists, read from the operator routes.
    b.wait("the dead-letter depth", "return /^[0-9]+ waiting/.test(document.getElementById('dlq-depth').textContent);")
    b.wait("the attention lists", "return ['stalled-orders', 'reconciliation-records'].every("
           "(id) => document.getElementById(id).tBodies[0].rows.length > 0);")
    b.js("document.activeElement.blur(); window.scrollTo(0, 0);")
    b.cmd("POST", "/window/rect", {"width": 1400, "height": 820})
    b.screenshot(shots / "console-operator.png")
    b.cmd("POST", "/window/rect", {"width": 1400, "height": 1700})

    # The trader's ticket shows the refusal; the mass-cancelled order shows as cancelled.
    sign_in(b, trader_token, trader)
    b.wait(f"order {working} cancelled by the operator", f"return ['CANCEL_REQUESTED', 'CANCELLED'].includes({ROW});",
           working)
    result = submit(b, {"symbol": "AAPL", "quantity": "1"})
    if "bad" not in result or "halt" not in result.lower():
        raise Failure(f"a halted trader's submit did not show the refusal: {result}")

    # The operator un-halts; the trader trades again.
    sign_in(b, operator_token, "ops")
    b.type("#t-trader", trader)
    b.select("#t-state", "active")
    b.type("#t-reason", "console test: resume")
    b.click("#trader-state-form button[type=submit]")
    b.wait("the un-halt", "return document.querySelector('#trader-states td[data-state=active]') !== null;")
    b.click("#trader-lookup")
    b.wait("the trader active again", "return document.getElementById('trader-now').dataset.state === 'active';")
    sign_in(b, trader_token, trader)
    accepted_id(submit(b, {"symbol": "AAPL", "quantity": "1"}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api", default=os.environ.get("API_URL"), help="the stack's API URL (…/api/v1)")
    ap.add_argument("--spec", type=Path, default=ROOT / "infra/openapi.yaml")
    ap.add_argument("--screenshots", type=Path, default=ROOT / "docs")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--chromedriver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    args = ap.parse_args()
    if not args.api:
        print("console_test: --api or API_URL is required", file=sys.stderr)
        return 2
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(args.api))
    trader = f"console{int(time.time() * 1000) % 10**10}"
    cargo("-p", "orders-admin", "--", "seed", "--trader", trader, "--cash", "100000", "--operator", "console-test")
    trader_token = cargo("-p", "local-gateway", "--", "token", "--trader", trader)
    operator_token = cargo("-p", "local-gateway", "--", "token", "--trader", "ops", "--scope", "orders/operate")
    browser = Browser(args.chromium, args.chromedriver)
    try:
        run(browser, origin, args.screenshots, trader, trader_token, operator_token)
        seen = check_requests(browser, origin, args.spec)
        errors = [e["message"] for e in browser.log("browser") if e.get("level") == "SEVERE"
                  and "the server responded with a status of 4" not in e["message"]]
        if errors:
            raise Failure("the page logged errors: " + "; ".join(errors))
    except Failure as e:
        try:
            shot = Path(tempfile.gettempdir()) / "console-failure.png"
            browser.screenshot(shot)
            print(f"console_test: the page at the failure: {shot}", file=sys.stderr)
        except Failure:
            pass
        print(f"console_test: FAIL: {e}", file=sys.stderr)
        return 1
    finally:
        browser.quit()
    print(f"console_test: {seen} API requests, each one infra/openapi.yaml describes; screenshots in {args.screenshots}")
    print("console_test: 1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
