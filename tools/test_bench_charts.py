#!/usr/bin/env python3
"""Self-test of tools/bench_charts.py (make test): the charts carry BENCHMARKS.md's figures.

    python3 tools/test_bench_charts.py

Plain asserts; prints `N passed, M failed` and exits non-zero on any failure.
"""

from __future__ import annotations

import re
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import bench_charts as bc  # noqa: E402

TEXT = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")


def titles(svg: str) -> list[str]:
    return re.findall(r"<title>([^<]*)</title>", svg)


def test_every_load_level_is_read():
    levels = bc.load_levels(TEXT)
    assert [lv.traders for lv in levels] == [1, 10, 100], [lv.traders for lv in levels]
    for lv in levels:
        assert "submit over HTTP" in lv.latency, lv.latency.keys()
        assert lv.ours_per_s and lv.floor_per_s


def test_each_latency_bar_shows_its_figure():
    levels = bc.load_levels(TEXT)
    svg = bc.latency_chart(levels)
    tips = titles(svg)
    one = levels[0].latency["submit over HTTP"]
    assert f"submit over HTTP, 1 trader, ours p50: {one[0]:g} ms" in tips, tips[:6]
    assert f"submit over HTTP, 1 trader, floor p99: {one[3]:g} ms" in tips
    # 3 figures x 3 levels x (ours, floor) x (p50, p99)
    assert len([t for t in tips if " ms" in t]) == 36, len(tips)


def test_costs_add_up_to_the_tables_totals():
    services, kinds = bc.load_costs(TEXT)
    assert services[0] == "HTTP API" and "DynamoDB writes" in services, services
    marketable = dict(kinds)["marketable limit order, filled at once"]
    # The table's own total for that row (the first bold figure), whatever the run measured.
    row = next(line for line in TEXT.splitlines() if line.startswith("| marketable limit order, filled at once |"))
    total = float(re.search(r"\*\*\$([0-9.]+)\*\*", row).group(1))
    assert abs(sum(marketable) - total) < 0.02, (sum(marketable), total)
    assert f"${sum(marketable):.2f}" in bc.cost_chart(services, kinds)


def test_a_venue_calls_table_gets_its_chart():
    table = "| resting orders | venue calls per minute | 429s |\n|---|---:|---:|\n| 10 | 31 | 0 |\n| 1,000 | 33 | 0 |\n"
    assert bc.load_venue_calls(table) == [(10.0, 31.0), (1000.0, 33.0)]
    # The repository's own venue-calls section (if any) cut off, so that this table is the one read.
    head = TEXT.split("## Venue calls per minute")[0]
    charts = bc.draw(head + "\n" + table)
    assert "1000 resting orders: 33 venue calls a minute" in titles(charts["venue_calls.svg"])


def test_a_missing_table_is_refused_by_name():
    for cut, says in (("### 1 concurrent trader", "concurrent traders"), ("### Cost per million orders", "Cost per million")):
        text = TEXT.replace(cut, "### something else") if "Cost" in cut else re.sub(r"### \d+ concurrent traders?", "### x", TEXT)
        try:
            bc.draw(text)
        except ValueError as e:
            assert says in str(e), e
        else:
            raise AssertionError(f"drew charts without {cut!r}")


def main() -> int:
    tests = [(name, fn) for name, fn in globals().items() if name.startswith("test_") and callable(fn)]
    failed = 0
    for name, fn in tests:
        try:
            fn()
            print(f"  ok   {name}")
        except Exception:  # noqa: BLE001 (report every failure, go on)
            failed += 1
            print(f"  FAIL {name}\n{traceback.format_exc()}")
    print(f"{len(tests) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
