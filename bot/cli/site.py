"""`python -m bot site build DIR`: the public pages ("Il Piano in cifre") as static files.

    site build DIR

Writes every page in Italian and English, the QR codes (with BOT_USERNAME set) and the
open-data files, as the bot's server answers them; PUBLIC_URL makes the 404 page's and the
feeds' links absolute. A directory that cannot be written is one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.feature import EXIT_BAD_INPUT, Commands, with_database
from bot.config import Settings
from bot.site.build import build_site
from bot.site.layout import SiteOptions


def add_parser(commands: Commands) -> None:
    """Add `site` and its actions to the subcommands of `python -m bot`."""
    parser = commands.add_parser("site", help="the public pages of the plan (Il Piano in cifre)")
    actions = parser.add_subparsers(dest="subcommand", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build", help="write every page and open-data file into DIR, for any web server"
    )
    build.add_argument("directory", type=Path, metavar="DIR")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    options = SiteOptions(bot_username=settings.bot_username, public_url=settings.public_url)
    async with with_database(settings) as db:
        try:
            report = await build_site(db, args.directory, options)
        except OSError as error:
            print(f"psm-bot: site: cannot write {args.directory}: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
    largest = f"; largest page {report.largest[0] / 1024:.0f} KB" if report.largest else ""
    print(
        f"wrote {report.pages} pages and {report.files} files "
        f"({report.total_bytes / 1024:.0f} KB{largest}) to {args.directory}"
    )
    return 0
