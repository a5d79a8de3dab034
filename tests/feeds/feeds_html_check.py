"""A strict checker of Telegram HTML, independent of the code under test.

It accepts only what Telegram's parser accepts, and less: the allowed tags, `href` as the
only attribute (on links, with a safe scheme), proper nesting, nothing inside code/pre, no
link in a link, and no entity but &lt; &gt; &amp; &quot; and numeric ones.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "blockquote", "tg-spoiler",
}  # fmt: skip
LINK_SCHEMES = {"http", "https", "mailto", "tg"}
_ALLOWED_REFERENCE = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
_TAG = re.compile(r'</?[a-z][a-z-]*(?: href="[^"<>]*")?>')


class TelegramHtmlError(AssertionError):
    pass


class _StrictParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []

    def fail(self, message: str) -> None:
        raise TelegramHtmlError(f"{message} at {self.getpos()}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.fail(f"tag <{tag}> not allowed")
        if tag == "a":
            self._check_link(attrs)
        elif attrs:
            self.fail(f"attributes on <{tag}>: {attrs}")
        if any(open_tag in ("code", "pre") for open_tag in self.stack):
            self.fail(f"<{tag}> inside code/pre")
        if tag in ("a", "blockquote") and tag in self.stack:
            self.fail(f"<{tag}> nested in itself")
        self.stack.append(tag)

    def _check_link(self, attrs: list[tuple[str, str | None]]) -> None:
        if len(attrs) != 1 or attrs[0][0] != "href" or not attrs[0][1]:
            self.fail(f"a link must have exactly one href: {attrs}")
        href = attrs[0][1] or ""
        scheme = urlsplit(href).scheme.lower()
        if scheme not in LINK_SCHEMES:
            self.fail(f"link scheme {scheme!r} not allowed: {href!r}")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.fail(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.fail(f"</{tag}> does not close {self.stack[-1:] or 'anything'}")
        self.stack.pop()

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.fail(f"entity &{name}; not allowed")

    def handle_comment(self, data: str) -> None:
        self.fail("comment")

    def handle_decl(self, decl: str) -> None:
        self.fail("declaration")

    def handle_pi(self, data: str) -> None:
        self.fail("processing instruction")

    def unknown_decl(self, data: str) -> None:
        self.fail("unknown declaration")


def assert_valid_telegram_html(html: str) -> None:
    without_references = _ALLOWED_REFERENCE.sub("", html)
    if "&" in without_references:
        raise TelegramHtmlError(f"bare & or unsupported entity in {html!r}")
    if "<" in _TAG.sub("", html):
        raise TelegramHtmlError(f"< outside a well-formed tag in {html!r}")
    parser = _StrictParser()
    parser.feed(html)
    parser.close()
    if parser.stack:
        raise TelegramHtmlError(f"unclosed tags {parser.stack} in {html!r}")
    _check_with_sandbox(html)


def _check_with_sandbox(html: str) -> None:
    """Also run the project's port of tdlib's parser, when it is there."""
    try:
        from bot.sandbox.telegram_html import parse_html
    except ImportError:
        return
    parse_html(html)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
