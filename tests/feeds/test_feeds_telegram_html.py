"""Feed HTML → Telegram HTML, and measuring, truncating and splitting it."""

from __future__ import annotations

import random
import re

import pytest
from feeds_html_check import assert_valid_telegram_html, utf16_units
from feeds_testdata import read_data

from feeds.telegram_html import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    as_telegram_html,
    escape,
    html_to_text,
    is_telegram_html,
    sanitize_html,
    split_html,
    telegram_length,
    truncate_html,
    visible_text,
)

BASE = "https://www.cittametropolitana.genova.it/it/news/articolo"


@pytest.fixture(scope="module")
def dirty() -> str:
    return sanitize_html(read_data("dirty_content.html").decode("utf-8"), base_url=BASE)


# ------------------------------------------------------------------------ sanitizing


def test_dirty_content_gives_valid_telegram_html(dirty):
    assert_valid_telegram_html(dirty)


def test_telegram_html_is_kept_as_it_is_and_anything_else_sanitized(dirty):
    """What sanitize_html wrote is sent as it is: its line breaks and indentation are
    text, which sanitizing it again as web HTML would turn into spaces."""
    for html in (
        dirty,
        "uno\n\ndue\n• tre\n  • quattro",
        '<a href="https://x.it/?a=1&amp;b=2">x</a>',
    ):
        assert is_telegram_html(html) and as_telegram_html(html) == html
    sanitized = {
        "<p>Il bando è <b>aperto</b>.</p>\n<p>Scade.</p>": "Il bando è <b>aperto</b>.\n\nScade.",
        "a < b & c": "a &lt; b &amp; c",
        "<b>non chiuso": "<b>non chiuso</b>",
        "<b><b>doppio</b></b>": "<b>doppio</b>",
        '<a href="javascript:alert(1)">clicca</a>': "clicca",
        "<code><b>x</b></code>": "<code>x</code>",
        "caff&egrave;": "caffè",
        "a\x1ab": "ab",
        "a&#26;b": "ab",
    }
    for html, expected in sanitized.items():
        assert not is_telegram_html(html), html
        assert as_telegram_html(html) == expected, html


def test_control_characters_are_removed():
    html = "<p>Bando&#26; aperto\x85</p><pre>riga 1\r\nriga\x0b2\tfine</pre>"
    assert sanitize_html(html) == "Bando aperto\n\n<pre>riga 1\nriga2\tfine</pre>"


@pytest.mark.parametrize(
    "unwanted",
    ["segreto", "alert", "font-size", "Abilita JavaScript", "template", "iframe", "Contenuto flash",
     "javascript", "onclick", "track()", "steal", "data:", "style", "class="],
)  # fmt: skip
def test_dangerous_content_is_gone_with_its_text(dirty, unwanted):
    assert unwanted.lower() not in dirty.lower()


def test_unsafe_links_keep_their_text_only(dirty):
    text = visible_text(dirty)
    assert "il video" in text and "un altro" in text and "dati" in text
    hrefs = re.findall(r'href="([^"]*)"', dirty)
    assert hrefs == [
        "https://www.cittametropolitana.genova.it/it/psm/documenti?anno=2025&amp;tipo=pdf",
        "mailto:psm@cittametropolitana.genova.it",
    ]


def test_entities_are_decoded_and_reescaped(dirty):
    assert "&nbsp;" not in dirty and "&egrave;" not in dirty and "&mdash;" not in dirty
    assert "Città Metropolitana di Genova\u00a0ha approvato" in dirty
    assert "lètto &amp; letto — «un passo avanti»" in dirty


def test_structure_becomes_lines(dirty):
    text = visible_text(dirty)
    assert text.startswith("Piano Strategico Metropolitano\n\n")
    assert dirty.startswith("<b>Piano Strategico Metropolitano</b>")
    assert "• Strategia 1\n  • Azione 1.1\n  • Azione 1.2\n• Strategia 2" in text
    assert "1. Primo passo\n2. Secondo passo" in text
    assert "Comune Zona\nSestri Levante Val Petronio\nSant'Olcese Valli Polcevera e Scrivia" in text
    assert "<b>Contatti utili</b>" in dirty  # no bold inside bold
    assert (
        "<blockquote>Una città metropolitana <i>più vicina</i> ai cittadini.</blockquote>" in dirty
    )
    assert "<pre>orario: 9:00 &lt; 13:00\n  lun-ven</pre>" in dirty


def test_images_leave_their_alt_text(dirty):
    assert "Il Consiglio metropolitano riunito" in dirty
    assert "<img" not in dirty and "spacer" not in dirty


def test_blank_lines_collapse_and_ends_are_trimmed(dirty):
    assert "\n\n\n" not in dirty
    assert dirty == dirty.strip()
    assert not re.search(r"[ \t]\n|\n[ \t]+\n", visible_text(dirty))
    assert "in fondo.\n\nDopo molti a capo." in visible_text(dirty)


def test_misnested_tags_are_repaired(dirty):
    assert "<b>Grassetto <i>e corsivo</i></b> <i>non chiusi bene</i>" in dirty
    assert "<u>sottolineato</u><s>barrato</s>2" in dirty


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("<p>uno</p><p>due</p>", "uno\n\ndue"),
        ("uno<br>due<br><br>tre<br><br><br><br>quattro", "uno\ndue\n\ntre\n\nquattro"),
        ("<div>uno</div><div>due</div>", "uno\ndue"),
        ("<h2>Titolo</h2>testo", "<b>Titolo</b>\n\ntesto"),
        ("  spazi \n\t multipli   qui ", "spazi multipli qui"),
        ("<p>&nbsp;</p><p>dopo</p>", "dopo"),
        ("<b></b><i> </i>vuoto", "vuoto"),
        ("<strong>forte</strong> <em>enfasi</em>", "<b>forte</b> <i>enfasi</i>"),
        ("<span class='tg-spoiler'>x</span><tg-spoiler>segreto</tg-spoiler>",
         "x<tg-spoiler>segreto</tg-spoiler>"),
        ('<a href="tg://resolve?domain=psm">canale</a>',
         '<a href="tg://resolve?domain=psm">canale</a>'),
        ('<a href="ftp://x/y">ftp</a> <a>senza href</a>', "ftp senza href"),
        ('<a href="/rel">relativo</a>', '<a href="https://www.cittametropolitana.genova.it/rel">relativo</a>'),
        ('<a href="https://a.it/?q=&quot;x&quot;">q</a>', '<a href="https://a.it/?q=&quot;x&quot;">q</a>'),
        ("<a href='https://a.it'>uno <a href='https://b.it'>due</a></a>",  # HTML closes the first
         '<a href="https://a.it">uno</a> <a href="https://b.it">due</a>'),
        ("<code>a<b>b</b></code>", "<code>ab</code>"),
        ("<b><code>x</code></b>", "<b>x</b>"),
        ("5 &lt; 6 &amp;&amp; 7 &gt; 3 &#8364; &#x1F600;", "5 &lt; 6 &amp;&amp; 7 &gt; 3 € 😀"),
        ("AT&T e &foo; restano testo", "AT&amp;T e &amp;foo; restano testo"),
        ("<!-- commento --><p>visibile</p>", "visibile"),
        ("", ""),
    ],
)  # fmt: skip
def test_sanitize_cases(source, expected):
    result = sanitize_html(source, base_url="https://www.cittametropolitana.genova.it/it/")
    assert result == expected
    assert_valid_telegram_html(result)


def test_relative_links_without_base_are_dropped():
    assert sanitize_html('<a href="/rel">relativo</a>') == "relativo"


def test_html_to_text_and_escape():
    assert html_to_text("<p>Citt&agrave; &amp; <b>Comuni</b></p>") == "Città & Comuni"
    assert escape('a < b & "c" > d') == 'a &lt; b &amp; "c" &gt; d'


# ----------------------------------------------------------------------- measuring


@pytest.mark.parametrize(
    ("html", "length"),
    [
        ("", 0),
        ("abc", 3),
        ("<b>abc</b>", 3),
        ("&lt;&amp;&gt;&quot;", 4),
        ("😀", 2),
        ("👩‍👩‍👧", 8),
        ("🇮🇹", 4),
        ("è", 1),
        ('<a href="https://x.it/?a=1&amp;b=2">link</a>', 4),
        ("&#128512;", 2),
    ],
)
def test_telegram_length_counts_utf16_units_of_visible_text(html, length):
    assert telegram_length(html) == length


def test_telegram_length_agrees_with_tdlib_port(dirty):
    sandbox = pytest.importorskip("bot.sandbox.telegram_html")
    text, _ = sandbox.parse_html(dirty)
    assert telegram_length(dirty) == sandbox.utf16_length(text)


# ---------------------------------------------------------------------- truncating


def test_truncate_returns_fitting_text_unchanged():
    assert truncate_html("<b>breve</b>", 10, read_more_url="https://x.it") == "<b>breve</b>"


def test_truncate_cuts_at_a_word_and_closes_tags():
    html = "<b>Piano Strategico <i>Metropolitano di Genova</i></b> approvato"
    result = truncate_html(html, 31)
    assert result == "<b>Piano Strategico <i>Metropolitano</i></b>…"
    assert telegram_length(result) == 31
    assert truncate_html(html, 30) == "<b>Piano Strategico</b>…"
    assert_valid_telegram_html(result)


def test_truncate_appends_an_escaped_read_more_link_within_the_limit():
    html = escape(
        "La Città Metropolitana di Genova presenta il Piano Strategico Metropolitano " * 5
    )
    result = truncate_html(
        html, 100, read_more_url="https://x.it/n?a=1&b=2", read_more_label="Leggi <tutto> & più"
    )
    assert result.endswith(
        '… <a href="https://x.it/n?a=1&amp;b=2">Leggi &lt;tutto&gt; &amp; più</a>'
    )
    assert telegram_length(result) <= 100
    assert_valid_telegram_html(result)


def test_truncate_rejects_unsafe_read_more_urls():
    with pytest.raises(ValueError, match="read_more_url"):
        truncate_html("x" * 50, 10, read_more_url="javascript:alert(1)")


def test_truncate_drops_the_link_when_there_is_no_room():
    result = truncate_html(
        "parola " * 20, 8, read_more_url="https://x.it", read_more_label="Leggi tutto"
    )
    assert "<a" not in result and telegram_length(result) <= 8


def test_truncate_never_cuts_entities_or_emoji():
    html = "&amp;" * 10 + "😀" * 10
    for limit in range(1, 25):
        result = truncate_html(html, limit)
        assert telegram_length(result) <= limit
        assert_valid_telegram_html(result)
        assert "\ufffd" not in result


def test_truncate_hard_cuts_one_long_word():
    result = truncate_html("a" * 50, 10)
    assert result == "a" * 9 + "…"


def test_truncate_limit_must_leave_room_for_the_ellipsis():
    with pytest.raises(ValueError):
        truncate_html("abc def", 0)


# ----------------------------------------------------------------------- splitting


def _paragraphs(count: int, words: int) -> str:
    return "\n\n".join(
        f"<b>Paragrafo {n}</b>: " + " ".join(f"parola{n}x{w}" for w in range(words)) + "."
        for n in range(count)
    )


def test_split_returns_fitting_text_unchanged_and_nothing_for_empty():
    assert split_html("<b>ciao</b>") == ["<b>ciao</b>"]
    assert split_html("  <b> </b> ") == []


def test_split_prefers_paragraph_boundaries():
    html = _paragraphs(6, 30)
    chunks = split_html(html, 700)
    assert len(chunks) > 1
    for chunk in chunks:
        assert telegram_length(chunk) <= 700
        assert_valid_telegram_html(chunk)
        assert chunk.startswith("<b>Paragrafo") and chunk.endswith(".")


def test_split_reopens_tags_across_the_cut():
    html = "<b>" + "<i>" + " ".join(["parola"] * 100) + "</i></b> fine"
    chunks = split_html(html, 100)
    assert len(chunks) >= 6
    for chunk in chunks[:-1]:
        assert chunk.startswith("<b><i>") and chunk.endswith("</i></b>")
        assert_valid_telegram_html(chunk)
    assert chunks[-1].endswith("</i></b> fine")


def test_split_reopens_links_with_their_href():
    html = '<a href="https://x.it/?a=1&amp;b=2">' + "testo " * 40 + "</a>"
    chunks = split_html(html, 50)
    assert all(chunk.startswith('<a href="https://x.it/?a=1&amp;b=2">') for chunk in chunks)


def test_split_counts_utf16_units_and_keeps_emoji_whole():
    html = "👩‍👩‍👧🇮🇹😀" * 200  # no spaces at all: hard cuts only
    chunks = split_html(html, 101)
    assert "".join(visible_text(chunk) for chunk in chunks) == html
    for chunk in chunks:
        assert utf16_units(visible_text(chunk)) <= 101
        assert not chunk.startswith("\u200d") and not chunk.endswith("\u200d")
    flags = "".join(chunks).count("🇮🇹")
    assert flags == 200


def test_split_keeps_pre_blocks_valid():
    code = "\n".join(f"riga {n} = {n} &lt; {n + 1}" for n in range(200))
    html = f"Codice:\n\n<pre>{code}</pre>\n\nFine."
    chunks = split_html(html, 500)
    assert len(chunks) > 3
    for chunk in chunks[1:-1]:
        assert chunk.startswith("<pre>") and chunk.endswith("</pre>")
    for chunk in chunks:
        assert telegram_length(chunk) <= 500
        assert_valid_telegram_html(chunk)


def test_split_loses_only_whitespace_at_cuts():
    html = _paragraphs(20, 50)
    chunks = split_html(html, MESSAGE_LIMIT)
    joined = "".join(visible_text(chunk) for chunk in chunks)
    assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", visible_text(html))


def test_split_and_truncate_sanitized_content(dirty):
    for limit in (40, 100, 333, CAPTION_LIMIT):
        for chunk in split_html(dirty, limit):
            assert telegram_length(chunk) <= limit
            assert_valid_telegram_html(chunk)
        truncated = truncate_html(dirty, limit, read_more_url=BASE, read_more_label="Leggi tutto")
        assert telegram_length(truncated) <= limit
        assert_valid_telegram_html(truncated)


# -------------------------------------------------------------- random documents


_TAGS = ["p", "div", "b", "strong", "i", "em", "a", "span", "ul", "ol", "li", "h2", "table",
         "tr", "td", "pre", "code", "blockquote", "script", "style", "iframe", "img", "br",
         "u", "del", "tg-spoiler", "font", "section"]  # fmt: skip
_ATTRIBUTES = ['href="javascript:alert(1)"', 'href="/rel?a=1&amp;b=2"', 'href="https://x.it/"',
               'onclick="x()"', 'style="color:red"', 'alt="alt è"', 'href="mailto:a@b.it"',
               "href=\"tg://user?id=1\"", 'src="x.png"']  # fmt: skip
_WORDS = ["Genova", "città", "&nbsp;", "&egrave;", "&amp;", "&lt;", "&#128512;", "😀", "👩‍👩‍👧",
          "Sestri Levante", "Sant’Olcese", "<", ">", "&", "\n", "  ", "\u00a0", "&bogus;",
          "Piano Strategico Metropolitano.", "&#0;", "&#xD800;"]  # fmt: skip


def _random_html(rng: random.Random, depth: int = 0) -> str:
    pieces = []
    for _ in range(rng.randint(1, 6)):
        if depth < 4 and rng.random() < 0.4:
            tag = rng.choice(_TAGS)
            attributes = " ".join(rng.sample(_ATTRIBUTES, rng.randint(0, 2)))
            closing = f"</{tag}>" if rng.random() < 0.85 else ""
            pieces.append(f"<{tag} {attributes}>{_random_html(rng, depth + 1)}{closing}")
        else:
            pieces.append(" ".join(rng.choices(_WORDS, k=rng.randint(1, 8))))
    return "".join(pieces)


@pytest.mark.parametrize("seed", range(150))
def test_random_documents_stay_valid(seed):
    rng = random.Random(seed)
    html = sanitize_html(_random_html(rng), base_url=BASE)
    assert_valid_telegram_html(html)
    assert as_telegram_html(html) == html
    assert "javascript" not in html and "alert" not in html
    limit = rng.randint(3, 200)
    chunks = split_html(html, limit)
    for chunk in chunks:
        assert 0 < telegram_length(chunk) <= limit
        assert_valid_telegram_html(chunk)
        assert is_telegram_html(chunk)
    joined = "".join(visible_text(chunk) for chunk in chunks)
    assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", visible_text(html))
    truncated = truncate_html(html, limit, read_more_url=BASE, read_more_label="Leggi")
    assert telegram_length(truncated) <= limit
    assert_valid_telegram_html(truncated)
