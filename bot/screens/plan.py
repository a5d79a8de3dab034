"""What citizens see of the plan's monitoring (/piano): strategies, actions, action cards.

Screens read through `services.monitoring` and render in the current language.
"""

from __future__ import annotations

import html
from html import escape

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import callbacks
from bot.db.models import PlanAction
from bot.delivery.templates.monitoring import (
    format_day,
    format_money,
    format_value,
    progress_bar,
    sample_note,
    status_icon,
    status_label,
)
from bot.i18n import _, current_language, format_number, ngettext
from bot.screens import View, button, shorten
from bot.services import monitoring, plan
from bot.services.monitoring import ActionCard, IndicatorView
from bot.services.plan import strategy_label
from bot.services.site_links import action_page_url

MAX_LISTED = 40


def _to_strategies() -> InlineKeyboardButton:
    return button(_("🗂 Strategies"), callbacks.plan_data())


def _search_hint() -> str:
    return _("To search, send /piano followed by a word or a comune, for example /piano Rapallo.")


async def strategies(session: AsyncSession) -> View:
    counts = await monitoring.action_counts(session)
    if not counts:
        return View(_("The plan's monitoring data has not been published yet."))
    rows = []
    for strategy in await plan.list_strategies(session):
        count = counts.get(strategy.id, 0)
        label = f"{shorten(strategy_label(strategy), 41)} ({count})"
        rows.append([button(label, callbacks.plan_data(strategy_id=strategy.id))])
    text = "\n\n".join(
        [
            _("<b>The plan's actions</b>"),
            _("Choose a strategy to see its actions, their progress and their indicators."),
            escape(_search_hint()),
        ]
    )
    return View(text, InlineKeyboardMarkup(rows))


async def strategy_actions(session: AsyncSession, strategy_id: str) -> View | None:
    strategy = await plan.get_strategy(session, strategy_id)
    if strategy is None:
        return None
    actions = await monitoring.actions_of_strategy(session, strategy_id)
    heading = f"<b>{escape(strategy_label(strategy))}</b>"
    if actions:
        count = ngettext(
            "{count} action: tap it to open its card.",
            "{count} actions: tap one to open its card.",
            len(actions),
        )
    else:
        count = _("No action of this strategy is monitored yet.")
    text = heading + "\n" + escape(count.format(count=format_number(len(actions))))
    rows = _action_rows(actions)
    rows.append([_to_strategies()])
    return View(text, InlineKeyboardMarkup(rows))


def _action_rows(actions: list[PlanAction]) -> list[list[InlineKeyboardButton]]:
    language = current_language()
    rows = []
    for action in actions[:MAX_LISTED]:
        label = (
            f"{status_icon(action.status)} {action.code} · "
            f"{shorten(action.title(language), 34)} {action.progress_pct}%"
        )
        rows.append([button(label, callbacks.plan_data(action_code=action.code))])
    return rows


async def search_results(session: AsyncSession, query: str) -> View:
    actions = await monitoring.search_actions(session, query)
    if not actions:
        text = escape(_("No action found for “{query}”.").format(query=query))
        return View(
            text + "\n\n" + escape(_search_hint()), InlineKeyboardMarkup([[_to_strategies()]])
        )
    text = escape(
        ngettext(
            "{count} action found for “{query}”:",
            "{count} actions found for “{query}”:",
            len(actions),
        ).format(count=format_number(len(actions)), query=query)
    )
    rows = _action_rows(actions)
    rows.append([_to_strategies()])
    return View(text, InlineKeyboardMarkup(rows))


async def action_card(
    session: AsyncSession, code: str, *, following: bool, public_url: str | None = None
) -> View | None:
    """The action's card; with `public_url` (PUBLIC_URL) a button opens its public page."""
    card = await monitoring.action_card(session, code)
    if card is None:
        return None
    action = card.action
    follow_label = _("🔕 Stop following") if following else _("🔔 Follow this action")
    rows = [
        [button(follow_label, callbacks.follow_action_data(not following, action.code))],
        *_public_page_row(public_url, action.code),
        [
            button(
                _("⬅️ Actions of {strategy}").format(strategy=action.strategy_id),
                callbacks.plan_data(strategy_id=action.strategy_id),
            ),
            _to_strategies(),
        ],
    ]
    return View(card_text(card), InlineKeyboardMarkup(rows))


def _public_page_row(public_url: str | None, code: str) -> list[list[InlineKeyboardButton]]:
    if public_url is None:
        return []
    page = action_page_url(public_url, code, current_language())
    return [[InlineKeyboardButton(_("🌐 Public page"), url=page)]]


def card_text(card: ActionCard) -> str:
    language = current_language()
    action = card.action
    title = f"{escape(action.code)} · {escape(action.title(language))}"
    strategy = strategy_label(card.strategy)
    parts = [f"{status_icon(action.status)} <b>{title}</b>\n<i>{escape(strategy)}</i>"]
    description = action.description(language)
    if description:
        parts.append(escape(description))
    parts.append(_facts(card))
    if card.indicators:
        parts.append(_indicators(card.indicators))
    if action.links:
        parts.append(_links(action.links))
    if action.sample:
        parts.append(sample_note())
    return "\n\n".join(parts)


def _facts(card: ActionCard) -> str:
    action = card.action
    lines = [
        escape(_("Status: {status}").format(status=status_label(action.status))),
        escape(_("Progress: {bar}").format(bar=progress_bar(action.progress_pct))),
    ]
    if action.start_date or action.end_date:
        lines.append(
            escape(
                _("Dates: from {start} to {end}").format(
                    start=format_day(action.start_date), end=format_day(action.end_date)
                )
            )
        )
    if card.zone_names:
        lines.append(escape(_("Zones: {names}").format(names=", ".join(card.zone_names))))
    if card.comune_names:
        lines.append(escape(_("Comuni: {names}").format(names=", ".join(card.comune_names))))
    if action.responsible:
        lines.append(escape(_("Responsible: {who}").format(who=action.responsible)))
    funding = " · ".join(
        part for part in (action.funding_source, format_money(action.funding_amount_eur)) if part
    )
    if funding:
        lines.append(escape(_("Funding: {funding}").format(funding=funding)))
    return "\n".join(lines)


def _indicators(indicators: list[IndicatorView]) -> str:
    language = current_language()
    lines = ["<b>" + escape(_("Indicators")) + "</b>"]
    for view in indicators:
        indicator, latest = view.indicator, view.latest
        line = "• " + escape(indicator.name(language)) + ": "
        if latest is None:
            line += escape(_("no value yet"))
        else:
            line += "<b>" + escape(format_value(latest.value, indicator.unit)) + "</b>"
            line += f" ({escape(latest.period)})"
        if indicator.target is not None:
            target = format_value(indicator.target, indicator.unit)
            goal = (
                _("target {target} by {year}").format(target=target, year=indicator.target_year)
                if indicator.target_year
                else _("target {target}").format(target=target)
            )
            line += " · " + escape(goal)
        share = _share_of_target(view)
        if share is not None:
            line += "\n  " + progress_bar(share)
        lines.append(line)
    return "\n".join(lines)


def _share_of_target(view: IndicatorView) -> float | None:
    """How far the latest value went from the baseline towards the target, in percent."""
    indicator, latest = view.indicator, view.latest
    if latest is None or indicator.target is None or indicator.baseline is None:
        return None
    span = indicator.target - indicator.baseline
    if span == 0:
        return None
    return max(0.0, min(100.0, (latest.value - indicator.baseline) / span * 100))


def _links(links: list[str]) -> str:
    labels = [_("More information")] + [
        _("Link {number}").format(number=number) for number in range(2, len(links) + 1)
    ]
    return " · ".join(
        f'🔗 <a href="{html.escape(link, quote=True)}">{escape(label)}</a>'
        for link, label in zip(links, labels, strict=False)
    )
