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


def run(entries: list[tuple[str, dict]], *flags: str) -> tuple[int, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for direction, message in entries:
            f.write(json.dumps({"direction": direction, "message": message}) + "\n")
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


CASES = [
    ("a complete, correct recording passes", good(), ("--require-all",), 0, None),
    ("an undocumented field fails", mutated("extra", 1), (), 1, "Additional properties"),
    ("a missing field fails", mutated("version", KeyError), (), 1, "'version' is a required property"),
    ("a number for a decimal string fails", mutated("filled_quantity", 10), (), 1, "filled_quantity"),
    ("an unknown status fails", mutated("new_status", "DONE"), (), 1, "new_status"),
    ("an unknown message type fails", [("receive", {"type": "hello"})], (), 1, "'hello' is not in the document"),
    ("a message never received fails --require-all", [("receive", UPDATE)], ("--require-all",), 1, "never received"),
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
