"""The sandbox's world: users, chats, messages, callback queries, transcripts."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .content_rules import FormattedText
from .errors import bad_request
from .files import FileStore, StoredFile
from .sync import Notifier
from .transcript import TranscriptEntry, buttons_from_markup

_ACCEPTED_GIFT_TYPES = {
    "unlimited_gifts": False,
    "limited_gifts": False,
    "unique_gifts": False,
    "premium_subscription": False,
    "gifts_from_channels": False,
}


@dataclass
class UserProfile:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False

    def to_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": self.id,
            "is_bot": self.is_bot,
            "first_name": self.first_name,
        }
        optional = {
            "last_name": self.last_name,
            "username": self.username,
            "language_code": self.language_code,
        }
        payload.update({key: value for key, value in optional.items() if value})
        return payload

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass
class MessageRecord:
    """The current state of one message (bot's or user's)."""

    chat_id: int
    message_id: int
    sender: UserProfile
    date: int
    body: FormattedText | None = None
    body_is_caption: bool = False
    media_kind: str | None = None
    files: list[StoredFile] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    reply_to_message_id: int | None = None
    forward_origin: dict[str, Any] | None = None
    media_group_id: str | None = None  # the album it belongs to
    edit_date: int | None = None
    deleted: bool = False

    @property
    def from_bot(self) -> bool:
        return self.sender.is_bot

    @property
    def main_file(self) -> StoredFile | None:
        return self.files[-1] if self.files else None

    @property
    def kind(self) -> str:
        if self.media_kind:
            return self.media_kind
        return "bot_message" if self.from_bot else "user_message"

    def content_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        if self.media_kind == "document" and self.main_file:
            payload["document"] = self.main_file.document_json()
        if self.media_kind == "photo":
            payload["photo"] = [size.photo_size_json() for size in self.files]
        if self.media_group_id:
            payload["media_group_id"] = self.media_group_id
        if self.body is not None:
            text_key, entities_key = (
                ("caption", "caption_entities") if self.body_is_caption else ("text", "entities")
            )
            payload[text_key] = self.body.plain
            if self.body.entities:
                payload[entities_key] = self.body.entity_list()
        return payload


@dataclass
class ChatState:
    id: int
    type: str
    title: str | None = None
    user: UserProfile | None = None
    blocked: bool = False  # private chat: the user blocked the bot; group: the bot was removed
    deactivated: bool = False  # the user deleted their account
    bot_started: bool = True  # False until a user who never wrote to the bot does
    migrated_to: int | None = None
    messages: dict[int, MessageRecord] = field(default_factory=dict)
    history: list[TranscriptEntry] = field(default_factory=list)
    last_activity: float = 0.0
    chat_instance: str = field(default_factory=lambda: str(secrets.randbits(63)))
    next_message_id: int = 1

    def allocate_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def to_json(self) -> dict[str, Any]:
        if self.type == "private" and self.user:
            payload = {"id": self.id, "type": "private", "first_name": self.user.first_name}
            if self.user.last_name:
                payload["last_name"] = self.user.last_name
            if self.user.username:
                payload["username"] = self.user.username
            return payload
        return {"id": self.id, "type": self.type, "title": self.title or str(self.id)}

    def full_info_json(self) -> dict[str, Any]:
        return {
            **self.to_json(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict(_ACCEPTED_GIFT_TYPES),
        }

    def touch(self) -> None:
        self.last_activity = time.monotonic()


@dataclass
class CallbackQueryRecord:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str | None
    created_at: float
    answered: bool = False


class SandboxWorld:
    """Everything the fake Telegram knows, plus the event history."""

    def __init__(self, bot: UserProfile, clock: Callable[[], float] = time.time) -> None:
        self.bot = bot
        self.clock = clock
        self.chats: dict[int, ChatState] = {}
        self.files = FileStore()
        self.history: list[TranscriptEntry] = []
        self.notifier = Notifier()
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        self.last_bot_activity = 0.0
        self.requests_in_flight = 0

    def unix_now(self) -> int:
        return int(self.clock())

    def find_chat(self, chat_id: Any) -> ChatState | None:
        """Chats are found by numeric id only (bots can't address users by @username)."""
        return self.chats.get(chat_id) if isinstance(chat_id, int) else None

    def require_chat(self, chat_id: Any) -> ChatState:
        chat = self.find_chat(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def private_chat(self, user: UserProfile) -> ChatState:
        chat = self.chats.get(user.id)
        if chat is None:
            chat = self.chats[user.id] = ChatState(id=user.id, type="private", user=user)
        return chat

    def group_chat(self, chat_id: int, title: str, chat_type: str = "group") -> ChatState:
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = ChatState(id=chat_id, type=chat_type, title=title)
        return chat

    def store_message(self, chat: ChatState, sender: UserProfile, **content: Any) -> MessageRecord:
        record = MessageRecord(
            chat_id=chat.id,
            message_id=chat.allocate_message_id(),
            sender=sender,
            date=self.unix_now(),
            **content,
        )
        chat.messages[record.message_id] = record
        return record

    def find_message(self, chat: ChatState, message_id: int) -> MessageRecord | None:
        record = chat.messages.get(message_id)
        return record if record and not record.deleted else None

    def message_json(self, record: MessageRecord, *, with_reply: bool = True) -> dict[str, Any]:
        chat = self.chats[record.chat_id]
        payload: dict[str, Any] = {
            "message_id": record.message_id,
            "from": record.sender.to_json(),
            "chat": chat.to_json(),
            "date": record.date,
        }
        if record.edit_date:
            payload["edit_date"] = record.edit_date
        if record.forward_origin:
            payload["forward_origin"] = record.forward_origin
        original = chat.messages.get(record.reply_to_message_id or 0)
        if with_reply and original:
            payload["reply_to_message"] = self.message_json(original, with_reply=False)
        payload.update(record.content_json())
        if record.reply_markup:
            payload["reply_markup"] = record.reply_markup
        return payload

    def record(self, entry: TranscriptEntry) -> TranscriptEntry:
        entry.timestamp = self.clock()
        chat = self.chats.get(entry.chat_id)
        if chat is not None:
            chat.history.append(entry)
            chat.touch()
        self.history.append(entry)
        self.notifier.notify()
        return entry

    def snapshot(self, record: MessageRecord, kind: str | None = None) -> TranscriptEntry:
        """A transcript entry describing the message as it is now."""
        body = record.body
        main_file = record.main_file
        return TranscriptEntry(
            kind=kind or record.kind,
            chat_id=record.chat_id,
            message_id=record.message_id,
            text=body.plain if body else None,
            html=body.raw if body else None,
            parse_mode=body.parse_mode if body else None,
            entities=body.entity_list() if body else [],
            buttons=buttons_from_markup(record.reply_markup),
            caption=body.plain if body and record.body_is_caption else None,
            file_name=main_file.file_name if main_file else None,
            file_id=main_file.file_id if main_file else None,
            file_bytes=main_file.content if main_file else None,
            mime_type=main_file.mime_type if main_file else None,
            from_bot=record.from_bot,
            user_id=None if record.from_bot else record.sender.id,
            edited=record.edit_date is not None,
            deleted=record.deleted,
            reply_to_message_id=record.reply_to_message_id,
            media_group_id=record.media_group_id,
            timestamp=self.clock(),
        )

    def bot_records(self, chat: ChatState) -> list[MessageRecord]:
        return [r for r in chat.messages.values() if r.from_bot and not r.deleted]

    def mark_bot_activity(self, chat_id: Any = None) -> None:
        self.last_bot_activity = time.monotonic()
        chat = self.find_chat(chat_id) if chat_id is not None else None
        if chat is not None:
            chat.touch()
