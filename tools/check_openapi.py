#!/usr/bin/env python3
# Long because: one contract check (schema walk, statuses, headers, coverage) whose parts share the document.
"""Checks real HTTP exchanges against the API's OpenAPI 3.1 document.

    .venv/bin/python tools/check_openapi.py --spec infra/openapi.yaml --recording FILE

Owns the contract check between `infra/openapi.yaml` and what the API really
answers. The recording is JSON Lines written by the local API gateway, one object
per exchange:

    {"method": "POST", "path": "/api/v1/orders/01J.../cancel",
     "route": "POST /api/v1/orders/{id}/cancel" | null,
     "status": 409, "headers": {"content-type": "...", ...lower-case names},
     "body": <parsed JSON | a string if not JSON | null if empty>}

Checks, each failure printed as one line naming route, status, JSON path and reason:

  (a) every recorded response matches the documented response of its route and
      status: the status is documented, the content type is documented, the body
      validates against the schema (JSON Schema 2020-12, formats checked, so an
      undocumented field fails where the schema says `additionalProperties: false`);
  (b) every documented (route, status) is produced at least once, except responses
      marked `x-not-produced-by-tests: "<reason>"` (5xx only);
  (c) documented response headers appear: a `required` one on every response, every
      documented one at least once, none of the API's headers where undocumented,
      and of the 2xx answers with one body on a route documenting
      `Idempotent-Replayed`, all but one (the original) carry it.

A null `route` (no route matched) is checked against the document's
`x-unmatched-route` responses; without that extension such exchanges are skipped
with a note. The document itself must be valid OpenAPI 3.1. Exit 0 when all
passes, 1 on any failure, 2 on a usage error (missing or unreadable file).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jsonl import json_lines  # noqa: E402

SPEC_URI = "urn:openapi-document"
UNMATCHED = "(no route)"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
NOT_PRODUCED = "x-not-produced-by-tests"
MIN_REASON_CHARS = 30
REPLAY_HEADER = "idempotent-replayed"
MAX_MESSAGE = 200
RECORD_KEYS = ("method", "path", "route", "status", "headers", "body")


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
class Documented:
    """One documented response of one route, with where it lives in the document."""

    route: str
    status: str
    pointer: str
    response: dict[str, Any]
    headers: dict[str, tuple[str, dict[str, Any]]]  # lower-case name -> (pointer, header object)

    @property
    def exemption(self) -> Any:
        return self.response.get(NOT_PRODUCED)


@dataclass
class Report:
    failures: list[Failure] = field(default_factory=list)
    exchanges: int = 0
    documented: int = 0
    produced: int = 0
    exempt: int = 0
    notes: list[str] = field(default_factory=list)

    def fail(self, route: str, status: Any, path: str, reason: str) -> None:
        self.failures.append(Failure(route, str(status), path, reason))

    def summary(self) -> str:
        return (
            f"openapi: {self.exchanges} exchanges checked, {self.documented} documented responses, "
            f"{self.produced} produced, {self.exempt} exempt ({NOT_PRODUCED}), {len(self.failures)} failures"
        )


# --- reading the inputs -------------------------------------------------------


def load_spec(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UsageError(f"no such OpenAPI document: {path}")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is not YAML: {e}") from e
    if not isinstance(spec, dict):
        raise UsageError(f"{path} is not an OpenAPI document (not a mapping)")
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
    if record["route"] is not None and not isinstance(record["route"], str):
        raise UsageError(f"recording line {line_no}: route must be a string or null")
    record["headers"] = {str(k).lower(): str(v) for k, v in record["headers"].items()}
    record["line"] = line_no
    return record


def load_recording(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UsageError(f"no such recording: {path}")
    return [parse_exchange(i, text) for i, text in json_lines(path)]


# --- the document -------------------------------------------------------------


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def resolve(spec: dict[str, Any], node: Any, pointer: str) -> tuple[Any, str]:
    """Follows local `$ref`s of OpenAPI objects (responses, headers) to the target."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            raise UsageError(f"unsupported or cyclic $ref {ref!r} at {pointer}")
        seen.add(ref)
        pointer = ref[1:]
        node = spec
        for token in pointer.split("/")[1:]:
            key = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or key not in node:
                raise UsageError(f"$ref {ref!r} points nowhere")
            node = node[key]
    return node, pointer


def response_headers(spec: dict[str, Any], response: dict[str, Any], pointer: str) -> dict:
    headers = {}
    for name, header in (response.get("headers") or {}).items():
        obj, where = resolve(spec, header, f"{pointer}/headers/{escape(name)}")
        headers[name.lower()] = (where, obj)
    return headers


def documented_of(spec: dict[str, Any], route: str, responses: dict, pointer: str) -> list[Documented]:
    out = []
    for status, response in (responses or {}).items():
        where = f"{pointer}/responses/{escape(str(status))}"
        obj, target = resolve(spec, response, where)
        out.append(Documented(route, str(status), target, obj, response_headers(spec, obj, target)))
    return out


def documented_responses(spec: dict[str, Any]) -> dict[tuple[str, str], Documented]:
    """(route key, status) -> documented response; route keys as in the template."""
    found: list[Documented] = []
    for path, item in (spec.get("paths") or {}).items():
        for method in HTTP_METHODS:
            if method in item:
                pointer = f"/paths/{escape(path)}/{method}"
                found += documented_of(spec, f"{method.upper()} {path}", item[method].get("responses"), pointer)
    unmatched = spec.get("x-unmatched-route")
    if isinstance(unmatched, dict):
        found += documented_of(spec, UNMATCHED, unmatched.get("responses"), "/x-unmatched-route")
    return {(d.route, d.status): d for d in found}


def document_errors(spec: dict[str, Any]) -> list[str]:
    """Why the document is not valid OpenAPI 3.1 (with 2020-12 component schemas)."""
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}"
              for e in OpenAPIV31SpecValidator(spec).iter_errors()]
    if spec.get("openapi") != "3.1.0":
        errors.append(f"openapi: expected 3.1.0, found {spec.get('openapi')!r}")
    for name, schema in ((spec.get("components") or {}).get("schemas") or {}).items():
        errors += [f"components/schemas/{name}: {e.message}"
                   for e in Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(schema)]
    return errors


class Schemas:
    """Validates instances against schemas addressed by their JSON pointer in the document."""

    def __init__(self, spec: dict[str, Any]):
        if "date-time" not in Draft202012Validator.FORMAT_CHECKER.checkers:
            raise UsageError("date-time format checking needs rfc3339-validator (see requirements.txt)")
        resource = Resource.from_contents(spec, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(SPEC_URI, resource)
        self.cache: dict[str, Draft202012Validator] = {}

    def validator(self, pointer: str) -> Draft202012Validator:
        if pointer not in self.cache:
            ref = f"{SPEC_URI}#{quote(pointer, safe='/~-._')}"
            self.cache[pointer] = Draft202012Validator(
                {"$ref": ref}, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
        return self.cache[pointer]

    def errors(self, pointer: str, instance: Any) -> list[tuple[str, str]]:
        return [d for e in self.validator(pointer).iter_errors(instance) for d in describe(e)]


def plausible_branches(error: ValidationError) -> list[list[ValidationError]]:
    """The anyOf/oneOf branches that failed for more than the instance's type."""
    branches: dict[Any, list[ValidationError]] = {}
    for e in error.context or []:
        branches.setdefault(e.relative_schema_path[0], []).append(e)
    return [errs for errs in branches.values()
            if not all(e.validator == "type" and e.absolute_path == error.absolute_path for e in errs)]


def describe(error: ValidationError) -> list[tuple[str, str]]:
    """The most specific JSON paths and messages of an error: inside `anyOf: [Order, null]`
    given an object, the errors of the Order branch, not "is not of type 'null'"."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches = plausible_branches(error)
        if len(branches) == 1:
            return [d for e in branches[0] for d in describe(e)]
        error = best_match(error.context)
    message = error.message if len(error.message) <= MAX_MESSAGE else error.message[:MAX_MESSAGE] + "..."
    return [(error.json_path, message)]


# --- checking exchanges -------------------------------------------------------


def media_type(headers: dict[str, str]) -> str | None:
    value = headers.get("content-type")
    return value.split(";", 1)[0].strip().lower() if value else None


def check_body(report: Report, schemas: Schemas, doc: Documented, exchange: dict[str, Any]) -> None:
    content = doc.response.get("content") or {}
    route, status, body = doc.route, doc.status, exchange["body"]
    if not content:
        if body is not None:
            report.fail(route, status, "$", "a body was returned where none is documented")
        return
    mt = media_type(exchange["headers"])
    if mt not in content:
        report.fail(route, status, "headers.content-type",
                    f"content type {mt!r} is not documented (expected one of {sorted(content)})")
        return
    if body is None:
        report.fail(route, status, "$", "empty body; a body is documented")
        return
    if isinstance(body, str) and "json" in mt:
        report.fail(route, status, "$", f"body is not JSON: {body[:80]!r}")
        return
    schema_pointer = f"{doc.pointer}/content/{escape(mt)}/schema"
    if "schema" in content[mt]:
        for path, message in schemas.errors(schema_pointer, body):
            report.fail(route, status, path, message)


def header_value(raw: str, schema: dict[str, Any]) -> Any:
    """A header's text as the type its schema names (integers and booleans are written as text)."""
    kind = schema.get("type")
    if kind == "integer" and raw.strip().lstrip("-").isdigit():
        return int(raw.strip())
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw


def check_headers(report: Report, schemas: Schemas, doc: Documented, exchange: dict, api_headers: set) -> None:
    recorded = exchange["headers"]
    for name, (pointer, header) in doc.headers.items():
        if name not in recorded:
            if header.get("required"):
                report.fail(doc.route, doc.status, f"headers.{name}", "required header is missing")
            continue
        value = header_value(recorded[name], header.get("schema") or {})
        for _, message in schemas.errors(f"{pointer}/schema", value):
            report.fail(doc.route, doc.status, f"headers.{name}", message)
    for name in sorted(api_headers & recorded.keys() - doc.headers.keys()):
        report.fail(doc.route, doc.status, f"headers.{name}", "header is not documented for this response")


def check_replay(report: Report, doc: Documented, exchange: dict, originals: dict) -> None:
    """Of the 2xx answers with one body (same order id and all), only one, the
    original, may lack the replay header. The recording is in order of completion,
    not of arrival: a replay answered from the stored outcome can be recorded before
    the original request's own answer, so which one comes first proves nothing."""
    if REPLAY_HEADER not in doc.headers or not doc.status.startswith("2"):
        return
    if REPLAY_HEADER in exchange["headers"]:
        return
    body = json.dumps(exchange["body"], sort_keys=True)
    first = originals.setdefault((doc.route, body), exchange["line"])
    if first != exchange["line"]:
        report.fail(doc.route, doc.status, f"headers.{REPLAY_HEADER}",
                    f"repeats an earlier response body (line {first}) without {REPLAY_HEADER} "
                    f"(line {exchange['line']}): two answers claim to be the original")


def route_of(exchange: dict[str, Any]) -> str:
    return exchange["route"] if exchange["route"] is not None else UNMATCHED


def check_exchanges(report: Report, spec: dict, docs: dict, exchanges: list[dict]) -> dict:
    """Checks each exchange; returns (route, status) -> header names seen on it."""
    schemas = Schemas(spec)
    api_headers = {name for d in docs.values() for name in d.headers}
    routes = {route for route, _ in docs}
    seen_headers: dict[tuple[str, str], set[str]] = {}
    bodies: dict = {}
    skipped = 0
    for exchange in exchanges:
        route, status = route_of(exchange), str(exchange["status"])
        if route == UNMATCHED and UNMATCHED not in routes:
            skipped += 1
            continue
        report.exchanges += 1
        doc = docs.get((route, status))
        if doc is None:
            reason = "status is not documented for this route" if route in routes else "route is not documented"
            report.fail(route, status, "$", f"{reason} (line {exchange['line']}, {exchange['path']})")
            continue
        before = len(report.failures)
        check_body(report, schemas, doc, exchange)
        check_headers(report, schemas, doc, exchange, api_headers)
        check_replay(report, doc, exchange, bodies)
        tag_new_failures(report, before, exchange)
        seen_headers.setdefault((route, status), set()).update(exchange["headers"])
    if skipped:
        report.notes.append(f"note: {skipped} exchanges matched no route and were skipped "
                            "(the document has no x-unmatched-route)")
    return seen_headers


def tag_new_failures(report: Report, start: int, exchange: dict[str, Any]) -> None:
    """Adds the recording line and request path to the failures of one exchange."""
    where = f" (line {exchange['line']}, {exchange['method']} {exchange['path']})"
    report.failures[start:] = [
        Failure(f.route, f.status, f.path, f.reason + where) for f in report.failures[start:]
    ]


# --- coverage -----------------------------------------------------------------


REPO = Path(__file__).resolve().parent.parent
TEST_FILE = re.compile(r"(?:[\w.-]+/)+[\w.-]+\.(?:rs|py)")


def cites_a_test(reason: Any) -> bool:
    """True when the reason names a test file of this repository that exists."""
    if not isinstance(reason, str):
        return False
    return any((REPO / path).is_file() for path in TEST_FILE.findall(reason))


def check_exemption(report: Report, doc: Documented) -> bool:
    """True when the response is validly marked as not produced by the tests."""
    reason = doc.exemption
    if reason is None:
        return False
    if not doc.status.startswith("5") and not cites_a_test(reason):
        report.fail(doc.route, doc.status, "-",
                    f"{NOT_PRODUCED} is only for 5xx (dependency down, bug), or for a status whose reason "
                    "cites the test file that produces it (e.g. shared/tests/conflict_paths.rs)")
        return False
    if not isinstance(reason, str) or len(reason.strip()) < MIN_REASON_CHARS:
        report.fail(doc.route, doc.status, "-", f"{NOT_PRODUCED} needs a specific reason (a sentence)")
        return False
    return True


def check_coverage(report: Report, docs: dict, seen_headers: dict) -> None:
    report.documented = len(docs)
    for key, doc in sorted(docs.items()):
        if key in seen_headers:
            report.produced += 1
            # A missing required header already failed on each exchange; optional ones must show up once.
            optional = {name for name, (_, header) in doc.headers.items() if not header.get("required")}
            for name in sorted(optional - seen_headers[key]):
                report.fail(doc.route, doc.status, f"headers.{name}",
                            "documented header never appears in the recording")
        elif check_exemption(report, doc):
            report.exempt += 1
        else:
            report.fail(doc.route, doc.status, "-", "documented response is never produced by the recording")


def check(spec: dict[str, Any], exchanges: list[dict[str, Any]]) -> Report:
    """Runs every check; the exchanges are as `parse_exchange` returns them."""
    report = Report()
    for error in document_errors(spec):
        report.fail("(document)", "-", "-", error)
    if report.failures:
        report.notes.append("note: the document is invalid, so no exchange was checked against it")
        return report
    docs = documented_responses(spec)
    seen_headers = check_exchanges(report, spec, docs, exchanges)
    check_coverage(report, docs, seen_headers)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", required=True, type=Path, help="the OpenAPI 3.1 document (YAML)")
    parser.add_argument("--recording", required=True, type=Path, help="JSON Lines of recorded exchanges")
    args = parser.parse_args(argv)
    try:
        report = check(load_spec(args.spec), load_recording(args.recording))
    except UsageError as e:
        print(f"check_openapi: {e}", file=sys.stderr)
        return 2
    for failure in report.failures:
        print(failure.line())
    for note in report.notes:
        print(note)
    print(report.summary())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
