"""The shape every feature module of the command line has (feeds, events, monitoring, …).

A feature module adds one command to `python -m bot` and runs it:

    def add_parser(commands: Commands) -> None      # the command and its ACTIONs
    async def run(args, settings: Settings) -> int  # 0 when done, EXIT_BAD_INPUT for bad input

The ACTIONs are subparsers with `dest="subcommand"` (not "action": `--action ID`, one of the
plan's actions, is an option of `record` and `broadcast`); `run` picks the action by
`args.subcommand` from its `_ACTIONS`. `broadcast` sends without an action word, so its
`subcommand` is an optional positional (`list`, `cancel ID`) instead of subparsers.
`bot.cli.main` dispatches to `run` by the command's name.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from bot.config import Settings
from bot.db.engine import Database
from bot.runtime import prepare_database

EXIT_BAD_INPUT = 2


class Commands(Protocol):
    """The subcommands of a parser, as `ArgumentParser.add_subparsers()` returns them."""

    def add_parser(self, name: str, *, help: str | None = None) -> argparse.ArgumentParser: ...


class Feature(Protocol):
    """A feature module of the command line."""

    def add_parser(self, commands: Commands) -> None: ...

    async def run(self, args: argparse.Namespace, settings: Settings) -> int: ...


@asynccontextmanager
async def with_database(settings: Settings) -> AsyncIterator[Database]:
    """The migrated database of `settings`, disposed of when the command is done."""
    db = await prepare_database(settings)
    try:
        yield db
    finally:
        await db.dispose()
