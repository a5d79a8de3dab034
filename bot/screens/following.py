"""The following screens: main menu, strategies, zones, what I follow, preferences, help."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from html import escape

from babel import Locale
from babel.dates import format_time, get_day_names
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import callbacks
from bot.callbacks import Screen
from bot.db.models import DeliveryMode, Subscriber, TargetKind
from bot.i18n import N_, _, current_language, format_number, ngettext
from bot.screens import View, button, in_rows
from bot.services import plan, subscriptions

FOLLOWED = "✅"
NOT_FOLLOWED = "➕"
UNCERTAIN_MARK = " (*)"


def language_buttons() -> list[InlineKeyboardButton]:
    # Language names stay in their own language so everyone finds theirs.
    return [
        button("🇮🇹 Italiano", callbacks.language_data("it")),
        button("🇬🇧 English", callbacks.language_data("en")),
    ]


def main_menu_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [button(_("Follow a strategy"), callbacks.open_data(Screen.STRATEGIES))],
            [button(_("Follow a zone or comune"), callbacks.open_data(Screen.ZONES))],
            [button(_("What I follow"), callbacks.open_data(Screen.MY_SUBSCRIPTIONS))],
            [button(_("⚙️ How I receive updates"), callbacks.open_data(Screen.PREFERENCES))],
            language_buttons(),
        ]
    )


def _back_to_menu() -> InlineKeyboardButton:
    return button(_("⬅️ Menu"), callbacks.open_data(Screen.MAIN))


def welcome(first_name: str | None, *, returning: bool) -> View:
    name = escape(first_name or _("citizen"))
    greeting = (_("Welcome back, {name}!") if returning else _("Welcome, {name}!")).format(
        name=name
    )
    body = _(
        "This is the bot of the <b>Metropolitan Strategic Plan</b> (PSM) of the Metropolitan "
        "City of Genoa.\n\nFollow the plan's strategies and the zones or comuni of the "
        "metropolitan area: you will receive news, progress of the plan's actions, annual "
        "reviews and meetings, and you can reply with your feedback.\n\nWhat would you like "
        "to follow?"
    )
    return View(f"{greeting}\n\n{body}", main_menu_keyboard())


def main_menu() -> View:
    return View(_("What would you like to follow?"), main_menu_keyboard())


async def strategies(session: AsyncSession, subscriber: Subscriber) -> View:
    followed = await subscriptions.followed_ids(session, subscriber, TargetKind.STRATEGY)
    items = await plan.list_strategies(session)
    buttons = []
    for strategy in items:
        is_followed = strategy.id in followed
        mark = FOLLOWED if is_followed else NOT_FOLLOWED
        label = f"{mark} {plan.strategy_label(strategy)}"
        data = callbacks.toggle_data(
            not is_followed, TargetKind.STRATEGY, strategy.id, Screen.STRATEGIES
        )
        buttons.append([button(label, data)])
    buttons.append([_back_to_menu()])
    text = _("<b>The plan's strategies</b>\nTap a strategy to follow it, tap again to stop.")
    return View(text, InlineKeyboardMarkup(buttons))


async def zones(session: AsyncSession, subscriber: Subscriber) -> View:
    followed_zones = await subscriptions.followed_ids(session, subscriber, TargetKind.ZONE)
    items = await plan.list_zones(session)
    buttons = []
    for zone in items:
        label = f"{FOLLOWED} {zone.name}" if zone.id in followed_zones else zone.name
        buttons.append(button(label, callbacks.open_data(Screen.ZONE, zone.id)))
    rows = in_rows(buttons, 2)
    rows.append([_back_to_menu()])
    text = ngettext(
        "<b>The zone of the metropolitan area</b>",
        "<b>The {count} zones of the metropolitan area</b>",
        len(items),
    ).format(count=format_number(len(items)))
    text += "\n" + _("Choose a zone to follow it, or to follow only some of its comuni.")
    return View(text, InlineKeyboardMarkup(rows))


async def zone(session: AsyncSession, subscriber: Subscriber, zone_id: str) -> View | None:
    found = await plan.get_zone_with_comuni(session, zone_id)
    if found is None:
        return None
    zone_followed = zone_id in await subscriptions.followed_ids(
        session, subscriber, TargetKind.ZONE
    )
    followed_comuni = await subscriptions.followed_ids(session, subscriber, TargetKind.COMUNE)
    zone_label = (
        (FOLLOWED if zone_followed else NOT_FOLLOWED)
        + " "
        + _("The whole zone: {zone}").format(zone=found.name)
    )
    rows = [
        [
            button(
                zone_label,
                callbacks.toggle_data(not zone_followed, TargetKind.ZONE, zone_id, Screen.ZONE),
            )
        ]
    ]
    comune_buttons = []
    for comune in found.comuni:
        is_followed = comune.istat in followed_comuni
        label = f"{FOLLOWED if is_followed else NOT_FOLLOWED} {comune.name}"
        data = callbacks.toggle_data(not is_followed, TargetKind.COMUNE, comune.istat, Screen.ZONE)
        comune_buttons.append(button(label, data))
    rows.extend(in_rows(comune_buttons, 2))
    rows.append([button(_("⬅️ Zones"), callbacks.open_data(Screen.ZONES)), _back_to_menu()])
    lines = [f"<b>{escape(found.name)}</b>" + (UNCERTAIN_MARK if found.uncertain else "")]
    if found.label_detail:
        lines.append(f"<i>{escape(found.label_detail)}</i>")
    lines.append("")
    lines.append(
        _("Follow the whole zone, or only the comuni that interest you. Comuni: {count}.").format(
            count=format_number(len(found.comuni))
        )
    )
    text = "\n".join(lines)
    if found.uncertain or any(c.uncertain for c in found.comuni):
        text += "\n\n" + _("(*) the list of comuni of this zone is not yet confirmed")
    return View(text, InlineKeyboardMarkup(rows))


async def my_subscriptions(session: AsyncSession, subscriber: Subscriber) -> View:
    language = current_language()
    items = await subscriptions.list_followed(session, subscriber)
    if not items:
        text = (
            _("You are not following anything yet.") + "\n\n" + _("What would you like to follow?")
        )
        return View(text, main_menu_keyboard())
    headings = {
        TargetKind.STRATEGY: _("Strategies"),
        TargetKind.ZONE: _("Zones"),
        TargetKind.COMUNE: _("Comuni"),
        TargetKind.ACTION: _("Actions of the plan"),
    }
    lines = [_("<b>What you follow</b>")]
    buttons = []
    for kind, heading in headings.items():
        of_kind = [item for item in items if item.kind is kind]
        if not of_kind:
            continue
        lines.append(f"\n<b>{heading}</b>")
        for item in of_kind:
            name = item.name(language)
            lines.append(f"• {escape(name)}")
            data = callbacks.toggle_data(False, kind, item.id, Screen.MY_SUBSCRIPTIONS)
            buttons.append([button(_("❌ Stop following {name}").format(name=name), data)])
    lines.append("\n" + _("Tap a button below to stop following an item."))
    buttons.append([button(_("➕ Follow more"), callbacks.open_data(Screen.MAIN))])
    return View("\n".join(lines), InlineKeyboardMarkup(buttons))


def _hour(hour: int) -> str:
    return format_time(time(hour, 0), "short", locale=Locale.parse(current_language()))


def _weekday(day: int) -> str:
    return get_day_names("wide", locale=Locale.parse(current_language()))[day]


def _checked(selected: bool, label: str) -> str:
    return f"✅ {label}" if selected else label


def preferences(subscriber: Subscriber) -> View:
    mode = subscriber.delivery_mode
    hour = _hour(subscriber.digest_hour)
    if mode == DeliveryMode.DAILY:
        delivery = _("a daily digest at {hour}").format(hour=hour)
    elif mode == DeliveryMode.WEEKLY:
        delivery = _("a weekly digest on {day} at {hour}").format(
            day=_weekday(subscriber.digest_weekday), hour=hour
        )
    else:
        delivery = _("each update as soon as it is published")
    if subscriber.quiet_start is None or subscriber.quiet_end is None:
        quiet = _("none")  # both are set, or neither
    else:
        quiet = f"{_hour(subscriber.quiet_start)}–{_hour(subscriber.quiet_end)}"
    lines = [
        _("<b>How you receive updates</b>"),
        "",
        _("You receive: {delivery}.").format(delivery=escape(delivery)),
        _("Quiet hours (nothing arrives, it waits until the end): {quiet}.").format(
            quiet=escape(quiet)
        ),
        "",
        _("Times are Italian time (Europe/Rome)."),
    ]
    return View("\n".join(lines), _preference_keyboard(subscriber))


def _preference_keyboard(subscriber: Subscriber) -> InlineKeyboardMarkup:
    pref = callbacks.preference_data
    mode = subscriber.delivery_mode
    modes = [
        (DeliveryMode.INSTANT, _("Instant")),
        (DeliveryMode.DAILY, _("Daily digest")),
        (DeliveryMode.WEEKLY, _("Weekly digest")),
    ]
    rows = [[button(_checked(mode == m, label), pref("mode", m.value)) for m, label in modes]]
    if mode != DeliveryMode.INSTANT:
        hours = [
            button(_checked(subscriber.digest_hour == h, _hour(h)), pref("hour", str(h)))
            for h in subscriptions.DIGEST_HOUR_CHOICES
        ]
        rows.append(hours)
    if mode == DeliveryMode.WEEKLY:
        days = [
            button(_checked(subscriber.digest_weekday == d, _weekday(d)), pref("day", str(d)))
            for d in range(7)
        ]
        rows.extend(in_rows(days, 4))
    current_quiet = (subscriber.quiet_start, subscriber.quiet_end)
    quiet = [
        button(_checked(current_quiet == (None, None), _("No quiet hours")), pref("quiet", "off"))
    ]
    for start, end in subscriptions.QUIET_HOUR_CHOICES:
        label = _checked(current_quiet == (start, end), f"🌙 {_hour(start)}–{_hour(end)}")
        quiet.append(button(label, pref("quiet", f"{start}-{end}")))
    rows.extend(in_rows(quiet, 2))
    rows.append([_back_to_menu()])
    return InlineKeyboardMarkup(rows)


def language_choice() -> View:
    return View(_("Choose your language:"), InlineKeyboardMarkup([language_buttons()]))


def stop_confirmation() -> View:
    text = _(
        "Do you want to stop following everything? You will no longer receive updates. "
        "You can come back at any time with /start."
    )
    keyboard = InlineKeyboardMarkup(
        [
            [button(_("Yes, stop everything"), callbacks.stop_data(True))],
            [button(_("No, keep my subscriptions"), callbacks.stop_data(False))],
        ]
    )
    return View(text, keyboard)


@dataclass(frozen=True)
class Command:
    """A citizen's command under its English and Italian names (one handler answers both):
    its line in Telegram's menu (None: only in /help) and in /help."""

    english: str
    italian: str
    menu: str | None
    help: str

    def name(self) -> str:
        return self.italian if current_language() == "it" else self.english


# In the order of the menu and of /help; each language shows its own names.
COMMANDS = (
    Command("start", "start", N_("Welcome and main menu"), N_("welcome and main menu")),
    Command("mysubs", "iscrizioni", N_("What I follow"), N_("what I follow")),
    Command(
        "plan",
        "piano",
        N_("The plan's actions and progress"),
        N_("the plan's actions and their progress; {command} Rapallo to search"),
    ),
    Command(
        "events",
        "eventi",
        N_("Upcoming meetings and events"),
        N_("upcoming meetings and events: take part, add them to your calendar"),
    ),
    Command("language", "lingua", N_("Change language"), N_("change language")),
    Command(
        "preferences",
        "preferenze",
        N_("Instant updates or a digest, quiet hours"),
        N_("instant updates or a digest, quiet hours"),
    ),
    Command(
        "feedback",
        "parere",
        N_("Your opinion on the plan"),
        N_("your opinion on a strategy, a zone or the plan"),
    ),
    Command("profile", "profilo", None, N_("who you are, for the participation record (optional)")),
    Command("privacy", "privacy", N_("Privacy and your data"), N_("what is recorded")),
    Command("mydata", "imieidati", None, N_("your data")),
    Command("forget", "dimenticami", None, N_("erase your data")),
    Command("stop", "stop", N_("Stop following everything"), N_("stop following everything")),
    Command("help", "aiuto", N_("Help"), N_("this help")),
)


def help_text() -> View:
    lines = [_("<b>Metropolitan Strategic Plan of Genoa — bot</b>"), ""]
    for command in COMMANDS:
        name = "/" + command.name()
        lines.append(f"{name} — " + _(command.help).format(command=name))
    lines += [
        "",
        _(
            "Follow strategies, zones or single comuni: you will receive the plan's news "
            "and updates about them. Reply to a notification to comment on it: your "
            "comments go into the plan's participation record."
        ),
    ]
    return View("\n".join(lines), main_menu_keyboard())


def command_menu() -> list[tuple[str, str]]:
    """The commands shown in Telegram's menu, in the current language and by its names."""
    return [(command.name(), _(command.menu)) for command in COMMANDS if command.menu]
