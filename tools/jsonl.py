"""JSON Lines, split where JSON Lines splits: on "\n" only.

`str.splitlines()` (and anything built on it) also breaks on U+0085, U+2028,
U+2029, \\v, \\f and \\x1c-\\x1e. JSON writers (serde_json among them) leave
U+0085/U+2028/U+2029 unescaped inside strings, and our problem details echo
client input back, so a record holding one of them would be cut in two. Every
tool that reads a JSON-lines file reads it through `json_lines`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator


def json_lines(path: Path | str) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) of every non-blank line, split on "\\n" only
    (a "\\r" before it is dropped)."""
    text = Path(path).read_text(encoding="utf-8")
    for number, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if line.strip(" \t"):
            yield number, line
