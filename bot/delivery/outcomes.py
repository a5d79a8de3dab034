"""What a Telegram error means for a delivery. Pure: exceptions in, decisions out."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.delivery.transport import AnswerLost, NotSent, UnexpectedAnswer
from bot.telegram_errors import is_chat_gone


class Verdict(enum.Enum):
    RETRY_AFTER = "retry_after"  # 429: wait, then again (not the recipient's fault)
    RETRY = "retry"  # nothing was sent (no connection) or 5xx: back off and again, up to a cap
    # The request may have reached Telegram (answer lost or late, an answer that is not the
    # Bot API's): like a crash mid-request, counted and never sent again.
    IN_DOUBT = "in_doubt"
    UNAUTHORIZED = "unauthorized"  # 401: the token does not work; sending stops until it does
    BLOCKED = "blocked"  # 403: the user blocked the bot or deactivated the account
    GONE = "gone"  # the chat does not exist any more
    MIGRATED = "migrated"  # a group became a supergroup: follow the new id
    FAILED = "failed"  # permanent: Telegram refused this message


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    wait_s: float = 0.0
    new_chat_id: int | None = None


def decide(
    error: Exception, attempts: int, *, max_attempts: int, base_s: float, cap_s: float
) -> Decision:
    """Any exception gets a decision: an error nobody foresaw must not stop the sender."""
    if isinstance(error, RetryAfter):
        return Decision(Verdict.RETRY_AFTER, "rate limited", wait_s=_seconds(error.retry_after))
    if isinstance(error, ChatMigrated):
        return Decision(Verdict.MIGRATED, "chat migrated", new_chat_id=error.new_chat_id)
    if isinstance(error, Forbidden):
        return Decision(Verdict.BLOCKED, "blocked")
    if isinstance(error, InvalidToken):
        return Decision(Verdict.UNAUTHORIZED, f"token refused: {error.message}"[:300])
    if isinstance(error, BadRequest):
        if is_chat_gone(error):
            return Decision(Verdict.GONE, "chat not found")
        return Decision(Verdict.FAILED, error.message[:300])
    if isinstance(error, NotSent):
        return _retry(error, attempts, max_attempts, base_s, cap_s)
    if isinstance(error, AnswerLost | TimedOut):  # a bare TimedOut does not say when it struck
        return Decision(Verdict.IN_DOUBT, f"may have been sent: {error.message}"[:300])
    if isinstance(error, UnexpectedAnswer):
        verdict = Verdict.IN_DOUBT if error.maybe_sent else Verdict.FAILED
        return Decision(verdict, error.message[:300])
    if isinstance(error, NetworkError):  # Telegram answered with a server error (5xx)
        return _retry(error, attempts, max_attempts, base_s, cap_s)
    if isinstance(error, TelegramError):  # e.g. PTB's "Invalid server response"
        return Decision(Verdict.IN_DOUBT, f"unexpected answer: {error.message}"[:300])
    return Decision(Verdict.IN_DOUBT, f"unexpected error: {error!r}"[:300])


def _retry(
    error: TelegramError, attempts: int, max_attempts: int, base_s: float, cap_s: float
) -> Decision:
    if attempts + 1 >= max_attempts:
        return Decision(Verdict.FAILED, f"gave up after {attempts + 1} attempts: {error}"[:300])
    return Decision(Verdict.RETRY, str(error)[:300], wait_s=backoff(attempts, base_s, cap_s))


def backoff(attempts: int, base_s: float, cap_s: float) -> float:
    return min(cap_s, base_s * (2**attempts))


def _seconds(value) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)
