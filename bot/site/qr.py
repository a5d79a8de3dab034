"""QR codes for posters: the bot's deep link to follow an action, as a standalone SVG.

`action_deep_link` and `action_page_url` live in `bot.services.site_links`, where the bot's
own links use them too; they are re-exported here beside the QR code they go with.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from html import escape

import segno

from bot.services.site_links import action_deep_link, action_page_url

__all__ = ["QUIET_ZONE", "action_deep_link", "action_page_url", "qr_svg"]

QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks
DARK, LIGHT = "#000000", "#ffffff"


def qr_svg(text: str, *, title: str, module_px: int = 8) -> str:
    """An SVG image of `text` as a QR code, black on white within its quiet zone.

    Accessible by itself (`role="img"`, `<title>`, the text in `<desc>`) and without an XML
    declaration, so it can also be inlined in a page. Error correction M at least (segno
    raises it when that costs no size), enough for a printed poster seen from a metre.
    """
    matrix = segno.make_qr(text, error="m").matrix
    size = len(matrix) + 2 * QUIET_ZONE
    pixels = size * module_px
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{pixels}" '
        f'height="{pixels}" viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
        f"<title>{escape(title)}</title><desc>{escape(text)}</desc>"
        f'<rect width="{size}" height="{size}" fill="{LIGHT}"/>'
        f'<path fill="{DARK}" d="{"".join(_dark_runs(matrix))}"/>'
        "</svg>\n"
    )


def _dark_runs(matrix: Sequence[Sequence[int]]) -> Iterator[str]:
    """One rectangle per horizontal run of dark modules: `M x y h width v 1 h -width z`."""
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            width = x - start
            yield f"M{start + QUIET_ZONE} {y + QUIET_ZONE}h{width}v1h-{width}z"
