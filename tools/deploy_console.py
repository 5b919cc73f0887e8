#!/usr/bin/env python3
"""Uploads the web console to a deployed stack (`make deploy`, after `sam deploy`).

    .venv/bin/python tools/deploy_console.py --config-env default

Reads the stack's outputs (samconfig.toml's stack name and region for --config-env):
`ConsoleBucketName`, `LiveUrl`, `ConsoleUrl`. Uploads every file of console/ to the
bucket under `console/` with its content type (ES modules need a JavaScript type), a
`console/config.js` naming the stack's LiveUrl (the HTTP API is on the console's own
origin, under /api), deletes objects under `console/` that are no longer in console/,
and invalidates the distribution so the new files show at once.
`--endpoint-url` points it at the local emulator (its self-check does).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
import tomllib
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "console"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def config_js(outputs: dict[str, str]) -> str:
    settings = {
        "apiBase": "",
        "liveUrl": outputs["LiveUrl"],
        "traderScope": outputs.get("ConsoleTraderScope", "orders/trade"),
        "operatorScope": outputs.get("ConsoleOperatorScope", "orders/operate"),
    }
    return "// Written by tools/deploy_console.py for this stack.\nexport default " + json.dumps(settings, indent=2) + ";\n"


def files(outputs: dict[str, str]) -> dict[str, tuple[bytes, str]]:
    """Object key → (bytes, content type) of everything to upload."""
    out = {}
    for path in sorted(CONSOLE.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            out[f"console/{path.relative_to(CONSOLE).as_posix()}"] = (path.read_bytes(), kind)
    out["console/config.js"] = (config_js(outputs).encode(), TYPES[".js"])
    return out


def upload(s3, bucket: str, objects: dict[str, tuple[bytes, str]]) -> list[str]:
    for key, (body, kind) in objects.items():
        cache = "no-cache" if key.endswith((".html", "config.js")) else "max-age=300"
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind, CacheControl=cache)
    stale = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="console/"):
        stale += [o["Key"] for o in page.get("Contents", []) if o["Key"] not in objects]
    for key in stale:
        s3.delete_object(Bucket=bucket, Key=key)
    return stale


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config-env", default="default", help="samconfig.toml environment (default | prod)")
    ap.add_argument("--endpoint-url", help="an emulator instead of AWS")
    args = ap.parse_args()
    sam = tomllib.loads((ROOT / "samconfig.toml").read_text())
    try:
        params = sam[args.config_env]["deploy"]["parameters"]
    except KeyError:
        print(f"deploy_console: samconfig.toml has no [{args.config_env}.deploy.parameters]", file=sys.stderr)
        return 2
    session = boto3.session.Session(region_name=params["region"])
    cfn = session.client("cloudformation", endpoint_url=args.endpoint_url)
    stack = cfn.describe_stacks(StackName=params["stack_name"])["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [k for k in ("ConsoleBucketName", "LiveUrl", "ConsoleUrl") if k not in outputs]
    if missing:
        print(f"deploy_console: stack {params['stack_name']} has no output {', '.join(missing)}", file=sys.stderr)
        return 1
    s3 = session.client("s3", endpoint_url=args.endpoint_url)
    objects = files(outputs)
    stale = upload(s3, outputs["ConsoleBucketName"], objects)
    print(f"deploy_console: {len(objects)} files to s3://{outputs['ConsoleBucketName']}/console/, {len(stale)} removed")
    resources = cfn.describe_stack_resource(StackName=params["stack_name"], LogicalResourceId="ConsoleDistribution")
    distribution = resources["StackResourceDetail"]["PhysicalResourceId"]
    session.client("cloudfront", endpoint_url=args.endpoint_url).create_invalidation(
        DistributionId=distribution,
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": str(time.time_ns())},
    )
    print(f"deploy_console: the console is at {outputs['ConsoleUrl']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
