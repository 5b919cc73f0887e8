#!/usr/bin/env python3
# Long because: one self-test per kind of breakage the contract check must catch.
"""Self-test of tools/check_openapi.py against infra/openapi.yaml.

    .venv/bin/python tools/test_check_openapi.py

Owns the proof that the contract check can fail: it builds recordings from bodies
shaped like the real ones (`shared/src/http/problem.rs`, `shared/src/domain/order.rs`,
the handler tests), shows that a complete, correct recording passes against the real
document, and that each kind of breakage (an undocumented field, a missing required
field, a wrong type, an undocumented status, a documented status never produced, a
missing Retry-After, a wrong content type, a replay without its header, ...) fails
with a line naming it. Also checks that the document is valid OpenAPI 3.1 and
describes exactly the routes of infra/template.yaml. Plain asserts; prints
"N passed, M failed" and exits 1 on any failure.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import yaml

TOOLS = Path(__file__).resolve().parent
ROOT = TOOLS.parent
sys.path.insert(0, str(TOOLS))

import check_openapi as co  # noqa: E402

SPEC_PATH = ROOT / "infra" / "openapi.yaml"
TEMPLATE_PATH = ROOT / "infra" / "template.yaml"
SPEC = co.load_spec(SPEC_PATH)

ORDER_ID = "01JDZ8Q4Y6P7X2M3N4B5C6D7E8"
OTHER_ID = "01JDZ8Q4Y6P7X2M3N4B5C6D7E9"
JSON = {"content-type": "application/json"}
PROBLEM = {"content-type": "application/problem+json"}


# --- realistic bodies ---------------------------------------------------------


def order(**changes: Any) -> dict[str, Any]:
    """An order as `serde_json::to_string(&Order)` writes it (the submit handler test's event)."""
    body = {
        "order_id": ORDER_ID,
        "client_order_id": "my-first-order",
        "trader_id": "demo",
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "quantity": "10",
        "limit_price": "150.25",
        "stop_price": None,
        "time_in_force": "day",
        "status": "PENDING",
        "filled_quantity": "0",
        "average_fill_price": None,
        "reserved_amount": "1502.50",
        "version": 1,
        "created_at": "2026-11-24T21:00:00.123Z",
        "updated_at": "2026-11-24T21:00:00.123Z",
        "reason": None,
    }
    body.update(changes)
    return body


def problem(status: int, slug: str, title: str, detail: str, errors: list | None = None) -> dict[str, Any]:
    """A problem document as `Problem::body()` writes it (`errors` skipped when empty)."""
    body: dict[str, Any] = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = [{"field": f, "message": m} for f, m in errors]
    return body


def audit_record() -> dict[str, Any]:
    return {
        "order_id": ORDER_ID,
        "sequence": 1,
        "trader_id": "demo",
        "actor": "demo",
        "action": "SUBMIT",
        "at": "2026-11-24T21:00:00.123Z",
        "before": None,
        "after": order(),
        "reason": None,
        "request_id": "req-sample-1",
        "idempotency_key": "demo-order-1",
        "prev_hash": "0" * 64,
        "hash": "9f2c" + "ab" * 30,
    }


def account() -> dict[str, Any]:
    return {
        "trader_id": "demo",
        "cash": "3000",
        "reserved": "30.00",
        "buying_power": "2970.00",
        "positions": [{"symbol": "AAPL", "quantity": "10", "average_cost": "150"}],
        "realized_pnl_today": "-12.50",
        "limits": {
            "max_order_notional": "1000000",
            "max_open_orders": 200,
            "daily_loss_limit": "5000",
            "orders_per_minute": 100,
            "duplicate_window_secs": 0,
            "restricted_symbols": ["GME"],
            "max_notional_per_minute": "0",
        },
    }


UNAUTHORIZED = problem(401, "unauthorized", "Unauthorized", "A valid bearer token is required")
NOT_FOUND = problem(404, "not-found", "Not found", f"Order {OTHER_ID} was not found")


def exchange(route: str | None, path: str, status: int, body: Any, headers: dict | None = None) -> dict:
    method = (route or "GET /").split(" ", 1)[0]
    return {
        "method": method,
        "path": path,
        "route": route,
        "status": status,
        "headers": dict(headers if headers is not None else (JSON if status < 400 else PROBLEM)),
        "body": body,
    }


# A submit's rate budget (issue 20): on every answer counted against it.
QUOTA = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "97", "x-ratelimit-reset": "1795640460"}


def submit_exchanges() -> list[dict]:
    r, p = "POST /api/v1/orders", "/api/v1/orders"
    funds = problem(422, "insufficient-funds", "Insufficient funds",
                    "Insufficient funds for $1,502.50 order; available: $100.00")
    funds["audit_id"] = OTHER_ID  # the refusal's audit chain (GET /orders/{audit_id}/audit)
    return [
        exchange(r, p, 201, order(), {**JSON, **QUOTA}),
        exchange(r, p, 201, order(), {**JSON, **QUOTA, "idempotent-replayed": "true"}),
        exchange(r, p, 400, problem(400, "malformed-json", "Malformed JSON",
                                    "The request body is not valid JSON: EOF while parsing an object at line 1 column 10")),
        exchange(r, p, 401, UNAUTHORIZED),
        exchange(r, p, 409, problem(409, "conflict", "Conflict",
                                    "The account changed during the submit; retry the request")),
        exchange(r, p, 413, problem(413, "body-too-large", "Request body too large",
                                    "The request body is 17000 bytes; the limit is 16384 bytes")),
        exchange(r, p, 422, problem(422, "validation-error", "The order is invalid",
                                    "The order has 1 invalid field(s): Quantity must be greater than 0",
                                    [("quantity", "Quantity must be greater than 0")]) | {"audit_id": OTHER_ID}),
        exchange(r, p, 422, problem(422, "no-account", "No trading account",
                                    "No trading account exists for this trader; ask an operator to open one")),
        exchange(r, p, 422, funds),
        exchange(r, p, 422, funds, {**PROBLEM, **QUOTA, "idempotent-replayed": "true"}),
        exchange(r, p, 429, problem(429, "rate-limited", "Rate limit exceeded",
                                    "Rate limit of 100 orders per minute exceeded; retry after 12 s"),
                 {**PROBLEM, **QUOTA, "x-ratelimit-remaining": "0", "retry-after": "12"}),
        exchange(r, p, 409, problem(409, "client-order-id-in-use", "Client order id in use",
                                    f"Client order id my-1 is in use by open order {ORDER_ID}; choose another, "
                                    "or wait until that order ends") | {"audit_id": OTHER_ID},
                 {**PROBLEM, **QUOTA, "idempotent-replayed": "true"}),
        exchange(r, p, 409, problem(409, "duplicate-order", "Possible duplicate order",
                                    "An identical order (same symbol, side, type, quantity, prices and time in "
                                    f"force) was placed 2 s ago as order {ORDER_ID}, within this account's 5 s "
                                    "duplicate window; to place this one too, resend it with the header "
                                    "Confirm-Duplicate: true") | {"audit_id": OTHER_ID},
                 {**PROBLEM, **QUOTA}),
    ]


def close_exchanges() -> list[dict]:
    """`DELETE /positions/{symbol}`: a market sell on the submit path (issue 20)."""
    r, p = "DELETE /api/v1/positions/{symbol}", "/api/v1/positions/AAPL?percentage=25"
    sell = order(side="sell", type="market", limit_price=None, reserved_amount="0", client_order_id=None)
    short = problem(422, "insufficient-position", "Insufficient position",
                    "Insufficient position for sell of 9 AAPL; available: 7.5") | {"audit_id": OTHER_ID}
    both = "Give qty or percentage, not both: qty sells that many shares, percentage that share of the position"
    return [
        exchange(r, p, 201, sell, {**JSON, **QUOTA}),
        exchange(r, p, 201, sell, {**JSON, **QUOTA, "idempotent-replayed": "true"}),
        exchange(r, p, 400, problem(400, "bad-parameter", "Invalid request parameter", both, [("qty", both)])),
        exchange(r, p, 401, UNAUTHORIZED),
        exchange(r, "/api/v1/positions/MSFT", 404, problem(404, "not-found", "Not found", "No position in MSFT is held")),
        exchange(r, p, 422, short, {**PROBLEM, **QUOTA, "idempotent-replayed": "true"}),
        exchange(r, p, 429, problem(429, "rate-limited", "Rate limit exceeded",
                                    "Rate limit of 1 orders per minute exceeded; retry after 12 s"),
                 {**PROBLEM, **QUOTA, "x-ratelimit-remaining": "0", "retry-after": "12"}),
    ]


def cancel_exchanges() -> list[dict]:
    r, p = "POST /api/v1/orders/{id}/cancel", f"/api/v1/orders/{ORDER_ID}/cancel"
    detail = ("Cannot cancel order in CANCELLED status. "
              "Only PENDING, SUBMITTED or PARTIALLY_FILLED orders can be cancelled.")
    return [
        exchange(r, p, 200, order(status="CANCELLED", version=2, reserved_amount="0",
                                  updated_at="2026-11-24T21:00:01Z")),
        exchange(r, p, 401, UNAUTHORIZED),
        exchange(r, p, 404, NOT_FOUND),
        exchange(r, p, 409, problem(409, "order-not-cancellable", "Order cannot be cancelled", detail)),
    ]


def query_exchanges() -> list[dict]:
    base = f"/api/v1/orders/{ORDER_ID}"
    bad_limit = problem(400, "bad-parameter", "Invalid request parameter",
                        "Limit must be a whole number from 1 to 200",
                        [("limit", "Limit must be a whole number from 1 to 200")])
    fill = {"order_id": ORDER_ID, "execution_id": "sim-1", "quantity": "4", "price": "150.2",
            "executed_at": "2026-11-24T21:00:02.5Z"}
    out = [
        exchange("GET /api/v1/orders", "/api/v1/orders?limit=2", 200,
                 {"orders": [order(), order(order_id=OTHER_ID)], "next_cursor": "c1" + "30" * 26}),
        exchange("GET /api/v1/orders", "/api/v1/orders?limit=0", 400, bad_limit),
        exchange("GET /api/v1/orders/{id}", base, 200, order()),
        exchange("GET /api/v1/orders:by_client_order_id", "/api/v1/orders:by_client_order_id?client_order_id=c-1",
                 200, order()),
        exchange("GET /api/v1/orders:by_client_order_id", "/api/v1/orders:by_client_order_id", 400, problem(
            400, "bad-parameter", "Invalid request parameter", "Client order id is required",
            [("client_order_id", "Client order id is required")])),
        exchange("GET /api/v1/orders:by_client_order_id", "/api/v1/orders:by_client_order_id?client_order_id=x",
                 404, problem(404, "not-found", "Not found", "Order with client order id x was not found")),
        exchange("GET /api/v1/orders/{id}/fills", base + "/fills", 200, {"fills": [fill]}),
        exchange("GET /api/v1/orders/{id}/audit", base + "/audit", 200, {"records": [audit_record()]}),
        exchange("GET /api/v1/account", "/api/v1/account", 200, account()),
        exchange("GET /api/v1/account", "/api/v1/account", 404, problem(
            404, "not-found", "Not found", "No trading account exists for this trader; ask an operator to open one")),
        exchange("GET /api/v1/positions", "/api/v1/positions", 200, {"positions": account()["positions"]}),
        exchange("GET /api/v1/positions", "/api/v1/positions", 404, problem(
            404, "not-found", "Not found", "No trading account exists for this trader; ask an operator to open one")),
        exchange("GET /api/v1/positions/{symbol}", "/api/v1/positions/AAPL", 200, account()["positions"][0]),
        exchange("GET /api/v1/positions/{symbol}", "/api/v1/positions/MSFT", 404, problem(
            404, "not-found", "Not found", "No position in MSFT is held")),
        exchange("GET /api/v1/health", "/api/v1/health", 200, {"status": "ok"}),
        exchange(None, "/api/v1/nope", 404, problem(404, "not-found", "Not found", "No route GET /api/v1/nope")),
    ]
    for route in ("GET /api/v1/orders", "GET /api/v1/orders:by_client_order_id", "GET /api/v1/orders/{id}",
                  "GET /api/v1/orders/{id}/fills",
                  "GET /api/v1/orders/{id}/audit", "GET /api/v1/account", "GET /api/v1/positions",
                  "GET /api/v1/positions/{symbol}"):
        out.append(exchange(route, "/api/v1/...", 401, UNAUTHORIZED))
    for route in ("GET /api/v1/orders/{id}", "GET /api/v1/orders/{id}/fills", "GET /api/v1/orders/{id}/audit"):
        out.append(exchange(route, "/api/v1/orders/" + OTHER_ID, 404, NOT_FOUND))
    return out


def control_exchanges() -> list[dict]:
    """Cancel all and the operator's trading-state routes (issue 19)."""
    forbidden = problem(403, "forbidden", "Forbidden", "This route needs the orders/operate scope")
    cancelled = {"orders": [order(status="CANCELLED", version=2, reserved_amount="0")], "more": False}
    refused = problem(422, "validation-error", "Validation failed", "state must be active, reducing or halted",
                      [("state", "state must be active, reducing or halted")])
    malformed = problem(400, "malformed-json", "Malformed JSON", "The body is not JSON")
    result = {"scope": "deployment", "previous_state": "active", "state": "halted", "audit_sequence": 1,
              "operation_id": "op-1"}
    mine, theirs = "DELETE /api/v1/orders", "DELETE /api/v1/operator/traders/{trader}/orders"
    state, trader_state = "PUT /api/v1/operator/trading-state", "PUT /api/v1/operator/traders/{trader}/trading-state"
    out = [
        exchange(mine, "/api/v1/orders?symbol=AAPL", 200, cancelled),
        exchange(mine, "/api/v1/orders?symbol=a%20b", 400, problem(
            400, "bad-parameter", "Invalid request parameter", "symbol is not a symbol",
            [("symbol", "symbol is not a symbol")])),
        exchange(theirs, "/api/v1/operator/traders/demo/orders", 200, cancelled),
        exchange(theirs, "/api/v1/operator/traders/nobody/orders", 404, problem(
            404, "not-found", "Not found", "No trading account exists for trader nobody")),
        exchange(state, "/api/v1/operator/trading-state", 200, result),
        exchange(trader_state, "/api/v1/operator/traders/demo/trading-state", 200, dict(result, scope="demo")),
        exchange(trader_state, "/api/v1/operator/traders/nobody/trading-state", 404, problem(
            404, "not-found", "Not found", "No trading account exists for trader nobody")),
    ]
    for route in (mine, theirs, state, trader_state):
        out.append(exchange(route, "/api/v1/...", 401, UNAUTHORIZED))
        out.append(exchange(route, "/api/v1/...", 403, forbidden))
    for route in (state, trader_state):
        out.append(exchange(route, "/api/v1/...", 400, malformed))
        out.append(exchange(route, "/api/v1/...", 422, refused))
    return out


def replace_exchanges() -> list[dict]:
    """`PATCH /orders/{id}`: a replace (issue 20)."""
    r, p = "PATCH /api/v1/orders/{id}", f"/api/v1/orders/{ORDER_ID}"
    pending = {"quantity": "12", "limit_price": "151.10", "stop_price": None, "time_in_force": "day",
               "venue_client_id": OTHER_ID, "extra_reserved": "311.0", "reserve_price": "151.10",
               "requested_at": "2026-11-24T21:00:03Z"}
    asked = order(status="REPLACE_REQUESTED", version=3, reserved_amount="1813.20", pending_replace=pending)
    not_now = ("Cannot replace order in PENDING status. Only SUBMITTED or PARTIALLY_FILLED orders can be replaced "
               "(a PENDING order is at the venue within a moment: retry).")
    return [
        exchange(r, p, 200, asked),
        exchange(r, p, 200, asked, {**JSON, "idempotent-replayed": "true"}),
        exchange(r, p, 400, problem(400, "malformed-json", "Malformed JSON",
                                    "The request body is not valid JSON: EOF while parsing an object at line 1 column 1")),
        exchange(r, p, 401, UNAUTHORIZED),
        exchange(r, p, 404, NOT_FOUND),
        exchange(r, p, 409, problem(409, "order-not-replaceable", "Order cannot be replaced", not_now)),
        exchange(r, p, 413, problem(413, "body-too-large", "Request body too large",
                                    "The request body is 17000 bytes; the limit is 16384 bytes")),
        exchange(r, p, 422, problem(422, "validation-error", "The order is invalid",
                                    "The order has 1 invalid field(s): Nothing to change",
                                    [("body", "Nothing to change")])),
    ]


def operator_read_exchanges() -> list[dict]:
    """The operator's reads: trading states and audit verification (issue 22)."""
    forbidden = problem(403, "forbidden", "Forbidden", "This route needs the orders/operate scope")
    state, trader_state = "GET /api/v1/operator/trading-state", "GET /api/v1/operator/traders/{trader}/trading-state"
    audit = "GET /api/v1/operator/traders/{trader}/audit-verification"
    nobody = problem(404, "not-found", "Not found", "No trading account exists for trader nobody")
    bad_cursor = problem(400, "bad-parameter", "Invalid request parameter", "cursor is not one this route gave",
                         [("cursor", "cursor is not one this route gave")])
    out = [
        exchange(state, "/api/v1/operator/trading-state", 200, {"scope": "deployment", "state": "active"}),
        exchange(trader_state, "/api/v1/operator/traders/demo/trading-state", 200, {"scope": "demo", "state": "halted"}),
        exchange(trader_state, "/api/v1/operator/traders/nobody/trading-state", 404, nobody),
        exchange(audit, "/api/v1/operator/traders/demo/audit-verification", 200,
                 {"trader_id": "demo", "orders_checked": 1, "broken": [], "next_cursor": None}),
        exchange(audit, "/api/v1/operator/traders/demo/audit-verification?cursor=x", 400, bad_cursor),
        exchange(audit, "/api/v1/operator/traders/nobody/audit-verification", 404, nobody),
    ]
    # What needs an operator: stalled orders, reconciliation findings, the dead-letter queue.
    attention, depth = "GET /api/v1/operator/attention", "GET /api/v1/operator/dead-letters"
    redrive = "POST /api/v1/operator/dead-letters/redrive"
    stalled = {"kind": "stalled", "trader_id": "demo", "order_id": "01JDZ8Q4Y6P7X2M3N4B5C6D7E8",
               "at": "2026-11-28T01:02:03.456Z", "from_status": "SUBMITTED", "to_status": "SUBMITTED",
               "venue_status": None, "venue_order_id": None, "corrected": False,
               "reason": "Execution stopped retrying: venue down. The work message is in the dead-letter queue",
               "current_status": "FILLED", "current_reason": None}
    bad_kind = problem(400, "bad-parameter", "Invalid request parameter", "Kind is required: one of stalled, reconciliation",
                       [("kind", "Kind is required: one of stalled, reconciliation")])
    out += [
        exchange(attention, "/api/v1/operator/attention?kind=stalled", 200,
                 {"kind": "stalled", "date": "2026-11-28", "records": [stalled],
                  "next_cursor": "1795827723456#01JDZ8Q4Y6P7X2M3N4B5C6D7E8"}),
        exchange(attention, "/api/v1/operator/attention", 400, bad_kind),
        exchange(depth, "/api/v1/operator/dead-letters", 200, {"messages": 1, "in_flight": 0}),
        exchange(redrive, "/api/v1/operator/dead-letters/redrive", 200, {"moved": 1, "more": False}),
    ]
    for route in (state, trader_state, audit, attention, depth, redrive):
        out.append(exchange(route, "/api/v1/...", 401, UNAUTHORIZED))
        out.append(exchange(route, "/api/v1/...", 403, forbidden))
    return out


def full_recording() -> list[dict]:
    """Every documented, non-exempt response once, as `parse_exchange` returns them."""
    lines = (submit_exchanges() + cancel_exchanges() + query_exchanges() + control_exchanges() + close_exchanges()
             + replace_exchanges() + operator_read_exchanges())
    return [co.parse_exchange(i, json.dumps(x)) for i, x in enumerate(lines, 1)]


def find(recording: list[dict], route: str | None, status: int, nth: int = 0) -> dict:
    return [x for x in recording if x["route"] == route and x["status"] == status][nth]


def failures(spec: dict, recording: list[dict]) -> list[str]:
    return [f.line() for f in co.check(spec, recording).failures]


def assert_fails(recording: list[dict], *needles: str, spec: dict | None = None) -> list[str]:
    lines = failures(spec or SPEC, recording)
    assert lines, "expected failures, got none"
    hit = [line for line in lines if all(n in line for n in needles)]
    assert hit, f"no failure line containing {needles}; got:\n" + "\n".join(lines)
    return lines


# --- the document -------------------------------------------------------------


def test_document_is_valid_openapi_31_with_valid_schemas():
    assert SPEC["openapi"] == "3.1.0"
    assert co.document_errors(SPEC) == []


def template_routes() -> set[str]:
    class CfnLoader(yaml.SafeLoader):
        pass

    CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load(TEMPLATE_PATH.read_text(encoding="utf-8"), Loader=CfnLoader)
    routes = set()
    for resource in template["Resources"].values():
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") == "HttpApi":
                props = event["Properties"]
                routes.add(f"{props['Method'].upper()} {props['Path']}")
    return routes


def test_document_describes_exactly_the_template_routes():
    documented = {route for route, _ in co.documented_responses(SPEC)} - {co.UNMATCHED}
    assert documented == template_routes(), (documented, template_routes())


def test_health_is_the_only_unauthenticated_route():
    open_routes = [f"{m.upper()} {p}" for p, item in SPEC["paths"].items() for m, op in item.items()
                   if isinstance(op, dict) and op.get("security") == []]
    assert open_routes == ["GET /api/v1/health"], open_routes
    assert SPEC["security"] == [{"traderJwt": []}]


def test_audit_actions_are_every_action_the_code_writes():
    # `OrderEvent::action` names each transition's record; submit writes SUBMIT and
    # SUBMIT_REJECTED. A new event without its action here is a 200 the document refuses.
    src = (ROOT / "shared/src/domain/order.rs").read_text(encoding="utf-8")
    body = src[src.index("pub fn action(&self)"):]
    body = body[:body.index("\n    }\n")]
    actions = set(re.findall(r'=> "([A-Z_]+)"', body)) | {"SUBMIT", "SUBMIT_REJECTED"}
    documented = set(SPEC["components"]["schemas"]["AuditRecord"]["properties"]["action"]["enum"])
    assert actions == documented, (sorted(actions - documented), sorted(documented - actions))


def test_only_5xx_are_exempt_and_each_gives_a_reason():
    for (route, status), doc in co.documented_responses(SPEC).items():
        if doc.exemption is not None:
            assert status in ("500", "503") or co.cites_a_test(doc.exemption), (route, status)
            assert len(doc.exemption) >= co.MIN_REASON_CHARS


# --- passing ------------------------------------------------------------------


def test_a_correct_complete_recording_passes():
    report = co.check(SPEC, full_recording())
    assert [f.line() for f in report.failures] == [], "\n".join(f.line() for f in report.failures)
    assert report.documented == report.produced + report.exempt
    assert report.exchanges == len(full_recording())


def test_charset_parameters_and_other_gateway_headers_are_fine():
    rec = full_recording()
    find(rec, "GET /api/v1/health", 200)["headers"] = {
        "content-type": "application/json; charset=utf-8", "content-length": "15", "date": "Tue"}
    assert failures(SPEC, rec) == []


# --- failing ------------------------------------------------------------------


def test_an_undocumented_field_fails():
    rec = full_recording()
    find(rec, "POST /api/v1/orders", 201)["body"]["venue_order_id"] = "abc"
    assert_fails(rec, "POST /api/v1/orders 201 $:", "'venue_order_id' was unexpected")


def test_an_undocumented_nested_field_fails_at_its_path():
    rec = full_recording()
    find(rec, "GET /api/v1/orders", 200)["body"]["orders"][1]["audit_head"] = "ff"
    assert_fails(rec, "GET /api/v1/orders 200 $.orders[1]:", "'audit_head' was unexpected")
    rec = full_recording()
    find(rec, "GET /api/v1/account", 200)["body"]["positions"][0]["reserved"] = "0"
    assert_fails(rec, "GET /api/v1/account 200 $.positions[0]:", "'reserved' was unexpected")


def test_errors_inside_a_nullable_order_name_the_field_not_the_null_branch():
    rec = full_recording()
    find(rec, "GET /api/v1/orders/{id}/audit", 200)["body"]["records"][0]["after"]["quantity"] = 10
    lines = assert_fails(rec, "GET /api/v1/orders/{id}/audit 200 $.records[0].after.quantity:",
                         "not of type 'string'")
    assert not any("'null'" in line for line in lines), lines


def test_money_with_more_than_cents_fails():
    rec = full_recording()
    find(rec, "GET /api/v1/orders/{id}", 200)["body"]["reserved_amount"] = "666.6666666666666666666666667"
    assert_fails(rec, "GET /api/v1/orders/{id} 200 $.reserved_amount:", "does not match")
    rec = full_recording()
    find(rec, "GET /api/v1/account", 200)["body"]["cash"] = "98099.405"
    assert_fails(rec, "GET /api/v1/account 200 $.cash:", "does not match")


def test_a_refusal_audit_id_must_be_an_order_id():
    rec = full_recording()
    refusal = next(e for e in rec if e["route"] == "POST /api/v1/orders" and e["body"].get("audit_id"))
    refusal["body"]["audit_id"] = "not-a-ulid"
    assert_fails(rec, "POST /api/v1/orders 422 $.audit_id:", "does not match")


def test_an_undocumented_problem_field_fails():
    rec = full_recording()
    find(rec, "POST /api/v1/orders/{id}/cancel", 409)["body"]["instance"] = "/api/v1/orders/x/cancel"
    assert_fails(rec, "POST /api/v1/orders/{id}/cancel 409 $:", "'instance' was unexpected")


def test_a_missing_required_field_fails():
    rec = full_recording()
    del find(rec, "GET /api/v1/orders/{id}", 200)["body"]["reason"]
    assert_fails(rec, "GET /api/v1/orders/{id} 200 $:", "'reason' is a required property")


def test_a_wrong_type_fails():
    rec = full_recording()
    find(rec, "GET /api/v1/orders/{id}", 200)["body"]["quantity"] = 10
    assert_fails(rec, "GET /api/v1/orders/{id} 200 $.quantity:", "not of type 'string'")
    rec = full_recording()
    find(rec, "GET /api/v1/orders/{id}", 200)["body"]["version"] = "1"
    assert_fails(rec, "GET /api/v1/orders/{id} 200 $.version:", "not of type 'integer'")


def test_bad_values_fail():
    rec = full_recording()
    body = find(rec, "GET /api/v1/orders/{id}", 200)["body"]
    body.update(status="DONE", created_at="yesterday", limit_price="1e3")
    lines = assert_fails(rec, "$.status:", "'DONE' is not one of")
    assert any("$.created_at:" in line for line in lines), lines
    assert any("$.limit_price:" in line for line in lines), lines


def test_a_problem_of_the_wrong_kind_for_its_status_fails():
    rec = full_recording()
    find(rec, "GET /api/v1/orders", 400)["body"]["errors"][0]["field"] = "symbol"
    assert_fails(rec, "GET /api/v1/orders 400 $.errors[0].field:")
    rec = full_recording()
    find(rec, "POST /api/v1/orders", 413)["body"]["status"] = 400
    assert_fails(rec, "POST /api/v1/orders 413 $.status:")


def test_an_undocumented_status_fails():
    rec = full_recording()
    rec.append(co.parse_exchange(99, json.dumps(exchange(
        "GET /api/v1/account", "/api/v1/account", 409, problem(409, "conflict", "Conflict", "x")))))
    assert_fails(rec, "GET /api/v1/account 409 $:", "status is not documented for this route")


def test_an_undocumented_route_fails():
    rec = full_recording()
    rec.append(co.parse_exchange(99, json.dumps(exchange("DELETE /api/v1/orders/{id}", "/x", 200, order()))))
    assert_fails(rec, "DELETE /api/v1/orders/{id} 200", "route is not documented")


def test_a_documented_status_never_produced_fails():
    rec = [x for x in full_recording() if not (x["route"] == "POST /api/v1/orders/{id}/cancel" and x["status"] == 409)]
    assert_fails(rec, "POST /api/v1/orders/{id}/cancel 409 -:", "never produced")


def test_a_missing_retry_after_fails():
    rec = full_recording()
    del find(rec, "POST /api/v1/orders", 429)["headers"]["retry-after"]
    assert_fails(rec, "POST /api/v1/orders 429 headers.retry-after:", "required header is missing")


def test_a_bad_retry_after_fails():
    rec = full_recording()
    find(rec, "POST /api/v1/orders", 429)["headers"]["retry-after"] = "soon"
    assert_fails(rec, "POST /api/v1/orders 429 headers.retry-after:")


def test_a_replay_header_never_seen_fails():
    rec = [x for x in full_recording() if "idempotent-replayed" not in x["headers"] or x["status"] != 422]
    assert_fails(rec, "POST /api/v1/orders 422 headers.idempotent-replayed:", "never appears")


def test_a_replayed_201_without_its_header_fails():
    rec = full_recording()
    del find(rec, "POST /api/v1/orders", 201, nth=1)["headers"]["idempotent-replayed"]
    assert_fails(rec, "POST /api/v1/orders 201 headers.idempotent-replayed:", "repeats an earlier response body")


def test_a_replay_recorded_before_its_original_passes():
    # The replay was answered from the stored outcome while the original request was
    # still finishing: the gateway records the replay first.
    rec = full_recording()
    original = find(rec, "POST /api/v1/orders", 201, nth=0)
    replay = find(rec, "POST /api/v1/orders", 201, nth=1)
    assert original["body"] == replay["body"] and "idempotent-replayed" in replay["headers"]
    i, j = rec.index(original), rec.index(replay)
    rec[i], rec[j] = replay, original
    rec = [{**x, "line": n} for n, x in enumerate(rec, 1)]
    assert failures(SPEC, rec) == []


def test_two_originals_of_one_body_fail_in_any_order():
    rec = full_recording()
    replay = find(rec, "POST /api/v1/orders", 201, nth=1)
    del replay["headers"]["idempotent-replayed"]
    rec.insert(0, rec.pop(rec.index(replay)))
    rec = [{**x, "line": n} for n, x in enumerate(rec, 1)]
    assert_fails(rec, "POST /api/v1/orders 201 headers.idempotent-replayed:", "two answers claim to be the original")


def test_an_api_header_where_it_is_not_documented_fails():
    rec = full_recording()
    find(rec, "POST /api/v1/orders", 400)["headers"]["idempotent-replayed"] = "true"
    assert_fails(rec, "POST /api/v1/orders 400 headers.idempotent-replayed:", "not documented for this response")


def test_a_wrong_content_type_fails():
    rec = full_recording()
    find(rec, "POST /api/v1/orders", 422)["headers"]["content-type"] = "application/json"
    assert_fails(rec, "POST /api/v1/orders 422 headers.content-type:", "'application/json' is not documented")


def test_an_empty_or_non_json_body_fails():
    rec = full_recording()
    find(rec, "GET /api/v1/account", 200)["body"] = None
    assert_fails(rec, "GET /api/v1/account 200 $:", "empty body")
    rec = full_recording()
    find(rec, "GET /api/v1/account", 200)["body"] = "Internal Server Error"
    assert_fails(rec, "GET /api/v1/account 200 $:", "not JSON")


def test_an_unmatched_route_is_checked_against_the_catch_all():
    rec = full_recording()
    find(rec, None, 404)["status"] = 405
    lines = assert_fails(rec, f"{co.UNMATCHED} 405 $:", "status is not documented")
    assert any(f"{co.UNMATCHED} 404 -:" in line and "never produced" in line for line in lines), lines


def test_without_a_catch_all_unmatched_exchanges_are_skipped_with_a_note():
    spec = copy.deepcopy(SPEC)
    del spec["x-unmatched-route"]
    report = co.check(spec, full_recording())
    assert report.failures == [], [f.line() for f in report.failures]
    assert report.notes and "skipped" in report.notes[0]


def test_an_exemption_on_a_4xx_or_without_a_reason_fails():
    spec = copy.deepcopy(SPEC)
    spec["paths"]["/api/v1/orders/{id}/cancel"]["post"]["responses"]["409"] = {
        "$ref": "#/components/responses/CancelConflict"}
    spec["components"]["responses"]["CancelConflict"][co.NOT_PRODUCED] = "hard to produce in end-to-end tests"
    rec = [x for x in full_recording() if not (x["route"] == "POST /api/v1/orders/{id}/cancel" and x["status"] == 409)]
    assert_fails(rec, "POST /api/v1/orders/{id}/cancel 409 -:", "only for 5xx", spec=spec)
    # A 4xx exemption that cites an existing test that produces it is accepted.
    spec["components"]["responses"]["CancelConflict"][co.NOT_PRODUCED] = (
        "produced in shared/tests/cancel_use_case.rs by a store that keeps conflicting")
    assert failures(spec, rec) == [], failures(spec, rec)
    spec["components"]["responses"]["CancelConflict"][co.NOT_PRODUCED] = "see shared/tests/no_such_file.rs"
    assert_fails(rec, "POST /api/v1/orders/{id}/cancel 409 -:", "only for 5xx", spec=spec)
    spec = copy.deepcopy(SPEC)
    spec["components"]["responses"]["InternalError"][co.NOT_PRODUCED] = "n/a"
    assert_fails(full_recording(), "POST /api/v1/orders 500 -:", "specific reason", spec=spec)


def test_an_invalid_document_fails():
    spec = copy.deepcopy(SPEC)
    spec["components"]["schemas"]["Order"]["properties"]["version"]["type"] = "int"
    assert_fails(full_recording(), "(document)", spec=spec)


# --- the command line ---------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOLS / "check_openapi.py"), *args],
                          capture_output=True, text=True, check=False, cwd=ROOT)


def write_recording(directory: str, recording: list[dict]) -> str:
    path = Path(directory) / "recording.jsonl"
    keys = co.RECORD_KEYS
    path.write_text("".join(json.dumps({k: x[k] for k in keys}) + "\n" for x in recording), encoding="utf-8")
    return str(path)


# Every character str.splitlines() breaks on besides "\n" (issue 13). JSON must escape
# the control characters among them, but U+0085, U+2028 and U+2029 may stand raw in a
# string, and serde_json writes them so.
LINE_BREAKERS = ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def test_a_recording_with_unicode_line_separators_in_strings_reads_whole():
    rec = full_recording()
    field = "sym" + "".join(LINE_BREAKERS) + "bol"
    rec[6]["body"]["errors"][0]["field"] = field  # the 422 validation problem echoes field names
    raw = [json.dumps({k: x[k] for k in co.RECORD_KEYS}, ensure_ascii=False) for x in rec]
    assert any(c in raw[6] for c in "\x85\u2028\u2029"), "the line must hold the separators unescaped"
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "recording.jsonl"
        path.write_text("".join(line + "\n" for line in raw), encoding="utf-8")
        assert len(path.read_text(encoding="utf-8").splitlines()) > len(rec), "splitlines would cut it"
        loaded = co.load_recording(path)
        assert len(loaded) == len(rec), len(loaded)
        assert loaded[6]["body"]["errors"][0]["field"] == field
        assert [x["line"] for x in loaded] == list(range(1, len(rec) + 1))
        assert failures(SPEC, rec) == []


def test_reliability_rows_with_unicode_line_separators_read_whole():
    import reliability_report

    row = {
        "group": 5, "scenario": "s" + "".join(LINE_BREAKERS), "injected": "x", "operations": 1,
        "lost_orders": 0, "duplicated_venue_orders": 0, "lost_events": 0, "wrong_balances": 0,
        "server_errors": 0, "panics": 0,
    }
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "rows.jsonl"
        path.write_text((json.dumps(row, ensure_ascii=False) + "\n") * 2, encoding="utf-8")
        rows = reliability_report.load(str(path))
        assert len(rows) == 2 and rows[0]["scenario"] == row["scenario"], rows


def test_cli_exit_codes_and_summary():
    with tempfile.TemporaryDirectory() as d:
        good = write_recording(d, full_recording())
        ok = run_cli("--spec", str(SPEC_PATH), "--recording", good)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        last = ok.stdout.strip().splitlines()[-1]
        assert last.startswith("openapi: ") and last.endswith(", 0 failures"), last
        rec = full_recording()
        rec[0]["body"]["extra"] = 1
        bad = run_cli("--spec", str(SPEC_PATH), "--recording", write_recording(d, rec))
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert bad.stdout.startswith("FAIL POST /api/v1/orders 201 $: "), bad.stdout
        missing = run_cli("--spec", str(SPEC_PATH), "--recording", str(Path(d) / "nope.jsonl"))
        assert missing.returncode == 2 and "no such recording" in missing.stderr, missing.stderr
        garbled = Path(d) / "garbled.jsonl"
        garbled.write_text('{"method": "GET"}\n', encoding="utf-8")
        usage = run_cli("--spec", str(SPEC_PATH), "--recording", str(garbled))
        assert usage.returncode == 2 and "lacks" in usage.stderr, usage.stderr


def main() -> int:
    tests = [(name, fn) for name, fn in globals().items() if name.startswith("test_") and callable(fn)]
    failed = 0
    for name, fn in tests:
        try:
            fn()
        except Exception:  # a crash of the checker is a failed test too, not the end of the run
            failed += 1
            print(f"FAILED {name}")
            traceback.print_exc()
    print(f"{len(tests) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
