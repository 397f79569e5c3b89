"""The single-instance lock is an OS file lock the kernel releases: a stale lock row whose
pid now belongs to a live, unrelated process, or to pid 1 after a container restart (the
new process itself), never blocks a start; a live holder in another process blocks
`derby run` and `derby poll` (unless --force), and `derby status` follows the same rule."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner
from helpers import utc
from test_daemon import StepClock, fixture_feed, hold_lock, init_db, rows

from derby import lock, poller, store
from derby.cli import cli

HOLDER = """
import sys, time
from derby.lock import FileLock
held = FileLock(sys.argv[1])
assert held.acquire()
print("held", flush=True)
time.sleep(120)
"""


@pytest.fixture
def other_process():
    """Start a process that holds a database's file lock; yields a function taking the
    database path and returning the process (killed with SIGKILL at the end)."""
    procs = []

    def start(path):
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def run_once(path, caplog):
    """``derby run`` in process until its first poll; returns its outcome."""
    stop = threading.Event()
    caplog.set_level(logging.INFO, logger="derby.poller")
    return poller.run(path, fixture_feed, StepClock(utc(2017, 4, 3)), interval=0.05, on_poll=lambda s: stop.set(),
                      stop=stop)


def test_the_kernel_releases_the_lock_of_a_killed_process(tmp_path, other_process):
    path = tmp_path / "d.db"
    assert lock.is_held(path) is False  # no lock file yet
    proc = other_process(path)
    assert lock.is_held(path) is True and not lock.FileLock(path).acquire()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert lock.is_held(path) is False  # at once: no timeout, no pid check
    mine = lock.FileLock(path)
    assert mine.acquire() and lock.is_held(path) is True
    mine.release()
    assert lock.is_held(path) is False and lock.lock_path(path) == tmp_path / "d.db.lock"


def test_a_stale_row_naming_a_live_unrelated_pid_is_taken_over(tmp_path, caplog):
    path = tmp_path / "d.db"
    init_db(path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        hold_lock(path, sleeper.pid, since=utc(2017, 4, 2, 8, 30))  # the row of a dead derby; the pid was reused
        db = store.open_db(path)
        store.start_poll_run(db, "fixture", utc(2017, 4, 2, 9))  # left "running" by that dead derby
        db.close()
        assert run_once(path, caplog) == "stopped"
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
    assert f"took over the daemon lock of pid {sleeper.pid} on host" in caplog.text
    assert rows(path, "SELECT id, status FROM poll_runs") == [(1, "interrupted"), (2, "ok")]
    assert rows(path, "SELECT count(*) FROM daemon_lock") == [(0,)]


@pytest.mark.parametrize("pid", [1, os.getpid()], ids=["pid 1 after a container restart", "this very process"])
def test_a_restart_that_gets_the_old_pid_again_starts(tmp_path, caplog, pid):
    path = tmp_path / "d.db"
    init_db(path)
    hold_lock(path, pid, since=utc(2017, 4, 2, 8, 30))  # same host, same boot: a pid check would say "alive"
    assert run_once(path, caplog) == "stopped"
    assert f"took over the daemon lock of pid {pid} on host" in caplog.text
    assert rows(path, "SELECT status FROM poll_runs") == [("ok",)]


def test_a_live_holder_blocks_run_and_poll_until_it_dies(tmp_path, other_process):
    path = tmp_path / "d.db"
    init_db(path)
    proc = other_process(path)
    hold_lock(path, proc.pid, since=utc(2017, 4, 2, 8, 30))
    db = store.open_db(path)
    store.start_poll_run(db, "fixture", utc(2017, 4, 2, 9))  # the holder's poll in progress
    db.close()

    def derby(*args):
        return CliRunner().invoke(cli, ["--db", str(path), *args])

    refused = derby("run")
    assert refused.exit_code == 1 and f"another derby run is already polling this database: pid {proc.pid}" in refused.stderr
    polled = derby("poll")
    assert polled.exit_code == 1
    assert polled.stderr == (f"derby: another derby run is already polling this database: pid {proc.pid} on host "
                             f"{os.uname().nodename}, since 2017-04-02T08:30:00Z; it polls on its schedule, and a poll "
                             "by hand would spend the same rate budget; --force to poll anyway\n")
    status = derby("status", "--format", "json")
    assert '"running": true' in status.stdout and f'"pid": {proc.pid}' in status.stdout
    forced = derby("poll", "--force")
    assert forced.exit_code == 0 and "warning: polling while another derby process holds this database" in forced.stderr
    assert rows(path, "SELECT id, status FROM poll_runs") == [(1, "running"), (2, "ok")]  # the holder's is left alone

    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert '"running": false' in derby("status", "--format", "json").stdout  # the row is still there, the lock is not
    after = derby("poll")
    assert after.exit_code == 0, after.output
    assert "poll runs #1 were interrupted by the end of their process" in after.stderr
    assert rows(path, "SELECT id, status FROM poll_runs") == [(1, "interrupted"), (2, "ok"), (3, "ok")]


def test_a_manual_poll_holds_the_lock_while_it_polls(tmp_path, monkeypatch):
    path = tmp_path / "d.db"
    init_db(path)
    seen = []

    class Watching:
        """The fixture feed, noting whether the lock is held while it is read."""

        def __init__(self):
            self.inner = fixture_feed()

        def __getattr__(self, name):
            seen.append(lock.is_held(path))
            return getattr(self.inner, name)

    from derby.feeds import factory

    monkeypatch.setattr(factory, "make_feed", lambda *a, **k: Watching())
    result = CliRunner().invoke(cli, ["--db", str(path), "poll"])
    assert result.exit_code == 0, result.output
    assert seen and all(seen) and lock.is_held(path) is False


def test_status_follows_the_same_rule(tmp_path, monkeypatch):
    path = tmp_path / "d.db"
    init_db(path, start=utc(2017, 4, 1), end=utc(2099, 1, 1))
    hold_lock(path, 1)  # a row, no lock: pid 1 is alive, but it is not polling this database
    db = store.open_db(path)
    store.start_poll_run(db, "fixture", utc(2017, 4, 2, 9))
    db.close()

    def status():
        result = CliRunner().invoke(cli, ["--db", str(path), "status", "--lang", "en"])
        return result.exit_code, result.stdout

    code, text = status()
    assert code == 1 and "daemon: not running" in text
    assert "warning: poll #1 was left running by a process that ended" in text
    assert "warning: no derby run is polling this database during the contest" in text
    real_open = os.open

    def refuse_lock_file(path_, flags, *args):
        if str(path_).endswith(".lock"):
            raise PermissionError(13, "Permission denied")
        return real_open(path_, flags, *args)

    lock.lock_path(path).touch()  # as a run left it
    monkeypatch.setattr(os, "open", refuse_lock_file)  # as for another user than the daemon's (mode 0600)
    code, text = status()
    assert code == 1 and "cannot tell whether derby run is polling: " in text and "d.db.lock cannot be opened" in text
    assert "was left running" not in text  # unknown is not dead
