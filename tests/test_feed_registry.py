"""The feed registry: validation with clear errors, pause/resume, OPML, and the CLI."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.cli import feeds as feeds_cli
from bot.db.models import Feed, Notification
from bot.i18n import use_locale
from bot.services import feed_registry
from bot.services.feed_registry import FeedError, FeedSpec
from feeds.opml import parse_opml
from tests.feed_server import FeedServer, item, without_proxies

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
URL = "https://www.cittametropolitana.genova.it/it/rss.xml"


@pytest.fixture(autouse=True)
def english():
    """The reasons are read in English here (the staff's language is tested in test_language)."""
    with use_locale("en"):
        yield


async def add(db, url=URL, **spec) -> Feed:
    async with db.transaction() as session:
        return await feed_registry.add_feed(session, FeedSpec(url=url, **spec), now=NOW)


async def all_feeds(db) -> list[Feed]:
    async with db.transaction() as session:
        return await feed_registry.list_feeds(session)


async def test_a_feed_is_added_with_its_defaults(db):
    feed = await add(
        db, title=" Notizie ", language="IT", strategies=("S2", "S4"), zones=("tigullio",)
    )
    [stored] = await all_feeds(db)
    assert (stored.id, stored.url, stored.title, stored.language) == (feed.id, URL, "Notizie", "it")
    assert (stored.default_strategies, stored.default_zones) == (["S2", "S4"], ["tigullio"])
    assert (stored.interval_s, stored.paused, stored.consecutive_failures) == (600, False, 0)
    assert NOW <= stored.next_poll_at < NOW.replace(minute=1)  # spread over the first minute


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"url": "ftp://example.org/feed"}, "must start with http:// or https://"),
        ({"url": "not a url"}, "not a valid feed URL"),
        ({"url": "https://"}, "must start with http:// or https:// and name a host"),
        ({"url": ""}, "the feed URL is empty"),
        ({"url": URL, "interval_s": 60}, "at least 120 seconds, got 60"),
        ({"url": URL, "strategies": ("S9",)}, "unknown strategy: S9. Known strategies: S1"),
        ({"url": URL, "zones": ("atlantide",)}, "unknown zone: atlantide. Known zones: ponente"),
        ({"url": URL, "language": "italiano!"}, "not a language code"),
        ({"url": URL, "first_poll_backlog": -1}, "backlog must be zero or more"),
    ],
)
async def test_bad_input_is_refused_with_a_clear_error(db, spec, message):
    with pytest.raises(FeedError, match=message.replace("?", r"\?")):
        await add(db, **spec)
    assert await all_feeds(db) == []


async def test_a_feed_cannot_be_added_twice(db):
    feed = await add(db)
    with pytest.raises(FeedError, match=f"already registered as #{feed.id}"):
        await add(db, url=f"  {URL} ")


async def test_pause_and_resume(db):
    feed = await add(db)
    async with db.transaction() as session:
        paused = await feed_registry.pause_feed(session, feed.id, now=NOW)
        assert (paused.paused, paused.pause_reason) == (True, "paused by an operator")
        with pytest.raises(FeedError, match="already paused"):
            await feed_registry.pause_feed(session, feed.id, now=NOW)
        paused.consecutive_failures = 7
    later = NOW.replace(hour=12)
    async with db.transaction() as session:
        resumed = await feed_registry.resume_feed(session, feed.id, now=later)
        assert (resumed.paused, resumed.pause_reason, resumed.consecutive_failures) == (
            False,
            None,
            0,
        )
        assert resumed.next_poll_at == later
        with pytest.raises(FeedError, match="is not paused"):
            await feed_registry.resume_feed(session, feed.id, now=later)


async def test_unknown_feed_ids_are_clear_errors(db):
    async with db.transaction() as session:
        for action in (feed_registry.remove_feed, feed_registry.get_feed):
            with pytest.raises(FeedError, match="there is no feed #999"):
                await action(session, 999)


OPML = b"""<?xml version="1.0"?>
<opml version="1.0"><head><title>Feeds</title></head><body>
  <outline text="Enti">
    <outline type="rss" text="Citta Metropolitana" language="it-IT"
             xmlUrl="https://www.cittametropolitana.genova.it/it/rss.xml"/>
    <outline type="rss" text="Comune di Rapallo" xmlUrl="https://www.comune.rapallo.ge.it/feed"/>
  </outline>
  <outline type="rss" text="Duplicato" xmlUrl="https://www.comune.rapallo.ge.it/feed"/>
  <outline type="link" text="Sito" url="https://example.org/"/>
</body></opml>"""


async def test_opml_import_adds_new_feeds_and_skips_known_ones(db):
    await add(db)
    async with db.transaction() as session:
        outcome = await feed_registry.import_opml(
            session, OPML, now=NOW, defaults=FeedSpec(url="", zones=("tigullio",))
        )
    assert [feed.url for feed in outcome.added] == ["https://www.comune.rapallo.ge.it/feed"]
    assert outcome.added[0].title == "Comune di Rapallo"
    assert outcome.added[0].default_zones == ["tigullio"]
    assert [(url, "already registered" in why) for url, why in outcome.skipped] == [(URL, True)]


async def test_opml_export_round_trips(db):
    await add(db, title="Città Metropolitana", language="it")
    await add(db, url="https://www.comune.rapallo.ge.it/feed")
    async with db.transaction() as session:
        document = await feed_registry.export_opml(session)
    exported = parse_opml(document)
    assert [(f.url, f.title, f.language) for f in exported] == [
        (URL, "Città Metropolitana", "it"),
        ("https://www.comune.rapallo.ge.it/feed", "https://www.comune.rapallo.ge.it/feed", None),
    ]


async def test_a_broken_opml_document_is_a_clear_error(db):
    async with db.transaction() as session:
        with pytest.raises(FeedError, match="not well-formed"):
            await feed_registry.import_opml(session, b"<opml><body>", now=NOW)


# ----------------------------------------------------------------------------- CLI


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot")
    feeds_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["feeds", *argv])


async def cli(settings, capsys, *argv: str) -> tuple[int, str, str]:
    code = await feeds_cli.run(parse(*argv), settings)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_cli_add_list_pause_resume_remove(db, settings, capsys):
    code, out, err = await cli(
        settings,
        capsys,
        "add",
        URL,
        "--title",
        "Notizie",
        "--strategy",
        "S1,S2",
        "--zone",
        "tigullio",
        "--interval",
        "900",
    )
    assert (code, err) == (0, "")
    [feed] = await all_feeds(db)
    assert out.startswith(f"added feed #{feed.id}: {URL}")
    assert (feed.default_strategies, feed.default_zones, feed.interval_s) == (
        ["S1", "S2"],
        ["tigullio"],
        900,
    )

    code, out, _ = await cli(settings, capsys, "list")
    assert code == 0
    assert f"#{feed.id} [active] Notizie" in out and URL in out
    assert "every 900 s · strategies: S1, S2 · zones: tigullio" in out

    assert (await cli(settings, capsys, "pause", str(feed.id)))[:2] == (
        0,
        f"paused feed #{feed.id}: {URL}\n",
    )
    code, out, _ = await cli(settings, capsys, "list")
    assert "[paused]" in out and "paused: paused by an operator" in out
    code, out, _ = await cli(settings, capsys, "resume", str(feed.id))
    assert code == 0 and out.startswith(f"resumed feed #{feed.id}")
    code, out, _ = await cli(settings, capsys, "remove", str(feed.id))
    assert (code, out) == (0, f"removed feed #{feed.id}: {URL}\n")
    assert (await cli(settings, capsys, "list"))[1].startswith("no feeds yet")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("add", "ftp://x/feed"), "must start with http:// or https://"),
        (("add", URL, "--interval", "30"), "at least 120 seconds"),
        (("add", URL, "--zone", "marte"), "unknown zone: marte"),
        (("remove", "42"), "there is no feed #42"),
        (("pause", "42"), "there is no feed #42"),
        (("resume", "42"), "there is no feed #42"),
        (("poll", "42"), "there is no active feed #42"),
        (("import-opml", "/nonexistent/feeds.opml"), "cannot read /nonexistent/feeds.opml"),
    ],
)
async def test_cli_bad_input_gives_one_clear_line_and_exit_code_2(
    db, settings, capsys, argv, message
):
    code, out, err = await cli(settings, capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("psm-bot feeds: ") and message in err
    assert err.count("\n") == 1


async def test_cli_duplicate_is_refused(db, settings, capsys):
    await cli(settings, capsys, "add", URL)
    code, _, err = await cli(settings, capsys, "add", URL)
    assert code == 2 and "already registered" in err


def test_cli_malformed_arguments_are_refused_by_argparse(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse("remove", "uno")
    assert exit_info.value.code == 2
    assert "invalid int value: 'uno'" in capsys.readouterr().err


async def test_cli_opml_round_trip(db, settings, capsys, tmp_path):
    source = tmp_path / "in.opml"
    source.write_bytes(OPML)
    code, out, _ = await cli(settings, capsys, "import-opml", str(source), "--strategy", "S3")
    assert code == 0 and out.startswith("imported 2 feeds, skipped 0")
    assert {tuple(feed.default_strategies) for feed in await all_feeds(db)} == {("S3",)}

    target = tmp_path / "out.opml"
    assert (await cli(settings, capsys, "export-opml", str(target)))[:2] == (0, f"wrote {target}\n")
    code, printed, _ = await cli(settings, capsys, "export-opml")
    assert printed.encode() == target.read_bytes()
    assert [f.url for f in parse_opml(target.read_bytes())] == [f.url for f in parse_opml(OPML)]


async def test_cli_poll_polls_now(db, settings, capsys, monkeypatch):
    without_proxies(monkeypatch)
    async with FeedServer.running() as server:
        url = server.serve("/news.xml", [item(1), item(2)])
        await cli(settings, capsys, "add", url, "--backlog", "1")
        [feed] = await all_feeds(db)
        code, out, err = await cli(settings, capsys, "poll", str(feed.id))
        assert (code, err) == (0, "")
        assert f"#{feed.id} ok: 1 new, 1 already there recorded as seen" in out
        assert "1 new notifications in the outbox" in out
        code, out, _ = await cli(settings, capsys, "poll")
        assert f"#{feed.id} ok —" in out and "0 new notifications" in out
    async with db.transaction() as session:
        assert len(list(await session.scalars(select(Notification)))) == 1
