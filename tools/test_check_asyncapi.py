#!/usr/bin/env python3
"""Self-test of tools/check_asyncapi.py against infra/asyncapi.yaml: messages shaped like
the live stream's (shared/src/app/live.rs, the functions' tests) pass; each kind of
breakage (an undocumented field, a missing field, a wrong type, an unknown message
type, a message type never received) fails with a line naming it.

    .venv/bin/python tools/test_check_asyncapi.py
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_asyncapi  # noqa: E402

SPEC = str(Path(__file__).resolve().parent.parent / "infra" / "asyncapi.yaml")

UPDATE = {"type": "order_update", "replay": False, "cursor": "2026-11-27T10:00:00.12Z",
          "order_id": "01M89CR8R9WRJ3P3W4H1SDS5EG", "trader_id": "alice", "client_order_id": None,
          "symbol": "AAPL", "side": "buy", "previous_status": "PENDING", "new_status": "SUBMITTED",
          "filled_quantity": "0", "average_price": None, "version": 2, "timestamp": "2026-11-27T10:00:00.12Z"}
SUBSCRIBED = {"type": "subscribed", "cursor": None, "replayed": 0, "complete": True}
ERROR = {"type": "error", "detail": "cursor `x` is not one this stream sent"}
SUBSCRIBE = {"action": "subscribe", "cursor": "2026-11-27T10:00:00Z"}
# Bus events as a rule's SQS target receives them (EventBridge's envelope).
ENVELOPE = {"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "source": "orders",
            "account": "123456789012", "time": "2026-11-27T10:00:01Z", "region": "us-east-1"}
RECONCILED = dict(ENVELOPE, **{"detail-type": "Order Reconciled",
                               "resources": ["order/01M89CR8R9WRJ3P3W4H1SDS5EG"], "detail": {
                                   "reconciliation_id": "1795838706789#01M89CR8R9WRJ3P3W4H1SDS5EG",
                                   "order_id": "01M89CR8R9WRJ3P3W4H1SDS5EG", "trader_id": "alice",
                                   "venue_order_id": "61e69015-8549-4bfd-b9c3-01e75cb53b5b",
                                   "venue_status": "expired", "from_status": "SUBMITTED", "to_status": "EXPIRED",
                                   "corrected": True, "reason": "The venue reports the order expired: corrected",
                                   "at": "2026-11-27T10:00:00.5Z"}})
STATUS = dict(ENVELOPE, **{"detail-type": "Order Status Changed", "resources": ["order/01M89CR8R9WRJ3P3W4H1SDS5EG"],
                           "detail": {k: v for k, v in UPDATE.items() if k not in ("type", "replay", "cursor")}})
TRADING = dict(ENVELOPE, **{"detail-type": "Trading State Changed", "resources": ["deployment"], "detail": {
    "scope": "deployment", "trader_id": None, "previous_state": "active", "state": "halted", "audit_sequence": 2}})


def run(entries: list[tuple], *flags: str) -> tuple[int, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for entry in entries:
            direction, message = entry[-2], entry[-1]
            line = {"direction": direction, "message": message}
            if len(entry) == 3:
                line["channel"] = entry[0]
            f.write(json.dumps(line) + "\n")
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = check_asyncapi.main(["--spec", SPEC, "--recording", f.name, *flags])
    return code, out.getvalue()


def good() -> list[tuple[str, dict]]:
    return [("send", SUBSCRIBE), ("receive", UPDATE), ("receive", dict(UPDATE, replay=True, previous_status=None)),
            ("receive", SUBSCRIBED), ("receive", ERROR)]


def mutated(key: str, value: object) -> list[tuple[str, dict]]:
    m = copy.deepcopy(UPDATE)
    if value is KeyError:
        del m[key]
    else:
        m[key] = value
    return [("receive", m)]


def bus(detail_change: dict | None = None, drop: str | None = None, **envelope: object) -> list[tuple]:
    m = copy.deepcopy(RECONCILED)
    m.update(envelope)
    m["detail"].update(detail_change or {})
    if drop:
        del m["detail"][drop]
    return [("bus", "receive", m)]


CASES = [
    ("a complete, correct recording passes", good(), ("--require-all",), 0, None),
    ("an undocumented field fails", mutated("extra", 1), (), 1, "Additional properties"),
    ("a missing field fails", mutated("version", KeyError), (), 1, "'version' is a required property"),
    ("a number for a decimal string fails", mutated("filled_quantity", 10), (), 1, "filled_quantity"),
    ("an unknown status fails", mutated("new_status", "DONE"), (), 1, "new_status"),
    ("an unknown message type fails", [("receive", {"type": "hello"})], (), 1, "'hello' is not in the document"),
    ("a message never received fails --require-all", [("receive", UPDATE)], ("--require-all",), 1, "never received"),
    ("every bus event passes, beside the live messages", good() + [("bus", "receive", e) for e in (STATUS, TRADING)] +
     bus() + bus({"corrected": False, "to_status": "SUBMITTED"}), ("--require-all",), 0, None),
    ("a bus event never received fails --require-all once the bus is recorded", bus(), ("--require-all",), 1,
     "orderStatusChanged (Order Status Changed) was never received"),
    ("an undocumented detail field fails", bus({"extra": 1}), (), 1, "Additional properties"),
    ("a reconciliation without its dedupe key fails", bus(drop="reconciliation_id"), (), 1,
     "'reconciliation_id' is a required property"),
    ("a dedupe key of another shape fails", bus({"reconciliation_id": "42"}), (), 1, "reconciliation_id"),
    ("a string for corrected fails", bus({"corrected": "yes"}), (), 1, "corrected"),
    ("another source fails", bus(source="payments"), (), 1, "source"),
    ("an unknown detail-type fails", bus(**{"detail-type": "Order Moved"}), (), 1,
     "'Order Moved' is not in the document"),
]


def main() -> int:
    passed = failed = 0
    for name, entries, flags, want, needle in CASES:
        code, out = run(entries, *flags)
        ok = code == want and (needle is None or needle in out)
        print(f"  {'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": exit {code}\n{out}"))
        passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
