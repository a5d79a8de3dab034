"""The plan's participation record: consent, participants, entries and their references.

Without consent nothing personal is stored: reactions are counted without a participant, and
texts are not kept at all. Every entry gets a reference P-<year>-<number>, unique and stable.
Callers open the transaction; nothing here commits.
"""

from __future__ import annotations

import enum
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import dialect_name
from bot.db.models import (
    Comune,
    ConsentState,
    EntryKind,
    FeedbackPrompt,
    Participant,
    PromptPurpose,
    RecordCounter,
    RecordEntry,
    RecordEntryTag,
    StakeholderCategory,
    Subscriber,
)
from bot.i18n import TIMEZONE
from bot.services import subjects
from bot.services.subjects import Subject
from feeds.classify import fold

MAX_TEXT_CHARS = 2000
MAX_ORGANISATION_CHARS = 200
# Plain text (not a reply) answers the latest question asked within this time.
PROMPT_ANSWER_WINDOW = timedelta(minutes=30)
REACTION_VALUES = {"u": "useful", "n": "not_useful"}
# Characters that have no place in a stored text (NUL is refused by PostgreSQL).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# --- participants and consent ------------------------------------------------


async def find_participant(session: AsyncSession, subscriber: Subscriber) -> Participant | None:
    return await session.scalar(
        select(Participant).where(Participant.subscriber_id == subscriber.id)
    )


async def participant_of(session: AsyncSession, subscriber: Subscriber) -> Participant:
    """The subscriber's participant row, created with a random pseudonym at first need."""
    participant = await find_participant(session, subscriber)
    if participant is None:
        participant = Participant(subscriber_id=subscriber.id, pseudonym=new_pseudonym())
        session.add(participant)
        await session.flush()
    return participant


def new_pseudonym() -> str:
    """Random, so nothing in the record leads back to a Telegram account."""
    return "u-" + secrets.token_hex(5)


def has_consent(participant: Participant | None) -> bool:
    return participant is not None and participant.consent == ConsentState.GIVEN


def set_consent(participant: Participant, given: bool, now: datetime) -> None:
    participant.consent = (ConsentState.GIVEN if given else ConsentState.REFUSED).value
    participant.consent_at = now


def should_ask_consent(participant: Participant, now: datetime) -> bool:
    """Asked once, at the first contribution; afterwards /privacy changes the answer."""
    if participant.consent is not None or participant.consent_asked_at is not None:
        return False
    participant.consent_asked_at = now
    return True


# --- references and entries ---------------------------------------------------


def format_reference(year: int, number: int) -> str:
    return f"P-{year}-{number:05d}"


async def _next_number(session: AsyncSession, year: int) -> int:
    """Atomic per-year counter: concurrent contributions never share a number."""
    dialect = dialect_name(session)
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(RecordCounter)
    statement = (
        insert.values(year=year, last_value=1)
        .on_conflict_do_update(
            index_elements=["year"], set_={"last_value": RecordCounter.last_value + 1}
        )
        .returning(RecordCounter.last_value)
    )
    return (await session.execute(statement)).scalar_one()


@dataclass(frozen=True)
class CappedText:
    text: str
    truncated: bool


def cap_text(text: str, limit: int = MAX_TEXT_CHARS) -> CappedText:
    cleaned = _CONTROL.sub("", text).strip()
    if len(cleaned) <= limit:
        return CappedText(cleaned, False)
    return CappedText(cleaned[:limit], True)


async def add_entry(
    session: AsyncSession,
    *,
    kind: EntryKind,
    subject: Subject | None,
    participant: Participant | None,
    language: str | None,
    now: datetime,
    value: str | None = None,
    text: CappedText | None = None,
) -> RecordEntry:
    year = now.astimezone(TIMEZONE).year
    number = await _next_number(session, year)
    entry = RecordEntry(
        reference=format_reference(year, number),
        year=year,
        sequence=number,
        created_at=now,
        kind=kind.value,
        value=value,
        text=text.text if text else None,
        text_truncated=bool(text and text.truncated),
        language=language,
        hidden=False,
        tags=[RecordEntryTag(target_kind=k, target_id=i) for k, i in _tags(subject)],
    )
    _set_subject(entry, subject)
    if participant is not None and has_consent(participant):
        await _set_participant(session, entry, participant)
    session.add(entry)
    await session.flush()
    return entry


def _tags(subject: Subject | None) -> tuple[tuple[str, str], ...]:
    return subject.tags if subject else ()


def _set_subject(entry: RecordEntry, subject: Subject | None) -> None:
    if subject is None:
        return
    entry.subject_kind = subject.kind
    entry.subject_id = subject.id
    entry.subject_label = subject.record_label
    entry.notification_id = subject.notification_id
    entry.notification_kind = subject.notification_kind
    entry.delivery_id = subject.delivery_id


async def _set_participant(
    session: AsyncSession, entry: RecordEntry, participant: Participant
) -> None:
    """A snapshot of the declared profile: the report tells who spoke at the time."""
    entry.participant_id = participant.id
    entry.participant_category = participant.category
    entry.participant_organisation = participant.organisation
    entry.organisation_verified = participant.organisation_verified
    entry.participant_comune = participant.comune_istat
    if participant.comune_istat:
        comune = await session.get(Comune, participant.comune_istat)
        entry.participant_zone = comune.zone_id if comune else None


# --- reactions -----------------------------------------------------------------


class ReactionStatus(enum.Enum):
    UNKNOWN = "unknown"  # no such delivery, or it was for someone else
    RECORDED = "recorded"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class ReactionOutcome:
    status: ReactionStatus
    reference: str | None = None
    ask_consent: bool = False


async def react(
    session: AsyncSession, subscriber: Subscriber, delivery_id: int, code: str, now: datetime
) -> ReactionOutcome:
    """👍/👎 under a notification: one entry per delivery, updated when the answer changes."""
    delivery = await subjects.owned_delivery(session, subscriber.id, delivery_id)
    if delivery is None:
        return ReactionOutcome(ReactionStatus.UNKNOWN)
    delivery.reaction, delivery.reacted_at = code, now
    participant = await participant_of(session, subscriber)
    entry = await session.scalar(
        select(RecordEntry).where(
            RecordEntry.delivery_id == delivery_id, RecordEntry.kind == EntryKind.REACTION
        )
    )
    value = REACTION_VALUES[code]
    if entry is None:
        entry = await add_entry(
            session,
            kind=EntryKind.REACTION,
            subject=await subjects.of_delivery_row(session, delivery),
            participant=participant,
            language=subscriber.language,
            now=now,
            value=value,
        )
        status = ReactionStatus.RECORDED
    else:
        status = _change_reaction(entry, value, now)
    return ReactionOutcome(status, entry.reference, should_ask_consent(participant, now))


def _change_reaction(entry: RecordEntry, value: str, now: datetime) -> ReactionStatus:
    if entry.value == value:
        return ReactionStatus.UNCHANGED
    entry.value, entry.changed_at = value, now
    return ReactionStatus.CHANGED


# --- prompts: questions waiting for a text ------------------------------------


async def open_prompt(
    session: AsyncSession,
    subscriber: Subscriber,
    purpose: PromptPurpose,
    subject: Subject | None = None,
) -> FeedbackPrompt:
    prompt = FeedbackPrompt(
        subscriber_id=subscriber.id,
        chat_id=subscriber.chat_id,
        purpose=purpose.value,
        delivery_id=subject.delivery_id if subject else None,
        subject_kind=None if subject is None or subject.delivery_id else subject.kind,
        subject_id=None if subject is None or subject.delivery_id else subject.id,
    )
    session.add(prompt)
    await session.flush()
    return prompt


async def owned_prompt(
    session: AsyncSession, subscriber: Subscriber, prompt_id: int
) -> FeedbackPrompt | None:
    return await session.scalar(
        select(FeedbackPrompt).where(
            FeedbackPrompt.id == prompt_id, FeedbackPrompt.subscriber_id == subscriber.id
        )
    )


async def attach_prompt_message(
    session: AsyncSession, prompt_id: int, message_id: int, now: datetime
) -> None:
    """The prompt's message is known once sent; the answer window starts then."""
    prompt = await session.get(FeedbackPrompt, prompt_id)
    if prompt is not None:
        prompt.message_id, prompt.created_at = message_id, now


async def prompt_subject(
    session: AsyncSession, subscriber: Subscriber, prompt: FeedbackPrompt
) -> Subject | None:
    if prompt.delivery_id is not None:
        return await subjects.of_owned_delivery(session, subscriber.id, prompt.delivery_id)
    if prompt.subject_kind is None or prompt.subject_id is None:
        return None  # set together (open_prompt): a prompt about no subject
    return await subjects.chosen(session, prompt.subject_kind, prompt.subject_id)


async def _prompt_by_message(
    session: AsyncSession, subscriber: Subscriber, message_id: int
) -> FeedbackPrompt | None:
    return await session.scalar(
        select(FeedbackPrompt).where(
            FeedbackPrompt.subscriber_id == subscriber.id,
            FeedbackPrompt.chat_id == subscriber.chat_id,
            FeedbackPrompt.message_id == message_id,
        )
    )


async def _waiting_prompt(
    session: AsyncSession, subscriber: Subscriber, now: datetime
) -> FeedbackPrompt | None:
    return await session.scalar(
        select(FeedbackPrompt)
        .where(
            FeedbackPrompt.subscriber_id == subscriber.id,
            FeedbackPrompt.answered_at.is_(None),
            FeedbackPrompt.created_at >= now - PROMPT_ANSWER_WINDOW,
        )
        .order_by(FeedbackPrompt.created_at.desc(), FeedbackPrompt.id.desc())
        .limit(1)
    )


# --- texts: comments, free feedback, profile answers ---------------------------


class TextStatus(enum.Enum):
    RECORDED = "recorded"
    NEEDS_CONSENT = "needs_consent"  # nothing stored; ask (or ask again) for consent
    PROFILE_UPDATED = "profile_updated"
    UNKNOWN_COMUNE = "unknown_comune"
    NOT_FEEDBACK = "not_feedback"  # plain text, no question pending: explain how to give feedback


@dataclass(frozen=True)
class TextOutcome:
    status: TextStatus
    entry: RecordEntry | None = None
    subject: Subject | None = None
    truncated: bool = False
    # A question to continue with once consent is given (the subject is not lost).
    prompt_id: int | None = None
    refused_before: bool = False
    field: str | None = None


@dataclass(frozen=True)
class _Target:
    kind: EntryKind
    subject: Subject | None
    prompt: FeedbackPrompt | None = None


async def handle_text(
    session: AsyncSession,
    subscriber: Subscriber,
    text: str,
    reply_to: int | None,
    now: datetime,
) -> TextOutcome:
    """A text from the user: a reply to a bot message, the answer to a question, or neither."""
    prompt = await _answered_prompt(session, subscriber, reply_to, now)
    if prompt is not None and prompt.purpose != PromptPurpose.COMMENT:
        return await _answer_profile_question(session, subscriber, prompt, text, now)
    target = await _text_target(session, subscriber, prompt, reply_to)
    if target is None:
        return TextOutcome(TextStatus.NOT_FEEDBACK)
    participant = await participant_of(session, subscriber)
    if not has_consent(participant):
        return await _consent_first(session, subscriber, participant, target, now)
    capped = cap_text(text)
    entry = await add_entry(
        session,
        kind=target.kind,
        subject=target.subject,
        participant=participant,
        language=subscriber.language,
        now=now,
        text=capped,
    )
    if target.prompt is not None:
        target.prompt.answered_at = now
    return TextOutcome(TextStatus.RECORDED, entry, target.subject, capped.truncated)


async def _answered_prompt(
    session: AsyncSession, subscriber: Subscriber, reply_to: int | None, now: datetime
) -> FeedbackPrompt | None:
    if reply_to is not None:
        return await _prompt_by_message(session, subscriber, reply_to)
    return await _waiting_prompt(session, subscriber, now)


async def _text_target(
    session: AsyncSession,
    subscriber: Subscriber,
    prompt: FeedbackPrompt | None,
    reply_to: int | None,
) -> _Target | None:
    if prompt is not None:
        subject = await prompt_subject(session, subscriber, prompt)
        return _Target(_kind_for(subject), subject, prompt)
    if reply_to is None:
        return None
    subject = await subjects.of_message(session, subscriber.id, subscriber.chat_id, reply_to)
    # A reply to any other bot message (a menu, an old message) is still heard: free feedback.
    return _Target(_kind_for(subject), subject)


def _kind_for(subject: Subject | None) -> EntryKind:
    if subject is None:
        return EntryKind.FREE
    if subject.notification_id is not None or subject.kind == subjects.SubjectKind.DIGEST:
        return EntryKind.COMMENT
    return EntryKind.FEEDBACK


async def _consent_first(
    session: AsyncSession,
    subscriber: Subscriber,
    participant: Participant,
    target: _Target,
    now: datetime,
) -> TextOutcome:
    """Nothing is stored; a question on the same subject waits for after the consent."""
    participant.consent_asked_at = participant.consent_asked_at or now
    prompt = target.prompt
    if prompt is None and target.subject is not None:
        prompt = await open_prompt(session, subscriber, PromptPurpose.COMMENT, target.subject)
    return TextOutcome(
        TextStatus.NEEDS_CONSENT,
        subject=target.subject,
        prompt_id=prompt.id if prompt else None,
        refused_before=participant.consent == ConsentState.REFUSED,
    )


# --- the stakeholder profile ----------------------------------------------------


def set_category(participant: Participant, category: str) -> None:
    participant.category = StakeholderCategory(category).value


def set_organisation(participant: Participant, name: str) -> bool:
    """Returns True when the name was shortened. A new name needs a new verification."""
    capped = cap_text(name, MAX_ORGANISATION_CHARS)
    if capped.text != participant.organisation:
        participant.organisation_verified = False
        participant.verified_by = participant.verified_at = None
    participant.organisation = capped.text or None
    return capped.truncated


async def find_comune(session: AsyncSession, text: str) -> Comune | None:
    """A comune of the metropolitan area by ISTAT code (010046) or by name (Rapallo)."""
    wanted = text.strip()
    if re.fullmatch(r"\d{6}", wanted):
        return await session.get(Comune, wanted)
    comuni = await session.scalars(select(Comune))
    folded = fold(wanted)
    return next((c for c in comuni if fold(c.name) == folded), None)


async def _answer_profile_question(
    session: AsyncSession,
    subscriber: Subscriber,
    prompt: FeedbackPrompt,
    text: str,
    now: datetime,
) -> TextOutcome:
    participant = await participant_of(session, subscriber)
    if not has_consent(participant):
        return TextOutcome(TextStatus.NEEDS_CONSENT, prompt_id=prompt.id)
    if prompt.purpose == PromptPurpose.ORGANISATION:
        truncated = set_organisation(participant, text)
        prompt.answered_at = now
        return TextOutcome(TextStatus.PROFILE_UPDATED, truncated=truncated, field="organisation")
    comune = await find_comune(session, text)
    if comune is None:
        return TextOutcome(TextStatus.UNKNOWN_COMUNE, prompt_id=prompt.id)
    participant.comune_istat = comune.istat
    prompt.answered_at = now
    return TextOutcome(TextStatus.PROFILE_UPDATED, field="comune")


async def comune_name(session: AsyncSession, istat: str | None) -> str | None:
    if istat is None:
        return None
    comune = await session.get(Comune, istat)
    return comune.name if comune else istat


# --- asking for a comment, and the answer to the consent question ----------------


@dataclass(frozen=True)
class CommentRequest:
    prompt_id: int
    consent_needed: bool
    refused_before: bool


async def ask_for_comment(
    session: AsyncSession, subscriber: Subscriber, subject: Subject, now: datetime
) -> CommentRequest:
    """A question on this subject; without consent, the consent question comes first."""
    prompt = await open_prompt(session, subscriber, PromptPurpose.COMMENT, subject)
    participant = await participant_of(session, subscriber)
    consented = has_consent(participant)
    if not consented:
        participant.consent_asked_at = participant.consent_asked_at or now
    return CommentRequest(
        prompt.id, not consented, participant.consent == ConsentState.REFUSED.value
    )


@dataclass(frozen=True)
class ConsentOutcome:
    given: bool
    withdrawn: bool
    # The question to ask now that consent is given (a comment, a profile field), if any.
    prompt: FeedbackPrompt | None = None
    subject: Subject | None = None


async def answer_consent(
    session: AsyncSession,
    subscriber: Subscriber,
    given: bool,
    prompt_id: int | None,
    now: datetime,
) -> ConsentOutcome:
    participant = await participant_of(session, subscriber)
    withdrawn = not given and participant.consent == ConsentState.GIVEN.value
    set_consent(participant, given, now)
    if not given or prompt_id is None:
        return ConsentOutcome(given, withdrawn)
    prompt = await owned_prompt(session, subscriber, prompt_id)
    if prompt is None or prompt.answered_at is not None:
        return ConsentOutcome(given, withdrawn)
    return ConsentOutcome(
        given, withdrawn, prompt, await prompt_subject(session, subscriber, prompt)
    )
