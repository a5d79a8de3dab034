"""PNG charts of the staff statistics (matplotlib, Agg: no display, no pyplot state).

Counts are whole numbers on every axis and at the end of every bar; states, languages and
dates are named in the reader's language; long labels are wrapped, then shortened, so the
bars and the title keep their room.
"""

from __future__ import annotations

import io
import math
import textwrap
from datetime import date

from babel import Locale
from babel.dates import format_date
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bot.i18n import N_, _, current_language, format_number, ngettext
from bot.services.statistics import AudiencePoint, Statistics

MAX_PERIOD_LABELS = 12
MIN_PERIOD_SLOTS = 8
LABEL_WIDTH = 30  # characters on one line of a bar's label
LABEL_LINES = 2
WIDTH_INCHES = 8
ROW_INCHES = 0.5
BAR_COLOR, JOINED_COLOR, LEFT_COLOR, LINE_COLOR = "#1f6f8b", "#2e8b57", "#c0392b", "#1f6f8b"
# Delivery states as the staff read them: held (digest), claimed and sending are still waiting.
DELIVERY_STATES = (
    (N_("Sent"), ("sent",)),
    (N_("Waiting"), ("pending", "held", "claimed", "sending")),
    (N_("Failed"), ("failed",)),
    (N_("Skipped"), ("skipped",)),
    (N_("In doubt"), ("in_doubt",)),
)
_LABELS = textwrap.TextWrapper(width=LABEL_WIDTH, max_lines=LABEL_LINES, placeholder=" …")


def figures(stats: Statistics) -> list[tuple[str, Figure]]:
    """(file name, figure) for each chart, in the current language."""
    blocked = stats.deliveries.get("blocked", 0)
    return [
        ("subscribers.png", _audience(_("Subscribers over time"), stats.audience)),
        ("zones.png", _bars(_("Subscribers by zone"), stats.by_zone)),
        ("strategies.png", _bars(_("Subscribers by strategy"), stats.by_strategy)),
        ("languages.png", _bars(_("Subscribers by language"), _languages(stats.by_language))),
        (
            "deliveries.png",
            _bars(
                _("Deliveries by state"),
                _delivery_states(stats.deliveries),
                note=ngettext(
                    "{count} person blocked the bot", "{count} people blocked the bot", blocked
                ).format(count=format_number(blocked)),
            ),
        ),
        ("feedback.png", _bars(_("Feedback by subject"), stats.feedback_by_subject)),
    ]


def draw(stats: Statistics) -> list[tuple[str, bytes]]:
    """(file name, PNG) for each chart, in the current language."""
    return [(name, _png(figure)) for name, figure in figures(stats)]


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _label(text: str) -> str:
    return "\n".join(_LABELS.wrap(text)) or "—"


def _whole_numbers(axis) -> None:
    axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: format_number(abs(int(value)))))


def _bars(title: str, rows: list[tuple[str, int]], note: str | None = None) -> Figure:
    """Horizontal bars, first row on top, each with its count at its end."""
    rows = rows or [("—", 0)]
    labels = [_label(label) for label, _value in rows]
    values = [value for _label, value in rows]
    lines = sum(label.count("\n") + 1 for label in labels)
    height = 1.4 + ROW_INCHES * max(len(rows), lines * 0.7) + (0.3 if note else 0)
    figure = Figure(figsize=(WIDTH_INCHES, max(3.0, height)), layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(rows)))
    bars = axes.barh(positions, values, color=BAR_COLOR)
    axes.set_yticks(positions, labels)
    axes.invert_yaxis()
    axes.bar_label(bars, [format_number(value) for value in values], padding=3)
    axes.set_xlim(0, max(1, *values) * 1.15)  # room for the counts at the bars' ends
    _whole_numbers(axes.xaxis)
    axes.spines[["top", "right"]].set_visible(False)
    figure.suptitle(title, fontweight="bold")
    if note:
        figure.supxlabel(note, fontsize="medium")
    return figure


def _languages(rows: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Language codes as names in the reader's language ("it" → "Italiano")."""
    reader = Locale.parse(current_language())
    named = []
    for code, count in rows:
        try:
            name = Locale.parse(code).get_display_name(reader) or code
        except (ValueError, LookupError):
            name = code
        named.append((name[:1].upper() + name[1:], count))
    return named


def _delivery_states(deliveries: dict[str, int]) -> list[tuple[str, int]]:
    return [
        (_(name), sum(deliveries.get(state, 0) for state in states))
        for name, states in DELIVERY_STATES
    ]


def _period_label(period: str) -> str:
    """ "2026-09-01" → "1 set", "2026-09" → "set 2026" (in the reader's language)."""
    try:
        day = date.fromisoformat(period if period.count("-") == 2 else f"{period}-01")
    except ValueError:
        return period
    pattern = "d MMM" if period.count("-") == 2 else "MMM y"
    return format_date(day, pattern, locale=current_language())


def _audience(title: str, points: list[AudiencePoint]) -> Figure:
    """The total as a line above; joined (up) and left (down) per period as bars below."""
    points = points or [AudiencePoint("—", 0, 0, 0)]
    totals = [p.total for p in points]
    joined = [p.joined for p in points]
    left = [p.left for p in points]
    figure = Figure(figsize=(WIDTH_INCHES, 5.5), layout="constrained")
    total_axes, change_axes = figure.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    x = list(range(len(points)))
    (line,) = total_axes.plot(
        x, totals, color=LINE_COLOR, marker="o" if len(points) <= 31 else None
    )
    total_axes.set_ylim(0, max(1, *totals) * 1.08)
    figure.suptitle(title, fontweight="bold")
    up = change_axes.bar(x, joined, color=JOINED_COLOR)
    down = change_axes.bar(x, [-n for n in left], color=LEFT_COLOR)
    change_axes.axhline(0, color="#555555", linewidth=0.8)
    change_axes.set_ylim(-max(1, *left) * 1.15, max(1, *joined) * 1.15)
    for axes in (total_axes, change_axes):
        _whole_numbers(axes.yaxis)
        axes.spines[["top", "right"]].set_visible(False)
    total_axes.legend(
        [line, up, down],
        [_("Reachable subscribers"), _("Joined or returned"), _("Left (blocked or erased)")],
        loc="upper left",
        fontsize="small",
    )
    padding = max(0, MIN_PERIOD_SLOTS - len(points)) / 2  # a few periods: narrow bars
    change_axes.set_xlim(-0.6 - padding, len(points) - 0.4 + padding)
    step = math.ceil(len(points) / MAX_PERIOD_LABELS)
    labels = [_period_label(p.period) for p in points]
    change_axes.set_xticks(x[::step], labels[::step], rotation=45, ha="right")
    return figure
