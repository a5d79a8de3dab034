"""PNG charts of the staff statistics (matplotlib, Agg: no display, no pyplot state)."""

from __future__ import annotations

import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bot.i18n import _
from bot.services.statistics import AudiencePoint, Statistics

MAX_PERIOD_LABELS = 12
MIN_PERIOD_SLOTS = 8
JOINED_COLOR, LEFT_COLOR, LINE_COLOR = "#2e8b57", "#c0392b", "#1f6f8b"


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _bars(title: str, rows: list[tuple[str, int]], horizontal: bool = False) -> bytes:
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.add_subplot()
    labels = [label for label, _value in rows] or ["—"]
    values = [value for _label, value in rows] or [0]
    if horizontal:
        axes.barh(labels[::-1], values[::-1], color="#1f6f8b")
    else:
        axes.bar(labels, values, color="#1f6f8b")
        axes.tick_params(axis="x", labelrotation=45)
    axes.set_title(title)
    return _png(figure)


def _audience(title: str, points: list[AudiencePoint]) -> bytes:
    """The total as a line above; joined (up) and left (down) per period as bars below."""
    points = points or [AudiencePoint("—", 0, 0, 0)]
    totals = [p.total for p in points]
    joined = [p.joined for p in points]
    left = [p.left for p in points]
    figure = Figure(figsize=(8, 5.5), layout="constrained")
    total_axes, change_axes = figure.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    x = list(range(len(points)))
    (line,) = total_axes.plot(
        x, totals, color=LINE_COLOR, marker="o" if len(points) <= 31 else None
    )
    total_axes.set_ylim(0, max(1, *totals) * 1.08)
    total_axes.set_title(title)
    up = change_axes.bar(x, joined, color=JOINED_COLOR)
    down = change_axes.bar(x, [-n for n in left], color=LEFT_COLOR)
    change_axes.axhline(0, color="#555555", linewidth=0.8)
    change_axes.set_ylim(-max(1, *left) * 1.15, max(1, *joined) * 1.15)
    change_axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{abs(value):g}"))
    for axes in (total_axes, change_axes):
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    total_axes.legend(
        [line, up, down],
        [_("Reachable subscribers"), _("Joined or returned"), _("Left (blocked or erased)")],
        loc="best",
        fontsize="small",
    )
    padding = max(0, MIN_PERIOD_SLOTS - len(points)) / 2  # a few periods: narrow bars
    change_axes.set_xlim(-0.6 - padding, len(points) - 0.4 + padding)
    step = math.ceil(len(points) / MAX_PERIOD_LABELS)
    labels = [p.period for p in points]
    change_axes.set_xticks(x[::step], labels[::step], rotation=45, ha="right")
    return _png(figure)


def draw(stats: Statistics) -> list[tuple[str, bytes]]:
    """(file name, PNG) for each chart, titles in the current language."""
    deliveries = [(state, count) for state, count in sorted(stats.deliveries.items()) if count]
    return [
        ("subscribers.png", _audience(_("Subscribers over time"), stats.audience)),
        ("zones.png", _bars(_("Subscribers by zone"), stats.by_zone, horizontal=True)),
        ("strategies.png", _bars(_("Subscribers by strategy"), stats.by_strategy)),
        ("languages.png", _bars(_("Subscribers by language"), stats.by_language)),
        ("deliveries.png", _bars(_("Deliveries by state"), deliveries)),
        ("feedback.png", _bars(_("Feedback by subject"), stats.feedback_by_subject, True)),
    ]
