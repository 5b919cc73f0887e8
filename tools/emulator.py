#!/usr/bin/env python3
"""Local AWS emulator: moto's server app with DynamoDB serialized.

    tools/emulator.py --host 127.0.0.1 --port 4566 [--verbose]

moto's threaded server is not atomic under concurrency: concurrent conditional
TransactWriteItems can both pass their condition and lose an update. Real
DynamoDB never does that, so every DynamoDB request (X-Amz-Target
"DynamoDB_...") runs under one global lock, from reading the request until the
whole response body has been produced. DynamoDB Streams requests
("DynamoDBStreams_...", all short) take the same lock, so a GetRecords never sees
a transaction half applied. Everything else (SQS incl. long-polling
ReceiveMessage, EventBridge, the /moto-api/ endpoints) stays concurrent.

Two more moto gaps are closed here (see `follow_live_stream_shard`):
a cancelled TransactWriteItems restores a deep copy of the table, leaving shard
iterators on the discarded copy's stream (they would see the rolled-back writes
and nothing after); iterators here always read the live table's stream.

Fault knob for tests (SPEC §7: PutEvents failing for a while must lose nothing):
`POST /_faults` with `{"put_events": "ok" | "error" | "entries"}`, `GET /_faults`.
"error" answers every PutEvents with HTTP 500 InternalException; "entries" answers
200 with every entry refused (FailedEntryCount = n, ErrorCode InternalFailure);
"ok" restores moto's behaviour.

`GET /moto-api/` answers when the server is up; `POST /moto-api/reset` clears
all state. Prints "emulator listening on http://HOST:PORT" once bound and exits
cleanly on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import signal
import sys
import threading
from typing import Any
from collections.abc import Callable, Iterable

# "DynamoDB_20120810.*" and "DynamoDBStreams_20120810.*".
SERIALIZED_TARGET_PREFIXES = ("DynamoDB_", "DynamoDBStreams_")
PUT_EVENTS_TARGET = "AWSEvents.PutEvents"
FAULT_MODES = ("ok", "error", "entries")


class SerializeDynamoDB:
    """WSGI middleware: one global lock around every DynamoDB request."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(SERIALIZED_TARGET_PREFIXES):
            return self.app(environ, start_response)

        # Read the request body before taking the lock, so a slow client cannot hold it.
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit():
            body = environ["wsgi.input"].read(int(length))
            environ["wsgi.input"] = io.BytesIO(body)

        with self.lock:
            result = self.app(environ, start_response)
            try:
                # Produce the entire response inside the lock; werkzeug writes it out afterwards.
                chunks = list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return chunks


def _json_response(
    start_response: Callable[..., Any], status: str, body: dict[str, Any], content_type: str = "application/json"
) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


class Faults:
    """WSGI middleware: `/_faults` and the PutEvents failures it switches on."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.put_events = "ok"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/_faults":
            return self.knob(environ, start_response)
        if environ.get("HTTP_X_AMZ_TARGET", "") != PUT_EVENTS_TARGET or self.put_events == "ok":
            return self.app(environ, start_response)
        amz_json = "application/x-amz-json-1.1"
        if self.put_events == "error":
            error = {"__type": "InternalException", "message": "injected fault: PutEvents is failing (POST /_faults)"}
            return _json_response(start_response, "500 Internal Server Error", error, amz_json)
        length = environ.get("CONTENT_LENGTH") or ""
        raw = environ["wsgi.input"].read(int(length)) if length.isdigit() else b"{}"
        try:
            entries = json.loads(raw or b"{}").get("Entries") or []
        except ValueError:
            entries = []
        refused = {"ErrorCode": "InternalFailure", "ErrorMessage": "injected fault: entry refused (POST /_faults)"}
        body = {"FailedEntryCount": len(entries), "Entries": [dict(refused) for _ in entries]}
        return _json_response(start_response, "200 OK", body, amz_json)

    def knob(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            length = environ.get("CONTENT_LENGTH") or ""
            raw = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""
            try:
                wanted = json.loads(raw or b"{}").get("put_events")
            except (ValueError, AttributeError):
                wanted = None
            if wanted not in FAULT_MODES:
                problem = {"error": f"expected {{\"put_events\": one of {list(FAULT_MODES)}}}, got {raw[:200]!r}"}
                return _json_response(start_response, "400 Bad Request", problem)
            self.put_events = wanted
            print(f"emulator: faults put_events={wanted}", flush=True)
        return _json_response(start_response, "200 OK", {"put_events": self.put_events})


def follow_live_stream_shard() -> None:
    """Make DynamoDB Streams iterators read the live table's stream.

    A cancelled TransactWriteItems in moto replaces the table with a deep copy taken
    before the transaction. Iterators keep pointing at the discarded table's shard,
    which holds the rolled-back writes and never gets another record. Re-resolving
    the shard by table name on every GetRecords reads what really committed.
    """
    from moto.dynamodbstreams.models import ShardIterator

    original_get = ShardIterator.get
    if getattr(original_get, "follows_live_shard", False):
        return

    def get(self: Any, limit: int = 1000) -> dict[str, Any]:
        table = self.streams_backend.dynamodb.tables.get(self.stream_shard.table.name)
        live = getattr(table, "stream_shard", None)
        if live is not None and live.id == self.stream_shard.id:
            self.stream_shard = live
        return original_get(self, limit)

    get.follows_live_shard = True  # type: ignore[attr-defined]
    ShardIterator.get = get  # type: ignore[method-assign]


def build_app(serialize_dynamodb: bool = True) -> Any:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    follow_live_stream_shard()
    app = DomainDispatcherApplication(create_backend_app)
    return Faults(SerializeDynamoDB(app) if serialize_dynamodb else app)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4566, help="port to bind (default 4566; 0 = any free port)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument(
        "--no-dynamodb-lock",
        action="store_true",
        help="plain moto (loses updates under concurrency); only to show what the lock fixes",
    )
    args = parser.parse_args(argv)

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    verbose = args.verbose

    class Handler(MotoRequestHandler):
        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            if verbose:
                super().log_request(code, size)

    if not verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    try:
        server = make_server(
            args.host, args.port, build_app(not args.no_dynamodb_lock), threaded=True, request_handler=Handler
        )
    except SystemExit:
        # werkzeug has already explained (e.g. "Port N is in use by another program") on stderr.
        print(f"emulator: cannot listen on {args.host}:{args.port} (see above)", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"emulator: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    server.daemon_threads = True  # never wait for in-flight long polls on shutdown

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    host, port = server.server_address[:2]  # the real port when --port 0 was asked
    # moto builds a few URLs (Lambda/Batch/CloudFormation callbacks) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)
    print(f"emulator listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
