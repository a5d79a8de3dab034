"""Acting as a Telegram user: send messages, press buttons, block the bot."""

from __future__ import annotations

import secrets
import time
from typing import Any

from .content_rules import FormattedText, user_text
from .files import tiny_png
from .host import SandboxHost, WaitOptions
from .state import CallbackQueryRecord, ChatState, MessageRecord, UserProfile
from .sync import wait_until
from .transcript import TranscriptEntry
from .updates import QueuedUpdate


class SandboxUser:
    """A user with a private chat with the bot (chat id == user id)."""

    def __init__(self, sandbox: SandboxHost, profile: UserProfile) -> None:
        self._sandbox = sandbox
        self.profile = profile

    def __repr__(self) -> str:
        return f"SandboxUser({self.id}, {self.profile.display_name!r})"

    @property
    def id(self) -> int:
        return self.profile.id

    @property
    def chat_id(self) -> int:
        return self.profile.id

    @property
    def first_name(self) -> str:
        return self.profile.first_name

    @property
    def chat(self) -> ChatState:
        return self._sandbox.world.private_chat(self.profile)

    @property
    def blocked(self) -> bool:
        return self.chat.blocked

    # --- what the user sees -------------------------------------------------

    @property
    def transcript(self) -> list[TranscriptEntry]:
        return list(self.chat.history)

    @property
    def bot_messages(self) -> list[TranscriptEntry]:
        """Current state of the bot's messages in this chat (deleted ones left out)."""
        world = self._sandbox.world
        return [world.snapshot(record) for record in world.bot_records(self.chat)]

    @property
    def last_bot_message(self) -> TranscriptEntry | None:
        messages = self.bot_messages
        return messages[-1] if messages else None

    @property
    def callback_answers(self) -> list[TranscriptEntry]:
        return [entry for entry in self.chat.history if entry.kind == "callback_answer"]

    def render(self, *, width: int = 72) -> str:
        return self._sandbox.render_transcript(self.chat_id, width=width)

    # --- actions ------------------------------------------------------------

    async def send(
        self,
        text: str,
        *,
        expect_reply: bool = True,
        timeout: float | None = None,
        settle: float | None = None,
    ) -> list[TranscriptEntry]:
        """Send a text message; "/command" texts carry a bot_command entity."""
        options = WaitOptions(expect_reply, timeout, settle)
        return await self._post_message(options, f"send {text!r}", body=user_text(text))

    async def reply(
        self,
        text: str,
        *,
        to: int,
        expect_reply: bool = True,
        timeout: float | None = None,
        settle: float | None = None,
    ) -> list[TranscriptEntry]:
        if self._sandbox.world.find_message(self.chat, to) is None:
            raise LookupError(f"message #{to} does not exist in chat {self.chat_id}")
        options = WaitOptions(expect_reply, timeout, settle)
        return await self._post_message(
            options, f"reply {text!r}", body=user_text(text), reply_to_message_id=to
        )

    async def send_document(
        self,
        file_name: str,
        content: bytes,
        *,
        mime_type: str | None = None,
        caption: str | None = None,
        expect_reply: bool = True,
        timeout: float | None = None,
        settle: float | None = None,
    ) -> list[TranscriptEntry]:
        stored = self._sandbox.world.files.add_document(file_name, content, mime_type)
        options = WaitOptions(expect_reply, timeout, settle)
        return await self._post_message(
            options,
            f"send document {file_name!r}",
            media_kind="document",
            files=[stored],
            body=_plain(caption),
            body_is_caption=True,
        )

    async def send_photo(
        self,
        content: bytes | None = None,
        *,
        file_name: str = "photo.png",
        caption: str | None = None,
        expect_reply: bool = True,
        timeout: float | None = None,
        settle: float | None = None,
    ) -> list[TranscriptEntry]:
        sizes = self._sandbox.world.files.add_photo(file_name, content or tiny_png(64, 48))
        options = WaitOptions(expect_reply, timeout, settle)
        return await self._post_message(
            options,
            "send photo",
            media_kind="photo",
            files=sizes,
            body=_plain(caption),
            body_is_caption=True,
        )

    async def forward_text(
        self,
        text: str,
        *,
        from_chat: int | str | SandboxUser | None = None,
        from_chat_title: str | None = None,
        expect_reply: bool = True,
        timeout: float | None = None,
        settle: float | None = None,
    ) -> list[TranscriptEntry]:
        """Forward a text message from a channel (int id), a user or a hidden user (str)."""
        origin = self._forward_origin(from_chat, from_chat_title)
        options = WaitOptions(expect_reply, timeout, settle)
        return await self._post_message(
            options, f"forward {text!r}", body=_plain(text), forward_origin=origin
        )

    async def press(
        self,
        label: str,
        *,
        message_id: int | None = None,
        expect_reply: bool = True,
        timeout: float | None = None,
        settle: float | None = None,
    ) -> list[TranscriptEntry]:
        """Press the inline button with this exact label on the latest message showing it."""
        record, data = self._find_button(label, message_id)
        options = WaitOptions(expect_reply, timeout, settle)
        return await self._press(record.message_id, data, label, options)

    async def press_data(
        self,
        data: str,
        *,
        message_id: int | None = None,
        expect_reply: bool = True,
        timeout: float | None = None,
        settle: float | None = None,
    ) -> list[TranscriptEntry]:
        """Send a callback query with arbitrary data (stale or forged buttons)."""
        if message_id is None:
            latest = self.last_bot_message
            if latest is None:
                raise LookupError(f"the bot has sent no message in chat {self.chat_id}")
            message_id = latest.message_id
        if message_id not in self.chat.messages:
            raise LookupError(f"message #{message_id} does not exist in chat {self.chat_id}")
        label = _label_for_data(self.chat.messages[message_id], data)
        options = WaitOptions(expect_reply, timeout, settle)
        return await self._press(message_id, data, label, options)

    async def double_press(
        self,
        label: str,
        *,
        message_id: int | None = None,
        timeout: float | None = None,
        settle: float | None = None,
    ) -> list[TranscriptEntry]:
        """Press a button twice before the bot reacts to the first press (a fast double tap).

        Both callback queries carry the message as it was before either press; returns the
        bot's actions once both presses are answered.
        """
        record, data = self._find_button(label, message_id)
        start = len(self.chat.history)
        queries = [self._queue_press(record.message_id, data, label)[0] for _ in range(2)]
        sandbox = self._sandbox
        limit = sandbox.reply_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        answered = await wait_until(
            lambda: all(query.answered for query in queries), sandbox.world.notifier, deadline
        )
        if not answered:
            raise TimeoutError(f"the bot did not answer both presses of {label!r} in {limit}s")
        quiet = sandbox.settle if settle is None else settle
        await sandbox.settled(self.chat, quiet, time.monotonic() + limit, f"pressing {label!r}")
        return [entry for entry in self.chat.history[start:] if entry.is_bot_action]

    def delete_account(self) -> None:
        """Delete the account: messages to it are refused with 403 "user is deactivated"."""
        self.chat.deactivated = True

    def block(self) -> None:
        """Block the bot: the bot gets a my_chat_member update (member -> kicked)."""
        self._change_membership(blocked=True)

    def unblock(self) -> None:
        """Unblock the bot: the bot gets a my_chat_member update (kicked -> member)."""
        self._change_membership(blocked=False)

    # --- internals ----------------------------------------------------------

    async def _post_message(
        self, options: WaitOptions, action: str, **content: Any
    ) -> list[TranscriptEntry]:
        if self.blocked:
            raise RuntimeError(f"{self!r} blocked the bot: call unblock() before sending")
        if self.chat.deactivated:
            raise RuntimeError(f"{self!r} deleted the account")
        self.chat.bot_started = True
        world = self._sandbox.world
        record = world.store_message(self.chat, self.profile, **content)
        world.record(world.snapshot(record))
        start = len(self.chat.history)
        update = self._sandbox.queue.push("message", world.message_json(record), self.chat_id)
        return await self._sandbox.await_reaction(self.chat, start, update, options, action)

    async def _press(
        self, message_id: int, data: str, label: str | None, options: WaitOptions
    ) -> list[TranscriptEntry]:
        start = len(self.chat.history)
        _query, update = self._queue_press(message_id, data, label)
        action = f"press {label!r}" if label else f"press data {data!r}"
        return await self._sandbox.await_reaction(self.chat, start, update, options, action)

    def _queue_press(
        self, message_id: int, data: str, label: str | None
    ) -> tuple[CallbackQueryRecord, QueuedUpdate]:
        """Record the press and queue its callback query (nothing waits here)."""
        world = self._sandbox.world
        query = CallbackQueryRecord(
            id=str(secrets.randbits(62)),
            user_id=self.id,
            chat_id=self.chat_id,
            message_id=message_id,
            data=data,
            created_at=world.clock(),
        )
        world.callback_queries[query.id] = query
        world.record(
            TranscriptEntry(
                kind="user_press",
                chat_id=self.chat_id,
                message_id=message_id,
                text=label,
                data=data,
                user_id=self.id,
            )
        )
        update = self._sandbox.queue.push(
            "callback_query", self._callback_body(query), self.chat_id
        )
        return query, update

    def _callback_body(self, query: CallbackQueryRecord) -> dict[str, Any]:
        world = self._sandbox.world
        record = self.chat.messages[query.message_id]
        if record.deleted:
            message = {"chat": self.chat.to_json(), "message_id": record.message_id, "date": 0}
        else:
            message = world.message_json(record)
        return {
            "id": query.id,
            "from": self.profile.to_json(),
            "message": message,
            "chat_instance": self.chat.chat_instance,
            "data": query.data,
        }

    def _find_button(self, label: str, message_id: int | None) -> tuple[MessageRecord, str]:
        candidates = self._button_candidates(message_id)
        for record in candidates:
            for row in (record.reply_markup or {}).get("inline_keyboard", []):
                for button in row:
                    if button["text"] == label:
                        return record, _callback_data(button, label)
        raise LookupError(
            f"no inline button labelled {label!r} in chat {self.chat_id}; "
            f"available labels: {_available_labels(candidates)}"
        )

    def _button_candidates(self, message_id: int | None) -> list[MessageRecord]:
        world = self._sandbox.world
        if message_id is None:
            return list(reversed(world.bot_records(self.chat)))
        record = world.find_message(self.chat, message_id)
        if record is None:
            raise LookupError(f"message #{message_id} does not exist in chat {self.chat_id}")
        return [record]

    def _forward_origin(
        self, source: int | str | SandboxUser | None, title: str | None
    ) -> dict[str, Any]:
        date = self._sandbox.world.unix_now()
        if isinstance(source, SandboxUser):
            return {"type": "user", "sender_user": source.profile.to_json(), "date": date}
        if isinstance(source, int):
            chat = {"id": source, "type": "channel", "title": title or f"Channel {source}"}
            return {"type": "channel", "chat": chat, "message_id": 1, "date": date}
        return {"type": "hidden_user", "sender_user_name": source or "Hidden User", "date": date}

    def _change_membership(self, *, blocked: bool) -> None:
        world = self._sandbox.world
        chat = self.chat
        if chat.blocked == blocked:
            return
        chat.blocked = blocked
        old_status, new_status = ("member", "kicked") if blocked else ("kicked", "member")
        world.record(
            TranscriptEntry(
                kind="block" if blocked else "unblock", chat_id=self.chat_id, user_id=self.id
            )
        )
        body = {
            "chat": chat.to_json(),
            "from": self.profile.to_json(),
            "date": world.unix_now(),
            "old_chat_member": _member(world.bot, old_status),
            "new_chat_member": _member(world.bot, new_status),
        }
        self._sandbox.queue.push("my_chat_member", body, self.chat_id)


def _plain(text: str | None) -> FormattedText | None:
    return FormattedText(raw=text, parse_mode=None, plain=text) if text else None


def _member(bot: UserProfile, status: str) -> dict[str, Any]:
    member: dict[str, Any] = {"status": status, "user": bot.to_json()}
    if status == "kicked":
        member["until_date"] = 0
    return member


def _callback_data(button: dict[str, Any], label: str) -> str:
    if "callback_data" not in button:
        raise LookupError(f"button {label!r} is not a callback button: {button}")
    return button["callback_data"]


def _label_for_data(record: MessageRecord, data: str) -> str | None:
    for row in (record.reply_markup or {}).get("inline_keyboard", []):
        for button in row:
            if button.get("callback_data") == data:
                return button["text"]
    return None


def _available_labels(records: list[MessageRecord]) -> str:
    described = [
        f"#{record.message_id}: {_labels(record)}" for record in records if record.reply_markup
    ]
    return "; ".join(described) or "none (no bot message has an inline keyboard)"


def _labels(record: MessageRecord) -> list[str]:
    rows = (record.reply_markup or {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]
