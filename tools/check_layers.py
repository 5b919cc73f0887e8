#!/usr/bin/env python3
"""The house rules `make test` holds the sources to (issue 21), stdlib only, in well under a second:

    python3 tools/check_layers.py            # prints each breach, exits 1 if there is any
    python3 tools/check_layers.py --self-test

1. No file under shared/src/app/ (the use cases) imports the HTTP layer: `crate::http`
   or `shared::http`. Use cases return domain outcomes and errors; shared/src/http/
   alone turns them into status codes and problem+json.
2. No file under shared/src/adapters/ imports a use case: `crate::app` or `shared::app`.
   Adapters implement ports and know the domain and the ports only.
   Below them: the domain (shared/src/domain/) imports none of the ports, use cases,
   HTTP layer, adapters or config, and the ports (shared/src/ports.rs, or ports/ once
   split) none of the use cases, HTTP layer or adapters.
3. No source file (.rs, .py, .sh under shared/, functions/, tools/, tests/, scripts/)
   is over 400 lines unless one of its first 20 lines says why it stays long, with the
   marker `Long because:` (in a comment or docstring), e.g.
       //! Long because: one transition table and its exhaustive tests.

Comment lines (`//`, `#`) do not count as imports, so a doc comment may name a module.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400
HEADER_LINES = 20
MARKER = "Long because:"
SOURCE_DIRS = ("shared", "functions", "tools", "tests", "scripts")
SOURCE_SUFFIXES = (".rs", ".py", ".sh")
SKIP_DIRS = {"target", ".venv", ".venv-sam", "__pycache__", "node_modules", ".aws-sam", ".git"}


def import_pattern(modules: str) -> re.Pattern[str]:
    """`crate::m`, `shared::m`, and `m` inside a `crate::{...}` / `shared::{...}` group,
    for each m of `modules` (`a|b`)."""
    return re.compile(rf"\b(?:crate|shared)::(?:(?:{modules})\b|\{{[^}}]*\b(?:{modules})\b)")


# (file or directory whose .rs files are checked, the modules they must not use, why)
LAYER_RULES = (
    ("shared/src/app", "http", "a use case imports the HTTP layer"),
    ("shared/src/adapters", "app", "an adapter imports a use case"),
    ("shared/src/domain", "ports|app|http|adapters|config", "the domain imports an outer layer"),
    ("shared/src/ports.rs", "app|http|adapters", "a port imports an outer layer"),
    ("shared/src/ports", "app|http|adapters", "a port imports an outer layer"),
)


def code_lines(text: str) -> Iterator[tuple[int, str]]:
    """Numbered lines that are not whole-line comments."""
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if not stripped.startswith(("//", "#")):
            yield n, line


def files_under(root: Path, rel: str, suffixes: tuple[str, ...]) -> Iterator[Path]:
    base = root / rel
    if base.is_file() and base.suffix in suffixes:
        yield base
        return
    if not base.is_dir():
        return
    for path in sorted(base.rglob("*")):
        if path.is_file() and path.suffix in suffixes and not SKIP_DIRS.intersection(path.relative_to(root).parts):
            yield path


def layer_breaches(root: Path) -> list[str]:
    found = []
    for rel, module, why in LAYER_RULES:
        pattern = import_pattern(module)
        # Grouped imports span lines: join each file's code before matching groups.
        for path in files_under(root, rel, (".rs",)):
            text = path.read_text(encoding="utf-8", errors="replace")
            lines = list(code_lines(text))
            code = "\n".join(line for _, line in lines)
            for match in pattern.finditer(code):
                n = lines[code.count("\n", 0, match.start())][0]
                found.append(f"{path.relative_to(root)}:{n}: {why} ({match.group(0).split(chr(10))[0]})")
    return found


def long_file_breaches(root: Path) -> list[str]:
    found = []
    for rel in SOURCE_DIRS:
        for path in files_under(root, rel, SOURCE_SUFFIXES):
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            if len(lines) > MAX_LINES and not any(MARKER in line for line in lines[:HEADER_LINES]):
                found.append(
                    f"{path.relative_to(root)}: {len(lines)} lines (over {MAX_LINES}): split it by concern, "
                    f"or say why it stays long in a '{MARKER}' line within its first {HEADER_LINES} lines"
                )
    return found


def check(root: Path) -> list[str]:
    return layer_breaches(root) + long_file_breaches(root)


def self_test() -> int:
    """Each rule refuses a tree that breaks it and passes one that keeps it."""
    failures = 0

    def expect(name: str, files: dict[str, str], breaches: int) -> None:
        nonlocal failures
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for rel, text in files.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text(text)
            got = check(root)
        if len(got) != breaches:
            failures += 1
            print(f"FAIL {name}: expected {breaches} breach(es), got {got}")

    long_body = "x = 1\n" * (MAX_LINES + 1)
    expect("app imports http", {"shared/src/app/a.rs": "use crate::http::problem::ApiError;\n"}, 1)
    expect("app imports http in a group", {"shared/src/app/a.rs": "use crate::{\n    domain::X,\n    http,\n};\n"}, 1)
    expect("app names shared::http in code", {"shared/src/app/a.rs": "fn f() { shared::http::x(); }\n"}, 1)
    expect("app mentions http in a comment", {"shared/src/app/a.rs": "//! see `shared::http::problem`\n"}, 0)
    expect("app imports the domain", {"shared/src/app/a.rs": "use crate::domain::Order;\nuse crate::httpx;\n"}, 0)
    expect("adapter imports app", {"shared/src/adapters/aws/s.rs": "use crate::app::publish::OrderChange;\n"}, 1)
    expect("adapter calls app", {"shared/src/adapters/m.rs": "let n = crate::app::plan_submit(x);\n"}, 1)
    expect("adapter imports ports", {"shared/src/adapters/m.rs": "use crate::ports::OrderStore;\n"}, 0)
    expect("domain imports a port", {"shared/src/domain/o.rs": "use crate::ports::StoreError;\n"}, 1)
    expect("domain imports config", {"shared/src/domain/o.rs": "use crate::{config, domain::Order};\n"}, 1)
    expect("domain imports itself", {"shared/src/domain/o.rs": "use crate::domain::money::usd;\n"}, 0)
    expect("ports import app", {"shared/src/ports.rs": "use crate::app::AppError;\n"}, 1)
    expect("split ports import http", {"shared/src/ports/store.rs": "use shared::http::Problem;\n"}, 1)
    expect("ports import the domain", {"shared/src/ports.rs": "use crate::domain::Order;\n"}, 0)
    expect("long file", {"tools/big.py": long_body}, 1)
    expect("long file with header", {"tools/big.py": "# Long because: a table.\n" + long_body}, 0)
    expect("header too far down", {"tools/big.py": "\n" * HEADER_LINES + "# Long because: x\n" + long_body}, 1)
    expect("long file in target", {"tools/gateway/target/big.rs": long_body}, 0)
    expect("400 lines exactly", {"scripts/s.sh": "x\n" * MAX_LINES}, 0)
    expect("long data file", {"tools/big.json": long_body}, 0)
    print("self-test:", "ok" if failures == 0 else f"{failures} failed")
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["--self-test"]:
        return self_test()
    breaches = check(ROOT)
    for b in breaches:
        print(b)
    if breaches:
        print(f"check_layers: {len(breaches)} breach(es) (tools/check_layers.py)", file=sys.stderr)
        return 1
    print("check_layers: layers hold, long files say why")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
