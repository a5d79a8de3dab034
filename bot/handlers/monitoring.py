"""Staff import monitoring data from Telegram.

A monitoring spreadsheet (.xlsx/.csv/.json/.yaml) sent as a document by staff is imported:
problems with their line, or what changed, one readable line per change. With the caption
`check` (`prova`, `dry-run`) the file is only checked: the import runs in a savepoint that is
rolled back, so the answer tells what would change and nothing is stored, notified or audited.
"""

from __future__ import annotations

import asyncio
from html import escape
from weakref import WeakKeyDictionary

from telegram import Update
from telegram.ext import ApplicationHandlerStop, MessageHandler, filters

from bot.db.engine import savepoint
from bot.db.models import utcnow
from bot.delivery.templates.monitoring import headline
from bot.handlers.context import (
    BotContext,
    Conversation,
    conversation,
    message_of,
    reply,
    required,
    user_of,
)
from bot.handlers.staff import reply_in_pieces
from bot.i18n import _, current_language, format_number, ngettext
from bot.screens import View
from bot.services import monitoring, staff
from bot.services.monitoring import ImportReport
from bot.services.monitoring_remote import today_in_rome
from bot.services.monitoring_sources import SourceError, read_named
from bot.services.monitoring_validate import InvalidDataset

MAX_LISTED = 20
MONITORING_SUFFIXES = (".xlsx", ".csv", ".json", ".yaml", ".yml")
MAX_UPLOAD_BYTES = 5_000_000
DRY_RUN_CAPTIONS = frozenset({"check", "prova", "dry-run"})
_IMPORT_LOCKS: WeakKeyDictionary[object, asyncio.Lock] = WeakKeyDictionary()


async def on_document(update: Update, context: BotContext) -> None:
    """A staff member's monitoring file is imported; any other document goes on as usual."""
    document = required(message_of(update).document, "document")  # filters.Document.ALL
    name = document.file_name or ""
    if not name.lower().endswith(MONITORING_SUFFIXES):
        return
    async with context.bot_data.db.transaction() as session:
        admin_ids = context.bot_data.settings.admin_ids
        if not await staff.is_staff(session, user_of(update).id, admin_ids):
            return
    if (document.file_size or 0) > MAX_UPLOAD_BYTES:
        await reply(update, View(_("The file is too large (at most 5 MB).")))
        raise ApplicationHandlerStop
    # Updates are handled one at a time: the import runs beside them, so nobody waits for it.
    context.application.create_task(_import_upload(update, context), update=update)
    raise ApplicationHandlerStop


async def _import_upload(update: Update, context: BotContext) -> None:
    """Download, read (off the event loop) and import one upload, then answer it.

    One import at a time per application, so several large files never share the memory.
    """
    message = message_of(update)
    document = required(message.document, "document")  # filters.Document.ALL
    name = document.file_name or ""
    async with _IMPORT_LOCKS.setdefault(context.application, asyncio.Lock()):
        content = bytes(await (await document.get_file()).download_as_bytearray())
        threshold = context.bot_data.settings.monitoring.progress_threshold
        async with conversation(update, context) as convo:
            view = await _import(
                convo, content, name, threshold=threshold, dry_run=is_dry_run(message.caption)
            )
    await reply_in_pieces(update, view)


def is_dry_run(caption: str | None) -> bool:
    """The caption `check`, `prova` or `dry-run` (any case) asks only for a check."""
    return (caption or "").strip().casefold() in DRY_RUN_CAPTIONS


class _DryRun(Exception):
    """Leaves the savepoint with a rollback, carrying what would have been imported."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__("dry run")
        self.report = report


async def _import(
    convo: Conversation, content: bytes, name: str, *, threshold: int, dry_run: bool = False
) -> View:
    try:
        records = await asyncio.to_thread(read_named, content, name)
        async with await savepoint(convo.session):
            report = await monitoring.import_records(
                convo.session, records, today=today_in_rome(), threshold=threshold
            )
            if dry_run:
                raise _DryRun(report)
    except SourceError as error:
        return View(_("Nothing imported: {reason}").format(reason=escape(error.text())))
    except InvalidDataset as invalid:
        return _problems_view(invalid)
    except _DryRun as checked:
        return _report_view(checked.report, name, dry_run=True)
    now, actor = utcnow(), convo.subscriber.telegram_user_id
    staff.audit(
        convo.session, actor, "monitoring_import", now, file=name, changes=len(report.changes)
    )
    return _report_view(report, name, dry_run=False)


def _report_view(report: ImportReport, name: str, *, dry_run: bool) -> View:
    """What the file holds, what changed (or would change), one readable line per change."""
    if dry_run:
        heading = _("<b>Check of {name}</b>: nothing was imported.")
    else:
        heading = _("<b>Imported {name}</b>")
    lines = [heading.format(name=escape(name)), escape(_contents(report))]
    lines.append(escape(_outcome(report, dry_run=dry_run)))
    language = current_language()
    lines += [
        "• " + escape(headline(change.payload, language)) for change in report.changes[:MAX_LISTED]
    ]
    hidden = len(report.changes) - MAX_LISTED
    if hidden > 0:
        more = ngettext("…and {count} more change", "…and {count} more changes", hidden)
        lines.append(escape(_counted(more, hidden)))
    if dry_run:
        lines.append(escape(_("To import it, send the file again without a caption.")))
    return View("\n".join(lines))


def _contents(report: ImportReport) -> str:
    parts = [
        _actions_read(report.actions, report.new_actions),
        _counted(
            ngettext("{count} indicator", "{count} indicators", report.indicators),
            report.indicators,
        ),
        _counted(
            ngettext("{count} measurement", "{count} measurements", report.measurements),
            report.measurements,
        ),
        _counted(
            ngettext("{count} annual review", "{count} annual reviews", report.reviews),
            report.reviews,
        ),
    ]
    return _("In the file: {contents}.").format(contents=", ".join(parts))


def _actions_read(actions: int, new: int) -> str:
    if new == 0:
        text = ngettext("{count} action", "{count} actions", actions)
    elif new == actions:
        text = ngettext("{count} new action", "{count} new actions", actions)
    else:
        text = ngettext("{count} actions ({new} new)", "{count} actions ({new} new)", new)
    return text.format(count=format_number(actions), new=format_number(new))


def _counted(text: str, count: int) -> str:
    return text.format(count=format_number(count))


def _outcome(report: ImportReport, *, dry_run: bool) -> str:
    changes, queued = len(report.changes), len(report.notification_ids)
    if not changes:
        return _("Nothing would change.") if dry_run else _("Nothing changed.")
    if dry_run:
        changed = ngettext("{count} change would be made", "{count} changes would be made", changes)
        notified = ngettext(
            "{count} notification would be queued", "{count} notifications would be queued", queued
        )
    else:
        changed = ngettext("{count} change", "{count} changes", changes)
        notified = ngettext("{count} notification queued", "{count} notifications queued", queued)
    return f"{_counted(changed, changes)}, {_counted(notified, queued)}:"


def _problems_view(invalid: InvalidDataset) -> View:
    total = len(invalid.errors)
    heading = ngettext(
        "<b>Nothing imported</b>: {count} problem.",
        "<b>Nothing imported</b>: {count} problems.",
        total,
    )
    lines = [_counted(heading, total)]
    lines += [f"• {escape(error.text())}" for error in invalid.errors[:MAX_LISTED]]
    hidden = total - MAX_LISTED
    if hidden > 0:
        more = ngettext("…and {count} more problem", "…and {count} more problems", hidden)
        lines.append(escape(_counted(more, hidden)))
    return View("\n".join(lines))


def input_handlers() -> list:
    return [MessageHandler(filters.ChatType.PRIVATE & filters.Document.ALL, on_document)]
