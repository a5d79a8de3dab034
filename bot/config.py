"""Settings read from the environment (and an optional `.env` file).

Nothing is read at import time: `Settings.from_env()` is called by the composition root.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

SUPPORTED_LANGUAGES = ("it", "en")
DEFAULT_DATABASE_URL = "sqlite:///psm-bot.sqlite3"
DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
_TOKEN_PATTERN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")
_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")


class ConfigError(Exception):
    """Configuration is missing or invalid; the message is one line for the operator."""


@dataclass(frozen=True)
class Settings:
    telegram_bot_token: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    telegram_api_base_url: str = DEFAULT_API_BASE_URL
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    default_language: str = "it"
    timezone: str = "Europe/Rome"
    log_level: str = "INFO"
    log_format: str = "text"
    delivery_rate: float = 30.0
    paid_broadcast: bool = False
    webhook_url: str | None = None
    webhook_secret: str | None = None
    port: int | None = None
    listen: str = "0.0.0.0"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def require_webhook(self) -> tuple[str, str]:
        if not self.webhook_url or not self.webhook_secret:
            raise ConfigError(
                "webhook mode needs WEBHOOK_URL (the public https address of this service) and "
                "WEBHOOK_SECRET (1-256 characters: letters, digits, _ and -)"
            )
        return self.webhook_url, self.webhook_secret

    def require_token(self) -> str:
        if not self.telegram_bot_token:
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather and set it "
                "in the environment or in .env (or try `python -m bot demo`, which needs none)"
            )
        return self.telegram_bot_token

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Settings:
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        return cls(
            telegram_bot_token=_parse_token(values.get("TELEGRAM_BOT_TOKEN")),
            database_url=_parse_database_url(values.get("DATABASE_URL")),
            telegram_api_base_url=_parse_base_url(values.get("TELEGRAM_API_BASE_URL")),
            admin_ids=_parse_admin_ids(values.get("ADMIN_IDS")),
            default_language=_parse_language(values.get("DEFAULT_LANGUAGE")),
            timezone=_parse_timezone(values.get("TIMEZONE")),
            log_level=_parse_log_level(values.get("LOG_LEVEL")),
            log_format=_parse_log_format(values.get("LOG_FORMAT")),
            delivery_rate=_parse_rate(values.get("DELIVERY_RATE")),
            paid_broadcast=_parse_bool("PAID_BROADCAST", values.get("PAID_BROADCAST")),
            webhook_url=_parse_webhook_url(values.get("WEBHOOK_URL")),
            webhook_secret=_parse_secret(values.get("WEBHOOK_SECRET")),
            port=_parse_port(values.get("PORT")),
            listen=(values.get("LISTEN") or "0.0.0.0").strip(),
        )


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _parse_token(value: str | None) -> str | None:
    if _blank(value):
        return None
    token = value.strip()
    if not _TOKEN_PATTERN.match(token):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is malformed: expected '<digits>:<secret>' as given by @BotFather"
        )
    return token


def _parse_database_url(value: str | None) -> str:
    if _blank(value):
        return DEFAULT_DATABASE_URL
    url = value.strip()
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if "://" not in url or scheme not in _DATABASE_SCHEMES:
        raise ConfigError(
            f"DATABASE_URL is not supported: {scheme!r}; use sqlite:///path/to/file.sqlite3 "
            "or postgresql://user@host:5432/dbname"
        )
    return url


def _parse_base_url(value: str | None) -> str:
    if _blank(value):
        return DEFAULT_API_BASE_URL
    url = value.strip()
    if not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(
            f"TELEGRAM_API_BASE_URL must be an http(s) URL such as {DEFAULT_API_BASE_URL}"
        )
    return url


def _parse_admin_ids(value: str | None) -> frozenset[int]:
    if _blank(value):
        return frozenset()
    ids = set()
    for part in re.split(r"[,\s]+", value.strip()):
        if not part:
            continue
        if not re.fullmatch(r"-?\d+", part):
            raise ConfigError(
                f"ADMIN_IDS must be numeric Telegram user ids separated by commas; got {part!r}"
            )
        ids.add(int(part))
    return frozenset(ids)


def _parse_language(value: str | None) -> str:
    if _blank(value):
        return "it"
    language = value.strip().lower()
    if language not in SUPPORTED_LANGUAGES:
        raise ConfigError(
            f"DEFAULT_LANGUAGE must be one of {', '.join(SUPPORTED_LANGUAGES)}; got {value!r}"
        )
    return language


def _parse_timezone(value: str | None) -> str:
    if _blank(value):
        return "Europe/Rome"
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"TIMEZONE is not a known IANA time zone: {value!r}") from None
    return value.strip()


def _parse_log_level(value: str | None) -> str:
    if _blank(value):
        return "INFO"
    level = value.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR; got {value!r}")
    return level


def _parse_rate(value: str | None) -> float:
    if _blank(value):
        return 30.0
    try:
        rate = float(value)
    except ValueError:
        rate = 0.0
    if not 0 < rate <= 1000:
        raise ConfigError(
            f"DELIVERY_RATE must be messages per second between 1 and 1000; got {value!r}"
        )
    return rate


def _parse_bool(name: str, value: str | None) -> bool:
    if _blank(value):
        return False
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false; got {value!r}")


def _parse_webhook_url(value: str | None) -> str | None:
    if _blank(value):
        return None
    url = value.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError("WEBHOOK_URL must be the public http(s) address of this service")
    return url


def _parse_secret(value: str | None) -> str | None:
    if _blank(value):
        return None
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.strip()):
        raise ConfigError("WEBHOOK_SECRET must be 1-256 characters: letters, digits, _ and -")
    return value.strip()


def _parse_port(value: str | None) -> int | None:
    if _blank(value):
        return None
    if not value.strip().isdigit() or not 0 < int(value) < 65536:
        raise ConfigError(f"PORT must be a TCP port number; got {value!r}")
    return int(value)


def _parse_log_format(value: str | None) -> str:
    if _blank(value):
        return "text"
    fmt = value.strip().lower()
    if fmt not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT must be text or json; got {value!r}")
    return fmt
