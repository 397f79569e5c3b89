"""Poll runs whose process is gone (Ctrl-C, kill -9): readers never see them in
progress, any writer closes them; and a poll's finished_at is when it ended."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from derby import poller, store
from derby.cli import cli
from helpers import contest as make_contest, media, page, utc

ROOT = Path(__file__).resolve().parents[1]
REPLAY_TOML = ROOT / "config" / "socialderby-replay.toml"

DYING_POLL = """
import os, sys
from datetime import datetime, timezone
from derby import store
from derby.feeds.parse import Media, MediaPage
db = store.open_db(sys.argv[1])
now = datetime.now(timezone.utc).replace(microsecond=0)
run = store.start_poll_run(db, "fixture", now)
items = [Media(media_id=str(9000 + i), caption="#socialderby", media_type="IMAGE", timestamp=now,
               permalink=f"https://www.instagram.com/p/Dead{i}/", like_count=i, comments_count=0) for i in range(3)]
store.save_page(db, run, "socialderby", "recent_media", MediaPage(media=items), now)
os._exit(130)  # as Ctrl-C or kill -9 mid-poll: the run is left 'running'
"""


@pytest.fixture
def dead_run(tmp_path) -> Path:
    db = tmp_path / "d.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", str(db), "init", str(REPLAY_TOML)]).exit_code == 0
    assert runner.invoke(cli, ["--db", str(db), "poll"]).exit_code == 0
    subprocess.run([sys.executable, "-c", DYING_POLL, str(db)], check=False, cwd=ROOT)
    assert store.open_reader(db).execute("SELECT status FROM poll_runs ORDER BY id DESC LIMIT 1").fetchone() == ("running",)
    return db


def test_readers_never_treat_a_dead_run_as_in_progress(dead_run):
    runner = CliRunner()
    live = json.loads(runner.invoke(cli, ["--db", str(dead_run), "leaderboard", "--all", "--format", "json"]).output)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    as_of = json.loads(runner.invoke(cli, ["--db", str(dead_run), "leaderboard", "--all", "--format", "json",
                                           "--as-of", now]).output)
    assert len(as_of["entries"]) == len(live["entries"])
    assert {"9000", "9001", "9002"} <= {e["media_id"] for e in as_of["entries"]}
    status = json.loads(runner.invoke(cli, ["--db", str(dead_run), "status", "--format", "json"]).output)
    assert status["last_poll"]["status"] == "interrupted"
    # reading changed nothing in the file
    assert store.open_reader(dead_run).execute("SELECT status FROM poll_runs ORDER BY id DESC LIMIT 1").fetchone() == ("running",)


def test_any_writing_command_closes_a_dead_run_at_its_last_page(dead_run):
    result = CliRunner().invoke(cli, ["--db", str(dead_run), "rules", "set", "points_per_like", "2", "--reason", "x"])
    assert result.exit_code == 0, result.output
    row = store.open_reader(dead_run).execute(
        "SELECT status, finished_at, progress_at, error FROM poll_runs ORDER BY id DESC LIMIT 1").fetchone()
    assert row[0] == "interrupted" and row[1] == row[2] is not None
    assert row[3] == "the process ended during this poll; stored pages are kept"


def test_a_run_of_a_process_holding_the_lock_is_left_alone(tmp_path):
    from derby import lock

    path = tmp_path / "d.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", str(path), "init", str(REPLAY_TOML)]).exit_code == 0
    holder = lock.FileLock(path)
    assert holder.acquire()  # as derby run does for its whole life
    try:
        db = store.open_db(path)
        run = store.start_poll_run(db, "fixture", utc(2017, 4, 2))
        result = runner.invoke(cli, ["--db", str(path), "rules", "set", "points_per_like", "2", "--reason", "x"])
        assert result.exit_code == 0, result.output
        assert store.poll_run(db, run)["status"] == "running"
        status = json.loads(runner.invoke(cli, ["--db", str(path), "status", "--format", "json"]).output)
        assert status["last_poll"]["status"] == "running"
    finally:
        holder.release()


def test_finished_at_is_when_the_poll_ended_not_when_it_started(tmp_path, monkeypatch):
    import derby.store.polls as polls

    wall = {"t": 1000.0}
    monkeypatch.setattr(polls.time, "monotonic", lambda: wall["t"])

    class SlowFeed:
        name, requests_made, notes = "fixture", 0, []

        def resolve_hashtag(self, name):
            return {"socialderby": "1", "snq17": "2"}[name]

        def read(self, source, now):
            wall["t"] += 40  # each page takes 40 s to arrive
            yield page(media(f"{source.hashtag_id}{source.edge[0]}"))

    db = store.open_db(tmp_path / "d.db")
    contest = make_contest()
    store.save_contest(db, contest, utc(2017, 3, 30))
    summary = poller.poll_once(db, contest, SlowFeed(), utc(2017, 4, 2, 12))
    row = store.poll_run(db, summary.run_id)
    assert row["started_at"] == "2017-04-02T12:00:00Z"
    assert row["finished_at"] == "2017-04-02T12:02:40Z"  # four pages of 40 s
    assert row["progress_at"] == "2017-04-02T12:02:40Z"


def test_the_board_warns_of_an_interrupted_last_poll(dead_run):
    result = CliRunner().invoke(cli, ["--db", str(dead_run), "leaderboard", "--lang", "fr"])
    assert "⚠ dernière relève : interrompue" in result.output
