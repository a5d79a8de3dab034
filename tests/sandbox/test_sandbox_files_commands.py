"""Uploads, downloads, bot commands and the rendered transcript."""

from __future__ import annotations

import asyncio

import pytest
from telegram import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat, InputFile
from telegram.error import BadRequest

from bot.sandbox import UploadedFile
from bot.sandbox.files import tiny_png


async def test_send_document_multipart_upload(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    sent = await bot.send_document(
        1001,
        InputFile(b"zona;iscritti\nGenova;12\n", filename="report.csv"),
        caption="<b>Report</b> settimanale",
        parse_mode="HTML",
    )
    assert sent.document.file_name == "report.csv" and sent.document.mime_type == "text/csv"
    assert sent.document.file_size == 24 and sent.caption == "Report settimanale"
    [call] = [c for c in sandbox.calls if c.method == "sendDocument"]
    assert isinstance(call.params["document"], UploadedFile)
    entry = anna.last_bot_message
    assert (entry.kind, entry.file_name, entry.file_bytes) == (
        "document",
        "report.csv",
        b"zona;iscritti\nGenova;12\n",
    )
    again = await bot.send_document(1001, sent.document.file_id)
    assert again.document.file_id == sent.document.file_id
    by_url = await bot.send_document(1001, "https://example.org/files/piano.pdf")
    assert by_url.document.file_name == "piano.pdf"
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_document(1001, "not-a-file-id")
    with pytest.raises(BadRequest, match=r"(?i)file must be non-empty"):
        await bot.send_document(1001, InputFile(b"", filename="empty.txt"))
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_document(1001, sent.document.file_id, caption="c" * 1025)


async def test_send_photo_checks_the_image(bot, sandbox):
    sandbox.user(1001, "Anna")
    sent = await bot.send_photo(1001, tiny_png(320, 200), caption="Mappa")
    assert [(p.width, p.height) for p in sent.photo] == [(90, 56), (320, 200)]
    with pytest.raises(BadRequest, match=r"(?i)image_process_failed"):
        await bot.send_photo(1001, b"not an image")


async def test_get_file_and_download_a_user_document(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    sending = asyncio.create_task(
        anna.send_document("dati.csv", b"x,y\n1,2\n", expect_reply=False, settle=0)
    )
    [update] = await bot.get_updates(timeout=1)
    await sending
    document = update.message.document
    assert (document.file_name, document.mime_type, document.file_size) == (
        "dati.csv",
        "text/csv",
        8,
    )
    telegram_file = await bot.get_file(document.file_id)
    assert telegram_file.file_path.startswith(sandbox.base_file_url)
    assert bytes(await telegram_file.download_as_bytearray()) == b"x,y\n1,2\n"
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("unknown")


async def test_commands_are_stored_per_scope_and_language(bot, sandbox):
    sandbox.user(1001, "Anna")
    italian = [BotCommand("start", "Inizia"), BotCommand("zone", "Le tue zone")]
    english = [BotCommand("start", "Start"), BotCommand("zone", "Your zones")]
    assert await bot.set_my_commands(italian, language_code="it")
    assert await bot.set_my_commands(english)
    assert await bot.set_my_commands(
        [BotCommand("admin", "Pannello")], scope=BotCommandScopeChat(1001)
    )
    assert await bot.get_my_commands(language_code="it") == tuple(italian)
    assert await bot.get_my_commands() == tuple(english)
    assert await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats()) == ()
    assert sandbox.commands(language_code="it") == [c.to_dict() for c in italian]
    assert sandbox.visible_commands(1001, "it")[0]["command"] == "admin"
    assert await bot.delete_my_commands(scope=BotCommandScopeChat(1001))
    assert sandbox.visible_commands(1001, "it") == [c.to_dict() for c in italian]
    assert sandbox.visible_commands(1001, "de") == [c.to_dict() for c in english]
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Start", "maiuscole")])
    with pytest.raises(BadRequest, match=r'(?i)unsupported type "everyone"'):
        await bot.set_my_commands(english, api_kwargs={"scope": {"type": "everyone"}})


async def test_profile_texts_round_trip(bot, sandbox):
    assert await bot.set_my_description("Notifiche del Piano Strategico", language_code="it")
    assert (
        await bot.get_my_description(language_code="it")
    ).description == "Notifiche del Piano Strategico"
    assert (await bot.get_my_short_description()).short_description == ""
    assert (await bot.get_my_name()).name == "PSM Test Bot"


async def test_render_transcript(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    buttons = {
        "inline_keyboard": [
            [
                {"text": "Italiano", "callback_data": "it"},
                {"text": "English", "callback_data": "en"},
            ]
        ]
    }
    sending = asyncio.create_task(anna.send("/start", expect_reply=False, settle=0))
    await bot.get_updates(timeout=1)
    await sending
    sent = await bot.send_message(
        1001,
        "<b>Benvenuta!</b> Scegli la lingua per ricevere gli avvisi del piano.",
        parse_mode="HTML",
        reply_markup=buttons,
    )
    pressing = asyncio.create_task(anna.press("English", expect_reply=False, settle=0))
    [update] = await bot.get_updates(offset=2, timeout=1)
    await pressing
    await bot.answer_callback_query(update.callback_query.id, "OK")
    await bot.edit_message_text("Welcome!", 1001, sent.message_id)
    await bot.delete_message(1001, sent.message_id)
    assert sandbox.render_transcript(1001, width=50) == "\n".join(
        [
            "👤 Anna: /start",
            "🤖 Benvenuta! Scegli la lingua per ricevere gli",
            "   avvisi del piano.",
            "   [ Italiano ] [ English ]",
            "👤 Anna pressed «English»",
            "🤖 (answer) OK",
            "🤖 (edited) Welcome!",
            f"🤖 (deleted message #{sent.message_id})",
        ]
    )
