"""The stand-in for benchmarks/webhook.py, in its own process: Telegram's side of a press.

Usage: python benchmarks/_webhook_sandbox_process.py FIRST_USER_ID COUNT [--flood RATE]
           [--latency-ms MS] [--jitter-ms MS]

As benchmarks/_sandbox_process.py, and: the first time a message with a 👍 button reaches one
of the users, the stand-in records that user's press (a callback query, as Telegram does when
someone taps the button) and prints the update to deliver as one JSON line, `{"press": …}`;
the benchmark posts it to the bot's webhook. A line `idle SETTLE TIMEOUT` on stdin is answered
with `{"idle": true}` once the bot has been quiet SETTLE seconds (`{"idle": false}` after
TIMEOUT). When stdin closes it prints `{"summary": …}` (what `summary` returns) and exits.
"""

import asyncio
import json
import secrets
import sys
from typing import Any

from _sandbox_process import argument_parser, refused_calls, rejected, stand_in

from bot.sandbox import BotApiSandbox
from bot.sandbox.state import CallbackQueryRecord
from bot.sandbox.transcript import TranscriptEntry

THUMBS_UP = "👍"
BROADCAST_TEXT = "Metropoli Strategiche"
MESSAGE_METHODS = ("sendMessage", "editMessageText", "editMessageReplyMarkup")


def say(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


class Presses:
    """Each user presses 👍 on the first message that offers it."""

    def __init__(self, sandbox: BotApiSandbox, users: range) -> None:
        self.sandbox = sandbox
        self.users = users
        self.pressed: set[int] = set()
        self.broadcast_messages: list[tuple[int, int]] = []

    async def run(self) -> None:
        world = self.sandbox.world
        seen = 0
        while True:
            history = world.history
            while seen < len(history):
                self.consider(history[seen])
                seen += 1
            await world.notifier.wait(0.05)

    def consider(self, entry: TranscriptEntry) -> None:
        if entry.kind != "bot_message" or entry.message_id is None:
            return
        data = thumbs_up(entry.buttons)
        if data is None or entry.chat_id not in self.users or entry.chat_id in self.pressed:
            return
        self.pressed.add(entry.chat_id)
        self.broadcast_messages.append((entry.chat_id, entry.message_id))
        say({"press": self.update(entry.chat_id, entry.message_id, data)})

    def update(self, chat_id: int, message_id: int, data: str) -> dict[str, Any]:
        """The callback_query update of a press, as SandboxUser.press builds it."""
        world = self.sandbox.world
        user = self.sandbox.user(chat_id)
        record = world.find_message(user.chat, message_id)
        assert record is not None
        query = CallbackQueryRecord(
            id=str(secrets.randbits(62)),
            user_id=chat_id,
            chat_id=chat_id,
            message_id=message_id,
            data=data,
            created_at=world.clock(),
        )
        world.callback_queries[query.id] = query
        return {
            "callback_query": {
                "id": query.id,
                "from": user.profile.to_json(),
                "message": world.message_json(record),
                "chat_instance": user.chat.chat_instance,
                "data": data,
            },
        }


def thumbs_up(buttons: list[list[tuple[str, str | None]]]) -> str | None:
    for row in buttons:
        for label, value in row:
            if label.startswith(THUMBS_UP) and value:
                return value
    return None


def summary(sandbox: BotApiSandbox, presses: Presses) -> dict[str, Any]:
    """`answered`: callback query id → when its answer arrived; `messages`: [arrival,
    chat, message id] of each message call accepted; `broadcast`: [chat, message id] of the
    messages pressed; `rejected` (429s), `rejected_broadcast` (of which on the broadcast),
    `refused` ([arrival, chat, on the broadcast] of each 429), `early_sends`, `refusals` (the
    429s by the limit they enforced)."""
    answered: dict[str, float] = {}
    messages = []
    for call in sandbox.calls:
        if not call.ok:
            continue
        if call.method == "answerCallbackQuery":
            answered.setdefault(str(call.params.get("callback_query_id")), call.at)
        elif call.method in MESSAGE_METHODS and isinstance(call.outcome, dict):
            chat = call.outcome.get("chat", {}).get("id")
            messages.append([call.at, chat, call.outcome.get("message_id")])
    refused = [
        [call.at, call.params.get("chat_id"), BROADCAST_TEXT in str(call.params.get("text"))]
        for call in refused_calls(sandbox)
    ]
    return {
        "answered": answered,
        "messages": messages,
        "broadcast": presses.broadcast_messages,
        "rejected": rejected(sandbox),
        "rejected_broadcast": sum(1 for _, _, broadcast in refused if broadcast),
        "refused": refused,
        "early_sends": sandbox.early_sends,
        "refusals": sandbox.refusals,
    }


async def answer(sandbox: BotApiSandbox, line: str) -> None:
    _, settle, timeout = line.split()
    try:
        await sandbox.wait_idle(settle=float(settle), timeout=float(timeout))
    except TimeoutError:
        say({"idle": False})
    else:
        say({"idle": True})


async def main() -> None:
    args = argument_parser().parse_args()
    async with stand_in(args) as sandbox:
        presses = Presses(sandbox, range(args.first, args.first + args.count))
        pressing = asyncio.create_task(presses.run())
        print(sandbox.base_url, flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if line.startswith("idle"):
                await answer(sandbox, line)
        pressing.cancel()
        say({"summary": summary(sandbox, presses)})


if __name__ == "__main__":
    asyncio.run(main())
