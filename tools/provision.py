#!/usr/bin/env python3
"""Provision the local emulator from the SAM/CloudFormation template.

    tools/provision.py --endpoint http://127.0.0.1:4566 --prefix orders-local \\
        --template infra/template.yaml --env-out .local/stack.env [--param Stage=dev]

Creates (if missing) every AWS::DynamoDB::Table, AWS::SQS::Queue,
AWS::SQS::QueuePolicy, AWS::Events::EventBus and AWS::Events::Rule of the
template, in dependency order, then writes --env-out: KEY=value lines
(shell-sourceable, `include`-able by make, dotenv-compatible) with
  * every Globals.Function.Environment.Variables entry, resolved;
  * every Output, its key in SCREAMING_SNAKE (OrdersTableStreamArn -> ORDERS_TABLE_STREAM_ARN);
  * AWS_ENDPOINT_URL, AWS_REGION, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.

Physical names: the template's TableName / QueueName / Name if set, else
"{prefix}-{LogicalId}" (AWS::StackName is the prefix). Other resource types
(AWS::Serverless::*, IAM, alarms, archives, ...) are skipped and listed in one
line. Re-running against an emulator that has the resources is a no-op.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
from pathlib import Path
from typing import Any
from collections.abc import Callable

import boto3
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"

# ---------------------------------------------------------------------------
# YAML with CloudFormation short-form tags
# ---------------------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Ref x` into {"Ref": "x"}, `!Sub s` into {"Fn::Sub": s}, etc."""


def _construct(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _register_tags() -> None:
    fn_tags = [
        "Sub", "If", "Equals", "Join", "Select", "Split", "ImportValue", "FindInMap",
        "Not", "And", "Or", "Base64", "Cidr", "GetAZs", "Transform", "Length", "ToJsonString",
    ]  # fmt: skip
    for tag in fn_tags:
        CfnLoader.add_constructor(f"!{tag}", lambda loader, node, tag=tag: {f"Fn::{tag}": _construct(node, loader)})
    CfnLoader.add_constructor("!Ref", lambda loader, node: {"Ref": _construct(node, loader)})
    CfnLoader.add_constructor("!Condition", lambda loader, node: {"Condition": _construct(node, loader)})

    def get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value = _construct(node, loader)
        if isinstance(value, str):
            resource, _, attribute = value.partition(".")
            value = [resource, attribute]
        return {"Fn::GetAtt": value}

    CfnLoader.add_constructor("!GetAtt", get_att)


_register_tags()


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise SystemExit(f"provision: {path} is not a CloudFormation template (no Resources mapping)")
    return doc


# ---------------------------------------------------------------------------
# Intrinsic function resolution
# ---------------------------------------------------------------------------


class Unresolvable(Exception):
    """A value that cannot be known locally (SSM parameter, skipped resource, import...)."""


NO_VALUE = object()  # AWS::NoValue: drops the enclosing key / list item

SUPPORTED = {
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
    "AWS::Events::EventBus",
    "AWS::Events::Rule",
}

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


class Stack:
    def __init__(
        self,
        template: dict[str, Any],
        prefix: str,
        region: str,
        params: dict[str, str],
        make_client: Callable[[str], Any],
    ):
        self.t = template
        self.prefix = prefix
        self.region = region
        self.resources: dict[str, dict[str, Any]] = template.get("Resources") or {}
        self.mappings: dict[str, Any] = template.get("Mappings") or {}
        self.conditions_def: dict[str, Any] = template.get("Conditions") or {}
        self.conditions: dict[str, bool] = {}
        self.params = self._parameters(template.get("Parameters") or {}, params)
        self.pseudo = {
            "AWS::StackName": prefix,
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT_ID}:stack/{prefix}/local",
            "AWS::NotificationARNs": [],
        }
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

    # -- parameters & conditions -----------------------------------------
    @staticmethod
    def _parameters(decl: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in decl.items():
            spec = spec or {}
            ptype = str(spec.get("Type", "String"))
            if name in overrides:
                value: Any = overrides[name]
            elif ptype.startswith("AWS::SSM::Parameter::Value"):
                value = Unresolvable(
                    f"parameter {name} is read from SSM ({spec.get('Default')}); pass --param {name}=..."
                )
            elif "Default" in spec:
                value = spec["Default"]
            else:
                value = Unresolvable(f"parameter {name} has no Default; pass --param {name}=...")
            if isinstance(value, str) and (ptype.startswith("List<") or ptype == "CommaDelimitedList"):
                value = [v.strip() for v in value.split(",")]
            values[name] = value
        unknown = set(overrides) - set(decl)
        if unknown:
            raise SystemExit(f"provision: --param for unknown template parameter(s): {', '.join(sorted(unknown))}")
        return values

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            if name not in self.conditions_def:
                raise Unresolvable(f"unknown condition {name}")
            self.conditions[name] = bool(self.resolve(self.conditions_def[name]))
        return self.conditions[name]

    # -- resolution -------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            out = [self.resolve(v) for v in value]
            return [v for v in out if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(self.resolve(arg))
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self.fn(key[4:], arg)
        out = {}
        for k, v in value.items():
            rv = self.resolve(v)
            if rv is not NO_VALUE:
                out[k] = rv
        return out

    def ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise Unresolvable(f"Ref of {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            value = self.params[name]
            if isinstance(value, Unresolvable):
                raise value
            return value
        if name in self.resources:
            return self.attr(name, None)
        raise Unresolvable(f"Ref to unknown name {name}")

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

    def fn(self, name: str, arg: Any) -> Any:
        handler: Callable[[Any], Any] | None = getattr(self, f"fn_{name}", None)
        if handler is None:
            raise Unresolvable(f"Fn::{name} is not supported locally")
        return handler(arg)

    def fn_GetAtt(self, arg: Any) -> Any:
        arg = self.resolve(arg)
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not (isinstance(arg, list) and len(arg) == 2):
            raise Unresolvable(f"Fn::GetAtt {arg!r}")
        return self.attr(str(arg[0]), str(arg[1]))

    _SUB_VAR = re.compile(r"\$\{([^}]*)\}")

    def fn_Sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = arg, {}
        if not isinstance(text, str):
            raise Unresolvable(f"Fn::Sub of {text!r}")

        def repl(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            expr = expr.strip()
            if expr in variables:
                return str(variables[expr])
            if "." in expr and not expr.startswith("AWS::"):
                resource, attribute = expr.split(".", 1)
                return str(self.attr(resource, attribute))
            return str(self.ref(expr))

        return self._SUB_VAR.sub(repl, text)

    def fn_Join(self, arg: Any) -> str:
        sep, items = self.resolve(arg)
        if not isinstance(items, list):
            raise Unresolvable("Fn::Join of a non-list")
        return str(sep).join(str(i) for i in items)

    def fn_Select(self, arg: Any) -> Any:
        index, items = self.resolve(arg)
        return items[int(index)]

    def fn_Split(self, arg: Any) -> list[str]:
        sep, text = self.resolve(arg)
        return str(text).split(str(sep))

    def fn_If(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(name) else when_false)

    def fn_Equals(self, arg: Any) -> bool:
        a, b = self.resolve(arg)
        return str(a) == str(b)

    def fn_Not(self, arg: Any) -> bool:
        (value,) = self.resolve(arg)
        return not value

    def fn_And(self, arg: Any) -> bool:
        return all(self.resolve(arg))

    def fn_Or(self, arg: Any) -> bool:
        return any(self.resolve(arg))

    def fn_FindInMap(self, arg: Any) -> Any:
        resolved = self.resolve(arg)
        mapping, top, second = resolved[0], resolved[1], resolved[2]
        try:
            return self.mappings[mapping][top][second]
        except (KeyError, TypeError):
            if len(resolved) > 3 and isinstance(resolved[3], dict) and "DefaultValue" in resolved[3]:
                return resolved[3]["DefaultValue"]
            raise Unresolvable(f"Fn::FindInMap {mapping}/{top}/{second} not found") from None

    def fn_Base64(self, arg: Any) -> str:
        return base64.b64encode(str(self.resolve(arg)).encode()).decode()

    def fn_GetAZs(self, _arg: Any) -> list[str]:
        return [f"{self.region}{z}" for z in "abc"]

    def fn_ToJsonString(self, arg: Any) -> str:
        return json.dumps(self.resolve(arg), separators=(",", ":"))

    def fn_Length(self, arg: Any) -> int:
        return len(self.resolve(arg))

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

    def env(self, endpoint: str) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        variables = (((self.t.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get(
            "Variables"
        ) or {}
        for key, value in variables.items():
            try:
                pairs.append((key, self.resolve(value)))
            except Unresolvable as err:
                self.warnings.append(f"Globals.Function.Environment.Variables.{key} omitted: {err}")
        for key, output in (self.t.get("Outputs") or {}).items():
            output = output or {}
            try:
                if output.get("Condition") and not self.condition(output["Condition"]):
                    continue
                pairs.append((screaming_snake(key), self.resolve(output.get("Value"))))
            except Unresolvable as err:
                self.warnings.append(f"output {key} omitted: {err}")
        pairs += [
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_REGION", self.region),
            ("AWS_DEFAULT_REGION", self.region),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ]
        out: dict[str, str] = {}
        for key, value in pairs:
            if value is NO_VALUE:
                continue
            text = (
                ",".join(map(str, value))
                if isinstance(value, list)
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
            if not SAFE_VALUE.match(text):
                self.warnings.append(f"{key} omitted from the env file: value {text!r} is not shell/make safe")
                continue
            if key in out and out[key] != text:
                self.warnings.append(f"{key}: {out[key]} replaced by {text}")
            out[key] = text
        return list(out.items())


def same_attribute(current: str | None, wanted: str) -> bool:
    if current is None:
        return False
    if current == wanted:
        return True
    try:
        return json.loads(current) == json.loads(wanted)
    except ValueError:
        return False


SAFE_VALUE = re.compile(r"^[A-Za-z0-9_./:@%+,=~^-]*$")


def screaming_snake(name: str) -> str:
    """StatusEventsTapQueueUrl -> STATUS_EVENTS_TAP_QUEUE_URL, HTTPApiUrl -> HTTP_API_URL."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").upper()


def write_env(path: Path, pairs: list[tuple[str, str]], template: Path, prefix: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    lines = [f"# generated by tools/provision.py from {template} (prefix {prefix}); do not edit"]
    lines += [f"{k}={v}" for k, v in pairs]
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="emulator URL, e.g. http://127.0.0.1:4566")
    parser.add_argument("--prefix", required=True, help="stack name: AWS::StackName and name prefix")
    parser.add_argument("--template", default="infra/template.yaml", type=Path)
    parser.add_argument("--env-out", type=Path, help="write KEY=value lines here")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or DEFAULT_REGION)
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="template parameter value")
    args = parser.parse_args()

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,40}", args.prefix):
        raise SystemExit(f"provision: --prefix {args.prefix!r}: use letters, digits and '-' (max 41, letter first)")
    params = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"provision: --param {item!r}: expected KEY=VALUE")
        params[key] = value

    template = load_template(args.template)
    endpoint = args.endpoint.rstrip("/")
    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or "test",
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or "test",
        region_name=args.region,
    )
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)

    def make_client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint, config=config)

    stack = Stack(template, args.prefix, args.region, params, make_client)
    try:
        stack.provision()
    except Exception as err:  # connection refused and the like: one clear line
        if isinstance(err, SystemExit):
            raise
        raise SystemExit(f"provision: {type(err).__name__}: {err} (is the emulator at {endpoint} up?)") from None
    pairs = stack.env(endpoint)

    print(f"provisioned {args.template} as '{args.prefix}' at {endpoint}")
    if stack.created:
        print(f"  created:  {', '.join(stack.created)}")
    if stack.existing:
        print(f"  existing: {', '.join(stack.existing)}")
    if stack.skipped:
        kinds = ", ".join(f"{t} x{len(ids)}" for t, ids in sorted(stack.skipped.items()))
        print(f"  skipped {sum(map(len, stack.skipped.values()))} (not emulated): {kinds}")
    for warning in stack.warnings:
        print(f"  warning: {warning}")
    if args.env_out:
        write_env(args.env_out, pairs, args.template, args.prefix)
        print(f"  env: {args.env_out} ({len(pairs)} variables)")
    else:
        for key, value in pairs:
            print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
