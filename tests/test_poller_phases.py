"""The daemon's one decision of the next phase, and its listener for missed runs,
each tested alone (the whole schedule is tested in test_daemon.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent

from derby import poller
from derby.poll import PollSummary
from helpers import contest as make_contest, utc


def daemon(**kwargs) -> poller.Daemon:
    d = poller.Daemon(":memory:", lambda: None, lambda: utc(2017, 4, 3), **kwargs)
    d.interval = 3600.0
    return d


def summary(now, **fields) -> PollSummary:
    return PollSummary(run_id=1, started_at=now, **fields)


def test_next_phase_waits_before_the_start_less_the_lead():
    contest = make_contest()
    now = contest.start - timedelta(hours=1)
    assert daemon().next_phase(contest, now, None) == (poller.WAITING, contest.start - poller.START_LEAD)


def test_next_phase_needs_a_person_cools_down_closes_or_polls():
    contest = make_contest()
    d = daemon(final_grace=timedelta(hours=2))
    during = contest.start + timedelta(hours=1)
    assert d.next_phase(contest, during, summary(during, exit_code=4, status="failed")) == (poller.NEEDS_PERSON, None)
    until = during + timedelta(minutes=30)
    assert d.next_phase(contest, during, summary(during, cooldown_until=until)) == (poller.COOLING_DOWN, until)
    assert d.next_phase(contest, during, summary(during, cooldown_until=during)) == (poller.POLLING, None)
    final = contest.end + timedelta(hours=2)
    assert d.next_phase(contest, final, summary(final)) == (poller.CLOSED, None)
    assert d.next_phase(contest, final, summary(final, status="partial")) == (poller.POLLING, None)
    assert d.next_phase(contest, during, summary(during)) == (poller.POLLING, None)


def test_a_missed_poll_is_logged(caplog):
    event = JobExecutionEvent(EVENT_JOB_MISSED, "poll", None, datetime(2017, 4, 3, tzinfo=timezone.utc))
    with caplog.at_level(logging.WARNING, logger="derby.poller"):
        daemon().on_missed(event)
    assert "a scheduled poll was missed" in caplog.text
