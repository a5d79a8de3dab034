"""Staff commands on the participation record: /export, /summary, /hide, /unhide, /answer, /verify,
/publish and /unpublish.

Staff are decided by `bot.services.staff` (administrators and granted staff).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from html import escape

from telegram import Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import CommandHandler, filters

from bot.db.models import EntryKind, RecordEntry, utcnow
from bot.handlers.context import (
    BotContext,
    chat_of,
    command_args,
    conversation,
    message_of,
    reply,
    user_of,
)
from bot.handlers.staff import is_staff
from bot.i18n import TIMEZONE, _, format_number, ngettext, use_locale
from bot.screens import View
from bot.screens import participation as pscreens
from bot.services import record
from bot.services.record import (
    FilterError,
    PublishOutcome,
    PublishResult,
    SubjectCounts,
    UnpublishOutcome,
    UnpublishResult,
)

log = logging.getLogger(__name__)

_COUNT_MARKS = {"useful": "👍", "not_useful": "👎", "comment": "💬", "feedback": "📝", "free": "✉️"}


def _refused() -> View:
    return View(_("This command is reserved to the staff of the plan's office."))


def _arguments(update: Update, count: int) -> list[str]:
    """The command's words; the last one keeps the rest of the text, newlines included."""
    return (message_of(update).text or "").split(maxsplit=count)[1:]


async def export_command(update: Update, context: BotContext) -> None:
    """/export [csv|xlsx] [from=DATE] [to=DATE] [strategy=S1] [action=A] [zone=tigullio]"""
    document = None
    async with conversation(update, context) as convo:
        if not await is_staff(convo, update, context):
            view = _refused()
        else:
            try:
                file_format, record_filter = record.parse_staff_arguments(command_args(context))
            except FilterError as error:
                view = View(_export_usage(str(error)))
            else:
                rows = await record.select_entries(convo.session, record_filter)
                document = record.export(rows, file_format)
                name = record.export_file_name(file_format, utcnow().astimezone(TIMEZONE).date())
                caption = ngettext(
                    "Participation record: {count} entry.",
                    "Participation record: {count} entries.",
                    len(rows),
                ).format(count=format_number(len(rows)))
    if document is None:
        await reply(update, view)
        return
    await chat_of(update).send_document(document=document, filename=name, caption=caption)


def _export_usage(wrong: str) -> str:
    return _(
        "I don't understand “{argument}”. Usage: /export [csv|xlsx] [from=YYYY-MM-DD] "
        "[to=YYYY-MM-DD] [strategy=S1] [action=A1] [zone=tigullio]"
    ).format(argument=escape(wrong))


async def summary_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context) as convo:
        if not await is_staff(convo, update, context):
            view = _refused()
        else:
            try:
                _format, record_filter = record.parse_staff_arguments(command_args(context))
            except FilterError as error:
                view = View(_export_usage(str(error)))
            else:
                view = _summary_view(await record.summary(convo.session, record_filter))
    await reply(update, view)


def _summary_view(items: list[SubjectCounts]) -> View:
    if not items:
        return View(_("The participation record has no entries yet."))
    lines = [_("<b>Participation record: entries per subject</b>")]
    for item in items[:40]:
        counts = " · ".join(
            f"{_COUNT_MARKS.get(key, key)} {format_number(value)}"
            for key, value in sorted(item.counts.items())
        )
        if item.hidden:
            counts += " · " + _("hidden {count}").format(count=format_number(item.hidden))
        label = escape(item.label or _("no subject"))
        lines.append(f"• <b>{label}</b>: {counts}")
    return View("\n".join(lines))


async def hide_command(update: Update, context: BotContext) -> None:
    """/hide REFERENCE reason: the entry stays in the record, marked hidden."""
    words = _arguments(update, 2)
    async with conversation(update, context) as convo:
        if not await is_staff(convo, update, context):
            view = _refused()
        elif not words:
            view = View(_("Usage: /hide P-2026-00042 reason"))
        else:
            entry = await record.find_entry(convo.session, words[0])
            if entry is not None:
                reason = words[1] if len(words) > 1 else ""
                record.hide(entry, reason, user_of(update).id, utcnow())
            view = View(_hidden_text(entry, words[0]))
    await reply(update, view)


def _hidden_text(entry: RecordEntry | None, reference: str) -> str:
    if entry is None:
        return _no_entry(reference)
    return _("Entry {reference} is now hidden: it stays in the record, marked.").format(
        reference=entry.reference
    )


def _no_entry(reference: str) -> str:
    return _("There is no entry {reference}.").format(reference=escape(reference))


async def unhide_command(update: Update, context: BotContext) -> None:
    words = _arguments(update, 1)
    async with conversation(update, context) as convo:
        if not await is_staff(convo, update, context):
            view = _refused()
        elif not words:
            view = View(_("Usage: /unhide P-2026-00042"))
        else:
            entry = await record.find_entry(convo.session, words[0])
            if entry is not None:
                record.unhide(entry)
                view = View(
                    _("Entry {reference} is visible again.").format(reference=entry.reference)
                )
            else:
                view = View(_no_entry(words[0]))
    await reply(update, view)


@dataclass(frozen=True)
class _Answer:
    entry_id: int
    reference: str
    chat_id: int
    message: str  # in the author's language
    text: str  # as the staff typed it


async def answer_command(update: Update, context: BotContext) -> None:
    """/answer REFERENCE text: "you said, we did", sent to the author in their language."""
    words = _arguments(update, 2)
    answer = None
    async with conversation(update, context) as convo:
        if not await is_staff(convo, update, context):
            view = _refused()
        elif len(words) < 2:
            view = View(_("Usage: /answer P-2026-00042 your answer"))
        else:
            answer, view = await _prepare_answer(convo.session, words[0], words[1])
    if answer is None:
        await reply(update, view)
        return
    await _deliver_answer(update, context, answer)


async def _prepare_answer(session, reference: str, text: str) -> tuple[_Answer | None, View]:
    entry = await record.find_entry(session, reference)
    if entry is None:
        return None, View(_no_entry(reference))
    author = await record.participant_subscriber(session, entry)
    if author is None:
        unreachable = _(
            "The author of {reference} cannot be reached: the entry is anonymous "
            "or its author erased their data."
        )
        return None, View(unreachable.format(reference=entry.reference))
    with use_locale(author.language):
        message = _answer_message(entry, text)
    return _Answer(entry.id, entry.reference, author.chat_id, message, text), View("")


def _answer_message(entry: RecordEntry, answer: str) -> str:
    said = pscreens.quote(entry.text) if entry.text else _reaction_said(entry)
    return "\n\n".join(
        [
            _("📣 <b>The plan's office answers your contribution {reference}</b>").format(
                reference=entry.reference
            ),
            _("You said: <i>{text}</i>").format(text=said),
            escape(answer),
        ]
    )


def _reaction_said(entry: RecordEntry) -> str:
    mark = _COUNT_MARKS.get(entry.value or "", "") if entry.kind == EntryKind.REACTION else ""
    return f"{mark} {escape(entry.subject_label or '')}".strip()


async def _deliver_answer(update: Update, context: BotContext, answer: _Answer) -> None:
    try:
        await context.bot.send_message(
            chat_id=answer.chat_id, text=answer.message, parse_mode="HTML"
        )
    except (Forbidden, BadRequest) as error:
        log.info("answer to %s not delivered: %s", answer.reference, error)
        async with conversation(update, context):
            text = _("The answer could not be delivered: the person has left the bot.")
        await reply(update, View(text))
        return
    async with conversation(update, context) as convo:
        entry = await convo.session.get(RecordEntry, answer.entry_id)
        if entry is not None:  # found when preparing the answer; the record deletes nothing
            record.note_answer(entry, answer.text, user_of(update).id, utcnow())
        text = _("Answer sent to the author of {reference}.").format(reference=answer.reference)
    await reply(update, View(text))


async def verify_command(update: Update, context: BotContext) -> None:
    """/verify PSEUDONYM [off]: the declared organisation is (no longer) verified."""
    words = command_args(context)
    async with conversation(update, context) as convo:
        if not await is_staff(convo, update, context):
            view = _refused()
        elif not words or len(words) > 2 or (len(words) == 2 and words[1] != "off"):
            view = View(_("Usage: /verify u-0123456789 [off]"))
        else:
            verified = len(words) == 1
            participant = await record.set_verified(
                convo.session, words[0], verified, user_of(update).id, utcnow()
            )
            view = View(_verified_text(words[0], participant, verified))
    await reply(update, view)


def _verified_text(pseudonym: str, participant, verified: bool) -> str:
    if participant is None:
        return _("There is no participant {pseudonym}.").format(pseudonym=escape(pseudonym))
    organisation = escape(participant.organisation or "—")
    if verified:
        text = _("The organisation of {pseudonym} is now verified: {organisation}.")
    else:
        text = _("The organisation of {pseudonym} is no longer verified: {organisation}.")
    return text.format(pseudonym=escape(pseudonym), organisation=organisation)


async def publish_command(update: Update, context: BotContext) -> None:
    """/publish REFERENCE [answer]: the text and the office's answer on the public pages."""
    words = _arguments(update, 2)
    async with conversation(update, context) as convo:
        if not await is_staff(convo, update, context):
            view = _refused()
        elif not words:
            view = View(_("Usage: /publish P-2026-00042 [the office's answer, shown with it]"))
        else:
            answer = words[1] if len(words) > 1 else None
            result = await record.publish(
                convo.session, words[0], staff_id=user_of(update).id, now=utcnow(), answer=answer
            )
            view = View(_published_text(result, with_answer=answer is not None))
    await reply(update, view)


def _published_text(result: PublishResult, *, with_answer: bool) -> str:
    reference = escape(result.reference)
    texts = {
        PublishOutcome.PUBLISHED: _(
            "Entry {reference} is now published on the public pages: its text and the office's "
            "answer, never who wrote it. /unpublish {reference} withdraws it."
        ),
        PublishOutcome.ANSWER_UPDATED: _(
            "Entry {reference} was already published: the answer shown with it is now the new one."
        ),
        PublishOutcome.ALREADY_PUBLISHED: _(
            "Entry {reference} is already published. To show an answer with it: "
            "/publish {reference} answer"
        ),
        PublishOutcome.UNKNOWN: _("There is no entry {reference}."),
        PublishOutcome.NO_TEXT: _("Entry {reference} has no text to publish: it is a reaction."),
        PublishOutcome.HIDDEN: _("Entry {reference} is hidden and cannot be published."),
        PublishOutcome.NO_CONSENT: _(
            "Entry {reference} cannot be published: it is anonymous, or its author "
            "erased their data or withdrew their consent."
        ),
    }
    text = texts[result.outcome].format(reference=reference)
    if with_answer and result.outcome in (PublishOutcome.PUBLISHED, PublishOutcome.ANSWER_UPDATED):
        text += "\n" + _(
            "The answer is only shown on the public pages; /answer sends it to the author."
        )
    return text


async def unpublish_command(update: Update, context: BotContext) -> None:
    """/unpublish REFERENCE: off the public pages; the entry stays in the record."""
    words = _arguments(update, 1)
    async with conversation(update, context) as convo:
        if not await is_staff(convo, update, context):
            view = _refused()
        elif not words:
            view = View(_("Usage: /unpublish P-2026-00042"))
        else:
            result = await record.unpublish(
                convo.session, words[0], staff_id=user_of(update).id, now=utcnow()
            )
            view = View(_unpublished_text(result))
    await reply(update, view)


def _unpublished_text(result: UnpublishResult) -> str:
    texts = {
        UnpublishOutcome.UNPUBLISHED: _(
            "Entry {reference} is no longer published: it stays in the record."
        ),
        UnpublishOutcome.NOT_PUBLISHED: _("Entry {reference} is not published."),
        UnpublishOutcome.UNKNOWN: _("There is no entry {reference}."),
    }
    return texts[result.outcome].format(reference=escape(result.reference))


def handlers() -> list:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler(["export", "esporta"], export_command, filters=private),
        CommandHandler(["summary", "riepilogo"], summary_command, filters=private),
        CommandHandler(["hide", "nascondi"], hide_command, filters=private),
        CommandHandler(["unhide", "mostra"], unhide_command, filters=private),
        CommandHandler(["answer", "rispondi"], answer_command, filters=private),
        CommandHandler(["verify", "verifica"], verify_command, filters=private),
        CommandHandler(["publish", "pubblica"], publish_command, filters=private),
        CommandHandler(["unpublish", "ritira"], unpublish_command, filters=private),
    ]
