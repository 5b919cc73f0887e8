#!/usr/bin/env python3
# Long because: the code scan, the permissions table and the self-checks that the checks bite belong together.
"""The functions' IAM policies grant exactly what their code calls (make lint-infra).

    .venv/bin/python tools/test_iam.py

infra/permissions.yaml is the one table of what each function may do. This checks it
against both sides, then checks that the checks bite:

  code      the AWS adapters (shared/src/adapters/aws/*.rs, and each module directory
            there, e.g. dynamo/, as one adapter) are scanned for the SDK
            operations each port method makes: `.client.<op>()` calls and transaction
            items (`Put::builder()` ...), with the table / queue / bus each one names
            (`.table_name(...)`, followed through helper functions and their
            arguments, across the files of a directory). Each function's main.rs says which adapters it builds over
            which resources (`resources.orders_table` -> ORDERS_TABLE -> the template's
            Globals -> OrdersTable); its lib.rs and the use cases it imports
            (shared/src/app) say which port methods it calls. The result must equal the
            table's `calls`: a use the table lacks, or a listed action no code makes,
            fails.
  template  each function has its own role (no SAM `Policies`, no managed policies, no
            wildcards, no NotAction/NotResource), which allows exactly the table's
            `calls` plus what Lambda needs for it (its log group, its event source's
            poller); no role allows anything on the audit table beyond put/get/query,
            and every role explicitly denies the audit writes; the query function's
            data access is read-only.
  self      mutated templates, tables and sources (audit UpdateItem granted, a used
            action missing, the Deny removed, a wildcard, code calling an unlisted
            operation, ...) must each be refused.

Plain asserts; prints `N passed, M failed` and exits non-zero on any failure.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from provision import load_template  # noqa: E402  (CloudFormation short-form tags)

TEMPLATE = ROOT / "infra" / "template.yaml"
PERMISSIONS = ROOT / "infra" / "permissions.yaml"
ADAPTERS = "shared/src/adapters/aws"
APP = "shared/src/app"

Grants = set[tuple[str, str]]  # (resource logical id or path, IAM action)


class ScanError(Exception):
    """The scanner met code it cannot read with certainty: fail rather than guess."""


# ---------------------------------------------------------------------------
# Rust source, just enough of it
# ---------------------------------------------------------------------------


def mask(src: str) -> str:
    """Comments and the insides of string / char literals blanked (same length), so
    braces and calls can be matched on code alone."""
    out = list(src)
    i, n = 0, len(src)

    def blank(a: int, b: int) -> None:
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            blank(i, j)
            i = j
        elif c == "r" and re.match(r'r#*"', src[i:]) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            hashes = re.match(r"r(#*)\"", src[i:]).group(1)  # type: ignore[union-attr]
            start = i + 2 + len(hashes)
            j = src.find('"' + hashes, start)
            j = n if j < 0 else j
            blank(start, j)
            i = j + 1 + len(hashes)
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            blank(i + 1, j)
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|[^\\'])'", src[i:])
            if m:
                blank(i + 1, i + len(m.group(0)) - 1)
                i += len(m.group(0))
            else:
                i += 1  # a lifetime
        else:
            i += 1
    return "".join(out)


PAIRS = {"(": ")", "{": "}", "[": "]"}


def matching(masked: str, open_at: int) -> int:
    """Index of the bracket closing the one at open_at."""
    stack = []
    for k in range(open_at, len(masked)):
        c = masked[k]
        if c in PAIRS:
            stack.append(PAIRS[c])
        elif c in ")}]":
            if not stack or stack.pop() != c:
                raise ScanError(f"unbalanced {c!r} at {k}")
            if not stack:
                return k
    raise ScanError(f"no closing bracket for {masked[open_at]!r} at {open_at}")


def split_args(masked: str, src: str, open_at: int) -> list[str]:
    """The top-level comma-separated arguments of the call whose '(' is at open_at."""
    close = matching(masked, open_at)
    args, depth, start = [], 0, open_at + 1
    for k in range(open_at + 1, close):
        c = masked[k]
        if c in PAIRS:
            depth += 1
        elif c in ")}]":
            depth -= 1
        elif c == "," and depth == 0:
            args.append(src[start:k].strip())
            start = k + 1
    last = src[start:close].strip()
    if last:
        args.append(last)
    return args


def without_tests(src: str) -> str:
    """`#[cfg(test)]` items blanked out (test modules call ports the function never does)."""
    masked = mask(src)
    out = list(src)
    for m in re.finditer(r"#\[cfg\(test\)\]", masked):
        brace = masked.find("{", m.end())
        semi = masked.find(";", m.end())
        if brace < 0 or (0 <= semi < brace):
            continue
        for k in range(m.start(), matching(masked, brace) + 1):
            if out[k] != "\n":
                out[k] = " "
    return "".join(out)


@dataclass
class RustFn:
    name: str
    params: list[str]  # names, without self
    body: tuple[int, int]  # masked/src indices of the body, braces excluded
    trait: str | None  # `impl Trait for Type` it is in
    for_type: str | None


@dataclass
class RustFile:
    path: str
    src: str
    masked: str = ""
    fns: dict[str, RustFn] = field(default_factory=dict)
    duplicates: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.src = without_tests(self.src)
        self.masked = mask(self.src)
        impls = []
        for m in re.finditer(r"\bimpl\b(?:\s*<[^>{]*>)?\s+([^{;]*?)\s*\{", self.masked):
            header = m.group(1)
            close = matching(self.masked, m.end() - 1)
            tm = re.fullmatch(r"(\w+)(?:<[^>]*>)?\s+for\s+(\w+)(?:<[^>]*>)?", header.strip())
            impls.append((m.end(), close, tm.group(1) if tm else None, tm.group(2) if tm else header.strip()))
        for m in re.finditer(r"\bfn\s+(\w+)\s*(?:<[^>{]*>)?\s*\(", self.masked):
            name = m.group(1)
            pclose = matching(self.masked, m.end() - 1)
            brace = self.masked.find("{", pclose)
            semi = self.masked.find(";", pclose)
            if brace < 0 or (0 <= semi < brace):
                continue  # a declaration without a body
            close = matching(self.masked, brace)
            params = []
            for arg in split_args(self.masked, self.src, m.end() - 1):
                pm = re.match(r"(?:mut\s+)?(\w+)\s*:", arg)
                if pm and pm.group(1) != "self":
                    params.append(pm.group(1))
            trait = for_type = None
            for start, end, t, ty in impls:
                if start <= m.start() <= end:
                    trait, for_type = t, ty
            if name in self.fns and name != "new":
                self.duplicates.add(name)
            if name == "new" and trait is not None:
                continue
            self.fns.setdefault(name, RustFn(name, params, (brace + 1, close), trait, for_type))


# ---------------------------------------------------------------------------
# Code side: which IAM actions on which resources each function's code makes
# ---------------------------------------------------------------------------


@dataclass
class Adapter:
    struct: str
    service: str  # dynamodb | sqs | eventbridge
    file: RustFile
    resource_params: list[str]  # `new(client, <these>...)`, stored as self.<name>
    trait_methods: set[str]


RESOURCE_SETTERS = r"(?:table_name|queue_url|event_bus_name|bucket)"


class CodeScan:
    def __init__(self, perms: dict[str, Any], template: dict[str, Any], overrides: dict[str, str] | None = None):
        self.perms = perms
        self.template = template
        self.overrides = overrides or {}
        self.sdk: dict[str, dict[str, list[str]]] = perms["sdk_operations"]
        self.items: dict[str, str] = perms["transaction_items"]
        self._memo: dict[tuple[str, str, tuple[tuple[str, str], ...]], Grants] = {}

    def read(self, rel: str) -> str:
        if rel in self.overrides:
            return self.overrides[rel]
        return (ROOT / rel).read_text(encoding="utf-8")

    def exists(self, rel: str) -> bool:
        return rel in self.overrides or (ROOT / rel).is_file()

    # -- adapters ------------------------------------------------------------
    def adapter_sources(self) -> dict[str, list[str]]:
        """Each adapter's files: a file directly under ADAPTERS, or every .rs file of a
        module directory there (`dynamo/`: one adapter split by concern), read as one
        source so helpers are followed across its files."""
        paths = {str(p.relative_to(ROOT)) for p in (ROOT / ADAPTERS).rglob("*.rs")} | {
            k for k in self.overrides if k.startswith(ADAPTERS + "/") and k.endswith(".rs")
        }
        units: dict[str, list[str]] = {}
        for rel in sorted(paths):
            parts = Path(rel).relative_to(ADAPTERS).parts
            unit = rel if len(parts) == 1 else f"{ADAPTERS}/{parts[0]}"
            units.setdefault(unit, []).append(rel)
        return units

    def adapters(self) -> dict[str, Adapter]:
        found: dict[str, Adapter] = {}
        for rel, files in sorted(self.adapter_sources().items()):
            rf = RustFile(rel, "\n".join(self.read(f) for f in files))
            sm = re.search(r"\buse\s+aws_sdk_(\w+)::Client\s*;", rf.masked)
            new = rf.fns.get("new")
            if not sm or not new or not new.for_type:
                continue
            if rf.duplicates:
                raise ScanError(f"{rel}: several functions named {sorted(rf.duplicates)}; the scanner resolves helpers by name")
            service = sm.group(1)
            if service not in self.sdk:
                raise ScanError(f"{rel}: SDK aws_sdk_{service} has no entry in permissions.yaml sdk_operations")
            traits = {f.name for f in rf.fns.values() if f.trait and f.for_type == new.for_type}
            found[new.for_type] = Adapter(new.for_type, service, rf, [p for p in new.params if p != "client"], traits)
        if not found:
            raise ScanError(f"no adapters found under {ADAPTERS}")
        return found

    def resource_after(self, ad: Adapter, body: str, src: str, pos: int, bindings: dict[str, str]) -> str:
        """The resource the operation starting at pos names: the argument of the first
        `.table_name(...)` / `.queue_url(...)` / `.event_bus_name(...)` of its statement,
        else the adapter's only resource."""
        end = body.find(";", pos)
        end = len(body) if end < 0 else end
        m = re.search(rf"\.\s*{RESOURCE_SETTERS}\s*\(", body[pos:end])
        if m:
            args = split_args(body, src, pos + m.end() - 1)
            return self.bind(args[0] if args else "", bindings)
        if len(ad.resource_params) == 1:
            return f"self.{ad.resource_params[0]}"
        raise ScanError(f"{ad.file.path}: an operation at offset {pos} names no table and {ad.struct} has several")

    @staticmethod
    def bind(expr: str, bindings: dict[str, str]) -> str:
        e = re.sub(r"\s+", "", expr).lstrip("&")
        if e in bindings:
            return bindings[e]
        return e

    def effect(self, ad: Adapter, fn_name: str, bindings: dict[str, str], stack: tuple[str, ...] = ()) -> Grants:
        key = (ad.struct, fn_name, tuple(sorted(bindings.items())))
        if key in self._memo:
            return self._memo[key]
        if fn_name in stack:
            return set()
        fn = ad.file.fns[fn_name]
        a, b = fn.body
        body, src = ad.file.masked[a:b], ad.file.src[a:b]
        out: Grants = set()
        for m in re.finditer(r"\bclient\s*\.\s*(\w+)\s*\(\s*\)", body):
            op = m.group(1)
            if op not in self.sdk[ad.service]:
                raise ScanError(
                    f"{ad.file.path}: {fn_name} calls {ad.service} operation `{op}`, which permissions.yaml "
                    "sdk_operations does not map to IAM actions"
                )
            actions = self.sdk[ad.service][op]
            if not actions:
                continue
            resource = self.resource_after(ad, body, src, m.end(), bindings)
            if op in self.perms.get("object_operations", []):
                resource += "/*"
            method = self.perms.get("connection_operations", {}).get(op)
            if method:
                resource += f"/{method}/@connections"
            for action in actions:
                out.add((resource, action))
                if action == "dynamodb:Query":
                    for im in re.finditer(r"\.\s*index_name\s*\(\s*\"([^\"]+)\"", src):
                        out.add((f"{resource}/index/{im.group(1)}", action))
        for m in re.finditer(r"\b(\w+)::builder\s*\(\s*\)", body):
            if m.group(1) in self.items:
                out.add((self.resource_after(ad, body, src, m.end(), bindings), self.items[m.group(1)]))
        for helper in ad.file.fns:
            if helper in (fn_name, "new"):
                continue
            pattern = rf"(?<![\w.)\]>])(?:(?:self|[a-z_]\w*)\s*\.\s*)?\b{helper}\s*\("
            for m in re.finditer(pattern, body):
                args = split_args(body, src, m.end() - 1)
                params = ad.file.fns[helper].params
                sub = {p: self.bind(args[i], bindings) for i, p in enumerate(params) if i < len(args)}
                out |= self.effect(ad, helper, sub, stack + (fn_name,))
        self._memo[key] = out
        return out

    # -- functions -------------------------------------------------------------
    def env_to_logical(self, function: str) -> dict[str, str]:
        """Resources field -> logical id, via mod.rs's env var names and the template's
        Globals; then permissions.yaml's `function_fields` (a resource a main.rs names
        by a variable of that name), via the function's own Environment."""
        mod = mask(self.read(f"{ADAPTERS}/mod.rs"))
        src = self.read(f"{ADAPTERS}/mod.rs")
        variables = self.template["Globals"]["Function"]["Environment"]["Variables"]
        out = {}
        for m in re.finditer(r"(\w+)\s*:\s*var\(\s*\"", mod):
            env = re.match(r"(\w+)\s*:\s*var\(\s*\"(\w+)\"", src[m.start():]).group(2)  # type: ignore[union-attr]
            value = variables.get(env)
            if not (isinstance(value, dict) and "Ref" in value):
                raise ScanError(f"{env} (Resources.{m.group(1)}) is not a !Ref in the template's Globals")
            out[m.group(1)] = value["Ref"]
        own = self.template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
        for field_name, env in self.perms.get("function_fields", {}).items():
            value = own.get(env)
            if value is None:
                continue
            if not (isinstance(value, dict) and "Ref" in value):
                raise ScanError(f"{function}: {env} ({field_name}) is not a !Ref in its Environment")
            out[field_name] = value["Ref"]
        return out

    def app_modules(self, masked: str, seen: set[str]) -> list[str]:
        reexports = {}
        mod_src = mask(self.read(f"{APP}/mod.rs"))
        for m in re.finditer(r"pub\s+use\s+(\w+)::\{([^}]*)\}", mod_src):
            for name in m.group(2).split(","):
                reexports[name.strip()] = m.group(1)
        names = []
        for m in re.finditer(r"(?:shared|crate)::app::(\w+)|(?:shared|crate)::app::\{([^}]*)\}|\bsuper::(\w+)|\bsuper::\{([^}]*)\}", masked):
            for group in m.groups():
                if group:
                    names += [x.strip().split("::")[0] for x in group.split(",") if x.strip()]
        out = []
        for name in names:
            module = name if self.exists(f"{APP}/{name}.rs") else reexports.get(name)
            if module and module not in seen:
                seen.add(module)
                out.append(module)
        return out

    def function_grants(self, name: str) -> Grants:
        adapters = self.adapters()
        fields = self.env_to_logical(self.perms["functions"][name]["resource"])
        main = mask(without_tests(self.read(f"functions/{name}/src/main.rs")))
        main_src = without_tests(self.read(f"functions/{name}/src/main.rs"))
        built: dict[str, dict[str, str]] = {}  # struct -> self.<param> -> logical id
        for struct, ad in adapters.items():
            for m in re.finditer(rf"\b{struct}::new\s*\(", main):
                args = split_args(main, main_src, m.end() - 1)[1:]  # after the client
                if len(args) != len(ad.resource_params):
                    raise ScanError(f"functions/{name}/src/main.rs: {struct}::new with {len(args)} resources")
                mapping = {}
                for param, arg in zip(ad.resource_params, args):
                    fm = re.fullmatch(r"&?\s*(?:resources\s*\.\s*)?(\w+)(?:\.clone\(\))?", arg.strip())
                    if not fm or fm.group(1) not in fields:
                        raise ScanError(f"functions/{name}/src/main.rs: {struct}::new gets `{arg}`, not a Resources field")
                    mapping[f"self.{param}"] = fields[fm.group(1)]
                if struct in built and built[struct] != mapping:
                    raise ScanError(f"functions/{name}: two {struct}s over different resources")
                built[struct] = mapping
        # The code that can call ports: main.rs, lib.rs and the use cases they import.
        sources = [main]
        lib = f"functions/{name}/src/lib.rs"
        if self.exists(lib):
            sources.append(mask(without_tests(self.read(lib))))
        seen: set[str] = set()
        queue = [m for s in sources for m in self.app_modules(s, seen)]
        while queue:
            module = queue.pop(0)
            text = mask(without_tests(self.read(f"{APP}/{module}.rs")))
            sources.append(text)
            queue += self.app_modules(text, seen)
        called = {m.group(1) for s in sources for m in re.finditer(r"\.\s*(\w+)\s*\(", s)}
        out: Grants = set()
        for struct, mapping in built.items():
            ad = adapters[struct]
            for method in sorted(ad.trait_methods & called):
                for resource, action in self.effect(ad, method, {}):
                    head, _, rest = resource.partition("/")
                    if head not in mapping:
                        raise ScanError(f"{ad.file.path}: {method} touches `{resource}`, not one of {struct}'s resources")
                    out.add((mapping[head] + ("/" + rest if rest else ""), action))
        return out


# ---------------------------------------------------------------------------
# Template side
# ---------------------------------------------------------------------------


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def resource_name(r: Any) -> str:
    """A policy Resource as a logical path: !GetAtt T.Arn -> T, !Sub ${T.Arn}/index/I -> T/index/I."""
    if isinstance(r, dict) and "Fn::GetAtt" in r:
        lid, attr = r["Fn::GetAtt"]
        return {"Arn": lid, "StreamArn": f"{lid}/stream"}.get(attr, f"{lid}.{attr}")
    if isinstance(r, dict) and "Fn::Sub" in r and isinstance(r["Fn::Sub"], str):
        m = re.fullmatch(r"\$\{(\w+)\.Arn\}(/.*)?", r["Fn::Sub"])
        if m:
            return m.group(1) + (m.group(2) or "")
        # A WebSocket API's connections: arn:...:execute-api:...:${Api}/${Stage}/POST/@connections/* -> Api/POST/@connections
        m = re.fullmatch(
            r"arn:\$\{AWS::Partition\}:execute-api:\$\{AWS::Region\}:\$\{AWS::AccountId\}:\$\{(\w+)\}/(?:\$\{\w+\}|\w+)/([A-Z]+)/@connections/\*",
            r["Fn::Sub"],
        )
        if m:
            return f"{m.group(1)}/{m.group(2)}/@connections"
    if isinstance(r, dict) and "Ref" in r:
        return r["Ref"]
    return r if isinstance(r, str) else repr(r)


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for policy in (role.get("Properties") or {}).get("Policies") or []:
        out += as_list((policy.get("PolicyDocument") or {}).get("Statement") or [])
    return out


def role_grants(
    role: dict[str, Any],
    effect: str,
    errors: list[str],
    who: str,
    unscoped: frozenset[str] = frozenset(),
    buckets: frozenset[str] = frozenset(),
) -> Grants:
    """(resource, action) pairs of the role's statements of `effect`. `unscoped`: actions
    that have no resource-level permissions (X-Ray's), the only ones allowed on "*".
    `buckets`: the template's S3 buckets, whose objects (BUCKET/*) may be named."""
    out: Grants = set()
    for st in statements(role):
        for key in ("NotAction", "NotResource", "NotPrincipal"):
            if key in st:
                errors.append(f"{who}: a statement uses {key}")
        if st.get("Effect") != effect:
            continue
        for action in as_list(st.get("Action") or []):
            if "*" in action or "?" in action:
                errors.append(f"{who}: wildcard action {action}")
            for r in as_list(st.get("Resource") or []):
                name = resource_name(r)
                objects = name.endswith("/*") and name[:-2] in buckets and "*" not in name[:-2]
                if effect == "Allow" and "*" in name and not name.endswith("/stream/*") and not objects and not (
                    name == "*" and action in unscoped
                ):
                    errors.append(f"{who}: {action} on wildcard resource {name}")
                out.add((name, action))
    return out


def check_template(template: dict[str, Any], perms: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    res = template["Resources"]
    table = perms["functions"]
    audit, allowed, denied = perms["audit_table"], set(perms["audit_allowed"]), perms["audit_denied"]
    tracing_actions = frozenset(perms["platform"]["tracing"])
    glob_tracing = ((template.get("Globals") or {}).get("Function") or {}).get("Tracing")

    functions = {lid for lid, r in res.items() if r.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function")}
    listed = {f["resource"] for f in table.values()}
    for lid in sorted(functions - listed):
        errors.append(f"function {lid} is not in infra/permissions.yaml")
    for lid in sorted(listed - functions):
        errors.append(f"permissions.yaml lists {lid}, which the template does not have")
    dirs = {p.parent.name for p in (ROOT / "functions").glob("*/Cargo.toml")}
    if dirs != set(table):
        errors.append(f"functions/ has {sorted(dirs)}, permissions.yaml has {sorted(table)}")

    # Anything that could give a function more: SAM policies, managed policies, attached policies.
    glob_fn = (template.get("Globals") or {}).get("Function") or {}
    for key in ("Policies", "Role", "PermissionsBoundary"):
        if key in glob_fn:
            errors.append(f"Globals.Function sets {key}")
    roles = {f["role"] for f in table.values()}
    for lid, r in res.items():
        if r.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            targets = {resource_name(x) for x in as_list((r.get("Properties") or {}).get("Roles") or [])}
            if targets & roles:
                errors.append(f"{lid} attaches a policy to {sorted(targets & roles)}: keep the roles' policies inline")

    for name, f in table.items():
        fn = res.get(f["resource"])
        if not fn:
            continue
        props = fn.get("Properties") or {}
        who = f"{name} ({f['role']})"
        if "Policies" in props:
            errors.append(f"{f['resource']} has SAM Policies: SAM would make its own role; use Role")
        if props.get("Role") != {"Fn::GetAtt": [f["role"], "Arn"]}:
            errors.append(f"{f['resource']}.Role is not !GetAtt {f['role']}.Arn")
        role = res.get(f["role"])
        if not role or role.get("Type") != "AWS::IAM::Role":
            errors.append(f"{f['role']} is not an AWS::IAM::Role of the template")
            continue
        rprops = role.get("Properties") or {}
        if rprops.get("ManagedPolicyArns"):
            errors.append(f"{who}: managed policies {rprops['ManagedPolicyArns']}")
        trust = as_list((rprops.get("AssumeRolePolicyDocument") or {}).get("Statement") or [])
        principals = [st.get("Principal") for st in trust]
        if principals != [{"Service": "lambda.amazonaws.com"}]:
            errors.append(f"{who}: trusted by {principals}, not only lambda.amazonaws.com")
        if sum(1 for r in res.values() if (r.get("Properties") or {}).get("Role") == {"Fn::GetAtt": [f["role"], "Arn"]}) != 1:
            errors.append(f"{who}: the role is shared; each function has its own")

        # Expected: the table's calls + the platform's needs.
        expected: Grants = {(r, a) for r, actions in (f.get("calls") or {}).items() for a in actions}
        # The function logs to its own log group (LoggingConfig), and only there.
        log_group = res.get(f["log_group"]) or {}
        logging = props.get("LoggingConfig") or {}
        if log_group.get("Type") != "AWS::Logs::LogGroup" or logging.get("LogGroup") != {"Ref": f["log_group"]}:
            errors.append(f"{who}: {f['resource']}.LoggingConfig.LogGroup is not !Ref {f['log_group']}")
        expected |= {(f["log_group"], a) for a in perms["platform"]["log_group"]}
        if (props.get("Tracing") or glob_tracing) == "Active":
            expected |= {("*", a) for a in tracing_actions}
        for ev_name, ev in (props.get("Events") or {}).items():
            etype, eprops = ev.get("Type"), ev.get("Properties") or {}
            if etype == "SQS":
                expected |= {(resource_name(eprops["Queue"]), a) for a in perms["platform"]["SQS"]}
            elif etype == "DynamoDB":
                stream = resource_name(eprops["Stream"])
                expected |= {(stream + "/*", a) for a in perms["platform"]["DynamoDB"]}
            # HttpApi and Schedule push to the function (a resource-based permission SAM
            # adds): nothing on its role.
            elif etype not in ("HttpApi", "Schedule"):
                errors.append(f"{who}: event {ev_name} of type {etype}: add its poller's needs to permissions.yaml platform")
            # Lambda sends a stream mapping's failure records with the function's role.
            dest = ((eprops.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            if dest is not None:
                kind = str(((eprops.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Type", "SQS"))
                actions = perms["platform"]["on_failure"].get(kind)
                if actions is None:
                    errors.append(f"{who}: event {ev_name}: on-failure destination type {kind} not in permissions.yaml platform")
                else:
                    expected |= {(resource_name(dest), a) for a in actions}

        # Lambda sends an asynchronous invocation's failure record with the function's role.
        invoke_dest = (((props.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get("OnFailure") or {})
        if invoke_dest.get("Destination") is not None:
            actions = perms["platform"]["on_failure"].get(str(invoke_dest.get("Type", "SQS")))
            if actions is None:
                errors.append(f"{who}: EventInvokeConfig on-failure type {invoke_dest.get('Type')} not in permissions.yaml platform")
            else:
                expected |= {(resource_name(invoke_dest["Destination"]), a) for a in actions}

        buckets = frozenset(lid for lid, r in res.items() if r.get("Type") == "AWS::S3::Bucket")
        granted = role_grants(role, "Allow", errors, who, tracing_actions, buckets)
        for r, a in sorted(granted - expected):
            errors.append(f"{who}: allows {a} on {r}, which permissions.yaml does not list")
        for r, a in sorted(expected - granted):
            errors.append(f"{who}: misses {a} on {r}, which the function uses")

        # Append-only audit table.
        for r, a in sorted(granted):
            if r.endswith("/stream/*"):
                continue  # reading a table's stream (its poller) changes nothing
            if r.split("/")[0] in (audit, "*") and a not in allowed and not (r == "*" and a in tracing_actions):
                errors.append(f"{who}: allows {a} on the audit table (only {sorted(allowed)} may be)")
        denies = role_grants(role, "Deny", errors, who)
        for a in denied:
            if (audit, a) not in denies:
                errors.append(f"{who}: no explicit Deny of {a} on the audit table")

        # Read-only functions.
        if f.get("read_only"):
            reads = set(perms["read_only_actions"])
            for r, a in sorted(granted):
                if a.startswith("dynamodb:") and a not in reads and not r.endswith("/stream/*"):
                    errors.append(f"{who}: read-only function allows {a} on {r}")
                if not a.startswith(("dynamodb:", "logs:")) and a not in tracing_actions:
                    errors.append(f"{who}: read-only function allows {a} on {r}")
            for r, actions in (f.get("calls") or {}).items():
                for a in actions:
                    if a not in reads:
                        errors.append(f"permissions.yaml: read-only {name} lists {a} on {r}")

    # Every other role of the template too: nothing beyond put/get/query on the audit table.
    for lid, r in res.items():
        if r.get("Type") == "AWS::IAM::Role" and lid not in roles:
            for rr, a in role_grants(r, "Allow", errors, lid, tracing_actions):
                if rr.split("/")[0] in (audit, "*") and a not in allowed and not (rr == "*" and a in tracing_actions):
                    errors.append(f"{lid}: allows {a} on the audit table")
    for name, f in table.items():
        for r, actions in (f.get("calls") or {}).items():
            for a in actions:
                if r.split("/")[0] == audit and a not in allowed:
                    errors.append(f"permissions.yaml: {name} lists {a} on the audit table")
    return errors


def check_code(template: dict[str, Any], perms: dict[str, Any], overrides: dict[str, str] | None = None) -> list[str]:
    errors: list[str] = []
    scan = CodeScan(perms, template, overrides)
    for name, f in perms["functions"].items():
        listed: Grants = {(r, a) for r, actions in (f.get("calls") or {}).items() for a in actions}
        try:
            used = scan.function_grants(name)
        except ScanError as err:
            errors.append(f"{name}: {err}")
            continue
        for r, a in sorted(used - listed):
            errors.append(f"{name}: the code calls {a} on {r}, which permissions.yaml does not list")
        for r, a in sorted(listed - used):
            errors.append(f"{name}: permissions.yaml lists {a} on {r}, which no code of the function calls")
    return errors


# ---------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------

RESULTS: list[tuple[str, bool, str]] = []


def case(name: str, fn: Callable[[], str]) -> None:
    t0 = time.monotonic()
    try:
        detail = fn()
        RESULTS.append((name, True, detail))
        print(f"  ok   {name} ({time.monotonic() - t0:.2f}s): {detail}")
    except AssertionError as err:
        RESULTS.append((name, False, str(err)))
        print(f"  FAIL {name}: {err}")
    except Exception as err:  # noqa: BLE001 - a crash is a failure, named
        RESULTS.append((name, False, repr(err)))
        print(f"  FAIL {name}: {type(err).__name__}: {err}")


def expect_refused(errors: list[str], *needles: str) -> str:
    assert errors, "the mutation was not refused"
    hits = [e for e in errors if all(n in e for n in needles)]
    assert hits, f"refused, but not for {needles}: {errors}"
    return hits[0]


def role_statements(t: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def main() -> int:
    template = load_template(TEMPLATE)
    perms = yaml.safe_load(PERMISSIONS.read_text(encoding="utf-8"))

    def real_template() -> str:
        errors = check_template(template, perms)
        assert not errors, "\n    " + "\n    ".join(errors)
        return f"{len(perms['functions'])} roles allow exactly permissions.yaml + platform; audit append-only; query read-only"

    def real_code() -> str:
        errors = check_code(template, perms)
        assert not errors, "\n    " + "\n    ".join(errors)
        scan = CodeScan(perms, template)
        return "; ".join(
            f"{n}: {len(scan.function_grants(n))} (resource, action) pairs" for n in perms["functions"]
        ) + " = permissions.yaml"

    def scanner_sees_the_known_operations() -> str:
        # Independent of the table: facts read off the code by hand (2026-11).
        scan = CodeScan(perms, template)
        ex, pub, q = scan.function_grants("execute"), scan.function_grants("publish"), scan.function_grants("query")
        for pair in [("WorkQueue", "sqs:ChangeMessageVisibility"), ("WorkQueue", "sqs:SendMessage"),
                     ("AuditTable", "dynamodb:PutItem"), ("OrdersTable", "dynamodb:UpdateItem")]:  # fmt: skip
            assert pair in ex, f"execute: {pair} not found by the scanner: {sorted(ex)}"
        assert ("StatusEventBus", "events:PutEvents") in pub, sorted(pub)
        assert ("OrdersTable/index/GSI1", "dynamodb:Query") in q, sorted(q)
        assert not any(a not in ("dynamodb:GetItem", "dynamodb:Query") for _, a in q), sorted(q)
        submit = scan.function_grants("submit")
        # The fast path (issue 17): submit sends the execute message itself; publish reads
        # the order before it sends the backstop.
        assert ("WorkQueue", "sqs:SendMessage") in submit, f"submit's fast path not found: {sorted(submit)}"
        assert ("OrdersTable", "dynamodb:GetItem") in pub, f"publish's order read not found: {sorted(pub)}"
        return "execute: SendMessage + ChangeMessageVisibility; publish: PutEvents + order read; query: reads only, GSI1; submit: SendMessage (fast path)"

    def sam_transform_adds_no_iam() -> str:
        # SAM adds roles / managed policies of its own to functions without `Role` (and
        # for their event sources): translate the template as `sam deploy` would, offline.
        sam_python = ROOT / ".venv-sam" / "bin" / "python"
        if not sam_python.exists():
            return "skipped: no .venv-sam (make sam-venv)"
        script = (
            "import json, sys\n"
            "from samtranslator.translator.transform import transform\n"
            "from samtranslator.yaml_helper import yaml_parse\n"
            "t = yaml_parse(open(sys.argv[1]).read())\n"
            "for r in t['Resources'].values():\n"
            "    if r['Type'] == 'AWS::Serverless::Function': r['Properties']['CodeUri'] = 's3://bucket/code.zip'\n"
            "class Policies:\n"
            "    def load(self): return {}\n"
            "print(json.dumps(transform(t, {}, Policies())))\n"
        )
        env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
        run = subprocess.run([str(sam_python), "-c", script, str(TEMPLATE)], capture_output=True, text=True, env=env)
        assert run.returncode == 0, f"SAM transform failed: {run.stderr.strip()[-2000:]}"
        out = json.loads(run.stdout)["Resources"]
        iam = sorted(k for k, v in out.items() if v["Type"].startswith("AWS::IAM::"))
        assert iam == sorted(f["role"] for f in perms["functions"].values()), f"IAM resources after the transform: {iam}"
        assert [r for r in iam if out[r]["Properties"].get("ManagedPolicyArns")] == [], "SAM attached managed policies"
        for f in perms["functions"].values():
            fn = out[f["resource"]]
            assert fn["Properties"]["Role"] == {"Fn::GetAtt": [f["role"], "Arn"]}, fn["Properties"]["Role"]
            assert fn["Properties"]["Architectures"] == ["arm64"], fn["Properties"]["Architectures"]
            assert fn["Properties"]["Runtime"] == "provided.al2023", fn["Properties"]["Runtime"]
        stmts = [s for r in iam for s in statements(out[r])]
        assert stmts == [s for r in iam for s in statements(template["Resources"][r])], "SAM changed a policy"
        return f"after the SAM transform the only IAM resources are {', '.join(iam)}, unchanged, no managed policies"

    def mutate(fn: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        t = copy.deepcopy(template)
        fn(t)
        return t

    def audit_update_granted() -> str:
        def m(t: dict[str, Any]) -> None:
            for st in role_statements(t, "ExecuteRole"):
                if st.get("Sid") == "AuditAppend":
                    st["Action"] = ["dynamodb:PutItem", "dynamodb:UpdateItem"]
        return expect_refused(check_template(mutate(m), perms), "UpdateItem", "audit table")

    def audit_update_in_another_role() -> str:
        def m(t: dict[str, Any]) -> None:
            t["Resources"]["OpsRole"] = copy.deepcopy(t["Resources"]["QueryRole"])
            role_statements(t, "OpsRole").append(
                {"Effect": "Allow", "Action": "dynamodb:DeleteItem", "Resource": {"Fn::GetAtt": ["AuditTable", "Arn"]}}
            )
        return expect_refused(check_template(mutate(m), perms), "OpsRole", "DeleteItem", "audit table")

    def used_action_missing() -> str:
        def m(t: dict[str, Any]) -> None:
            for st in role_statements(t, "ExecuteRole"):
                if st.get("Sid") == "WorkQueue":
                    st["Action"] = [a for a in st["Action"] if a != "sqs:ChangeMessageVisibility"]
        return expect_refused(check_template(mutate(m), perms), "misses sqs:ChangeMessageVisibility")

    def deny_removed() -> str:
        def m(t: dict[str, Any]) -> None:
            sts = role_statements(t, "SubmitRole")
            sts[:] = [s for s in sts if s.get("Effect") != "Deny"]
        return expect_refused(check_template(mutate(m), perms), "no explicit Deny")

    def wildcard_granted() -> str:
        def m(t: dict[str, Any]) -> None:
            role_statements(t, "QueryRole").append(
                {"Effect": "Allow", "Action": "dynamodb:*", "Resource": {"Fn::GetAtt": ["OrdersTable", "Arn"]}}
            )
        return expect_refused(check_template(mutate(m), perms), "wildcard")

    def archive_deletes_or_wildcards() -> str:
        def m(t: dict[str, Any]) -> None:
            for st in role_statements(t, "ArchiveRole"):
                if st.get("Sid") == "WriteOnceCopy":
                    st["Action"] = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
            role_statements(t, "ArchiveRole").append(
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::someone-elses-bucket/*"}
            )
        errors = check_template(mutate(m), perms)
        expect_refused(errors, "allows s3:DeleteObject on AuditArchiveBucket/*")
        return expect_refused(errors, "wildcard resource arn:aws:s3:::someone-elses-bucket/*")

    def query_writes() -> str:
        def m(t: dict[str, Any]) -> None:
            for st in role_statements(t, "QueryRole"):
                if st.get("Sid") == "OrdersTable":
                    st["Action"] = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"]
        return expect_refused(check_template(mutate(m), perms), "read-only")

    def sam_policies_or_managed() -> str:
        def m(t: dict[str, Any]) -> None:
            t["Resources"]["SubmitFunction"]["Properties"]["Policies"] = ["AmazonDynamoDBFullAccess"]
            t["Resources"]["CancelRole"]["Properties"]["ManagedPolicyArns"] = ["arn:aws:iam::aws:policy/AdministratorAccess"]
        errors = check_template(mutate(m), perms)
        expect_refused(errors, "managed policies")
        return expect_refused(errors, "SAM Policies")

    def table_lists_unused() -> str:
        p = copy.deepcopy(perms)
        p["functions"]["submit"]["calls"]["OrdersTable"].append("dynamodb:DeleteItem")
        return expect_refused(check_code(template, p), "submit", "DeleteItem", "no code")

    def code_uses_unlisted() -> str:
        # The query handler starts calling a write port: the code now needs writes the table lacks.
        lib = "functions/query/src/lib.rs"
        src = (ROOT / lib).read_text(encoding="utf-8")
        src += "\nasync fn sneaky(s: &dyn OrderStore, w: TransitionWrite) { let _ = s.transition(w).await; }\n"
        errors = check_code(template, perms, {lib: src})
        expect_refused(errors, "query", "dynamodb:PutItem on AuditTable", "does not list")
        return expect_refused(errors, "query", "dynamodb:UpdateItem on OrdersTable")

    def adapter_gains_an_operation() -> str:
        # The audit adapter grows an update: the scanner finds it and the table refuses it.
        path = f"{ADAPTERS}/dynamo/audit.rs"
        src = (ROOT / path).read_text(encoding="utf-8")
        needle = "    async fn records(&self, order: &OrderId)"
        assert needle in src, "dynamo/audit.rs changed shape: update this self-test"
        patched = src.replace(
            needle,
            "    async fn records(&self, order: &OrderId) -> Result<Vec<AuditRecord>, StoreError> {\n"
            "        let _ = self.client.update_item().table_name(&self.audit_table).send().await;\n"
            "        self.records_inner(order).await\n    }\n"
            "    async fn records_inner(&self, order: &OrderId)",
        )
        errors = check_code(template, perms, {path: patched})
        return expect_refused(errors, "query", "UpdateItem on AuditTable")

    def helper_in_another_file() -> str:
        # dynamo/ is one adapter over several files: an operation added to a helper of
        # mod.rs is found from the trait methods of audit.rs (and orders.rs) that call it.
        path = f"{ADAPTERS}/dynamo/mod.rs"
        src = (ROOT / path).read_text(encoding="utf-8")
        needle = "    async fn query_prefix(&self, table: &str, pk: String, prefix: &str) -> Result<Vec<Item>, StoreError> {\n"
        assert needle in src, "dynamo/mod.rs changed shape: update this self-test"
        patched = src.replace(needle, needle + "        let _ = self.client.delete_item().table_name(table).send().await;\n")
        errors = check_code(template, perms, {path: patched})
        return expect_refused(errors, "query", "DeleteItem on AuditTable")

    def unknown_operation() -> str:
        path = f"{ADAPTERS}/sqs.rs"
        src = (ROOT / path).read_text(encoding="utf-8")
        patched = src.replace(".send_message()", ".purge_queue()", 1)
        return expect_refused(check_code(template, perms, {path: patched}), "purge_queue", "sdk_operations")

    def failure_destination_grant_missing() -> str:
        def m(t: dict[str, Any]) -> None:
            stmts = role_statements(t, "PublishRole")
            stmts[:] = [st for st in stmts if st.get("Sid") != "StreamFailureDestination"]
        return expect_refused(check_template(mutate(m), perms), "misses sqs:SendMessage on PublishFailureQueue")

    def wildcard_beyond_tracing() -> str:
        def m(t: dict[str, Any]) -> None:
            for st in role_statements(t, "QueryRole"):
                if st.get("Sid") == "Tracing":
                    st["Action"] = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetTraceSummaries"]
        return expect_refused(check_template(mutate(m), perms), "xray:GetTraceSummaries", "wildcard")

    def log_group_not_the_functions() -> str:
        def m(t: dict[str, Any]) -> None:
            t["Resources"]["ExecuteFunction"]["Properties"]["LoggingConfig"]["LogGroup"] = {"Ref": "PublishLogGroup"}
        return expect_refused(check_template(mutate(m), perms), "ExecuteFunction.LoggingConfig.LogGroup")

    def new_function_unlisted() -> str:
        def m(t: dict[str, Any]) -> None:
            t["Resources"]["ReportFunction"] = copy.deepcopy(t["Resources"]["QueryFunction"])
        return expect_refused(check_template(mutate(m), perms), "ReportFunction", "not in infra/permissions.yaml")

    print(f"IAM policies of {TEMPLATE.relative_to(ROOT)} against {PERMISSIONS.relative_to(ROOT)} and the code")
    case("template_roles_match_the_table", real_template)
    case("code_matches_the_table", real_code)
    case("scanner_sees_the_known_operations", scanner_sees_the_known_operations)
    case("sam_transform_adds_no_iam", sam_transform_adds_no_iam)
    case("refuses_audit_update_grant", audit_update_granted)
    case("refuses_audit_delete_in_any_role", audit_update_in_another_role)
    case("refuses_missing_used_action", used_action_missing)
    case("refuses_missing_audit_deny", deny_removed)
    case("refuses_wildcard_action", wildcard_granted)
    case("refuses_query_write", query_writes)
    case("refuses_sam_and_managed_policies", sam_policies_or_managed)
    case("refuses_table_action_no_code_calls", table_lists_unused)
    case("refuses_code_calling_unlisted_port", code_uses_unlisted)
    case("refuses_adapter_gaining_an_operation", adapter_gains_an_operation)
    case("refuses_operation_in_a_helper_of_another_file", helper_in_another_file)
    case("refuses_unmapped_sdk_operation", unknown_operation)
    case("refuses_function_missing_from_table", new_function_unlisted)
    case("refuses_missing_failure_destination_grant", failure_destination_grant_missing)
    case("refuses_wildcard_beyond_tracing", wildcard_beyond_tracing)
    case("refuses_logging_to_another_log_group", log_group_not_the_functions)
    case("refuses_archive_deletes_and_foreign_objects", archive_deletes_or_wildcards)
    passed = sum(1 for _, ok, _ in RESULTS if ok)
    failed = len(RESULTS) - passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
