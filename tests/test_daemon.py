"""The daemon in process: the real APScheduler loop with short intervals and an
injected contest clock: phases and the final poll, coalescing, cool-downs, errors,
the single-instance lock, coverage gaps and the schedule in the contest file."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from derby import clock, poller, store
from derby.cli import cli
from derby.config import FeedConfig, Schedule, check_interval, load_contest, parse_duration
from derby.errors import ConfigError
from derby.feeds.fixture import FixtureFeed
from derby.feeds.parse import AuthError, FeedError, ThrottledError

from conftest import DEMO_REPLAY
from helpers import contest as make_contest, media, page, utc

FIXTURE = FeedConfig(kind="fixture", path=DEMO_REPLAY)


class StepClock:
    """Contest time that moves to the next given time at each reading (the last
    repeats). ``run`` reads it once at start-up and once per scheduled run."""

    def __init__(self, *times):
        self.times = list(times)
        self.readings = []

    def __call__(self):
        value = self.times.pop(0) if len(self.times) > 1 else self.times[0]
        self.readings.append(value)
        return value


def init_db(path: Path, **overrides):
    contest = make_contest(**{"feed": FIXTURE, **overrides})
    db = store.open_db(path)
    store.save_contest(db, contest, utc(2017, 3, 1))
    db.close()
    return contest


def rows(path: Path, sql: str, params=()):
    db = store.open_db(path)
    try:
        return [tuple(r.values()) for r in db.query(sql, params)]
    finally:
        db.close()


def fixture_feed():
    return FixtureFeed(DEMO_REPLAY)


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(proc.stdout)


# -- phases and the final poll ---------------------------------------------------------

def test_phases_wait_poll_final_poll_and_close(tmp_path):
    path = tmp_path / "d.db"
    init_db(path)  # start 2017-04-01T04:00Z, end 2017-04-10T03:59:59Z
    ticks = StepClock(
        utc(2017, 3, 31, 12),      # start-up
        utc(2017, 3, 31, 12),      # before start - 10 min: waits, no poll run
        utc(2017, 4, 1, 3, 55),    # within the lead: first poll
        utc(2017, 4, 5, 12),       # during the contest (a 3-day hole: coverage gaps)
        utc(2017, 4, 10, 16),      # after end + 12 h grace: the final poll
    )
    polls = []
    outcome = poller.run(path, fixture_feed, ticks, interval=0.05, final_grace=timedelta(hours=12),
                         on_poll=polls.append)
    assert outcome == "closed"
    assert [p.started_at for p in polls] == [utc(2017, 4, 1, 3, 55), utc(2017, 4, 5, 12), utc(2017, 4, 10, 16)]
    assert rows(path, "SELECT id, started_at, status FROM poll_runs") == [
        (1, "2017-04-01T03:55:00Z", "ok"), (2, "2017-04-05T12:00:00Z", "ok"), (3, "2017-04-10T16:00:00Z", "ok")]
    assert rows(path, "SELECT closed_at, final_poll_run_id FROM contest_state") == [("2017-04-10T16:00:00Z", 3)]
    assert rows(path, "SELECT hashtag, gap_from, gap_to, poll_run_id FROM coverage_gaps ORDER BY id") == [
        ("socialderby", "2017-04-01T04:00:00Z", "2017-04-04T12:00:00Z", 2),
        ("snq17", "2017-04-01T04:00:00Z", "2017-04-04T12:00:00Z", 2),
        ("socialderby", "2017-04-05T12:00:00Z", "2017-04-09T16:00:00Z", 3),
        ("snq17", "2017-04-05T12:00:00Z", "2017-04-09T16:00:00Z", 3),
    ]
    assert rows(path, "SELECT count(*) FROM daemon_lock") == [(0,)]
    assert "coverage gap on #socialderby: posts published from 2017-04-01 00:00 (UTC−4) to 2017-04-04 08:00 (UTC−4) (80.0 h)" \
        in polls[1].notes[0]


def test_run_on_a_closed_contest_says_so(tmp_path):
    path = tmp_path / "d.db"
    init_db(path)
    db = store.open_db(path)
    run_id = store.start_poll_run(db, "fixture", utc(2017, 4, 11))
    store.finish_poll_run(db, run_id, utc(2017, 4, 11), status="ok", requests=0)  # the final poll ended
    store.close_contest(db, utc(2017, 4, 11), run_id)
    db.close()
    assert poller.run(path, fixture_feed, StepClock(utc(2017, 4, 11)), interval=0.05) == "already_closed"
    result = CliRunner().invoke(cli, ["--db", str(path), "run"])
    assert result.exit_code == 0
    assert result.output == ("the contest “Test Derby” is closed: its final poll (#1) ran at 2017-04-10 20:00 (UTC−4); "
                             "nothing left to poll\n")


def test_final_poll_that_fails_is_retried_before_closing(tmp_path):
    path = tmp_path / "d.db"
    init_db(path)
    calls = {"n": 0}

    def feed():
        calls["n"] += 1
        if calls["n"] == 1:
            raise FeedError("HTTP 502 calling x")
        return fixture_feed()

    outcome = poller.run(path, feed, StepClock(utc(2017, 4, 12)), interval=0.05)
    assert outcome == "closed"
    assert rows(path, "SELECT closed_at, final_poll_run_id FROM contest_state") == [("2017-04-12T00:00:00Z", 1)]
    assert calls["n"] == 2  # the first attempt failed before a poll run started; logged, retried


# -- coalescing after a pause ----------------------------------------------------------

def test_missed_runs_after_a_pause_become_one_poll(tmp_path, monkeypatch):
    from apscheduler.schedulers.blocking import BlockingScheduler

    path = tmp_path / "d.db"
    init_db(path)
    schedulers = []
    original = BlockingScheduler.start

    def start(self, *args, **kwargs):
        schedulers.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BlockingScheduler, "start", start)
    stop = threading.Event()
    first = threading.Event()
    walls = []

    def on_poll(summary):
        walls.append(time.monotonic())
        first.set()
        if len(walls) == 3:
            stop.set()

    def sleep_machine():
        # Right after the first poll the process "sleeps" for four intervals: the
        # scheduler processes nothing, as when the machine is suspended.
        first.wait(10)
        schedulers[0].pause()
        time.sleep(2.1)
        schedulers[0].resume()

    sleeper = threading.Thread(target=sleep_machine)
    sleeper.start()
    poller.run(path, fixture_feed, StepClock(utc(2017, 4, 3)), interval=0.5, on_poll=on_poll, stop=stop)
    sleeper.join()
    assert len(walls) == 3
    assert walls[1] - walls[0] > 2.0  # the second poll came on waking
    # One poll on waking, then the next one on the regular grid: not a burst of four.
    assert walls[2] - walls[1] > 0.1
    assert rows(path, "SELECT count(*) FROM poll_runs") == [(3,)]


# -- errors, cool-downs, needs-action --------------------------------------------------

class ErrorFeed:
    name = "graph"

    def __init__(self, error):
        self.error = error
        self.requests_made = 0
        self.notes = []

    def resolve_hashtag(self, name):
        self.requests_made += 1
        raise self.error

    def read(self, source, now):  # pragma: no cover - never reached
        yield from ()


def test_an_unexpected_error_is_recorded_and_polling_goes_on(tmp_path):
    path = tmp_path / "d.db"
    init_db(path)
    feeds = iter([ErrorFeed(RuntimeError("boom")), fixture_feed()])
    stop = threading.Event()
    polls = []

    def on_poll(summary):
        polls.append(summary)
        if len(polls) == 2:
            stop.set()

    assert poller.run(path, lambda: next(feeds), StepClock(utc(2017, 4, 3)), interval=0.05, on_poll=on_poll,
                      stop=stop) == "stopped"
    assert rows(path, "SELECT id, status, error FROM poll_runs") == [
        (1, "failed", "unexpected error: RuntimeError: boom"), (2, "ok", None)]


def test_a_token_error_stops_asking_and_records_what_to_do(tmp_path):
    path = tmp_path / "d.db"
    init_db(path)
    error = AuthError("Graph API error 190 on ig_hashtag_search: Error validating access token", code=190,
                      problem="expired")
    polls = []
    outcome = poller.run(path, lambda: ErrorFeed(error), StepClock(utc(2017, 4, 3)), interval=0.05, on_poll=polls.append)
    assert outcome == "auth"
    assert len(polls) == 1  # no more requests
    assert rows(path, "SELECT id, status, error_kind FROM poll_runs") == [(1, "failed", "auth")]


def test_throttling_moves_the_next_poll_to_the_end_of_the_cool_down(tmp_path):
    path = tmp_path / "d.db"
    init_db(path)
    error = ThrottledError("Graph API error 4 on ig_hashtag_search: Application request limit reached", code=4)
    stop = threading.Event()
    seen = {}

    def watch():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not stop.is_set():
            row = rows(path, "SELECT resume_at, next_poll_at FROM daemon_lock")
            if row and row[0][0]:
                seen["lock"] = row[0]
                break
            time.sleep(0.02)
        time.sleep(0.3)  # six intervals: no poll may come while cooling down
        stop.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    outcome = poller.run(path, lambda: ErrorFeed(error), StepClock(utc(2017, 4, 3, 12)), interval=0.05, stop=stop)
    watcher.join()
    assert outcome == "stopped"
    assert rows(path, "SELECT id, status, cooldown_until FROM poll_runs") == [(1, "failed", "2017-04-03T13:00:00Z")]
    resume_at, next_poll_at = seen["lock"]
    assert resume_at == "2017-04-03T13:00:00Z"
    assert next_poll_at in ("2017-04-03T12:59:59Z", "2017-04-03T13:00:00Z")


def test_a_stop_during_a_stuck_request_abandons_it_in_time(tmp_path):
    path = tmp_path / "d.db"
    init_db(path)
    stuck, release, stop = threading.Event(), threading.Event(), threading.Event()

    class StuckFeed(ErrorFeed):
        def resolve_hashtag(self, name):
            return {"socialderby": "1", "snq17": "2"}[name]

        def read(self, source, now):
            hashtag_id, edge = source.hashtag_id, source.edge
            yield page(media("10"))
            stuck.set()
            release.wait(10)  # a request that hangs until its timeout
            yield page(media("11"))

    def stopper():
        stuck.wait(10)
        stop.set()

    threading.Thread(target=stopper).start()
    started = time.monotonic()
    try:
        outcome = poller.run(path, lambda: StuckFeed(None), StepClock(utc(2017, 4, 3)), interval=5, stop=stop,
                             stop_timeout=0.3)
        assert outcome == "abandoned"
        assert time.monotonic() - started < 5
        # (the CLI exits at once; in process, the stuck thread would later record what it stored)
        assert rows(path, "SELECT id, status, pages FROM poll_runs") == [(1, "interrupted", 1)]
        assert rows(path, "SELECT media_id FROM media") == [("10",)]
        assert rows(path, "SELECT count(*) FROM daemon_lock") == [(0,)]
    finally:
        release.set()


# -- the single-instance lock ----------------------------------------------------------

def hold_lock(path: Path, pid: int, since=None, host=None, boot_id="same"):
    db = store.open_db(path)
    holder = poller.process_identity(since or clock.utcnow())
    holder.pid = pid
    if host:
        holder.host = host
    if boot_id != "same":
        holder.boot_id = boot_id
    store.acquire_lock(db, holder, lambda h: False)
    db.close()
    return holder


def test_a_second_run_refuses_and_names_the_first(tmp_path):
    from derby.lock import FileLock

    path = tmp_path / "d.db"
    init_db(path)
    hold_lock(path, os.getpid(), since=utc(2017, 4, 2, 8, 30))
    first = FileLock(path)  # the first run holds the file lock (its own open file: flock refuses a second)
    assert first.acquire()
    result = CliRunner().invoke(cli, ["--db", str(path), "run"])
    first.release()
    assert result.exit_code == 1
    assert result.output == (f"derby: another derby run is already polling this database: pid {os.getpid()} on host "
                             f"{socket.gethostname()}, since 2017-04-02T08:30:00Z; stop it first (kill {os.getpid()}, "
                             f"or systemctl stop derby)\n")
    assert rows(path, "SELECT count(*) FROM poll_runs") == [(0,)]


def test_a_dead_process_lock_is_taken_over_and_its_poll_marked_interrupted(tmp_path, caplog):
    path = tmp_path / "d.db"
    init_db(path)
    pid = dead_pid()
    hold_lock(path, pid, since=utc(2017, 4, 2, 8, 30))
    db = store.open_db(path)
    store.start_poll_run(db, "fixture", utc(2017, 4, 2, 9))  # left "running" by the dead process
    db.close()
    stop = threading.Event()
    caplog.set_level(logging.INFO, logger="derby.poller")
    outcome = poller.run(path, fixture_feed, StepClock(utc(2017, 4, 3)), interval=0.05,
                         on_poll=lambda s: stop.set(), stop=stop)
    assert outcome == "stopped"
    assert f"took over the daemon lock of pid {pid} on host {socket.gethostname()}, since 2017-04-02T08:30:00Z" in caplog.text
    assert "final poll after 2017-04-10 23:59 (UTC−4)" in caplog.text  # the contest's zone, not UTC
    # the interrupted run ends at its last stored page (none: its start); the new one when it ended
    [first, second] = rows(path, "SELECT id, status, finished_at FROM poll_runs")
    assert first == (1, "interrupted", "2017-04-02T09:00:00Z")
    assert second[:2] == (2, "ok") and "2017-04-03T00:00:00Z" <= second[2] < "2017-04-03T00:01:00Z"
    assert rows(path, "SELECT count(*) FROM daemon_lock") == [(0,)]


def test_a_lock_taken_over_stops_the_old_daemon(tmp_path):
    path = tmp_path / "d.db"
    init_db(path)
    polls = []

    def on_poll(summary):
        polls.append(summary)
        if len(polls) == 1:  # a second process decided this one was dead and took over
            db = store.open_db(path)
            store.acquire_lock(db, poller.process_identity(clock.utcnow()), lambda h: False)
            db.close()

    assert poller.run(path, fixture_feed, StepClock(utc(2017, 4, 3)), interval=0.05, on_poll=on_poll) == "lost_lock"
    assert len(polls) == 1


# -- coverage gaps ---------------------------------------------------------------------

def test_coverage_gaps_are_recorded_within_the_contest_window(tmp_path):
    db = store.open_db(tmp_path / "d.db")
    window = (utc(2017, 4, 1, 4), utc(2017, 4, 10, 4))
    ids = [store.start_poll_run(db, "fixture", utc(2017, 4, 1)) for _ in range(5)]
    # First read 2 h after the start: its 24 h reach back covers the start, no gap.
    assert store.record_coverage(db, ids[0], "socialderby", utc(2017, 4, 1, 6), window) is None
    # 23 h 59 min later: still overlapping.
    assert store.record_coverage(db, ids[1], "socialderby", utc(2017, 4, 2, 5, 59), window) is None
    # 30 h later: six hours nobody could see.
    gap = store.record_coverage(db, ids[2], "socialderby", utc(2017, 4, 3, 11, 59), window)
    assert (gap.hashtag, gap.gap_from, gap.gap_to, gap.hours) == ("socialderby", utc(2017, 4, 2, 5, 59), utc(2017, 4, 2, 11, 59), 6.0)
    # A hashtag first read 3 days into the contest: the gap runs from the start.
    gap = store.record_coverage(db, ids[3], "snq17", utc(2017, 4, 4, 4), window)
    assert (gap.gap_from, gap.gap_to) == (utc(2017, 4, 1, 4), utc(2017, 4, 3, 4))
    # Long after the end: only the part inside the contest counts.
    gap = store.record_coverage(db, ids[4], "snq17", utc(2017, 4, 12), window)
    assert (gap.gap_from, gap.gap_to) == (utc(2017, 4, 4, 4), utc(2017, 4, 10, 4))
    assert [(g.hashtag, clock.to_store(g.gap_from)) for g in store.coverage_gaps(db)] == [
        ("snq17", "2017-04-01T04:00:00Z"), ("socialderby", "2017-04-02T05:59:00Z"), ("snq17", "2017-04-04T04:00:00Z")]
    assert store.last_coverage(db) == {"socialderby": utc(2017, 4, 3, 11, 59), "snq17": utc(2017, 4, 12)}


def test_a_failed_recent_media_read_records_no_coverage(tmp_path):
    db = store.open_db(tmp_path / "d.db")
    contest = make_contest()

    class Feed:
        name, requests_made, notes = "graph", 0, []

        def resolve_hashtag(self, name):
            return {"socialderby": "1", "snq17": "2"}[name]

        def read(self, source, now):
            hashtag_id, edge = source.hashtag_id, source.edge
            yield page(media("10"))
            if hashtag_id == "2":
                raise FeedError("timeout after 20 s calling 2/recent_media")

    summary = poller.poll_once(db, contest, Feed(), utc(2017, 4, 2))
    assert summary.status == "partial"
    assert store.last_coverage(db) == {"socialderby": utc(2017, 4, 2)}


def test_twelve_hours_without_a_successful_poll_is_warned(tmp_path, caplog):
    db = store.open_db(tmp_path / "d.db")
    contest = make_contest()
    run_id = store.start_poll_run(db, "fixture", utc(2017, 4, 2))
    store.record_coverage(db, run_id, "socialderby", utc(2017, 4, 2), (contest.start, contest.end))
    store.record_coverage(db, run_id, "snq17", utc(2017, 4, 2, 6), (contest.start, contest.end))
    with caplog.at_level(logging.WARNING, logger="derby.poller"):
        assert poller._warn_coverage(db, contest, utc(2017, 4, 2, 11, 59), timedelta(hours=12)) == []
        assert poller._warn_coverage(db, contest, utc(2017, 4, 2, 12), timedelta(hours=12)) == [
            "no successful poll of #socialderby since 2017-04-01 20:00 (UTC−4): posts older than 24 h are lost for "
            "good unless a poll succeeds before 2017-04-02 20:00 (UTC−4)"]


# -- the schedule in the contest file --------------------------------------------------

def write_contest(tmp_path, schedule: str, feed: str = 'kind = "graph"') -> Path:
    path = tmp_path / "c.toml"
    path.write_text(f'[contest]\ntitle = "T"\nhashtags = ["a", "b"]\ntimezone = "America/Toronto"\n'
                    f'start = "2017-04-01T00:00:00"\nend = "2017-04-09T23:59:59"\n[feed]\n{feed}\n{schedule}', encoding="utf-8")
    return path


def test_schedule_is_read_and_stored(tmp_path):
    contest = load_contest(write_contest(tmp_path, '[schedule]\nevery = "1h30m"\ngrace = "2h"\n'))
    assert contest.schedule == Schedule(every=5400.0, grace=7200.0)
    assert load_contest(write_contest(tmp_path, "")).schedule == Schedule(every=1800.0, grace=86400.0)
    db = store.open_db(tmp_path / "d.db")
    store.save_contest(db, contest, utc(2017, 3, 1))
    assert store.load_contest(db).schedule == Schedule(every=5400.0, grace=7200.0)


@pytest.mark.parametrize("schedule, message", [
    ('every = "7h"', "schedule.every = 7h is too long: recent_media only reaches back 24 hours, so poll at least every 6h"),
    ('every = "30s"', "schedule.every = 30s is too short for the Graph API; use at least 1m"),
    ('every = "5m"', "schedule.every = 5m could make 480 requests an hour (2 hashtags × 2 edges × 10 pages), over the "
                     "budget of 200; poll every 12m or more, or lower feed.page_cap"),
    ('every = "half an hour"', 'schedule.every = \'half an hour\' is not a duration such as "90s", "10m", "6h", "2d" or "1h30m"'),
    ('every = "0m"', "schedule.every must be longer than zero"),
    ('often = "1m"', "unknown key schedule.often; allowed in [schedule]: every, grace"),
])
def test_bad_schedules_are_refused(tmp_path, schedule, message):
    path = write_contest(tmp_path, f"[schedule]\n{schedule}\n")
    with pytest.raises(ConfigError) as err:
        load_contest(path)
    assert str(err.value) == f"{path}: {message}"


def test_fixture_feeds_may_poll_fast_and_durations_parse():
    assert check_interval(1.0, feed_kind="fixture", hashtags=2, page_cap=10) == 1.0
    assert [parse_duration(t, "k") for t in ("30m", "2h", "90s", "1h30m", "1.5h", 45, "1800")] == [1800, 7200, 90, 5400, 5400, 45, 1800]


def test_run_every_override_is_checked_like_the_file(tmp_path):
    path = tmp_path / "d.db"
    init_db(path, feed=FeedConfig(kind="graph"))
    result = CliRunner().invoke(cli, ["--db", str(path), "run", "--every", "5m"])
    assert result.exit_code == 2
    # the refreshes count too: up to refresh.max_requests (100) more per poll
    assert result.output == ("derby: --every = 5m could make 1680 requests an hour (2 hashtags × 2 edges × 10 pages + "
                             "100 refresh requests), over the budget of 200; poll every 42m or more, or lower "
                             "feed.page_cap or refresh.max_requests\n")


def test_run_logs_carry_timestamps_and_never_the_token(tmp_path, monkeypatch):
    from derby import cli as cli_module

    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", "EAAGtestTOKENdoNotLog0123456789")
    log_file = tmp_path / "logs" / "derby.log"
    restore = cli_module._setup_logging(str(log_file), "INFO")
    try:
        logging.getLogger("derby.poller").warning("GET /x?access_token=%s failed", "EAAGtestTOKENdoNotLog0123456789")
        logging.getLogger("apscheduler.executors.default").info("Running job (noise)")
    finally:
        restore()
    text = log_file.read_text(encoding="utf-8")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ WARNING derby\.poller: GET /x\?access_token=\*\*\* failed\n", text)
    assert len(text.splitlines()) == 1
    assert logging.getLogger("apscheduler").level == logging.NOTSET


def test_the_final_poll_waits_for_count_engagement_until_when_later():
    contest = make_contest(end=utc(2017, 4, 10, 4))
    assert poller.final_poll_at(contest) == utc(2017, 4, 11, 4)  # the end plus the default 24 h
    assert poller.final_poll_at(contest, timedelta(hours=12)) == utc(2017, 4, 10, 16)
    later = make_contest(end=utc(2017, 4, 10, 4), count_engagement_until=utc(2017, 4, 13, 4))
    assert poller.final_poll_at(later) == utc(2017, 4, 13, 4)
    sooner = make_contest(end=utc(2017, 4, 10, 4), count_engagement_until=utc(2017, 4, 10, 8))
    assert poller.final_poll_at(sooner) == utc(2017, 4, 11, 4)


def test_the_run_log_says_what_is_polled_in_a_team_contest(tmp_path):
    from test_team_standings import TEAMS

    from derby.config import load_contest

    path = tmp_path / "teams.toml"
    path.write_text(TEAMS, encoding="utf-8")
    assert poller._polled_what(load_contest(path)) == "2 teams"
    assert poller._polled_what(make_contest()) == "#socialderby, #snq17"


def test_a_database_locked_at_start_up_is_waited_for_not_a_reason_to_stop(tmp_path, monkeypatch, caplog):
    """Another program holds the write lock past the busy timeout when the daemon starts:
    it says so and tries again until the lock is free, then polls."""
    import sqlite3

    from derby.store import schema

    path = tmp_path / "d.db"
    init_db(path)
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 50)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    stop = threading.Event()
    polls = []

    def on_poll(summary):
        polls.append(summary)
        stop.set()

    def release_after_the_warning():
        while not any("locked" in r.getMessage() for r in caplog.records):
            time.sleep(0.01)
        holder.execute("COMMIT")

    caplog.set_level(logging.WARNING, logger="derby")
    releaser = threading.Thread(target=release_after_the_warning)
    releaser.start()
    outcome = poller.run(path, fixture_feed, StepClock(utc(2017, 4, 3)), interval=0.05, on_poll=on_poll, stop=stop,
                         locked_retry=0.01)
    releaser.join()
    holder.close()
    assert outcome == "stopped" and [p.status for p in polls] == ["ok"]
    assert any(r.getMessage().startswith("the database is locked by another program") for r in caplog.records)


def test_a_one_shot_command_on_a_locked_database_waits_then_says_so_in_one_line(tmp_path, monkeypatch):
    import sqlite3

    from derby.store import schema

    path = tmp_path / "d.db"
    init_db(path)
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 50)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = CliRunner().invoke(cli, ["--db", str(path), "--now", "2017-04-03T12:00", "poll"])
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == ("derby: the database is locked by another program (waited 15 s); "
                                              "run the command again once it is done")
