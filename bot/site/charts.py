"""Charts people read: inline SVG, each with its figures in a table beside it.

Every chart is a `<figure>`: the SVG (`role="img"`, `<title>` and `<desc>` naming what it
shows and every value) and a `<table>` with a caption, for screen readers and for anyone
who wants the exact figures. Plain strings: the values are the caller's, already formatted
in the page's language; labels are escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 420  # narrow: the text keeps a readable size on a phone's full width
BAR_COLOUR = "#1d4f91"  # 8.6:1 on white: graphics need 3:1 (WCAG 1.4.11)
TEXT_COLOUR = "#1b1b1b"
AXIS_COLOUR = "#595959"  # 7:1
TARGET_COLOUR = "#0a6b2d"  # 6.7:1
LABEL_CHARS = 46
FONT, SMALL = 15, 13


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value (None: not drawn, such as "fewer than 5") and the value
    as people read it; `href` links the label in the table; `mark` is what a column without a
    value shows in its place (such as "<5")."""

    label: str
    value: float | None
    text: str
    href: str | None = None
    mark: str = ""


@dataclass(frozen=True)
class Headers:
    """The table's column headings: what the labels are, what the values are."""

    label: str
    value: str


def horizontal_bars(
    chart_id: str,
    *,
    title: str,
    description: str,
    bars: Sequence[Bar],
    headers: Headers,
    maximum: float = 100.0,
) -> str:
    """A bar per label, the label above its bar (long names stay readable on a phone)."""
    row = 46
    height = max(row * len(bars), row) + 8
    value_room = max((len(bar.text) for bar in bars), default=4) * 8 + 12
    scale = (WIDTH - value_room) / (maximum or 1)
    shapes = []
    for index, bar in enumerate(bars):
        top = index * row
        shapes.append(_text(0, top + 15, _shorten(bar.label, LABEL_CHARS)))
        length = max(0.0, min(bar.value or 0.0, maximum)) * scale
        if bar.value is not None:
            shapes.append(
                f'<rect x="0" y="{top + 21}" width="{length:.1f}" height="18" fill="{BAR_COLOUR}"/>'
            )
        shapes.append(_text(length + 6, top + 36, bar.text))
    svg = _svg(chart_id, title, _described(description, bars), height, shapes)
    return _figure(svg, _table(title, headers, bars))


def columns(
    chart_id: str,
    *,
    title: str,
    description: str,
    bars: Sequence[Bar],
    headers: Headers,
) -> str:
    """Vertical bars in order (such as months); a bar without a value shows its `mark`."""
    chart_height, bottom = 190, 160
    count = max(len(bars), 1)
    step = (WIDTH - 20) / count
    width = max(2.0, step * 0.7)
    top_value = max((bar.value or 0.0 for bar in bars), default=0.0) or 1.0
    shapes = [_line(10, bottom, WIDTH - 10, bottom, AXIS_COLOUR)]
    label_every = -(-count // 5)  # about five labels fit under the axis
    for index, bar in enumerate(bars):
        x = 10 + index * step + (step - width) / 2
        centre = x + width / 2
        if bar.value is not None:
            height = bar.value / top_value * (bottom - 20)
            shapes.append(
                f'<rect x="{x:.1f}" y="{bottom - height:.1f}" width="{width:.1f}" '
                f'height="{height:.1f}" fill="{BAR_COLOUR}"/>'
            )
            if count <= 12:
                shapes.append(_text(centre, bottom - height - 4, bar.text, anchor="middle"))
        elif bar.mark and count <= 12:
            shapes.append(_text(centre, bottom - 4, bar.mark, anchor="middle", size=SMALL))
        if index % label_every == 0:
            first = index == 0
            shapes.append(
                _text(
                    x if first else centre,
                    bottom + 20,
                    bar.label,
                    anchor="start" if first else "middle",
                    size=SMALL,
                )
            )
    svg = _svg(chart_id, title, _described(description, bars), chart_height, shapes)
    return _figure(svg, _table(title, headers, bars))


@dataclass(frozen=True)
class Reference:
    """A horizontal line across a series: the baseline or the target."""

    value: float
    label: str
    colour: str = AXIS_COLOUR


def line(
    chart_id: str,
    *,
    title: str,
    description: str,
    points: Sequence[Bar],
    headers: Headers,
    references: Sequence[Reference] = (),
) -> str:
    """A series over its periods (the labels, in order), with baseline and target lines."""
    chart_height, top, bottom, left, right = 230, 16, 190, 12, WIDTH - 90
    values = [p.value for p in points if p.value is not None] + [r.value for r in references]
    low, high = min(values, default=0.0), max(values, default=1.0)
    if low == high:
        low, high = low - 1, high + 1
    low = min(low, 0.0) if low >= 0 else low

    def y(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    step = (right - left) / max(len(points) - 1, 1)
    shapes = [_line(left, bottom, right, bottom, AXIS_COLOUR)]
    for reference in references:
        level = y(reference.value)
        shapes.append(_line(left, level, right, level, reference.colour, dashed=True))
        shapes.append(_text(right + 6, level + 5, reference.label, size=SMALL))
    drawn = [
        (left + index * step, y(point.value))
        for index, point in enumerate(points)
        if point.value is not None
    ]
    if len(drawn) > 1:
        path = " ".join(f"{x:.1f},{level:.1f}" for x, level in drawn)
        shapes.append(
            f'<polyline points="{path}" fill="none" stroke="{BAR_COLOUR}" stroke-width="3"/>'
        )
    shapes += [f'<circle cx="{x:.1f}" cy="{lv:.1f}" r="5" fill="{BAR_COLOUR}"/>' for x, lv in drawn]
    label_every = -(-len(points) // 4)  # about four periods fit under the axis
    last = len(points) - 1
    for index, point in enumerate(points):
        if index % label_every == 0 or index == last:
            anchor = "start" if index == 0 else "end" if index == last else "middle"
            shapes.append(
                _text(left + index * step, bottom + 22, point.label, anchor=anchor, size=SMALL)
            )
    svg = _svg(chart_id, title, _described(description, points), chart_height, shapes)
    return _figure(svg, _table(title, headers, points))


def _svg(chart_id: str, title: str, description: str, height: float, shapes: list[str]) -> str:
    ident = escape(chart_id, quote=True)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'aria-labelledby="{ident}-t {ident}-d" font-family="system-ui, sans-serif" '
        f'font-size="{FONT}" fill="{TEXT_COLOUR}">'
        f'<title id="{ident}-t">{escape(title)}</title>'
        f'<desc id="{ident}-d">{escape(description)}</desc>' + "".join(shapes) + "</svg>"
    )


def _described(description: str, bars: Sequence[Bar]) -> str:
    values = "; ".join(f"{bar.label}: {bar.text}" for bar in bars)
    return f"{description} {values}".strip() if values else description


def _figure(svg: str, table: str) -> str:
    return f'<figure class="chart"><div class="plot">{svg}</div>{table}</figure>'


def _table(caption: str, headers: Headers, bars: Sequence[Bar]) -> str:
    rows = []
    for bar in bars:
        label = escape(bar.label)
        if bar.href:
            label = f'<a href="{escape(bar.href, quote=True)}">{label}</a>'
        rows.append(f'<tr><th scope="row">{label}</th><td class="num">{escape(bar.text)}</td></tr>')
    return (
        f"<table><caption>{escape(caption)}</caption>"
        f'<thead><tr><th scope="col">{escape(headers.label)}</th>'
        f'<th scope="col" class="num">{escape(headers.value)}</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = FONT) -> str:
    extra = f' text-anchor="{anchor}"' if anchor != "start" else ""
    extra += f' font-size="{size}"' if size != FONT else ""
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, *, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
        f'stroke="{colour}" stroke-width="2"{dash}/>'
    )


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
