#!/usr/bin/env python3
# Long because: one check per production property of the template, and beside them the
# mutations each must refuse, in one table.
"""The deployed stack holds up in production (issue 16): facts of infra/template.yaml and
samconfig.toml that cfn-lint and `sam validate` cannot see (make lint-infra).

    .venv/bin/python tools/test_template.py

Each check reads the template (CloudFormation short-form tags via tools/provision.py)
and returns the list of what is wrong; the self-checks then feed it mutated templates
and configurations, each of which must be refused. Bounds are AWS's documented ones:
MaximumRecordAgeInSeconds -1 or 60..604800, MaximumRetryAttempts -1 or 0..10000,
ScalingConfig.MaximumConcurrency 2..1000 (SQS only), Lambda function names <= 64
characters. Plain asserts; prints `N passed, M failed`, exits non-zero on any failure.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from provision import load_template  # noqa: E402

TEMPLATE = ROOT / "infra" / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
LIVE_VENUE = "https://api.alpaca.markets"
PLACEHOLDER = re.compile(r"(?i)example|placeholder|change-?me|set-your")

# Every alarm the stack must have, by logical id: (namespace, metric or None for metric math).
ALARMS = {
    "WorkDeadLetterAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    "WorkQueueAgeAlarm": ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
    "PublishIteratorAgeAlarm": ("AWS/Lambda", "IteratorAge"),
    "PublishIteratorAgeLongAlarm": ("AWS/Lambda", "IteratorAge"),
    "PublishBatchStoppedAlarm": (None, "PublishBatchStopped"),
    "PublishFailureQueueAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    "Api5xxAlarm": ("AWS/ApiGateway", "5xx"),
    "ApiLatencyAlarm": ("AWS/ApiGateway", "Latency"),
    "VenueErrorsAlarm": (None, "VenueErrors"),
    "DynamoThrottlesAlarm": ("AWS/DynamoDB", "ThrottledRequests"),
    "DynamoSystemErrorsAlarm": ("AWS/DynamoDB", "SystemErrors"),
    "ExecuteDurationAlarm": ("AWS/Lambda", "Duration"),
    "AccountConcurrencyAlarm": ("AWS/Lambda", "ConcurrentExecutions"),
    "FanoutErrorsAlarm": ("AWS/Lambda", "Errors"),
    "FanoutFailureQueueAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    "FanoutBatchStoppedAlarm": (None, "FanoutBatchStopped"),
    "FanoutIteratorAgeAlarm": ("AWS/Lambda", "IteratorAge"),
}


def res(t: dict[str, Any]) -> dict[str, Any]:
    return t["Resources"]


def props(t: dict[str, Any], lid: str) -> dict[str, Any]:
    return (res(t).get(lid) or {}).get("Properties") or {}


def functions(t: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in res(t).items() if v.get("Type") == "AWS::Serverless::Function"}


def event_of(t: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    for lid, fn in functions(t).items():
        for ev in ((fn.get("Properties") or {}).get("Events") or {}).values():
            if ev.get("Type") == kind:
                return lid, ev.get("Properties") or {}
    return "", {}


def param_default(t: dict[str, Any], v: Any) -> Any:
    if isinstance(v, dict) and "Ref" in v:
        return ((t.get("Parameters") or {}).get(v["Ref"]) or {}).get("Default")
    return v


# ---------------------------------------------------------------------------
# Checks: each returns what is wrong
# ---------------------------------------------------------------------------


def check_stream_mapping(t: dict[str, Any]) -> list[str]:
    """1: publish's stream mapping is bounded and reports what it gives up."""
    errors = []
    fn, ev = event_of(t, "DynamoDB")
    if not fn:
        return ["no DynamoDB stream event"]
    age, retries = ev.get("MaximumRecordAgeInSeconds", -1), ev.get("MaximumRetryAttempts", -1)
    if not (isinstance(age, int) and 60 <= age <= 86400 - 3600):
        errors.append(f"MaximumRecordAgeInSeconds {age}: must be bounded, 60..82800 (below the stream's 24 h)")
    if not (isinstance(retries, int) and 0 <= retries <= 10000):
        errors.append(f"MaximumRetryAttempts {retries}: must be bounded (0..10000)")
    if ev.get("BisectBatchOnFunctionError") is not True:
        errors.append("BisectBatchOnFunctionError must be true")
    if "ReportBatchItemFailures" not in (ev.get("FunctionResponseTypes") or []):
        errors.append("FunctionResponseTypes must include ReportBatchItemFailures")
    on_failure = (ev.get("DestinationConfig") or {}).get("OnFailure") or {}
    dest = on_failure.get("Destination")
    if not (isinstance(dest, dict) and dest.get("Fn::GetAtt", [None])[0] in res(t)):
        errors.append(f"DestinationConfig.OnFailure.Destination is not a queue of the template: {dest!r}")
    else:
        qid = dest["Fn::GetAtt"][0]
        if res(t)[qid].get("Type") != "AWS::SQS::Queue" or on_failure.get("Type", "SQS") != "SQS":
            errors.append(f"the on-failure destination {qid} is not an SQS queue")
        if int(props(t, qid).get("MessageRetentionPeriod", 345600)) < 1209600:
            errors.append(f"{qid} keeps failure records less than 14 days")
        outputs = {str(o.get("Value")) for o in (t.get("Outputs") or {}).values()}
        if str({"Ref": qid}) not in outputs:
            errors.append(f"no output gives {qid}'s URL (orders-admin redrive-stream reads it)")
    return errors


def check_publish_sizing(t: dict[str, Any]) -> list[str]:
    """3: a full batch of worst-case PutEvents chunks (5 s each, 10 entries) fits the timeout."""
    fn, ev = event_of(t, "DynamoDB")
    timeout = props(t, fn).get("Timeout") or ((t.get("Globals") or {}).get("Function") or {}).get("Timeout", 3)
    batch = int(ev.get("BatchSize", 100))
    worst = -(-batch // 10) * 5
    if worst >= timeout:
        return [f"BatchSize {batch}: {-(-batch // 10)} chunks x 5 s = {worst} s, not under the {timeout} s timeout"]
    return []


def check_alarms(t: dict[str, Any]) -> list[str]:
    """2: every alarm exists, on the right metric, notifying the alarm topic."""
    errors = []
    for lid, (namespace, metric) in ALARMS.items():
        a = res(t).get(lid)
        if not a or a.get("Type") != "AWS::CloudWatch::Alarm":
            errors.append(f"alarm {lid} is missing")
            continue
        p = a.get("Properties") or {}
        if p.get("AlarmActions") != [{"Ref": "AlarmTopic"}]:
            errors.append(f"{lid} does not notify AlarmTopic")
        metrics = [m.get("MetricStat", {}).get("Metric", {}) for m in p.get("Metrics") or []] or [p]
        names = {m.get("MetricName") for m in metrics}
        spaces = {str(m.get("Namespace")) for m in metrics}
        if metric not in names or (namespace and namespace not in spaces):
            errors.append(f"{lid} watches {spaces} {names}, not {namespace} {metric}")
    long_age = props(t, "PublishIteratorAgeLongAlarm")
    if long_age.get("TreatMissingData") != "breaching":
        errors.append("PublishIteratorAgeLongAlarm: silence (a stopped mapping) must breach")
    for lid, metric in (("PublishBatchStoppedAlarm", "PublishBatchStopped"), ("VenueErrorsAlarm", "VenueErrors")):
        filters = [
            r for r in res(t).values()
            if r.get("Type") == "AWS::Logs::MetricFilter"
            and any(m.get("MetricName") == metric for m in (r.get("Properties") or {}).get("MetricTransformations") or [])
        ]  # fmt: skip
        if not filters:
            errors.append(f"{lid}: no metric filter emits {metric}")
    for lid in ("Api5xxAlarm", "ApiLatencyAlarm"):
        dims = props(t, lid).get("Dimensions") or []
        if {"Name": "ApiId", "Value": {"Ref": "HttpApi"}} not in dims:
            errors.append(f"{lid} is not on the HTTP API's ApiId")
    return errors


SECRET_VARIABLES = ("VENUE_API_KEY_ID", "VENUE_API_SECRET_KEY")


def check_secrets_not_in_config(t: dict[str, Any]) -> list[str]:
    """4: nothing secret in a function's configuration (no resolved reference, no key
    variable); the functions that call the venue get only the secret's ARN, a !Ref to
    a required parameter that takes nothing but a Secrets Manager ARN."""
    errors = []
    envs = {"Globals": ((t.get("Globals") or {}).get("Function") or {}).get("Environment")}
    envs |= {lid: (fn.get("Properties") or {}).get("Environment") for lid, fn in functions(t).items()}
    for lid, env in envs.items():
        if "{{resolve:secretsmanager" in str(env) or "{{resolve:ssm-secure" in str(env):
            errors.append(f"{lid}: a function environment resolves a secret: {env}")
        for var in SECRET_VARIABLES:
            if var in ((env or {}).get("Variables") or {}):
                errors.append(f"{lid}: {var} is in the function's configuration")
    for lid in ("ExecuteFunction", "IntakeFunction"):
        ref = (((envs.get(lid) or {}).get("Variables") or {}).get("VENUE_SECRET_ARN") or {})
        param = (t.get("Parameters") or {}).get(ref.get("Ref", "") if isinstance(ref, dict) else "")
        if not param:
            errors.append(f"{lid}: VENUE_SECRET_ARN is not a !Ref to a parameter")
        elif "Default" in param or ":secretsmanager:" not in str(param.get("AllowedPattern", "")):
            errors.append(f"{lid}: VENUE_SECRET_ARN's parameter has a default or takes more than a secret's ARN")
    return errors


def check_concurrency(t: dict[str, Any]) -> list[str]:
    """5: the work queue mapping is capped; submit and cancel reserve concurrency."""
    errors = []
    _, ev = event_of(t, "SQS")
    cap = param_default(t, (ev.get("ScalingConfig") or {}).get("MaximumConcurrency"))
    if not (isinstance(cap, int) and 2 <= cap <= 1000):
        errors.append(f"the SQS mapping's ScalingConfig.MaximumConcurrency is {cap!r}, not 2..1000")
    for lid in ("SubmitFunction", "CancelFunction"):
        if "ReservedConcurrentExecutions" not in props(t, lid):
            errors.append(f"{lid} reserves no concurrency")
    return errors


def check_prod_config(t: dict[str, Any], samconfig: dict[str, Any]) -> list[str]:
    """6: prod cannot deploy with placeholders, trades live, has the outputs it needs."""
    errors = []
    params = t.get("Parameters") or {}
    for name in ("JwtIssuer", "JwtAudience", "ReferencePrices"):
        p = params.get(name) or {}
        if "Default" in p:
            errors.append(f"parameter {name} has a default ({p['Default']!r}): it must be given")
    for name, p in params.items():
        if PLACEHOLDER.search(str(p.get("Default", ""))):
            errors.append(f"parameter {name} defaults to a placeholder {p['Default']!r}")
    for name in ("JwtIssuer", "JwtAudience"):
        pattern = (params.get(name) or {}).get("AllowedPattern")
        # CloudFormation patterns are Java regexes; (?i:...) and lookahead read the same in Python.
        if not pattern or re.fullmatch(pattern, "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE"):
            errors.append(f"{name}'s AllowedPattern does not refuse the EXAMPLE placeholder")
    if LIVE_VENUE not in (params.get("VenueBaseUrl") or {}).get("AllowedValues", [LIVE_VENUE]):
        errors.append("VenueBaseUrl does not allow the live venue")
    rule = str((t.get("Rules") or {}))
    if LIVE_VENUE not in rule or "AlarmEmail" not in rule:
        errors.append("no rule makes Stage=prod trade live and have an AlarmEmail")
    outputs = t.get("Outputs") or {}
    for key, lid in (("AlarmTopicArn", "AlarmTopic"), ("WorkDeadLetterQueueUrl", "WorkDeadLetterQueue")):
        if (outputs.get(key) or {}).get("Value") != {"Ref": lid}:
            errors.append(f"no output {key}")
    for name, p in params.items():
        if not p.get("Description"):
            errors.append(f"parameter {name} has no Description (sam deploy --guided shows it)")
    for env in ("default", "prod"):
        deploy = samconfig.get(env, {}).get("deploy", {}).get("parameters", {})
        if deploy.get("fail_on_empty_changeset") is False:
            errors.append(f"samconfig {env}: fail_on_empty_changeset = false hides a deploy that changed nothing")
        overrides = dict(o.split("=", 1) for o in deploy.get("parameter_overrides", []))
        for k, v in overrides.items():
            if k not in params:
                errors.append(f"samconfig {env}: {k} is not a template parameter")
            elif PLACEHOLDER.search(v):
                errors.append(f"samconfig {env}: {k}={v} is a placeholder")
            elif (pat := params[k].get("AllowedPattern")) and not re.fullmatch(pat, v):
                errors.append(f"samconfig {env}: {k}={v} does not match its AllowedPattern")
        if env == "prod" and overrides.get("VenueBaseUrl") != LIVE_VENUE:
            errors.append(f"samconfig prod: VenueBaseUrl is {overrides.get('VenueBaseUrl')!r}, not {LIVE_VENUE}")
    return errors


def check_hardening(t: dict[str, Any]) -> list[str]:
    """7: scopes, audit PutItem only by the writers, rule targets retried and dead-lettered,
    tracing and JSON logs, no FunctionName (names within 64 characters for any stack name)."""
    errors = []
    api = props(t, "HttpApi").get("Auth") or {}
    default = api.get("DefaultAuthorizer")
    if not ((api.get("Authorizers") or {}).get(default) or {}).get("AuthorizationScopes"):
        errors.append(f"the default authorizer {default} requires no AuthorizationScopes")
    audit = str(props(t, "AuditTable").get("ResourcePolicy"))
    if "dynamodb:PutItem" not in audit or "orders-audit-writer" not in audit:
        errors.append("the audit table's resource policy does not restrict PutItem to the writer roles")
    writers = {
        lid for lid, r in res(t).items()
        if r.get("Type") == "AWS::IAM::Role"
        and {"Key": "orders-audit-writer", "Value": "true"} in ((r.get("Properties") or {}).get("Tags") or [])
    }  # fmt: skip
    if writers != {"SubmitRole", "CancelRole", "ExecuteRole"}:
        errors.append(f"audit writer tags on {sorted(writers)}, not exactly submit, cancel, execute")
    for lid, r in res(t).items():
        if r.get("Type") != "AWS::Events::Rule":
            continue
        for target in (r.get("Properties") or {}).get("Targets") or []:
            if not target.get("RetryPolicy") or not (target.get("DeadLetterConfig") or {}).get("Arn"):
                errors.append(f"{lid} target {target.get('Id')} has no RetryPolicy and DeadLetterConfig")
    glob = (t.get("Globals") or {}).get("Function") or {}
    for lid, fn in functions(t).items():
        p = fn.get("Properties") or {}
        if (p.get("Tracing") or glob.get("Tracing")) != "Active":
            errors.append(f"{lid}: tracing is not Active")
        if (p.get("LoggingConfig") or glob.get("LoggingConfig") or {}).get("LogFormat") != "JSON":
            errors.append(f"{lid}: LoggingConfig.LogFormat is not JSON")
        if "FunctionName" in p:
            errors.append(f"{lid}: an explicit FunctionName can pass 64 characters with a long stack name")
    return errors


# ---------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------

RESULTS: list[bool] = []


# Actions that would let a principal shorten, lift or bypass the copy's lock, or delete it.
LOCK_BREAKERS = (
    "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention", "s3:BypassGovernanceRetention",
    "s3:PutObjectLegalHold", "s3:PutBucketObjectLockConfiguration", "s3:PutLifecycleConfiguration",
    "s3:DeleteBucket", "s3:PutBucketVersioning",
)  # fmt: skip


def check_write_once_copy(t: dict[str, Any]) -> list[str]:
    """Issue 15: the audit table's stream copied into an Object Lock bucket (compliance
    mode), never given up, with a daily digest; no role can break the lock."""
    errors = []
    audit = props(t, "AuditTable")
    if (audit.get("StreamSpecification") or {}).get("StreamViewType") not in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        errors.append("AuditTable has no stream with new images")
    archivers = [
        (lid, ev.get("Properties") or {}, fn)
        for lid, fn in functions(t).items()
        for ev in ((fn.get("Properties") or {}).get("Events") or {}).values()
        if ev.get("Type") == "DynamoDB"
        and (ev.get("Properties") or {}).get("Stream") == {"Fn::GetAtt": ["AuditTable", "StreamArn"]}
    ]
    if len(archivers) != 1:
        return errors + [f"{len(archivers)} functions read the audit table's stream, not exactly one"]
    lid, ev, fn = archivers[0]
    if ev.get("MaximumRetryAttempts", -1) != -1 or ev.get("MaximumRecordAgeInSeconds", -1) != -1:
        errors.append(f"{lid}: the audit stream mapping gives records up (MaximumRetryAttempts / MaximumRecordAgeInSeconds set)")
    if "ReportBatchItemFailures" not in (ev.get("FunctionResponseTypes") or []):
        errors.append(f"{lid}: the audit stream mapping must report batch item failures")
    events = ((fn.get("Properties") or {}).get("Events") or {}).values()
    if not any(e.get("Type") == "Schedule" and (e.get("Properties") or {}).get("Enabled") is not False for e in events):
        errors.append(f"{lid}: no enabled daily schedule for the digest")
    bucket_ref = (((fn.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}).get("AUDIT_ARCHIVE_BUCKET")
    bucket_id = bucket_ref.get("Ref") if isinstance(bucket_ref, dict) else None
    if bucket_id not in res(t) or res(t)[bucket_id].get("Type") != "AWS::S3::Bucket":
        return errors + [f"{lid}: AUDIT_ARCHIVE_BUCKET is not !Ref a bucket of the template: {bucket_ref!r}"]
    b = props(t, bucket_id)
    retention = ((b.get("ObjectLockConfiguration") or {}).get("Rule") or {}).get("DefaultRetention") or {}
    if b.get("ObjectLockEnabled") is not True or (b.get("ObjectLockConfiguration") or {}).get("ObjectLockEnabled") != "Enabled":
        errors.append(f"{bucket_id}: Object Lock is not enabled")
    if retention.get("Mode") != "COMPLIANCE":
        errors.append(f"{bucket_id}: default retention mode {retention.get('Mode')!r}, not COMPLIANCE (GOVERNANCE can be bypassed)")
    days = param_default(t, retention.get("Days"))
    if not (isinstance(days, int) and days >= 1) or not (isinstance(retention.get("Days"), dict) and "Ref" in retention["Days"]):
        errors.append(f"{bucket_id}: the retention is not a template parameter with a default: {retention.get('Days')!r}")
    if (b.get("VersioningConfiguration") or {}).get("Status") != "Enabled":
        errors.append(f"{bucket_id}: versioning is not enabled")
    block = b.get("PublicAccessBlockConfiguration") or {}
    if not all(block.get(k) is True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")):
        errors.append(f"{bucket_id}: public access is not blocked")
    if res(t)[bucket_id].get("DeletionPolicy") != "Retain":
        errors.append(f"{bucket_id}: DeletionPolicy is not Retain")
    for rid, r in res(t).items():
        if r.get("Type") != "AWS::IAM::Role":
            continue
        for policy in (r.get("Properties") or {}).get("Policies") or []:
            for st in (policy.get("PolicyDocument") or {}).get("Statement") or []:
                actions = st.get("Action") or []
                for a in actions if isinstance(actions, list) else [actions]:
                    if st.get("Effect") == "Allow" and (a in LOCK_BREAKERS or a in ("s3:*", "*")):
                        errors.append(f"{rid}: allows {a}, which could break the write-once copy")
    for alarm in ("AuditChangedAlarm", "ArchiveIteratorAgeAlarm"):
        if alarm not in res(t):
            errors.append(f"alarm {alarm} is missing")
    return errors


def check_console_private(t: dict[str, Any]) -> list[str]:
    """Issue 22: the console's bucket is private: public access blocked, no website
    hosting or ACL, and its policy lets only the console's CloudFront distribution
    (through an origin access control) read it."""
    errors = []
    if "ConsoleBucket" not in res(t):
        return ["ConsoleBucket is missing"]
    b = props(t, "ConsoleBucket")
    block = b.get("PublicAccessBlockConfiguration") or {}
    if not all(block.get(k) is True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")):
        errors.append("ConsoleBucket: public access is not blocked")
    if "WebsiteConfiguration" in b or b.get("AccessControl") not in (None, "Private"):
        errors.append("ConsoleBucket: website hosting or a public ACL makes it readable without CloudFront")
    policies = [props(t, lid) for lid, r in res(t).items()
                if r.get("Type") == "AWS::S3::BucketPolicy" and props(t, lid).get("Bucket") == {"Ref": "ConsoleBucket"}]
    for policy in policies:
        for st in (policy.get("PolicyDocument") or {}).get("Statement") or []:
            if st.get("Effect") != "Allow":
                continue
            principal = st.get("Principal")
            source = ((st.get("Condition") or {}).get("StringEquals") or {}).get("AWS:SourceArn")
            if principal != {"Service": "cloudfront.amazonaws.com"} or "ConsoleDistribution" not in json.dumps(source):
                errors.append(f"ConsoleBucket: the policy allows {principal!r} (not only the console's distribution)")
    origins = ((props(t, "ConsoleDistribution").get("DistributionConfig") or {}).get("Origins") or []) if "ConsoleDistribution" in res(t) else []
    s3 = [o for o in origins if "S3OriginConfig" in o]
    if not s3 or any("OriginAccessControlId" not in o or (o["S3OriginConfig"] or {}).get("OriginAccessIdentity") for o in s3):
        errors.append("ConsoleDistribution: the bucket is not read through an origin access control")
    return errors


def case(name: str, fn: Callable[[], str]) -> None:
    t0 = time.monotonic()
    try:
        detail = fn()
        RESULTS.append(True)
        print(f"  ok   {name} ({time.monotonic() - t0:.2f}s): {detail}")
    except AssertionError as err:
        RESULTS.append(False)
        print(f"  FAIL {name}: {err}")
    except Exception as err:  # noqa: BLE001 - a crash is a failure, named
        RESULTS.append(False)
        print(f"  FAIL {name}: {type(err).__name__}: {err}")


def main() -> int:
    template = load_template(TEMPLATE)
    samconfig = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
    checks: dict[str, Callable[[dict[str, Any]], list[str]]] = {
        "stream_mapping_bounded_with_a_failure_destination": check_stream_mapping,
        "publish_batch_fits_its_timeout": check_publish_sizing,
        "alarms_see_stuck_shards_api_venue_dynamodb_concurrency": check_alarms,
        "no_secret_in_function_configuration": check_secrets_not_in_config,
        "concurrency_capped_and_reserved": check_concurrency,
        "prod_config_cannot_keep_placeholders": lambda t: check_prod_config(t, samconfig),
        "scopes_audit_policy_rule_targets_tracing_names": check_hardening,
        "audit_copy_write_once_never_given_up": check_write_once_copy,
        "console_bucket_private_behind_cloudfront": check_console_private,
    }
    # Known open, reported but not failing the run (none now).
    pending: dict[str, str] = {}
    print("infra/template.yaml and samconfig.toml against issues 15 and 16")
    for name, check in checks.items():
        if name in pending:
            errors = check(template)
            if errors:
                print(f"  PENDING {name}: {pending[name]}: {errors[0][:160]}")
                continue

        def real(check: Callable[[dict[str, Any]], list[str]] = check) -> str:
            errors = check(template)
            assert not errors, "\n    " + "\n    ".join(errors)
            return "holds"

        case(name, real)

    def mutated(check: Callable[[dict[str, Any]], list[str]], change: Callable[[dict[str, Any]], None], needle: str):
        def run() -> str:
            t = copy.deepcopy(template)
            change(t)
            errors = check(t)
            assert errors, "the mutation was not refused"
            hits = [e for e in errors if needle in e]
            assert hits, f"refused, but not for {needle!r}: {errors}"
            return hits[0]

        return run

    def stream(t: dict[str, Any]) -> dict[str, Any]:
        return event_of(t, "DynamoDB")[1]

    def set_env(t: dict[str, Any]) -> None:
        env = props(t, "ExecuteFunction").setdefault("Environment", {}).setdefault("Variables", {})
        env["VENUE_API_SECRET_KEY"] = {"Fn::Sub": "{{resolve:secretsmanager:${VenueSecretArn}:SecretString:secret_key}}"}

    def prod_placeholder(cfg: dict[str, Any]) -> dict[str, Any]:
        c = copy.deepcopy(cfg)
        c["prod"]["deploy"]["parameters"]["parameter_overrides"].append(
            "JwtIssuer=https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE"
        )
        return c

    def prod_paper(cfg: dict[str, Any]) -> dict[str, Any]:
        c = copy.deepcopy(cfg)
        o = c["prod"]["deploy"]["parameters"]["parameter_overrides"]
        o[:] = [x for x in o if not x.startswith("VenueBaseUrl=")] + ["VenueBaseUrl=https://paper-api.alpaca.markets"]
        return c

    mutations = [
        ("refuses_unbounded_retries", check_stream_mapping, lambda t: stream(t).update(MaximumRetryAttempts=-1), "MaximumRetryAttempts"),
        ("refuses_unbounded_record_age", check_stream_mapping, lambda t: stream(t).update(MaximumRecordAgeInSeconds=-1), "MaximumRecordAgeInSeconds"),
        ("refuses_no_failure_destination", check_stream_mapping, lambda t: stream(t).pop("DestinationConfig"), "DestinationConfig"),
        ("refuses_no_bisect", check_stream_mapping, lambda t: stream(t).update(BisectBatchOnFunctionError=False), "Bisect"),
        ("refuses_a_batch_that_outlasts_the_timeout", check_publish_sizing, lambda t: stream(t).update(BatchSize=100), "BatchSize 100"),
        ("refuses_a_missing_alarm", check_alarms, lambda t: res(t).pop("Api5xxAlarm"), "Api5xxAlarm is missing"),
        ("refuses_a_silent_long_iterator_alarm", check_alarms, lambda t: props(t, "PublishIteratorAgeLongAlarm").update(TreatMissingData="notBreaching"), "silence"),
        ("refuses_a_venue_alarm_without_its_filter", check_alarms, lambda t: res(t).pop("VenueErrorsMetric"), "VenueErrors"),
        ("refuses_a_secret_in_the_environment", check_secrets_not_in_config, set_env, "resolves a secret"),
        ("refuses_a_plain_key_in_the_environment", check_secrets_not_in_config, lambda t: props(t, "IntakeFunction")["Environment"]["Variables"].update(VENUE_API_KEY_ID="PKTEST"), "VENUE_API_KEY_ID is in"),
        ("refuses_a_default_secret", check_secrets_not_in_config, lambda t: t["Parameters"]["VenueSecretArn"].update(Default="arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf"), "has a default"),
        ("refuses_an_uncapped_work_mapping", check_concurrency, lambda t: event_of(t, "SQS")[1].pop("ScalingConfig"), "MaximumConcurrency"),
        ("refuses_unreserved_submit", check_concurrency, lambda t: props(t, "SubmitFunction").pop("ReservedConcurrentExecutions"), "SubmitFunction"),
        ("refuses_a_placeholder_default", lambda t: check_prod_config(t, samconfig), lambda t: t["Parameters"]["JwtIssuer"].update(Default="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE"), "JwtIssuer has a default"),
        ("refuses_a_route_without_scopes", check_hardening, lambda t: props(t, "HttpApi")["Auth"]["Authorizers"]["TraderJwt"].pop("AuthorizationScopes"), "AuthorizationScopes"),
        ("refuses_a_rule_target_without_dlq", check_hardening, lambda t: props(t, "StatusEventsTapRule")["Targets"][0].pop("DeadLetterConfig"), "DeadLetterConfig"),
        ("refuses_an_explicit_function_name", check_hardening, lambda t: props(t, "ExecuteFunction").update(FunctionName={"Fn::Sub": "${AWS::StackName}-execute"}), "FunctionName"),
        ("refuses_an_extra_audit_writer", check_hardening, lambda t: props(t, "QueryRole").update(Tags=[{"Key": "orders-audit-writer", "Value": "true"}]), "audit writer tags"),
        ("refuses_a_governance_mode_copy", check_write_once_copy, lambda t: props(t, "AuditArchiveBucket")["ObjectLockConfiguration"]["Rule"]["DefaultRetention"].update(Mode="GOVERNANCE"), "not COMPLIANCE"),
        ("refuses_an_archive_that_gives_records_up", check_write_once_copy, lambda t: props(t, "ArchiveFunction")["Events"]["AuditStream"]["Properties"].update(MaximumRetryAttempts=10), "gives records up"),
        ("refuses_a_role_that_can_delete_the_copy", check_write_once_copy, lambda t: props(t, "ArchiveRole")["Policies"][0]["PolicyDocument"]["Statement"].append({"Effect": "Allow", "Action": ["s3:DeleteObjectVersion"], "Resource": "*"}), "s3:DeleteObjectVersion"),
        ("refuses_an_archive_without_its_digest", check_write_once_copy, lambda t: props(t, "ArchiveFunction")["Events"].pop("DailyDigest"), "daily schedule"),
        ("refuses_a_public_console_bucket", check_console_private, lambda t: props(t, "ConsoleBucket")["PublicAccessBlockConfiguration"].update(RestrictPublicBuckets=False), "public access"),
        ("refuses_console_website_hosting", check_console_private, lambda t: props(t, "ConsoleBucket").update(WebsiteConfiguration={"IndexDocument": "index.html"}), "website hosting"),
        ("refuses_a_console_policy_for_everyone", check_console_private, lambda t: props(t, "ConsoleBucketPolicy")["PolicyDocument"]["Statement"].append({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}), "not only the console's distribution"),
        ("refuses_a_console_origin_without_oac", check_console_private, lambda t: props(t, "ConsoleDistribution")["DistributionConfig"]["Origins"][0].pop("OriginAccessControlId"), "origin access control"),
    ]  # fmt: skip
    for name, check, change, needle in mutations:
        case(name, mutated(check, change, needle))
    case(
        "refuses_a_placeholder_in_samconfig_prod",
        lambda: next(e for e in check_prod_config(template, prod_placeholder(samconfig)) if "placeholder" in e),
    )
    case(
        "refuses_samconfig_prod_on_the_paper_venue",
        lambda: next(e for e in check_prod_config(template, prod_paper(samconfig)) if "VenueBaseUrl" in e),
    )
    failed = RESULTS.count(False)
    print(f"{RESULTS.count(True)} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
