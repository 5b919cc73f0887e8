#!/usr/bin/env python3
"""Self-test of tools/check_alpaca.py against Alpaca's document (tools/simulator/spec).

    .venv/bin/python tools/test_check_alpaca.py

Owns the proof that the simulator's contract check can fail: a recording shaped like
the simulator's answers (tools/simulator/src/wire.rs: order_json, activity_json,
ApiError) passes against the real document, and each kind of breakage (a field
Alpaca does not send, a status outside the enum, a missing required field, an id
that is not a UUID, a time that is not a date-time, Alpaca's old-style error code,
an error body without its message, a 429 without X-RateLimit-*, an undocumented
2xx, a body on a 204, a FILL activity of an unknown type, a route the document
lacks, an empty recording) fails with a line naming it. Plain asserts; prints
"N passed, M failed" and exits 1 on any failure.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

TOOLS = Path(__file__).resolve().parent
ROOT = TOOLS.parent
sys.path.insert(0, str(TOOLS))

import check_alpaca as ca  # noqa: E402

SPEC_PATH = ROOT / "tools" / "simulator" / "spec" / "trading-api.json"
SPEC = ca.load_spec(SPEC_PATH)
JSON = {"content-type": "application/json"}
ORDER_ID = "01a21bc2-76f7-400e-8567-d7b8cca6cef8"
RATE = {"x-ratelimit-limit": "200", "x-ratelimit-remaining": "199", "x-ratelimit-reset": "1795000000"}


def order(**changes: Any) -> dict[str, Any]:
    """An order as the simulator's `order_json` writes it."""
    body = {
        "id": ORDER_ID, "client_order_id": "01JDZ8Q4Y6P7X2M3N4B5C6D7E8",
        "created_at": "2026-11-27T06:47:38.999000Z", "updated_at": "2026-11-27T06:47:39.094000Z",
        "submitted_at": "2026-11-27T06:47:38.999000Z", "filled_at": None, "expired_at": None,
        "canceled_at": None, "failed_at": None, "replaced_at": None,
        "replaced_by": None, "replaces": None, "asset_id": "89106b8b-9f08-4ccb-8920-47a9a6dd6e35",
        "symbol": "AAPL", "asset_class": "us_equity", "notional": None, "qty": "4", "filled_qty": "2",
        "filled_avg_price": "149.5", "order_class": "simple", "order_type": "limit", "type": "limit",
        "side": "buy", "position_intent": "buy_to_open", "time_in_force": "gtc", "limit_price": "150",
        "stop_price": None, "status": "partially_filled", "extended_hours": False, "legs": None,
        "trail_percent": None, "trail_price": None, "hwm": None, "ratio_qty": None,
    }
    body.update(changes)
    return body


def activity(**changes: Any) -> dict[str, Any]:
    """A FILL activity as the simulator's `activity_json` writes it."""
    body = {
        "activity_type": "FILL", "id": f"20261127064739094::{ORDER_ID}", "cum_qty": "2",
        "leaves_qty": "2", "price": "149.5", "qty": "2", "side": "buy", "symbol": "AAPL",
        "transaction_time": "2026-11-27T06:47:39.094000Z", "order_id": ORDER_ID,
        "type": "partial_fill", "order_status": "partially_filled",
    }
    body.update(changes)
    return body


def ex(route: str | None, status: int, body: Any = None, headers: dict | None = None,
       path: str = "/v2/x") -> dict[str, Any]:
    method = route.split(" ", 1)[0] if route else "GET"
    h = dict(RATE)
    h.update(JSON if body is not None else {})
    h.update(headers or {})
    return {"method": method, "path": path, "query": None, "route": route, "status": status,
            "headers": h, "body": body, "line": 1}


def good() -> list[dict[str, Any]]:
    """A recording of every kind of answer the simulator gives, all correct."""
    return [
        ex("POST /v2/orders", 200, order(status="accepted", filled_qty="0", filled_avg_price=None)),
        ex("GET /v2/orders:by_client_order_id", 200, order()),
        ex("GET /v2/orders/{order_id}", 200, order(status="replaced", replaced_by=ORDER_ID,
                                                    replaced_at="2026-11-27T06:47:40.000000Z")),
        ex("DELETE /v2/orders/{order_id}", 204),
        ex("GET /v2/account/activities/{activity_type}", 200, [activity(), activity(type="fill", leaves_qty="0")]),
        ex("GET /v2/account/activities", 200, [activity()]),
        ex("GET /v2/account/activities", 200, []),
        ex("POST /v2/orders", 403, {"code": 40310000, "message": "insufficient buying power"}),
        ex("POST /v2/orders", 422, {"code": 42210000, "message": "qty must be > 0"}),
        ex("GET /v2/orders/{order_id}", 404, {"code": 40410000, "message": "order not found"}),
        ex("DELETE /v2/orders/{order_id}", 422, {"code": 42210000, "message": "order is not cancelable"}),
        ex("GET /v2/account/activities/{activity_type}", 400, {"code": 40010000, "message": "bad direction"}),
        ex("GET /v2/orders/{order_id}", 401, {"code": 40110000, "message": "request is not authorized"}),
        ex("GET /v2/orders/{order_id}", 429, {"code": 42910000, "message": "rate limit exceeded"}),
        ex("GET /v2/orders/{order_id}", 500, {"code": 50010000, "message": "simulated venue failure"}),
        ex("GET /v2/orders/{order_id}", 503, {"code": 50310000, "message": "simulated venue failure"}),
        ex(None, 404, {"code": 40410000, "message": "route not found"}),
    ]


def run(exchanges: list[dict[str, Any]]) -> ca.Report:
    return ca.check(SPEC, [dict(e) for e in exchanges])


def lines(report: ca.Report) -> str:
    return "\n".join(f.line() for f in report.failures)


def broken(index: int, **changes: Any) -> list[dict[str, Any]]:
    recording = copy.deepcopy(good())
    recording[index].update(changes)
    return recording


def expect_failure(recording: list[dict[str, Any]], *words: str) -> None:
    report = run(recording)
    text = lines(report)
    assert report.failures, f"expected a failure naming {words}, got none"
    for word in words:
        assert word in text, f"expected {word!r} in:\n{text}"


# --- the tests ----------------------------------------------------------------


def test_the_document_is_alpacas_trading_api_2_0_1_with_the_operations_we_use() -> None:
    assert SPEC["info"]["title"] == "Trading API" and SPEC["info"]["version"] == "2.0.1"
    for path, method in [("/v2/orders", "post"), ("/v2/orders:by_client_order_id", "get"),
                         ("/v2/orders/{order_id}", "get"), ("/v2/orders/{order_id}", "delete"),
                         ("/v2/account/activities", "get"), ("/v2/account/activities/{activity_type}", "get")]:
        assert method in SPEC["paths"][path], (path, method)
    assert SPEC["components"]["schemas"]["Error"]["required"] == ["code", "message"]


def test_a_correct_recording_passes() -> None:
    report = run(good())
    assert not report.failures, lines(report)
    assert report.exchanges == 16 and report.skipped == 1, report.summary()


def test_a_field_alpaca_does_not_send_fails() -> None:
    expect_failure(broken(1, body=order(reason="canceled by request")), "reason", "Additional properties")


def test_a_status_outside_the_enum_fails() -> None:
    expect_failure(broken(1, body=order(status="working")), "$.status", "'working'")


def test_a_missing_required_field_fails() -> None:
    body = order()
    del body["time_in_force"]
    expect_failure(broken(1, body=body), "time_in_force", "required")


def test_an_id_that_is_not_a_uuid_fails() -> None:
    expect_failure(broken(1, body=order(id="v-1")), "$.id", "uuid")


def test_a_time_that_is_not_a_date_time_fails() -> None:
    expect_failure(broken(4, body=[activity(transaction_time="yesterday")]), "transaction_time", "date-time")


def test_a_null_where_the_document_allows_none_fails() -> None:
    expect_failure(broken(1, body=order(expires_at=None)), "$.expires_at", "None is not of type 'string'")


def test_a_decimal_sent_as_a_number_fails() -> None:
    expect_failure(broken(1, body=order(filled_qty=2)), "$.filled_qty", "string")


def test_an_activity_of_an_unknown_type_fails() -> None:
    expect_failure(broken(5, body=[activity(type="fill_x")]), "fill_x")


def test_an_old_style_error_code_fails() -> None:
    expect_failure(broken(8, body={"code": 42200000, "message": "qty must be > 0"}), "42200000", "42210000")


def test_an_error_body_without_a_message_fails() -> None:
    expect_failure(broken(9, body={"code": 40410000}), "message", "required")


def test_a_429_without_the_rate_headers_fails() -> None:
    recording = copy.deepcopy(good())
    for name in ca.RATE_HEADERS:
        del recording[13]["headers"][name]
    expect_failure(recording, "429", "x-ratelimit-reset", "documented header is missing")


def test_a_rate_header_that_is_not_an_integer_fails() -> None:
    recording = copy.deepcopy(good())
    recording[0]["headers"]["x-ratelimit-reset"] = "soon"
    expect_failure(recording, "x-ratelimit-reset", "integer")


def test_an_undocumented_success_status_fails() -> None:
    expect_failure(broken(0, status=201), "201", "not documented")


def test_an_undocumented_error_status_fails() -> None:
    expect_failure(broken(9, status=409, body={"code": 40910000, "message": "conflict"}), "409")


def test_a_body_on_a_204_fails() -> None:
    expect_failure(broken(3, body={"id": ORDER_ID}, headers=JSON), "204", "none is documented")


def test_a_route_the_document_lacks_fails() -> None:
    expect_failure(broken(1, route="GET /v2/orders/{id}/fills"), "route is not in the document")


MARKET_SPEC = ca.load_spec(ROOT / "tools" / "simulator" / "spec" / "market-data-api.json")
LATEST = "GET /v2/stocks/{symbol}/trades/latest"


def latest(**trade: Any) -> dict[str, Any]:
    """A latest trade as the simulator's `market_data::latest_trade` writes it."""
    body = {"t": "2026-11-28T01:00:00.123456Z", "x": "V", "p": 190.12, "s": 100, "c": ["@"], "i": 7, "z": "C"}
    body.update(trade)
    return {"symbol": "AAPL", "trade": body}


def run_both(exchanges: list[dict[str, Any]]) -> ca.Report:
    return ca.check_all([SPEC, MARKET_SPEC], [dict(e) for e in exchanges])


def test_market_data_answers_are_checked_against_the_market_data_document() -> None:
    good_ones = good() + [
        ex(LATEST, 200, latest(), path="/v2/stocks/AAPL/trades/latest"),
        ex(LATEST, 400, {"message": "invalid symbol: a b"}, path="/v2/stocks/a%20b/trades/latest"),
        ex(LATEST, 401, {"message": "request is not authorized"}, path="/v2/stocks/AAPL/trades/latest"),
    ]
    report = run_both(good_ones)
    assert not report.failures, lines(report)
    price_as_text = run_both([ex(LATEST, 200, latest(p="190.12"), path="/v2/stocks/AAPL/trades/latest")])
    assert "190.12" in lines(price_as_text) and "number" in lines(price_as_text), lines(price_as_text)
    missing = copy.deepcopy(latest())
    del missing["trade"]["z"]
    text = lines(run_both([ex(LATEST, 200, missing, path="/v2/stocks/AAPL/trades/latest")]))
    assert "'z' is a required property" in text, text
    text = lines(run_both([ex(LATEST, 400, {"code": 40010000}, path="/v2/stocks/A/trades/latest")]))
    assert "message" in text, text
    # Against the Trading API alone the route is not there.
    assert "route is not in the document" in lines(run([ex(LATEST, 200, latest())]))


def test_an_empty_recording_fails() -> None:
    report = run([])
    assert "no exchange to check" in lines(report)


def test_the_command_line_exits_1_on_failure_and_0_on_success() -> None:
    with tempfile.TemporaryDirectory() as d:
        for recording, code in [(good(), 0), (broken(1, body=order(status="working")), 1)]:
            path = Path(d) / "rec.jsonl"
            # A record holding U+2028 stays one line (tools/jsonl.py).
            recording[0]["body"]["client_order_id"] = "a\u2028b"
            path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in recording), encoding="utf-8")
            done = subprocess.run([sys.executable, str(TOOLS / "check_alpaca.py"), "--spec", str(SPEC_PATH),
                                   "--recording", str(path)], capture_output=True, text=True, check=False)
            assert done.returncode == code, done.stdout + done.stderr
        missing = subprocess.run([sys.executable, str(TOOLS / "check_alpaca.py"), "--spec", str(SPEC_PATH),
                                  "--recording", str(Path(d) / "none.jsonl")], capture_output=True, text=True,
                                 check=False)
        assert missing.returncode == 2, missing.stderr


def main() -> int:
    tests = [(name, fn) for name, fn in sorted(globals().items()) if name.startswith("test_") and callable(fn)]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
            passed += 1
        except Exception:  # noqa: BLE001 - every failure is reported, then counted
            failed += 1
            print(f"FAILED {name}")
            traceback.print_exc()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
