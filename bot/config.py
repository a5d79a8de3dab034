"""Settings read from the environment (and an optional `.env` file).

Nothing is read at import time: `Settings.from_env()` is called by the composition root.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from dotenv import dotenv_values

SUPPORTED_LANGUAGES = ("it", "en")
# The plan is the Città Metropolitana di Genova's: every date people read is Italian time.
# The one source of the time zone for the whole bot (bot.i18n re-exports it).
TIMEZONE = ZoneInfo("Europe/Rome")
DEFAULT_PROGRESS_THRESHOLD = 10
DEFAULT_MONITORING_POLL_INTERVAL_S = 3600.0
MIN_MONITORING_POLL_INTERVAL_S = 60.0
DEFAULT_DATABASE_URL = "sqlite:///psm-bot.sqlite3"
DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
_TOKEN_PATTERN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")
_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")
# Telegram usernames: 5-32 letters, digits and _, starting with a letter; a bot's ends in "bot".
_BOT_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,28}bot$", re.IGNORECASE)


class ConfigError(Exception):
    """Configuration is missing or invalid; the message is one line for the operator."""


@dataclass(frozen=True)
class MonitoringSettings:
    """Where monitoring data comes from besides files, and what makes a notification.

    | Variable | Meaning |
    |---|---|
    | `MONITORING_URL` | a JSON or CSV dataset polled by URL (conditional GET) |
    | `MONITORING_POLL_INTERVAL` | seconds between polls (default 3600, at least 60) |
    | `MONITORING_SQL_URL` | an external database, as a SQLAlchemy URL |
    | `MONITORING_SQL_QUERY` | the query that returns its rows (columns named as in the CSV) |
    | `MONITORING_PROGRESS_THRESHOLD` | progress points that make a notification (default 10) |
    """

    url: str | None = None
    poll_interval_s: float = DEFAULT_MONITORING_POLL_INTERVAL_S
    sql_url: str | None = None
    sql_query: str | None = None
    progress_threshold: int = DEFAULT_PROGRESS_THRESHOLD

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> MonitoringSettings:
        sql_url = _optional(values.get("MONITORING_SQL_URL"))
        sql_query = _optional(values.get("MONITORING_SQL_QUERY"))
        if bool(sql_url) != bool(sql_query):
            raise ConfigError(
                "MONITORING_SQL_URL and MONITORING_SQL_QUERY go together: set both or neither"
            )
        return cls(
            url=_parse_monitoring_url(values.get("MONITORING_URL")),
            poll_interval_s=_parse_interval(values.get("MONITORING_POLL_INTERVAL")),
            sql_url=sql_url,
            sql_query=sql_query,
            progress_threshold=_parse_threshold(values.get("MONITORING_PROGRESS_THRESHOLD")),
        )

    def require_url(self) -> str:
        if not self.url:
            raise ConfigError("MONITORING_URL is not set: the address of the JSON or CSV dataset")
        return self.url

    def require_sql(self) -> tuple[str, str]:
        if not self.sql_url or not self.sql_query:
            raise ConfigError(
                "MONITORING_SQL_URL and MONITORING_SQL_QUERY are not set: a SQLAlchemy URL "
                "such as postgresql://user@host/db and a SELECT returning the monitoring rows"
            )
        return self.sql_url, self.sql_query


@dataclass(frozen=True)
class DeliverySettings:
    """How the sender and the interactive bot use Telegram's limits (DELIVERY_RATE and
    PAID_BROADCAST set the rate itself).

    | Variable | Meaning |
    |---|---|
    | `DELIVERY_MAX_IN_FLIGHT` | most requests out at once (default 256; at most these in doubt) |
    | `DELIVERY_MIN_IN_FLIGHT` | fewest requests out at once (default 8) |
    | `DELIVERY_BATCH_SIZE` | deliveries claimed per round (default 500) |
    | `DELIVERY_COMMIT_INTERVAL_MS` | outcomes are recorded at least this often (default 100) |
    | `DELIVERY_MAX_ATTEMPTS` | tries before a delivery is given up (default 5) |
    | `DELIVERY_READ_TIMEOUT` | seconds to wait for Telegram's answer; then in doubt (default 10) |
    | `CONCURRENT_UPDATES` | updates handled at once, one person's in order (default 256) |
    """

    max_in_flight: int = 256
    min_in_flight: int = 8
    batch_size: int = 500
    commit_interval_s: float = 0.1
    max_attempts: int = 5
    read_timeout_s: float = 10.0
    concurrent_updates: int = 256

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> DeliverySettings:
        most = _parse_number(values, "DELIVERY_MAX_IN_FLIGHT", cls.max_in_flight, 1, 1000)
        fewest = _parse_number(values, "DELIVERY_MIN_IN_FLIGHT", cls.min_in_flight, 1, 1000)
        if fewest > most:
            raise ConfigError(
                f"DELIVERY_MIN_IN_FLIGHT ({fewest}) is more than DELIVERY_MAX_IN_FLIGHT ({most})"
            )
        commit_ms = _parse_number(values, "DELIVERY_COMMIT_INTERVAL_MS", 100, 1, 10_000)
        return cls(
            max_in_flight=most,
            min_in_flight=fewest,
            batch_size=_parse_number(values, "DELIVERY_BATCH_SIZE", cls.batch_size, 1, 100_000),
            commit_interval_s=commit_ms / 1000,
            max_attempts=_parse_number(values, "DELIVERY_MAX_ATTEMPTS", cls.max_attempts, 1, 100),
            read_timeout_s=float(_parse_number(values, "DELIVERY_READ_TIMEOUT", 10, 1, 600)),
            concurrent_updates=_parse_number(
                values, "CONCURRENT_UPDATES", cls.concurrent_updates, 1, 10_000
            ),
        )


def _parse_number(values: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = _optional(values.get(name))
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}; got {text!r}")
    return int(text)


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from the environment (the README's table lists the variables).

    | Variable | Meaning |
    |---|---|
    | `PUBLIC_URL` | the address of the public pages (https://psm.example.org); links only if set |
    | `BOT_USERNAME` | the bot's @username for deep links where getMe cannot tell (static build) |
    """

    telegram_bot_token: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    telegram_api_base_url: str = DEFAULT_API_BASE_URL
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    default_language: str = "it"
    log_level: str = "INFO"
    log_format: str = "text"
    delivery_rate: float = 30.0
    paid_broadcast: bool = False
    webhook_url: str | None = None
    webhook_secret: str | None = None
    port: int | None = None
    listen: str = "0.0.0.0"
    public_url: str | None = None
    bot_username: str | None = None
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)

    @property
    def tz(self) -> ZoneInfo:
        return TIMEZONE

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
        values = _environment(environ, env_file)
        _check_timezone(values.get("TIMEZONE"))
        return cls(
            telegram_bot_token=_parse_token(values.get("TELEGRAM_BOT_TOKEN")),
            database_url=_parse_database_url(values.get("DATABASE_URL")),
            telegram_api_base_url=_parse_base_url(values.get("TELEGRAM_API_BASE_URL")),
            admin_ids=_parse_admin_ids(values.get("ADMIN_IDS")),
            default_language=_parse_language(values.get("DEFAULT_LANGUAGE")),
            log_level=_parse_log_level(values.get("LOG_LEVEL")),
            log_format=_parse_log_format(values.get("LOG_FORMAT")),
            delivery_rate=_parse_rate(values.get("DELIVERY_RATE")),
            paid_broadcast=_parse_bool("PAID_BROADCAST", values.get("PAID_BROADCAST")),
            webhook_url=_parse_webhook_url(values.get("WEBHOOK_URL")),
            webhook_secret=_parse_secret(values.get("WEBHOOK_SECRET")),
            port=_parse_port(values.get("PORT")),
            listen=(values.get("LISTEN") or "0.0.0.0").strip(),
            public_url=_parse_public_url(values.get("PUBLIC_URL")),
            bot_username=_parse_bot_username(values.get("BOT_USERNAME")),
            monitoring=MonitoringSettings.from_values(values),
            delivery=DeliverySettings.from_values(values),
        )


def _environment(environ: Mapping[str, str] | None, env_file: Path | None) -> dict[str, str]:
    """`.env` first, the real environment over it."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def _parse_token(value: str | None) -> str | None:
    token = _optional(value)
    if token is None:
        return None
    if not _TOKEN_PATTERN.match(token):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is malformed: expected '<digits>:<secret>' as given by @BotFather"
        )
    return token


def _parse_database_url(value: str | None) -> str:
    url = _optional(value)
    if url is None:
        return DEFAULT_DATABASE_URL
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if "://" not in url or scheme not in _DATABASE_SCHEMES:
        raise ConfigError(
            f"DATABASE_URL is not supported: {scheme!r}; use sqlite:///path/to/file.sqlite3 "
            "or postgresql://user@host:5432/dbname"
        )
    return url


def _parse_base_url(value: str | None) -> str:
    url = _optional(value)
    if url is None:
        return DEFAULT_API_BASE_URL
    if not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(
            f"TELEGRAM_API_BASE_URL must be an http(s) URL such as {DEFAULT_API_BASE_URL}"
        )
    return url


def _parse_admin_ids(value: str | None) -> frozenset[int]:
    text = _optional(value)
    if text is None:
        return frozenset()
    ids = set()
    for part in re.split(r"[,\s]+", text):
        if not part:
            continue
        if not re.fullmatch(r"-?\d+", part):
            raise ConfigError(
                f"ADMIN_IDS must be numeric Telegram user ids separated by commas; got {part!r}"
            )
        ids.add(int(part))
    return frozenset(ids)


def _parse_language(value: str | None) -> str:
    text = _optional(value)
    if text is None:
        return "it"
    language = text.lower()
    if language not in SUPPORTED_LANGUAGES:
        raise ConfigError(
            f"DEFAULT_LANGUAGE must be one of {', '.join(SUPPORTED_LANGUAGES)}; got {value!r}"
        )
    return language


def _check_timezone(value: str | None) -> None:
    """TIMEZONE used to be a setting that nothing obeyed; the plan's time is Italian time."""
    text = _optional(value)
    if text is not None and text != TIMEZONE.key:
        raise ConfigError(
            f"TIMEZONE is fixed to {TIMEZONE.key}, the plan's time zone; unset it (got {value!r})"
        )


def _parse_log_level(value: str | None) -> str:
    text = _optional(value)
    if text is None:
        return "INFO"
    level = text.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR; got {value!r}")
    return level


def _parse_rate(value: str | None) -> float:
    text = _optional(value)
    if text is None:
        return 30.0
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if not 0 < rate <= 1000:
        raise ConfigError(
            f"DELIVERY_RATE must be messages per second between 1 and 1000; got {value!r}"
        )
    return rate


def _parse_bool(name: str, value: str | None) -> bool:
    stripped = _optional(value)
    if stripped is None:
        return False
    text = stripped.lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false; got {value!r}")


def _parse_webhook_url(value: str | None) -> str | None:
    text = _optional(value)
    if text is None:
        return None
    url = text.rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError("WEBHOOK_URL must be the public http(s) address of this service")
    return url


def _parse_public_url(value: str | None) -> str | None:
    text = _optional(value)
    if text is None:
        return None
    parts = urlsplit(text)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "?" in text
        or "#" in text
        or any(char.isspace() for char in text)
    ):
        raise ConfigError(
            "PUBLIC_URL must be the http(s) address of the public pages, without ? or #, "
            f"such as https://psm.example.org; got {text!r}"
        )
    return text.rstrip("/")


def _parse_bot_username(value: str | None) -> str | None:
    text = _optional(value)
    if text is None:
        return None
    username = text.removeprefix("@")
    if not _BOT_USERNAME.match(username):
        raise ConfigError(
            "BOT_USERNAME must be the bot's Telegram username, such as psm_genova_bot "
            f"(5-32 letters, digits and _, ending in 'bot'); got {text!r}"
        )
    return username


def _parse_secret(value: str | None) -> str | None:
    secret = _optional(value)
    if secret is None:
        return None
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise ConfigError("WEBHOOK_SECRET must be 1-256 characters: letters, digits, _ and -")
    return secret


def _parse_port(value: str | None) -> int | None:
    text = _optional(value)
    if text is None:
        return None
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(f"PORT must be a TCP port number; got {value!r}")
    return int(text)


def _parse_log_format(value: str | None) -> str:
    text = _optional(value)
    if text is None:
        return "text"
    fmt = text.lower()
    if fmt not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT must be text or json; got {value!r}")
    return fmt


def _optional(value: str | None) -> str | None:
    """The value without surrounding blanks, or None when it is missing or blank."""
    return value.strip() if value and value.strip() else None


def _parse_monitoring_url(value: str | None) -> str | None:
    url = _optional(value)
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"MONITORING_URL must be an http(s) address, not {url!r}")
    return url


def _parse_interval(value: str | None) -> float:
    text = _optional(value)
    if text is None:
        return DEFAULT_MONITORING_POLL_INTERVAL_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if seconds < MIN_MONITORING_POLL_INTERVAL_S:
        minimum = MIN_MONITORING_POLL_INTERVAL_S
        raise ConfigError(f"MONITORING_POLL_INTERVAL must be a number of seconds ≥ {minimum:g}")
    return seconds


def _parse_threshold(value: str | None) -> int:
    text = _optional(value)
    if text is None:
        return DEFAULT_PROGRESS_THRESHOLD
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise ConfigError("MONITORING_PROGRESS_THRESHOLD must be a whole number from 1 to 100")
    return int(text)
