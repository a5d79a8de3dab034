"""The README's first command without a token: the offline demo plays and exits 0."""

import subprocess
import sys
from pathlib import Path

from bot.demo import run_demo

ROOT = Path(__file__).resolve().parent.parent


async def test_demo_plays_the_scripted_conversation(tmp_path):
    lines: list[str] = []
    assert await run_demo(keep_db=str(tmp_path / "demo.sqlite3"), out=lines.append) == 0
    transcript = " ".join("\n".join(lines).split())  # the chat is wrapped for the terminal
    assert "Ti diamo il benvenuto, Anna!" in transcript
    assert "Ora segui: Rapallo" in transcript
    assert "Rapallo: presentato il percorso ciclopedonale" in transcript
    assert "Grazie per il tuo parere!" in transcript
    assert "Ora segui: S4.3 · Rete delle scuole di sostenibilità (7 CEA)" in transcript
    assert "Lo stato è passato da «sospesa» a «in corso»." in transcript
    assert "Done: you now follow S4 · Adapt to climate change." in transcript
    assert "Done: you no longer follow anything (2 subscriptions removed)" in transcript
    assert "every request valid for Bot API" in transcript


def test_main_command_without_token_runs_the_demo(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # a clean directory: no .env, no database left behind in the project
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "running the offline demo" in result.stdout
    assert "Anna" in result.stdout and "Ben" in result.stdout
    assert list(tmp_path.iterdir()) == []
