#!/usr/bin/env python3
"""Tail the status events of the running local stack (`make events`).

    tools/events_tail.py [--env .local/stack.env] [--once]

Reads `Order Status Changed` events from the bus's tap queue
(STATUS_EVENTS_TAP_QUEUE_URL; the template's rule delivers every event there),
prints one line per event and deletes what it printed:

    14:30:00.123 01JDZ8Q4Y6P7X2M3N4B5C6D7E8 demo v2 PENDING→SUBMITTED filled 0 @ -

The time is the event's timestamp (UTC). Events are at-least-once: a repeated
(order id, version) is a redelivery. Settings come from the env file (written by
`make dev`), overridden by the environment. --once stops when the queue is empty.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import boto3


def read_env(path: Path) -> dict[str, str]:
    pairs: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                pairs[key] = value.strip().strip('"')
    return pairs


def line(body: str) -> str:
    try:
        envelope = json.loads(body)
        detail = envelope.get("detail")
        if isinstance(detail, str):
            detail = json.loads(detail)
        at = str(detail.get("timestamp") or envelope.get("time") or "")
        m = re.search(r"T(\d\d:\d\d:\d\d)(?:\.(\d+))?", at)
        clock = f"{m.group(1)}.{(m.group(2) or '').ljust(3, '0')[:3]}" if m else "??:??:??.???"
        prev = detail.get("previous_status") or "-"
        avg = detail.get("average_price") or "-"
        return (
            f"{clock} {detail.get('order_id')} {detail.get('trader_id')} v{detail.get('version')} "
            f"{prev}→{detail.get('new_status')} filled {detail.get('filled_quantity')} @ {avg}"
        )
    except (ValueError, AttributeError, TypeError):
        return f"(unreadable event) {body[:200]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=".local/stack.env", type=Path, help="stack env file (default .local/stack.env)")
    parser.add_argument("--once", action="store_true", help="stop when the queue is empty")
    args = parser.parse_args()
    env = {**read_env(args.env), **{k: v for k, v in os.environ.items() if v}}
    url = env.get("STATUS_EVENTS_TAP_QUEUE_URL")
    if not url:
        print(f"events: STATUS_EVENTS_TAP_QUEUE_URL not set and not in {args.env}; start the stack with make dev", file=sys.stderr)
        return 1
    sqs = boto3.client(
        "sqs",
        endpoint_url=env.get("AWS_ENDPOINT_URL"),
        region_name=env.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "test"),
    )
    print(f"events: tailing {url} (Ctrl-C to stop)", file=sys.stderr)
    try:
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1 if args.once else 10)
            messages = got.get("Messages", [])
            if not messages and args.once:
                return 0
            for m in messages:
                print(line(m["Body"]), flush=True)
            if messages:
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                )
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
