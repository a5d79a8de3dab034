"""What a Telegram error means for a delivery. Pure: exceptions in, decisions out."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter

from bot.telegram_errors import is_chat_gone


class Verdict(enum.Enum):
    RETRY_AFTER = "retry_after"  # 429: wait, then again (not the recipient's fault)
    RETRY = "retry"  # network trouble or 5xx: back off and try again, up to a cap
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
    if isinstance(error, RetryAfter):
        return Decision(Verdict.RETRY_AFTER, "rate limited", wait_s=_seconds(error.retry_after))
    if isinstance(error, ChatMigrated):
        return Decision(Verdict.MIGRATED, "chat migrated", new_chat_id=error.new_chat_id)
    if isinstance(error, Forbidden):
        return Decision(Verdict.BLOCKED, "blocked")
    if isinstance(error, BadRequest):
        if is_chat_gone(error):
            return Decision(Verdict.GONE, "chat not found")
        return Decision(Verdict.FAILED, error.message[:300])
    if isinstance(error, NetworkError):  # includes TimedOut and HTTP 5xx
        if attempts + 1 >= max_attempts:
            return Decision(Verdict.FAILED, f"gave up after {attempts + 1} attempts: {error}"[:300])
        return Decision(Verdict.RETRY, str(error)[:300], wait_s=backoff(attempts, base_s, cap_s))
    raise error


def backoff(attempts: int, base_s: float, cap_s: float) -> float:
    return min(cap_s, base_s * (2**attempts))


def _seconds(value) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)
