"""The local stack: creates a CloudFormation template's DynamoDB tables, SQS queues and
queue policies, EventBridge buses and rules, and S3 buckets (Object Lock included) in
the emulator, in dependency order, and
says what each one's Ref and GetAtt are. Re-running against an emulator that has the
resources is a no-op. Driven by tools/provision.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

import provision_s3
from cfn import ACCOUNT_ID, NO_VALUE, Resolver, Unresolvable

SUPPORTED = {
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
    "AWS::Events::EventBus",
    "AWS::Events::Rule",
    "AWS::S3::Bucket",
}
# Not created: AWS::S3::BucketPolicy. The template's only one refuses requests without
# TLS, and the emulator speaks plain HTTP on loopback (moto enforces bucket policies).

# ARNs that skipped resources would have, so that e.g. a policy naming a function still resolves.
SKIPPED_ARN_FORMATS = {
    "AWS::Serverless::Function": "arn:{p}:lambda:{r}:{a}:function:{n}",
    "AWS::Lambda::Function": "arn:{p}:lambda:{r}:{a}:function:{n}",
    "AWS::IAM::Role": "arn:{p}:iam::{a}:role/{n}",
    "AWS::SNS::Topic": "arn:{p}:sns:{r}:{a}:{n}",
    "AWS::Serverless::StateMachine": "arn:{p}:states:{r}:{a}:stateMachine:{n}",
    "AWS::StepFunctions::StateMachine": "arn:{p}:states:{r}:{a}:stateMachine:{n}",
    "AWS::Events::Archive": "arn:{p}:events:{r}:{a}:archive/{n}",
    "AWS::Logs::LogGroup": "arn:{p}:logs:{r}:{a}:log-group:{n}",
}


class Stack(Resolver):
    """The template's resources of the SUPPORTED types, created in the emulator on demand
    (a resource first, then what refers to it)."""

    def __init__(
        self,
        template: dict[str, Any],
        prefix: str,
        region: str,
        params: dict[str, str],
        make_client: Callable[[str], Any],
    ):
        super().__init__(template, prefix, region, params)
        self.make_client = make_client
        self._clients: dict[str, Any] = {}
        self.done: dict[str, dict[str, Any]] = {}  # logical id -> {"ref": ..., attr: ...}
        self.in_progress: list[str] = []
        self.created: list[str] = []
        self.existing: list[str] = []
        self.skipped: dict[str, list[str]] = {}  # type -> logical ids
        self.warnings: list[str] = []

    # -- clients ----------------------------------------------------------
    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.make_client(service)
        return self._clients[service]


    def attr(self, logical_id: str, attribute: str | None) -> Any:
        if logical_id not in self.resources:
            raise Unresolvable(f"GetAtt of unknown resource {logical_id}")
        rtype = (self.resources[logical_id] or {}).get("Type", "")
        if rtype in SUPPORTED:
            info = self.ensure(logical_id)
            if info is None:
                raise Unresolvable(f"{logical_id} is not created (its condition is false)")
            key = "ref" if attribute is None else attribute
            if key not in info:
                raise Unresolvable(f"{logical_id}.{attribute} is not known locally")
            return info[key]
        if attribute == "Arn" and rtype in SKIPPED_ARN_FORMATS:
            props = (self.resources[logical_id] or {}).get("Properties") or {}
            name = f"{self.prefix}-{logical_id}"
            for key in ("FunctionName", "RoleName", "TopicName", "Name", "LogGroupName", "ArchiveName"):
                if isinstance(props.get(key), str):  # literal names only; no resolution of skipped resources
                    name = props[key]
            return SKIPPED_ARN_FORMATS[rtype].format(p="aws", r=self.region, a=ACCOUNT_ID, n=name)
        what = f"{logical_id}.{attribute}" if attribute else f"Ref {logical_id}"
        raise Unresolvable(f"{what}: {rtype or 'untyped resource'} is not provisioned locally")

    # -- resource creation --------------------------------------------------
    def ensure(self, logical_id: str) -> dict[str, Any] | None:
        """Create the resource (and what it refers to) if not done yet; returns its attributes."""
        if logical_id in self.done:
            return self.done[logical_id]
        if logical_id in self.in_progress:
            cycle = " -> ".join([*self.in_progress[self.in_progress.index(logical_id) :], logical_id])
            raise SystemExit(f"provision: circular reference: {cycle}")
        spec = self.resources[logical_id] or {}
        rtype = spec.get("Type", "")
        cond = spec.get("Condition")
        if cond is not None and not self.condition(cond):
            self.skipped.setdefault(f"{rtype} (condition false)", []).append(logical_id)
            self.done[logical_id] = None  # type: ignore[assignment]
            return None
        self.in_progress.append(logical_id)
        try:
            depends = spec.get("DependsOn") or []
            for dep in [depends] if isinstance(depends, str) else depends:
                if dep in self.resources and (self.resources[dep] or {}).get("Type") in SUPPORTED:
                    self.ensure(dep)
            raw_props = dict(spec.get("Properties") or {})
            if rtype == "AWS::Events::Rule":
                raw_props.pop("Targets", None)  # resolved one by one in rule()
            try:
                props = self.resolve(raw_props)
            except Unresolvable as err:
                raise SystemExit(f"provision: cannot resolve the properties of {logical_id} ({rtype}): {err}") from None
            creator = {
                "AWS::DynamoDB::Table": self.table,
                "AWS::SQS::Queue": self.queue,
                "AWS::SQS::QueuePolicy": self.queue_policy,
                "AWS::Events::EventBus": self.event_bus,
                "AWS::Events::Rule": self.rule,
                "AWS::S3::Bucket": self.bucket,
            }[rtype]
            try:
                info = creator(logical_id, props)
            except ClientError as err:
                error = err.response.get("Error", {})
                raise SystemExit(
                    f"provision: creating {logical_id} ({rtype}) failed: {error.get('Code')}: {error.get('Message')}"
                ) from None
        finally:
            self.in_progress.pop()
        self.done[logical_id] = info
        return info

    def _mark(self, existed: bool, label: str) -> None:
        (self.existing if existed else self.created).append(label)

    def name_for(self, logical_id: str, props: dict[str, Any], key: str) -> str:
        name = props.get(key)
        return str(name) if name else f"{self.prefix}-{logical_id}"

    def table(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        ddb = self.client("dynamodb")
        name = self.name_for(logical_id, props, "TableName")
        try:
            desc = ddb.describe_table(TableName=name)["Table"]
            existed = True
        except ddb.exceptions.ResourceNotFoundException:
            existed = False
            args: dict[str, Any] = {
                "TableName": name,
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
                "BillingMode": props.get("BillingMode", "PROVISIONED"),
            }
            provisioned = args["BillingMode"] == "PROVISIONED"
            if provisioned:
                args["ProvisionedThroughput"] = props.get(
                    "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
                )
            for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                if props.get(key):
                    indexes = []
                    for index in props[key]:
                        index = {
                            k: v
                            for k, v in index.items()
                            if k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
                        }
                        if key == "GlobalSecondaryIndexes" and provisioned and "ProvisionedThroughput" not in index:
                            index["ProvisionedThroughput"] = args["ProvisionedThroughput"]
                        indexes.append(index)
                    args[key] = indexes
            stream = props.get("StreamSpecification")
            if stream and stream.get("StreamViewType"):
                args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
            if props.get("Tags"):
                args["Tags"] = props["Tags"]
            desc = ddb.create_table(**args)["TableDescription"]
        self._mark(existed, f"table {name}")

        wanted_stream = (props.get("StreamSpecification") or {}).get("StreamViewType")
        if wanted_stream and not desc.get("LatestStreamArn"):
            self.warnings.append(f"table {name} exists without a stream; enabling {wanted_stream}")
            desc = ddb.update_table(
                TableName=name, StreamSpecification={"StreamEnabled": True, "StreamViewType": wanted_stream}
            )["TableDescription"]
        if existed:
            have = {i["IndexName"] for i in desc.get("GlobalSecondaryIndexes", [])}
            want = {i["IndexName"] for i in props.get("GlobalSecondaryIndexes", [])}
            if have != want:
                self.warnings.append(
                    f"table {name} exists with GSIs {sorted(have)} but the template has {sorted(want)}: "
                    "reset the emulator (POST /moto-api/reset) or restart it"
                )

        ttl = props.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled") in (True, "true", "True") and ttl.get("AttributeName"):
            current = ddb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
            if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                )
        pitr = (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
        if pitr in (True, "true", "True"):
            try:
                ddb.update_continuous_backups(
                    TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
                )
            except ClientError as err:  # cosmetic locally
                self.warnings.append(f"table {name}: point-in-time recovery not enabled: {err}")

        info = {"ref": name, "Name": name, "Arn": desc["TableArn"]}
        if desc.get("LatestStreamArn"):
            info["StreamArn"] = desc["LatestStreamArn"]
        return info

    QUEUE_ATTRIBUTES = (
        "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
        "VisibilityTimeout", "RedrivePolicy", "RedriveAllowPolicy", "FifoQueue", "ContentBasedDeduplication",
        "DeduplicationScope", "FifoThroughputLimit", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
        "SqsManagedSseEnabled",
    )  # fmt: skip

    @staticmethod
    def _attr_value(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value, separators=(",", ":"))
        return str(value)

    def queue(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        sqs = self.client("sqs")
        fifo = self._attr_value(props.get("FifoQueue", False)) == "true"
        name = self.name_for(logical_id, props, "QueueName")
        if fifo and not name.endswith(".fifo"):
            name += ".fifo"
        attributes = {k: self._attr_value(props[k]) for k in self.QUEUE_ATTRIBUTES if k in props}
        if not fifo:
            attributes.pop("FifoQueue", None)
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            existed = True
            current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
            changed = {
                k: v for k, v in attributes.items() if k != "FifoQueue" and not same_attribute(current.get(k), v)
            }
            if changed:
                # moto quirk: SetQueueAttributes without "Policy" deletes the queue's policy.
                if "Policy" in current:
                    changed.setdefault("Policy", current["Policy"])
                sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)
                self.warnings.append(f"queue {name} existed; updated {', '.join(sorted(changed))}")
        except sqs.exceptions.QueueDoesNotExist:
            existed = False
            args: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
            tags = props.get("Tags")
            if tags:
                args["tags"] = {t["Key"]: str(t["Value"]) for t in tags}
            url = sqs.create_queue(**args)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._mark(existed, f"queue {name}")
        return {"ref": url, "QueueUrl": url, "QueueName": name, "Arn": arn}

    def queue_policy(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        sqs = self.client("sqs")
        policy = props["PolicyDocument"]
        policy_text = policy if isinstance(policy, str) else json.dumps(policy, separators=(",", ":"))
        unchanged = True
        for url in props.get("Queues") or []:
            current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
            if "Policy" in current and json.loads(current["Policy"]) == json.loads(policy_text):
                continue
            unchanged = False
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy_text})
        self._mark(unchanged, f"queue policy {logical_id}")
        return {"ref": f"{self.prefix}-{logical_id}", "Id": f"{self.prefix}-{logical_id}"}

    def bucket(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        name = self.name_for(logical_id, props, "BucketName").lower()
        existed = provision_s3.bucket(self.client("s3"), name, props)
        self._mark(existed, f"bucket {name}")
        return {"ref": name, "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}

    def event_bus(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        events = self.client("events")
        name = self.name_for(logical_id, props, "Name")
        try:
            arn = events.describe_event_bus(Name=name)["Arn"]
            existed = True
        except events.exceptions.ResourceNotFoundException:
            existed = False
            args: dict[str, Any] = {"Name": name}
            for key in ("Description", "EventSourceName", "KmsKeyIdentifier"):
                if props.get(key):
                    args[key] = props[key]
            if props.get("Tags"):
                args["Tags"] = props["Tags"]
            arn = events.create_event_bus(**args)["EventBusArn"]
        self._mark(existed, f"event bus {name}")
        return {"ref": name, "Name": name, "Arn": arn}

    LOCAL_TARGET_SERVICES = ("sqs", "events")

    def rule(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        events = self.client("events")
        name = self.name_for(logical_id, props, "Name")
        bus = str(props.get("EventBusName") or "default")
        if bus.startswith("arn:"):
            bus = bus.split("event-bus/", 1)[-1]
        try:
            events.describe_rule(Name=name, EventBusName=bus)
            existed = True
        except events.exceptions.ResourceNotFoundException:
            existed = False
        args: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": props.get("State", "ENABLED")}
        pattern = props.get("EventPattern")
        if pattern is not None:
            args["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        for key in ("ScheduleExpression", "Description", "RoleArn"):
            if props.get(key):
                args[key] = props[key]
        arn = events.put_rule(**args)["RuleArn"]  # put_rule is an upsert

        targets = []
        for target in self.resolve_targets(logical_id):
            arn_service = str(target.get("Arn", "")).split(":")[2:3]
            if arn_service and arn_service[0] in self.LOCAL_TARGET_SERVICES:
                targets.append(target)
            else:
                self.warnings.append(
                    f"rule {logical_id}: target {target.get('Id')} ({target.get('Arn')}) not attached: "
                    f"only {'/'.join(self.LOCAL_TARGET_SERVICES)} targets are delivered locally"
                )
        if targets:
            resp = events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
            if resp.get("FailedEntryCount"):
                raise SystemExit(f"provision: put_targets on rule {name} failed: {resp.get('FailedEntries')}")
        self._mark(existed, f"rule {name} on {bus} ({len(targets)} target{'s' if len(targets) != 1 else ''})")
        return {"ref": name, "Name": name, "Arn": arn}

    def resolve_targets(self, logical_id: str) -> list[dict[str, Any]]:
        """Targets one by one, so that a target that cannot be resolved locally only drops itself."""
        raw = ((self.resources[logical_id] or {}).get("Properties") or {}).get("Targets") or []
        out = []
        for target in raw:
            try:
                resolved = self.resolve(target)
            except Unresolvable as err:
                self.warnings.append(f"rule {logical_id}: target {target.get('Id', '?')} skipped: {err}")
                continue
            if resolved is NO_VALUE:
                continue
            if not (isinstance(resolved, dict) and resolved.get("Id") and resolved.get("Arn")):
                raise SystemExit(f"provision: rule {logical_id}: a target needs Id and Arn: {resolved!r}")
            out.append(resolved)
        return out

    # -- driver -------------------------------------------------------------
    def provision(self) -> None:
        for logical_id, spec in self.resources.items():
            rtype = (spec or {}).get("Type", "?")
            if rtype in SUPPORTED:
                self.ensure(logical_id)
            else:
                self.skipped.setdefault(rtype, []).append(logical_id)


def same_attribute(current: str | None, wanted: str) -> bool:
    if current is None:
        return False
    if current == wanted:
        return True
    try:
        return json.loads(current) == json.loads(wanted)
    except ValueError:
        return False
