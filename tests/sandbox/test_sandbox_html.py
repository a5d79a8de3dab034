"""Telegram's HTML rules, checked directly on the parser and text rules."""

from __future__ import annotations

import pytest

from bot.sandbox.content_rules import caption_text, message_text, user_text
from bot.sandbox.errors import ApiError
from bot.sandbox.telegram_html import HtmlParseError, parse_html


@pytest.mark.parametrize(
    ("source", "plain", "entities"),
    [
        ("<b>a</b><strong>b</strong>", "ab", [("bold", 0, 1), ("bold", 1, 1)]),
        ("<i>x<u>y</u></i>", "xy", [("italic", 0, 2), ("underline", 1, 1)]),
        (
            "<s>s</s><del>d</del><ins>i</ins><em>e</em>",
            "sdie",
            [
                ("strikethrough", 0, 1),
                ("strikethrough", 1, 1),
                ("underline", 2, 1),
                ("italic", 3, 1),
            ],
        ),
        (
            '<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>',
            "st",
            [("spoiler", 0, 1), ("spoiler", 1, 1)],
        ),
        ("&lt;b&gt; &amp; &quot;q&quot; &#65;&#x1F600;", '<b> & "q" A😀', []),
        ("😀<b>x</b>", "😀x", [("bold", 2, 1)]),
        ("<blockquote expandable>q</blockquote>", "q", [("expandable_blockquote", 0, 1)]),
        ("<code>c</code>", "c", [("code", 0, 1)]),
        ("Tom & Jerry", "Tom & Jerry", []),
    ],
)
def test_valid_html_gives_plain_text_and_utf16_entities(source, plain, entities):
    parsed_plain, parsed_entities = parse_html(source)
    assert parsed_plain == plain
    assert [(e["type"], e["offset"], e["length"]) for e in parsed_entities] == entities


def test_links_pre_with_language_and_user_mentions():
    plain, entities = parse_html(
        '<a href="https://x.org/?a=1&amp;b=2">link</a> '
        '<pre><code class="language-python">x = 1</code></pre> '
        '<a href="tg://user?id=42">Anna</a>'
    )
    assert plain == "link x = 1 Anna"
    assert entities[0] == {
        "type": "text_link",
        "url": "https://x.org/?a=1&b=2",
        "offset": 0,
        "length": 4,
    }
    assert entities[1] == {"type": "pre", "language": "python", "offset": 5, "length": 5}
    assert entities[2]["type"] == "text_mention" and entities[2]["user"]["id"] == 42


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("Hello <div>x</div>", 'Unsupported start tag "div" at byte offset 6'),
        ("caffè <br>", 'Unsupported start tag "br" at byte offset 7'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("x &nbsp; y", 'Unsupported HTML entity "&nbsp;" at byte offset 2'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("</b>", "Unexpected end tag at byte offset 0"),
        ("<span>s</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b", "Unclosed start tag at byte offset 0"),
    ],
)
def test_invalid_html_raises_telegram_errors(source, error):
    with pytest.raises(HtmlParseError) as raised:
        parse_html(source)
    assert str(raised.value) == error


def test_text_limits_count_utf16_code_units_after_parsing():
    assert message_text("<b>" + "x" * 4096 + "</b>", "HTML").plain == "x" * 4096
    with pytest.raises(ApiError, match=r"message is too long"):
        message_text("😀" * 2049, None)
    with pytest.raises(ApiError, match=r"message caption is too long"):
        caption_text("y" * 1025, None)
    with pytest.raises(ApiError, match=r"message text is empty"):
        message_text("  <i> </i>\n", "HTML")
    with pytest.raises(ApiError, match=r"unsupported parse_mode"):
        message_text("x", "XML")


def test_surrounding_whitespace_is_trimmed_and_entities_shifted():
    formatted = message_text("\n  <b>hi</b>\n", "html")
    assert formatted.plain == "hi"
    assert formatted.entity_list() == [{"type": "bold", "offset": 0, "length": 2}]
    assert formatted.parse_mode == "HTML"


def test_markdown_v2_is_stored_as_is():
    formatted = message_text("*bold* \\.", "MarkdownV2")
    assert formatted.plain == "*bold* \\." and formatted.entities == ()


def test_user_commands_get_a_bot_command_entity():
    assert user_text("/start zone_genova").entity_list() == [
        {"type": "bot_command", "offset": 0, "length": 6}
    ]
    assert user_text("/help@psm_test_bot").entity_list()[0]["length"] == 18
    assert user_text("hello /start").entities == ()
