"""Where monitoring data comes from besides files, read from the environment (or `.env`).

| Variable | Meaning |
|---|---|
| `MONITORING_URL` | a JSON or CSV dataset polled by URL (conditional GET) |
| `MONITORING_POLL_INTERVAL` | seconds between polls (default 3600, at least 60) |
| `MONITORING_SQL_URL` | an external database, as a SQLAlchemy URL |
| `MONITORING_SQL_QUERY` | the query that returns its rows (columns named as in the CSV) |
| `MONITORING_PROGRESS_THRESHOLD` | progress points that make a notification (default 10) |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from bot.config import ConfigError
from bot.services.monitoring_changes import DEFAULT_PROGRESS_THRESHOLD

DEFAULT_POLL_INTERVAL_S = 3600.0
MIN_POLL_INTERVAL_S = 60.0


@dataclass(frozen=True)
class MonitoringConfig:
    url: str | None = None
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    sql_url: str | None = None
    sql_query: str | None = None
    progress_threshold: int = DEFAULT_PROGRESS_THRESHOLD

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> MonitoringConfig:
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        sql_url = _optional(values.get("MONITORING_SQL_URL"))
        sql_query = _optional(values.get("MONITORING_SQL_QUERY"))
        if bool(sql_url) != bool(sql_query):
            raise ConfigError(
                "MONITORING_SQL_URL and MONITORING_SQL_QUERY go together: set both or neither"
            )
        return cls(
            url=_parse_url(values.get("MONITORING_URL")),
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


def _optional(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _parse_url(value: str | None) -> str | None:
    url = _optional(value)
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"MONITORING_URL must be an http(s) address, not {url!r}")
    return url


def _parse_interval(value: str | None) -> float:
    if not _optional(value):
        return DEFAULT_POLL_INTERVAL_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds < MIN_POLL_INTERVAL_S:
        raise ConfigError(
            f"MONITORING_POLL_INTERVAL must be a number of seconds ≥ {MIN_POLL_INTERVAL_S:g}"
        )
    return seconds


def _parse_threshold(value: str | None) -> int:
    if not _optional(value):
        return DEFAULT_PROGRESS_THRESHOLD
    if not value.strip().isdigit() or not 1 <= int(value) <= 100:
        raise ConfigError("MONITORING_PROGRESS_THRESHOLD must be a whole number from 1 to 100")
    return int(value)
