"""How monitoring data reads in a message, in the current language (Telegram HTML).

Shared by the notification template (`delivery/render.py`) and the /piano screens.
"""

from __future__ import annotations

import html
from datetime import date

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency

from bot.db.models import ActionStatus
from bot.i18n import N_, _, current_language, format_number
from bot.labels import localized
from bot.services.site_links import action_page_url, home_page_url
from feeds.telegram_html import escape, safe_link

BAR_CELLS = 5
FILLED, EMPTY = "▰", "▱"

_STATUS_LABELS = {
    ActionStatus.PLANNED: N_("planned"),
    ActionStatus.IN_PROGRESS: N_("in progress"),
    ActionStatus.DELAYED: N_("delayed"),
    ActionStatus.COMPLETED: N_("completed"),
    ActionStatus.SUSPENDED: N_("suspended"),
}
_STATUS_ICONS = {
    ActionStatus.PLANNED: "⚪",
    ActionStatus.IN_PROGRESS: "🔵",
    ActionStatus.DELAYED: "🟠",
    ActionStatus.COMPLETED: "🟢",
    ActionStatus.SUSPENDED: "⏸",
}


def status_label(status: str) -> str:
    try:
        return _(_STATUS_LABELS[ActionStatus(status)])
    except ValueError:
        return status


def status_icon(status: str) -> str:
    try:
        return _STATUS_ICONS[ActionStatus(status)]
    except ValueError:
        return "•"


def progress_bar(percent: int | float | None) -> str:
    """▰▰▰▱▱ 60%: five cells of 20 points each."""
    value = max(0, min(100, round(percent or 0)))
    filled = (value + 10) // 20  # half a cell rounds up: 50% shows three cells
    return FILLED * filled + EMPTY * (BAR_CELLS - filled) + f" {value}%"


def format_day(day: date | str | None) -> str:
    if not day:
        return "—"
    parsed = date.fromisoformat(day) if isinstance(day, str) else day
    return format_date(parsed, "medium", locale=Locale.parse(current_language()))


def format_money(amount: float | None) -> str:
    """Euros in the current language; whole amounts without cents."""
    if amount is None:
        return ""
    locale = Locale.parse(current_language())
    if not float(amount).is_integer():
        return format_currency(amount, "EUR", locale=locale)
    pattern = locale.currency_formats["standard"].pattern.replace(".00", "")
    return format_currency(amount, "EUR", format=pattern, currency_digits=False, locale=locale)


def format_value(value: float | None, unit: str | None) -> str:
    if value is None:
        return "—"
    number = format_number(int(value) if float(value).is_integer() else value)
    return f"{number} {unit}" if unit else number


def sample_note() -> str:
    return "<i>" + escape(_("Sample data, for demonstration only.")) + "</i>"


# --- notifications ------------------------------------------------------------------------


def headline(payload: dict, language: str) -> str:
    """One line about the change, what changed first (grouped messages cut long lines)."""
    change = payload.get("change")
    if change == "review":
        return _("The plan's annual review {year}").format(year=payload.get("year"))
    code = payload.get("action", "")
    name = localized(payload.get("name"), language)
    if change == "new_action":
        line = _("New action {code}: {name}")
    elif change == "status":
        line = _("{code} now {status}: {name}")
    elif change == "progress":
        line = _("{code} at {percent}%: {name}")
    elif change == "date_slipped":
        line = _("{code} ends later, on {date}: {name}")
    elif change == "target_reached":
        line = _("{code} target reached: {indicator}")
    elif change == "measurement":
        line = _("{code} new value: {indicator}")
    else:
        line = "{code}: {name}"
    return line.format(
        code=code,
        name=name,
        status=status_label(payload.get("new", "")),
        percent=payload.get("progress"),
        date=format_day(payload.get("new")) if change == "date_slipped" else "",
        indicator=localized(payload.get("indicator"), language),
    )


def notification_html(payload: dict, language: str, public_url: str | None = None) -> str:
    """The message about one change: exactly what changed, then where to read more (with
    `public_url`, PUBLIC_URL, also the action's public page, or the plan's for a review)."""
    renderers = {
        "new_action": _new_action,
        "status": _status,
        "progress": _progress,
        "measurement": _measurement,
        "target_reached": _target_reached,
        "date_slipped": _date_slipped,
        "review": _review,
    }
    render = renderers.get(payload.get("change", ""), _unknown)
    parts = [render(payload, language)]
    parts.append(_footer(payload, public_url_for(payload, language, public_url)))
    if payload.get("sample"):
        parts.append(sample_note())
    return "\n\n".join(part for part in parts if part)


def _title(payload: dict, language: str) -> str:
    return "<b>" + escape(localized(payload.get("title"), language)) + "</b>"


def _new_action(payload: dict, language: str) -> str:
    lines = [
        "🆕 "
        + escape(_("New action in the plan (strategy {strategy}):")).format(
            strategy=escape(payload.get("strategy", ""))
        ),
        _title(payload, language),
        escape(_("Status: {status}")).format(status=escape(status_label(payload["status"]))),
        escape(_("Progress: {bar}")).format(bar=progress_bar(payload.get("progress"))),
    ]
    if payload.get("end"):
        lines.append(escape(_("Expected end: {date}")).format(date=format_day(payload["end"])))
    if payload.get("funding_amount_eur") is not None or payload.get("funding_source"):
        lines.append(escape(_("Funding: {funding}")).format(funding=escape(_funding(payload))))
    return "\n".join(lines)


def _funding(payload: dict) -> str:
    parts = [payload.get("funding_source") or "", format_money(payload.get("funding_amount_eur"))]
    return " · ".join(part for part in parts if part)


def _status(payload: dict, language: str) -> str:
    change = escape(_("Status changed from {old} to {new}.")).format(
        old="<b>" + escape(status_label(payload["old"])) + "</b>",
        new="<b>" + escape(status_label(payload["new"])) + "</b>",
    )
    bar = escape(_("Progress: {bar}")).format(bar=progress_bar(payload.get("progress")))
    return "\n".join([status_icon(payload["new"]) + " " + _title(payload, language), change, bar])


def _progress(payload: dict, language: str) -> str:
    change = escape(_("Progress moved from {old}% to {new}%.")).format(
        old=payload["old"], new=payload["progress"]
    )
    return "\n".join(["📈 " + _title(payload, language), change, progress_bar(payload["progress"])])


def _measurement(payload: dict, language: str) -> str:
    lines = [
        "📏 " + _title(payload, language),
        escape(_("New value of “{indicator}” for {period}: {value}")).format(
            indicator=escape(localized(payload.get("indicator"), language)),
            period=escape(payload["period"]),
            value="<b>" + escape(format_value(payload["value"], payload.get("unit"))) + "</b>",
        ),
    ]
    if payload.get("previous") is not None:
        lines.append(
            escape(_("Before: {value} ({period})")).format(
                value=escape(format_value(payload["previous"], payload.get("unit"))),
                period=escape(payload.get("previous_period") or ""),
            )
        )
    lines.append(_target_line(payload))
    return "\n".join(line for line in lines if line)


def _target_line(payload: dict) -> str:
    if payload.get("target") is None:
        return ""
    target = escape(format_value(payload["target"], payload.get("unit")))
    if payload.get("target_year"):
        return escape(_("Target: {target} by {year}")).format(
            target=target, year=payload["target_year"]
        )
    return escape(_("Target: {target}")).format(target=target)


def _target_reached(payload: dict, language: str) -> str:
    return "\n".join(
        [
            "🎯 " + _title(payload, language),
            escape(_("Target reached: “{indicator}” is {value} for {period}.")).format(
                indicator=escape(localized(payload.get("indicator"), language)),
                value="<b>" + escape(format_value(payload["value"], payload.get("unit"))) + "</b>",
                period=escape(payload["period"]),
            ),
            _target_line(payload),
        ]
    )


def _date_slipped(payload: dict, language: str) -> str:
    change = escape(_("The expected end moved from {old} to {new}.")).format(
        old=escape(format_day(payload["old"])),
        new="<b>" + escape(format_day(payload["new"])) + "</b>",
    )
    return "\n".join(["⏳ " + _title(payload, language), change])


def _review(payload: dict, language: str) -> str:
    heading = escape(_("The plan's annual review {year} has been published")).format(
        year=payload["year"]
    )
    lines = ["📘 <b>" + heading + "</b>"]
    if payload.get("date"):
        lines.append(escape(_("Published on {date}")).format(date=format_day(payload["date"])))
    summary = localized(payload.get("summary"), language)
    if summary:
        lines.append("\n" + escape(summary))
    return "\n".join(lines)


def _unknown(payload: dict, language: str) -> str:
    return _title(payload, language) or escape(_("Update from the plan"))


def public_url_for(payload: dict, language: str, public_url: str | None) -> str | None:
    """The public page about this change: its action's, the home page for a review."""
    if public_url is None:
        return None
    if payload.get("change") == "review":
        return home_page_url(public_url, language)
    if payload.get("action"):
        return action_page_url(public_url, payload["action"], language)
    return None


def _footer(payload: dict, page: str | None = None) -> str:
    parts = []
    link = safe_link(payload.get("link"))
    if link:
        label = (
            _("Read the document") if payload.get("change") == "review" else _("More information")
        )
        parts.append(f'<a href="{html.escape(link, quote=True)}">{escape(label)}</a>')
    if page:
        label = _("The plan in figures") if payload.get("change") == "review" else _("Public page")
        parts.append(f'🌐 <a href="{html.escape(page, quote=True)}">{escape(label)}</a>')
    if payload.get("action"):
        parts.append(
            escape(_("Details: {command}")).format(command="/piano " + escape(payload["action"]))
        )
    return " · ".join(parts)
