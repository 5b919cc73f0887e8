#!/usr/bin/env python3
"""Self-test of tools/reliability_report.py (make test): a rewrite of RELIABILITY.md keeps
its hand-written sections.

    python3 tools/test_reliability_report.py

Plain asserts; prints `N passed, M failed` and exits non-zero on any failure.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import reliability_report as rr  # noqa: E402

RENDERED = "# Reliability and security report\n\n| new | table |\n"


def test_hand_written_sections_are_kept_after_the_new_table():
    previous = "# Reliability\n\n| old | table |\n\n## Written by hand: a long run\n\nrow A\n\n## Written by hand: another\n\nrow B\n"
    out = rr.with_kept(RENDERED, previous)
    assert out.startswith(RENDERED.rstrip("\n")), out
    assert "| old | table |" not in out, out
    assert out.endswith("## Written by hand: a long run\n\nrow A\n\n## Written by hand: another\n\nrow B\n"), out


def test_without_hand_written_sections_the_report_is_the_rendered_one():
    assert rr.with_kept(RENDERED, "# Reliability\n\n| old | table |\n") == RENDERED
    assert rr.with_kept(RENDERED, "") == RENDERED


def test_the_repository_report_has_its_hand_written_section():
    text = (ROOT / "RELIABILITY.md").read_text(encoding="utf-8")
    kept = rr.kept_sections(text)
    assert kept.startswith(rr.KEPT), kept[:80]


def main() -> int:
    tests = [(name, f) for name, f in sorted(globals().items()) if name.startswith("test_") and callable(f)]
    failed = 0
    for name, f in tests:
        try:
            f()
        except Exception:  # noqa: BLE001 - report every failure, then exit non-zero
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
    print(f"{len(tests) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
