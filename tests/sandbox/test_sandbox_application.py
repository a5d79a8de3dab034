"""A real PTB Application, long polling the sandbox, driven as users."""

from __future__ import annotations

import asyncio

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from .conftest import build_application, polling

LANGUAGES = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Italiano", callback_data="lang:it"),
            InlineKeyboardButton("English", callback_data="lang:en"),
        ]
    ]
)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    name = update.effective_user.first_name
    zone = context.args[0] if context.args else "-"
    await update.message.reply_html(
        f"Benvenuta <b>{name}</b>! Zona: {zone}", reply_markup=LANGUAGES
    )


async def choose_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query.data == "lang:en":
        await query.answer("Language saved")
        await query.edit_message_text("Welcome! <i>Language: English</i>", parse_mode="HTML")
    else:
        await query.answer("Pulsante scaduto", show_alert=True)


async def count_rows(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    telegram_file = await update.message.document.get_file()
    content = bytes(await telegram_file.download_as_bytearray())
    rows = content.decode().strip().splitlines()
    await update.message.reply_text(
        f"Ricevuto {update.message.document.file_name}: {len(rows)} righe"
    )


async def echo_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    largest = update.message.photo[-1]
    await update.message.reply_text(f"Foto {largest.width}x{largest.height}")


async def broadcast(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    for user_id in (1001, 1002):
        await context.bot.send_message(user_id, "📢 Nuovo avviso")


blocked_users: list[int] = []


async def on_membership(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.my_chat_member.new_chat_member.status == "kicked":
        blocked_users.append(update.effective_user.id)


def demo_application(sandbox):
    application = build_application(sandbox)
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("broadcast", broadcast))
    application.add_handler(CallbackQueryHandler(choose_language))
    application.add_handler(MessageHandler(filters.Document.ALL, count_rows))
    application.add_handler(MessageHandler(filters.PHOTO, echo_photo))
    application.add_handler(ChatMemberHandler(on_membership, ChatMemberHandler.MY_CHAT_MEMBER))
    return application


async def test_command_and_button_flow_through_long_polling(sandbox):
    anna = sandbox.user(1001, "Anna", language_code="it")
    async with polling(demo_application(sandbox)):
        [welcome] = await anna.send("/start zone_genova")
        assert welcome.kind == "bot_message"
        assert welcome.text == "Benvenuta Anna! Zona: zone_genova"
        assert welcome.buttons == [[("Italiano", "lang:it"), ("English", "lang:en")]]

        actions = await anna.press("English")
        assert [a.kind for a in actions] == ["callback_answer", "edit"]
        assert actions[0].text == "Language saved" and not actions[0].show_alert
        assert actions[1].text == "Welcome! Language: English"
        assert anna.last_bot_message.buttons == [] and anna.last_bot_message.edited

        with pytest.raises(LookupError, match=r"available labels"):
            await anna.press("Italiano")
        [stale_answer] = await anna.press_data("lang:it", message_id=welcome.message_id)
        assert stale_answer.show_alert and stale_answer.text == "Pulsante scaduto"
    assert [a.text for a in anna.callback_answers] == ["Language saved", "Pulsante scaduto"]
    sandbox.assert_no_rejections()


async def test_documents_and_photos_from_users(sandbox):
    anna = sandbox.user(1001, "Anna")
    async with polling(demo_application(sandbox)):
        [reply] = await anna.send_document("iscritti.csv", b"a;b\n1;2\n3;4\n", mime_type="text/csv")
        assert reply.text == "Ricevuto iscritti.csv: 3 righe"
        [reply] = await anna.send_photo(caption="panorama")
        assert reply.text == "Foto 64x48"
    assert sandbox.count("getFile") == 1
    user_document = anna.transcript[0]
    assert (user_document.kind, user_document.from_bot, user_document.mime_type) == (
        "document",
        False,
        "text/csv",
    )


async def test_broadcasts_block_and_wait_helpers(sandbox):
    anna = sandbox.user(1001, "Anna")
    bruno = sandbox.user(1002, "Bruno")
    assert sandbox.user(1002) is bruno
    blocked_users.clear()
    async with polling(demo_application(sandbox)):
        await anna.send("/broadcast")
        entry = await sandbox.wait_for(lambda e: e.chat_id == 1002 and e.kind == "bot_message")
        assert entry.text == "📢 Nuovo avviso"
        bruno.block()
        await sandbox.wait_idle()
        assert blocked_users == [1002]
        await anna.send("/broadcast", expect_reply=False)
        await sandbox.wait_idle()
    assert [m.text for m in bruno.bot_messages] == ["📢 Nuovo avviso"]
    assert sandbox.count("sendMessage", ok=False) == 1


async def test_unanswered_update_times_out_with_a_readable_tail(sandbox):
    anna = sandbox.user(1001, "Anna")
    async with polling(demo_application(sandbox)):
        await anna.send("/start")
        with pytest.raises(TimeoutError, match=r"(?s)did not happen.*Anna: hello"):
            await anna.send("hello", timeout=0.5)
        await anna.send("hello again", expect_reply=False)


async def answer_then_edit_later(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A handler on a slow machine: the toast first, the edit after a pause longer than settle."""
    query = update.callback_query
    await query.answer()
    await asyncio.sleep(SLOW_MACHINE_PAUSE)
    await query.edit_message_text("Zone: Tigullio")


SLOW_MACHINE_PAUSE = 0.6  # four times the sandbox's quiet period


@pytest.mark.parametrize("watched", [True, False])
async def test_a_press_waits_for_the_bot_to_finish_when_the_sandbox_can_see_it_working(
    sandbox, watched
):
    application = build_application(sandbox)
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(answer_then_edit_later))
    if watched:
        sandbox.watch_bot(lambda: application.update_processor.current_concurrent_updates > 0)
    anna = sandbox.user(1001, "Anna")
    async with polling(application):
        await anna.send("/start")
        actions = await anna.press("English")
        await sandbox.wait_idle(settle=SLOW_MACHINE_PAUSE)
    expected = ["callback_answer", "edit"] if watched else ["callback_answer"]
    assert [action.kind for action in actions] == expected
