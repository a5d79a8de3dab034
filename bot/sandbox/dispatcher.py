"""Runs one API call: faults, validation, the method handler, bookkeeping."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from .context import CallInfo, Handler, SandboxContext
from .errors import ApiError, not_supported
from .faults import FaultInjector, FaultMode, FaultRule
from .spec import ApiSpec
from .transcript import TranscriptEntry
from .validation import RequestPayload, SpecValidator

POLLING_METHOD = "getUpdates"


class ApiCall(NamedTuple):
    """One recorded call: ``outcome`` is the result or the ApiError answered; ``at`` is when
    it was answered (``time.time()``)."""

    method: str
    params: dict[str, Any]
    outcome: Any
    at: float = 0.0

    @property
    def ok(self) -> bool:
        return not isinstance(self.outcome, ApiError)


class Rejection(NamedTuple):
    method: str
    params: dict[str, Any]
    error_code: int
    description: str


@dataclass
class Outcome:
    result: Any = None
    error: ApiError | None = None
    drop_connection: bool = False
    hang_s: float = 0.0  # answer this much later
    not_json: bool = False  # answer HTTP 200 with a body that is not the Bot API's


def _as_int(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def chat_id_hint(values: dict[str, Any]) -> Any:
    return _as_int(values.get("chat_id"))


class Dispatcher:
    def __init__(
        self,
        spec: ApiSpec,
        context: SandboxContext,
        handlers: dict[str, Handler],
        faults: FaultInjector,
    ) -> None:
        self.spec = spec
        self.validator = SpecValidator(spec)
        self.context = context
        self.handlers = handlers
        self.faults = faults
        self.calls: list[ApiCall] = []
        self.rejections: list[Rejection] = []
        self.unsupported_calls: list[ApiCall] = []
        self.polling_seen = False

    async def dispatch(
        self, method_name: str, payload: RequestPayload, client_alive: Callable[[], bool]
    ) -> Outcome:
        method = self.spec.method_name(method_name)
        if method is None:
            return self._fail(method_name, payload.merged(), ApiError(404, "Not Found"))
        chat_id = chat_id_hint(payload.values)
        fault = self.faults.take(method, chat_id)
        if fault is not None and not fault.mode.acts:
            return self._injected(method, payload, fault)
        polling = method == POLLING_METHOD
        self._begin(polling, chat_id)
        try:
            outcome = await self._run(method, payload, CallInfo(method, client_alive))
        finally:
            self._end(polling, chat_id)
        return outcome if fault is None else _spoil(outcome, fault)

    async def _run(self, method: str, payload: RequestPayload, call: CallInfo) -> Outcome:
        params: dict[str, Any] = payload.merged()
        try:
            params = self.validator.validate_call(method, payload)
            handler = self.handlers.get(method)
            if handler is None:
                raise not_supported()
            result = await handler(self.context, params, call)
        except ApiError as error:
            return self._fail(method, params, error)
        self.calls.append(ApiCall(method, dict(params), result, time.time()))
        return Outcome(result=result)

    def _injected(self, method: str, payload: RequestPayload, fault: FaultRule) -> Outcome:
        error = fault.to_error()
        self.calls.append(ApiCall(method, dict(payload.merged()), error, time.time()))
        return Outcome(error=error, drop_connection=fault.mode is FaultMode.DROP_BEFORE)

    def _fail(self, method: str, params: dict[str, Any], error: ApiError) -> Outcome:
        call = ApiCall(method, dict(params), error, time.time())
        self.calls.append(call)
        if error.description.endswith("not supported by the sandbox"):
            self.unsupported_calls.append(call)
        if error.is_rejection:
            self._note_rejection(call, error)
        return Outcome(error=error)

    def _note_rejection(self, call: ApiCall, error: ApiError) -> None:
        self.rejections.append(
            Rejection(call.method, call.params, error.error_code, error.description)
        )
        chat_id = chat_id_hint(call.params)
        world = self.context.world
        if world.find_chat(chat_id) is not None:
            world.record(
                TranscriptEntry(
                    kind="rejected",
                    chat_id=chat_id,
                    text=error.description,
                    method=call.method,
                    from_bot=True,
                    message_id=_as_int(call.params.get("message_id")),
                )
            )

    def _begin(self, polling: bool, chat_id: Any) -> None:
        if polling:
            self.polling_seen = True
            return
        self.context.world.requests_in_flight += 1
        self.context.world.mark_bot_activity(chat_id)

    def _end(self, polling: bool, chat_id: Any) -> None:
        if polling:
            return
        self.context.world.requests_in_flight -= 1
        self.context.world.mark_bot_activity(chat_id)
        self.context.world.notifier.notify()


def _spoil(outcome: Outcome, fault: FaultRule) -> Outcome:
    """The call was carried out; only its answer goes wrong."""
    if fault.mode is FaultMode.DROP_AFTER:
        return dataclasses.replace(outcome, drop_connection=True)
    if fault.mode is FaultMode.HANG_AFTER:
        return dataclasses.replace(outcome, hang_s=fault.hang_s)
    return dataclasses.replace(outcome, not_json=True)
