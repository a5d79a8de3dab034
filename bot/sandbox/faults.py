"""Injected failures and flood limits, to exercise a bot's delivery engine."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass

from .errors import ApiError, too_many_requests

DEFAULT_RETRY_AFTER = 1
PAID_BROADCAST_PER_SECOND = 1000
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    ),
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
# Methods that never match a fault registered without an explicit method name:
# a polling bot calls them all the time.
_NOT_MATCHED_BY_WILDCARD = frozenset({"getupdates"})


@dataclass
class FaultRule:
    method: str | None
    error_code: int
    retry_after: int | None
    description: str | None
    remaining: int
    chat_id: int | str | None
    drop_connection: bool

    def matches(self, method: str, chat_id: object) -> bool:
        if self.method is None and method.lower() in _NOT_MATCHED_BY_WILDCARD:
            return False
        if self.method is not None and self.method != method.lower():
            return False
        return self.chat_id is None or str(self.chat_id) == str(chat_id)

    def to_error(self) -> ApiError:
        if self.error_code == 429:
            error = too_many_requests(self.retry_after or DEFAULT_RETRY_AFTER)
        else:
            description = _DEFAULT_DESCRIPTIONS.get(self.error_code, f"Error {self.error_code}")
            parameters = {"retry_after": self.retry_after} if self.retry_after else None
            error = ApiError(self.error_code, description, parameters, is_rejection=False)
        if self.description:
            error.description = self.description
        return error


class FaultInjector:
    """``fail_next`` rules, consumed in the order they were added."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> None:
        self.rules.append(rule)

    def take(self, method: str, chat_id: object) -> FaultRule | None:
        for rule in self.rules:
            if rule.matches(method, chat_id):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.rules.remove(rule)
                return rule
        return None

    def clear(self) -> None:
        self.rules.clear()


def is_rate_limited_method(method: str) -> bool:
    lowered = method.lower()
    if lowered == "sendchataction":
        return False
    return lowered.startswith(("send", "edit", "copymessage", "forwardmessage"))


class _SlidingWindow:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._stamps: deque[float] = deque()

    def count(self, now: float) -> int:
        while self._stamps and now - self._stamps[0] >= self.seconds:
            self._stamps.popleft()
        return len(self._stamps)

    def add(self, now: float) -> None:
        self._stamps.append(now)


class FloodLimiter:
    """Telegram-like rate limits on send*/edit* calls; disabled until configured."""

    def __init__(self) -> None:
        self.configure()

    def configure(
        self,
        global_per_second: int | None = None,
        per_chat_per_second: int | None = None,
        per_group_per_minute: int | None = None,
        retry_after: int = DEFAULT_RETRY_AFTER,
    ) -> None:
        self.global_per_second = global_per_second
        self.per_chat_per_second = per_chat_per_second
        self.per_group_per_minute = per_group_per_minute
        self.retry_after = retry_after
        self._global = _SlidingWindow(1.0)
        self._per_chat: defaultdict[object, _SlidingWindow] = defaultdict(
            lambda: _SlidingWindow(1.0)
        )
        self._per_group: defaultdict[object, _SlidingWindow] = defaultdict(
            lambda: _SlidingWindow(60.0)
        )

    def check(self, method: str, chat_id: object, *, paid_broadcast: bool = False) -> None:
        """Raise 429 if this call exceeds a limit; otherwise count it."""
        if not is_rate_limited_method(method):
            return
        now = time.monotonic()
        windows = self._applicable_windows(chat_id, paid_broadcast)
        for window, limit in windows:
            if window.count(now) >= limit:
                raise too_many_requests(self.retry_after)
        for window, _ in windows:
            window.add(now)

    def _applicable_windows(
        self, chat_id: object, paid_broadcast: bool
    ) -> list[tuple[_SlidingWindow, int]]:
        windows = []
        if self.global_per_second is not None:
            global_limit = self.global_per_second
            if paid_broadcast:
                global_limit = max(global_limit, PAID_BROADCAST_PER_SECOND)
            windows.append((self._global, global_limit))
        if self.per_chat_per_second is not None and chat_id is not None:
            windows.append((self._per_chat[chat_id], self.per_chat_per_second))
        if self.per_group_per_minute is not None and _is_group_id(chat_id):
            windows.append((self._per_group[chat_id], self.per_group_per_minute))
        return windows


def _is_group_id(chat_id: object) -> bool:
    return isinstance(chat_id, int) and chat_id < 0
