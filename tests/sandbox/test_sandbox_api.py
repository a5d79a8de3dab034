"""The Bot API surface through a real telegram.Bot: answers and rejections."""

from __future__ import annotations

import json

import aiohttp
import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.error import BadRequest, InvalidToken

from bot.sandbox import BotApiSandbox


def keyboard(*buttons: InlineKeyboardButton) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([list(buttons)])


async def test_get_me_describes_the_sandbox_bot(bot: telegram.Bot):
    me = await bot.get_me()
    assert me.id == 123456 and me.is_bot and me.username == "psm_test_bot"


async def test_send_message_returns_a_telegram_message_with_entities(bot, sandbox):
    anna = sandbox.user(1001, "Anna", language_code="it")
    sent = await bot.send_message(
        anna.chat_id,
        "<b>Ciao</b> <a href='https://cittametropolitana.genova.it'>Anna</a>",
        parse_mode="HTML",
        reply_markup=keyboard(InlineKeyboardButton("Iscriviti", callback_data="sub:zone:genova")),
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    assert sent.message_id == 1 and sent.chat.id == 1001 and sent.chat.first_name == "Anna"
    assert sent.text == "Ciao Anna"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 4),
        ("text_link", 5, 4),
    ]
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "sub:zone:genova"
    entry = anna.last_bot_message
    assert entry.text == "Ciao Anna" and entry.html.startswith("<b>Ciao</b>")
    assert entry.parse_mode == "HTML" and entry.buttons == [[("Iscriviti", "sub:zone:genova")]]
    sandbox.assert_no_rejections()


async def test_message_ids_and_replies(bot, sandbox):
    sandbox.user(1001, "Anna")
    first = await bot.send_message(1001, "uno")
    second = await bot.send_message(1001, "due", reply_to_message_id=first.message_id)
    assert second.message_id == first.message_id + 1
    assert second.reply_to_message.text == "uno"
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(1001, "tre", reply_to_message_id=99)


REJECTIONS = [
    (
        {"text": "Hello <div>x</div>", "parse_mode": "HTML"},
        'Bad Request: can\'t parse entities: Unsupported start tag "div" at byte offset 6',
    ),
    (
        {"text": "<b>bold", "parse_mode": "HTML"},
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
    ),
    (
        {"text": "a&nbsp;b", "parse_mode": "HTML"},
        'Bad Request: can\'t parse entities: Unsupported HTML entity "&nbsp;" at byte offset 1',
    ),
    ({"text": "x" * 4097}, "Bad Request: message is too long"),
    ({"text": " "}, "Bad Request: message text is empty"),
    (
        {"text": "x", "reply_markup": keyboard(InlineKeyboardButton("a", callback_data="d" * 65))},
        "Bad Request: BUTTON_DATA_INVALID",
    ),
    (
        {"text": "x", "reply_markup": keyboard(InlineKeyboardButton("a", callback_data="è" * 33))},
        "Bad Request: BUTTON_DATA_INVALID",
    ),
    (
        {"text": "x", "api_kwargs": {"colour": "red"}},
        'Bad Request: unknown parameter "colour" for method sendMessage',
    ),
    (
        {
            "text": "x",
            "reply_markup": keyboard(
                InlineKeyboardButton("a", callback_data="ok", api_kwargs={"colour": "red"})
            ),
        },
        'Bad Request: can\'t parse parameter "reply_markup": unknown field "colour" in '
        "InlineKeyboardButton (at reply_markup.inline_keyboard[0][0].colour)",
    ),
    (
        {
            "text": "x",
            "reply_markup": keyboard(InlineKeyboardButton("a", url="javascript:alert(1)")),
        },
        "Bad Request: inline keyboard button URL 'javascript:alert(1)' is invalid: Wrong HTTP URL",
    ),
    ({"text": "x", "parse_mode": "XML"}, "Bad Request: unsupported parse_mode"),
]


@pytest.mark.parametrize(("kwargs", "description"), REJECTIONS)
async def test_rejections_surface_as_bad_request(bot, sandbox, kwargs, description):
    sandbox.user(1001, "Anna")
    with pytest.raises(BadRequest) as raised:
        await bot.send_message(1001, **kwargs)
    # PTB drops the "Bad Request: " prefix and capitalizes the message.
    assert raised.value.message.lower() == description.removeprefix("Bad Request: ").lower()
    assert [r.description for r in sandbox.rejections] == [description]
    assert sandbox.transcript(1001)[-1].kind == "rejected"
    with pytest.raises(AssertionError, match=r"1 request\(s\) rejected"):
        sandbox.assert_no_rejections()


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBUserWarning")
async def test_missing_required_parameters(bot, sandbox):
    sandbox.user(1001, "Anna")
    with pytest.raises(BadRequest, match=r"(?i)^message text is empty$"):
        await bot.do_api_request("sendMessage", api_kwargs={"chat_id": 1001})
    with pytest.raises(BadRequest, match=r"(?i)^chat_id is empty$"):
        await bot.do_api_request("sendMessage", api_kwargs={"text": "x"})
    with pytest.raises(BadRequest, match=r'(?i)parameter "commands" is required'):
        await bot.do_api_request("setMyCommands", api_kwargs={"language_code": "it"})


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBUserWarning")
async def test_type_checks_on_parameters_and_nested_objects(bot, sandbox):
    sandbox.user(1001, "Anna")
    with pytest.raises(BadRequest, match=r'(?i)"disable_notification": expected boolean'):
        await bot.do_api_request(
            "sendMessage",
            api_kwargs={"chat_id": 1001, "text": "x", "disable_notification": "maybe"},
        )
    with pytest.raises(BadRequest, match=r'(?i)field "text" is required in inlinekeyboardbutton'):
        await bot.do_api_request(
            "sendMessage",
            api_kwargs={
                "chat_id": 1001,
                "text": "x",
                "reply_markup": {"inline_keyboard": [[{"callback_data": "a"}]]},
            },
        )
    with pytest.raises(BadRequest, match=r"(?i)text buttons are unallowed"):
        await bot.do_api_request(
            "sendMessage",
            api_kwargs={
                "chat_id": 1001,
                "text": "x",
                "reply_markup": {"inline_keyboard": [[{"text": "a"}]]},
            },
        )


async def test_unknown_chat_and_reply_keyboards(bot, sandbox):
    with pytest.raises(BadRequest, match=r"(?i)^chat not found$"):
        await bot.send_message(4242, "x")
    sandbox.user(1001, "Anna")
    markup = telegram.ReplyKeyboardMarkup([["Sì", "No"]], one_time_keyboard=True)
    sent = await bot.send_message(1001, "Scegli", reply_markup=markup)
    assert sent.reply_markup is None
    await bot.send_message(1001, "ok", reply_markup=telegram.ReplyKeyboardRemove())
    sandbox.assert_no_rejections(ignore=["chat not found"])


async def test_edits_and_not_modified(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    markup = keyboard(InlineKeyboardButton("A", callback_data="a"))
    sent = await bot.send_message(1001, "<b>Uno</b>\n", parse_mode="HTML", reply_markup=markup)
    with pytest.raises(
        BadRequest, match=r"(?i)^message is not modified: specified new message content"
    ):
        await bot.edit_message_text(
            "<b>Uno</b>", 1001, sent.message_id, parse_mode="HTML", reply_markup=markup
        )
    edited = await bot.edit_message_text("Uno", 1001, sent.message_id, reply_markup=markup)
    assert edited.text == "Uno" and edited.entities == () and edited.edit_date is not None
    edited = await bot.edit_message_reply_markup(1001, sent.message_id)
    assert anna.last_bot_message.buttons == [] and anna.last_bot_message.edited
    with pytest.raises(BadRequest, match=r"(?i)^message is not modified"):
        await bot.edit_message_reply_markup(1001, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)^message to edit not found$"):
        await bot.edit_message_text("x", 1001, 999)
    kinds = [entry.kind for entry in anna.transcript]
    assert kinds.count("edit") == 2


async def test_edit_caption_and_delete(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    document = await bot.send_document(1001, b"a,b\n", filename="r.csv", caption="vecchia")
    edited = await bot.edit_message_caption(
        1001, document.message_id, caption="<i>nuova</i>", parse_mode="HTML"
    )
    assert edited.caption == "nuova" and edited.document.file_name == "r.csv"
    with pytest.raises(BadRequest, match=r"(?i)there is no text in the message to edit"):
        await bot.edit_message_text("x", 1001, document.message_id)
    assert await bot.delete_message(1001, document.message_id)
    with pytest.raises(BadRequest, match=r"(?i)^message to delete not found$"):
        await bot.delete_message(1001, document.message_id)
    assert anna.last_bot_message is None
    assert [e.kind for e in anna.transcript] == [
        "document",
        "edit",
        "rejected",
        "delete",
        "rejected",
    ]


async def test_chat_action_and_get_chat(bot, sandbox):
    sandbox.user(1001, "Anna", last_name="Rossi", username="anna_r")
    assert await bot.send_chat_action(1001, "typing")
    with pytest.raises(BadRequest, match=r"(?i)wrong parameter action"):
        await bot.send_chat_action(1001, "dancing")
    chat = await bot.get_chat(1001)
    assert (chat.type, chat.first_name, chat.last_name, chat.username) == (
        "private",
        "Anna",
        "Rossi",
        "anna_r",
    )


async def test_other_spec_methods_are_validated_then_declined(bot, sandbox):
    sandbox.user(1001, "Anna")
    with pytest.raises(BadRequest, match=r"(?i)^method not supported by the sandbox$"):
        await bot.send_dice(1001)
    with pytest.raises(BadRequest, match=r'(?i)unknown parameter "bogus"'):
        await bot.send_dice(1001, api_kwargs={"bogus": 1})
    assert [c.method for c in sandbox.unsupported_calls] == ["sendDice"]
    assert len(sandbox.rejections) == 1


async def raw_call(sandbox: BotApiSandbox, path: str, **kwargs) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sandbox.url}{path}", **kwargs) as response,
    ):
        return response.status, json.loads(await response.text())


async def test_http_details_json_query_case_and_errors(sandbox):
    sandbox.user(1001, "Anna")
    token_path = f"/bot{sandbox.token}"
    status, body = await raw_call(
        sandbox, f"{token_path}/SENDmessage", json={"chat_id": 1001, "text": "json"}
    )
    assert status == 200 and body["ok"] and body["result"]["text"] == "json"
    status, body = await raw_call(sandbox, f"{token_path}/sendMessage?chat_id=1001&text=query")
    assert status == 200 and body["result"]["text"] == "query"
    status, body = await raw_call(sandbox, f"{token_path}/noSuchMethod")
    assert (status, body) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    status, body = await raw_call(sandbox, "/bot999:WRONG/getMe")
    assert (status, body["description"]) == (401, "Unauthorized")
    assert sandbox.count("sendmessage") == 2 and sandbox.count("sendMessage", ok=True) == 2


async def test_wrong_token_is_invalid_token_in_ptb(sandbox):
    wrong = telegram.Bot("999:WRONG", base_url=sandbox.base_url)
    with pytest.raises(InvalidToken):
        await wrong.get_me()
    await wrong.shutdown()


async def test_pressing_a_url_button_or_a_missing_label_fails_fast(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    with pytest.raises(LookupError, match="no bot message has an inline keyboard"):
        await anna.press("Iscriviti")
    await bot.send_message(
        1001, "Link", reply_markup=keyboard(InlineKeyboardButton("Sito", url="https://example.org"))
    )
    with pytest.raises(LookupError, match="not a callback button"):
        await anna.press("Sito")
    with pytest.raises(LookupError, match=r"available labels: #1: \['Sito'\]"):
        await anna.press("Iscriviti")
