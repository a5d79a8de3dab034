"""``BotApiSandbox``: a local stand-in for the Telegram Bot API server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from .context import DEFAULT_CALLBACK_QUERY_TIMEOUT, SandboxContext
from .dispatcher import ApiCall, Dispatcher, Rejection
from .faults import (
    DEFAULT_RETRY_AFTER,
    FaultInjector,
    FaultMode,
    FaultRule,
    FloodLimiter,
    Storm,
)
from .host import WaitOptions
from .methods_bot import bot_handlers
from .methods_media import MEDIA_HANDLERS
from .methods_messages import MESSAGE_HANDLERS
from .server import ApiRoutes, Latency
from .spec import ApiSpec
from .state import ChatState, SandboxWorld, UserProfile
from .sync import wait_quiet, wait_until
from .transcript import TranscriptEntry, render_entries
from .updates import QueuedUpdate, UpdateQueue
from .users import SandboxUser
from .webhook import WebhookDelivery

DEFAULT_REPLY_TIMEOUT = 10.0
DEFAULT_SETTLE = 0.15
_TAIL_LENGTH = 8
_SHUTDOWN_TIMEOUT = 2.0


class BotApiSandbox:
    """An aiohttp server speaking the Bot API, plus a driver to act as users.

    Use ``await start()`` / ``await stop()`` or ``async with BotApiSandbox() as sandbox``.
    Point PTB at it with ``base_url=sandbox.base_url, base_file_url=sandbox.base_file_url``.
    """

    def __init__(
        self,
        token: str = "123456:TEST",
        bot_username: str = "psm_test_bot",
        *,
        bot_first_name: str = "PSM Test Bot",
        spec_path: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        callback_query_timeout: float = DEFAULT_CALLBACK_QUERY_TIMEOUT,
        reply_timeout: float = DEFAULT_REPLY_TIMEOUT,
        settle: float = DEFAULT_SETTLE,
        webhook_attempts: int = 3,
        webhook_retry_delay: float = 0.2,
    ) -> None:
        self.token = token
        self.host = host
        self._latency: Latency | None = None
        self._routes: ApiRoutes | None = None
        self.reply_timeout = reply_timeout
        self.settle = settle
        self.spec = ApiSpec(spec_path)
        bot = UserProfile(
            id=_bot_id(token), first_name=bot_first_name, username=bot_username, is_bot=True
        )
        self.world = SandboxWorld(bot)
        self.queue = UpdateQueue(self.world.notifier)
        self.webhook = WebhookDelivery(
            self.queue,
            self.world.notifier,
            lambda: self.world.clock(),
            attempts=webhook_attempts,
            retry_delay=webhook_retry_delay,
        )
        self.flood = FloodLimiter()
        self.faults = FaultInjector()
        self.context = SandboxContext(
            self.world,
            self.queue,
            self.webhook,
            self.flood,
            callback_query_timeout=callback_query_timeout,
        )
        handlers = {**bot_handlers(), **MESSAGE_HANDLERS, **MEDIA_HANDLERS}
        self.dispatcher = Dispatcher(self.spec, self.context, handlers, self.faults)
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._users: dict[int, SandboxUser] = {}
        self._bot_busy: Callable[[], bool] = lambda: False

    # --- lifecycle ----------------------------------------------------------

    async def start(self) -> BotApiSandbox:
        if self._runner is not None:
            return self
        routes = ApiRoutes(self.token, self.dispatcher, self.world.files)
        routes.latency = self._latency
        self._routes = routes
        runner = web.AppRunner(
            routes.build_app(), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port)
        await site.start()
        self._runner = runner
        self._port = runner.addresses[0][1]
        self.context.closing = False
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self.context.closing = True
        self.world.notifier.notify()
        await self.webhook.stop()
        await runner.cleanup()

    async def __aenter__(self) -> BotApiSandbox:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the sandbox is not started: await sandbox.start() first")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @property
    def clock(self) -> Callable[[], float]:
        """Unix time used for message dates and callback query ages (overridable)."""
        return self.world.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.world.clock = clock

    @property
    def bot_id(self) -> int:
        return self.world.bot.id

    # --- people and chats ---------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str = "User",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        *,
        started: bool = True,
    ) -> SandboxUser:
        """The user with this id (created on first call; later calls return the same object).

        ``started=False``: a user who never wrote to the bot; until they do, messages to them
        are refused with 403 "bot can't initiate conversation with a user".
        """
        existing = self._users.get(user_id)
        if existing is not None:
            return existing
        profile = UserProfile(user_id, first_name, last_name, username, language_code)
        self.world.private_chat(profile).bot_started = started
        user = self._users[user_id] = SandboxUser(self, profile)
        return user

    def group(self, chat_id: int, title: str = "Group", *, supergroup: bool = False) -> ChatState:
        """A group chat the bot is a member of (negative ids, like Telegram)."""
        return self.world.group_chat(chat_id, title, "supergroup" if supergroup else "group")

    def remove_bot_from_group(self, chat_id: int) -> None:
        """The bot is removed from a group: messages to it get 403 "bot was kicked from …"."""
        self.world.group_chat(chat_id, "Group").blocked = True

    def migrate_chat(self, old_id: int, new_id: int) -> None:
        """Upgrade a group: later calls on ``old_id`` get 400 with migrate_to_chat_id."""
        old_chat = self.world.chats.get(old_id) or self.group(old_id)
        self.world.group_chat(new_id, old_chat.title or "Group", "supergroup")
        old_chat.migrated_to = new_id

    # --- faults and limits --------------------------------------------------

    def fail_next(
        self,
        method: str | None = None,
        *,
        error_code: int = 429,
        retry_after: int | None = None,
        description: str | None = None,
        count: int = 1,
        chat_id: int | str | None = None,
        drop_connection: bool = False,
        mode: FaultMode | str = FaultMode.ERROR,
        hang_s: float = 0.0,
    ) -> None:
        """Make the next ``count`` matching calls fail (``method=None``: any but getUpdates).

        ``mode`` (see ``FaultMode``): "error" answers ``error_code`` (429 answers carry
        ``parameters.retry_after``, default 1 s); "drop_before" closes the connection without
        doing anything (``drop_connection=True`` is the same); "drop_after", "hang_after" (answer
        ``hang_s`` seconds late) and "not_json" (HTTP 200, an HTML page) first do what was
        asked, so the message is delivered although the bot gets no usable answer.
        """
        self.faults.add(
            self._fault_rule(
                method,
                error_code,
                retry_after,
                description,
                count,
                chat_id,
                FaultMode.DROP_BEFORE if drop_connection else FaultMode(mode),
                hang_s,
            )
        )

    def fail_randomly(
        self,
        probability: float,
        method: str | None = None,
        *,
        seed: int = 0,
        error_code: int = 500,
        retry_after: int | None = None,
        description: str | None = None,
        chat_id: int | str | None = None,
        mode: FaultMode | str = FaultMode.ERROR,
        hang_s: float = 0.0,
    ) -> None:
        """Make each matching call fail with ``probability`` (options as ``fail_next``), until
        ``faults.clear()``. Draws are seeded per chat and call: the same run fails the same
        calls, whatever order concurrent requests arrive in."""
        rule = self._fault_rule(
            method, error_code, retry_after, description, 1, chat_id, FaultMode(mode), hang_s
        )
        self.faults.add_random(rule, probability, seed)

    def storm_429(self, *, every_s: float, lasting_s: float, method: str | None = None) -> None:
        """Every ``every_s`` seconds, ``lasting_s`` seconds in which every send* / edit* call is
        answered 429 with the storm's remaining seconds as ``retry_after``."""
        self._check_method(method)
        self.faults.add_storm(Storm(every_s, lasting_s, method.lower() if method else None))

    def _fault_rule(
        self,
        method: str | None,
        error_code: int,
        retry_after: int | None,
        description: str | None,
        count: int,
        chat_id: int | str | None,
        mode: FaultMode,
        hang_s: float,
    ) -> FaultRule:
        self._check_method(method)
        return FaultRule(
            method=method.lower() if method else None,
            error_code=error_code,
            retry_after=retry_after,
            description=description,
            remaining=count,
            chat_id=chat_id,
            mode=mode,
            hang_s=hang_s,
        )

    def _check_method(self, method: str | None) -> None:
        if method is not None and self.spec.method_name(method) is None:
            raise ValueError(f"unknown Bot API method {method!r}")

    def set_latency(self, round_trip_s: float, jitter_s: float = 0.0) -> None:
        """Answer as Telegram does from far away: each request takes a round trip of
        `round_trip_s` ± `jitter_s` / 2 (half on the way there, half back)."""
        self._latency = Latency(round_trip_s, jitter_s) if round_trip_s or jitter_s else None
        if self._routes is not None:
            self._routes.latency = self._latency

    @property
    def early_sends(self) -> int:
        """Messages sent before a 429's retry_after had passed (refused again)."""
        return self.flood.early_sends

    @property
    def refusals(self) -> dict[str, int]:
        """The 429s answered, by the limit they enforced: "overall", "chat", "group", or
        "early" (sent before a retry_after had passed)."""
        return dict(self.flood.refusals)

    def set_flood_limits(
        self,
        global_per_second: int | None = None,
        per_chat_per_second: int | None = None,
        per_group_per_minute: int | None = None,
        retry_after: int = DEFAULT_RETRY_AFTER,
    ) -> None:
        """Rate-limit send*/edit* calls (all None: no limits, the default)."""
        self.flood.configure(
            global_per_second, per_chat_per_second, per_group_per_minute, retry_after
        )

    # --- what happened ------------------------------------------------------

    @property
    def calls(self) -> list[ApiCall]:
        return self.dispatcher.calls

    @property
    def rejections(self) -> list[Rejection]:
        return self.dispatcher.rejections

    @property
    def unsupported_calls(self) -> list[ApiCall]:
        return self.dispatcher.unsupported_calls

    def count(self, method: str, *, ok: bool | None = None) -> int:
        """Number of calls of ``method`` (any case); ``ok=True/False`` filters by outcome."""
        lowered = method.lower()
        return sum(
            1
            for call in self.calls
            if call.method.lower() == lowered and (ok is None or call.ok == ok)
        )

    def assert_no_rejections(self, *, ignore: Iterable[str] = ()) -> None:
        """Fail if the bot sent anything Telegram would reject.

        Rejections whose description contains one of the ``ignore`` substrings are skipped.
        """
        ignored = tuple(ignore)
        found = [r for r in self.rejections if not any(text in r.description for text in ignored)]
        if found:
            listed = "\n".join(f"  {r.method} {r.params!r}: {r.description}" for r in found)
            raise AssertionError(f"{len(found)} request(s) rejected by the sandbox:\n{listed}")

    def clear_history(self) -> None:
        """Forget recorded calls and rejections (chats and messages stay)."""
        self.calls.clear()
        self.rejections.clear()
        self.unsupported_calls.clear()

    @property
    def history(self) -> list[TranscriptEntry]:
        return list(self.world.history)

    def transcript(self, chat_id: int) -> list[TranscriptEntry]:
        chat = self.world.chats.get(chat_id)
        return list(chat.history) if chat else []

    def render_transcript(self, chat_id: int, *, width: int = 72) -> str:
        return render_entries(self.transcript(chat_id), self._names(), width=width)

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """The commands set for exactly this scope and language (as getMyCommands answers)."""
        scope = scope or {"type": "default"}
        key = (scope["type"], str(scope.get("chat_id", "")), int(scope.get("user_id", 0)))
        return [dict(c) for c in self.context.profile.commands.get((key, language_code), [])]

    def visible_commands(
        self, chat_id: int, language_code: str | None = None
    ) -> list[dict[str, Any]]:
        """The command menu a private-chat user would see, with Telegram's scope fallback."""
        scopes: list[dict[str, Any]] = [
            {"type": "chat", "chat_id": chat_id},
            {"type": "all_private_chats"},
            {"type": "default"},
        ]
        for scope in scopes:
            for language in dict.fromkeys([language_code or "", ""]):
                commands = self.commands(scope, language)
                if commands:
                    return commands
        return []

    def webhook_info(self) -> dict[str, Any]:
        return self.webhook.info_json()

    @property
    def pending_updates(self) -> int:
        return self.queue.pending_count

    # --- waiting ------------------------------------------------------------

    async def await_reaction(
        self, chat: ChatState, start: int, update: QueuedUpdate, options: WaitOptions, action: str
    ) -> list[TranscriptEntry]:
        """Wait for the bot's reaction to a user action and return the bot's actions."""
        timeout = self.reply_timeout if options.timeout is None else options.timeout
        settle = self.settle if options.settle is None else options.settle
        deadline = time.monotonic() + timeout

        def reacted() -> bool:
            if not options.expect_reply:
                return update.delivered
            return any(entry.is_bot_action for entry in chat.history[start:])

        if not await wait_until(reacted, self.world.notifier, deadline):
            raise TimeoutError(self._no_reaction_message(chat, update, options, action, timeout))
        if options.expect_reply:
            await self.settled(chat, settle, time.monotonic() + timeout, action)
        else:  # the caller goes on while the bot may still be at work
            await wait_quiet(lambda: chat.last_activity, settle, time.monotonic() + timeout)
        return [entry for entry in chat.history[start:] if entry.is_bot_action]

    def watch_bot(self, busy: Callable[[], bool]) -> None:
        """Tell the driver how to see that the bot is still handling updates.

        A reaction is then complete only once the bot has finished: a handler that answers a
        press and edits the message later is not cut short by a slow machine. Without it, a
        reaction ends after ``settle`` seconds of quiet (all a Telegram user could know), as
        it does for actions with ``expect_reply=False``.
        """
        self._bot_busy = busy

    async def settled(self, chat: ChatState, settle: float, deadline: float, action: str) -> None:
        """Wait until the bot handles no update and the chat was quiet ``settle`` seconds."""
        while True:
            if not await wait_until(lambda: not self._bot_busy(), self.world.notifier, deadline):
                raise TimeoutError(f"the bot was still handling updates after {action}")
            await wait_quiet(lambda: chat.last_activity, settle, deadline)
            if not self._bot_busy() or time.monotonic() >= deadline:
                return

    def _no_reaction_message(
        self,
        chat: ChatState,
        update: QueuedUpdate,
        options: WaitOptions,
        action: str,
        timeout: float,
    ) -> str:
        waited_for = "a bot action" if options.expect_reply else "the update to be fetched"
        lines = [f"{waited_for} in chat {chat.id} did not happen within {timeout}s after {action}."]
        if not update.delivered:
            lines.append("The update was never fetched: is the bot polling, or is a webhook set?")
        tail = render_entries(chat.history[-_TAIL_LENGTH:], self._names())
        lines.append("Transcript tail:\n" + (tail or "(empty)"))
        return "\n".join(lines)

    def _names(self) -> dict[int, str]:
        return {user.id: user.profile.display_name for user in self._users.values()}

    async def wait_for(
        self,
        predicate: Callable[[TranscriptEntry], bool],
        timeout: float | None = None,
        *,
        new_only: bool = False,
    ) -> TranscriptEntry:
        """The first transcript entry (any chat) matching ``predicate``, waiting if needed.

        ``new_only=True`` ignores entries recorded before the call.
        """
        start = len(self.world.history) if new_only else 0
        found: list[TranscriptEntry] = []

        def matched() -> bool:
            match = next((e for e in self.world.history[start:] if predicate(e)), None)
            found[:] = [match] if match else []
            return bool(found)

        limit = self.reply_timeout if timeout is None else timeout
        if not await wait_until(matched, self.world.notifier, time.monotonic() + limit):
            tail = render_entries(self.world.history[-_TAIL_LENGTH:], self._names())
            raise TimeoutError(f"no matching transcript entry within {limit}s. Tail:\n{tail}")
        return found[0]

    async def wait_until(self, condition: Callable[[], bool], timeout: float | None = None) -> None:
        """Wait until ``condition()`` is true (re-checked whenever something happens)."""
        limit = self.reply_timeout if timeout is None else timeout
        if not await wait_until(condition, self.world.notifier, time.monotonic() + limit):
            raise TimeoutError(f"condition not met within {limit}s")

    async def wait_idle(self, settle: float = 0.2, timeout: float | None = None) -> None:
        """Wait until updates are fetched, no request runs and the bot was quiet ``settle`` s."""
        limit = self.reply_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            if not await wait_until(self._is_idle, self.world.notifier, deadline):
                raise TimeoutError(f"the bot did not become idle within {limit}s")
            await wait_quiet(lambda: self.world.last_bot_activity, settle, deadline)
            quiet = time.monotonic() - self.world.last_bot_activity >= settle
            if self._is_idle() and quiet:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the bot did not become idle within {limit}s")

    def _is_idle(self) -> bool:
        consumer_active = self.webhook.active or self.dispatcher.polling_seen
        undelivered = consumer_active and any(not u.delivered for u in self.queue.peek())
        return not undelivered and self.world.requests_in_flight == 0


def _bot_id(token: str) -> int:
    prefix = token.split(":", 1)[0]
    return int(prefix) if prefix.isdigit() else 1
