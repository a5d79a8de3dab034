import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import DEFAULT_DATABASE_URL, ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent
GOOD_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def settings_from(env: dict[str, str], env_file: Path | None = None) -> Settings:
    return Settings.from_env(env, env_file=env_file)


def test_defaults_need_no_configuration():
    settings = settings_from({})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.default_language == "it"
    assert settings.tz.key == "Europe/Rome"
    assert settings.monitoring.progress_threshold == 10
    assert settings.telegram_bot_token is None
    assert settings.admin_ids == frozenset()


def test_values_are_read_and_normalised():
    settings = settings_from(
        {
            "TELEGRAM_BOT_TOKEN": GOOD_TOKEN,
            "DATABASE_URL": "postgresql://bot@db:5432/psm",
            "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/bot",
            "ADMIN_IDS": "11, 22 33",
            "DEFAULT_LANGUAGE": "EN",
        }
    )
    assert settings.require_token() == GOOD_TOKEN
    assert settings.admin_ids == {11, 22, 33}
    assert settings.default_language == "en"
    assert settings.telegram_api_base_url == "http://127.0.0.1:8081/bot"


@pytest.mark.parametrize(
    ("env", "mentions"),
    [
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"DATABASE_URL": "just-a-file.db"}, "DATABASE_URL"),
        ({"ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
        ({"DEFAULT_LANGUAGE": "de"}, "DEFAULT_LANGUAGE"),
        ({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE"),
        ({"TIMEZONE": "UTC"}, "TIMEZONE"),
        ({"MONITORING_PROGRESS_THRESHOLD": "0"}, "MONITORING_PROGRESS_THRESHOLD"),
        ({"TELEGRAM_API_BASE_URL": "ftp://x"}, "TELEGRAM_API_BASE_URL"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
        ({"PUBLIC_URL": "psm.example.org"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "ftp://psm.example.org"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "https://psm.example.org/?lang=it"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "https://psm.example.org/#top"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "https:///pages"}, "PUBLIC_URL"),
        ({"BOT_USERNAME": "psm genova"}, "BOT_USERNAME"),
        ({"BOT_USERNAME": "@psm_genova"}, "BOT_USERNAME"),  # a bot's username ends in "bot"
        ({"BOT_USERNAME": "1psm_bot"}, "BOT_USERNAME"),
    ],
)
def test_invalid_values_give_one_clear_line(env, mentions):
    with pytest.raises(ConfigError) as raised:
        settings_from(env)
    message = str(raised.value)
    assert mentions in message
    assert "\n" not in message


def test_public_pages_are_not_linked_unless_their_address_is_set():
    settings = settings_from({})
    assert settings.public_url is None
    assert settings.bot_username is None


def test_public_url_and_bot_username_are_normalised():
    settings = settings_from(
        {"PUBLIC_URL": " https://psm.example.org/piano/ ", "BOT_USERNAME": "@PSM_Genova_bot"}
    )
    assert settings.public_url == "https://psm.example.org/piano"
    assert settings.bot_username == "PSM_Genova_bot"
    assert settings_from({"PUBLIC_URL": "http://127.0.0.1:8080"}).public_url == (
        "http://127.0.0.1:8080"
    )


def test_missing_token_is_explained_when_needed():
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set"):
        settings_from({}).require_token()


def test_dotenv_file_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("ADMIN_IDS=5\nDEFAULT_LANGUAGE=en\n")
    settings = settings_from({"DEFAULT_LANGUAGE": "it"}, env_file=env_file)
    assert settings.admin_ids == {5}
    assert settings.default_language == "it"


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_run_without_token_fails_with_one_line_and_no_traceback(tmp_path):
    result = run_cli("run", env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_bad_database_url_fails_with_one_line():
    result = run_cli("db", "upgrade", env={"DATABASE_URL": "oracle://nowhere"})
    assert result.returncode == 2
    assert "DATABASE_URL is not supported" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_unreachable_database_fails_with_one_line():
    result = run_cli("db", "upgrade", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 2
    assert "cannot reach the database" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_cli_db_upgrade_prepares_a_fresh_sqlite_file(tmp_path):
    database = tmp_path / "fresh.sqlite3"
    result = run_cli("db", "upgrade", env={"DATABASE_URL": f"sqlite:///{database}"})
    assert result.returncode == 0, result.stderr
    assert "database ready" in result.stdout
    assert database.exists()


def test_json_logs_are_one_json_object_per_line(capsys):
    import json
    import logging

    from bot import logs

    logs.configure("INFO", "json")
    try:
        logging.getLogger("bot.test").warning("feed %s paused", "Città")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("bot.test").exception("delivery round failed")
    finally:
        logs.configure("WARNING", "text")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2  # the traceback stays inside its event's line
    first, second = json.loads(lines[0]), json.loads(lines[1])
    assert first["level"] == "WARNING" and first["message"] == "feed Città paused"
    assert (
        second["message"] == "delivery round failed" and "ValueError: boom" in second["exception"]
    )


def test_log_format_is_validated():
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        settings_from({"LOG_FORMAT": "xml"})


def test_one_time_zone_rules_every_date_people_read():
    from bot import i18n
    from bot.config import TIMEZONE
    from bot.services import monitoring_remote, timing

    assert settings_from({"TIMEZONE": "Europe/Rome"}).tz is TIMEZONE
    assert i18n.TIMEZONE is TIMEZONE
    assert timing.TIMEZONE is TIMEZONE
    assert monitoring_remote.TIMEZONE is TIMEZONE


def test_monitoring_settings_are_part_of_the_settings_read_once(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "MONITORING_PROGRESS_THRESHOLD=25\nMONITORING_URL=https://dati.example.org/m.csv\n"
    )
    settings = settings_from({}, env_file=env_file)
    assert settings.monitoring.progress_threshold == 25
    assert settings.monitoring.url == "https://dati.example.org/m.csv"


def test_delivery_knobs_are_settings_the_sender_uses():
    from bot.app import sender_config

    settings = Settings.from_env(
        {
            "DELIVERY_MAX_IN_FLIGHT": "64",
            "DELIVERY_MIN_IN_FLIGHT": "4",
            "DELIVERY_BATCH_SIZE": "2000",
            "DELIVERY_COMMIT_INTERVAL_MS": "250",
            "DELIVERY_MAX_ATTEMPTS": "3",
            "DELIVERY_READ_TIMEOUT": "20",
            "CONCURRENT_UPDATES": "32",
        },
        env_file=None,
    )
    config = sender_config(settings)
    assert (config.max_in_flight, config.min_in_flight, config.batch_size) == (64, 4, 2000)
    assert (config.commit_interval_s, config.max_attempts, config.read_timeout_s) == (0.25, 3, 20)
    assert settings.delivery.concurrent_updates == 32


@pytest.mark.parametrize(
    ("env", "mentions"),
    [
        ({"DELIVERY_MAX_IN_FLIGHT": "0"}, "DELIVERY_MAX_IN_FLIGHT"),
        ({"DELIVERY_BATCH_SIZE": "many"}, "DELIVERY_BATCH_SIZE"),
        ({"CONCURRENT_UPDATES": "-3"}, "CONCURRENT_UPDATES"),
        ({"DELIVERY_MIN_IN_FLIGHT": "50", "DELIVERY_MAX_IN_FLIGHT": "10"}, "DELIVERY_MIN"),
    ],
)
def test_bad_delivery_knobs_are_refused_in_one_line(env, mentions):
    with pytest.raises(ConfigError, match=mentions) as refused:
        Settings.from_env(env, env_file=None)
    assert "\n" not in str(refused.value)
