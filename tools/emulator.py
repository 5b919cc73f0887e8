#!/usr/bin/env python3
# Long because: moto's server with the patches a local stack needs (DynamoDB lock, streams, faults, TTL), each
# documented where it is.
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
and nothing after); iterators here always read the live table's stream. And
TransactWriteItems does not deep-copy the tables it touches (moto's rollback
backup made each transaction cost O(table size); see
`transactions_without_table_copies`).

Fault knob for tests (SPEC §7: PutEvents failing for a while must lose nothing):
`POST /_faults` with `{"put_events": "ok" | "error" | "entries"}`, `GET /_faults`.
"error" answers every PutEvents with HTTP 500 InternalException; "entries" answers
200 with every entry refused (FailedEntryCount = n, ErrorCode InternalFailure);
"ok" restores moto's behaviour.

Transaction conflicts (issue 15: a submit racing a fill on the trader's ACCOUNT
item): DynamoDB requests are serialized here, so two transactions never overlap
and DynamoDB's TransactionConflict never happens on its own. `POST
/_faults/transaction_conflict` with `{"share": 0.3}` cancels that share of
TransactWriteItems (chosen at random; 1.0 = every one, 0 = off) before they run,
as DynamoDB does when another transaction is in flight on an item: HTTP 400
TransactionCanceledException with one CancellationReason per item, in order,
"TransactionConflict" on the contended item (the one whose SK is "ACCOUNT", else
the first) and "None" on the others. Nothing is written. `GET` of the same path
answers `{"share": s, "injected": n}` (n counts cancellations since start).

Streams keep the newest `--stream-retention` records per table (moto keeps all,
see `trim_streams`).

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
import random
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


TRANSACT_WRITE_TARGET = "DynamoDB_20120810.TransactWriteItems"
CONFLICTED_SK = "ACCOUNT"


def transaction_conflict(transact_items: list[dict[str, Any]]) -> dict[str, Any]:
    """The body DynamoDB answers a TransactWriteItems cancelled for a conflict with:
    one reason per item, in request order (AWS API reference, TransactWriteItems,
    TransactionCanceledException / CancellationReason)."""

    def key_of(item: dict[str, Any]) -> dict[str, Any]:
        op = next(iter(item.values()), {}) if item else {}
        return (op.get("Key") or op.get("Item") or {}) if isinstance(op, dict) else {}

    contended = next(
        (i for i, item in enumerate(transact_items) if key_of(item).get("SK") == {"S": CONFLICTED_SK}), 0
    )
    reasons: list[dict[str, str]] = [{"Code": "None"} for _ in transact_items]
    if reasons:
        reasons[contended] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
    codes = ", ".join(r["Code"] for r in reasons)
    return {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        "CancellationReasons": reasons,
    }


class Faults:
    """WSGI middleware: `/_faults` and the PutEvents failures it switches on, and
    `/_faults/transaction_conflict` and the TransactWriteItems it cancels."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.put_events = "ok"
        self.conflict_share = 0.0
        self.conflicts_injected = 0
        self.random = random.Random()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/_faults":
            return self.knob(environ, start_response)
        if environ.get("PATH_INFO") == "/_faults/transaction_conflict":
            return self.conflict_knob(environ, start_response)
        if self.conflict_share > 0 and environ.get("HTTP_X_AMZ_TARGET", "") == TRANSACT_WRITE_TARGET:
            length = environ.get("CONTENT_LENGTH") or ""
            raw = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""
            environ["wsgi.input"] = io.BytesIO(raw)
            with self.lock:
                hit = self.random.random() < self.conflict_share
                self.conflicts_injected += hit
            if hit:
                try:
                    items = json.loads(raw or b"{}").get("TransactItems") or []
                except (ValueError, AttributeError):
                    items = []
                body = transaction_conflict(items if isinstance(items, list) else [])
                return _json_response(start_response, "400 Bad Request", body, "application/x-amz-json-1.0")
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

    def conflict_knob(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            length = environ.get("CONTENT_LENGTH") or ""
            raw = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""
            try:
                share = json.loads(raw or b"{}").get("share")
            except (ValueError, AttributeError):
                share = None
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
                problem = {"error": f"expected {{\"share\": a number from 0 to 1}}, got {raw[:200]!r}"}
                return _json_response(start_response, "400 Bad Request", problem)
            self.conflict_share = float(share)
            print(f"emulator: faults transaction_conflict share={self.conflict_share}", flush=True)
        body = {"share": self.conflict_share, "injected": self.conflicts_injected}
        return _json_response(start_response, "200 OK", body)


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


def transactions_without_table_copies() -> None:
    """TransactWriteItems without a deep copy of every table it touches.

    moto backs up each table a transaction names with `copy.deepcopy` (every item
    and the table's whole stream) before writing, to restore it if an item fails.
    That makes one transaction cost O(table size): ~200 ms on an orders table of
    a few hundred orders, seconds at ten thousand, so any load run slows down as
    it goes. Here every condition is checked first against the state before the
    transaction (as DynamoDB does; the items are distinct keys, so checking them in
    turn is the same) and nothing is written unless all hold; the writes then run
    with a copy of only the items they touch and the stream lengths, put back if a
    write still fails (a validation error moto finds only while applying).
    DynamoDB requests are serialized (`SerializeDynamoDB`), so nothing interleaves.
    """
    import copy

    import moto.dynamodb.models as models
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models.dynamo_type import DynamoType

    backend = models.DynamoDBBackend
    if getattr(backend.transact_write_items, "without_table_copies", False):
        return

    def item_key(self: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
        if op_type != "Put":
            return op["Key"]
        attrs = op["Item"]
        table = self.get_table(op["TableName"])
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key

    def put_back(table: Any, key: dict[str, Any], before: Any) -> None:
        hash_value = DynamoType(key[table.hash_key_attr])
        if table.range_key_attr is None:
            if before is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = before
            return
        range_value = DynamoType(key[table.range_key_attr])
        if before is None:
            if hash_value in table.items:
                table.items[hash_value].pop(range_value, None)
        else:
            table.items[hash_value][range_value] = before

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        targets: set[tuple[str, str]] = set()
        planned: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        errors: list[Any] = []
        # 1. Every condition, nothing written.
        for item in transact_items:
            if len(list(item.keys())) > 1:
                raise TransactWriteSingleOpException
            original_item = None
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                key = item_key(self, op_type, op)
                target = (str(op["TableName"]), str(dict(sorted(key.items()))))
                if target in targets:
                    raise MultipleTransactionsException()
                targets.add(target)
                current = self.get_item(op["TableName"], key)
                condition = op.get("ConditionExpression")
                if condition is not None:
                    check = models.get_filter_expression(
                        condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                    )
                    if not check.expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)
                planned.append((op_type, op, key))
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))
            except Exception as e:  # noqa: BLE001 - reported per item, as moto does
                errors.append((type(e).__name__, str(e), original_item))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)

        # 2. The writes, undone item by item if one still fails.
        undo = []
        streams = {}
        for _, op, key in planned:
            table = self.get_table(op["TableName"])
            undo.append((table, key, copy.deepcopy(self.get_item(op["TableName"], key))))
            if table.stream_shard is not None:
                streams.setdefault(id(table.stream_shard), (table.stream_shard, len(table.stream_shard.items)))
        index = 0
        try:
            for index, (op_type, op, key) in enumerate(planned):
                names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                condition = op.get("ConditionExpression")
                if op_type == "Put":
                    self.put_item(
                        op["TableName"],
                        op["Item"],
                        condition_expression=condition,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        op["TableName"],
                        key,
                        condition_expression=condition,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Update":
                    self.update_item(
                        op["TableName"],
                        key,
                        update_expression=op["UpdateExpression"],
                        condition_expression=condition,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
        except Exception as e:
            for table, key, before in reversed(undo):
                put_back(table, key, before)
            for shard, length in streams.values():
                del shard.items[length:]
            if isinstance(e, (MultipleTransactionsException, MockValidationException)):
                raise
            failed: list[Any] = [(None, None, None)] * len(planned)
            failed[index] = (type(e).__name__, str(getattr(e, "message", e)), None)
            raise TransactionCanceledException(failed) from e

    transact_write_items.without_table_copies = True  # type: ignore[attr-defined]
    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def trim_streams(retention: int) -> int:
    """Drop all but the newest `retention` records of every table's stream.

    moto keeps every stream record forever (old and new image as Python objects,
    ~25 KB each), so a stack under load, or one where resting orders are re-checked
    every second, grows by gigabytes an hour. DynamoDB trims records after 24 h; here
    the bound is a count. Trimmed positions behave like the start of the stream
    (`TRIM_HORIZON`). Returns how many records were dropped.
    """
    from moto.dynamodb.models import dynamodb_backends

    dropped = 0
    for account in list(dynamodb_backends.keys()):
        for region in list(dynamodb_backends[account].keys()):
            for table in list(dynamodb_backends[account][region].tables.values()):
                shard = getattr(table, "stream_shard", None)
                excess = len(shard.items) - retention if shard is not None else 0
                if excess > 0:
                    del shard.items[:excess]
                    shard.starting_sequence_number += excess
                    dropped += excess
    return dropped


def reads_behind_retention_start_at_the_oldest() -> None:
    """An iterator older than the trimmed records reads from the oldest kept one
    (moto would fail an assertion: a 500), and the emulator says so."""
    from moto.dynamodb.models.table import StreamShard

    original = StreamShard.get
    if getattr(original, "clamps_trimmed", False):
        return

    def get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
        if start < self.starting_sequence_number:
            lost = self.starting_sequence_number - start
            print(f"emulator: a stream reader was {lost} records behind the retention; they were trimmed", flush=True)
            start = self.starting_sequence_number
        return original(self, start, quantity)

    get.clamps_trimmed = True  # type: ignore[attr-defined]
    StreamShard.get = get  # type: ignore[method-assign]


def queries_read_one_partition() -> None:
    """A Query on a table's own key reads its partition, not the whole table.

    moto answers every Query by sorting all of the table's items and keeping those
    with the asked hash key: O(table size log table size) per call, which made a
    load run slow down as its tables grew (43% of the emulator's time at a few
    thousand orders, most of it in `Table.all_items`). A Query without an index
    now sees only `items[hash_key]`, the partition moto keeps anyway; index
    queries are unchanged (moto keeps no index structure to read).
    """
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "reads_one_partition", False):
        return
    original_query = Table.query
    original_all_items = Table.all_items
    scope = threading.local()

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None:
            return original_query(self, hash_key, *args, **kwargs)
        scope.partition = (self, hash_key)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            scope.partition = None

    def all_items(self: Any) -> Any:
        partition = getattr(scope, "partition", None)
        if partition is None or partition[0] is not self:
            return original_all_items(self)
        held = self.items.get(partition[1])
        if held is None:
            return []
        if not self.range_key_attr:
            return [held]
        return sorted(held.values(), key=lambda item: item.range_key)

    query.reads_one_partition = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]


def backend_lookup_without_directory_scans() -> None:
    """moto lists its own package directory (an `os.listdir` and an `isdir` per
    entry) on every request to find the backend; the list never changes, so it
    is read once (7% of the emulator's time under load)."""
    import moto.backends as backends

    if getattr(backends.list_of_moto_modules, "cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> Iterable[str]:
        return modules

    list_of_moto_modules.cached = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules  # type: ignore[assignment]


def event_paths_parsed_once() -> None:
    """EventBridge delivery without a parser build per event.

    For every event and target moto parses the target's input paths with
    `jsonpath_ng.ext.parse`, which builds a new yacc parser each time: 12% of the
    emulator's time under load went to rebuilding the same few paths. A parsed
    path is not changed by `find`, so each distinct path is parsed once.
    """
    import functools

    import jsonpath_ng.ext as ext

    if getattr(ext.parse, "cached", False):
        return
    parse = functools.lru_cache(maxsize=256)(ext.parse)
    parse.cached = True  # type: ignore[attr-defined]
    ext.parse = parse  # type: ignore[assignment]


def receives_without_queue_attribute_scans() -> None:
    """An SQS receive without recomputing every queue attribute per message.

    moto checks each message it is about to return against the queue's retention
    period by building the queue's whole attribute map (three times), and that map
    counts the visible, in-flight and delayed messages: O(queue length) per message,
    so one receive on a queue holding 2,000 messages took the emulator's one core
    for seconds (a tap queue with a backlog pinned it at 94%). The retention period
    is read from the queue itself.
    """
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    if getattr(SQSBackend.is_message_valid_based_on_retention_period, "direct", False):
        return

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        period = int(self.get_queue(queue_name).message_retention_period)
        return period + message.sent_timestamp / 1000 > unix_time()

    is_message_valid_based_on_retention_period.direct = True  # type: ignore[attr-defined]
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]


class TrimStreams:
    """WSGI middleware: every `every` DynamoDB requests, trim the streams (under the
    DynamoDB lock when there is one: it wraps `SerializeDynamoDB`'s app)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], retention: int):
        self.app = app
        self.retention = retention
        self.every = min(500, max(1, retention // 4))
        self.count = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        result = self.app(environ, start_response)
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            self.count += 1
            if self.count % self.every == 0:
                trim_streams(self.retention)
        return result


def build_app(serialize_dynamodb: bool = True, stream_retention: int = 20_000) -> Any:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    follow_live_stream_shard()
    transactions_without_table_copies()
    reads_behind_retention_start_at_the_oldest()
    queries_read_one_partition()
    backend_lookup_without_directory_scans()
    event_paths_parsed_once()
    receives_without_queue_attribute_scans()
    app: Any = DomainDispatcherApplication(create_backend_app)
    if stream_retention > 0:
        app = TrimStreams(app, stream_retention)
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
    parser.add_argument(
        "--stream-retention",
        type=int,
        default=20_000,
        help="keep this many newest records per table stream (default 20000; 0 = keep all, as moto does)",
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
            args.host, args.port, build_app(not args.no_dynamodb_lock, args.stream_retention), threaded=True, request_handler=Handler
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
