"""Chart geometry for the reports page: numbers in, SVG coordinates out; the template draws them.

No JavaScript and no chart library: `share_trend` lays out a line of the mapped share per period,
`stacked_bars` one horizontal bar per group split into mapped / unvalidated / unmapped. Both are
pure (values in, frozen records out). Every label reaches the page through the template's
autoescaping, so a source system or sender named `<script>` is text in the SVG like anywhere else.

    share_trend([(date, mapped_share, total), ...], step_days=1)  -> LineChart
    stacked_bars([(label, {"mapped": n, "unvalidated": n, "unmapped": n}), ...])  -> BarChart
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from terminology.systems import NDC, RXNORM, SNOMED

__all__ = ["STATUSES", "Tick", "Point", "LineChart", "share_trend", "Segment", "Bar", "BarChart", "stacked_bars",
           "short_label"]

STATUSES = ("mapped", "unvalidated", "unmapped")


@dataclass(frozen=True, slots=True)
class Tick:
    at: float  # x (or y) in SVG units
    label: str


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    label: str  # tooltip: "2026-11-20: 82.4% mapped of 170"


@dataclass(frozen=True, slots=True)
class LineChart:
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    line: str  # SVG path data; a gap of more than one period starts a new subpath
    area: str  # the same, closed down to 0%
    points: tuple[Point, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def share_trend(periods: Sequence[tuple[date, float, int]], *, step_days: int = 1, width: int = 640,
                height: int = 240) -> LineChart | None:
    """The mapped share (0..1) per period as a line from 0 % to 100 %; None when there are no periods."""
    if not periods:
        return None
    periods = sorted(periods)
    left, top, right, bottom = 48.0, 12.0, width - 28.0, height - 32.0
    first, last = periods[0][0], periods[-1][0]
    span = (last - first).days

    def x_of(day: date) -> float:
        return (left + right) / 2 if span == 0 else left + (right - left) * (day - first).days / span

    def y_of(share: float) -> float:
        return bottom - (bottom - top) * min(max(share, 0.0), 1.0)

    points, line, area_parts = [], [], []
    run: list[tuple[float, float]] = []
    previous: date | None = None

    def close_run() -> None:
        if not run:
            return
        line.append("M" + " L".join(f"{_fmt(x)},{_fmt(y)}" for x, y in run))
        area_parts.append(f"M{_fmt(run[0][0])},{_fmt(bottom)} L"
                          + " L".join(f"{_fmt(x)},{_fmt(y)}" for x, y in run)
                          + f" L{_fmt(run[-1][0])},{_fmt(bottom)} Z")
        run.clear()

    for day, share, total in periods:
        if previous is not None and (day - previous).days > step_days:
            close_run()
        x, y = x_of(day), y_of(share)
        run.append((x, y))
        points.append(Point(round(x, 1), round(y, 1), f"{day.isoformat()}: {_fmt(share * 100)}% mapped of {total}"))
        previous = day
    close_run()
    y_ticks = tuple(Tick(round(y_of(s / 100), 1), f"{s}%") for s in (0, 25, 50, 75, 100))
    # Up to 6 labels evenly spaced in time (whole steps), whether or not those periods had traffic.
    steps = span // step_days
    every = max(1, -(-steps // 5))
    ticks = [first + timedelta(days=n * step_days) for n in range(0, steps + 1, every)]
    x_ticks = tuple(Tick(round(x_of(day), 1), day.strftime("%d %b")) for day in ticks)
    return LineChart(width, height, left, top, right, bottom, " ".join(line), " ".join(area_parts),
                     tuple(points), y_ticks, x_ticks)


@dataclass(frozen=True, slots=True)
class Segment:
    status: str  # mapped | unvalidated | unmapped (the CSS class that colours it)
    x: float
    width: float
    count: int
    label: str  # tooltip


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # shortened for the chart
    full_label: str
    y: float  # top of the bar
    label_y: float  # baseline of the label above it
    total: int
    total_x: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    left: float
    right: float
    bar_height: float
    bars: tuple[Bar, ...]
    x_ticks: tuple[Tick, ...]
    axis_y: float


KNOWN_SYSTEMS = {SNOMED: "SNOMED CT", RXNORM: "RxNorm", NDC: "NDC"}


def short_label(label: str, limit: int = 48) -> str:
    """A system's common name (SNOMED CT, RxNorm), a long URI as host … last segment, anything else cut at `limit`."""
    if not label:
        return "(none named)"
    if label in KNOWN_SYSTEMS:
        return KNOWN_SYSTEMS[label]
    text = label
    if "://" in label:
        host = label.split("://", 1)[1].split("/", 1)[0]
        tail = label.rstrip("/").rsplit("/", 1)[-1]
        text = host if tail == host else f"{host} … {tail}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nice_max(value: int) -> int:
    """The smallest of 1, 2, 2.5, 5 x 10^n that is at least `value` (an axis that ends on a round number)."""
    if value <= 0:
        return 1
    scale = 1
    while True:
        for step in (1, 2, 2.5, 5):
            if step * scale >= value:
                return math.ceil(step * scale)
        scale *= 10


def stacked_bars(groups: Sequence[tuple[str, Mapping[str, int]]], *, width: int = 640,
                 row_height: int = 46) -> BarChart | None:
    """One horizontal bar per group, its length the group's total, split by status; None when there are none."""
    if not groups:
        return None
    left, right, bar_height = 8.0, width - 64.0, 18.0
    largest = _nice_max(max(sum(counts.get(s, 0) for s in STATUSES) for _, counts in groups))
    scale = (right - left) / largest
    bars = []
    for index, (label, counts) in enumerate(groups):
        top = 8 + index * row_height
        y = top + 20
        x, segments = left, []
        total = sum(counts.get(s, 0) for s in STATUSES)
        for status in STATUSES:
            count = counts.get(status, 0)
            if count <= 0:
                continue
            share = count / total
            segments.append(Segment(status, round(x, 1), round(count * scale, 1), count,
                                    f"{label or '(none named)'}: {count} {status} ({_fmt(share * 100)}%)"))
            x += count * scale
        bars.append(Bar(short_label(label), label or "(none named)", y, top + 13, total, round(x + 6, 1),
                        tuple(segments)))
    axis_y = 8 + len(groups) * row_height + 4
    x_ticks = tuple(Tick(round(left + (right - left) * i / 4, 1), _fmt(largest * i / 4)) for i in range(5))
    return BarChart(width, int(axis_y + 24), left, right, bar_height, tuple(bars), x_ticks, axis_y)
