"""Fixture files and constants shared by the feeds tests and their local server."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
ETAG = '"psm-v1"'
LAST_MODIFIED = "Wed, 12 Mar 2025 09:30:00 GMT"
LARGE_BODY_BYTES = 200_000


def read_data(name: str) -> bytes:
    return (DATA / name).read_bytes()
