"""What participants see about the participation record: consent, /feedback, profile, privacy.

User texts are always escaped before they are shown (Telegram HTML is used everywhere).
"""

from __future__ import annotations

from html import escape

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import callbacks
from bot.callbacks import FeedbackMenu, ProfileField
from bot.db.models import ConsentState, Participant, StakeholderCategory
from bot.i18n import _, format_number, ngettext
from bot.screens import View, button
from bot.screens.following import main_menu_keyboard
from bot.services import plan, subjects
from bot.services.participation import MAX_ORGANISATION_CHARS, MAX_TEXT_CHARS

QUOTE_CHARS = 300


# --- consent -----------------------------------------------------------------------


def _consent_keyboard(prompt_id: int | None = None) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [button(_("✅ I agree"), callbacks.consent_data(True, prompt_id))],
            [button(_("No, thanks"), callbacks.consent_data(False))],
        ]
    )


def _what_is_recorded() -> str:
    return _(
        "The Città Metropolitana di Genova keeps a record of what citizens and stakeholders "
        "say about the Metropolitan Strategic Plan, and uses it in the plan's annual "
        "monitoring report.\n\nIf you agree, it records your reactions and comments with "
        "their date, subject and language and, if you declare them, your category, "
        "organisation and comune. You appear under a pseudonym, never with your Telegram "
        "name or number. The plan's office may answer you here.\n\nWithout your consent "
        "nothing personal is kept: 👍/👎 are only counted anonymously, and comments cannot "
        "be recorded.\n\nSee your data with /mydata, erase them with /forget. Details: /privacy."
    )


def consent_question(
    *, prompt_id: int | None = None, text_not_stored: bool = False, refused_before: bool = False
) -> View:
    lines = [_("<b>Your feedback and the plan's participation record</b>")]
    if refused_before:
        lines.append(
            _(
                "You chose not to have your contributions recorded, so your message has "
                "<b>not</b> been stored."
            )
        )
    elif text_not_stored:
        lines.append(_("Your message has <b>not</b> been stored: I need your consent first."))
    lines += [_what_is_recorded(), _("Do you agree?")]
    return View("\n\n".join(lines), _consent_keyboard(prompt_id))


def consent_given() -> str:
    return _(
        "Thank you: from now on your contributions go into the participation record. Reply "
        "to a notification, or use /feedback to comment on a strategy, a zone or the plan."
    )


def consent_refused() -> str:
    return _(
        "All right: nothing personal will be recorded. Your 👍/👎 are counted anonymously; "
        "comments cannot be recorded without consent. You can change your mind at any time "
        "with /privacy."
    )


# --- what was recorded -------------------------------------------------------------


def recorded(reference: str, subject_name: str | None, truncated: bool) -> str:
    if subject_name:
        text = _(
            "✅ Recorded in the plan's participation record as <b>{reference}</b>, about: "
            "{subject}. Thank you!"
        ).format(reference=reference, subject=escape(subject_name))
    else:
        text = _(
            "✅ Recorded in the plan's participation record as general feedback, "
            "reference <b>{reference}</b>. Thank you!"
        ).format(reference=reference)
    if truncated:
        text += "\n\n" + too_long_note()
    return text


def too_long_note(limit: int = MAX_TEXT_CHARS) -> str:
    return _("⚠️ Your text was too long: only its first {limit} characters were kept.").format(
        limit=format_number(limit)
    )


def not_feedback() -> View:
    text = _(
        "I have not recorded this message. To give your opinion on a notification, "
        "<b>reply</b> to it or tap 💬 Comment under it; to comment on a strategy, a zone or "
        "the whole plan, use /feedback. Use the buttons below or /help."
    )
    return View(text, main_menu_keyboard())


def media_not_recorded() -> str:
    return _(
        "Thank you, but I can only record text: photos, files, stickers and voice messages "
        "are not kept. Please write your feedback in words (reply to a notification, or "
        "use /feedback)."
    )


def forwarded_not_recorded() -> str:
    return _(
        "This is a forwarded message, so I have not recorded it: the participation record "
        "keeps only your own opinions. If you want to comment on it, write your comment in "
        "your own words."
    )


def edits_not_recorded() -> str:
    return _(
        "Edits are not recorded: your message stays as it was first sent. To add something, "
        "send a new message."
    )


# --- /feedback: choose a subject, then write ---------------------------------------


def feedback_menu() -> View:
    text = _(
        "<b>Your opinion on the plan</b>\nWhat would you like to comment on? Your comment "
        "goes into the plan's participation record."
    )
    rows = [
        [button(_("A strategy"), callbacks.feedback_menu_data(FeedbackMenu.STRATEGIES))],
        [button(_("A zone"), callbacks.feedback_menu_data(FeedbackMenu.ZONES))],
        [button(_("The plan in general"), callbacks.subject_data("plan", subjects.PLAN_ID))],
    ]
    return View(text, InlineKeyboardMarkup(rows))


def _back_to_feedback_menu() -> InlineKeyboardButton:
    return button(_("⬅️ Back"), callbacks.feedback_menu_data(FeedbackMenu.ROOT))


async def feedback_strategies(session: AsyncSession) -> View:
    rows = [
        [button(plan.strategy_label(strategy), callbacks.subject_data("strategy", strategy.id))]
        for strategy in await plan.list_strategies(session)
    ]
    rows.append([_back_to_feedback_menu()])
    return View(_("Which strategy would you like to comment on?"), InlineKeyboardMarkup(rows))


async def feedback_zones(session: AsyncSession) -> View:
    buttons = [
        button(zone.name, callbacks.subject_data("zone", zone.id))
        for zone in await plan.list_zones(session)
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([_back_to_feedback_menu()])
    return View(_("Which zone would you like to comment on?"), InlineKeyboardMarkup(rows))


def comment_prompt(subject_name: str | None) -> str:
    if subject_name:
        text = _("💬 Write your comment on <b>{subject}</b> and send it.").format(
            subject=escape(subject_name)
        )
    else:
        text = _("💬 Write your comment and send it.")
    return (
        text
        + "\n"
        + _("Up to {limit} characters; text only.").format(limit=format_number(MAX_TEXT_CHARS))
    )


# --- the stakeholder profile ------------------------------------------------------


def category_label(category: str | None) -> str:
    labels: dict[str | None, str] = {
        StakeholderCategory.CITIZEN: _("Citizen"),
        StakeholderCategory.COMUNE: _("Comune"),
        StakeholderCategory.ASSOCIATION: _("Association"),
        StakeholderCategory.BUSINESS: _("Business"),
        StakeholderCategory.THIRD_SECTOR: _("Third sector"),
        StakeholderCategory.SCHOOL: _("School or university"),
        StakeholderCategory.OTHER: _("Other"),
    }
    return labels.get(category, _("not declared"))


def profile(participant: Participant, comune: str | None) -> View:
    organisation = escape(participant.organisation) if participant.organisation else None
    if organisation and participant.organisation_verified:
        organisation += " " + _("(✔ verified by the plan's office)")
    lines = [
        _("<b>Your profile in the participation record</b> (optional)"),
        "",
        _("Category: {category}").format(category=category_label(participant.category)),
        _("Organisation: {organisation}").format(organisation=organisation or _("none")),
        _("Comune: {comune}").format(comune=escape(comune) if comune else _("not declared")),
        "",
        _(
            "It appears in the record next to your contributions, under your pseudonym "
            "<code>{pseudonym}</code>."
        ).format(pseudonym=participant.pseudonym),
    ]
    rows = [
        [button(_("Category"), callbacks.profile_data(ProfileField.CATEGORY))],
        [button(_("Organisation"), callbacks.profile_data(ProfileField.ORGANISATION))],
        [button(_("Comune"), callbacks.profile_data(ProfileField.COMUNE))],
    ]
    return View("\n".join(lines), InlineKeyboardMarkup(rows))


def category_choice(current: str | None) -> View:
    rows = [
        [
            button(
                ("✅ " if category == current else "") + category_label(category),
                callbacks.profile_data(ProfileField.CATEGORY, category.value),
            )
        ]
        for category in StakeholderCategory
    ]
    rows.append([button(_("⬅️ Back"), callbacks.profile_data(ProfileField.MENU))])
    return View(_("Which of these describes you best?"), InlineKeyboardMarkup(rows))


def organisation_prompt() -> str:
    return _("Write the name of your organisation (up to {limit} characters).").format(
        limit=format_number(MAX_ORGANISATION_CHARS)
    )


def comune_prompt() -> str:
    return _("Write your comune: its name (for example Rapallo) or its ISTAT code (010046).")


def unknown_comune() -> str:
    return _(
        "I can't find this comune among those of the metropolitan area of Genoa. Write its "
        "name (for example Rapallo) or its ISTAT code (010046)."
    )


# --- privacy and rights ---------------------------------------------------------


def _consent_state(participant: Participant | None) -> str:
    state = participant.consent if participant else None
    if state == ConsentState.GIVEN:
        return _("given")
    if state == ConsentState.REFUSED:
        return _("refused")
    return _("not asked yet")


def privacy_notice(contact_email: str, participant: Participant | None) -> View:
    text = "\n\n".join(
        [
            _("<b>Privacy: the plan's participation record</b>"),
            _("<b>Controller:</b> Città Metropolitana di Genova."),
            _(
                "<b>Purpose:</b> the participation record of the Metropolitan Strategic Plan "
                "and its annual monitoring report."
            ),
            _(
                "<b>What is kept, only with your consent:</b> your reactions and comments with "
                "their date, subject and language; your category, organisation and comune if "
                "you declare them. You appear under a pseudonym, never with your Telegram name "
                "or number. Without consent, 👍/👎 are only counted anonymously and comments "
                "are not kept."
            ),
            _(
                "<b>To send you updates</b> the bot keeps your Telegram id, first name, "
                "language, what you follow and what it sent you."
            ),
            _(
                "<b>Your rights:</b> /mydata sends you everything stored about you; /forget "
                "erases your data and subscriptions. Your contributions then stay in the record "
                "<b>without any link to you</b>: their text, date, subject and language are "
                "kept, the pseudonym and profile are removed. Avoid writing in a comment what "
                "would reveal who you are."
            ),
            _("<b>Contact:</b> {email}").format(email=escape(contact_email)),
            _("Your consent: <b>{state}</b>.").format(state=_consent_state(participant)),
        ]
    )
    given = participant is not None and participant.consent == ConsentState.GIVEN
    consent_button = (
        button(_("Withdraw my consent"), callbacks.consent_data(False))
        if given
        else button(_("✅ I agree"), callbacks.consent_data(True))
    )
    return View(text, InlineKeyboardMarkup([[consent_button]]))


def consent_withdrawn() -> str:
    return _(
        "Consent withdrawn: from now on nothing personal is recorded. What you already said "
        "stays in the record; to remove the link to you, use /forget."
    )


def my_data_caption() -> str:
    return _("Everything the bot stores about you, as a JSON file.")


def forget_confirmation() -> View:
    text = _(
        "Do you want to erase your data? Your subscriptions, preferences, profile and consent "
        "will be deleted and you will no longer receive updates. Your contributions stay in "
        "the plan's participation record <b>without any link to you</b>. This cannot be undone."
    )
    keyboard = InlineKeyboardMarkup(
        [
            [button(_("Yes, erase my data"), callbacks.forget_data(True))],
            [button(_("No, keep them"), callbacks.forget_data(False))],
        ]
    )
    return View(text, keyboard)


def forgotten(kept_entries: int) -> str:
    return ngettext(
        "Done: your data have been erased. {count} contribution stays in the record, with no "
        "link to you. You can come back at any time with /start.",
        "Done: your data have been erased. {count} contributions stay in the record, with no "
        "link to you. You can come back at any time with /start.",
        kept_entries,
    ).format(count=format_number(kept_entries))


def quote(text: str | None) -> str:
    """A user's text shown back: shortened, always escaped."""
    if not text:
        return ""
    short = text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"
    return escape(short)
