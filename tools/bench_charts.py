#!/usr/bin/env python3
"""SVG charts of BENCHMARKS.md, drawn next to it (issue 21): `make bench` runs it last.

    python3 tools/bench_charts.py [--benchmarks BENCHMARKS.md] [--out bench-charts]

Reads the figures from BENCHMARKS.md's own tables and sentences (the one record of a
run), so the charts always show what the file says:

  latency.svg     submit over HTTP, submit in process and submit -> FILLED, p50 and
                  p99 per load level, ours against the bare-SDK floor like for like
                  (each level's first table: the floor limited to our instances per
                  function, in process against its calls alone; log scale);
  throughput.svg  whole order lives per second against concurrent traders, ours and
                  the floor's limited to our instances;
  cost.svg        dollars per million orders of each kind, by AWS service (batch 1);
  venue_calls.svg venue calls per minute against resting orders, when BENCHMARKS.md
                  has that table ("resting orders | venue calls per minute").

Plain SVG written by hand (no plotting package, no browser); every bar and point
carries a <title> with its figure, so a reader hovering sees the number. Standard
library only. Exit 1 when a table the charts need is missing.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent

# Colours that stay apart for colour-blind readers (Okabe-Ito).
OURS, FLOOR = "#0072B2", "#E69F00"
SERVICES = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]
FONT = 'font-family="Helvetica, Arial, sans-serif"'


@dataclass
class Level:
    traders: int
    # figure -> (ours p50, ours p99, floor p50, floor p99); floor None where there is none.
    latency: dict[str, tuple[float, float, float | None, float | None]]
    ours_per_s: float | None
    floor_per_s: float | None


def table_rows(lines: list[str], start: int) -> tuple[list[str], list[list[str]]]:
    """The Markdown table beginning at or after `start`: header cells and body rows."""
    i = start
    while i < len(lines) and not lines[i].startswith("|"):
        i += 1
    rows = []
    while i < len(lines) and lines[i].startswith("|"):
        rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
        i += 1
    if len(rows) < 2:
        return [], []
    return rows[0], rows[2:]


def number(cell: str) -> float | None:
    m = re.search(r"-?[\d,]+(?:\.\d+)?", cell.replace("$", ""))
    return float(m.group(0).replace(",", "")) if m else None


def load_levels(text: str) -> list[Level]:
    lines = text.splitlines()
    levels = []
    for i, line in enumerate(lines):
        m = re.match(r"### (\d+) concurrent traders?$", line)
        if not m:
            continue
        header, rows = table_rows(lines, i + 1)
        if not header or header[0] != "figure":
            continue
        latency = {}
        for r in rows:
            if len(r) >= 5 and number(r[1]) is not None and number(r[2]) is not None:
                latency[r[0]] = (number(r[1]), number(r[2]), number(r[3]), number(r[4]))  # type: ignore[assignment]
        section = "\n".join(lines[i:i + 40])
        ours = re.search(r"\*\*([\d.]+) terminal orders/s\*\*", section)
        floor = re.search(r"floor: [\d,]+ whole lives, \*\*([\d.]+)/s\*\*", section)
        levels.append(Level(int(m.group(1)), latency, float(ours.group(1)) if ours else None,
                            float(floor.group(1)) if floor else None))
    return levels


def load_costs(text: str) -> tuple[list[str], list[tuple[str, list[float]]]]:
    """Services and, per order kind, dollars per million by service (batch 1)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "### Cost per million orders":
            header, rows = table_rows(lines, i + 1)
            if not header or header[0] != "order kind":
                break
            services = [h for h in header[1:] if not h.startswith("total")]
            kinds = []
            for r in rows:
                values = [number(c) or 0.0 for c in r[1:1 + len(services)]]
                kinds.append((r[0], values))
            return services, kinds
    return [], []


def load_venue_calls(text: str) -> list[tuple[float, float]]:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and "resting orders" in line and "venue calls per minute" in line:
            header, rows = table_rows(lines, i)
            col = next(j for j, h in enumerate(header) if "venue calls per minute" in h)
            points = [(number(r[0]), number(r[col])) for r in rows]
            return [(x, y) for x, y in points if x is not None and y is not None]
    return []


class Svg:
    def __init__(self, width: int, height: int, title: str):
        self.width, self.height = width, height
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
            f'<rect width="{width}" height="{height}" fill="white"/>',
            f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold" {FONT}>'
            f"{escape(title)}</text>",
        ]

    def text(self, x: float, y: float, s: str, size: int = 11, anchor: str = "middle", extra: str = "") -> None:
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
                          f'{FONT} {extra}>{escape(s)}</text>')

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: str = "#999", width: float = 1) -> None:
        self.parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                          f'stroke="{colour}" stroke-width="{width}"/>')

    def bar(self, x: float, y: float, w: float, h: float, colour: str, tip: str, opacity: float = 1.0) -> None:
        self.parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
                          f'fill="{colour}" fill-opacity="{opacity}"><title>{escape(tip)}</title></rect>')

    def point(self, x: float, y: float, colour: str, tip: str) -> None:
        self.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"><title>{escape(tip)}</title></circle>')

    def polyline(self, points: list[tuple[float, float]], colour: str) -> None:
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        self.parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')

    def legend(self, x: float, y: float, items: list[tuple[str, str]]) -> None:
        for i, (label, colour) in enumerate(items):
            self.bar(x, y + i * 16 - 9, 10, 10, colour, label)
            self.text(x + 15, y + i * 16, label, anchor="start")

    def render(self) -> str:
        return "\n".join(self.parts + ["</svg>"]) + "\n"


def log_scale(lo: float, hi: float, top: float, bottom: float):
    lo, hi = math.log10(lo), math.log10(hi)
    return lambda v: bottom - (math.log10(max(v, 1e-9)) - lo) / (hi - lo) * (bottom - top)


def latency_chart(levels: list[Level]) -> str:
    figures = [f for f in ("submit over HTTP", "submit in process (floor: submit calls alone)", "submit → FILLED event")
               if all(f in lv.latency for lv in levels)]
    panel_w, top, bottom = 300, 60, 330
    svg = Svg(60 + panel_w * len(figures) + 150, 390, "Latency per load level, ours against the bare-SDK floor like for like (ms, log scale)")
    values = [v for lv in levels for f in figures for v in lv.latency[f] if v]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    y = log_scale(lo, hi, top, bottom)
    for p, figure in enumerate(figures):
        x0 = 60 + p * panel_w
        svg.text(x0 + panel_w / 2 - 10, top - 12, figure.replace(" (floor: submit calls alone)", ""), size=12)
        svg.line(x0, bottom, x0 + panel_w - 30, bottom)
        tick = lo
        while tick <= hi:
            svg.line(x0, y(tick), x0 + panel_w - 30, y(tick), "#eee")
            if p == 0:
                svg.text(x0 - 6, y(tick) + 4, f"{tick:g}", anchor="end")
            tick *= 10
        group = (panel_w - 30) / len(levels)
        for g, lv in enumerate(levels):
            ours50, ours99, floor50, floor99 = lv.latency[figure]
            gx = x0 + g * group + 8
            bw = (group - 16) / 2
            for k, (v50, v99, colour, who) in enumerate(((ours50, ours99, OURS, "ours"), (floor50, floor99, FLOOR, "floor"))):
                if v50 is None or v99 is None:
                    continue
                bx = gx + k * bw
                level = f"{lv.traders} trader{'s' if lv.traders != 1 else ''}"
                svg.bar(bx, y(v99), bw - 2, bottom - y(v99), colour, f"{figure}, {level}, {who} p99: {v99:g} ms", 0.35)
                svg.bar(bx, y(v50), bw - 2, bottom - y(v50), colour, f"{figure}, {level}, {who} p50: {v50:g} ms")
            svg.text(gx + bw, bottom + 16, f"{lv.traders} trader{'s' if lv.traders != 1 else ''}")
    svg.legend(60 + panel_w * len(figures) - 10, top + 10,
               [("ours p50", OURS), ("floor p50", FLOOR)])
    svg.text(60 + panel_w * len(figures) - 10, top + 50, "pale: p99", anchor="start")
    svg.text(svg.width / 2, 370, "The floor issues the same AWS calls from a bare SDK client, through as many instances per function as ours.", size=11)
    return svg.render()


def line_chart(title: str, x_label: str, series: list[tuple[str, str, list[tuple[float, float, str]]]]) -> str:
    """Lines over a log-scale x axis: `series` is (name, colour, [(x, y, tip)])."""
    left, right, top, bottom = 70, 560, 50, 300
    svg = Svg(700, 350, title)
    points = [p for _, _, pts in series for p in pts]
    hi = max(y for _, y, _ in points) * 1.15 or 1
    xs = sorted({x for x, _, _ in points})
    span = max(math.log10(xs[-1]) - math.log10(xs[0]), 1e-9)
    x_of = lambda t: left + (math.log10(t) - math.log10(xs[0])) / span * (right - left)  # noqa: E731
    y_of = lambda v: bottom - v / hi * (bottom - top)  # noqa: E731
    svg.line(left, bottom, right, bottom)
    svg.line(left, top, left, bottom)
    for k in range(6):
        v = hi * k / 5
        svg.line(left, y_of(v), right, y_of(v), "#eee")
        svg.text(left - 6, y_of(v) + 4, f"{v:.0f}", anchor="end")
    for _, colour, pts in series:
        svg.polyline([(x_of(x), y_of(y)) for x, y, _ in pts], colour)
        for x, y, tip in pts:
            svg.point(x_of(x), y_of(y), colour, tip)
    for x in xs:
        svg.text(x_of(x), bottom + 16, f"{x:g}")
    svg.text((left + right) / 2, bottom + 34, f"{x_label} (log scale)")
    if len(series) > 1:
        svg.legend(right + 20, top + 10, [(name, colour) for name, colour, _ in series])
    return svg.render()


def throughput_chart(levels: list[Level]) -> str:
    measured = [lv for lv in levels if lv.ours_per_s and lv.floor_per_s]
    return line_chart("Whole order lives per second against concurrent traders", "concurrent traders", [
        (who, colour, [(lv.traders, getattr(lv, attr), f"{who}, {lv.traders} traders: {getattr(lv, attr):g} lives/s")
                       for lv in measured])
        for who, attr, colour in (("ours", "ours_per_s", OURS), ("floor", "floor_per_s", FLOOR))
    ])


def cost_chart(services: list[str], kinds: list[tuple[str, list[float]]]) -> str:
    left, right, top = 330, 860, 50
    row_h = 34
    svg = Svg(1000, top + row_h * len(kinds) + 60, "Dollars per million orders, by AWS service (batch 1)")
    hi = max(sum(v) for _, v in kinds) * 1.1
    x_of = lambda v: left + v / hi * (right - left)  # noqa: E731
    for r, (kind, values) in enumerate(kinds):
        y = top + r * row_h
        svg.text(left - 8, y + row_h / 2 + 4, kind if len(kind) <= 48 else kind[:46] + "…", anchor="end")
        x = left
        for s, (service, v) in enumerate(zip(services, values)):
            w = x_of(v) - left
            svg.bar(x, y + 6, w, row_h - 12, SERVICES[s % len(SERVICES)], f"{kind}: {service} ${v:.2f}")
            x += w
        svg.text(x + 6, y + row_h / 2 + 4, f"${sum(values):.2f}", anchor="start")
    base = top + row_h * len(kinds) + 20
    for s, service in enumerate(services):
        svg.bar(left + (s % 4) * 150 - 150, base + (s // 4) * 16 - 9, 10, 10, SERVICES[s % len(SERVICES)], service)
        svg.text(left + (s % 4) * 150 - 135, base + (s // 4) * 16, service, anchor="start")
    return svg.render()


def venue_calls_chart(points: list[tuple[float, float]]) -> str:
    return line_chart("Venue calls per minute against resting orders", "resting orders", [
        ("venue calls", OURS, [(x, y, f"{x:g} resting orders: {y:g} venue calls a minute") for x, y in points]),
    ])


def draw(text: str) -> dict[str, str]:
    """File name -> SVG for every chart the text has the figures for; raises
    ValueError naming what is missing for the charts every run must have."""
    levels = load_levels(text)
    if not levels:
        raise ValueError("no '### N concurrent traders' tables under 'End to end under load'")
    services, kinds = load_costs(text)
    if not kinds:
        raise ValueError("no 'Cost per million orders' table")
    charts = {
        "latency.svg": latency_chart(levels),
        "throughput.svg": throughput_chart(levels),
        "cost.svg": cost_chart(services, kinds),
    }
    calls = load_venue_calls(text)
    if calls:
        charts["venue_calls.svg"] = venue_calls_chart(calls)
    return charts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmarks", type=Path, default=ROOT / "BENCHMARKS.md")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-charts")
    args = ap.parse_args(argv)
    try:
        charts = draw(args.benchmarks.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"bench_charts: {args.benchmarks}: {e}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for name, svg in charts.items():
        (args.out / name).write_text(svg, encoding="utf-8")
    print(f"bench_charts: {len(charts)} charts in {args.out}: {', '.join(sorted(charts))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
