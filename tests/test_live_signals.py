"""`derby leaderboard --live` in a real pseudo-terminal: SIGTERM and SIGHUP restore the
terminal (the cursor is shown again) as Ctrl-C does."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from derby.cli import cli

ROOT = Path(__file__).resolve().parents[1]
REPLAY_TOML = ROOT / "config" / "socialderby-replay.toml"
HIDE, SHOW = b"\x1b[?25l", b"\x1b[?25h"


def _read_until(fd: int, wanted: bytes, limit: float) -> bytes:
    out = b""
    end = time.monotonic() + limit
    while time.monotonic() < end and wanted not in out:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    return out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_live_board_restores_the_cursor_on_a_signal(tmp_path, signum):
    db = tmp_path / "d.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", str(db), "init", str(REPLAY_TOML)]).exit_code == 0
    assert runner.invoke(cli, ["--db", str(db), "poll"]).exit_code == 0
    pid, fd = pty.fork()
    if pid == 0:  # the child: derby on the pseudo-terminal
        os.environ.update({"COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"})
        os.execv(sys.executable, [sys.executable, "-m", "derby", "--db", str(db), "leaderboard", "--live", "--every", "30"])
    try:
        shown = _read_until(fd, HIDE, 20)
        assert HIDE in shown, shown[-300:]
        _read_until(fd, b"\x00", 0.5)  # let the first frame finish drawing
        os.kill(pid, signum)
        rest = _read_until(fd, SHOW, 10)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert SHOW in rest
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
