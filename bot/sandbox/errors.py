"""Telegram-shaped API errors raised by the sandbox."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered as ``{"ok": false, "error_code": ..., "description": ...}``.

    ``is_rejection`` marks errors that mean "Telegram would refuse this request"
    (validation failures). Errors caused by the tester's setup (injected faults,
    flood limits, blocked users, migrated chats) are not rejections.
    """

    def __init__(
        self,
        error_code: int,
        description: str,
        parameters: dict[str, Any] | None = None,
        *,
        is_rejection: bool = True,
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters or {}
        self.is_rejection = is_rejection

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = dict(self.parameters)
        return body

    def __repr__(self) -> str:
        return f"ApiError({self.error_code}, {self.description!r})"


def server_text(text: str) -> str:
    """A TDLib text as the official server puts it after its prefix: the first letter is
    lower-cased unless the second is upper case or "_" ("BUTTON_DATA_INVALID" stays)."""
    if len(text) > 1 and (text[1].isupper() or text[1] == "_"):
        return text
    return text[:1].lower() + text[1:]


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {server_text(reason)}")


def forbidden(reason: str) -> ApiError:
    return ApiError(403, f"Forbidden: {server_text(reason)}", is_rejection=False)


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429,
        f"Too Many Requests: retry after {retry_after}",
        {"retry_after": retry_after},
        is_rejection=False,
    )


def not_supported() -> ApiError:
    return ApiError(400, "Bad Request: method not supported by the sandbox", is_rejection=False)
