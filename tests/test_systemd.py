"""derby under systemd: journald priorities on stderr, and a unit that `systemd-analyze
verify` accepts (skipped where systemd is absent)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from derby.cli import cli

ROOT = Path(__file__).resolve().parents[1]
REPLAY_TOML = ROOT / "config" / "socialderby-replay.toml"
UNIT = ROOT / "scripts" / "derby.service"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _run_closed_contest(tmp_path: Path, journal: str | None) -> list[str]:
    """``derby run`` on the replay (long closed: one final poll, then exit 0) with
    stderr in a file and ``JOURNAL_STREAM`` set to ``journal`` (``"match"``: that file)."""
    db = tmp_path / "r.db"
    assert CliRunner().invoke(cli, ["--db", str(db), "init", str(REPLAY_TOML)]).exit_code == 0
    err = tmp_path / "stderr.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DERBY_", "INSTAGRAM_", "JOURNAL_"))}
    with err.open("wb") as fh:
        if journal == "match":
            st = os.fstat(fh.fileno())
            journal = f"{st.st_dev}:{st.st_ino}"
        if journal:
            env["JOURNAL_STREAM"] = journal
        done = subprocess.run([sys.executable, "-m", "derby", "--db", str(db), "run"], stdout=subprocess.PIPE,
                              stderr=fh, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, err.read_text("utf-8")
    return err.read_text("utf-8").splitlines()


def test_run_under_journald_prefixes_priorities_and_drops_timestamps(tmp_path):
    lines = _run_closed_contest(tmp_path, "match")
    assert lines and all(re.match(r"<[234567]>derby\.[\w.]+: ", line) for line in lines), lines
    assert not any(TIMESTAMP.search(line) for line in lines if "ok:" in line)
    assert any(line.startswith("<6>derby.poller: poll #1 ok: ") for line in lines)
    assert any(line.startswith("<4>derby.poller: poll #1: coverage gap on #socialderby") for line in lines)


def test_a_failure_under_journald_is_an_error_line(tmp_path):
    err = tmp_path / "stderr.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DERBY_", "INSTAGRAM_", "JOURNAL_"))}
    with err.open("wb") as fh:
        st = os.fstat(fh.fileno())
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        done = subprocess.run([sys.executable, "-m", "derby", "--db", str(tmp_path / "none.db"), "run"],
                              stdout=subprocess.PIPE, stderr=fh, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert err.read_text("utf-8").startswith(f"<3>derby: no database at {tmp_path / 'none.db'}; ")


def test_a_journal_stream_that_is_not_stderr_keeps_the_plain_lines(tmp_path):
    lines = _run_closed_contest(tmp_path, "1:2")  # the journal is elsewhere: stderr was redirected
    assert lines and all(TIMESTAMP.match(line) and not line.startswith("<") for line in lines), lines
    assert any(" WARNING derby.poller: poll #1: coverage gap" in line for line in lines)


def _verify(unit: Path) -> subprocess.CompletedProcess:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit cannot be verified here")
    probe = subprocess.run([analyze, "--version"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"systemd-analyze does not run here: {probe.stderr.strip()[:200]}")
    return subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60)


def test_the_unit_passes_systemd_analyze_verify(tmp_path):
    text = UNIT.read_text("utf-8")
    assert "StateDirectory=derby" in text and "LogsDirectory=derby" in text
    program = tmp_path / "derby"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    unit = tmp_path / "derby.service"
    unit.write_text(text.replace("/opt/derby/.venv/bin/derby", str(program)), encoding="utf-8")
    result = _verify(unit)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 0 and problems == []  # an unknown key is only a warning line, exit 0


def test_the_readme_paths_match_the_unit():
    readme = (ROOT / "README.md").read_text("utf-8")
    text = UNIT.read_text("utf-8")
    assert "/var/log/derby/derby.log" in readme and "LogsDirectory=derby" in text  # /var/log/derby, writable
    assert "/var/lib/derby/derby.db" in readme and "StateDirectory=derby" in text  # /var/lib/derby, writable
