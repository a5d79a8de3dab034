"""Imports go one way (contracts in pyproject.toml)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_types_check():
    """mypy over bot/ and feeds/ with the settings in pyproject.toml ([tool.mypy])."""
    mypy = Path(sys.executable).with_name("mypy")
    result = subprocess.run(
        [str(mypy), "--no-incremental", "--cache-dir", "/dev/null"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_style_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    for args in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run(
            [str(ruff), *args], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_telegram_is_used_through_its_public_api_only():
    """PTB's `telegram._…` modules may change in any release; their public names do not."""
    private = re.compile(r"^\s*(from|import)\s+telegram(\.\w+)*\._", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("bot", "feeds")
        for path in (ROOT / package).rglob("*.py")
        if private.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
