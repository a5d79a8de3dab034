"""The queue of updates waiting to be fetched by getUpdates or pushed to a webhook."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .sync import Notifier

# Telegram does not send these unless they are explicitly listed in allowed_updates.
OPT_IN_UPDATE_KINDS = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
MAX_BATCH = 100


@dataclass
class QueuedUpdate:
    update_id: int
    kind: str
    body: dict[str, Any]
    chat_id: int | None = None
    delivered: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"update_id": self.update_id, self.kind: self.body}


class UpdateQueue:
    """Pending updates in id order; ``confirm(offset)`` forgets earlier ones."""

    def __init__(self, notifier: Notifier, first_update_id: int = 1) -> None:
        self._notifier = notifier
        self._pending: list[QueuedUpdate] = []
        self._next_update_id = first_update_id
        self.allowed_updates: list[str] = []
        self._poll_generation = 0

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def is_allowed(self, kind: str) -> bool:
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in OPT_IN_UPDATE_KINDS

    def set_allowed(self, kinds: Iterable[str]) -> None:
        self.allowed_updates = list(kinds)

    def push(self, kind: str, body: dict[str, Any], chat_id: int | None = None) -> QueuedUpdate:
        update = QueuedUpdate(self._next_update_id, kind, body, chat_id)
        self._next_update_id += 1
        if self.is_allowed(kind):
            self._pending.append(update)
        else:
            update.delivered = True
        self._notifier.notify()
        return update

    def confirm(self, offset: int) -> None:
        if offset > 0:
            self._forget([u for u in self._pending if u.update_id < offset])
        elif offset < 0:
            self._forget(self._pending[:offset])

    def peek(self, limit: int = MAX_BATCH) -> list[QueuedUpdate]:
        return self._pending[:limit]

    def first(self) -> QueuedUpdate | None:
        return self._pending[0] if self._pending else None

    def mark_delivered(self, updates: Iterable[QueuedUpdate]) -> None:
        for update in updates:
            update.delivered = True
        self._notifier.notify()

    def remove(self, update: QueuedUpdate) -> None:
        self._forget([update])

    def drop_pending(self) -> None:
        self._forget(list(self._pending))

    def begin_poll(self) -> int:
        """A new getUpdates call supersedes any older long poll still waiting."""
        self._poll_generation += 1
        self._notifier.notify()
        return self._poll_generation

    def is_superseded(self, generation: int) -> bool:
        return generation != self._poll_generation

    def _forget(self, updates: list[QueuedUpdate]) -> None:
        forgotten = {update.update_id for update in updates}
        for update in updates:
            update.delivered = True
        self._pending = [u for u in self._pending if u.update_id not in forgotten]
        self._notifier.notify()
