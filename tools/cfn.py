"""CloudFormation templates read and resolved locally, without AWS calls.

* `load_template`: YAML with CloudFormation's short-form tags (`!Ref x` becomes
  {"Ref": "x"}, `!GetAtt a.b` {"Fn::GetAtt": ["a", "b"]}, `!Sub s` {"Fn::Sub": s}, ...).
* `Resolver`: one template's parameters (with --param overrides), conditions, pseudo
  parameters, mappings and intrinsic functions; what a resource's Ref or GetAtt is
  (`attr`) is the subclass's to say (tools/provision_stack.py creates the resource).

Used by tools/provision.py, tools/test_iam.py and tools/test_template.py.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"

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


class Resolver:
    """Resolves a template's values; `attr` says what a resource's Ref / GetAtt is."""

    def __init__(self, template: dict[str, Any], prefix: str, region: str, params: dict[str, str]):
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
        """A resource's Ref (`attribute` None) or GetAtt."""
        raise Unresolvable(f"{logical_id}: resources are not resolved by a bare Resolver")

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
