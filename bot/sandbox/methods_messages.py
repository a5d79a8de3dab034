"""Handlers for sending, editing and deleting messages, and callback answers."""

from __future__ import annotations

from typing import Any

from .content_rules import (
    FormattedText,
    caption_text,
    check_reply_markup,
    inline_keyboard,
    message_text,
)
from .context import CallInfo, Handler, SandboxContext, require_length
from .errors import bad_request, not_supported
from .state import ChatState, MessageRecord
from .transcript import TranscriptEntry

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
DELETE_WINDOW_SECONDS = 48 * 3600
MAX_CALLBACK_ANSWER_LENGTH = 200
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


def checked_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    markup = params.get("reply_markup")
    check_reply_markup(markup)
    return inline_keyboard(markup)


def reply_target(ctx: SandboxContext, chat: ChatState, params: dict[str, Any]) -> int | None:
    reply = params.get("reply_parameters")
    if not reply:
        return None
    target_chat = ctx.world.find_chat(reply.get("chat_id", chat.id)) or chat
    if ctx.world.find_message(target_chat, reply["message_id"]):
        return reply["message_id"]
    if reply.get("allow_sending_without_reply"):
        return None
    raise bad_request("message to be replied not found")


def record_bot_message(ctx: SandboxContext, chat: ChatState, **content: Any) -> dict[str, Any]:
    record = ctx.world.store_message(chat, ctx.world.bot, **content)
    ctx.world.record(ctx.world.snapshot(record))
    return ctx.world.message_json(record)


async def send_message(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    chat = ctx.target_chat(params["chat_id"])
    body = message_text(params["text"], params.get("parse_mode"), params.get("entities"))
    markup = checked_markup(params)
    reply_to = reply_target(ctx, chat, params)
    ctx.admit(call, chat, params)
    return record_bot_message(
        ctx, chat, body=body, reply_markup=markup, reply_to_message_id=reply_to
    )


def editable_message(
    ctx: SandboxContext, params: dict[str, Any]
) -> tuple[ChatState, MessageRecord]:
    if "inline_message_id" in params:
        raise not_supported()
    if "chat_id" not in params:
        raise bad_request("chat_id is empty")
    if "message_id" not in params:
        raise bad_request("message identifier is not specified")
    chat = ctx.target_chat(params["chat_id"])
    record = ctx.world.find_message(chat, params["message_id"])
    if record is None:
        raise bad_request("message to edit not found")
    if not record.from_bot:
        raise bad_request("message can't be edited")
    return chat, record


def apply_edit(
    ctx: SandboxContext,
    call: CallInfo,
    chat: ChatState,
    record: MessageRecord,
    params: dict[str, Any],
    body: FormattedText | None,
    markup: dict[str, Any] | None,
) -> dict[str, Any]:
    if _same_body(record.body, body) and record.reply_markup == markup:
        raise bad_request(NOT_MODIFIED)
    ctx.admit(call, chat, params)
    record.body, record.reply_markup = body, markup
    record.edit_date = ctx.world.unix_now()
    ctx.world.record(ctx.world.snapshot(record, kind="edit"))
    return ctx.world.message_json(record)


def _same_body(current: FormattedText | None, new: FormattedText | None) -> bool:
    if current is None or new is None:
        return current is new
    return current.plain == new.plain and current.entities == new.entities


async def edit_message_text(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    chat, record = editable_message(ctx, params)
    if "text" not in params:
        raise bad_request("message text is empty")
    if record.body_is_caption or record.media_kind:
        raise bad_request("there is no text in the message to edit")
    body = message_text(params["text"], params.get("parse_mode"), params.get("entities"))
    return apply_edit(ctx, call, chat, record, params, body, checked_markup(params))


async def edit_message_caption(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    chat, record = editable_message(ctx, params)
    if not record.media_kind:
        raise bad_request("there is no caption in the message to edit")
    body = caption_text(
        params.get("caption"), params.get("parse_mode"), params.get("caption_entities")
    )
    return apply_edit(ctx, call, chat, record, params, body, checked_markup(params))


async def edit_message_reply_markup(
    ctx: SandboxContext, params: dict[str, Any], call: CallInfo
) -> Any:
    chat, record = editable_message(ctx, params)
    return apply_edit(ctx, call, chat, record, params, record.body, checked_markup(params))


def delete_one(ctx: SandboxContext, chat: ChatState, message_id: int) -> None:
    record = ctx.world.find_message(chat, message_id)
    if record is None:
        raise bad_request("message to delete not found")
    if ctx.world.clock() - record.date > DELETE_WINDOW_SECONDS:
        raise bad_request("message can't be deleted")
    record.deleted = True
    entry = TranscriptEntry(
        kind="delete",
        chat_id=chat.id,
        message_id=message_id,
        text=record.body.plain if record.body else None,
        from_bot=True,
    )
    ctx.world.record(entry)


async def delete_message(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    chat = ctx.target_chat(params["chat_id"], sending=False)
    delete_one(ctx, chat, params["message_id"])
    return True


async def delete_messages(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    chat = ctx.target_chat(params["chat_id"], sending=False)
    message_ids = params["message_ids"]
    if not 1 <= len(message_ids) <= 100:
        raise bad_request("message_ids must contain 1-100 identifiers")
    existing = [i for i in message_ids if ctx.world.find_message(chat, i)]
    if not existing:
        raise bad_request("message to delete not found")
    for message_id in existing:
        delete_one(ctx, chat, message_id)
    return True


async def send_chat_action(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    ctx.target_chat(params["chat_id"])
    if params["action"] not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True


async def answer_callback_query(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    query = ctx.world.callback_queries.get(params["callback_query_id"])
    too_old = (
        query is not None and ctx.world.clock() - query.created_at > ctx.callback_query_timeout
    )
    if query is None or query.answered or too_old:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    require_length(params.get("text"), MAX_CALLBACK_ANSWER_LENGTH, "MESSAGE_TOO_LONG")
    query.answered = True
    entry = TranscriptEntry(
        kind="callback_answer",
        chat_id=query.chat_id,
        message_id=query.message_id,
        text=params.get("text"),
        data=query.data,
        show_alert=bool(params.get("show_alert")),
        from_bot=True,
        user_id=query.user_id,
    )
    ctx.world.record(entry)
    return True


async def get_chat(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    return ctx.world.require_chat(params["chat_id"]).full_info_json()


MESSAGE_HANDLERS: dict[str, Handler] = {
    "sendMessage": send_message,
    "editMessageText": edit_message_text,
    "editMessageCaption": edit_message_caption,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
    "deleteMessages": delete_messages,
    "sendChatAction": send_chat_action,
    "answerCallbackQuery": answer_callback_query,
    "getChat": get_chat,
}
