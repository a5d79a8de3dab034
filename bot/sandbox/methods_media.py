"""Handlers for documents, photos and file downloads."""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from .content_rules import caption_text
from .context import CallInfo, Handler, SandboxContext
from .errors import ApiError, bad_request, not_supported
from .files import MAX_DOWNLOAD_BYTES, StoredFile, image_size
from .methods_messages import checked_markup, record_bot_message, reply_target
from .validation import UploadedFile

MAX_UPLOAD_BYTES = {"document": 50 * 1024 * 1024, "photo": 10 * 1024 * 1024}
MAX_PHOTO_SIDES_SUM = 10000
MAX_PHOTO_RATIO = 20
MAX_ALBUM_ITEMS = 10
_HTTP_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)


def _stored_upload(ctx: SandboxContext, kind: str, upload: UploadedFile) -> list[StoredFile]:
    if not upload.content:
        raise bad_request("file must be non-empty")
    if len(upload.content) > MAX_UPLOAD_BYTES[kind]:
        raise ApiError(413, "Request Entity Too Large")
    if kind == "document":
        return [ctx.world.files.add_document(upload.filename, upload.content, upload.mime_type)]
    _check_photo(upload.content)
    return ctx.world.files.add_photo(upload.filename, upload.content)


def _check_photo(content: bytes) -> None:
    size = image_size(content)
    if size is None:
        raise bad_request("IMAGE_PROCESS_FAILED")
    width, height = size
    ratio = max(width, height) / max(min(width, height), 1)
    if width + height > MAX_PHOTO_SIDES_SUM or ratio > MAX_PHOTO_RATIO:
        raise bad_request("PHOTO_INVALID_DIMENSIONS")


def _stored_reference(ctx: SandboxContext, kind: str, reference: str) -> list[StoredFile]:
    stored = ctx.world.files.get(reference)
    if stored is not None:
        if stored.kind != kind:
            raise bad_request(f"can't use file of type {stored.kind.title()} as {kind.title()}")
        return ctx.world.files.photo_sizes(stored) if kind == "photo" else [stored]
    if _HTTP_URL.match(reference):
        if _unreachable(reference):
            raise bad_request("failed to get HTTP URL content")
        stored = ctx.world.files.add_from_url(kind, reference)
        return ctx.world.files.photo_sizes(stored) if kind == "photo" else [stored]
    raise bad_request("wrong file identifier/HTTP URL specified")


def _unreachable(url: str) -> bool:
    """The sandbox downloads nothing; hosts under ``.invalid`` (RFC 2606) stand for URLs
    Telegram cannot fetch."""
    host = urlsplit(url).hostname or ""
    return host == "invalid" or host.endswith(".invalid")


def resolve_files(ctx: SandboxContext, kind: str, value: UploadedFile | str) -> list[StoredFile]:
    if isinstance(value, UploadedFile):
        return _stored_upload(ctx, kind, value)
    return _stored_reference(ctx, kind, value)


async def _send_media(
    ctx: SandboxContext, params: dict[str, Any], call: CallInfo, kind: str
) -> Any:
    chat = ctx.target_chat(params["chat_id"])
    caption = caption_text(
        params.get("caption"), params.get("parse_mode"), params.get("caption_entities")
    )
    markup = checked_markup(params)
    reply_to = reply_target(ctx, chat, params)
    files = resolve_files(ctx, kind, params[kind])
    ctx.admit(call, chat, params)
    return record_bot_message(
        ctx,
        chat,
        body=caption,
        body_is_caption=True,
        media_kind=kind,
        files=files,
        reply_markup=markup,
        reply_to_message_id=reply_to,
    )


async def send_document(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    return await _send_media(ctx, params, call, "document")


async def send_photo(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    return await _send_media(ctx, params, call, "photo")


async def get_file(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    stored = ctx.world.files.get(params["file_id"])
    if stored is None:
        raise bad_request("invalid file_id")
    if stored.size > MAX_DOWNLOAD_BYTES:
        raise bad_request("file is too big")
    return stored.file_json()


async def send_media_group(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    """An album: up to ten photos or documents (documents only with documents), one message
    each, sharing a media_group_id; the caption of each item under it."""
    chat = ctx.target_chat(params["chat_id"])
    items = params["media"]
    if not items:
        raise bad_request("there are no messages to send")
    if len(items) > MAX_ALBUM_ITEMS:
        raise bad_request("too many messages to send as an album")
    kinds = {item["type"] for item in items}
    if not kinds <= set(MAX_UPLOAD_BYTES):
        raise not_supported()
    if "document" in kinds and len(kinds) > 1:
        raise bad_request("document can't be mixed with other media types")
    reply_to = reply_target(ctx, chat, params)
    contents = [
        (
            item["type"],
            caption_text(item.get("caption"), item.get("parse_mode"), item.get("caption_entities")),
            resolve_files(ctx, item["type"], item["media"]),
        )
        for item in items
    ]
    ctx.admit(call, chat, params)
    group_id = str(secrets.randbits(63))
    return [
        record_bot_message(
            ctx,
            chat,
            body=caption,
            body_is_caption=True,
            media_kind=kind,
            files=files,
            reply_to_message_id=reply_to,
            media_group_id=group_id,
        )
        for kind, caption, files in contents
    ]


MEDIA_HANDLERS: dict[str, Handler] = {
    "sendDocument": send_document,
    "sendPhoto": send_photo,
    "sendMediaGroup": send_media_group,
    "getFile": get_file,
}
