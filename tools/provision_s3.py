"""S3 buckets of the local stack (tools/provision_stack.py), set as the template sets
them: versioning, Object Lock with its default retention (Object Lock can only be
enabled when a bucket is created), public access block, default encryption.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


def bucket(s3: Any, name: str, props: dict[str, Any]) -> bool:
    """Creates bucket `name` unless it exists, then applies `props`; True if it existed."""
    lock = str(props.get("ObjectLockEnabled", "")).lower() == "true"
    try:
        s3.head_bucket(Bucket=name)
        existed = True
    except ClientError:
        existed = False
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
    status = (props.get("VersioningConfiguration") or {}).get("Status")
    if status:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
    config = props.get("ObjectLockConfiguration")
    if config:
        retention = ((config.get("Rule") or {}).get("DefaultRetention")) or {}
        rule = {k: int(v) if k in ("Days", "Years") else v for k, v in retention.items()}
        wanted: dict[str, Any] = {"ObjectLockEnabled": config.get("ObjectLockEnabled", "Enabled")}
        if rule:
            wanted["Rule"] = {"DefaultRetention": rule}
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=wanted)
    if props.get("PublicAccessBlockConfiguration"):
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                k: str(v).lower() == "true" for k, v in props["PublicAccessBlockConfiguration"].items()
            },
        )
    if props.get("BucketEncryption"):
        # CloudFormation lists the rules and names the default ServerSideEncryptionByDefault;
        # the API wraps them in {"Rules": [...]} and names it ApplyServerSideEncryptionByDefault.
        rules = [
            {("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
             for k, v in rule.items()}
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]  # fmt: skip
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    return existed
