"""What a ``SandboxUser`` needs from the sandbox it acts in.

``users`` depends on this interface, not on ``BotApiSandbox``: the sandbox creates its users,
so the users cannot import the sandbox back (an import-linter contract keeps it so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .state import ChatState, SandboxWorld
from .transcript import TranscriptEntry
from .updates import QueuedUpdate, UpdateQueue


@dataclass(frozen=True)
class WaitOptions:
    """How long a user action waits for the bot (None: the sandbox's defaults)."""

    expect_reply: bool = True
    timeout: float | None = None
    settle: float | None = None


class SandboxHost(Protocol):
    """The sandbox as its users see it: the world, the update queue and waiting for the bot."""

    world: SandboxWorld
    queue: UpdateQueue
    reply_timeout: float
    settle: float

    def render_transcript(self, chat_id: int, *, width: int = 72) -> str: ...

    async def await_reaction(
        self, chat: ChatState, start: int, update: QueuedUpdate, options: WaitOptions, action: str
    ) -> list[TranscriptEntry]:
        """Wait for the bot's reaction to a user action and return the bot's actions."""
        ...

    async def settled(self, chat: ChatState, settle: float, deadline: float, action: str) -> None:
        """Wait until the bot handles no update and the chat was quiet ``settle`` seconds."""
        ...
