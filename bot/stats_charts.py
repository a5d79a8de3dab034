"""PNG charts of the staff statistics (matplotlib, Agg: no display, no pyplot state)."""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.i18n import _
from bot.services.statistics import Statistics


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


def _line(title: str, rows: list[tuple[str, int]]) -> bytes:
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.add_subplot()
    axes.plot([m for m, _v in rows] or ["—"], [v for _m, v in rows] or [0], marker="o")
    axes.tick_params(axis="x", labelrotation=45)
    axes.set_title(title)
    return _png(figure)


def draw(stats: Statistics) -> list[tuple[str, bytes]]:
    """(file name, PNG) for each chart, titles in the current language."""
    deliveries = [(state, count) for state, count in sorted(stats.deliveries.items()) if count]
    return [
        ("subscribers.png", _line(_("Subscribers over time"), stats.subscribers_by_month)),
        ("zones.png", _bars(_("Subscribers by zone"), stats.by_zone, horizontal=True)),
        ("strategies.png", _bars(_("Subscribers by strategy"), stats.by_strategy)),
        ("languages.png", _bars(_("Subscribers by language"), stats.by_language)),
        ("deliveries.png", _bars(_("Deliveries by state"), deliveries)),
        ("feedback.png", _bars(_("Feedback by subject"), stats.feedback_by_subject, True)),
    ]
