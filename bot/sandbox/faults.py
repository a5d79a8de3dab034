"""Injected failures and flood limits, to exercise a bot's delivery engine."""

from __future__ import annotations

import enum
import math
import random
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field

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


class FaultMode(enum.StrEnum):
    """What an injected fault does. The "after" modes first do what was asked (the message is
    delivered, as when Telegram acted and only its answer went wrong)."""

    ERROR = "error"  # answer error_code; nothing done
    DROP_BEFORE = "drop_before"  # read the request, do nothing, close without answering
    DROP_AFTER = "drop_after"  # do it, then close without answering
    HANG_AFTER = "hang_after"  # do it, answer hang_s seconds later
    NOT_JSON = "not_json"  # do it, answer HTTP 200 with an HTML page (a proxy's)

    @property
    def acts(self) -> bool:
        return self in (FaultMode.DROP_AFTER, FaultMode.HANG_AFTER, FaultMode.NOT_JSON)


@dataclass
class FaultRule:
    method: str | None
    error_code: int = 429
    retry_after: int | None = None
    description: str | None = None
    remaining: int = 1
    chat_id: int | str | None = None
    mode: FaultMode = FaultMode.ERROR
    hang_s: float = 0.0

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


@dataclass
class RandomFault:
    """A rule that hits each matching call with ``probability``. The draw depends only on the
    seed, the rule, the method, the chat and how many matching calls that chat had before, so
    a run repeats exactly whatever order concurrent requests arrive in."""

    rule: FaultRule
    probability: float
    seed: int
    index: int
    _calls: defaultdict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def draw(self, method: str, chat_id: object) -> bool:
        if not self.rule.matches(method, chat_id):
            return False
        key = (method.lower(), str(chat_id))
        count = self._calls[key]
        self._calls[key] = count + 1
        draw = random.Random(f"{self.seed}:{self.index}:{key[0]}:{key[1]}:{count}").random()
        return draw < self.probability


@dataclass
class Storm:
    """Every ``every_s`` seconds, ``lasting_s`` seconds in which every send is answered 429
    with the time left as ``retry_after``; the first storm starts when it is set."""

    every_s: float
    lasting_s: float
    method: str | None = None
    started: float = field(default_factory=time.monotonic)

    def retry_after(self, method: str, now: float) -> int | None:
        if not is_rate_limited_method(method):
            return None
        if self.method is not None and self.method != method.lower():
            return None
        into_period = (now - self.started) % self.every_s
        if into_period >= self.lasting_s:
            return None
        return max(1, math.ceil(self.lasting_s - into_period))


class FaultInjector:
    """``fail_next`` rules (consumed in the order they were added), then 429 storms, then
    random faults."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self.storms: list[Storm] = []
        self.random_faults: list[RandomFault] = []

    def add(self, rule: FaultRule) -> None:
        self.rules.append(rule)

    def add_random(self, rule: FaultRule, probability: float, seed: int) -> None:
        index = len(self.random_faults)
        self.random_faults.append(RandomFault(rule, probability, seed, index))

    def add_storm(self, storm: Storm) -> None:
        self.storms.append(storm)

    def take(self, method: str, chat_id: object) -> FaultRule | None:
        for rule in self.rules:
            if rule.matches(method, chat_id):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.rules.remove(rule)
                return rule
        now = time.monotonic()
        for storm in self.storms:
            retry_after = storm.retry_after(method, now)
            if retry_after is not None:
                return FaultRule(method.lower(), 429, retry_after)
        hits = [fault.rule for fault in self.random_faults if fault.draw(method, chat_id)]
        return hits[0] if hits else None

    def clear(self) -> None:
        self.rules.clear()
        self.storms.clear()
        self.random_faults.clear()


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


_GLOBAL = object()


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
        # After a 429 Telegram refuses the bot's messages until retry_after has passed; a
        # message sent sooner is an early send, refused again.
        self._banned_until: dict[object, float] = {}  # GLOBAL or a chat id → monotonic time
        self.rejected = 0
        self.early_sends = 0
        # Which limit each 429 enforced: "overall", "chat", "group" or "early" (a retry_after).
        self.refusals: Counter[str] = Counter()

    def check(self, method: str, chat_id: object, *, paid_broadcast: bool = False) -> None:
        """Raise 429 if this call exceeds a limit or comes before a retry_after has passed;
        otherwise count it."""
        if not is_rate_limited_method(method):
            return
        now = time.monotonic()
        # Paid broadcasts have a limit of their own: a 429 of the free one does not hold them.
        overall = (_GLOBAL, paid_broadcast)
        banned_until = max(
            self._banned_until.get(overall, 0.0), self._banned_until.get(chat_id, 0.0)
        )
        if now < banned_until:
            self.early_sends += 1
            self.rejected += 1
            self.refusals["early"] += 1
            raise too_many_requests(max(1, math.ceil(banned_until - now)))
        windows = self._applicable_windows(chat_id, paid_broadcast, method.lower())
        for window, limit in windows:
            if window.count(now) >= limit:
                self.rejected += 1
                self.refusals[self._scope_of(window, chat_id)] += 1
                scope = overall if window is self._global else chat_id
                self._banned_until[scope] = now + self.retry_after
                raise too_many_requests(self.retry_after)
        for window, _ in windows:
            window.add(now)

    def _scope_of(self, window: _SlidingWindow, chat_id: object) -> str:
        if window is self._global:
            return "overall"
        return "group" if window is self._per_group.get(chat_id) else "chat"

    def _applicable_windows(
        self, chat_id: object, paid_broadcast: bool, method: str
    ) -> list[tuple[_SlidingWindow, int]]:
        windows = []
        if self.global_per_second is not None:
            global_limit = self.global_per_second
            if paid_broadcast:
                global_limit = max(global_limit, PAID_BROADCAST_PER_SECOND)
            windows.append((self._global, global_limit))
        # Per chat Telegram limits the messages sent ("no more than one a second"), not edits.
        sends = not method.startswith("edit")
        if self.per_chat_per_second is not None and chat_id is not None and sends:
            windows.append((self._per_chat[chat_id], self.per_chat_per_second))
        if self.per_group_per_minute is not None and _is_group_id(chat_id):
            windows.append((self._per_group[chat_id], self.per_group_per_minute))
        return windows


def _is_group_id(chat_id: object) -> bool:
    return isinstance(chat_id, int) and chat_id < 0
