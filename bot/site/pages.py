"""The pages of "Il Piano in cifre": home, strategy, zone, action, events, open data, 404.

Each page is read in one transaction through `bot.services.site` and rendered as one HTML
string in its language (`render`); the server and the static build serve the same bytes.
The participation record appears only as counts (`count_label`), and as the entries the
staff published with /publish.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import ActionStatus, Event, Indicator, PlanAction, Strategy, Zone
from bot.i18n import _, current_language, format_number, ngettext, use_locale
from bot.services import monitoring, plan, site
from bot.services.plan import strategy_label
from bot.services.record import published_entries
from bot.services.site import ActionDetails, Count, ProgressSummary, count_label
from bot.site import charts
from bot.site.charts import Bar, Headers, Reference
from bot.site.layout import (
    DATA,
    EVENTS,
    HOME,
    Here,
    PageKind,
    PageRef,
    SiteOptions,
    data_file_path,
    document,
    e,
    h2,
    link,
    para,
    paragraph,
    qr_path,
    strategy_path,
    table,
    zone_path,
)
from bot.site.opendata import open_data_index
from bot.site.parts import (
    action_table,
    breadcrumb,
    changes_list,
    day,
    entry_kind,
    events_list,
    figures_list,
    in_italian,
    money,
    month,
    percent,
    published,
    sample_badge,
    sample_note,
    status_chart,
    status_headers,
    status_label,
    summary_figures,
    uncertain_badge,
    uncertain_mark,
    value_text,
)
from bot.site.qr import action_deep_link, qr_svg

LATEST_CHANGES = 10
NEXT_EVENTS = 5
CALENDAR_FILE = "events.ics"


# --- home -----------------------------------------------------------------------------------


async def home(session: AsyncSession, here: Here, options: SiteOptions, now: datetime) -> str:
    strategies = await plan.list_strategies(session)
    zones = await plan.list_zones(session)
    by_strategy = await site.strategy_summaries(session)
    by_zone = await site.zone_summaries(session)
    figures = await site.participation_figures(session, now=now)
    events = await site.events_around(session, now, upcoming=NEXT_EVENTS, past=0)
    places = await site.place_names(session, events.upcoming)
    actions = sum(summary.actions for summary in by_strategy.values())
    progress = sum((s.average_progress or 0) * s.actions for s in by_strategy.values())
    completed = sum(dict(s.by_status)[ActionStatus.COMPLETED.value] for s in by_strategy.values())
    samples = sum(summary.sample_actions for summary in by_strategy.values())
    title = _("The Plan in figures")
    body = [
        f"<h1>{e(title)}</h1>",
        paragraph(
            _(
                "How the actions of the Metropolitan Strategic Plan of Genoa are progressing, "
                "from the same data the plan's Telegram bot announces."
            )
        ),
    ]
    if samples:
        body.append(sample_note())
    body.append(
        figures_list(
            [
                (_("actions monitored"), format_number(actions)),
                (_("average progress"), percent(progress / actions if actions else None)),
                (_("actions completed"), format_number(completed)),
                (_("contributions from citizens"), count_label(figures.total)),
            ]
        )
    )
    body.append(_strategies_section(here, strategies, by_strategy))
    body.append(_zones_section(here, zones, by_zone))
    body.append(h2(_("Latest changes")))
    body.append(changes_list(here, await site.plan_changes(session, limit=LATEST_CHANGES)))
    body.append(h2(_("Next events")))
    body.append(events_list(here, events.upcoming, places))
    body.append(para(link(here.link(EVENTS), _("Every event"))))
    body.append(_participation_section(here, figures, zones))
    body.append(published(await published_entries(session, limit=LATEST_CHANGES)))
    return document(
        here,
        title=title,
        body="\n".join(body),
        description=_("The monitoring of the Metropolitan Strategic Plan of Genoa in figures."),
        section=HOME,
        bot_link=options.bot_link(),
    )


def _strategies_section(
    here: Here, strategies: Sequence[Strategy], by_strategy: dict[str, ProgressSummary]
) -> str:
    rows: list[list[str]] = []
    bars: list[Bar] = []
    for strategy in strategies:
        summary = by_strategy.get(strategy.id, ProgressSummary())
        label = strategy_label(strategy)
        link = here.link(strategy_path(strategy.id))
        rows.append(
            [
                f'<a href="{e(link)}">{e(label)}</a>',
                e(format_number(summary.actions)),
                *(e(format_number(count)) for _status, count in summary.by_status),
                e(percent(summary.average_progress)),
            ]
        )
        bars.append(
            Bar(label, summary.average_progress, percent(summary.average_progress), href=link)
        )
    headers = [
        (_("Strategy"), False),
        (_("Actions"), True),
        *status_headers(),
        (_("Average progress"), True),
    ]
    return (
        h2(_("Strategies"))
        + table(_("Actions of each strategy by status"), headers, rows, wide=True)
        + charts.horizontal_bars(
            "progress-by-strategy",
            title=_("Average progress by strategy"),
            description=_("Average progress of the actions of each strategy, from 0 to 100%."),
            bars=bars,
            headers=Headers(_("Strategy"), _("Average progress")),
        )
    )


def _zone_bars(here: Here, zones: Sequence[Zone], by_zone: dict[str, ProgressSummary]) -> list[Bar]:
    bars = []
    for zone in zones:
        summary = by_zone.get(zone.id, ProgressSummary())
        text = ngettext(
            "{percent} ({count} action)", "{percent} ({count} actions)", summary.actions
        ).format(percent=percent(summary.average_progress), count=format_number(summary.actions))
        bars.append(
            Bar(
                zone.name + uncertain_mark(zone.uncertain),
                summary.average_progress,
                text,
                href=here.link(zone_path(zone.id)),
            )
        )
    return bars


def _zones_section(here: Here, zones: Sequence[Zone], by_zone: dict[str, ProgressSummary]) -> str:
    html = h2(_("Zones")) + charts.horizontal_bars(
        "progress-by-zone",
        title=_("Average progress by zone"),
        description=_("Average progress of the actions that concern each zone, from 0 to 100%."),
        bars=_zone_bars(here, zones, by_zone),
        headers=Headers(_("Zone"), _("Average progress")),
    )
    if any(zone.uncertain for zone in zones):
        html += paragraph(_("(*) the list of comuni of this zone is not yet confirmed"))
    return html


WITHHELD_MARK = "–"


def _count_bar(label: str, count: Count, href: str | None = None) -> Bar:
    mark = WITHHELD_MARK if count.withheld else f"<{site.PRIVACY_THRESHOLD}"
    return Bar(label, count.shown, count_label(count), href=href, mark=mark)


def _participation_section(
    here: Here, figures: site.ParticipationFigures, zones: Sequence[Zone]
) -> str:
    kinds = [[e(entry_kind(kind)), e(count_label(n))] for kind, n in figures.by_kind]
    parts = [
        h2(_("Participation in figures")),
        paragraph(
            _(
                "Reactions, comments and feedback sent to the plan through the bot, "
                "counted without saying who sent them."
            )
        ),
        table(
            _("Contributions by kind"),
            [(_("Kind"), False), (_("Contributions"), True)],
            [*kinds, [e(_("Total")), e(count_label(figures.total))]],
        ),
    ]
    if figures.by_month:
        parts.append(
            charts.columns(
                "participation-by-month",
                title=_("Contributions by month"),
                description=_("How many contributions arrived each month (Europe/Rome time)."),
                bars=[_count_bar(month(period), n) for period, n in figures.by_month],
                headers=Headers(_("Month"), _("Contributions")),
            )
        )
    names = {zone.id: zone.name + uncertain_mark(zone.uncertain) for zone in zones}
    parts.append(
        charts.horizontal_bars(
            "participation-by-zone",
            title=_("Contributions by zone"),
            description=_(
                "Contributions about each zone or its comuni, or from people who live there."
            ),
            bars=[
                _count_bar(names.get(zone_id, zone_id), n, here.link(zone_path(zone_id)))
                for zone_id, n in figures.by_zone
            ],
            headers=Headers(_("Zone"), _("Contributions")),
            maximum=max((n.shown or 0 for _z, n in figures.by_zone), default=0) or 1,
        )
    )
    return "\n".join(parts)


# --- strategy -------------------------------------------------------------------------------


async def strategy(
    session: AsyncSession, here: Here, strategy_id: str, options: SiteOptions, now: datetime
) -> str | None:
    found = await plan.get_strategy(session, strategy_id)
    if found is None:
        return None
    actions = await site.actions_of_strategy(session, strategy_id)
    summary = (await site.strategy_summaries(session)).get(strategy_id, ProgressSummary())
    zones = await plan.list_zones(session)
    by_zone = await site.zone_summaries(session, strategy_id=strategy_id)
    events = await site.related_events(session, strategy_ids=[strategy_id], limit=10)
    places = await site.place_names(session, events)
    title = strategy_label(found)
    body = [
        breadcrumb(here, []),
        f"<h1>{e(title)}</h1>",
    ]
    if found.uncertain:
        body.append(para(uncertain_badge() + " " + e(_("The sources do not confirm this title."))))
    if summary.sample_actions:
        body.append(sample_note())
    body.append(
        summary_figures(summary, await site.contributions(session, strategy_id=strategy_id))
    )
    if actions:
        body.append(h2(_("Actions by status")))
        body.append(status_chart("strategy-status", summary))
        body.append(h2(_("Progress by zone")))
        zones_with_actions = [zone for zone in zones if zone.id in by_zone]
        body.append(
            charts.horizontal_bars(
                "strategy-zones",
                title=_("Average progress by zone"),
                description=_("Average progress of the strategy's actions that concern each zone."),
                bars=_zone_bars(here, zones_with_actions, by_zone),
                headers=Headers(_("Zone"), _("Average progress")),
            )
        )
    changes = await site.plan_changes(session, limit=LATEST_CHANGES, strategy_id=strategy_id)
    body += _actions_changes_events(
        here,
        actions,
        (_("Actions of the strategy"), _("No action of this strategy is monitored yet.")),
        changes,
        (events, places),
    )
    return document(
        here,
        title=title,
        body="\n".join(body),
        description=_("The actions of a strategy of the plan and how they are progressing."),
        bot_link=options.bot_link(),
    )


def _actions_changes_events(
    here: Here,
    actions: Sequence[PlanAction],
    captions: tuple[str, str],
    changes: Sequence[site.PlanChange],
    events_and_places: tuple[Sequence[Event], site.PlaceNames],
) -> list[str]:
    """The sections a strategy's and a zone's pages end with."""
    caption, none_yet = captions
    parts = [h2(_("Actions"))]
    parts.append(action_table(here, caption, actions) if actions else paragraph(none_yet))
    parts += [h2(_("Latest changes")), changes_list(here, changes), h2(_("Events"))]
    parts.append(events_list(here, *events_and_places))
    return parts


# --- zone -----------------------------------------------------------------------------------


async def zone(
    session: AsyncSession, here: Here, zone_id: str, options: SiteOptions, now: datetime
) -> str | None:
    found = await plan.get_zone_with_comuni(session, zone_id)
    if found is None:
        return None
    actions = await site.actions_of_zone(session, zone_id)
    summary = await site.zone_summary(session, zone_id)
    events = await site.related_events(
        session, zone_ids=[zone_id], comuni_istat=[c.istat for c in found.comuni], limit=10
    )
    places = await site.place_names(session, events)
    title = found.name + uncertain_mark(found.uncertain)
    body = [breadcrumb(here, []), f"<h1>{e(title)}</h1>"]
    if found.label_detail:
        body.append(f"<p>{e(found.label_detail)}</p>")
    if summary.sample_actions:
        body.append(sample_note())
    body.append(summary_figures(summary, await site.contributions(session, zone_id=zone_id)))
    body.append(h2(_("Comuni")))
    names = "".join(
        f"<li>{e(comune.name + uncertain_mark(comune.uncertain))}</li>" for comune in found.comuni
    )
    body.append(f"<ul>{names}</ul>")
    if found.uncertain or any(comune.uncertain for comune in found.comuni):
        body.append(paragraph(_("(*) the list of comuni of this zone is not yet confirmed")))
    if actions:
        body.append(h2(_("Actions by status")))
        body.append(status_chart("zone-status", summary))
    changes = await site.plan_changes(session, limit=LATEST_CHANGES, zone_id=zone_id)
    body += _actions_changes_events(
        here,
        actions,
        (_("Actions that concern the zone"), _("No action of the plan concerns this zone yet.")),
        changes,
        (events, places),
    )
    return document(
        here,
        title=title,
        body="\n".join(body),
        description=_("The plan's actions in a zone of the metropolitan area."),
        bot_link=options.bot_link(),
    )


# --- action ---------------------------------------------------------------------------------


async def action(
    session: AsyncSession, here: Here, code: str, options: SiteOptions, now: datetime
) -> str | None:
    details = await site.action_details(session, code)
    if details is None:
        return None
    found, language = details.action, current_language()
    places = await site.place_names(session, details.events)
    strategy_name = strategy_label(details.strategy)
    title = f"{found.code} · {found.title(language)}"
    heading = e(title) + (" " + sample_badge() if found.sample else "")
    body = [
        breadcrumb(here, [(strategy_path(found.strategy_id), strategy_name)]),
        f"<h1>{heading}</h1>",
    ]
    if found.sample:
        body.append(sample_note())
    description = found.description(language)
    if description:
        fallback = language == "en" and not found.description_en
        body.append(f"<p>{in_italian(description, fallback)}</p>")
    body.append(_facts(here, details))
    body.append(h2(_("Status history")))
    body.append(changes_list(here, list(reversed(details.changes)), with_action=False))
    body.append(h2(_("Indicators")))
    if details.indicators:
        body += [_indicator(index, indicator) for index, indicator in enumerate(details.indicators)]
    else:
        body.append(paragraph(_("This action has no indicator yet.")))
    body.append(h2(_("Related events")))
    body.append(events_list(here, details.events, places))
    body.append(h2(_("Participation")))
    contributions = _("Contributions from citizens about this action: {count}.").format(
        count=count_label(details.contributions)
    )
    body.append(f"<p>{e(contributions)}</p>")
    body.append(published(await published_entries(session, action_code=found.code)))
    body.append(_follow(here, found.code, options))
    return document(
        here,
        title=title,
        body="\n".join(body),
        description=_("An action of the plan: its status, indicators and events."),
        bot_link=options.bot_link(),
    )


def _facts(here: Here, details: ActionDetails) -> str:
    found = details.action
    rows = [
        (
            _("Strategy"),
            _link(here, strategy_path(found.strategy_id), strategy_label(details.strategy)),
        ),
        (_("Status"), e(status_label(found.status))),
        (_("Progress"), e(percent(found.progress_pct))),
    ]
    if found.start_date or found.end_date:
        rows.append((_("Start"), e(day(found.start_date))))
        rows.append((_("Expected end"), e(day(found.end_date))))
    if details.zones:
        zones = [
            _link(here, zone_path(z.id), z.name + uncertain_mark(z.uncertain))
            for z in details.zones
        ]
        rows.append((_("Zones"), ", ".join(zones)))
    if details.comuni:
        rows.append(
            (
                _("Comuni"),
                e(", ".join(c.name + uncertain_mark(c.uncertain) for c in details.comuni)),
            )
        )
    if found.responsible:
        rows.append((_("Responsible"), e(found.responsible)))
    funding = " · ".join(p for p in (found.funding_source, money(found.funding_amount_eur)) if p)
    if funding:
        rows.append((_("Funding"), e(funding)))
    links = [
        f'<a href="{e(link)}">{e(_link_label(number))}</a>'
        for number, link in enumerate(found.links or [], start=1)
        if link.startswith(("https://", "http://"))
    ]
    if links:
        rows.append((_("Documents"), " · ".join(links)))
    return table(_("The action in brief"), [(_("What"), False), (_("Detail"), False)], rows)


def _link_label(number: int) -> str:
    return _("More information") if number == 1 else _("Link {number}").format(number=number)


def _link(here: Here, path: str, label: str) -> str:
    return f'<a href="{e(here.link(path))}">{e(label)}</a>'


def _indicator(index: int, indicator: Indicator) -> str:
    language = current_language()
    name = indicator.name(language)
    parts = [f"<h3>{e(name)}</h3>"]
    baseline = value_text(indicator.baseline, indicator.unit)
    target = value_text(indicator.target, indicator.unit)
    if indicator.baseline_year:
        baseline = _("{value} in {year}").format(value=baseline, year=indicator.baseline_year)
    if indicator.target_year:
        target = _("{value} by {year}").format(value=target, year=indicator.target_year)
    parts.append(
        paragraph(
            _("Baseline {baseline} → target {target}").format(baseline=baseline, target=target)
        )
    )
    measurements = indicator.measurements
    if not measurements:
        parts.append(paragraph(_("No value measured yet.")))
        return "".join(parts)
    references = []
    if indicator.baseline is not None:
        references.append(Reference(indicator.baseline, _("baseline")))
    if indicator.target is not None:
        references.append(Reference(indicator.target, _("target"), charts.TARGET_COLOUR))
    parts.append(
        charts.line(
            f"indicator-{index}",
            title=_("{indicator}: every measurement").format(indicator=name),
            description=_("The measured values by period, with the baseline and the target."),
            points=[
                Bar(m.period, m.value, value_text(m.value, indicator.unit)) for m in measurements
            ],
            headers=Headers(_("Period"), _("Value")),
            references=references,
        )
    )
    sources = sorted({m.source for m in measurements if m.source})
    if sources:
        parts.append(
            '<p class="meta">' + e(_("Source: {source}").format(source="; ".join(sources))) + "</p>"
        )
    return "".join(parts)


def _follow(here: Here, code: str, options: SiteOptions) -> str:
    parts = [h2(_("Follow this action"))]
    if not options.bot_username:
        text = _("In the plan's Telegram bot, send /piano {code} and tap “Follow this action”.")
        parts.append(f"<p>{e(text.format(code=code))}</p>")
        return "".join(parts)
    deep_link = action_deep_link(options.bot_username, code)
    invitation = _("Open the plan's Telegram bot to be told when this action changes:")
    label = _("follow {code} in the bot").format(code=code)
    parts.append(para(e(invitation) + " " + link(deep_link, label)))
    image = here.link(qr_path(code)).removesuffix("/")
    alt = _("QR code of the link to follow {code} in the bot").format(code=code)
    posters = _("For posters: the QR code opens the same link.")
    download = _("Download the QR code (SVG)")
    parts.append(
        f'<div class="qr"><img src="{e(image)}" alt="{e(alt)}" width="160" height="160">'
        f'<p>{e(posters)} <a href="{e(image)}" download>{e(download)}</a></p></div>'
    )
    return "".join(parts)


def qr_image(code: str, options: SiteOptions) -> str | None:
    """The QR code of the deep link to follow the action; None without a bot username."""
    if not options.bot_username:
        return None
    title = _("QR code of the link to follow {code} in the bot").format(code=code)
    return qr_svg(action_deep_link(options.bot_username, code), title=title)


# --- events -----------------------------------------------------------------------------------


async def events_page(
    session: AsyncSession, here: Here, options: SiteOptions, now: datetime
) -> str:
    lists = await site.events_around(session, now, upcoming=100, past=50)
    places = await site.place_names(session, [*lists.upcoming, *lists.past])
    title = _("Events")
    calendar = here.link(data_file_path(CALENDAR_FILE)).removesuffix("/")
    body = [
        f"<h1>{e(title)}</h1>",
        para(
            e(_("Meetings, consultations and reviews of the plan. Times are Italian time."))
            + " "
            + link(calendar, _("Subscribe to the calendar (iCalendar)"))
        ),
        h2(_("Upcoming events")),
        events_list(here, lists.upcoming, places),
        h2(_("Past events")),
        events_list(here, lists.past, places),
    ]
    return document(
        here,
        title=title,
        body="\n".join(body),
        description=_("The plan's upcoming and past events."),
        section=EVENTS,
        bot_link=options.bot_link(),
    )


# --- open data and not found ------------------------------------------------------------------


def data_page(here: Here, files: Sequence[tuple[str, str]], options: SiteOptions) -> str:
    title = _("Open data")
    rows = [
        [
            f'<a href="{e(here.link(data_file_path(name)).removesuffix("/"))}">{e(name)}</a>',
            e(description),
        ]
        for name, description in files
    ]
    body = [
        f"<h1>{e(title)}</h1>",
        paragraph(
            _(
                "The figures of these pages as files to download and reuse: "
                "the same database, updated with every import."
            )
        ),
        # wide: a long calendar name (events-zone-val_trebbia_alta_val_bisagno.ics) is wider
        # than a phone, and the page must not scroll sideways (WCAG 1.4.10)
        table(_("Files"), [(_("File"), False), (_("Content"), False)], rows, wide=True),
    ]
    return document(
        here,
        title=title,
        body="\n".join(body),
        description=_("The plan's monitoring data as open data."),
        section=DATA,
        bot_link=options.bot_link(),
    )


def not_found_page(here: Here, options: SiteOptions) -> str:
    title = _("Page not found")
    body = [
        f"<h1>{e(title)}</h1>",
        paragraph(
            _("There is no page at this address: the code may be wrong or no longer in use.")
        ),
        para(link(here.link(HOME), _("Go to the Plan in figures"))),
    ]
    return document(
        here,
        title=title,
        body="\n".join(body),
        description=title,
        bot_link=options.bot_link(),
        translated=HOME,
    )


# --- rendering ------------------------------------------------------------------------------

HTML_TYPE = "text/html; charset=utf-8"
SVG_TYPE = "image/svg+xml; charset=utf-8"


@dataclass(frozen=True)
class Rendered:
    body: bytes
    content_type: str


async def render(
    db: Database, ref: PageRef, options: SiteOptions, *, now: datetime | None = None
) -> Rendered | None:
    """The page at `ref` in its language, or None when there is none (an unknown code).

    The open-data files are not rendered here: they come from `bot.site.opendata`.
    """
    moment = now or datetime.now(UTC)
    here, key = ref.here, ref.key or ""
    with use_locale(ref.language):
        if ref.kind is PageKind.DATA:
            return _html(data_page(here, open_data_index(ref.language), options))
        async with db.transaction() as session:
            if ref.kind is PageKind.QR:
                exists = await monitoring.get_action(session, key) is not None
                image = qr_image(key, options) if exists else None
                return None if image is None else Rendered(image.encode(), SVG_TYPE)
            html = await _page(session, ref.kind, here, key, options, moment)
    return None if html is None else _html(html)


async def _page(
    session: AsyncSession,
    kind: PageKind,
    here: Here,
    key: str,
    options: SiteOptions,
    now: datetime,
) -> str | None:
    if kind is PageKind.HOME:
        return await home(session, here, options, now)
    if kind is PageKind.EVENTS:
        return await events_page(session, here, options, now)
    if kind is PageKind.STRATEGY:
        return await strategy(session, here, key, options, now)
    if kind is PageKind.ZONE:
        return await zone(session, here, key, options, now)
    if kind is PageKind.ACTION:
        return await action(session, here, key, options, now)
    return None  # a data file: not a page


def not_found(here: Here, options: SiteOptions) -> Rendered:
    """The page for an address where there is none, with links that work from anywhere."""
    with use_locale(here.language):
        return _html(not_found_page(here, options))


def _html(text: str) -> Rendered:
    return Rendered(text.encode(), HTML_TYPE)
