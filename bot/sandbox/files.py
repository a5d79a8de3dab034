"""Stored files: uploads by the bot, documents and photos sent by users."""

from __future__ import annotations

import itertools
import mimetypes
import secrets
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

DEFAULT_MIME_TYPE = "application/octet-stream"
DEFAULT_PHOTO_SIZE = (800, 600)
THUMBNAIL_SIDE = 90
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
_FOLDER_BY_KIND = {"document": "documents", "photo": "photos"}


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str
    file_name: str
    content: bytes
    mime_type: str
    file_path: str
    width: int = 0
    height: int = 0
    source_url: str | None = None
    thumbnail_id: str | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.content)

    def document_json(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "file_size": self.size,
        }

    def photo_size_json(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "width": self.width,
            "height": self.height,
            "file_size": self.size,
        }

    def file_json(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }


def guess_mime_type(file_name: str) -> str:
    return mimetypes.guess_type(file_name, strict=False)[0] or DEFAULT_MIME_TYPE


def image_size(content: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF or JPEG image, read from its header."""
    if content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) >= 24:
        return struct.unpack(">II", content[16:24])
    if content[:6] in (b"GIF87a", b"GIF89a") and len(content) >= 10:
        return struct.unpack("<HH", content[6:10])
    if content.startswith(b"\xff\xd8"):
        return _jpeg_size(content)
    return None


def _jpeg_size(content: bytes) -> tuple[int, int] | None:
    index = 2
    while index + 9 < len(content):
        if content[index] != 0xFF:
            return None
        marker = content[index + 1]
        segment_length = struct.unpack(">H", content[index + 2 : index + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", content[index + 5 : index + 9])
            return width, height
        index += 2 + segment_length
    return None


def _thumbnail_size(width: int, height: int) -> tuple[int, int]:
    scale = THUMBNAIL_SIDE / max(width, height, 1)
    return max(int(width * scale), 1), max(int(height * scale), 1)


class FileStore:
    """All files known to the sandbox, by file_id and by file_path."""

    def __init__(self) -> None:
        self._by_id: dict[str, StoredFile] = {}
        self._counter = itertools.count(1)

    def get(self, file_id: str) -> StoredFile | None:
        return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        return next((f for f in self._by_id.values() if f.file_path == file_path), None)

    def add_document(
        self, file_name: str, content: bytes, mime_type: str | None = None
    ) -> StoredFile:
        return self._add("document", file_name, content, mime_type or guess_mime_type(file_name))

    def add_photo(self, file_name: str, content: bytes) -> list[StoredFile]:
        """A photo is stored as a thumbnail plus the full size, like Telegram's PhotoSize list."""
        width, height = image_size(content) or DEFAULT_PHOTO_SIZE
        full = self._add("photo", file_name, content, guess_mime_type(file_name), width, height)
        thumb_width, thumb_height = _thumbnail_size(width, height)
        thumbnail = self._add(
            "photo", file_name, content, full.mime_type, thumb_width, thumb_height
        )
        full.thumbnail_id = thumbnail.file_id
        return [thumbnail, full]

    def add_from_url(self, kind: str, url: str) -> StoredFile:
        """Files sent by URL are not fetched: the sandbox stays offline."""
        file_name = PurePosixPath(urlsplit(url).path).name or "file"
        if kind == "photo":
            stored = self.add_photo(file_name, b"")[-1]
        else:
            stored = self.add_document(file_name, b"")
        stored.source_url = url
        return stored

    def photo_sizes(self, full: StoredFile) -> list[StoredFile]:
        thumbnail = self.get(full.thumbnail_id) if full.thumbnail_id else None
        return [thumbnail, full] if thumbnail else [full]

    def _add(
        self,
        kind: str,
        file_name: str,
        content: bytes,
        mime_type: str,
        width: int = 0,
        height: int = 0,
    ) -> StoredFile:
        number = next(self._counter)
        suffix = PurePosixPath(file_name).suffix or ".bin"
        stored = StoredFile(
            file_id=f"SBX{kind[:3].upper()}{number}_{secrets.token_hex(8)}",
            file_unique_id=f"SBXU{number}",
            kind=kind,
            file_name=file_name,
            content=content,
            mime_type=mime_type,
            file_path=f"{_FOLDER_BY_KIND[kind]}/file_{number}{suffix}",
            width=width,
            height=height,
        )
        self._by_id[stored.file_id] = stored
        return stored


def tiny_png(width: int = 1, height: int = 1) -> bytes:
    """A valid, blank PNG image (for photos sent in tests)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
