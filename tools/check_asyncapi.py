#!/usr/bin/env python3
"""Checks live-stream messages and bus events against infra/asyncapi.yaml (issues 18, 14).

    .venv/bin/python tools/check_asyncapi.py --spec infra/asyncapi.yaml [--recording FILE] [--require-all]

The recording is JSON Lines, one message per line as the test client saw it:

    {"channel": "live" | "bus", "direction": "receive" | "send", "message": <the parsed JSON message>}

(`channel` defaults to `live`: a WebSocket message; `bus`: an EventBridge event's
envelope as a rule's SQS target receives it.) Each message is matched to the
document's message of its channel and direction by its discriminator: `type`
(received on `live`), `action` (sent) or `detail-type` (a bus event), the const of
that field in the message's payload schema, and validated against that schema
(JSON Schema 2020-12, formats checked; the payloads say `additionalProperties:
false`, so an undocumented field fails). Every example in the document is validated
too. `--require-all`: every received message of each channel the recording holds
must occur at least once.
Prints one line per failure; exit 0 when all pass, 1 on any failure, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC_URI = "urn:asyncapi"


class Spec:
    def __init__(self, doc: dict[str, Any]):
        if str(doc.get("asyncapi", "")).split(".")[0] != "3":
            raise ValueError(f"not an AsyncAPI 3 document (asyncapi: {doc.get('asyncapi')!r})")
        self.doc = doc
        self.registry = Registry().with_resource(DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012))
        self.messages: dict[str, Any] = (doc.get("components") or {}).get("messages") or {}
        # By channel and direction: the operations' messages, keyed by the payload's const discriminator.
        self.by_key: dict[tuple[str, str, str], str] = {}
        for op in (doc.get("operations") or {}).values():
            direction = op.get("action")
            channel = op["channel"]["$ref"].rsplit("/", 1)[-1]
            for ref in op.get("messages") or []:
                name = ref["$ref"].rsplit("/", 1)[-1]
                channel_msg = self.resolve(ref["$ref"])
                component = channel_msg["$ref"].rsplit("/", 1)[-1] if "$ref" in channel_msg else name
                field = discriminator(channel, direction)
                const = payload_const(self.messages[component].get("payload") or {}, field)
                if const is None:
                    raise ValueError(f"message {component}: its payload has no `{field}` const to match it by")
                self.by_key[(channel, direction, const)] = component

    def resolve(self, ref: str) -> Any:
        node: Any = self.doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    def validator(self, component: str) -> Draft202012Validator:
        schema = {"$ref": f"{DOC_URI}#/components/messages/{component}/payload"}
        return Draft202012Validator(schema, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER)

    def check(self, channel: str, direction: str, message: Any, where: str) -> list[str]:
        field = discriminator(channel, direction)
        key = message.get(field) if isinstance(message, dict) else None
        component = self.by_key.get((channel, direction, key))
        if component is None:
            return [f"{where}: a {direction}d {channel} message with {field} {key!r} is not in the document"]
        error = best_match(self.validator(component).iter_errors(message))
        if error is not None:
            path = "$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            return [f"{where}: {component} at {path}: {error.message}"]
        return []


def discriminator(channel: str, direction: str) -> str:
    """The field a message of `channel` is told apart by."""
    if channel == "bus":
        return "detail-type"
    return "type" if direction == "receive" else "action"


def payload_const(payload: dict[str, Any], field: str) -> Any:
    """The const of `field` in a payload schema: in its properties, or in those of an `allOf` part."""
    for part in [payload, *(payload.get("allOf") or [])]:
        const = ((part.get("properties") or {}).get(field) or {}).get("const")
        if const is not None:
            return const
    return None


def check_examples(spec: Spec) -> list[str]:
    failures = []
    for (channel, direction, _), component in spec.by_key.items():
        for i, example in enumerate(spec.messages[component].get("examples") or []):
            failures += spec.check(channel, direction, example.get("payload"), f"example {component}[{i}]")
    return failures


def check_recording(spec: Spec, lines: list[str], require_all: bool) -> tuple[list[str], int]:
    failures, seen, count, channels = [], set(), 0, set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            direction, message = entry["direction"], entry["message"]
            channel = entry.get("channel", "live")
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            failures.append(f"line {n}: not a recorded message: {err}")
            continue
        count += 1
        channels.add(channel)
        found = spec.check(channel, direction, message, f"line {n}")
        failures += found
        if not found:
            seen.add((channel, direction, message.get(discriminator(channel, direction))))
    if require_all:
        for key, component in sorted(spec.by_key.items()):
            if key[0] in channels and key[1] == "receive" and key not in seen:
                failures.append(f"message {component} ({key[2]}) was never received in the recording")
    return failures, count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="infra/asyncapi.yaml")
    ap.add_argument("--recording")
    ap.add_argument("--require-all", action="store_true")
    args = ap.parse_args(argv)
    try:
        spec = Spec(yaml.safe_load(Path(args.spec).read_text(encoding="utf-8")))
        lines = Path(args.recording).read_text(encoding="utf-8").splitlines() if args.recording else []
    except (OSError, ValueError, KeyError, yaml.YAMLError) as err:
        print(f"check_asyncapi: {err}", file=sys.stderr)
        return 2
    failures = check_examples(spec)
    count = 0
    if args.recording:
        more, count = check_recording(spec, lines, args.require_all)
        failures += more
    for f in failures:
        print(f"FAIL {f}")
    print(f"check_asyncapi: {count} recorded messages, {len(spec.by_key)} document messages, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
