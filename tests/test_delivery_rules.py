"""Pure rules of the delivery engine: pacing, timing, grouping, error decisions."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
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

from bot.delivery.outcomes import Verdict, backoff, decide
from bot.delivery.planning import plan_jobs
from bot.delivery.ratelimit import (
    BASE_MARGIN_S,
    EXTREMES_HORIZON_S,
    SAFETY_MARGIN,
    SHARED_JITTER_S,
    UNSEEN_DELAY,
    RateLimiter,
    RoundTrips,
)
from bot.delivery.transport import (
    AnswerLost,
    AnswerTimedOut,
    ConnectTimedOut,
    NotSent,
    UnexpectedAnswer,
)
from bot.services import timing
from bot.services.outbox import Claimed


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def arrivals_in_any_window(times: list[float], window: float = 1.0) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


async def test_global_rate_never_exceeds_the_limit_in_any_second():
    clock = FakeTime()
    limiter = RateLimiter(30, clock=clock, sleep=clock.sleep)
    released = []
    for chat in range(300):
        await limiter.wait_turn(chat)
        released.append(clock.now)
    assert arrivals_in_any_window(released) <= 30
    steady_rate = (len(released) - 30) / (released[-1] - released[29])
    assert 0.97 * 30 <= steady_rate <= 30


async def test_a_stalled_loop_does_not_turn_into_a_burst():
    clock = FakeTime()
    limiter = RateLimiter(30, clock=clock, sleep=clock.sleep)
    released = []
    for chat in range(60):
        if chat == 20:
            clock.now += 0.8  # the event loop was busy elsewhere
        await limiter.wait_turn(chat)
        released.append(clock.now)
    assert arrivals_in_any_window(released) <= 30


async def test_one_private_chat_gets_at_most_one_message_a_second():
    clock = FakeTime()
    limiter = RateLimiter(None, per_chat_interval_s=1.0, clock=clock, sleep=clock.sleep)
    released = []
    for chat in (7, 7, 7):
        await limiter.wait_turn(chat)
        released.append(clock.now)
    assert released == pytest.approx([100.0, 101.02, 102.04])
    await limiter.wait_turn(8)
    assert clock.now == pytest.approx(102.04)  # another chat goes at once


async def test_groups_get_at_most_twenty_messages_a_minute():
    clock = FakeTime()
    limiter = RateLimiter(None, group_interval_s=3.0, clock=clock, sleep=clock.sleep)
    released = []
    for _ in range(21):
        await limiter.wait_turn(-1001)
        released.append(clock.now)
    assert released[-1] - released[0] == pytest.approx(60.0 * SAFETY_MARGIN)


async def test_a_429_pauses_everything_for_retry_after():
    clock = FakeTime()
    limiter = RateLimiter(30, clock=clock, sleep=clock.sleep)
    limiter.pause(5)
    await limiter.wait_turn(1)
    assert clock.now == pytest.approx(105.0)


def test_decisions_for_telegram_errors():
    args = {"max_attempts": 5, "base_s": 2.0, "cap_s": 600.0}
    assert decide(RetryAfter(7), 0, **args).verdict is Verdict.RETRY_AFTER
    assert decide(RetryAfter(7), 0, **args).wait_s == 7
    assert (
        decide(Forbidden("Forbidden: bot was blocked by the user"), 0, **args).verdict
        is Verdict.BLOCKED
    )
    assert decide(BadRequest("Chat not found"), 0, **args).verdict is Verdict.GONE
    assert decide(BadRequest("Message is too long"), 0, **args).verdict is Verdict.FAILED
    migrated = decide(ChatMigrated(-100123), 0, **args)
    assert (migrated.verdict, migrated.new_chat_id) == (Verdict.MIGRATED, -100123)
    assert decide(NetworkError("Bad Gateway"), 0, **args).verdict is Verdict.RETRY
    assert decide(NetworkError("Bad Gateway"), 4, **args).verdict is Verdict.FAILED


def test_what_proves_nothing_was_sent_is_retried_and_what_may_have_been_sent_is_in_doubt():
    args = {"max_attempts": 5, "base_s": 2.0, "cap_s": 600.0}
    for not_sent in (NotSent("connection refused"), ConnectTimedOut("connect timeout")):
        assert decide(not_sent, 0, **args).verdict is Verdict.RETRY
        assert decide(not_sent, 4, **args).verdict is Verdict.FAILED
    assert decide(NetworkError("Internal Server Error"), 0, **args).verdict is Verdict.RETRY
    maybe_sent = [
        AnswerLost("connection dropped"),
        AnswerTimedOut("read timeout"),
        TimedOut(),  # a timeout that does not say when it struck
        UnexpectedAnswer(200, b"<html>proxy</html>"),
        TelegramError("Invalid server response"),
        KeyError("result"),
    ]
    for error in maybe_sent:
        decision = decide(error, 0, **args)
        assert decision.verdict is Verdict.IN_DOUBT, error
        assert decision.reason
    refused = decide(UnexpectedAnswer(413, b"<html>Request Entity Too Large</html>"), 0, **args)
    assert refused.verdict is Verdict.FAILED and "413" in refused.reason
    assert decide(InvalidToken("Unauthorized"), 0, **args).verdict is Verdict.UNAUTHORIZED


def test_backoff_doubles_up_to_the_cap():
    assert [backoff(n, 2.0, 20.0) for n in range(5)] == [2.0, 4.0, 8.0, 16.0, 20.0]


ROME_23 = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)  # 23:00 in Rome


@pytest.mark.parametrize(
    ("moment", "start", "end", "quiet"),
    [
        (ROME_23, 22, 7, True),
        (ROME_23 + timedelta(hours=8), 22, 7, False),  # 07:00
        (ROME_23 + timedelta(hours=7), 22, 7, True),  # 06:00
        (ROME_23, 13, 15, False),
        (ROME_23, None, None, False),
        (ROME_23, 8, 8, False),
    ],
)
def test_quiet_hours_in_rome_time(moment, start, end, quiet):
    assert timing.in_quiet_hours(moment, start, end) is quiet


def test_quiet_hours_end_keeps_the_wall_clock_across_daylight_saving():
    # Night of 24-25 October 2026: clocks go back at 03:00 CEST.
    moment = datetime(2026, 10, 24, 21, 30, tzinfo=UTC)  # 23:30 CEST
    end = timing.end_of_quiet_hours(moment, 22, 7)
    assert end == datetime(2026, 10, 25, 6, 0, tzinfo=UTC)  # 07:00 CET


def test_digest_times():
    saturday_10 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    assert timing.next_digest_time(saturday_10, "instant", 8) is None
    assert timing.next_digest_time(saturday_10, "daily", 8) == datetime(
        2026, 11, 29, 7, 0, tzinfo=UTC
    )
    assert timing.next_digest_time(saturday_10, "daily", 18) == datetime(
        2026, 11, 28, 17, 0, tzinfo=UTC
    )
    monday_8 = timing.next_digest_time(saturday_10, "weekly", 8, weekday=0)
    assert monday_8 == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def claimed(delivery_id, subscriber_id, held=False):
    return Claimed(delivery_id, delivery_id, subscriber_id, subscriber_id, "it", held, 0)


def test_plan_groups_bursts_and_digests_and_interleaves_recipients():
    items = [claimed(i, 1) for i in range(1, 6)]  # five at once for subscriber 1
    items += [claimed(10, 2), claimed(11, 2)]  # two for subscriber 2
    items += [claimed(20, 3, held=True), claimed(21, 3, held=True)]
    jobs = plan_jobs(items, group_above=3)
    summary = [(job.subscriber_id, len(job.deliveries), job.grouped, job.digest) for job in jobs]
    assert summary == [
        (1, 5, True, False),
        (2, 1, False, False),
        (3, 2, True, True),
        (2, 1, False, False),
    ]


class FakeSharedPause:
    """What the other senders recorded, as the limiter sees it."""

    def __init__(self, clock: FakeTime) -> None:
        self.clock = clock
        self.until = 0.0
        self.announced: list[float] = []

    def announce(self, seconds: float) -> None:
        self.announced.append(seconds)

    async def remaining(self, *, fresh: bool = True) -> float:
        return max(0.0, self.until - self.clock.now)


async def test_a_pause_another_sender_recorded_holds_back_every_release():
    clock = FakeTime()
    shared = FakeSharedPause(clock)
    limiter = RateLimiter(30, clock=clock, sleep=clock.sleep, shared=shared)
    await limiter.wait_turn(1)
    shared.until = clock.now + 40  # another sender got a 429 with retry_after 40
    await limiter.wait_turn(2)
    assert clock.now == pytest.approx(140.0)
    limiter.pause(7)  # a 429 here: the others are told
    assert shared.announced == [7]


def test_two_senders_each_keep_a_margin_for_independent_delays():
    clock = FakeTime()
    limiter = RateLimiter(30, clock=clock, sleep=clock.sleep)
    limiter.share(2)
    assert limiter._per_window == 15 and limiter._window > 1.0 + BASE_MARGIN_S
    assert limiter.rate == 15
    clock.now += 2
    limiter.share(1)
    clock.now += 2
    limiter.share(1)
    assert limiter._window == 1.0 + BASE_MARGIN_S


async def test_arrivals_spread_by_jitter_stay_within_the_limit():
    """Round trips of 30–80 ms: a request may reach Telegram up to 25 ms later than one
    released just after it; the window allows for the spread the round trips show."""
    clock = FakeTime()
    limiter = RateLimiter(30, clock=clock, sleep=clock.sleep)
    round_trips = RoundTrips()
    round_trips.on_change(limiter.allow_for_jitter)
    rng = random.Random(7)
    for _ in range(200):
        round_trips.observe(rng.uniform(0.030, 0.080))
    arrivals = []
    for chat in range(300):
        await limiter.wait_turn(chat)
        arrivals.append(clock.now + rng.uniform(0.015, 0.040))  # the way there: half
    assert arrivals_in_any_window(sorted(arrivals)) <= 30
    achieved = 299 / (clock.now - 100.0)
    assert achieved >= 30 * 0.97


async def send_at_the_limit(
    limiter: RateLimiter, round_trips: RoundTrips, clock: FakeTime, rng, count: int
) -> list[float]:
    """`count` messages over round trips of 30–80 ms (each way 15–40 ms), each round trip
    observed when its answer comes back; returns when each reached Telegram."""
    answers: list[tuple[float, float]] = []
    arrivals = []
    for chat in range(count):
        release = await limiter.wait_turn(chat)
        for _answered, seconds in sorted(a for a in answers if a[0] <= clock.now):
            round_trips.observe(seconds)
        answers = [a for a in answers if a[0] > clock.now]
        there, back = rng.uniform(0.015, 0.040), rng.uniform(0.015, 0.040)
        arrivals.append(release.at + there)
        answers.append((release.at + there + back, there + back))
    return arrivals


@pytest.mark.parametrize("seed", range(8))
async def test_a_new_sender_on_a_jittery_network_keeps_to_the_limit_from_its_first_second(seed):
    """A sender that has seen no round trip yet learns their spread from the first answers:
    by the thirty-first message, a second after the first, it has seen about thirty, whose
    slowest falls short of the slowest to come by more than later. It allows for more of the
    delay not yet seen while it has seen fewer round trips."""
    clock = FakeTime()
    limiter = RateLimiter(30, clock=clock, sleep=clock.sleep)
    round_trips = RoundTrips(clock=clock)
    round_trips.on_change(limiter.allow_for_jitter)
    arrivals = await send_at_the_limit(limiter, round_trips, clock, random.Random(seed), 120)
    assert arrivals_in_any_window(sorted(arrivals)) <= 30


@pytest.mark.parametrize("seed", range(8))
async def test_after_a_pause_a_sender_still_allows_for_the_round_trips_it_saw(seed):
    """Between two broadcasts the sender is idle for longer than EXTREMES_HORIZON_S: the next
    one starts from the extremes of the last round trips it saw, not from its first answers."""
    clock = FakeTime()
    limiter = RateLimiter(30, clock=clock, sleep=clock.sleep)
    round_trips = RoundTrips(clock=clock)
    round_trips.on_change(limiter.allow_for_jitter)
    rng = random.Random(seed)
    await send_at_the_limit(limiter, round_trips, clock, rng, 300)
    clock.now += 60
    arrivals = await send_at_the_limit(limiter, round_trips, clock, rng, 120)
    assert arrivals_in_any_window(sorted(arrivals)) <= 30


async def test_arrivals_delayed_by_rare_stalls_stay_within_the_limit():
    """A loaded machine: one request in fifty is held up 12 ms on its way to Telegram (the
    round trip shows it). Sending at the limit, every message is a second plus the margin
    after the thirtieth before it, so each stall that exceeds the margin is a 429: the
    window allows for the slowest recent round trip, not only for their usual spread."""
    clock = FakeTime()
    limiter = RateLimiter(30, clock=clock, sleep=clock.sleep)
    round_trips = RoundTrips(clock=clock)
    round_trips.on_change(limiter.allow_for_jitter)
    rng = random.Random(3)

    def stall() -> float:
        return 0.012 if rng.random() < 0.02 else rng.uniform(0.0, 0.001)

    for _ in range(200):
        clock.now += 0.033
        round_trips.observe(0.050 + stall())
    arrivals = []
    start = clock.now
    for chat in range(600):
        await limiter.wait_turn(chat)
        delay = stall()
        arrivals.append(clock.now + 0.025 + delay)  # the stall is on the way there
        round_trips.observe(0.050 + delay)
    assert arrivals_in_any_window(sorted(arrivals)) <= 30
    achieved = 599 / (clock.now - start)
    assert achieved >= 30 * 0.97


def test_in_flight_follows_rate_times_round_trip():
    round_trips = RoundTrips(initial_s=0.05)
    assert round_trips.in_flight_for(1000, minimum=8, maximum=256) == 100
    assert round_trips.in_flight_for(30, minimum=8, maximum=256) == 8
    assert round_trips.in_flight_for(None, minimum=8, maximum=256) == 256
    for _ in range(200):
        round_trips.observe(0.5)
    assert round_trips.in_flight_for(1000, minimum=8, maximum=256) == 256


async def test_deliveries_wait_in_line_and_only_the_first_watches_the_clock():
    """A paid broadcast has a hundred deliveries waiting at once: waking them all at every
    release would spend the sender's CPU on waiting."""
    sleeps = 0

    async def counted_sleep(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        await asyncio.sleep(seconds)

    limiter = RateLimiter(1000, sleep=counted_sleep)
    released: list[int] = []

    async def deliver(chat: int) -> None:
        await limiter.wait_turn(chat)
        released.append(chat)

    await asyncio.gather(*(deliver(chat) for chat in range(300)))
    assert released == list(range(300))  # first come, first served
    assert sleeps < 3 * len(released)


async def test_a_delivery_whose_chat_is_not_ready_does_not_hold_up_the_line():
    limiter = RateLimiter(1000)
    await limiter.wait_turn(1)  # chat 1 may have its next message a second from now
    released: list[int] = []

    async def deliver(chat: int) -> None:
        await limiter.wait_turn(chat)
        released.append(chat)

    second_to_chat_1 = asyncio.create_task(deliver(1))
    await asyncio.sleep(0)
    await asyncio.gather(*(deliver(chat) for chat in range(2, 50)))
    await second_to_chat_1
    assert released == [*range(2, 50), 1]  # the others went while chat 1 waited its second


async def test_a_message_written_late_counts_from_when_it_left():
    """Telegram counts arrivals: a request that left 0.3 s after its release (a busy event
    loop) must not let the thirty after it arrive within one second of it."""
    clock = FakeTime()
    limiter = RateLimiter(30, clock=clock, sleep=clock.sleep)
    late = await limiter.wait_turn(0)
    left = [clock.now + 0.3]
    clock.now += 0.3
    late.written()
    for chat in range(1, 61):
        await limiter.wait_turn(chat)
        left.append(clock.now)
    assert arrivals_in_any_window(sorted(left)) <= 30


def test_a_paid_broadcast_allows_for_the_extremes_of_the_round_trips():
    """At 30/s a message may arrive as much later than the others as the slowest round trip
    took beyond the usual one; at 1,000/s a thousand pairs of messages a second meet the
    fastest arrivals too: the window allows for the whole range (a stall on Telegram's side
    delays the arrival as much as the answer)."""
    round_trips = RoundTrips()
    free, paid = RateLimiter(30), RateLimiter(1000)
    for limiter in (free, paid):
        round_trips.on_change(limiter.allow_for_jitter)
    for index in range(200):
        round_trips.observe(0.120 if index % 100 == 0 else 0.040 + index % 2 * 0.020)
    assert free._window == pytest.approx(1.0 + BASE_MARGIN_S + 0.060 * (1 + UNSEEN_DELAY))
    assert paid._window == pytest.approx(1.0 + BASE_MARGIN_S + 0.080 * (1 + UNSEEN_DELAY))


def test_senders_sharing_a_paid_broadcast_allow_for_their_own_extremes_only():
    """At 30/s each of two senders leaves room for the other's delays; at a paid broadcast's
    rates each already allows for the whole range of its own round trips, so its share stays
    its share in any second at Telegram."""
    free, paid = RateLimiter(30), RateLimiter(1000)
    for limiter in (free, paid):
        limiter.share(2)
        limiter.allow_for_jitter(0.010, 0.050)
    assert free._window == pytest.approx(
        1.0 + BASE_MARGIN_S + SHARED_JITTER_S + 0.010 * (1 + UNSEEN_DELAY)
    )
    assert paid._window == pytest.approx(1.0 + BASE_MARGIN_S + 0.050 * (1 + UNSEEN_DELAY))


def test_a_paid_broadcast_remembers_a_slow_round_trip_for_seconds():
    """At 1,000/s the last 200 round trips are a fifth of a second: a stall (the way there,
    or Telegram's side, slow for a moment) seen a second ago may come again, and the window
    still allows for it."""
    clock = FakeTime()
    round_trips = RoundTrips(clock=clock)
    paid = RateLimiter(1000)
    round_trips.on_change(paid.allow_for_jitter)
    round_trips.observe(0.150)
    for _ in range(1000):
        clock.now += 0.001
        round_trips.observe(0.050)
    assert paid._window == pytest.approx(1.0 + BASE_MARGIN_S + 0.100 * (1 + UNSEEN_DELAY))
    clock.now += EXTREMES_HORIZON_S
    for _ in range(20):
        round_trips.observe(0.050)
    assert paid._window == pytest.approx(1.0 + BASE_MARGIN_S)


def test_a_sender_takes_over_the_rate_of_one_that_stopped_a_window_later():
    """The stopped sender's last messages still count at Telegram for a window."""
    clock = FakeTime()
    limiter = RateLimiter(1000, clock=clock, sleep=clock.sleep)
    limiter.share(2)
    assert limiter.rate == 500
    limiter.share(1)
    assert limiter.rate == 500
    clock.now += 1.1
    limiter.share(1)
    assert limiter.rate == 1000
    limiter.share(2)  # one more: its share at once
    assert limiter.rate == 500


async def test_a_delivery_written_late_keeps_its_chat_a_second_from_when_it_left():
    """A reply to the person right after (they pressed 👍 at once) must not reach them less
    than a second after the delivery did."""
    clock = FakeTime()
    limiter = RateLimiter(30, clock=clock, sleep=clock.sleep)
    delivery = await limiter.wait_turn(7)
    clock.now += 0.05
    delivery.written()
    left = clock.now
    await limiter.wait_turn(7, urgent=True)
    assert clock.now - left >= 1.0
