#!/usr/bin/env python3
"""Local AWS emulator: moto's server app with DynamoDB serialized.

    tools/emulator.py --host 127.0.0.1 --port 4566 [--verbose]

moto's threaded server is not atomic under concurrency: concurrent conditional
TransactWriteItems can both pass their condition and lose an update. Real
DynamoDB never does that, so every DynamoDB request (X-Amz-Target
"DynamoDB_...") runs under one global lock, from reading the request until the
whole response body has been produced. Everything else (SQS incl. long-polling
ReceiveMessage, EventBridge, DynamoDB Streams "DynamoDBStreams_...", the
/moto-api/ endpoints) stays concurrent.

`GET /moto-api/` answers when the server is up; `POST /moto-api/reset` clears
all state. Prints "emulator listening on http://HOST:PORT" once bound and exits
cleanly on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import signal
import sys
import threading
from typing import Any
from collections.abc import Callable, Iterable

DYNAMODB_TARGET_PREFIX = "DynamoDB_"


class SerializeDynamoDB:
    """WSGI middleware: one global lock around every DynamoDB request."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(DYNAMODB_TARGET_PREFIX):
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


def build_app(serialize_dynamodb: bool = True) -> Any:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    return SerializeDynamoDB(app) if serialize_dynamodb else app


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
