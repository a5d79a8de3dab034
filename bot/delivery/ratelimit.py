"""Pacing under Telegram's limits: messages per second overall, per chat, per group.

Decisions are taken when a message is released, from the times earlier messages were actually
released (or written, if later), so a stalled event loop cannot turn into a burst. Overall: at
most `per_second` releases in any window of one second plus a margin, spaced half the nominal
interval apart (a loop that woke late may catch up on CATCH_UP_S of such slots). Telegram
counts arrivals, and requests arrive with the delays of their way there: the margin is
BASE_MARGIN_S plus how much slower than usual the slowest round trip of the last seconds was
(`RoundTrips`; above FAST_RATE, their whole range), and UNSEEN_DELAY more, so the achieved
rate is 99% of the configured one on a steady network and a little less on a jittery one or
a busy machine. Per chat: one message per `per_chat_interval_s` (groups: per
`group_interval_s`, 20 a minute), with the same margin. A 429 pauses every release for its
retry_after; with a `shared` pause, the other senders pause too, and a pause any of them
recorded is honoured before each release.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import NamedTuple, Protocol

SAFETY_MARGIN = 1.02  # per chat and per group
BASE_MARGIN_S = 0.002
# The slowest round trip of the last seconds is not the slowest to come (a few hundred samples
# fall short of a wide jitter's extreme): the window allows for this much more of the delay,
# seen over UNSEEN_REFERENCE_SAMPLES round trips (5 s at 30/s); over fewer (a new sender's
# first seconds), for more of it: × √(UNSEEN_REFERENCE_SAMPLES / seen). (In proportion to
# 1/seen was safe too, but cost a 300-message broadcast 0.1–0.3 % more of its rate.)
UNSEEN_DELAY = 0.15
UNSEEN_REFERENCE_SAMPLES = 150
CATCH_UP_S = 0.005
REPLY_BURST = 10  # Telegram: "short bursts" in a chat, 1 a second on average
# Several senders are several processes, delayed independently on their way to Telegram: each
# one's window is longer by this much, so their arrivals together stay under the limit (each
# also allows for the delays of its own round trips; 0.05 s cost a fifth of two workers'
# rate). Not at a paid broadcast's rates: there each allows for the whole range of its own.
SHARED_JITTER_S = 0.02
FAST_RATE = 100.0  # messages a second (a paid broadcast's share)
# The extremes of the round trips are those of the last seconds, not of the last samples: at
# 1,000/s, 200 samples are a fifth of a second, and a stall a second ago may come again.
# (Each stall seen lengthens the window for this long: at 1,000/s, by 0.1 s costs 9%.) They
# are never those of fewer than UNSEEN_REFERENCE_SAMPLES, so that after a pause the next
# broadcast starts from the round trips seen last, not from its first answers.
EXTREMES_HORIZON_S = 5.0


class SharedPause(Protocol):
    """Pauses shared with the other senders (see delivery/shared_pause.py)."""

    def announce(self, seconds: float) -> None: ...

    async def remaining(self, *, fresh: bool = True) -> float: ...


class Release:
    """One released message. Telegram counts it when it arrives: if the request is written
    later than it was released (a busy event loop, a new connection), `written()` moves it in
    the overall window and in its chat's, so the messages after it keep their distance from
    when it really left."""

    __slots__ = ("_clock", "at")

    def __init__(self, at: float, clock: Callable[[], float]) -> None:
        self.at = at
        self._clock = clock

    def written(self) -> None:
        self.at = max(self.at, self._clock())


class RateLimiter:
    def __init__(
        self,
        per_second: float | None = 30.0,
        *,
        per_chat_interval_s: float | None = 1.0,
        group_interval_s: float | None = 3.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        shared: SharedPause | None = None,
    ) -> None:
        self._shared = shared
        self._per_second = per_second
        self._jitter_s = 0.0
        self._extreme_jitter_s = 0.0
        self._unseen = UNSEEN_DELAY
        self._workers = 1
        self._fewer_since: float | None = None
        self._window = 1.0 + BASE_MARGIN_S
        self._clock = clock
        self.share(1)
        self._chat_interval = (per_chat_interval_s or 0.0) * SAFETY_MARGIN
        self._group_interval = (group_interval_s or 0.0) * SAFETY_MARGIN
        self._sleep = sleep
        self._released: deque[Release] = deque()
        self._next_slot = -math.inf
        # The last REPLY_BURST releases of each chat, and its last delivery: times as written.
        self._recent_by_chat: dict[int, deque[Release]] = {}
        self._last_delivery_by_chat: dict[int, Release] = {}
        self._paused_until = -math.inf
        self._deliveries_held_until = -math.inf
        self._releases = 0
        self._urgent: dict[object, int | None] = {}  # waiting replies → chat (None: edits)
        # Deliveries waiting for the overall budget, first come first served, and their pacer.
        self._line: deque[tuple[asyncio.Future[Release | None], int, bool]] = deque()
        self._pacer: asyncio.Task | None = None

    @property
    def rate(self) -> float | None:
        """This sender's messages per second (its share of the overall limit); None: no limit."""
        return self._rate

    @property
    def workers(self) -> int:
        """The senders this one shares the overall limit with (itself included)."""
        return self._workers

    def share(self, workers: int) -> None:
        """Several senders share the bot's overall limit: this one gets 1/workers of it. When
        others stop, this one takes their part a window later: their last messages still count
        at Telegram until then."""
        workers = max(1, workers)
        if workers < self._workers:
            now = self._clock()
            if self._fewer_since is None:
                self._fewer_since = now
            if now - self._fewer_since < self._window:
                return
        self._fewer_since = None
        self._workers = workers
        rate = self._per_second / self._workers if self._per_second else None
        self._rate = rate
        self._per_window = max(1, math.floor(rate)) if rate else None
        self._min_spacing = 0.5 / rate if rate else 0.0
        self._set_window()

    def allow_for_jitter(
        self,
        arrival_jitter_s: float,
        extreme_s: float | None = None,
        unseen: float = UNSEEN_DELAY,
    ) -> None:
        """How much later than others a request released now may reach Telegram: usually
        (`arrival_jitter_s`), and at the extremes (`extreme_s`), as seen; `unseen`: the part
        of either to add for the delays not seen yet."""
        self._jitter_s = max(0.0, arrival_jitter_s)
        self._extreme_jitter_s = max(self._jitter_s, extreme_s or 0.0)
        self._unseen = unseen
        self._set_window()

    def _set_window(self) -> None:
        # At hundreds a second, hundreds of pairs of messages a second test the margin: the
        # fastest arrivals meet the slowest, and the whole range decides. It covers the delays
        # of this sender's requests whatever the others' are: its share stays its share in
        # any second at Telegram, with no margin for the others.
        fast = self._rate is not None and self._rate > FAST_RATE
        shared = SHARED_JITTER_S if self._workers > 1 and not fast else 0.0
        jitter = self._extreme_jitter_s if fast else self._jitter_s
        self._window = 1.0 + BASE_MARGIN_S + shared + jitter * (1 + self._unseen)

    async def wait_turn(
        self, chat_id: int, *, urgent: bool = False, in_chat_limit: bool = True
    ) -> Release:
        """Until this message may go; returns its `Release`. An `urgent` one (a reply to a
        person) goes before the others waiting (deliveries), which let it take the next turn.
        Without `in_chat_limit` (a screen edited in place as its reader presses its buttons)
        only the overall limit applies, and the chat's count is left as it was: Telegram limits
        the messages sent to a chat, and the reader sets the pace of the edits."""
        if not urgent:
            return await self._wait_turn(chat_id, urgent=False, in_chat_limit=in_chat_limit)
        token = object()
        self._urgent[token] = chat_id if in_chat_limit else None
        try:
            return await self._wait_turn(chat_id, urgent=True, in_chat_limit=in_chat_limit)
        finally:
            del self._urgent[token]

    async def _wait_turn(self, chat_id: int, *, urgent: bool, in_chat_limit: bool) -> Release:
        if urgent:
            released = await self._wait_release(chat_id, urgent=True, in_chat_limit=in_chat_limit)
            assert released is not None  # only a delivery leaves the line
            return released
        # Deliveries wait for their chat apart, then in one line for the overall budget, paced
        # by one task: waking every waiter at every release would cost a thousand a second
        # their CPU, and handing a lock from one to the next a turn of the loop each. One whose
        # chat is not ready by its turn waits for it again.
        while True:
            if in_chat_limit:
                await self._wait_for_chat(chat_id)
            turn: asyncio.Future[Release | None] = asyncio.get_running_loop().create_future()
            self._line.append((turn, chat_id, in_chat_limit))
            if self._pacer is None or self._pacer.done():
                self._pacer = asyncio.get_running_loop().create_task(self._pace())
            released = await turn
            if released is not None:
                return released

    async def _pace(self) -> None:
        """Releases the deliveries in line, first come first served."""
        try:
            while self._line:
                turn, chat_id, in_chat_limit = self._line[0]
                if turn.done():  # its waiter was cancelled
                    self._line.popleft()
                    continue
                released = await self._wait_release(
                    chat_id, urgent=False, in_chat_limit=in_chat_limit, leave_for_chat=True
                )
                self._line.popleft()
                if not turn.done():
                    turn.set_result(released)
        except BaseException as error:
            failure = error if isinstance(error, Exception) else asyncio.CancelledError()
            for waiting, _, _ in self._line:
                if not waiting.done():
                    waiting.set_exception(failure)
            self._line.clear()
            raise

    async def _wait_for_chat(self, chat_id: int) -> None:
        while True:
            now = self._clock()
            ready = self._chat_ready_at(chat_id, urgent=False)
            if ready <= now:
                return
            await self._sleep(ready - now)

    async def _wait_release(
        self, chat_id: int, *, urgent: bool, in_chat_limit: bool, leave_for_chat: bool = False
    ) -> Release | None:
        """Until this message is released, or, with `leave_for_chat`, until its chat turns out
        not to be ready (None: it leaves the line)."""
        while True:
            now = self._clock()
            chat_busy = in_chat_limit and self._chat_ready_at(chat_id, urgent=False) > now
            if leave_for_chat and chat_busy:
                return None
            ready = self._ready_at(chat_id, now, urgent=urgent, in_chat_limit=in_chat_limit)
            if now < ready:
                await self._sleep(ready - now)
                continue
            if not urgent and self._urgent_ready(now):
                await self._sleep(max(self._min_spacing, 0.001))
                continue
            if self._shared is not None:
                # A reply, or the only sender, does not wait for the database: the pause known
                # now applies (another process's 429 is read in the background meanwhile).
                remaining = await self._shared.remaining(fresh=not urgent and self._workers > 1)
                if remaining > 0:
                    self._pause_here(remaining)
                    continue
                now = self._clock()  # another waiter may have been released meanwhile
                if self._ready_at(chat_id, now, urgent=urgent, in_chat_limit=in_chat_limit) > now:
                    continue
            return self._release(chat_id, now, in_chat=in_chat_limit, delivery=not urgent)

    def _urgent_ready(self, now: float) -> bool:
        """A reply is waiting only for the overall budget (not for its chat's interval)."""
        return any(
            chat is None or self._chat_ready_at(chat, urgent=True) <= now
            for chat in self._urgent.values()
        )

    def pause(self, seconds: float) -> None:
        """Telegram said 429: nothing goes out for `seconds`, from any sender sharing it."""
        self._pause_here(seconds)
        if self._shared is not None:
            self._shared.announce(seconds)

    @property
    def deliveries_held_until(self) -> float:
        return self._deliveries_held_until

    def hold_deliveries(self, seconds: float) -> None:
        """No delivery from this sender for `seconds` (replies still go)."""
        self._deliveries_held_until = max(self._deliveries_held_until, self._clock() + seconds)

    def _pause_here(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _chat_ready_at(self, chat_id: int, *, urgent: bool) -> float:
        """Deliveries: one per interval. Replies: the short bursts Telegram allows in a chat
        (REPLY_BURST within as many intervals), so an edit and a message answer one press."""
        interval = self._group_interval if chat_id < 0 else self._chat_interval
        recent = self._recent_by_chat.get(chat_id)
        if not interval or not recent:
            return -math.inf
        last_delivery = self._last_delivery_by_chat.get(chat_id)
        delivered = (last_delivery.at if last_delivery else -math.inf) + interval
        if not urgent:
            return recent[-1].at + interval
        # Replies may come in a short burst, but not on top of a delivery just sent.
        if len(recent) < REPLY_BURST:
            return delivered
        return max(delivered, recent[0].at + interval * REPLY_BURST)

    def _ready_at(
        self, chat_id: int, now: float, *, urgent: bool = False, in_chat_limit: bool = True
    ) -> float:
        ready = max(self._paused_until, self._next_slot)
        if not urgent:
            ready = max(ready, self._deliveries_held_until)
        if in_chat_limit:
            ready = max(ready, self._chat_ready_at(chat_id, urgent=urgent))
        if self._per_window is not None:
            # Written later than released, a message may be newer than the one after it: the
            # oldest is then newer than it could be, which only makes the wait longer.
            while self._released and self._released[0].at <= now - self._window:
                self._released.popleft()
            if len(self._released) >= self._per_window:
                ready = max(ready, self._released[0].at + self._window)
        return ready

    def _release(
        self, chat_id: int, now: float, *, in_chat: bool = True, delivery: bool = False
    ) -> Release:
        # The next message's slot; a loop that woke late may catch up on CATCH_UP_S of slots.
        self._next_slot = max(self._next_slot, now - CATCH_UP_S) + self._min_spacing
        release = Release(now, self._clock)
        if self._per_window is not None:
            self._released.append(release)
        if in_chat and (self._chat_interval or self._group_interval):
            recent = self._recent_by_chat.get(chat_id)
            if recent is None:
                recent = self._recent_by_chat[chat_id] = deque(maxlen=REPLY_BURST)
            recent.append(release)
            if delivery:
                self._last_delivery_by_chat[chat_id] = release
        self._releases += 1
        if self._releases % 1000 == 0:
            horizon = now - max(self._chat_interval, self._group_interval) * REPLY_BURST
            self._recent_by_chat = {
                c: times for c, times in self._recent_by_chat.items() if times[-1].at > horizon
            }
            self._last_delivery_by_chat = {
                c: last for c, last in self._last_delivery_by_chat.items() if last.at > horizon
            }
        return release


def is_message_method(endpoint: str) -> bool:
    """Bot API methods Telegram counts against the message limits: sending, editing, copying
    and forwarding messages (not answers to button presses, chat actions or queries)."""
    lowered = endpoint.lower()
    if lowered == "sendchataction":
        return False
    return lowered.startswith(("send", "edit", "copymessage", "forwardmessage"))


class _Extreme(NamedTuple):
    number: int  # of the round trips observed, this one's
    when: float
    seconds: float


class RoundTrips:
    """Round trips of the last requests, from when each was written: how many must be in
    flight to keep a rate, and how much later than others a request may arrive. Usually: as
    much as the slowest round trip of the last EXTREMES_HORIZON_S took beyond the median (a
    stall on the way there, or on Telegram's side, delays the arrival as much as the answer;
    an even jitter splits between the way there and back, and the slowest is then about as
    far above the median as an arrival can be late). At the extremes: their whole range.
    With `unseen`, the part of either to add for what is not seen yet."""

    def __init__(
        self,
        initial_s: float = 0.1,
        samples: int = 200,
        every: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._samples: deque[float] = deque(maxlen=samples)
        self._every = every
        self._clock = clock
        self._observed = 0
        self._typical_s = initial_s
        self._late_s = 0.0
        self._range_s = 0.0
        # Over EXTREMES_HORIZON_S (and at least the last UNSEEN_REFERENCE_SAMPLES), the
        # slowest and the fastest still in reach: each entry is slower (faster) than those
        # after it, the first is the extreme.
        self._slowest: deque[_Extreme] = deque()
        self._fastest: deque[_Extreme] = deque()
        self._listeners: list[Callable[[float, float, float], None]] = []

    def on_change(self, listener: Callable[[float, float, float], None]) -> None:
        """`listener(arrival_jitter_s, extreme_jitter_s, unseen)` after each new estimate."""
        self._listeners.append(listener)

    def observe(self, seconds: float) -> None:
        self._samples.append(seconds)
        self._observed += 1
        self._track_extremes(self._clock(), seconds)
        if self._observed % self._every == 0 or self._observed < UNSEEN_REFERENCE_SAMPLES:
            self._estimate()

    @property
    def typical_s(self) -> float:
        """The 90th percentile of the recent round trips."""
        return self._typical_s

    @property
    def arrival_jitter_s(self) -> float:
        """The slowest round trip of the last EXTREMES_HORIZON_S beyond the median of the
        recent ones."""
        return self._late_s

    @property
    def extreme_jitter_s(self) -> float:
        """The whole range of the round trips of the last EXTREMES_HORIZON_S."""
        return self._range_s

    @property
    def unseen(self) -> float:
        """The part of the delays seen to allow for the delays not seen yet: UNSEEN_DELAY,
        more while fewer than UNSEEN_REFERENCE_SAMPLES round trips were seen (a new sender's
        first seconds: its first thirty fall short of the slowest to come by far more)."""
        seen = min(max(self._observed, 1), UNSEEN_REFERENCE_SAMPLES)
        return UNSEEN_DELAY * math.sqrt(UNSEEN_REFERENCE_SAMPLES / seen)

    def in_flight_for(self, rate: float | None, *, minimum: int, maximum: int) -> int:
        """Requests in flight that keep `rate` with the typical round trip, twice over (the
        slow ones, and commits between them)."""
        if rate is None:
            return maximum
        return max(minimum, min(maximum, math.ceil(rate * self._typical_s * 2)))

    def _track_extremes(self, now: float, seconds: float) -> None:
        slowest, fastest = self._slowest, self._fastest
        sample = _Extreme(self._observed, now, seconds)
        while slowest and slowest[-1].seconds <= seconds:
            slowest.pop()
        slowest.append(sample)
        while fastest and fastest[-1].seconds >= seconds:
            fastest.pop()
        fastest.append(sample)
        horizon = now - EXTREMES_HORIZON_S
        oldest_kept = sample.number - UNSEEN_REFERENCE_SAMPLES
        for extremes in (slowest, fastest):
            while extremes[0].when < horizon and extremes[0].number <= oldest_kept:
                extremes.popleft()

    def _estimate(self) -> None:
        ordered = sorted(self._samples)
        last = len(ordered) - 1
        self._typical_s = ordered[round(last * 0.9)]
        self._late_s = max(0.0, self._slowest[0].seconds - ordered[last // 2])
        self._range_s = self._slowest[0].seconds - self._fastest[0].seconds
        for listener in self._listeners:
            listener(self.arrival_jitter_s, self.extreme_jitter_s, self.unseen)
