"""What API method handlers work with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request, forbidden
from .faults import FloodLimiter
from .state import ChatState, SandboxWorld
from .updates import UpdateQueue
from .webhook import WebhookDelivery

DEFAULT_CALLBACK_QUERY_TIMEOUT = 15 * 60.0


@dataclass
class CallInfo:
    """One incoming API call, as seen by its handler."""

    method: str
    client_alive: Callable[[], bool] = lambda: True


@dataclass
class BotProfileSettings:
    """Commands, names, descriptions and menu buttons set by the bot."""

    commands: dict[tuple[tuple[str, str, int], str], list[dict[str, Any]]] = field(
        default_factory=dict
    )
    texts: dict[tuple[str, str], str] = field(default_factory=dict)
    menu_buttons: dict[int | None, dict[str, Any]] = field(default_factory=dict)


@dataclass
class SandboxContext:
    world: SandboxWorld
    queue: UpdateQueue
    webhook: WebhookDelivery
    flood: FloodLimiter
    profile: BotProfileSettings = field(default_factory=BotProfileSettings)
    callback_query_timeout: float = DEFAULT_CALLBACK_QUERY_TIMEOUT
    closing: bool = False

    def target_chat(self, chat_id: Any, *, sending: bool = True) -> ChatState:
        """The chat a method acts on, with Telegram's chat-level refusals."""
        chat = self.world.require_chat(chat_id)
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
                is_rejection=False,
            )
        refusal = sending_refusal(chat) if sending else None
        if refusal:
            raise forbidden(refusal)
        return chat

    def admit(self, call: CallInfo, chat: ChatState, params: dict[str, Any]) -> None:
        """Apply flood limits to a call that is otherwise valid."""
        self.flood.check(
            call.method, chat.id, paid_broadcast=bool(params.get("allow_paid_broadcast"))
        )


Handler = Callable[[SandboxContext, dict[str, Any], CallInfo], Awaitable[Any]]


def sending_refusal(chat: ChatState) -> str | None:
    """Why Telegram answers 403 to a message for this chat, if it does."""
    if chat.deactivated:
        return "user is deactivated"
    if chat.blocked and chat.type == "private":
        return "bot was blocked by the user"
    if chat.blocked:
        return f"bot was kicked from the {chat.type} chat"
    if not chat.bot_started:
        return "bot can't initiate conversation with a user"
    return None


def require_length(value: str | None, limit: int, reason: str) -> None:
    if value is not None and len(value) > limit:
        raise bad_request(reason)
