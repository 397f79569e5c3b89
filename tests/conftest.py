"""Shared fixtures. Tests never touch the network and never see a developer's .env."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[2] / "shared" / "real" / "graph-api"
DEMO_REPLAY = Path(__file__).resolve().parents[1] / "derby" / "demo" / "replay"
FAKE_TOKEN = "EAAGtestTOKENdoNotLog0123456789"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """Clear DERBY_* and Instagram variables and run each test in its own folder, so a
    developer's environment or .env never leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("DERBY_", "INSTAGRAM_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    from derby import cli

    monkeypatch.setattr(cli, "_ENV_SOURCES", [])  # a .env that cli.main() read in another test never leaks


@pytest.fixture
def real_dir() -> Path:
    """The shared folder of real recorded Graph API bodies (skips when absent)."""
    if not REAL.is_dir():
        pytest.skip(f"real Graph API recordings not found at {REAL} (they live in ../shared, outside the repo)")
    return REAL


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def past_rankings(monkeypatch):
    """Count the standings computed as of a past moment (a previous poll's end)."""
    from derby import leaderboard

    calls: list = []
    real = leaderboard.standings

    def counting(db, now, as_of=None):
        if as_of is not None:
            calls.append(as_of)
        return real(db, now, as_of)

    monkeypatch.setattr(leaderboard, "standings", counting)
    return calls
