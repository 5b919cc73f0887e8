#!/usr/bin/env python3
# Long because: one self-check per emulator patch, each with the plain-moto failure it guards against.
"""Self-check of tools/emulator.py (run by scripts/test.sh; ~10 s).

Starts the emulator on a free port (or uses --endpoint) and checks:
  1. DynamoDB is atomic under concurrency: 300 concurrent TransactWriteItems,
     each "SET balance = balance - 1 if balance >= 1" plus a Put of an order
     item, against a balance of 100 -> exactly 100 succeed, 200 are cancelled
     with ConditionalCheckFailed, no other error, final balance 0, 100 orders.
     (Plain moto, `--emulator-arg=--no-dynamodb-lock`, fails this: concurrent
     transactions crash it with HTTP 500 "dictionary changed size during
     iteration", or lose updates.)
  2. An SQS long poll does not block DynamoDB: GetItem answers in < 1 s while a
     ReceiveMessage(WaitTimeSeconds=2) is waiting.
  3. tools/provision.py provisions infra/template.yaml, writes every Globals
     function variable and Output to the env file, is idempotent (a second run
     creates nothing), and an event put on the bus reaches the tap queue.
  4. The PutEvents fault knob: POST /_faults {"put_events": "error"} makes
     PutEvents answer HTTP 500 InternalException, "entries" refuses every entry
     (FailedEntryCount = n, InternalFailure), "ok" restores; GET /_faults says which.
  4b. The transaction conflict knob: POST /_faults/transaction_conflict
     {"share": 1} cancels every TransactWriteItems with HTTP 400
     TransactionCanceledException, one CancellationReason per item
     ("TransactionConflict" on the ACCOUNT item, "None" elsewhere), writing
     nothing; a bad share is a 400; {"share": 0} restores and GET counts them.
  5. A stream iterator survives a cancelled transaction: it sees neither the
     rolled-back write nor loses the records committed after it.
  6. POST /moto-api/reset clears state.
  7. A transaction's cost does not grow with the table (moto deep-copied every
     table a transaction named), and a write that fails while the transaction
     is applied leaves nothing of it behind (item or stream record).
  8. Streams keep a bounded number of records (--stream-retention, 50 here):
     after 300 writes an iterator from before them reads on from the oldest kept
     record (no error), and the newest records are all there.
Prints "N passed, M failed" and exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
from botocore.config import Config

HERE = Path(__file__).resolve().parent
REGION = "us-east-1"


def start_emulator(extra_args: list[str]) -> tuple[subprocess.Popen, str, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "emulator.py"), "--host", "127.0.0.1", "--port", "0", *extra_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    ready: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("emulator listening on "):
                ready.put(line.split()[-1])

    threading.Thread(target=pump, daemon=True).start()
    try:
        endpoint = ready.get(timeout=30)
    except queue.Empty:
        proc.kill()
        raise SystemExit("emulator did not start within 30 s; its output:\n" + "\n".join(lines)) from None
    return proc, endpoint, lines


def clients(endpoint: str) -> tuple[object, object]:
    cfg = Config(
        region_name=REGION,
        max_pool_connections=64,
        retries={"total_max_attempts": 1, "mode": "standard"},  # no retries: count exactly
        read_timeout=30,
    )
    kw = dict(endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", config=cfg)
    return boto3.client("dynamodb", **kw), boto3.client("sqs", **kw)


def make_table(ddb: object) -> str:
    """A table shaped like the orders table: PK/SK, a GSI and a stream."""
    name = f"selfcheck-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
            {"AttributeName": "GSI1PK", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "GSI1",
                "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return name


ACCOUNT = {"PK": {"S": "TRADER#t1"}, "SK": {"S": "ACCOUNT"}}


def check_atomic_transactions(ddb: object, _sqs: object) -> str:
    table = make_table(ddb)
    ddb.put_item(TableName=table, Item={**ACCOUNT, "balance": {"N": "100"}})

    def reserve(i: int) -> str:
        # Reserve 1 from the balance and record the order, atomically (like submitting an order).
        try:
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": table,
                            "Key": ACCOUNT,
                            "UpdateExpression": "SET balance = balance - :one",
                            "ConditionExpression": "balance >= :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                    {
                        "Put": {
                            "TableName": table,
                            "Item": {
                                "PK": {"S": "TRADER#t1"},
                                "SK": {"S": f"ORDER#{i:04d}"},
                                "GSI1PK": {"S": "TRADER#t1#NEW"},
                                "qty": {"N": "1"},
                            },
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                ]
            )
            return "ok"
        except ddb.exceptions.TransactionCanceledException as err:
            codes = [r.get("Code") for r in err.response.get("CancellationReasons", [])]
            return "cancelled" if codes == ["ConditionalCheckFailed", "None"] else f"cancelled {codes}"
        except Exception as err:  # noqa: BLE001 - counted and reported
            status = getattr(err, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
            return f"error {type(err).__name__} (HTTP {status})" if status else f"error {err!r}"[:200]

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(reserve, range(300)))
    took = time.monotonic() - started
    ok = results.count("ok")
    cancelled = results.count("cancelled")
    others = sorted({r for r in results if r not in ("ok", "cancelled")})
    balance = ddb.get_item(TableName=table, Key=ACCOUNT, ConsistentRead=True)["Item"]["balance"]["N"]
    orders = ddb.query(
        TableName=table,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :o)",
        ExpressionAttributeValues={":pk": {"S": "TRADER#t1"}, ":o": {"S": "ORDER#"}},
        Select="COUNT",
    )["Count"]
    summary = (
        f"300 transactions in {took:.2f}s: {ok} succeeded, {cancelled} cancelled, "
        f"{len(results) - ok - cancelled} other; final balance {balance}, {orders} orders"
    )
    assert not others, f"{summary}; unexpected outcomes: {others[:3]}"
    assert ok == 100 and cancelled == 200 and balance == "0" and orders == 100, summary
    return summary


def check_long_poll_does_not_block_dynamodb(ddb: object, sqs: object) -> str:
    table = make_table(ddb)
    ddb.put_item(TableName=table, Item=ACCOUNT)
    url = sqs.create_queue(QueueName=f"selfcheck-{uuid.uuid4().hex[:8]}")["QueueUrl"]

    poll: dict[str, float] = {}

    def long_poll() -> None:
        t0 = time.monotonic()
        resp = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, MaxNumberOfMessages=1)
        poll["took"] = time.monotonic() - t0
        poll["messages"] = len(resp.get("Messages", []))

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.3)  # the poll is now waiting inside the emulator
    t0 = time.monotonic()
    item = ddb.get_item(TableName=table, Key=ACCOUNT).get("Item")
    get_took = time.monotonic() - t0
    still_polling = poller.is_alive()
    poller.join(timeout=10)
    summary = f"GetItem took {get_took * 1000:.0f} ms during a long poll that took {poll.get('took', -1):.2f}s"
    assert item is not None, "GetItem found no item"
    assert still_polling and poll.get("took", 0) >= 1.5, f"{summary}: the long poll did not wait"
    assert get_took < 1.0, f"{summary}: DynamoDB was blocked by the SQS long poll"
    return summary


def read_env(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def check_provision(endpoint: str) -> str:
    template = HERE.parent / "infra" / "template.yaml"
    if not template.exists():
        return f"skipped: {template} does not exist"
    sys.path.insert(0, str(HERE))
    import provision  # noqa: PLC0415 - the module under test

    prefix = f"selfcheck{uuid.uuid4().hex[:6]}"
    env_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"{prefix}.env"
    cmd = [sys.executable, str(HERE / "provision.py"), "--endpoint", endpoint, "--prefix", prefix,
           "--template", str(template), "--env-out", str(env_file)]  # fmt: skip
    try:
        outputs = []
        for _ in range(2):
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            assert run.returncode == 0, f"provision.py failed:\n{run.stdout}{run.stderr}"
            outputs.append(run.stdout)
        assert "created:" not in outputs[1], f"second run was not a no-op:\n{outputs[1]}"
        env = read_env(env_file)
    finally:
        env_file.unlink(missing_ok=True)

    doc = provision.load_template(template)
    globals_vars = ((doc.get("Globals") or {}).get("Function") or {}).get("Environment", {}).get("Variables") or {}
    resources = doc.get("Resources") or {}

    def emulated(value: object) -> bool:
        """True unless the output refers to a resource type the emulator does not provide."""
        refs: set[str] = set()

        def walk(v: object) -> None:
            if isinstance(v, dict):
                for k, inner in v.items():
                    if k == "Ref" and isinstance(inner, str):
                        refs.add(inner)
                    elif k == "Fn::GetAtt":
                        target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                        refs.add(str(target))
                    elif k == "Fn::Sub":
                        text = inner[0] if isinstance(inner, list) else inner
                        refs.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", str(text)))
                    walk(inner)
            elif isinstance(v, list):
                for inner in v:
                    walk(inner)

        walk(value)
        return all((resources.get(r) or {}).get("Type", "AWS::SQS::Queue") in provision.SUPPORTED
                   for r in refs if r in resources)  # fmt: skip

    outputs_doc = doc.get("Outputs") or {}
    wanted = set(globals_vars) | {
        provision.screaming_snake(k) for k, o in outputs_doc.items() if emulated((o or {}).get("Value"))
    }
    wanted |= {"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    missing = sorted(wanted - set(env))
    assert not missing, f"env file lacks {missing}; provision output:\n{outputs[0]}"

    detail = f"{len(env)} variables, re-run is a no-op"
    bus, tap = env.get("EVENT_BUS_NAME"), env.get("STATUS_EVENTS_TAP_QUEUE_URL")
    if bus and tap:
        kw = dict(endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
        events, sqs = boto3.client("events", **kw), boto3.client("sqs", **kw)
        entry = {
            "EventBusName": bus,
            "Source": "orders",
            "DetailType": "Order Status Changed",
            "Detail": '{"probe": 1}',
        }
        resp = events.put_events(Entries=[entry])
        assert resp["FailedEntryCount"] == 0, f"put_events failed: {resp['Entries']}"
        got = sqs.receive_message(QueueUrl=tap, WaitTimeSeconds=2, MaxNumberOfMessages=10).get("Messages", [])
        assert got and '"probe": 1' in got[0]["Body"].replace('"probe":1', '"probe": 1'), (
            f"an event (source orders, detail-type 'Order Status Changed') put on {bus} did not reach {tap}: {got}"
        )
        detail += "; bus -> rule -> tap queue delivers"
    return detail


def faults(endpoint: str, mode: str | None = None) -> dict[str, str]:
    data = None if mode is None else json.dumps({"put_events": mode}).encode()
    req = urllib.request.Request(f"{endpoint}/_faults", data=data, method="GET" if data is None else "POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def check_fault_knob(endpoint: str) -> str:
    cfg = Config(region_name=REGION, retries={"total_max_attempts": 1, "mode": "standard"})
    kw = dict(endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", config=cfg)
    events = boto3.client("events", **kw)
    entries = [{"Source": "orders", "DetailType": "Order Status Changed", "Detail": f'{{"n": {i}}}'} for i in range(3)]
    try:
        assert faults(endpoint) == {"put_events": "ok"}, f"initial mode: {faults(endpoint)}"
        assert faults(endpoint, "error") == {"put_events": "error"}
        try:
            events.put_events(Entries=entries)
            raise AssertionError("PutEvents succeeded in mode error")
        except events.exceptions.ClientError as err:
            status = err.response["ResponseMetadata"]["HTTPStatusCode"]
            code = err.response["Error"]["Code"]
            assert (status, code) == (500, "InternalException"), f"mode error answered {status} {code}"
        faults(endpoint, "entries")
        resp = events.put_events(Entries=entries)
        codes = [e.get("ErrorCode") for e in resp["Entries"]]
        assert resp["FailedEntryCount"] == 3 and codes == ["InternalFailure"] * 3, f"mode entries: {resp}"
        try:
            faults(endpoint, "sometimes")
            raise AssertionError("an unknown mode was accepted")
        except urllib.error.HTTPError as err:
            assert err.code == 400, f"an unknown mode answered {err.code}"
        faults(endpoint, "ok")
        resp = events.put_events(Entries=entries)
        assert resp["FailedEntryCount"] == 0, f"mode ok: {resp}"
    finally:
        faults(endpoint, "ok")
    return "error -> 500 InternalException, entries -> 3 of 3 InternalFailure, ok -> published"


def conflict_knob(endpoint: str, share: float | None = None) -> dict[str, float]:
    data = None if share is None else json.dumps({"share": share}).encode()
    url = f"{endpoint}/_faults/transaction_conflict"
    req = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def check_transaction_conflict_knob(ddb: object, endpoint: str) -> str:
    table = make_table(ddb)
    item = lambda sk: {"PK": {"S": "TRADER#t1"}, "SK": {"S": sk}}  # noqa: E731
    ddb.put_item(TableName=table, Item={**item("ACCOUNT"), "cash": {"N": "100"}})
    transaction = [
        {"Put": {"TableName": table, "Item": item("ORDER#1"), "ConditionExpression": "attribute_not_exists(PK)"}},
        {"Update": {"TableName": table, "Key": item("ACCOUNT"), "UpdateExpression": "SET cash = cash - :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
    ]  # fmt: skip
    try:
        before = conflict_knob(endpoint)
        assert before["share"] == 0, f"initial share: {before}"
        assert conflict_knob(endpoint, 1)["share"] == 1
        try:
            ddb.transact_write_items(TransactItems=transaction)
            raise AssertionError("the transaction was not cancelled at share 1")
        except ddb.exceptions.TransactionCanceledException as err:
            status = err.response["ResponseMetadata"]["HTTPStatusCode"]
            reasons = [r.get("Code") for r in err.response.get("CancellationReasons", [])]
            assert status == 400, f"answered HTTP {status}"
            assert reasons == ["None", "TransactionConflict"], f"cancellation reasons: {reasons}"
            assert "TransactionConflict" in err.response["Error"]["Message"], err.response["Error"]
        assert "Item" not in ddb.get_item(TableName=table, Key=item("ORDER#1"), ConsistentRead=True)
        cash = ddb.get_item(TableName=table, Key=item("ACCOUNT"), ConsistentRead=True)["Item"]["cash"]["N"]
        assert cash == "100", f"a cancelled transaction wrote: cash {cash}"
        for bad in ("half", 2, -0.1, True):
            try:
                urllib.request.urlopen(urllib.request.Request(
                    f"{endpoint}/_faults/transaction_conflict", data=json.dumps({"share": bad}).encode(), method="POST"
                ), timeout=10)  # fmt: skip
                raise AssertionError(f"share {bad!r} was accepted")
            except urllib.error.HTTPError as err:
                assert err.code == 400, f"share {bad!r} answered {err.code}"
        assert conflict_knob(endpoint, 0)["share"] == 0
        ddb.transact_write_items(TransactItems=transaction)
        injected = conflict_knob(endpoint)["injected"] - before["injected"]
        assert injected == 1, f"injected {injected} conflicts, expected 1"
    finally:
        conflict_knob(endpoint, 0)
    return "share 1 -> 400 TransactionCanceledException [None, TransactionConflict], nothing written; share 0 -> applied"


def check_stream_after_cancelled_transaction(ddb: object, endpoint: str) -> str:
    table = make_table(ddb)
    kw = dict(endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    streams = boto3.client("dynamodbstreams", **kw)
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    item = lambda sk: {"PK": {"S": "TRADER#t1"}, "SK": {"S": sk}}  # noqa: E731
    ddb.put_item(TableName=table, Item=item("ORDER#1"))
    got = streams.get_records(ShardIterator=it)
    seen = [r["dynamodb"]["Keys"]["SK"]["S"] for r in got["Records"]]
    try:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": item("ORDER#phantom")}},
            {"Put": {"TableName": table, "Item": item("ORDER#1"), "ConditionExpression": "attribute_not_exists(PK)"}},
        ])  # fmt: skip
        raise AssertionError("the transaction was not cancelled")
    except ddb.exceptions.TransactionCanceledException:
        pass
    ddb.put_item(TableName=table, Item=item("ORDER#2"))
    got = streams.get_records(ShardIterator=got["NextShardIterator"])
    seen += [r["dynamodb"]["Keys"]["SK"]["S"] for r in got["Records"]]
    assert seen == ["ORDER#1", "ORDER#2"], f"stream records read: {seen} (expected ORDER#1, ORDER#2)"
    return "records read: ORDER#1, ORDER#2 (no phantom from the rolled-back transaction)"


def check_transactions_do_not_copy_tables(ddb: object, endpoint: str) -> str:
    table = make_table(ddb)
    item = lambda sk, **extra: {"PK": {"S": "TRADER#t1"}, "SK": {"S": sk}, **extra}  # noqa: E731
    pad = {"note": {"S": "x" * 400}}

    def median_transaction_ms() -> float:
        took = []
        for _ in range(9):
            t0 = time.monotonic()
            ddb.transact_write_items(TransactItems=[{"ConditionCheck": {
                "TableName": table, "Key": item("NONE"), "ConditionExpression": "attribute_not_exists(PK)"}}])  # fmt: skip
            took.append((time.monotonic() - t0) * 1000)
        return sorted(took)[len(took) // 2]

    small = median_transaction_ms()
    for start in range(0, 3000, 25):
        batch = [{"PutRequest": {"Item": item(f"ORDER#{i:05d}", **pad)}} for i in range(start, start + 25)]
        ddb.batch_write_item(RequestItems={table: batch})
    large = median_transaction_ms()
    assert large < max(4 * small, 40), f"transaction {small:.1f} ms on an empty table, {large:.1f} ms on 3000 items"

    kw = dict(endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    streams = boto3.client("dynamodbstreams", **kw)
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    ddb.put_item(TableName=table, Item=item("TEXT", n={"S": "not a number"}))
    try:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": item("ORDER#half")}},
            {"Update": {"TableName": table, "Key": item("TEXT"), "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        ])  # fmt: skip
        raise AssertionError("adding 1 to a string was accepted")
    except ddb.exceptions.ClientError as err:
        refused = err.response["Error"]["Code"]
    left = ddb.get_item(TableName=table, Key=item("ORDER#half"), ConsistentRead=True).get("Item")
    assert left is None, f"the failed transaction left ORDER#half behind ({refused})"
    records = [r["dynamodb"]["Keys"]["SK"]["S"] for r in streams.get_records(ShardIterator=it)["Records"]]
    assert records == ["TEXT"], f"stream records after the failed transaction: {records}"
    return (
        f"median transaction {small:.1f} ms on an empty table, {large:.1f} ms on 3000 items; "
        f"a write failing mid-transaction ({refused}) left no item or stream record"
    )


def check_queries_read_one_partition(ddb: object, _endpoint: str) -> str:
    table = make_table(ddb)
    item = lambda pk, sk, **extra: {"PK": {"S": pk}, "SK": {"S": sk}, **extra}  # noqa: E731
    mine = [f"ORDER#{i:03d}" for i in range(12)] + ["ACCOUNT", "RESERVE#a"]
    for sk in mine:
        ddb.put_item(TableName=table, Item=item("TRADER#me", sk, GSI1PK={"S": "me#OPEN"}))
    for sk in ["ORDER#000", "ORDER#999", "ACCOUNT"]:
        ddb.put_item(TableName=table, Item=item("TRADER#other", sk, GSI1PK={"S": "other#OPEN"}))

    def sks(**kw: object) -> tuple[list[str], object]:
        out = ddb.query(TableName=table, ConsistentRead=True, **kw)
        return [i["SK"]["S"] for i in out["Items"]], out.get("LastEvaluatedKey")

    me = {":pk": {"S": "TRADER#me"}}
    got, _ = sks(KeyConditionExpression="PK = :pk", ExpressionAttributeValues=me)
    assert got == sorted(mine), f"whole partition: {got}"
    orders = {**me, ":p": {"S": "ORDER#"}}
    cond = "PK = :pk AND begins_with(SK, :p)"
    page1, last = sks(KeyConditionExpression=cond, ExpressionAttributeValues=orders, ScanIndexForward=False, Limit=5)
    page2, _ = sks(KeyConditionExpression=cond, ExpressionAttributeValues=orders, ScanIndexForward=False, Limit=5,
                   ExclusiveStartKey=last)  # fmt: skip
    newest = sorted((s for s in mine if s.startswith("ORDER#")), reverse=True)
    assert page1 + page2 == newest[:10], f"newest first, two pages of 5: {page1} {page2}"
    nobody, _ = sks(KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": "TRADER#nobody"}})
    assert nobody == [], f"an empty partition answered {nobody}"
    gsi = ddb.query(TableName=table, IndexName="GSI1", KeyConditionExpression="GSI1PK = :g",
                    ExpressionAttributeValues={":g": {"S": "other#OPEN"}})["Items"]  # fmt: skip
    assert sorted(i["SK"]["S"] for i in gsi) == ["ACCOUNT", "ORDER#000", "ORDER#999"], f"index query: {gsi}"

    def median_query_ms() -> float:
        took = []
        for _ in range(9):
            t0 = time.monotonic()
            sks(KeyConditionExpression=cond, ExpressionAttributeValues=orders)
            took.append((time.monotonic() - t0) * 1000)
        return sorted(took)[len(took) // 2]

    small = median_query_ms()
    pad = {"note": {"S": "x" * 400}}
    others = 6000  # moto's own Query sorts them all: ~25 ms here, against ~4 ms for one partition
    for start in range(0, others, 25):
        batch = [{"PutRequest": {"Item": item(f"TRADER#{i:05d}", "ACCOUNT", **pad)}} for i in range(start, start + 25)]
        ddb.batch_write_item(RequestItems={table: batch})
    large = median_query_ms()
    assert large < 3 * small + 5, f"query {small:.1f} ms on a small table, {large:.1f} ms beside {others} partitions"
    return (
        f"a partition's items in key order, paged both ways, index queries unchanged; "
        f"median query {small:.1f} ms on a small table, {large:.1f} ms beside {others} other partitions"
    )


def check_receives_do_not_scan_the_queue(_ddb: object, sqs: object) -> str:
    url = sqs.create_queue(QueueName=f"selfcheck-backlog-{uuid.uuid4().hex[:8]}")["QueueUrl"]

    def median_receive_ms() -> float:
        took = []
        for _ in range(7):
            t0 = time.monotonic()
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
            took.append((time.monotonic() - t0) * 1000)
            assert got.get("Messages"), "the queue answered no messages"
        return sorted(took)[len(took) // 2]

    sqs.send_message(QueueUrl=url, MessageBody="first")
    small = median_receive_ms()
    backlog = 500  # moto's own receive: ~200 ms here, against ~2 ms on a short queue
    for start in range(0, backlog, 10):
        entries = [{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    large = median_receive_ms()
    assert large < 3 * small + 30, f"receive {small:.1f} ms on a short queue, {large:.1f} ms with {backlog} waiting"
    expired = sqs.create_queue(
        QueueName=f"selfcheck-retention-{uuid.uuid4().hex[:8]}", Attributes={"MessageRetentionPeriod": "60"}
    )["QueueUrl"]
    sqs.send_message(QueueUrl=expired, MessageBody="kept")
    kept = sqs.receive_message(QueueUrl=expired, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in kept] == ["kept"], f"a message inside its retention period: {kept}"
    return f"median receive {small:.1f} ms on a short queue, {large:.1f} ms with {backlog} waiting; retention still applies"


STREAM_RETENTION = 50


def check_stream_retention(ddb: object, endpoint: str) -> str:
    table = make_table(ddb)
    kw = dict(endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    streams = boto3.client("dynamodbstreams", **kw)
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    writes = 300
    for i in range(writes):
        ddb.put_item(TableName=table, Item={"PK": {"S": "TRADER#t1"}, "SK": {"S": f"ORDER#{i:04d}"}})
    seen: list[str] = []
    while True:
        got = streams.get_records(ShardIterator=it, Limit=1000)
        if not got["Records"]:
            break
        seen += [r["dynamodb"]["Keys"]["SK"]["S"] for r in got["Records"]]
        it = got["NextShardIterator"]
    bound = STREAM_RETENTION + STREAM_RETENTION // 4
    assert 0 < len(seen) <= bound, f"read {len(seen)} records after {writes} writes (retention {STREAM_RETENTION}, at most {bound})"
    newest = [f"ORDER#{i:04d}" for i in range(writes - len(seen), writes)]
    assert seen == newest, f"records read are not the newest {len(seen)} in order: {seen[:3]}...{seen[-3:]}"
    return f"{writes} writes, {len(seen)} records kept and read in order, ending with {seen[-1]}"


def check_reset(ddb: object, _sqs: object, endpoint: str) -> str:
    assert ddb.list_tables()["TableNames"], "expected tables before reset"
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200, f"reset answered {resp.status}"
    left = ddb.list_tables()["TableNames"]
    assert not left, f"tables left after reset: {left}"
    return "POST /moto-api/reset cleared all tables"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="check an already running emulator instead of starting one")
    parser.add_argument(
        "--emulator-arg",
        action="append",
        default=[],
        help="extra argument for the emulator started (e.g. --emulator-arg=--no-dynamodb-lock)",
    )
    args = parser.parse_args()
    os.environ.pop("AWS_PROFILE", None)

    started = time.monotonic()
    proc = None
    lines: list[str] = []
    if args.endpoint:
        endpoint = args.endpoint.rstrip("/")
    else:
        proc, endpoint, lines = start_emulator([f"--stream-retention={STREAM_RETENTION}", *args.emulator_arg])
    print(f"emulator self-check against {endpoint}")
    ddb, sqs = clients(endpoint)

    checks = [
        ("dynamodb_transactions_are_atomic", lambda: check_atomic_transactions(ddb, sqs)),
        ("sqs_long_poll_does_not_block_dynamodb", lambda: check_long_poll_does_not_block_dynamodb(ddb, sqs)),
        ("provision_template", lambda: check_provision(endpoint)),
        ("put_events_fault_knob", lambda: check_fault_knob(endpoint)),
        ("transaction_conflict_knob", lambda: check_transaction_conflict_knob(ddb, endpoint)),
        ("stream_after_cancelled_transaction", lambda: check_stream_after_cancelled_transaction(ddb, endpoint)),
        ("transactions_do_not_copy_tables", lambda: check_transactions_do_not_copy_tables(ddb, endpoint)),
        ("queries_read_one_partition", lambda: check_queries_read_one_partition(ddb, endpoint)),
        ("receives_do_not_scan_the_queue", lambda: check_receives_do_not_scan_the_queue(ddb, sqs)),
        ("stream_retention", lambda: check_stream_retention(ddb, endpoint)),
        ("moto_api_reset", lambda: check_reset(ddb, sqs, endpoint)),
    ]
    passed = failed = 0
    try:
        for name, check in checks:
            t0 = time.monotonic()
            try:
                detail = check()
                passed += 1
                print(f"  ok   {name} ({time.monotonic() - t0:.2f}s): {detail}")
            except Exception as err:  # noqa: BLE001 - report and continue
                failed += 1
                print(f"  FAIL {name} ({time.monotonic() - t0:.2f}s): {err}")
                if not isinstance(err, AssertionError):
                    traceback.print_exc()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                print("emulator did not stop on SIGTERM within 10 s (killed)")
                failed += 1
    if failed and lines:
        print("emulator output:\n  " + "\n  ".join(lines[-50:]))
    print(f"emulator self-check took {time.monotonic() - started:.1f}s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
