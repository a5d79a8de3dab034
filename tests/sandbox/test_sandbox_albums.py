"""sendMediaGroup: an album of photos (or of documents), each message in the same group."""

from __future__ import annotations

import pytest
from telegram import InputMediaDocument, InputMediaPhoto
from telegram.error import BadRequest

from bot.sandbox.files import tiny_png


async def test_an_album_of_uploaded_photos_shares_one_media_group(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    media = [
        InputMediaPhoto(tiny_png(320, 200), filename=f"chart{n}.png", caption=f"Grafico {n}")
        for n in (1, 2, 3)
    ]
    sent = await bot.send_media_group(1001, media)
    assert [message.caption for message in sent] == ["Grafico 1", "Grafico 2", "Grafico 3"]
    assert len({message.media_group_id for message in sent}) == 1
    photos = anna.bot_messages
    assert [entry.kind for entry in photos] == ["photo"] * 3
    assert {entry.media_group_id for entry in photos} == {sent[0].media_group_id}


async def test_albums_are_refused_as_telegram_refuses_them(bot, sandbox):
    sandbox.user(1001, "Anna")
    photo = InputMediaPhoto(tiny_png(32, 32), filename="p.png")
    document = InputMediaDocument(b"a;b\n", filename="d.csv")
    with pytest.raises(BadRequest, match=r"(?i)^too many messages to send as an album$"):
        await bot.send_media_group(1001, [photo] * 11)
    with pytest.raises(BadRequest, match=r"(?i)^document can't be mixed with other media types$"):
        await bot.send_media_group(1001, [photo, document])
