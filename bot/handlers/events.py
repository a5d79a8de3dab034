"""/events (/eventi): upcoming events with RSVP and calendar files.

Staff: /newevent publishes; /event (/evento) list [all] | change ID | WHEN | PLACE | end=HH:MM |
cancel ID manages what was published (changes and cancellations are notified by the service).
"""

from __future__ import annotations

from telegram import InputFile, Update
from telegram.ext import CommandHandler, filters

from bot.callbacks import EventButton, EventChoice
from bot.db.models import EventStatus, RsvpAnswer, utcnow
from bot.delivery.templates import event as event_text
from bot.handlers.context import (
    BotContext,
    Conversation,
    chat_of,
    conversation,
    message_of,
    query_of,
    reply,
)
from bot.handlers.staff import is_staff, refused
from bot.i18n import _, current_language
from bot.screens import View
from bot.screens import events as event_screens
from bot.services import event_ics, event_input, events, staff
from bot.services.event_input import EventCommand, EventUsageError
from bot.services.events import EventError

_ANSWERS = {
    EventChoice.YES: RsvpAnswer.YES,
    EventChoice.MAYBE: RsvpAnswer.MAYBE,
    EventChoice.NO: RsvpAnswer.NO,
}


async def events_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context) as convo:
        upcoming = await events.upcoming_for(
            convo.session, convo.subscriber, utcnow(), limit=event_screens.MAX_CARDS + 1
        )
        views = [await _card(convo, event) for event in upcoming[: event_screens.MAX_CARDS]]
        if len(upcoming) > event_screens.MAX_CARDS:
            views.append(event_screens.more_events())
    for view in views or [event_screens.no_upcoming_events()]:
        await reply(update, view)


async def _card(convo: Conversation, event) -> View:
    payload = await events.event_payload(convo.session, event, "card")
    counts = await events.rsvp_counts(convo.session, event.id)
    answer = await events.answer_of(convo.session, convo.subscriber, event.id)
    return event_screens.card(payload, counts, answer, event.status)


async def new_event_command(update: Update, context: BotContext) -> None:
    """Staff: `/newevent WHEN | TITLE | PLACE | zone=… strategy=…` publishes and announces."""
    line = (message_of(update).text or "").partition(" ")[2].strip()
    async with conversation(update, context) as convo:
        if not await is_staff(convo, update, context):
            views = [event_screens.staff_only()]
        elif not line:
            views = [event_screens.new_event_usage()]
        else:
            views = await _publish(convo, line)
    for view in views:
        await reply(update, view)


async def _publish(convo: Conversation, line: str) -> list[View]:
    try:
        draft = event_input.parse_staff_line(line)
        now = utcnow()
        event_input.check_upcoming(draft.starts_at, now)
        await event_input.check_targets(convo.session, draft)
        event = await events.create(convo.session, draft, now)
    except EventError as error:
        return [event_screens.event_error(error)]
    actor = convo.subscriber.telegram_user_id
    staff.audit(convo.session, actor, "event_create", now, event_id=event.id)
    return [event_screens.published(event.id), await _card(convo, event)]


async def event_command(update: Update, context: BotContext) -> None:
    """Staff: `/event list [all]`, `/event change ID | WHEN | PLACE`, `/event cancel ID`."""
    words = (message_of(update).text or "").split(None, 1)
    line = words[1] if len(words) > 1 else ""
    async with conversation(update, context) as convo:
        if not await is_staff(convo, update, context):
            view = refused()
        else:
            try:
                command = event_input.parse_event_command(line)
            except EventUsageError:
                view = event_screens.manage_usage()
            except EventError as error:
                view = event_screens.manage_error(error)
            else:
                view = await _MANAGE[command.action](convo, command)
    await reply(update, view)


async def _list(convo: Conversation, command: EventCommand) -> View:
    now = utcnow()
    found = await events.list_events(
        convo.session, since=None if command.show_all else now, limit=10_000
    )
    if not command.show_all:
        found = [event for event in found if event.status != EventStatus.CANCELLED]
    # Upcoming: the nearest ones; all: the latest ones (past events come first).
    shown = (
        found[-event_screens.MAX_LISTED :]
        if command.show_all
        else found[: event_screens.MAX_LISTED]
    )
    rows = [(event, await events.rsvp_counts(convo.session, event.id)) for event in shown]
    return event_screens.staff_list(rows, command.show_all, len(found) - len(shown))


async def _change(convo: Conversation, command: EventCommand) -> View:
    if command.event_id is None or command.change is None:  # the parser sets both for "change"
        return event_screens.manage_usage()
    event = await events.get(convo.session, command.event_id)
    if event is None:
        return event_screens.unknown_event(command.event_id)
    if event.status == EventStatus.CANCELLED:
        return event_screens.cannot_change_cancelled(event.id)
    before = events.draft_of(event)
    now = utcnow()
    try:
        after = event_input.changed_draft(before, command.change)
        after = await event_input.following_the_place(convo.session, before, after)
        what = event_input.differences(before, after)
        if not what:
            return event_screens.unchanged(event.id)
        if after.starts_at != before.starts_at:
            event_input.check_upcoming(after.starts_at, now)
        notified = await events.change(convo.session, event, after, now)
    except EventError as error:
        return event_screens.manage_error(error)
    actor = convo.subscriber.telegram_user_id
    staff.audit(convo.session, actor, "event_change", now, event_id=event.id, changed=what)
    comuni = (
        await events.comune_name(convo.session, before.comune_istat),
        await events.comune_name(convo.session, after.comune_istat),
    )
    return event_screens.changed(event, before, after, what, notified, comuni)


async def _cancel(convo: Conversation, command: EventCommand) -> View:
    if command.event_id is None:  # the parser sets it for "cancel"
        return event_screens.manage_usage()
    event = await events.get(convo.session, command.event_id)
    if event is None:
        return event_screens.unknown_event(command.event_id)
    if event.status == EventStatus.CANCELLED:
        return event_screens.already_cancelled(event)
    now = utcnow()
    notified = await events.cancel(convo.session, event, now)
    staff.audit(
        convo.session, convo.subscriber.telegram_user_id, "event_cancel", now, event_id=event.id
    )
    return event_screens.cancelled(event, notified)


_MANAGE = {"list": _list, "change": _change, "cancel": _cancel}


async def on_event_button(update: Update, context: BotContext, action: EventButton) -> None:
    if action.choice is EventChoice.CALENDAR_FILE:
        await _send_calendar_file(update, context, action.event_id)
        return
    async with conversation(update, context) as convo:
        outcome = await events.answer_rsvp(
            convo.session, convo.subscriber, action.event_id, _ANSWERS[action.choice], utcnow()
        )
    if outcome.event is None:
        text = _("This event no longer exists.")
    elif outcome.cancelled or outcome.answer is None:  # an answer is recorded unless cancelled
        text = _("This event was cancelled.")
    else:
        text = f"{event_text.answer_label(outcome.answer)} {event_text.counts_line(outcome.counts)}"
    await query_of(update).answer(text, show_alert=outcome.event is None)


async def _send_calendar_file(update: Update, context: BotContext, event_id: int) -> None:
    async with conversation(update, context) as convo:
        event = await events.get(convo.session, event_id)
        if event is not None:
            data = event_ics.to_ics(event, current_language(), utcnow())
            name, caption = event_ics.file_name(event), event.title(current_language())
    if event is None:
        await query_of(update).answer(_("This event no longer exists."), show_alert=True)
        return
    await query_of(update).answer()
    await chat_of(update).send_document(
        document=InputFile(data, filename=name), filename=name, caption=caption[:1024]
    )


def handlers() -> list:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler(["events", "eventi"], events_command, filters=private),
        CommandHandler(["newevent", "nuovoevento"], new_event_command, filters=private),
        CommandHandler(["event", "evento"], event_command, filters=private),
    ]
