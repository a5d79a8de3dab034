"""Feed HTML → Telegram's HTML subset, and measuring, truncating and splitting that subset.

Telegram accepts only a few tags (b, i, u, s, a href, code, pre, blockquote, tg-spoiler and
their aliases), only the entities &lt; &gt; &amp; &quot; and numeric ones, and counts a
message's length in UTF-16 code units of the visible text (4096 for a message, 1024 for a
caption). Everything produced here is valid for that parser: tags properly nested and
closed, no attribute but ``href`` on links.
"""

from __future__ import annotations

import html as html_lib
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from html.parser import HTMLParser
from itertools import accumulate
from typing import Literal
from urllib.parse import urljoin, urlsplit

import nh3

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
ELLIPSIS = "…"

LINK_SCHEMES = frozenset({"http", "https", "mailto", "tg"})
TELEGRAM_TAGS = frozenset({
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "blockquote", "tg-spoiler",
})  # fmt: skip
REMOVED_WITH_CONTENT = frozenset({
    "script", "style", "iframe", "object", "noscript", "template", "embed", "svg", "math",
    "video", "audio", "canvas", "title", "textarea", "select",
})  # fmt: skip

# Feed HTML element → Telegram tag (aliases folded so nesting checks see one name).
_FORMATTING = {
    "b": "b",
    "strong": "b",
    "i": "i",
    "em": "i",
    "u": "u",
    "ins": "u",
    "s": "s",
    "strike": "s",
    "del": "s",
    "tg-spoiler": "tg-spoiler",
    "kbd": "code",
    "samp": "code",
    "tt": "code",
}
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_PARAGRAPH_BLOCKS = frozenset({
    "p", "table", "figure", "section", "article", "header", "footer", "aside", "address", "hr",
    "dl", "details", "main", "nav", "center", "hgroup",
})  # fmt: skip
_LINE_BLOCKS = frozenset(
    {"div", "tr", "figcaption", "caption", "dt", "dd", "summary", "thead", "tbody", "tfoot"}
)
_CELLS = frozenset({"td", "th"})
_LISTS = frozenset({"ul", "ol"})
_VOID = frozenset({"br", "img", "hr", "wbr"})
_NH3_TAGS = (
    TELEGRAM_TAGS
    | set(_FORMATTING)
    | _HEADINGS
    | _PARAGRAPH_BLOCKS
    | _LINE_BLOCKS
    | _CELLS
    | _LISTS
    | {"li", "br", "img", "wbr"}
)
_COLLAPSIBLE_SPACE = re.compile(r"[ \t\n\r\f\v]+")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# C0 and C1 control characters but tab and newline: feeds carry them (&#26;), people
# should never receive them.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_TELEGRAM_REFERENCE = re.compile(r"&(?:lt|gt|amp|quot);")  # the only ones `escape` writes
_TELEGRAM_TAG = re.compile(r'<(/?)([a-z-]+)((?: href="[^"<>]*")?)>')


def escape(text: str) -> str:
    """Plain text → Telegram HTML text (only &, < and > need escaping)."""
    return html_lib.escape(text, quote=False)


def _escape_attribute(value: str) -> str:
    return html_lib.escape(value, quote=True).replace("&#x27;", "'")


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def strip_control_characters(text: str) -> str:
    """Text without C0/C1 control characters; a carriage return becomes a line break."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNPRINTABLE.sub("", text)


# --------------------------------------------------------------------------- sanitizing


def sanitize_html(html: str, *, base_url: str | None = None) -> str:
    """Untrusted feed HTML → Telegram HTML: formatting kept, structure turned into lines."""
    if not html or not html.strip():
        return ""
    cleaned = _clean_with_nh3(html, base_url)
    converter = _TelegramConverter(base_url)
    converter.feed(cleaned)
    converter.close()
    return converter.result()


def as_telegram_html(html: str) -> str:
    """Stored Telegram HTML (what `sanitize_html` wrote) as it is — its line breaks and
    indentation are text, which sanitizing it again as web HTML would turn into spaces —,
    anything else sanitized."""
    if is_telegram_html(html):
        return html.strip()
    return sanitize_html(html)


def is_telegram_html(html: str) -> bool:
    """True for text in the Telegram HTML this module writes: its tags only, a link's one
    attribute a safe href, properly nested, nothing inside code/pre, no tag inside itself,
    every <, > and & escaped, no control characters."""
    if _UNPRINTABLE.search(html):
        return False
    open_tags: list[str] = []
    position = 0
    for match in _TELEGRAM_TAG.finditer(html):
        if not _is_escaped_text(html[position : match.start()]):
            return False
        position = match.end()
        closing, name, href = match.groups()
        if closing:
            if href or not open_tags or open_tags.pop() != name:
                return False
        elif not _may_open_tag(open_tags, name, href):
            return False
        else:
            open_tags.append(name)
    return not open_tags and _is_escaped_text(html[position:])


def _is_escaped_text(text: str) -> bool:
    return "<" not in text and ">" not in text and "&" not in _TELEGRAM_REFERENCE.sub("", text)


def _may_open_tag(open_tags: list[str], name: str, href: str) -> bool:
    if name not in TELEGRAM_TAGS or name in open_tags or (name == "a") != bool(href):
        return False
    if href and safe_link(html_lib.unescape(href[len(' href="') : -1])) is None:
        return False
    if any(tag in ("code", "pre") for tag in open_tags):
        return False
    return not (name in ("code", "pre") and open_tags)


def html_to_text(html: str, *, base_url: str | None = None) -> str:
    """The visible plain text of feed HTML (for titles, classification, previews)."""
    return visible_text(sanitize_html(html, base_url=base_url))


def _clean_with_nh3(html: str, base_url: str | None) -> str:
    if base_url:
        try:
            return _nh3_clean(html, ("rewrite_with_base", base_url))
        except ValueError:
            pass  # not an absolute base URL: relative links cannot be resolved
    return _nh3_clean(html, "deny")


def _nh3_clean(
    html: str, url_relative: Literal["deny"] | tuple[Literal["rewrite_with_base"], str]
) -> str:
    return nh3.clean(
        html,
        tags=_NH3_TAGS,
        clean_content_tags=REMOVED_WITH_CONTENT,
        attributes={"a": {"href"}, "img": {"alt"}},
        url_schemes=set(LINK_SCHEMES),
        link_rel=None,
        strip_comments=True,
        url_relative=url_relative,
    )


def safe_link(href: str | None, base_url: str | None = None) -> str | None:
    """An absolute http(s)/mailto/tg URL, or None when the link must not be kept."""
    if not href:
        return None
    href = _CONTROL_CHARS.sub("", href).strip().replace(" ", "%20")
    if base_url:
        try:
            href = urljoin(base_url, href)
        except ValueError:
            return None
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in LINK_SCHEMES:
        return None
    if scheme in ("http", "https") and not parts.hostname:
        return None
    return href


@dataclass
class _OutputTag:
    name: str
    start_tag: str
    materialized: bool = False


@dataclass
class _InputElement:
    """What the converter did on an input start tag, to undo it on the end tag."""

    name: str
    opened: str | None = None
    breaks_after: int = 0
    preformatted: bool = False
    list_depth: bool = False


class _TelegramWriter:
    """Accumulates Telegram HTML, deferring whitespace, line breaks and opening tags until
    visible text follows, so no empty tags, trailing spaces or blank runs are produced."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.open_tags: list[_OutputTag] = []
        self.pending_breaks = 0
        self.pending_space = False
        self.pending_prefix = ""
        self.has_text = False
        self.at_line_start = True

    def is_open(self, name: str) -> bool:
        return any(tag.name == name for tag in self.open_tags)

    def open(self, name: str, href: str | None = None) -> None:
        start_tag = f'<a href="{_escape_attribute(href)}">' if href else f"<{name}>"
        self.open_tags.append(_OutputTag(name, start_tag))

    def close(self, name: str) -> None:
        while self.open_tags:
            tag = self.open_tags.pop()
            if tag.materialized:
                self.parts.append(f"</{tag.name}>")
            if tag.name == name:
                return

    def line_break(self, count: int, *, additive: bool = False) -> None:
        """Request `count` newlines before the next text (2 = one empty line, the most)."""
        if not self.has_text:
            return
        wanted = self.pending_breaks + count if additive else max(self.pending_breaks, count)
        self.pending_breaks = min(wanted, 2)
        self.pending_space = False

    def prefix_next_line(self, prefix: str) -> None:
        self.pending_prefix = prefix

    def space(self) -> None:
        if self.has_text and not self.pending_breaks and not self.at_line_start:
            self.pending_space = True

    def text(self, data: str) -> None:
        collapsed = _COLLAPSIBLE_SPACE.sub(" ", strip_control_characters(data))
        core = collapsed.strip()  # no-break spaces at the edges too, as in <p>&nbsp;</p>
        if not core:
            if collapsed:
                self.space()
            return
        if collapsed[0] != core[0]:
            self.space()
        self._emit(core)
        if collapsed[-1] != core[-1]:
            self.space()

    def preformatted_text(self, data: str) -> None:
        data = strip_control_characters(data)
        if data:
            self._emit(data, preformatted=True)

    def _emit(self, piece: str, *, preformatted: bool = False) -> None:
        self._flush_separators()
        if self.at_line_start and not preformatted:
            piece = piece.lstrip()
            if not piece:
                return
        if self.pending_prefix:
            self.parts.append(escape(self.pending_prefix))
            self.pending_prefix = ""
        for tag in self.open_tags:
            if not tag.materialized:
                self.parts.append(tag.start_tag)
                tag.materialized = True
        self.parts.append(escape(piece))
        self.has_text = True
        self.at_line_start = piece.endswith("\n")

    def _flush_separators(self) -> None:
        if self.has_text and self.pending_breaks:
            self.parts.append("\n" * self.pending_breaks)
            self.at_line_start = True
        elif self.has_text and self.pending_space:
            self.parts.append(" ")
        self.pending_breaks = 0
        self.pending_space = False

    def result(self) -> str:
        while self.open_tags:
            self.close(self.open_tags[-1].name)
        return "".join(self.parts).strip()


class _TelegramConverter(HTMLParser):
    """Walks nh3's well-formed output and maps each element to Telegram formatting."""

    def __init__(self, base_url: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.writer = _TelegramWriter()
        self.elements: list[_InputElement] = []
        self.preformatted = 0
        self.list_counters: list[int | None] = []  # None for ul, the next number for ol

    def result(self) -> str:
        return self.writer.result()

    # HTMLParser callbacks

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            self._void_element(tag, dict(attrs))
            return
        element = _InputElement(tag)
        self._start(element, dict(attrs))
        self.elements.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            self._void_element(tag, dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if not any(element.name == tag for element in self.elements):
            return
        while self.elements:
            element = self.elements.pop()
            self._end(element)
            if element.name == tag:
                return

    def handle_data(self, data: str) -> None:
        if self.preformatted:
            self.writer.preformatted_text(data)
        else:
            self.writer.text(data)

    # element rules

    def _void_element(self, tag: str, attrs: dict[str, str | None]) -> None:
        if tag == "br":
            if self.preformatted:
                self.writer.preformatted_text("\n")
            else:
                self.writer.line_break(1, additive=True)
        elif tag == "hr":
            self.writer.line_break(2)
        elif tag == "img" and (attrs.get("alt") or "").strip():
            self.writer.space()
            self.writer.text(attrs["alt"] or "")
            self.writer.space()

    def _start(self, element: _InputElement, attrs: dict[str, str | None]) -> None:
        tag = element.name
        if tag in _FORMATTING:
            self._open(element, _FORMATTING[tag])
        elif tag == "a":
            self._open(element, "a", href=safe_link(attrs.get("href"), self.base_url))
        elif tag == "code":
            self._open(element, "code")
        elif tag == "pre":
            self._block(element, 2)
            self._open(element, "pre")
            element.preformatted = True
            self.preformatted += 1
        elif tag == "blockquote":
            self._block(element, 2)
            self._open(element, "blockquote")
        elif tag in _HEADINGS:
            self._block(element, 2)
            self._open(element, "b")
        elif tag in _LISTS:
            self._block(element, 1 if self.list_counters else 2)
            self.list_counters.append(1 if tag == "ol" else None)
            element.list_depth = True
        elif tag == "li":
            self._list_item(element)
        elif tag in _PARAGRAPH_BLOCKS:
            self._block(element, 2)
        elif tag in _LINE_BLOCKS:
            self._block(element, 1)
        elif tag in _CELLS:
            self.writer.space()

    def _end(self, element: _InputElement) -> None:
        if element.opened:
            self.writer.close(element.opened)
        if element.preformatted:
            self.preformatted -= 1
        if element.list_depth:
            self.list_counters.pop()
        if element.name in _CELLS:
            self.writer.space()
        if element.breaks_after:
            self.writer.line_break(element.breaks_after)

    def _block(self, element: _InputElement, breaks: int) -> None:
        self.writer.line_break(breaks)
        element.breaks_after = breaks

    def _list_item(self, element: _InputElement) -> None:
        self._block(element, 1)
        depth = max(len(self.list_counters), 1)
        counter = self.list_counters[-1] if self.list_counters else None
        if counter is None:
            marker = "• "
        else:
            marker = f"{counter}. "
            self.list_counters[-1] = counter + 1
        self.writer.prefix_next_line("  " * (depth - 1) + marker)

    def _open(self, element: _InputElement, name: str, *, href: str | None = None) -> None:
        if self._may_open(name, href):
            self.writer.open(name, href)
            element.opened = name

    def _may_open(self, name: str, href: str | None) -> bool:
        """Telegram's nesting rules: nothing inside code/pre, code/pre inside nothing,
        no link in a link, no quote in a quote, no tag inside the same tag."""
        if name == "a" and not href:
            return False
        writer = self.writer
        if writer.is_open("code") or writer.is_open("pre"):
            return False
        if name in ("code", "pre") and writer.open_tags:
            return False
        return not writer.is_open(name)


# ------------------------------------------------------------- tokens of Telegram HTML


_TOKEN = re.compile(
    r"""<(?P<end>/)?(?P<name>[A-Za-z][A-Za-z0-9-]*)
        (?P<attrs>(?:\s+[^\s=>/"']+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']*))?)*)
        \s*(?P<selfclosing>/)?>
      | &(?P<entity>\#[0-9]{1,7}|\#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # "text", "open", "close" or "void"
    text: str = ""  # decoded visible text of a "text" token
    name: str = ""
    raw: str = ""


def _tokenize(html: str) -> list[_Token]:
    """Telegram HTML → tokens; entities are decoded, stray < and & are plain text."""
    tokens: list[_Token] = []
    text: list[str] = []
    position = 0
    for match in _TOKEN.finditer(html):
        text.append(html[position : match.start()])
        position = match.end()
        if match.group("entity"):
            text.append(html_lib.unescape(match.group(0)))
            continue
        if any(text):
            tokens.append(_Token("text", "".join(text)))
        text.clear()
        tokens.append(_tag_token(match))
    text.append(html[position:])
    if any(text):
        tokens.append(_Token("text", "".join(text)))
    return tokens


def _tag_token(match: re.Match[str]) -> _Token:
    name = match.group("name").lower()
    if match.group("end"):
        return _Token("close", name=name, raw=f"</{name}>")
    kind = "void" if match.group("selfclosing") else "open"
    return _Token(kind, name=name, raw=match.group(0))


def visible_text(html: str) -> str:
    """The text Telegram shows for Telegram HTML: tags removed, entities decoded."""
    if "<" not in html and "&" not in html:
        return html
    return "".join(token.text for token in _tokenize(html) if token.kind == "text")


def telegram_length(html: str) -> int:
    """Length of the visible text in UTF-16 code units, as Telegram counts it."""
    return utf16_length(visible_text(html))


# ------------------------------------------------------------------ cutting the text


class _Utf16Index:
    """Maps character indexes of a text to UTF-16 offsets, to cut at a UTF-16 budget."""

    def __init__(self, text: str) -> None:
        self.offsets = [0, *accumulate(2 if ord(char) > 0xFFFF else 1 for char in text)]

    def units(self, start: int, end: int) -> int:
        return self.offsets[end] - self.offsets[start]

    def furthest_end(self, start: int, budget: int) -> int:
        """The largest end with units(start, end) <= budget."""
        return bisect_right(self.offsets, self.offsets[start] + budget) - 1


_SENTENCE_END = re.compile(r"[.!?…;][\"'»”’)\]]*(?=\s)")
_TRAILING_JUNK = " \t\n\r\f\v\u00a0,;:–—-"


def _is_joiner(char: str) -> bool:
    """Characters that glue to the one before them: never cut right before them."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or char in "\u200d\ufe0e\ufe0f"
        or 0x1F3FB <= code <= 0x1F3FF  # skin tone modifiers
        or 0xE0020 <= code <= 0xE007F  # tag sequences (subdivision flags)
    )


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _splits_flag(text: str, cut: int) -> bool:
    """Whether `cut` falls inside a flag (a pair of regional indicators)."""
    run = 0
    while cut - run - 1 >= 0 and _is_regional_indicator(text[cut - run - 1]):
        run += 1
    return run % 2 == 1 and _is_regional_indicator(text[cut])


def _hard_cut(text: str, start: int, end: int) -> int:
    """`end`, moved back so it does not split an emoji sequence or a combining mark."""
    cut = end
    while start + 1 < cut < len(text) and (
        _is_joiner(text[cut]) or text[cut - 1] == "\u200d" or _splits_flag(text, cut)
    ):
        cut -= 1
    return cut if cut > start else end


_NO_BREAK_SPACES = "\u00a0\u2007\u202f"


def _last_whitespace(text: str, lower: int, end: int) -> int | None:
    for index in range(min(end, len(text) - 1), lower - 1, -1):
        if text[index].isspace() and text[index] not in _NO_BREAK_SPACES:
            return index
    return None


def _last_sentence_end(text: str, lower: int, end: int) -> int | None:
    found = None
    for match in _SENTENCE_END.finditer(text, lower, min(end + 1, len(text))):
        if match.end() <= end:
            found = match.end()
    return found


def _boundary(text: str, start: int, end: int, *, prefer_structure: bool) -> int:
    """Where to end a piece of text[start:…] that must stop at or before `end`."""
    lower = start + (end - start) // 2  # never keep less than half of what would fit
    candidates = []
    if prefer_structure:
        paragraph = text.rfind("\n\n", lower, end + 2)
        line = text.rfind("\n", lower, end + 1)
        candidates += [paragraph if paragraph >= 0 else None, line if line >= 0 else None]
        candidates.append(_last_sentence_end(text, lower, end))
    candidates.append(_last_whitespace(text, lower, end))
    for candidate in candidates:
        if candidate is not None and candidate > start:
            return candidate
    return _hard_cut(text, start, end)


def _trim_end(text: str, start: int, end: int, junk: str = " \t\n\r\f\v") -> int:
    while end > start and text[end - 1] in junk:
        end -= 1
    return end


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


# ---------------------------------------------------------------- rendering pieces


@dataclass
class _ChunkRenderer:
    """Renders character spans of the visible text back to HTML, closing the tags open
    at the end of a span and re-opening them when the next span starts."""

    spans: list[tuple[int, int]]
    chunks: list[str] = field(default_factory=list)
    stack: list[_OutputTag] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    def render(self, tokens: list[_Token]) -> list[str]:
        position = 0
        for token in tokens:
            if token.kind == "text":
                self._text(token.text, position)
                position += len(token.text)
            elif token.kind == "open":
                self.stack.append(_OutputTag(token.name, token.raw))
            elif token.kind == "close":
                self._close(token.name)
        return self.chunks

    def _text(self, text: str, position: int) -> None:
        index = 0
        while index < len(text) and self.spans:
            start, end = self.spans[0]
            begin = max(index, start - position)
            if begin >= len(text):
                return
            stop = min(len(text), end - position)
            if stop > begin:
                self._emit(text[begin:stop])
            index = max(stop, begin)
            if position + index >= end:
                self._finish_chunk()

    def _emit(self, text: str) -> None:
        for tag in self.stack:
            if not tag.materialized:
                self.parts.append(tag.start_tag)
                tag.materialized = True
        self.parts.append(escape(text))

    def _close(self, name: str) -> None:
        if not any(tag.name == name for tag in self.stack):
            return
        while self.stack:
            tag = self.stack.pop()
            if tag.materialized:
                self.parts.append(f"</{tag.name}>")
            if tag.name == name:
                return

    def _finish_chunk(self) -> None:
        for tag in reversed(self.stack):
            if tag.materialized:
                self.parts.append(f"</{tag.name}>")
                tag.materialized = False
        self.chunks.append("".join(self.parts))
        self.parts = []
        self.spans.pop(0)


def truncate_html(
    html: str,
    limit: int,
    *,
    read_more_url: str | None = None,
    read_more_label: str = ELLIPSIS,
) -> str:
    """At most `limit` visible UTF-16 units: cut at a word boundary when possible, tags
    closed, an ellipsis and, if given, a link appended. Text that fits is returned as is.

    The link is left out when `limit` leaves no room for it next to some text.
    """
    if limit < utf16_length(ELLIPSIS):
        raise ValueError(f"limit must be at least {utf16_length(ELLIPSIS)}, got {limit}")
    tokens = _tokenize(html)
    text = "".join(token.text for token in tokens if token.kind == "text")
    if utf16_length(text) <= limit:
        return html
    suffix, suffix_units = _truncation_suffix(limit, read_more_url, read_more_label)
    index = _Utf16Index(text)
    start = _skip_space(text, 0)
    furthest = index.furthest_end(start, limit - suffix_units)
    end = _boundary(text, start, furthest, prefer_structure=False) if furthest > start else start
    end = _trim_end(text, start, end, _TRAILING_JUNK)
    head = _ChunkRenderer([(start, end)]).render(tokens) if end > start else []
    return "".join(head) + suffix


def _truncation_suffix(limit: int, url: str | None, label: str) -> tuple[str, int]:
    ellipsis_units = utf16_length(ELLIPSIS)
    if not url:
        return ELLIPSIS, ellipsis_units
    href = safe_link(url)
    if href is None:
        raise ValueError(f"read_more_url must be an absolute http(s), mailto or tg URL: {url!r}")
    link_units = utf16_length(" " + label)
    if ellipsis_units + link_units >= limit:  # no room left for any text
        return ELLIPSIS, ellipsis_units
    link = f' <a href="{_escape_attribute(href)}">{escape(label)}</a>'
    return ELLIPSIS + link, ellipsis_units + link_units


def split_html(html: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pieces of at most `limit` visible UTF-16 units each, cut preferably between
    paragraphs, then lines, sentences, words; tags open at a cut are closed and re-opened.
    Text that fits is returned as is; text with nothing visible gives no pieces."""
    if limit < 2:
        raise ValueError(f"limit must be at least 2, got {limit}")
    tokens = _tokenize(html)
    text = "".join(token.text for token in tokens if token.kind == "text")
    if not text.strip():
        return []
    if utf16_length(text) <= limit:
        return [html]
    return _ChunkRenderer(_split_spans(text, limit)).render(tokens)


def _split_spans(text: str, limit: int) -> list[tuple[int, int]]:
    index = _Utf16Index(text)
    spans = []
    start = _skip_space(text, 0)
    final_end = _trim_end(text, start, len(text))
    while start < final_end:
        furthest = index.furthest_end(start, limit)
        if furthest >= final_end:
            spans.append((start, final_end))
            break
        end = _trim_end(text, start, _boundary(text, start, furthest, prefer_structure=True))
        if end <= start:
            end = _hard_cut(text, start, furthest)
        spans.append((start, end))
        start = _skip_space(text, end)
    return spans
