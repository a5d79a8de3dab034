"""Checks of method parameters against the Bot API schema.

Values arrive either as strings (form fields, query strings; non-string values
JSON-encoded, as PTB sends them), as JSON-typed values (``application/json``
bodies) or as uploaded files (multipart parts). Each value is coerced to the
first matching type declared by the spec; object values are checked
recursively: unknown fields are rejected, required fields must be present.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request
from .spec import ARRAY_PREFIX, ApiSpec

_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
_TRUE_TEXTS = frozenset({"true", "1"})
_FALSE_TEXTS = frozenset({"false", "0"})
_ATTACH_PREFIX = "attach://"
_MISSING_PARAMETER_REASONS = {
    "chat_id": "chat_id is empty",
    "text": "message text is empty",
    "message_id": "message identifier is not specified",
    "document": "there is no document in the request",
    "photo": "there is no photo in the request",
}


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    content: bytes
    mime_type: str

    def __repr__(self) -> str:
        return f"UploadedFile({self.filename!r}, {len(self.content)} bytes, {self.mime_type!r})"


@dataclass
class RequestPayload:
    """Parameters of one API call as received over HTTP."""

    values: dict[str, Any] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)

    def merged(self) -> dict[str, Any]:
        return {**self.values, **self.files}


class _Mismatch(Exception):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason

    @property
    def depth(self) -> int:
        return self.path.count(".") + self.path.count("[")

    def describe(self, parameter: str) -> str:
        if self.path == parameter:
            return f'invalid value for parameter "{parameter}": {self.reason}'
        return f'can\'t parse parameter "{parameter}": {self.reason} (at {self.path})'


def _is_missing(value: Any) -> bool:
    return value is None or value == ""


def missing_parameter_error(method: str, name: str) -> ApiError:
    reason = _MISSING_PARAMETER_REASONS.get(
        name, f'parameter "{name}" is required for method {method}'
    )
    return bad_request(reason)


def _decode_json_text(value: Any, path: str, expected: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise _Mismatch(path, f"can't parse {expected} JSON") from exc


def _coerce_integer(value: Any, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER_TEXT.match(value.strip()):
        return int(value)
    raise _Mismatch(path, "expected Integer")


def _coerce_float(value: Any, path: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise _Mismatch(path, "expected Float")


def _coerce_boolean(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE_TEXTS | _FALSE_TEXTS:
        return value.strip().lower() in _TRUE_TEXTS
    raise _Mismatch(path, "expected Boolean")


def _coerce_string(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise _Mismatch(path, "expected String")


_SCALAR_COERCERS = {
    "Integer": _coerce_integer,
    "Float": _coerce_float,
    "Boolean": _coerce_boolean,
    "String": _coerce_string,
}


def _names_attachment(type_name: str, value: Any, path: str) -> bool:
    """An InputMedia's `media` string may be "attach://<name>": the part of that name."""
    return (
        type_name == "String"
        and path.endswith(".media")
        and isinstance(value, str)
        and value.startswith(_ATTACH_PREFIX)
    )


class SpecValidator:
    """Validates and coerces the parameters of a method call."""

    def __init__(self, spec: ApiSpec) -> None:
        self.spec = spec

    def validate_call(self, method: str, payload: RequestPayload) -> dict[str, Any]:
        fields = self.spec.method_fields(method)
        attachments = {name: f for name, f in payload.files.items() if name not in fields}
        supplied = {
            name: value
            for name, value in {**payload.values, **payload.files}.items()
            if name not in attachments
        }
        self._reject_unknown_parameters(method, supplied, fields)
        self._require_parameters(method, supplied, fields)
        return {
            name: self._coerce_parameter(fields[name].types, name, value, attachments)
            for name, value in supplied.items()
            if value is not None
        }

    @staticmethod
    def _reject_unknown_parameters(method: str, supplied: dict[str, Any], fields: dict) -> None:
        for name in supplied:
            if name not in fields:
                raise bad_request(f'unknown parameter "{name}" for method {method}')

    @staticmethod
    def _require_parameters(method: str, supplied: dict[str, Any], fields: dict) -> None:
        for spec_field in fields.values():
            if spec_field.required and _is_missing(supplied.get(spec_field.name)):
                raise missing_parameter_error(method, spec_field.name)

    def _coerce_parameter(
        self, types: tuple[str, ...], name: str, value: Any, attachments: dict[str, UploadedFile]
    ) -> Any:
        try:
            return self._coerce_union(value, types, name, attachments)
        except _Mismatch as mismatch:
            raise bad_request(mismatch.describe(name)) from None

    def check_object(self, value: Any, type_name: str, path: str) -> Any:
        """Validate a decoded JSON value against one spec type (for tests and tools)."""
        try:
            return self._coerce_one(value, type_name, path, {})
        except _Mismatch as mismatch:
            raise bad_request(mismatch.describe(path)) from None

    def _coerce_union(
        self, value: Any, types: tuple[str, ...], path: str, attachments: dict[str, UploadedFile]
    ) -> Any:
        failures: list[_Mismatch] = []
        for type_name in types:
            try:
                return self._coerce_one(value, type_name, path, attachments)
            except _Mismatch as mismatch:
                failures.append(mismatch)
        deepest = max(failures, key=lambda failure: failure.depth)
        if len(types) > 1 and deepest.path == path and not isinstance(value, dict):
            raise _Mismatch(path, "expected " + " or ".join(types))
        raise deepest

    def _coerce_one(
        self, value: Any, type_name: str, path: str, attachments: dict[str, UploadedFile]
    ) -> Any:
        if type_name.startswith(ARRAY_PREFIX):
            return self._coerce_array(value, type_name[len(ARRAY_PREFIX) :], path, attachments)
        if type_name == "InputFile" or _names_attachment(type_name, value, path):
            return self._coerce_input_file(value, path, attachments)
        if isinstance(value, UploadedFile):
            raise _Mismatch(path, f"expected {type_name}, got an uploaded file")
        if type_name in _SCALAR_COERCERS:
            return _SCALAR_COERCERS[type_name](value, path)
        return self._coerce_object(value, type_name, path, attachments)

    def _coerce_array(
        self, value: Any, item_type: str, path: str, attachments: dict[str, UploadedFile]
    ) -> list[Any]:
        value = _decode_json_text(value, path, "array")
        if not isinstance(value, list):
            raise _Mismatch(path, f"expected Array of {item_type}")
        return [
            self._coerce_one(item, item_type, f"{path}[{index}]", attachments)
            for index, item in enumerate(value)
        ]

    @staticmethod
    def _coerce_input_file(
        value: Any, path: str, attachments: dict[str, UploadedFile]
    ) -> UploadedFile:
        if isinstance(value, UploadedFile):
            return value
        if isinstance(value, str) and value.startswith(_ATTACH_PREFIX):
            attached = attachments.get(value[len(_ATTACH_PREFIX) :])
            if attached is None:
                raise _Mismatch(path, f"no multipart part for {value}")
            return attached
        raise _Mismatch(path, "expected InputFile")

    def _coerce_object(
        self, value: Any, type_name: str, path: str, attachments: dict[str, UploadedFile]
    ) -> Any:
        value = _decode_json_text(value, path, type_name)
        subtypes = self.spec.subtypes(type_name)
        if subtypes:
            return self._coerce_abstract(value, type_name, subtypes, path, attachments)
        if not isinstance(value, dict):
            raise _Mismatch(path, f"expected {type_name} object")
        fields = self.spec.type_fields(type_name)
        if fields is None:
            return value
        return self._coerce_fields(value, type_name, fields, path, attachments)

    def _coerce_fields(
        self,
        value: dict[str, Any],
        type_name: str,
        fields: dict,
        path: str,
        attachments: dict[str, UploadedFile],
    ) -> dict[str, Any]:
        for key in value:
            if key not in fields:
                raise _Mismatch(f"{path}.{key}", f'unknown field "{key}" in {type_name}')
        for spec_field in fields.values():
            if spec_field.required and value.get(spec_field.name) is None:
                raise _Mismatch(path, f'field "{spec_field.name}" is required in {type_name}')
        return {
            key: self._coerce_union(item, fields[key].types, f"{path}.{key}", attachments)
            for key, item in value.items()
            if item is not None
        }

    def _coerce_abstract(
        self,
        value: Any,
        type_name: str,
        subtypes: tuple[str, ...],
        path: str,
        attachments: dict[str, UploadedFile],
    ) -> Any:
        if isinstance(value, dict):
            chosen = self._subtype_by_discriminator(value, subtypes)
            if chosen:
                return self._coerce_one(value, chosen, path, attachments)
            known = self._discriminator_values(subtypes)
            if known and known[0][0] in value:
                field_name = known[0][0]
                raise _Mismatch(
                    path, f'unsupported {field_name} "{value[field_name]}" for {type_name}'
                )
        return self._coerce_union(value, subtypes, path, attachments)

    def _discriminator_values(self, subtypes: tuple[str, ...]) -> list[tuple[str, str]]:
        return [d for d in (self.spec.discriminator(s) for s in subtypes) if d]

    def _subtype_by_discriminator(
        self, value: dict[str, Any], subtypes: tuple[str, ...]
    ) -> str | None:
        for subtype in subtypes:
            discriminator = self.spec.discriminator(subtype)
            if discriminator and value.get(discriminator[0]) == discriminator[1]:
                return subtype
        return None
