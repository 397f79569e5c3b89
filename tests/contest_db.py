"""A fixture shared by the announcement tests (draws, results, rules text, purge,
flags, check-winners): the replay contest polled once after its close, driven through
the CLI with an injected clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from derby import clock
from derby.cli import cli
from helpers import utc

ROOT = Path(__file__).resolve().parents[1]
REPLAY_TOML = ROOT / "config" / "socialderby-replay.toml"


class FakeClock:
    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now


@pytest.fixture
def fake_clock(monkeypatch):
    fake = FakeClock(utc(2017, 4, 12, 12))
    monkeypatch.setattr(clock, "utcnow", fake)
    return fake


@pytest.fixture
def derby(tmp_path, fake_clock):
    """``derby(*args, ok=True)`` runs a command on a database holding the replay's last
    poll (2017-04-12, after the close); ``derby.db`` is its path."""
    runner = CliRunner()
    db = tmp_path / "d.db"

    def run(*args, ok=True):
        result = runner.invoke(cli, ["--db", str(db), *args])
        if ok:
            assert result.exit_code == 0, (result.output, result.stderr)
        return result

    run("init", str(REPLAY_TOML))
    fake_clock.now = utc(2017, 4, 12, 12, 1)
    run("poll")
    fake_clock.now = utc(2017, 4, 12, 13)
    run.db = db
    return run
