"""The sender: claims due deliveries, renders them, paces them under Telegram's limits,
sends them and records every outcome. Several senders can share a PostgreSQL database:
see services/workers.py for ownership, recovery and the shared rate."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import BadRequest, InvalidToken

from bot.db.engine import Database
from bot.db.models import DeliveryState, Notification, utcnow
from bot.delivery import outcomes, render
from bot.delivery.outcomes import Verdict
from bot.delivery.planning import Job, plan_jobs
from bot.delivery.ratelimit import RateLimiter, RoundTrips
from bot.delivery.shared_pause import DATABASE_UNAVAILABLE, SharedPause, describe
from bot.delivery.transport import PreparedCall, UnexpectedAnswer, post_prepared
from bot.i18n import use_locale
from bot.metrics import Metrics
from bot.services import outbox, subscriptions, workers
from bot.services.outbox import Outcome
from bot.telegram_errors import is_unusable_file

log = logging.getLogger(__name__)

PAID_BROADCAST_PER_SECOND = 1000.0
_T = TypeVar("_T")
MARK_HEARTBEAT_EVERY_S = 0.25
JOIN_DELAY_S = 1.5 * MARK_HEARTBEAT_EVERY_S
SHARED_CLAIM_S = 0.5  # seconds of sending per claim, when several senders share the rate
OUTAGE_RETRY_CAP_S = 10.0  # while the database is unavailable, try again at least this often


@dataclass(frozen=True)
class SenderConfig:
    messages_per_second: float | None = 30.0  # None: no global limit (benchmarks only)
    per_chat_interval_s: float | None = 1.0
    group_interval_s: float | None = 3.0  # 20 messages a minute to a group
    paid_broadcast: bool = False
    batch_size: int = 500
    # Deliveries in flight at once follow rate × measured round trip, within these bounds; it
    # is also the write-ahead window: a crash (kill -9) leaves in doubt at most this many and
    # as many outcomes not yet written (sending waits for the commit beyond that).
    min_in_flight: int = 8
    max_in_flight: int = 256
    commit_interval_s: float = 0.1
    max_attempts: int = 5
    retry_base_s: float = 2.0
    retry_cap_s: float = 600.0
    group_above: int = 3
    idle_sleep_s: float = 1.0
    connect_timeout_s: float = 5.0
    # How long an answer may take once the request is written; then the delivery is in doubt
    # (Telegram may have shown it) and is not sent again.
    read_timeout_s: float = 10.0
    token_probe_s: float = 30.0  # after a 401, getMe this often until the token works again
    restart_delay_s: float = 1.0  # a sender that ended unexpectedly starts again after this
    public_url: str | None = None  # PUBLIC_URL: monitoring changes link to their public page

    def limiter(self, shared: SharedPause | None = None) -> RateLimiter:
        rate = PAID_BROADCAST_PER_SECOND if self.paid_broadcast else self.messages_per_second
        return RateLimiter(
            rate,
            per_chat_interval_s=self.per_chat_interval_s,
            group_interval_s=self.group_interval_s,
            shared=shared,
        )


@dataclass
class _Effect:
    """A change to a subscriber caused by Telegram's answer."""

    subscriber_id: int
    verdict: Verdict
    new_chat_id: int | None = None


async def _apply_effect(session, effect: _Effect) -> None:
    if effect.verdict is Verdict.MIGRATED:
        if effect.new_chat_id is None:  # Telegram's ChatMigrated always carries it
            raise ValueError("a chat migration without the new chat id")
        await subscriptions.move_chat(session, effect.subscriber_id, effect.new_chat_id)
        return
    await subscriptions.deactivate(session, effect.subscriber_id)
    await outbox.skip_pending_for(session, effect.subscriber_id, reason=effect.verdict.value)


class Sender:
    def __init__(
        self,
        db: Database,
        bot: Bot,
        config: SenderConfig | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        worker_id: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.bot = bot
        self.config = config or SenderConfig()
        self.clock = clock
        self.worker_id = worker_id or workers.new_worker_id()
        self.limiter = self.config.limiter(SharedPause(db))
        self.round_trips = RoundTrips()
        self.round_trips.on_change(self.limiter.allow_for_jitter)
        self.metrics = metrics
        self._wake = asyncio.Event()
        self._texts: dict[tuple[int, str], render.Rendered] = {}
        self._stop: asyncio.Event | None = None
        # What a failed round leaves to be written once the database answers again: outcomes
        # known but not recorded, and the deliveries whose requests went out unanswered.
        self._unwritten: tuple[list[Outcome], list[_Effect]] = ([], [])
        self._attempted: set[int] = set()
        self._heartbeat_at = -math.inf  # monotonic
        self._handled = 0  # deliveries handled by the current round
        # Monotonic time of the last 401 or getMe probe while Telegram refuses the token.
        self._token_refused_at: float | None = None

    def wake(self) -> None:
        """New notifications are waiting: don't sleep until the next poll."""
        self._wake.set()

    @property
    def token_refused(self) -> bool:
        """Telegram answered 401 Unauthorized: nothing is sent until getMe works again."""
        return self._token_refused_at is not None

    def _refuse_token(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.token_refused.inc()
            self.metrics.sending_stopped.set(1)
        if self._token_refused_at is None:
            log.error(
                "Telegram refuses the bot token (401, %s): sending stops and what was claimed "
                "is handed back; getMe is tried every %.0f s",
                reason,
                self.config.token_probe_s,
            )
        self._token_refused_at = time.monotonic()

    async def _token_works(self) -> bool:
        """False while the token is refused; every `token_probe_s` a getMe tells whether it
        works again."""
        if self._token_refused_at is None:
            return True
        if time.monotonic() - self._token_refused_at < self.config.token_probe_s:
            return False
        try:
            await self.bot.get_me()
        except InvalidToken as error:
            self._refuse_token(error.message)
            return False
        except Exception as error:  # no answer about the token (Telegram unreachable)
            log.warning("getMe failed (%s); asking again shortly", error)
            self._token_refused_at = time.monotonic()
            return False
        self._token_refused_at = None
        if self.metrics is not None:
            self.metrics.sending_stopped.set(0)
        log.warning("the bot token works again: sending resumes")
        return True

    async def recover(self) -> int:
        """Hand back what stopped senders had claimed; returns the deliveries left in doubt."""
        async with self.db.transaction() as session:
            await workers.forget(
                session, workers.dead_local_workers(await workers.list_ids(session))
            )
            returned, in_doubt = await workers.recover_abandoned(session, self.clock())
        if returned or in_doubt:
            log.warning(
                "after a stop: %d deliveries back to pending, %d in doubt (not resent)",
                returned,
                in_doubt,
            )
        return in_doubt

    async def close(self) -> None:
        """A clean stop: nothing is left claimed, and the others take over the whole rate."""
        async with self.db.transaction() as session:
            await workers.unregister(session, self.worker_id)

    async def _heartbeat(self, session) -> None:
        live = await workers.heartbeat(session, self.worker_id, self.clock())
        if self._heartbeat_at == -math.inf and live > 1:
            # The others learn of this one at their next heartbeat (within
            # MARK_HEARTBEAT_EVERY_S while they send): until then they take the whole rate.
            self.limiter.hold_deliveries(JOIN_DELAY_S)
        self.limiter.share(live)
        self._heartbeat_at = time.monotonic()

    async def _heartbeat_now_and_then(self, session) -> None:
        """With a window's write-ahead mark: a new worker takes its share within
        MARK_HEARTBEAT_EVERY_S, and a paid broadcast does not spend a query on it every few
        milliseconds."""
        if time.monotonic() - self._heartbeat_at >= MARK_HEARTBEAT_EVERY_S:
            await self._heartbeat(session)

    @contextlib.asynccontextmanager
    async def _kept_alive(self) -> AsyncIterator[None]:
        """Heartbeats in the background for the block, so that a long wait (a retry_after, the
        rate limiter, a slow answer) never makes the other workers take this one for stopped."""
        task = asyncio.create_task(self._heartbeats(), name="sender-heartbeat")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(workers.HEARTBEAT_EVERY.total_seconds())
            try:
                async with self.db.transaction() as session:
                    await self._heartbeat(session)
            except DATABASE_UNAVAILABLE as error:
                log.warning("heartbeat not recorded: %s", describe(error))

    async def _hand_back(self) -> None:
        """After a failed round: the outcomes known are written; what this sender still held
        goes back to pending, except requests that went out without an answer (in doubt)."""
        outcomes_, effects = self._unwritten
        try:
            async with self.db.transaction() as session:
                await self._write(session, outcomes_, effects)
        except DATABASE_UNAVAILABLE:
            raise
        except Exception:
            log.exception("outcomes of %d deliveries not recorded: in doubt", len(outcomes_))
            self._attempted.update(outcome.delivery_id for outcome in outcomes_)
        self._unwritten = ([], [])
        async with self.db.transaction() as session:
            returned, in_doubt = await workers.hand_back(session, self.worker_id, self._attempted)
        self._attempted = set()
        log.warning(
            "delivery resumes: %d deliveries back to pending, %d in doubt (not resent)",
            returned,
            in_doubt,
        )

    async def _once_reachable(self, stop: asyncio.Event, action) -> None:
        """`action()`, tried again with a growing pause while the database is unavailable
        (until `stop`)."""
        delay = 1.0
        while True:
            try:
                return await action()
            except DATABASE_UNAVAILABLE as error:
                if stop.is_set():
                    log.error("database unavailable while stopping: %s", describe(error))
                    return None
                log.debug("database still unavailable: %s", describe(error))
            await _wait_any(stop, asyncio.Event(), delay)
            delay = min(delay * 2, OUTAGE_RETRY_CAP_S)

    async def run_once(self) -> int:
        """Target due notifications, then claim and send one batch. Returns deliveries handled."""
        if not await self._token_works():
            return 0
        claim, notifications = await self._claim()
        self._texts.clear()
        self._handled = claim.handled
        if claim.claimed:
            jobs = plan_jobs(claim.claimed, group_above=self.config.group_above)
            async with self._kept_alive():
                await self._send_jobs(jobs, notifications, more=self._claimed_all(claim))
        return self._handled

    async def _join(self) -> None:
        """The first heartbeat is committed before the others are counted: of two senders that
        start together, at least one sees the other (and holds back until both know)."""
        async with self.db.transaction() as session:
            await workers.heartbeat(session, self.worker_id, self.clock())
        async with self.db.transaction() as session:
            await self._heartbeat(session)

    async def _claim(self) -> tuple[outbox.ClaimResult, dict[int, Notification]]:
        if self._heartbeat_at == -math.inf:
            await self._join()
        now = self.clock()
        async with self.db.transaction() as session:
            await self._heartbeat(session)
            await outbox.target_due(session, now)
            claim = await outbox.claim_due(
                session, now, worker=self.worker_id, limit=self._batch_size()
            )
            ids = {item.notification_id for item in claim.claimed}
            notifications = await outbox.load_notifications(session, ids) if ids else {}
        return claim, notifications

    def _claimed_all(self, claim: outbox.ClaimResult) -> bool:
        """A full batch: more may be due."""
        return claim.handled >= self._batch_size()

    async def run_until_idle(self, *, wait_s: float = 0.0, max_rounds: int = 10_000) -> None:
        """Send everything due now, and what becomes due (retries) within `wait_s` seconds."""
        for _ in range(max_rounds):
            handled = await self.run_once()
            if self.token_refused:  # what was claimed is handed back
                raise InvalidToken("Telegram refuses the bot token (401 Unauthorized)")
            if handled:
                continue
            async with self.db.transaction() as session:
                next_due = await outbox.next_due_at(session)
            if next_due is None:
                return
            delay = (next_due - self.clock()).total_seconds()
            if delay > wait_s:
                return
            await asyncio.sleep(max(delay, 0.01))

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Until `stop`: then the window in flight finishes and the rest is handed back.

        A round that fails (the database went away mid-broadcast) hands back what this sender
        held as soon as the database answers again, and sending resumes by itself."""
        self._stop = stop
        await self._once_reachable(stop, self.recover)
        try:
            while not stop.is_set():
                # Cleared before the round, not after it: a wake() that comes while the round
                # runs (a notification committed after its claim query) must not be lost.
                self._wake.clear()
                try:
                    handled = await self.run_once()
                    if handled == 0:
                        await self.recover()  # also notices workers that died meanwhile
                except DATABASE_UNAVAILABLE as error:
                    log.error("database unavailable, delivery waits for it: %s", describe(error))
                    await self._once_reachable(stop, self._hand_back)
                    handled = 0
                except Exception:
                    log.exception("delivery round failed; trying again shortly")
                    await self._once_reachable(stop, self._hand_back)
                    handled = 0
                if handled == 0:
                    await _wait_any(stop, self._wake, self.config.idle_sleep_s)
        finally:
            await self._once_reachable(stop, self.close)

    async def _send_jobs(
        self, jobs: list[Job], notifications: dict[int, Notification], *, more: bool = False
    ) -> None:
        """A pipeline: up to `window` deliveries are marked 'sending' (write-ahead) and in flight
        at once; a commit in the background records the outcomes so far and marks the next jobs
        while the requests of the others are still out. A crash leaves in doubt only what was
        marked and not recorded: the window, and at most a window of outcomes not yet written
        (no request goes out while that many wait for their commit). With `more` (the claim was
        a full batch), the next batch is claimed while half of this one is still to be marked,
        so a long broadcast does not stop at every batch for its last answers and the next
        claim."""
        config = self.config
        waiting = _Waiting(jobs)  # claimed, not yet marked
        claiming: asyncio.Task | None = None
        marked: deque[Job] = deque()  # marked 'sending', not yet started
        running: dict[asyncio.Task, Job] = {}
        finished = _Finished()
        out = 0  # deliveries of the running jobs
        commit: asyncio.Task | None = None
        last_commit = time.monotonic()
        failure: BaseException | None = None
        while True:
            stopping = failure is not None or self._stopping()
            window = self._window()
            # Outcomes not yet written are in doubt after a crash too: at most a window of them.
            written_behind = len(self._unwritten[0]) >= window
            while marked and not stopping and not written_behind and out < window:
                job = marked.popleft()
                self._attempted.update(d.delivery_id for d in job.deliveries)
                running[finished.watch(self._send_job(job, notifications))] = job
                out += len(job.deliveries)
            if commit is None and failure is None:
                room = window - out - _count(marked)
                unwritten = len(self._unwritten[0]) + len(self._unwritten[1])
                due = unwritten and (
                    time.monotonic() - last_commit >= config.commit_interval_s
                    or unwritten >= window
                    or not (running or marked or waiting)
                )
                refill = waiting and not stopping and room >= min(waiting.deliveries, window) / 4
                if stopping and not running and (waiting or marked):
                    left = [
                        d.delivery_id for job in (*marked, *waiting.clear()) for d in job.deliveries
                    ]
                    marked.clear()
                    commit = finished.watch(self._commit([], left))
                elif surplus := self._surplus(waiting):
                    ids = [d.delivery_id for job in surplus for d in job.deliveries]
                    commit = finished.watch(self._commit([], ids))
                    more = True
                elif refill or due:
                    batch = waiting.take(room) if refill else []
                    commit = finished.watch(self._commit(batch, []))
            # The next claim is made while half a batch still waits to be marked: it has that
            # long to come back (a busy database) before the pipeline runs dry.
            if (
                more
                and not (stopping or claiming)
                and waiting.deliveries <= max(window, self._batch_size() // 2)
            ):
                more = False
                claiming = finished.watch(self._claim())
            if not (running or commit or claiming):
                if failure is not None:
                    raise failure
                if not (marked or waiting) or stopping:
                    return
            await finished.wait(config.commit_interval_s)
            for task in finished.take():
                if task is claiming:
                    claiming = None
                    try:
                        claim, claimed_notifications = task.result()
                    except Exception as error:  # as a failed commit: the round fails
                        failure = error
                        continue
                    notifications.update(claimed_notifications)
                    waiting.extend(plan_jobs(claim.claimed, group_above=config.group_above))
                    self._handled += claim.handled
                    more = self._claimed_all(claim)
                elif task is commit:
                    last_commit = time.monotonic()
                    try:
                        marked.extend(commit.result())
                    except Exception as error:  # the requests out finish; then the round fails
                        failure = error
                    commit = None
                else:
                    out -= len(running.pop(task).deliveries)
                    self._collect(task.result())

    def _batch_size(self) -> int:
        """Alone: at least two seconds of sending per round, so a round's last requests,
        waited for before the next claim, are a small part of it. Sharing the rate with other
        senders: half a second of this one's share (at least a window; the next claim is made
        ahead), so they run out of due deliveries together, instead of one sending a last
        big claim at its share of the rate while the others have stopped."""
        rate = self.limiter.rate
        if rate and self.limiter.workers > 1:
            return max(self._window(), min(self.config.batch_size, int(SHARED_CLAIM_S * rate)))
        return max(self.config.batch_size, int(2 * rate) if rate else 0)

    def _surplus(self, waiting: _Waiting) -> list[Job]:
        """Claimed jobs beyond what this sender should hold (others started sharing the rate
        since its claim), taken from the end of `waiting`: they go back to pending, for
        whichever sender claims next. It keeps at least a window: when a window is more than
        a batch (a small DELIVERY_BATCH_SIZE), claiming ahead fills `waiting` up to one, and
        handing that back would race the claim it comes with (the claim misses the rows
        handed back, and the round ends with them pending)."""
        keep = max(self._batch_size(), self._window())
        if waiting.deliveries <= 2 * keep:
            return []
        return waiting.take_last(waiting.deliveries - keep)

    def _stopping(self) -> bool:
        return self.token_refused or (self._stop is not None and self._stop.is_set())

    def _window(self) -> int:
        """Deliveries in flight at once: enough to keep the rate through a round trip."""
        config = self.config
        return self.round_trips.in_flight_for(
            self.limiter.rate, minimum=config.min_in_flight, maximum=config.max_in_flight
        )

    def _collect(self, result: tuple[list[Outcome], _Effect | None]) -> None:
        new_outcomes, effect = result
        outcomes_, effects = self._unwritten
        outcomes_.extend(new_outcomes)
        if effect is not None:
            effects.append(effect)
        self._attempted.difference_update(outcome.delivery_id for outcome in new_outcomes)

    async def _commit(self, batch: list[Job], release: list[int]) -> list[Job]:
        """One transaction: the outcomes known so far, and the write-ahead mark of `batch` (or
        the release of what will not be sent). Returns the jobs that may be sent."""
        outcomes_, effects = self._unwritten
        self._unwritten = ([], [])
        try:
            async with self.db.transaction() as session:
                await self._write(session, outcomes_, effects)
                if release:
                    await workers.release(session, self.worker_id, release)
                if batch:
                    await self._heartbeat_now_and_then(session)
                    batch = await self._mark_sending(session, batch)
        except BaseException:
            # Not written: kept for the hand-back, before what came meanwhile.
            self._unwritten = (outcomes_ + self._unwritten[0], effects + self._unwritten[1])
            raise
        return batch

    async def _mark_sending(self, session, batch: list[Job]) -> list[Job]:
        """The write-ahead record of a window. Only rows this sender still holds are sent: a
        job with a delivery another worker recovered meanwhile is not sent by this one."""
        ids = [d.delivery_id for job in batch for d in job.deliveries]
        marked = await outbox.mark_sending(session, ids, worker=self.worker_id)
        if len(marked) == len(ids):
            return batch
        mine = [job for job in batch if all(d.delivery_id in marked for d in job.deliveries)]
        kept = {d.delivery_id for job in mine for d in job.deliveries}
        await workers.release(session, self.worker_id, sorted(marked - kept))
        log.warning("%d deliveries were taken over by another sender", len(ids) - len(marked))
        return mine

    async def _write(self, session, outcomes_: list[Outcome], effects: list[_Effect]) -> None:
        if outcomes_:
            await outbox.record(session, outcomes_, self.clock())
        for effect in effects:
            await _apply_effect(session, effect)

    async def _send_job(
        self, job: Job, notifications: dict[int, Notification]
    ) -> tuple[list[Outcome], _Effect | None]:
        """One job's requests. Whatever goes wrong becomes this job's outcome (an unforeseen
        error: in doubt, with its reason), never the end of the round."""
        try:
            return await self._attempt(job, notifications)
        except Exception as error:
            log.exception("delivery to %s: unexpected error", job.chat_id)
            return self._failure(job, error)

    async def _attempt(
        self, job: Job, notifications: dict[int, Notification]
    ) -> tuple[list[Outcome], _Effect | None]:
        rendered = self._render(job, notifications)
        shown = 0  # messages already on the recipient's screen
        if rendered.media:
            sent = await self._send_media(job, rendered.media, rendered.buttons)
            if isinstance(sent, Exception):
                return self._failure(job, sent)
            if isinstance(sent, Message):
                if rendered.media.caption is not None:
                    return self._sent(job, sent.message_id, notifications), None
                shown = 1
        last = len(rendered.parts) - 1
        for index, text in enumerate(rendered.parts):
            release = await self.limiter.wait_turn(job.chat_id)
            call = self._text_call(
                job.chat_id,
                text,
                rendered.buttons if index == last else [],
                previews=not (job.grouped or index < last),
            )
            call.on_written = release.written
            try:
                message_id = _message_id(await post_prepared(self.bot, "sendMessage", call))
            except Exception as error:  # any answer, even one nobody foresaw
                self.round_trips.observe(time.monotonic() - release.at)
                if index + shown == 0:
                    return self._failure(job, error)
                # Earlier parts were shown: sending again would repeat them.
                total = len(rendered.parts) + shown
                return self._partial(job, index + shown, total, error), None
            self.round_trips.observe(time.monotonic() - release.at)
        return self._sent(job, message_id, notifications), None

    def _text_call(
        self, chat_id: int, text: str, buttons: list[list[tuple[str, str]]], *, previews: bool
    ) -> PreparedCall:
        parameters: dict[str, object] = {
            "chat_id": chat_id,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": not previews},
        }
        if buttons:
            parameters["reply_markup"] = {
                "inline_keyboard": [
                    [{"text": label, "callback_data": data} for label, data in row]
                    for row in buttons
                ]
            }
        if self.config.paid_broadcast:
            parameters["allow_paid_broadcast"] = True
        return PreparedCall(parameters)

    async def _send_media(
        self, job: Job, media: render.Media, buttons: list[list[tuple[str, str]]]
    ) -> Message | Exception | None:
        """The photo or document, captioned or followed by the text; None when Telegram cannot
        use the file (then the text goes alone)."""
        await self.limiter.wait_turn(job.chat_id)
        try:
            return await send_media(
                self.bot,
                job.chat_id,
                media,
                buttons,
                allow_paid_broadcast=True if self.config.paid_broadcast else None,
            )
        except BadRequest as error:
            if is_unusable_file(error):
                log.info("file not usable for %s (%s): sending text", job.chat_id, error.message)
                return None
            return error
        except Exception as error:
            return error

    def _sent(
        self, job: Job, message_id: int, notifications: dict[int, Notification]
    ) -> list[Outcome]:
        self._observe_sent(job, notifications)
        return [
            Outcome(d.delivery_id, DeliveryState.SENT, d.attempts + 1, message_id=message_id)
            for d in job.deliveries
        ]

    def _observe_sent(self, job: Job, notifications: dict[int, Notification]) -> None:
        if self.metrics is None:
            return
        now = self.clock()
        self.metrics.deliveries.labels("sent").inc(len(job.deliveries))
        for delivery in job.deliveries:
            due = notifications[delivery.notification_id].not_before
            self.metrics.latency.observe(max(0.0, (now - due).total_seconds()))

    def _render(self, job: Job, notifications: dict[int, Notification]) -> render.Rendered:
        with use_locale(job.language):
            if job.grouped:
                items = [(d.delivery_id, notifications[d.notification_id]) for d in job.deliveries]
                return render.render_group(
                    items, job.language, digest=job.digest, public_url=self.config.public_url
                )
            delivery = job.deliveries[0]
            notification = notifications[delivery.notification_id]
            # A broadcast renders the same text for everyone of a language: do it once.
            key = (notification.id, job.language)
            shared = self._texts.get(key)
            if shared is None:
                shared = self._texts[key] = render.render_single(
                    notification, 0, job.language, self.config.public_url
                )
            buttons = render.notification_buttons(notification, delivery.delivery_id)
            return dataclasses.replace(shared, buttons=buttons)

    def _partial(self, job: Job, sent_parts: int, total: int, error: Exception) -> list[Outcome]:
        if isinstance(error, InvalidToken):
            self._refuse_token(error.message)
        log.error(
            "delivery to %s stopped after part %d of %d: %s", job.chat_id, sent_parts, total, error
        )
        reason = f"only {sent_parts} of {total} parts shown: {error}"[:300]
        return [
            Outcome(d.delivery_id, DeliveryState.FAILED, d.attempts + 1, error=reason)
            for d in job.deliveries
        ]

    def _failure(self, job: Job, error: Exception) -> tuple[list[Outcome], _Effect | None]:
        config = self.config
        decision = outcomes.decide(
            error,
            job.attempts,
            max_attempts=config.max_attempts,
            base_s=config.retry_base_s,
            cap_s=config.retry_cap_s,
        )
        if self.metrics is not None:
            self.metrics.deliveries.labels(decision.verdict.value).inc(len(job.deliveries))
            if decision.verdict is Verdict.RETRY_AFTER:
                self.metrics.rate_limited.inc()
        effect = None
        retry_at: datetime | None = self.clock() + timedelta(seconds=decision.wait_s)
        if decision.verdict is Verdict.RETRY_AFTER:
            self.limiter.pause(decision.wait_s)
            state, counted = DeliveryState.PENDING, False
        elif decision.verdict is Verdict.RETRY:
            state, counted = DeliveryState.PENDING, True
        elif decision.verdict is Verdict.MIGRATED:
            state, counted = DeliveryState.PENDING, False
            effect = _Effect(job.subscriber_id, decision.verdict, decision.new_chat_id)
        elif decision.verdict is Verdict.UNAUTHORIZED:  # Telegram did nothing: handed back
            self._refuse_token(decision.reason)
            state, counted = DeliveryState.PENDING, False
        elif decision.verdict is Verdict.IN_DOUBT:  # like a crash mid-request: never resent
            state, retry_at, counted = DeliveryState.IN_DOUBT, None, True
            log.warning("delivery to %s in doubt, not resent: %s", job.chat_id, decision.reason)
        else:
            state, retry_at, counted = DeliveryState.FAILED, None, True
            if decision.verdict in (Verdict.BLOCKED, Verdict.GONE):
                effect = _Effect(job.subscriber_id, decision.verdict)
            else:
                log.error("Telegram refused delivery to %s: %s", job.chat_id, decision.reason)
        failed = [
            Outcome(
                d.delivery_id,
                state,
                d.attempts + (1 if counted else 0),
                error=decision.reason,
                due_at=retry_at,
            )
            for d in job.deliveries
        ]
        return failed, effect


class _Finished:
    """Tasks in the order they finish. Waiting for the next one costs the same however many
    are running (asyncio.wait would hook onto each of them every time)."""

    def __init__(self) -> None:
        self._done: deque[asyncio.Task] = deque()
        self._event = asyncio.Event()

    def watch(self, coroutine: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        task = asyncio.create_task(coroutine)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._done.append(task)
        self._event.set()

    async def wait(self, timeout: float) -> None:
        """Until a task has finished, or `timeout` seconds."""
        if self._done:
            return
        self._event.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._event.wait()

    def take(self) -> list[asyncio.Task]:
        done = list(self._done)
        self._done.clear()
        return done


def _message_id(result: Any) -> int:
    """The id of the message a sendMessage answer describes; an answer without one claims
    success but says nothing of what was shown, so the delivery stays in doubt."""
    if isinstance(result, dict) and type(result.get("message_id")) is int:
        return result["message_id"]
    raise UnexpectedAnswer(200, json.dumps(result).encode())


def _count(jobs: Iterable[Job]) -> int:
    return sum(len(job.deliveries) for job in jobs)


class _Waiting:
    """Claimed jobs not yet marked, in sending order, and how many deliveries they carry."""

    def __init__(self, jobs: Iterable[Job]) -> None:
        self._jobs: deque[Job] = deque()
        self.deliveries = 0
        self.extend(jobs)

    def __bool__(self) -> bool:
        return bool(self._jobs)

    def extend(self, jobs: Iterable[Job]) -> None:
        for job in jobs:
            self._jobs.append(job)
            self.deliveries += len(job.deliveries)

    def take(self, deliveries: int) -> list[Job]:
        """Jobs from the front carrying at most `deliveries` (at least one job)."""
        taken = [self._jobs.popleft()]
        count = len(taken[0].deliveries)
        while self._jobs and count + len(self._jobs[0].deliveries) <= deliveries:
            taken.append(self._jobs.popleft())
            count += len(taken[-1].deliveries)
        self.deliveries -= count
        return taken

    def take_last(self, deliveries: int) -> list[Job]:
        """Jobs from the end carrying at least `deliveries` (all of them, if fewer)."""
        taken: list[Job] = []
        count = 0
        while self._jobs and count < deliveries:
            taken.append(self._jobs.pop())
            count += len(taken[-1].deliveries)
        self.deliveries -= count
        return taken

    def clear(self) -> list[Job]:
        jobs = list(self._jobs)
        self._jobs.clear()
        self.deliveries = 0
        return jobs


async def send_media(
    bot: Bot,
    chat_id: int,
    media: render.Media,
    buttons: list[list[tuple[str, str]]],
    *,
    allow_paid_broadcast: bool | None = None,
) -> Message:
    """One photo or document; the buttons go under it only when it carries the caption."""
    send = bot.send_photo if media.kind == "photo" else bot.send_document
    captioned = media.caption is not None
    return await send(
        chat_id,
        media.ref,
        caption=media.caption or None,
        parse_mode="HTML" if media.caption else None,
        reply_markup=_keyboard(buttons) if captioned else None,
        allow_paid_broadcast=allow_paid_broadcast,
    )


async def show(bot: Bot, chat_id: int, rendered: render.Rendered) -> None:
    """Send a rendered notification to one chat as the sender would (previews)."""
    if rendered.media:
        await send_media(bot, chat_id, rendered.media, rendered.buttons)
        if rendered.media.caption is not None:
            return
    last = len(rendered.parts) - 1
    for index, text in enumerate(rendered.parts):
        await bot.send_message(
            chat_id,
            text,
            parse_mode="HTML",
            reply_markup=_keyboard(rendered.buttons) if index == last else None,
        )


def _keyboard(buttons: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=data) for label, data in row]
            for row in buttons
        ]
    )


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
