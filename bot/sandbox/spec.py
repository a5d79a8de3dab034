"""Lazy, cached access to the official Bot API schema (``bot-api-spec.json``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

DEFAULT_SPEC_PATH = Path(__file__).with_name("bot-api-spec.json")
PRIMITIVE_TYPES = frozenset({"Integer", "String", "Boolean", "Float", "InputFile"})
ARRAY_PREFIX = "Array of "
_DISCRIMINATOR_PATTERN = re.compile(r'(?:always|must be)\s+[“"]?([a-z_]+)')


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool


@lru_cache(maxsize=4)
def _load_spec_file(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _fields_of(entry: dict[str, Any]) -> dict[str, FieldSpec]:
    return {
        field["name"]: FieldSpec(field["name"], tuple(field["types"]), bool(field["required"]))
        for field in entry.get("fields", [])
    }


class ApiSpec:
    """Methods and types of the Bot API; the JSON file is read on first use."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else DEFAULT_SPEC_PATH

    @cached_property
    def raw(self) -> dict[str, Any]:
        return _load_spec_file(str(self.path))

    @property
    def version(self) -> str:
        return str(self.raw.get("version", ""))

    @cached_property
    def _method_names_by_lower(self) -> dict[str, str]:
        return {name.lower(): name for name in self.raw["methods"]}

    def method_name(self, name: str) -> str | None:
        """The canonical spelling of a method, looked up case-insensitively."""
        return self._method_names_by_lower.get(name.lower())

    def method_fields(self, method: str) -> dict[str, FieldSpec]:
        return self._method_fields[method]

    @cached_property
    def _method_fields(self) -> dict[str, dict[str, FieldSpec]]:
        return {name: _fields_of(entry) for name, entry in self.raw["methods"].items()}

    @cached_property
    def _type_fields(self) -> dict[str, dict[str, FieldSpec]]:
        return {
            name: _fields_of(entry)
            for name, entry in self.raw["types"].items()
            if "fields" in entry
        }

    def is_object_type(self, type_name: str) -> bool:
        return type_name in self.raw["types"]

    def type_fields(self, type_name: str) -> dict[str, FieldSpec] | None:
        """Fields of an object type, or None for abstract/placeholder types."""
        return self._type_fields.get(type_name)

    def subtypes(self, type_name: str) -> tuple[str, ...]:
        return tuple(self.raw["types"].get(type_name, {}).get("subtypes", ()))

    def update_kinds(self) -> tuple[str, ...]:
        return tuple(name for name in self._type_fields["Update"] if name != "update_id")

    def discriminator(self, type_name: str) -> tuple[str, str] | None:
        """The ``(field, value)`` that identifies a subtype, e.g. ``("type", "chat")``."""
        for field in self.raw["types"].get(type_name, {}).get("fields", [])[:2]:
            match = _DISCRIMINATOR_PATTERN.search(field.get("description", ""))
            if match and field["types"] == ["String"]:
                return field["name"], match.group(1)
        return None
