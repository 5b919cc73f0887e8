#!/usr/bin/env python3
"""Checks the exchange simulator's recorded answers against Alpaca's Trading API document.

Long because: one checker for both Alpaca documents (Trading, Market Data): reading, the OpenAPI-to-JSON-Schema
conversion and the per-exchange rules share their helpers.

    .venv/bin/python tools/check_alpaca.py --spec tools/simulator/spec/trading-api.json \
        [--spec tools/simulator/spec/market-data-api.json] --recording FILE

Owns the contract between the local Alpaca double (tools/simulator) and Alpaca's
published OpenAPI document ("Trading API" 2.0.1, OpenAPI 3.0). The recording is
JSON Lines written by the simulator when SIM_RECORDING is set, one object per
`/v2` exchange:

    {"method": "GET", "path": "/v2/orders/5f0c...", "query": "nested=true" | null,
     "route": "GET /v2/orders/{order_id}" | null, "status": 200,
     "headers": {"content-type": "...", ...lower-case names},
     "body": <parsed JSON | a string if not JSON | null if empty>}

Each exchange is checked against the document's operation for its route, one line
per failure naming route, status, JSON path and reason:

  (a) the status: a 2xx must be documented on the operation; an error status must
      be documented on the operation, or be one of the document's shared
      `components/responses` (400, 401, 403, 429, 500), or one of the few statuses
      Alpaca sends that the document leaves out (ALLOWED_UNDOCUMENTED, each with
      its reason);
  (b) the body: a documented JSON body validates against the operation's schema
      (OpenAPI 3.0 read as JSON Schema: `nullable` allowed, formats such as
      date-time and uuid checked, and a field the schema does not list fails, so
      an extra field of ours is found); a response documented without content has
      no body;
  (c) every error body is the document's `Error` ({"code", "message"}, both
      required) with Alpaca's code for the status (status x 100000 + 10000, as in
      40310000, 40410000, 42210000);
  (d) headers: a response documenting `X-RateLimit-*` (400, 429) carries all three,
      and wherever they appear they are integers.

With several documents (`--spec` once each: the Trading API, and the Market Data API
"Market Data API" 1.1, whose `GET /v2/stocks/{symbol}/trades/latest` the simulator
serves), each exchange is checked against the document that has its route. The
Market Data API document gives its error statuses without a body schema: its error
bodies are checked to be Alpaca's `{"message"}` (a string; `code` optional).

Exchanges that matched no route are skipped with a note. Exit 0 when all passes, 1
on any failure (or an empty recording), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jsonl import json_lines  # noqa: E402

SPEC_URI = "urn:alpaca-trading-api"
RECORD_KEYS = ("method", "path", "route", "status", "headers", "body")
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
MAX_MESSAGE = 200

# Statuses Alpaca answers that the document does not list on the operations (it
# documents few error statuses per operation), with why each is allowed.
ALLOWED_UNDOCUMENTED = {
    "404": "Alpaca answers 404 {code 40410000} for an order id or client order id it does not know",
    "422": "Alpaca answers 422 {code 42210000} when it refuses a request's input (the document "
           "lists 422 on POST /v2/orders and DELETE /v2/orders/{order_id} only)",
    "503": "the simulator's error_rate knob answers 500 or 503, as a venue outage does",
}


class UsageError(Exception):
    """A missing or unreadable input: exit code 2."""


@dataclass(frozen=True)
class Failure:
    route: str
    status: str
    path: str
    reason: str

    def line(self) -> str:
        return f"FAIL {self.route} {self.status} {self.path}: {self.reason}"


@dataclass
class Report:
    failures: list[Failure] = field(default_factory=list)
    exchanges: int = 0
    skipped: int = 0
    seen: dict[tuple[str, str], int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def fail(self, route: str, status: Any, path: str, reason: str) -> None:
        self.failures.append(Failure(route, str(status), path, reason))

    def summary(self) -> str:
        return (f"alpaca: {self.exchanges} exchanges checked on {len(self.seen)} (route, status) pairs, "
                f"{self.skipped} skipped (no route), {len(self.failures)} failures")


# --- reading the inputs -------------------------------------------------------


def load_spec(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UsageError(f"no such document: {path}")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is not JSON: {e}") from e
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3.0"):
        raise UsageError(f"{path} is not an OpenAPI 3.0 document")
    return spec


def parse_exchange(line_no: int, text: str) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"recording line {line_no} is not JSON: {e}") from e
    if not isinstance(record, dict):
        raise UsageError(f"recording line {line_no} is not a JSON object")
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise UsageError(f"recording line {line_no} lacks {', '.join(missing)}")
    if not isinstance(record["status"], int) or not isinstance(record["headers"], dict):
        raise UsageError(f"recording line {line_no}: status must be an integer and headers an object")
    record["headers"] = {str(k).lower(): str(v) for k, v in record["headers"].items()}
    record["line"] = line_no
    return record


def load_recording(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UsageError(f"no such recording: {path}")
    return [parse_exchange(i, text) for i, text in json_lines(path)]


# --- OpenAPI 3.0 schemas as JSON Schema ---------------------------------------


def allof_members(spec: dict[str, Any]) -> set[str]:
    """Component schemas used inside an allOf: closing those would refuse the others' fields."""
    found: set[str] = set()

    def walk(node: Any, in_allof: bool) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if in_allof and isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                found.add(ref.rsplit("/", 1)[1])
            for key, value in node.items():
                walk(value, in_allof or key == "allOf")
        elif isinstance(node, list):
            for item in node:
                walk(item, in_allof)

    walk(spec, False)
    return found


def as_json_schema(node: Any, close: bool) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema 2020-12: `nullable: true` admits null;
    an object schema listing its properties refuses others (when `close`)."""
    if isinstance(node, list):
        return [as_json_schema(n, close) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: as_json_schema(v, close and k != "allOf") for k, v in node.items()
           if k not in ("nullable", "example", "x-examples", "discriminator", "xml", "externalDocs")}
    if "$ref" in out:
        # OpenAPI 3.0: siblings of $ref are ignored, except that we honour nullable.
        ref = {"$ref": out["$ref"]}
        return {"anyOf": [ref, {"type": "null"}]} if node.get("nullable") else ref
    if close and "properties" in out and "additionalProperties" not in out and out.get("type", "object") == "object":
        out["additionalProperties"] = False
    if node.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def converted(spec: dict[str, Any]) -> dict[str, Any]:
    """The document with every schema (components and inline) converted."""
    doc = copy.deepcopy(spec)
    open_ones = allof_members(spec)
    schemas = doc.get("components", {}).get("schemas", {})
    for name, schema in list(schemas.items()):
        schemas[name] = as_json_schema(schema, name not in open_ones)
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for response in (op.get("responses") or {}).values():
                for media in (response.get("content") or {}).values():
                    if isinstance(media, dict) and "schema" in media:
                        media["schema"] = as_json_schema(media["schema"], True)
    return doc


class Schemas:
    """Validates instances against schemas addressed by their JSON pointer in the converted document."""

    def __init__(self, doc: dict[str, Any], uri: str = SPEC_URI):
        self.uri = uri
        checkers = Draft202012Validator.FORMAT_CHECKER.checkers
        for fmt in ("date-time", "uuid"):
            if fmt not in checkers:
                raise UsageError(f"{fmt} format checking is not available (see requirements.txt)")
        self.registry = Registry().with_resource(uri, Resource.from_contents(doc, default_specification=DRAFT202012))
        self.cache: dict[str, Draft202012Validator] = {}

    def errors(self, pointer: str, instance: Any) -> list[tuple[str, str]]:
        if pointer not in self.cache:
            ref = f"{self.uri}#{quote(pointer, safe='/~-._')}"
            self.cache[pointer] = Draft202012Validator(
                {"$ref": ref}, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER)
        return [d for e in self.cache[pointer].iter_errors(instance) for d in describe(e)]


def describe(error: ValidationError) -> list[tuple[str, str]]:
    """The most specific JSON paths and messages of an error (inside anyOf/oneOf, the
    branches that failed for more than the instance's type)."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for e in error.context:
            branches.setdefault(e.relative_schema_path[0], []).append(e)
        plausible = [errs for errs in branches.values()
                     if not all(e.validator == "type" and e.absolute_path == error.absolute_path for e in errs)]
        if plausible:
            # The branch that came closest: an activity of an unknown `type` is
            # reported against TradingActivities, not against every other branch.
            closest = min(plausible, key=len)
            return [d for e in closest for d in describe(e)]
        error = best_match(error.context)
    message = error.message if len(error.message) <= MAX_MESSAGE else error.message[:MAX_MESSAGE] + "..."
    return [(error.json_path, message)]


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def deref(spec: dict[str, Any], node: Any) -> tuple[Any, str | None]:
    """A `$ref`'d OpenAPI object (response, header) and its pointer."""
    pointer = None
    while isinstance(node, dict) and "$ref" in node:
        pointer = node["$ref"][1:]
        node = spec
        for token in pointer.split("/")[1:]:
            node = node[token.replace("~1", "/").replace("~0", "~")]
    return node, pointer


# --- checking -----------------------------------------------------------------


@dataclass
class Documented:
    response: dict[str, Any]
    pointer: str  # of the response object in the converted document


def documented(spec: dict[str, Any], path: str, method: str, status: str) -> Documented | None:
    """The operation's response for `status`, else the document's shared one."""
    op = spec["paths"][path][method]
    responses = op.get("responses") or {}
    if status in responses:
        response, target = deref(spec, responses[status])
        return Documented(response, target or f"/paths/{escape(path)}/{method}/responses/{escape(status)}")
    shared = (spec.get("components") or {}).get("responses") or {}
    if status in shared:
        return Documented(shared[status], f"/components/responses/{escape(status)}")
    return None


def check_error_body(report: Report, schemas: Schemas, route: str, status: int, body: Any,
                     spec: dict[str, Any] | None = None) -> None:
    if spec is not None and "Error" not in ((spec.get("components") or {}).get("schemas") or {}):
        # The Market Data API: `{"message"}`, as its clients read it.
        if not isinstance(body, dict) or not isinstance(body.get("message"), str):
            report.fail(route, status, "$.message", "error body is not Alpaca's {\"message\"} (a string)")
        return
    for path, message in schemas.errors("/components/schemas/Error", body):
        report.fail(route, status, path, f"error body is not the document's Error: {message}")
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, (int, float)) and int(code) != status * 100000 + 10000:
        report.fail(route, status, "$.code", f"{code} is not Alpaca's code for {status} ({status * 100000 + 10000})")


def check_headers(report: Report, spec: dict[str, Any], doc: Documented | None, route: str, ex: dict) -> None:
    headers = ex["headers"]
    for name in RATE_HEADERS:
        if name in headers and not headers[name].strip().isdigit():
            report.fail(route, ex["status"], f"headers.{name}", f"{headers[name]!r} is not an integer")
    if doc is None:
        return
    for name in (doc.response.get("headers") or {}):
        if name.lower() not in headers:
            report.fail(route, ex["status"], f"headers.{name.lower()}", "documented header is missing")


def check_exchange(report: Report, spec: dict[str, Any], schemas: Schemas, ex: dict[str, Any]) -> None:
    route, status = ex["route"], ex["status"]
    method, _, path = route.partition(" ")
    method = method.lower()
    if path not in spec["paths"] or method not in spec["paths"][path]:
        report.fail(route, status, "$", "route is not in the document")
        return
    doc = documented(spec, path, method, str(status))
    if doc is None:
        if status < 400:
            report.fail(route, status, "$", "status is not documented for this operation")
            return
        if str(status) not in ALLOWED_UNDOCUMENTED:
            report.fail(route, status, "$", "error status is neither documented nor an allowed Alpaca status")
            return
    check_headers(report, spec, doc, route, ex)
    body = ex["body"]
    if status >= 400:
        check_error_body(report, schemas, route, status, body, spec)
        return
    content = (doc.response.get("content") or {}) if doc else {}
    if not content:
        if body is not None:
            report.fail(route, status, "$", "a body was returned where none is documented")
        return
    media = (ex["headers"].get("content-type") or "").split(";", 1)[0].strip().lower()
    if media not in content:
        report.fail(route, status, "headers.content-type", f"{media!r} is not documented ({sorted(content)})")
        return
    if "schema" in content[media]:
        for where, message in schemas.errors(f"{doc.pointer}/content/{escape(media)}/schema", body):
            report.fail(route, status, where, message)


def check(spec: dict[str, Any], exchanges: list[dict[str, Any]]) -> Report:
    return check_all([spec], exchanges)


def route_path(ex: dict[str, Any]) -> str:
    return ex["route"].partition(" ")[2]


def check_all(specs: list[dict[str, Any]], exchanges: list[dict[str, Any]]) -> Report:
    """Each exchange against the first document with its route (else the first)."""
    report = Report()
    docs = [converted(spec) for spec in specs]
    all_schemas = [Schemas(doc, f"{SPEC_URI}:{i}") for i, doc in enumerate(docs)]
    for ex in exchanges:
        if ex["route"] is None:
            report.skipped += 1
            continue
        report.exchanges += 1
        key = (ex["route"], str(ex["status"]))
        report.seen[key] = report.seen.get(key, 0) + 1
        before = len(report.failures)
        at = next((i for i, doc in enumerate(docs) if route_path(ex) in doc.get("paths", {})), 0)
        check_exchange(report, docs[at], all_schemas[at], ex)
        where = f" (line {ex['line']}, {ex['method']} {ex['path']})"
        report.failures[before:] = [Failure(f.route, f.status, f.path, f.reason + where)
                                    for f in report.failures[before:]]
    if report.exchanges == 0:
        report.fail("(recording)", "-", "-", "no exchange to check: was SIM_RECORDING set?")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", required=True, type=Path, action="append",
                        help="an Alpaca API document (JSON): the Trading API, and optionally the Market Data API")
    parser.add_argument("--recording", required=True, type=Path, help="JSON Lines of recorded exchanges")
    args = parser.parse_args(argv)
    try:
        specs = [load_spec(path) for path in args.spec]
        report = check_all(specs, load_recording(args.recording))
    except UsageError as e:
        print(f"check_alpaca: {e}", file=sys.stderr)
        return 2
    for failure in report.failures:
        print(failure.line())
    for note in report.notes:
        print(note)
    for spec in specs:
        info = spec.get("info", {})
        print(f"document: {info.get('title')} {info.get('version')}")
    for (route, status), n in sorted(report.seen.items()):
        print(f"  {route} {status}: {n}")
    print(report.summary())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
