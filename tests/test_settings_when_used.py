"""Settings are read when used: a running ``derby run`` takes up a ``derby init`` that
changed the stored feed or schedule, and a changed ``.env``, at its next poll; an
interval given to ``run`` still wins over the stored one."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from derby import cli, poller, store
from derby.config import FeedConfig, Schedule
from derby.feeds.fixture import FixtureFeed

from conftest import DEMO_REPLAY
from helpers import utc
from test_daemon import StepClock, fixture_feed, init_db


def _run_changing_schedule(path, contest, interval):
    """Run the daemon; after its first poll a `derby init` stores ``every`` 0.2 s; stop
    after the third (the second one's contest is read after the change). Returns the daemon."""
    stop, polls = threading.Event(), []

    def on_poll(summary):
        polls.append(summary)
        if len(polls) == 1:
            db = store.open_db(path)
            store.save_contest(db, replace(contest, schedule=Schedule(every=0.2, grace=contest.schedule.grace)),
                               utc(2017, 3, 2))
            db.close()
        elif len(polls) == 3:
            stop.set()

    daemon = poller.Daemon(path, fixture_feed, StepClock(utc(2017, 4, 3), utc(2017, 4, 3, 12), utc(2017, 4, 4)), interval=interval,
                           on_poll=on_poll, stop=stop)
    daemon.run()
    assert len(polls) == 3
    return daemon


def test_a_schedule_changed_while_running_is_taken_up_at_the_next_poll(tmp_path, caplog):
    caplog.set_level(logging.INFO, "derby.poller")
    path = tmp_path / "d.db"
    contest = init_db(path, schedule=Schedule(every=0.05, grace=12 * 3600))
    daemon = _run_changing_schedule(path, contest, interval=None)
    assert daemon.interval == 0.2
    assert "the stored schedule changed" in caplog.text


def test_an_interval_given_to_run_wins_over_the_stored_schedule(tmp_path, caplog):
    caplog.set_level(logging.INFO, "derby.poller")
    path = tmp_path / "d.db"
    contest = init_db(path, schedule=Schedule(every=0.05, grace=12 * 3600))
    daemon = _run_changing_schedule(path, contest, interval=0.05)
    assert daemon.interval == 0.05
    assert "the stored schedule changed" not in caplog.text


def test_the_feed_is_made_from_the_stored_settings_at_each_poll(tmp_path):
    path = tmp_path / "d.db"
    contest = init_db(path)
    ctx = cli._Context(str(path))
    assert cli._feed_now(ctx, contest).folder == DEMO_REPLAY
    other = tmp_path / "replay"
    (other / "polls").mkdir(parents=True)
    db = store.open_db(path)
    store.save_contest(db, replace(contest, feed=FeedConfig(kind="fixture", path=other, page_cap=3)), utc(2017, 3, 2))
    db.close()
    feed = cli._feed_now(ctx, contest)
    assert isinstance(feed, FixtureFeed) and (feed.folder, feed._page_cap) == (other, 3)


def test_env_file_is_read_again_and_the_environment_still_wins(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("INSTAGRAM_ACCESS_TOKEN=first\nINSTAGRAM_USER_ID=1\n", encoding="utf-8")
    monkeypatch.setattr(cli, "_ENV_SOURCES", [{"INSTAGRAM_USER_ID": "42"}, env_file])
    assert cli._environment()["INSTAGRAM_ACCESS_TOKEN"] == "first"
    env_file.write_text("INSTAGRAM_ACCESS_TOKEN=second\nINSTAGRAM_USER_ID=1\n", encoding="utf-8")
    env = cli._environment()
    assert (env["INSTAGRAM_ACCESS_TOKEN"], env["INSTAGRAM_USER_ID"]) == ("second", "42")
