#!/usr/bin/env python3
"""Self-check of tools/deploy_console.py's upload against the local emulator's S3 (the
template's ConsoleBucket as tools/provision.py made it): every console file lands under
`console/` with its content type (ES modules as JavaScript, or browsers refuse them),
config.js names the stack's LiveUrl, and a file no longer in console/ is removed.

    .venv/bin/python tools/test_deploy_console.py --endpoint "$AWS_ENDPOINT_URL" --bucket "$CONSOLE_BUCKET_NAME"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deploy_console  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--bucket", required=True)
    args = ap.parse_args()
    s3 = boto3.client("s3", endpoint_url=args.endpoint, region_name="us-east-1")
    s3.put_object(Bucket=args.bucket, Key="console/old.js", Body=b"stale")
    outputs = {"LiveUrl": "wss://live.example/prod", "ConsoleUrl": "https://c.example/", "ConsoleBucketName": args.bucket}
    objects = deploy_console.files(outputs)
    stale = deploy_console.upload(s3, args.bucket, objects)
    failures = []
    expect = {
        "console/index.html": "text/html; charset=utf-8",
        "console/style.css": "text/css; charset=utf-8",
        "console/js/app.js": "text/javascript; charset=utf-8",
        "console/config.js": "text/javascript; charset=utf-8",
    }
    for key, kind in expect.items():
        head = s3.head_object(Bucket=args.bucket, Key=key)
        if head["ContentType"] != kind:
            failures.append(f"{key}: content type {head['ContentType']!r}, not {kind!r}")
    config = s3.get_object(Bucket=args.bucket, Key="console/config.js")["Body"].read().decode()
    if '"liveUrl": "wss://live.example/prod"' not in config or "export default" not in config:
        failures.append(f"config.js does not name the LiveUrl as a module: {config!r}")
    if stale != ["console/old.js"]:
        failures.append(f"removed {stale}, not the stale console/old.js")
    for f in failures:
        print(f"  FAIL {f}")
    print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
