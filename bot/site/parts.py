"""What the pages have in common: words and numbers in the page's language, and the
sections several pages show (actions, changes, events, published contributions).

Render inside `use_locale(language)`: labels come from the Babel catalogs, dates are
Europe/Rome. Sample data and facts the sources do not confirm are labelled wherever they
appear.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time
from babel.numbers import format_currency, format_percent

from bot.config import TIMEZONE
from bot.db.models import ActionStatus, Event, EventKind, EventStatus, PlanAction
from bot.i18n import N_, _, current_language, format_number, ngettext
from bot.services.record import PublishedEntry
from bot.services.site import Count, PlaceNames, PlanChange, ProgressSummary, count_label
from bot.site import charts
from bot.site.charts import Bar, Headers
from bot.site.layout import (
    DATA,
    HOME,
    Here,
    action_path,
    e,
    h3,
    link,
    paragraph,
    strategy_path,
    table,
    zone_path,
)

MAX_LISTED_ACTIONS = 200  # keeps a zone of the whole plan under 100 KB; the rest is open data


# --- words and numbers --------------------------------------------------------------------

_STATUS_LABELS = {
    ActionStatus.PLANNED: N_("planned"),
    ActionStatus.IN_PROGRESS: N_("in progress"),
    ActionStatus.DELAYED: N_("delayed"),
    ActionStatus.COMPLETED: N_("completed"),
    ActionStatus.SUSPENDED: N_("suspended"),
}
_ENTRY_KINDS = {
    "reaction": N_("Reactions (👍 👎)"),
    "comment": N_("Comments on news"),
    "feedback": N_("Feedback on the plan"),
    "free": N_("Other messages"),
    "rsvp": N_("Answers to events"),
}


def entry_kind(kind: str) -> str:
    return _(_ENTRY_KINDS[kind]) if kind in _ENTRY_KINDS else kind


_EVENT_KINDS = {
    EventKind.MEETING: N_("Meeting"),
    EventKind.NETWORK_MEETING: N_("Network meeting"),
    EventKind.ANNUAL_REVIEW: N_("Annual review"),
    EventKind.CONSULTATION: N_("Consultation or deadline"),
    EventKind.OTHER: N_("Event"),
}


def status_label(status: str) -> str:
    try:
        return _(_STATUS_LABELS[ActionStatus(status)])
    except ValueError:
        return status


def _locale() -> Locale:
    return Locale.parse(current_language())


def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return format_percent(round(value) / 100, locale=_locale())


def day(value: date | str | None) -> str:
    if not value:
        return "—"
    parsed = date.fromisoformat(value) if isinstance(value, str) else value
    return format_date(parsed, "long", locale=_locale())


def month(period: str) -> str:
    """ "2026-03" → "mar 2026" / "Mar 2026"."""
    year, number = period.split("-")
    return format_skeleton("yMMM", date(int(year), int(number), 1), locale=_locale())


def moment(at: datetime) -> str:
    local = at.astimezone(TIMEZONE)
    return format_date(local.date(), "long", locale=_locale()) + ", " + _time(at)


def _time(at: datetime) -> str:
    return format_time(at, "short", tzinfo=TIMEZONE, locale=_locale())


def when(event: Event) -> str:
    """ "mercoledì 1 luglio 2026, 14:00 – 16:00", Europe/Rome time."""
    local = event.starts_at.astimezone(TIMEZONE)
    text = format_date(local.date(), "full", locale=_locale()) + ", " + _time(event.starts_at)
    if event.ends_at:
        same_day = event.ends_at.astimezone(TIMEZONE).date() == local.date()
        end = _time(event.ends_at) if same_day else moment(event.ends_at)
        text = _("{start} – {end}").format(start=text, end=end)
    return text


def value_text(value: float | None, unit: str | None) -> str:
    if value is None:
        return "—"
    number = format_number(int(value) if float(value).is_integer() else value)
    return f"{number} {unit}" if unit else number


def money(amount: float | None) -> str:
    """Euros in the page's language; whole amounts without cents."""
    if amount is None:
        return ""
    locale = _locale()
    if not float(amount).is_integer():
        return format_currency(amount, "EUR", locale=locale)
    pattern = locale.currency_formats["standard"].pattern.replace(".00", "")
    return format_currency(amount, "EUR", format=pattern, currency_digits=False, locale=locale)


def time_tag(at: datetime, text: str) -> str:
    return f'<time datetime="{e(at.isoformat())}">{e(text)}</time>'


def badge(label: str, *, sample: bool = False) -> str:
    return f'<span class="badge{" sample" if sample else ""}">{e(label)}</span>'


def sample_badge() -> str:
    return badge(_("Sample data"), sample=True)


def uncertain_badge() -> str:
    return badge(_("to be confirmed"), sample=True)


def sample_note() -> str:
    note = _("Sample data, for demonstration only.")
    return f'<p class="note">{e(note)}</p>'


def in_italian(text: str, fallback: bool) -> str:
    """Text shown in Italian on an English page (nothing else was given) says so in `lang`."""
    return f'<span lang="it">{e(text)}</span>' if fallback else e(text)


def figures_list(items: Sequence[tuple[str, str]]) -> str:
    cells = "".join(f"<li><strong>{e(value)}</strong>{e(label)}</li>" for label, value in items)
    return f'<ul class="figures">{cells}</ul>'


def breadcrumb(here: Here, trail: Sequence[tuple[str, str]]) -> str:
    links = [link(here.link(HOME), _("The Plan in figures"))]
    links += [f'<a href="{e(here.link(path))}">{e(label)}</a>' for path, label in trail]
    label = _("You are here")
    return f'<nav aria-label="{e(label)}"><p>' + " › ".join(links) + "</p></nav>"


# --- shared sections -------------------------------------------------------------------------


def status_headers() -> list[tuple[str, bool]]:
    return [(status_label(status), True) for status in ActionStatus]


def action_table(here: Here, caption: str, actions: Sequence[PlanAction]) -> str:
    language = current_language()
    rows = []
    for action in actions[:MAX_LISTED_ACTIONS]:
        title = e(action.title(language)) + (" " + sample_badge() if action.sample else "")
        rows.append(
            [
                f'<a href="{e(here.link(action_path(action.code)))}">{e(action.code)}</a>',
                title,
                e(status_label(action.status)),
                e(percent(action.progress_pct)),
                e(day(action.end_date)),
            ]
        )
    headers = [
        (_("Code"), False),
        (_("Action"), False),
        (_("Status"), False),
        (_("Progress"), True),
        (_("Expected end"), True),
    ]
    html = table(caption, headers, rows, wide=True)
    hidden = len(actions) - MAX_LISTED_ACTIONS
    if hidden > 0:
        more = ngettext(
            "…and {count} more action: every action is in the open data.",
            "…and {count} more actions: every action is in the open data.",
            hidden,
        ).format(count=format_number(hidden))
        html += f'<p><a href="{e(here.link(DATA))}">{e(more)}</a></p>'
    return html


def status_chart(chart_id: str, summary: ProgressSummary) -> str:
    bars = [
        Bar(status_label(status), count, format_number(count))
        for status, count in summary.by_status
    ]
    return charts.horizontal_bars(
        chart_id,
        title=_("Actions by status"),
        description=_("How many actions are in each status."),
        bars=bars,
        headers=Headers(_("Status"), _("Actions")),
        maximum=max(summary.actions, 1),
    )


def summary_figures(summary: ProgressSummary, contributions: Count) -> str:
    return figures_list(
        [
            (_("actions"), format_number(summary.actions)),
            (_("average progress"), percent(summary.average_progress)),
            (_("contributions from citizens"), count_label(contributions)),
        ]
    )


def change_text(change: PlanChange) -> str:
    """What changed, in a sentence (the payload of the monitoring notification)."""
    payload, language = change.payload, current_language()
    indicator = _localized(payload.get("indicator"), language)
    unit = payload.get("unit")
    texts = {
        "new_action": lambda: _("New action in the plan, {status}, at {percent}.").format(
            status=status_label(payload.get("status", "")), percent=percent(payload.get("progress"))
        ),
        "status": lambda: _("Status changed from {old} to {new}.").format(
            old=status_label(payload.get("old", "")), new=status_label(payload.get("new", ""))
        ),
        "progress": lambda: _("Progress moved from {old}% to {new}%.").format(
            old=payload.get("old"), new=payload.get("progress")
        ),
        "measurement": lambda: _("New value of “{indicator}” for {period}: {value}").format(
            indicator=indicator,
            period=payload.get("period", ""),
            value=value_text(payload.get("value"), unit),
        ),
        "target_reached": lambda: _(
            "Target reached: “{indicator}” is {value} for {period}."
        ).format(
            indicator=indicator,
            value=value_text(payload.get("value"), unit),
            period=payload.get("period", ""),
        ),
        "date_slipped": lambda: _("The expected end moved from {old} to {new}.").format(
            old=day(payload.get("old")), new=day(payload.get("new"))
        ),
        "review": lambda: _("The plan's annual review {year} has been published").format(
            year=payload.get("year")
        ),
    }
    return texts.get(change.kind, lambda: _("Update from the plan"))()


def _localized(value: object, language: str) -> str:
    if isinstance(value, dict):
        return str(value.get(language) or value.get("it") or "")
    return str(value or "")


def changes_list(here: Here, changes: Sequence[PlanChange], *, with_action: bool = True) -> str:
    if not changes:
        return paragraph(_("No change has been published yet."))
    language = current_language()
    items = []
    for change in changes:
        subject = ""
        if with_action and change.action_code:
            name = _localized(change.payload.get("name"), language)
            page = here.link(action_path(change.action_code))
            subject = link(page, f"{change.action_code} · {name}") + ": "
        elif change.kind == "review":
            document = change.payload.get("link")
            if isinstance(document, str) and document.startswith(("https://", "http://")):
                subject = link(document, _("Read the document")) + ": "
        sample = " " + sample_badge() if change.payload.get("sample") else ""
        items.append(
            f"<li>{time_tag(change.at, moment(change.at))} — "
            f"{subject}{e(change_text(change))}{sample}</li>"
        )
    return '<ol class="changes">' + "".join(items) + "</ol>"


def _event_item(here: Here, event: Event, places: PlaceNames, heading: str) -> str:
    language = current_language()
    title = in_italian(event.title(language), language == "en" and not event.title_en)
    status = ""
    if event.status == EventStatus.CANCELLED:
        status = " " + badge(_("cancelled"))
    elif event.status == EventStatus.CHANGED:
        status = " " + badge(_("changed"))
    details = [time_tag(event.starts_at, when(event))]
    comune = places.comuni.get(event.comune_istat or "")
    place = ", ".join(part for part in (event.place, comune) if part)
    if place:
        details.append(e(place))
    details.append(e(event_kind(event.kind)))
    parts = [f"<{heading}>{title}{status}</{heading}>", "<p>" + " · ".join(details) + "</p>"]
    description = event.description(language)
    if description:
        fallback = language == "en" and not event.description_en
        parts.append(f"<p>{in_italian(description, fallback)}</p>")
    links = [
        f'<a href="{e(here.link(strategy_path(s)))}">{e(s)}</a>' for s in event.strategies or []
    ]
    links += [
        link(here.link(zone_path(zone)), places.zones.get(zone, zone)) for zone in event.zones or []
    ]
    if event.online_url and event.online_url.startswith(("https://", "http://")):
        links.append(link(event.online_url, _("Join online")))
    if links:
        parts.append('<p class="meta">' + " · ".join(links) + "</p>")
    return "<li>" + "".join(parts) + "</li>"


def event_kind(kind: str) -> str:
    try:
        return _(_EVENT_KINDS[EventKind(kind)])
    except ValueError:
        return _(_EVENT_KINDS[EventKind.OTHER])


def events_list(
    here: Here, events: Sequence[Event], places: PlaceNames, *, heading: str = "h3"
) -> str:
    if not events:
        return paragraph(_("No event."))
    items = "".join(_event_item(here, event, places, heading) for event in events)
    return f'<ul class="events">{items}</ul>'


def published(entries: Sequence[PublishedEntry]) -> str:
    """The contributions the staff published (/publish): their text and the office's answer,
    never who wrote them."""
    if not entries:
        return ""
    items = []
    for entry in entries:
        answer = ""
        if entry.answer:
            answered = f" ({local_day_tag(entry.answered_at)})" if entry.answered_at else ""
            answered_by = _("The office answered")
            answer = (
                f"<p><strong>{e(answered_by)}</strong>{answered}:</p>"
                f"<blockquote><p>{e(entry.answer)}</p></blockquote>"
            )
        items.append(
            f"<li><p>{e(entry.reference)} · {local_day_tag(entry.at)}</p>"
            f"<blockquote><p>{e(entry.text)}</p></blockquote>{answer}</li>"
        )
    return (
        h3(_("Contributions published by the office")) + f'<ul class="events">{"".join(items)}</ul>'
    )


def local_day_tag(at: datetime) -> str:
    return time_tag(at, day(at.astimezone(TIMEZONE).date()))


def uncertain_mark(uncertain: bool) -> str:
    return " (*)" if uncertain else ""
