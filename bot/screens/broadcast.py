"""What staff see in the /broadcast wizard: the audience pages, the time and the confirmation.

The audience has a main page (everyone, strategies, zones, language) and sub-pages for comuni
(by zone), the plan's actions (by strategy) and stakeholder categories. Every page shows what
is chosen and how many people it reaches. Buttons are `bc:<draft token>:<step>[:<value>]`.
"""

from __future__ import annotations

import enum
from collections import Counter
from html import escape

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import callbacks
from bot.db.models import BroadcastDraft, TargetKind
from bot.i18n import _, current_language, format_datetime, format_number
from bot.screens import View, shorten
from bot.screens.participation import category_label
from bot.services import broadcasts, monitoring, plan, subscriptions
from bot.services.broadcasts import CATEGORIES, Audience
from bot.services.subscriptions import Target, UnknownTarget

LABEL_CHARS = 40
MAX_ACTIONS = 90  # a keyboard holds at most 100 buttons
MAX_SUMMARY_ITEMS = 30


class Page(enum.StrEnum):
    """Where an audience button leads (the step codes of callbacks.BROADCAST_STEPS)."""

    MAIN = "back"
    COMUNI = "pc"  # zones, then the comuni of one zone
    ACTIONS = "pa"  # strategies, then the actions of one strategy
    CATEGORIES = "pk"


def _button(label: str, draft: BroadcastDraft, step: str, value: str | None = None):
    return InlineKeyboardButton(
        label, callback_data=callbacks.broadcast_data(draft.token, step, value)
    )


def cancel_row(draft: BroadcastDraft) -> list[InlineKeyboardButton]:
    return [_button(_("✖ Cancel"), draft, "x")]


def _rows(buttons: list, per_row: int) -> list[list]:
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]


def _mark(chosen: bool, label: str) -> str:
    return f"✅ {label}" if chosen else label


def compose() -> str:
    return _(
        "<b>New broadcast</b>\nSend me the text, with Telegram formatting if you like, "
        "or a photo or document with its caption."
    )


async def audience_page(
    session: AsyncSession, draft: BroadcastDraft, page: Page = Page.MAIN, value: str | None = None
) -> View:
    """One page of the audience step, with what is chosen and the number of recipients."""
    audience = broadcasts.audience_of(draft)
    if page == Page.COMUNI and value:
        rows = await _comuni_rows(session, draft, audience, value)
    elif page == Page.COMUNI:
        rows = await _zone_choice_rows(session, draft, audience)
    elif page == Page.ACTIONS and value:
        rows = await _action_rows(session, draft, audience, value)
    elif page == Page.ACTIONS:
        rows = await _strategy_choice_rows(session, draft)
    elif page == Page.CATEGORIES:
        rows = _category_rows(draft, audience)
    else:
        rows = await _main_rows(session, draft, audience)
    if page != Page.MAIN:
        rows.append([_button(_("✔ Done"), draft, Page.MAIN)])
    rows.append([_button(_("Preview ▶"), draft, "ok"), *cancel_row(draft)])
    text = "\n".join(
        [
            _("<b>Audience</b>: choose who receives it."),
            await describe(session, audience),
            _("Recipients: {count}").format(
                count=format_number(await broadcasts.count_recipients(session, audience))
            ),
        ]
    )
    return View(text, InlineKeyboardMarkup(rows))


async def _main_rows(session: AsyncSession, draft: BroadcastDraft, audience: Audience) -> list:
    rows = [[_button(_mark(audience.everyone, _("Everyone")), draft, "e")]]
    strategies = await plan.list_strategies(session)
    rows += _rows(
        [
            _button(_mark((TargetKind.STRATEGY, s.id) in audience.targets, s.id), draft, "s", s.id)
            for s in strategies
        ],
        per_row=5,
    )
    zones = await plan.list_zones(session)
    rows += _rows(
        [
            _button(_mark((TargetKind.ZONE, z.id) in audience.targets, z.name), draft, "z", z.id)
            for z in zones
        ],
        per_row=3,
    )

    def counted(label: str, count: int) -> str:
        return f"{label} ({count}) ▸" if count else f"{label} ▸"

    rows.append(
        [
            _button(counted(_("Comuni"), len(audience.chosen(TargetKind.COMUNE))), draft, "pc"),
            _button(counted(_("Actions"), len(audience.chosen(TargetKind.ACTION))), draft, "pa"),
            _button(counted(_("Categories"), len(audience.categories)), draft, "pk"),
        ]
    )
    rows.append(
        [
            _button(_mark(audience.language == code, label), draft, "l", code)
            for code, label in (("it", _("Italian only")), ("en", _("English only")))
        ]
    )
    return rows


async def _zone_choice_rows(session: AsyncSession, draft: BroadcastDraft, audience: Audience):
    chosen: Counter[str] = Counter()
    for istat in audience.chosen(TargetKind.COMUNE):
        comune = await plan.get_comune(session, istat)
        if comune is not None:
            chosen[comune.zone_id] += 1
    buttons = []
    for zone in await plan.list_zones(session):
        count = chosen[zone.id]
        label = f"{zone.name} ({count}) ▸" if count else f"{zone.name} ▸"
        buttons.append(_button(label, draft, Page.COMUNI, zone.id))
    return _rows(buttons, per_row=2)


async def _comuni_rows(session: AsyncSession, draft, audience: Audience, zone_id: str) -> list:
    zone = await plan.get_zone_with_comuni(session, zone_id)
    if zone is None:
        return await _zone_choice_rows(session, draft, audience)
    chosen = set(audience.chosen(TargetKind.COMUNE))
    buttons = [
        _button(_mark(comune.istat in chosen, comune.name), draft, "c", comune.istat)
        for comune in zone.comuni
    ]
    return [*_rows(buttons, per_row=3), [_button(_("◀ Zones"), draft, Page.COMUNI)]]


async def _strategy_choice_rows(session: AsyncSession, draft: BroadcastDraft) -> list:
    counts = await monitoring.action_counts(session)
    return [
        [
            _button(
                shorten(plan.strategy_label(strategy), LABEL_CHARS)
                + f" ({format_number(counts.get(strategy.id, 0))})",
                draft,
                Page.ACTIONS,
                strategy.id,
            )
        ]
        for strategy in await plan.list_strategies(session)
        if counts.get(strategy.id)
    ]


async def _action_rows(session: AsyncSession, draft, audience: Audience, strategy_id: str):
    chosen = set(audience.chosen(TargetKind.ACTION))
    language = current_language()
    actions = await monitoring.actions_of_strategy(session, strategy_id)
    rows = [
        [
            _button(
                _mark(
                    action.code in chosen,
                    shorten(f"{action.code} · {action.title(language)}", LABEL_CHARS),
                ),
                draft,
                "a",
                action.code,
            )
        ]
        for action in actions[:MAX_ACTIONS]
    ]
    return [*rows, [_button(_("◀ Strategies"), draft, Page.ACTIONS)]]


def _category_rows(draft: BroadcastDraft, audience: Audience) -> list:
    buttons = [
        _button(
            _mark(category in audience.categories, category_label(category)), draft, "k", category
        )
        for category in CATEGORIES
    ]
    return _rows(buttons, per_row=2)


async def describe(session: AsyncSession, audience: Audience) -> str:
    """What is chosen, in words: "Chosen: Genova, Rapallo · categories: Comune"."""
    language = current_language()
    names = [_("everyone")] if audience.everyone else []
    for kind, target_id in sorted(audience.targets):
        try:
            item = await subscriptions.describe_target(session, Target(TargetKind(kind), target_id))
        except UnknownTarget:
            continue
        names.append(target_id if kind == TargetKind.STRATEGY else item.name(language))
    if audience.categories:
        labels = ", ".join(category_label(c) for c in sorted(audience.categories))
        names.append(_("categories: {labels}").format(labels=labels))
    if audience.language:
        names.append(_("Italian only") if audience.language == "it" else _("English only"))
    if not audience.targets and not audience.everyone and not audience.categories:
        return _("Nothing chosen yet.")
    shown = names[:MAX_SUMMARY_ITEMS]
    if len(names) > len(shown):
        shown.append("…")
    return _("Chosen: {items}").format(items=escape(", ".join(shown)))


def ask_time(draft: BroadcastDraft) -> View:
    text = _("When? Send the date and time as YYYY-MM-DD HH:MM (Rome time).")
    return View(text, InlineKeyboardMarkup([cancel_row(draft)]))


def bad_time(draft: BroadcastDraft) -> View:
    return View(
        _("I need a future date and time as YYYY-MM-DD HH:MM (Rome time)."),
        InlineKeyboardMarkup([cancel_row(draft)]),
    )


def when(draft: BroadcastDraft) -> View:
    keyboard = [
        [_button(_("Send now"), draft, "now"), _button(_("Schedule"), draft, "at")],
        cancel_row(draft),
    ]
    return View(
        _("Above is the preview, as recipients will see it."), InlineKeyboardMarkup(keyboard)
    )


async def confirm(session: AsyncSession, draft: BroadcastDraft) -> View:
    audience = broadcasts.audience_of(draft)
    count = format_number(await broadcasts.count_recipients(session, audience))
    if draft.send_at is None:
        question = _("Send this broadcast now to {count} recipients?").format(count=count)
    else:
        question = _("Schedule this broadcast for {time} to {count} recipients?").format(
            time=format_datetime(draft.send_at, "short"), count=count
        )
    keyboard = [[_button(_("✔ Confirm"), draft, "go"), *cancel_row(draft)]]
    text = f"{question}\n{await describe(session, audience)}"
    return View(text, InlineKeyboardMarkup(keyboard))
