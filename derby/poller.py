"""Polling: one collection cycle (``poll_once``) and the scheduler around it (``run``).

``poll_once`` reads every contest hashtag's ``recent_media`` and ``top_media`` from a
feed and stores each page in its own transaction, so a crash mid-poll leaves a
consistent database that the next poll continues. ``run`` wraps it in an APScheduler
3.x ``BlockingScheduler``; each job opens its own database connection.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path

import sqlite_utils

from derby import clock, store
from derby.clock import Clock
from derby.config import Contest
from derby.errors import ConfigError
from derby.feeds import EDGES, Feed, FeedError
from derby.feeds.parse import BudgetError, HashtagLimitError, ThrottledError

log = logging.getLogger("derby.poller")

FINAL_POLL_GRACE = timedelta(hours=24)
"""After the contest's end, ``run`` keeps polling this long (engagement still grows),
then makes a final poll and stops."""

DEFAULT_COOLDOWN = timedelta(hours=1)
"""How long to stop calling after throttling when the platform gives no estimate: the
platform's rate limits count calls over a rolling hour (Meta's "Rate Limiting" page)."""


@dataclass
class PollSummary:
    """The outcome of one poll run. ``status`` is ``ok``, ``partial`` (stopped or
    failed after storing some pages), ``failed`` or ``skipped`` (a cool-down was in
    force: no request made); times are aware UTC. ``exit_code`` is what ``derby poll``
    exits with: 0 done, 3 refused for now, 4 token or permissions, 2 configuration.
    ``budget`` is the account's hashtag budget after the poll; ``usage`` the latest
    usage reading of the platform (None: no header seen, which is not zero)."""

    run_id: int
    started_at: datetime
    status: str = "ok"
    pages: int = 0
    requests: int = 0
    retries: int = 0
    new_media: int = 0
    updated_media: int = 0
    snapshots: int = 0
    warnings: int = 0
    error: str | None = None
    error_kind: str | None = None
    details: str = ""
    exit_code: int = 0
    cooldown_until: datetime | None = None
    budget: store.HashtagBudget | None = None
    usage: dict | None = None
    notes: list[str] = field(default_factory=list)
    tz: tzinfo = timezone.utc

    def line(self) -> str:
        """One line for a person: what this poll did."""
        text = (f"poll #{self.run_id} {self.status}: {self.pages} pages, {self.requests} requests, "
                f"{self.new_media} new and {self.updated_media} updated media, {self.snapshots} snapshots")
        if self.warnings:
            text += f", {self.warnings} warnings"
        if self.retries:
            text += f", {self.retries} retries"
        if self.usage is not None:
            text += f", API usage {self.usage['max_pct']:g} %"
        if self.budget is not None:
            text += f"; hashtags {self.budget.used}/{self.budget.limit} this week"
            if self.budget.next_free is not None:
                text += f", next slot frees {_when(self.budget.next_free, self.tz)}"
        if self.error:
            text += f"; error: {self.error}"
        return text


def _when(moment: datetime, tz: tzinfo) -> str:
    """``2017-04-03 13:00 (UTC−4)``: a moment in the contest's zone, with its offset."""
    return clock.format_local(moment, tz, "en")  # type: ignore[arg-type]


def feed_account(feed: Feed) -> str:
    """The account whose limits a feed's calls count against (the Instagram user id for
    the Graph feed; the feed's name for others)."""
    return str(getattr(feed, "account", None) or feed.name)


def check_contest_budget(db: sqlite_utils.Database, contest: Contest, account: str | None, now: datetime) -> store.HashtagBudget | None:
    """Refuse (ConfigError) a contest whose hashtags need more free slots than the
    account has now: 30 unique hashtags per rolling 7 days, counted in the database.
    With ``account`` None (not known yet) only the contest's own count is checked.
    Returns the budget checked, or None."""
    if account is None:
        if len(contest.hashtags) > store.HASHTAG_LIMIT:
            raise ConfigError(f"the contest lists {len(contest.hashtags)} hashtags; an Instagram account may query only "
                              f"{store.HASHTAG_LIMIT} unique hashtags in 7 days")
        return None
    budget = store.hashtag_budget(db, account, now)
    needed = [h for h in contest.hashtags if not budget.counts(h)]
    if len(needed) > budget.free:
        when = f"; the next slot frees {_when(budget.next_free, contest.tz)}" if budget.next_free else ""
        raise ConfigError(f"the contest needs {len(needed)} new hashtags but account {account} has {budget.free} of "
                          f"{budget.limit} free this week ({budget.used} used in the last 7 days){when}; "
                          "drop hashtags or wait")
    return budget


def poll_once(db: sqlite_utils.Database, contest: Contest, feed: Feed, now: datetime,
              stop: threading.Event | None = None) -> PollSummary:
    """Run one poll of every contest hashtag on both edges and store what comes back.

    No request is made while a cool-down of the feed's account is in force (status
    ``skipped``). Hashtag ids are resolved once and stored; every hashtag polled counts
    in the account's hashtag budget, and a hashtag beyond the 30th of the week is
    refused. A FeedError ends the poll (status ``failed``, or ``partial`` when pages
    were stored), is recorded in the poll run with its kind, code and fbtrace_id, not
    raised; throttling also records a cool-down. ``stop`` is checked between pages.
    Returns the summary.
    """
    run_id = store.start_poll_run(db, feed.name, now)
    summary = PollSummary(run_id=run_id, started_at=now, tz=contest.tz)
    account = feed_account(feed)
    new: set[str] = set()
    updated: set[str] = set()
    requests_before = feed.requests_made
    retries_before = getattr(feed, "retries", 0)
    error_ids: dict[str, object] = {}
    cooldown = store.active_cooldown(db, account, now)
    try:
        if cooldown is not None:
            summary.status, summary.exit_code = "skipped", 3
            summary.error_kind, summary.cooldown_until = "cooldown", cooldown["until"]
            summary.error = (f"cooling down until {_when(cooldown['until'], contest.tz)} "
                             f"({cooldown['reason']}); no request made")
            raise _Stopped()
        for name in contest.hashtags:
            budget = store.hashtag_budget(db, account, now)
            if not budget.counts(name) and budget.free == 0:
                raise BudgetError(f"#{name} would be hashtag {budget.used + 1} of account {account} this week; the "
                                  f"platform allows {budget.limit}; the next slot frees "
                                  f"{_when(budget.next_free, contest.tz)}")
            store.record_hashtag_query(db, account, name, now)
            graph_id = store.hashtag_id(db, name)
            if graph_id is None:
                graph_id = feed.resolve_hashtag(name)
                store.save_hashtag_id(db, name, graph_id, now)
            for edge in EDGES:
                for page in feed.media_pages(graph_id, edge, now):
                    result = store.save_page(db, run_id, name, edge, page, now)
                    summary.pages += 1
                    summary.snapshots += result.snapshots
                    summary.warnings += len(page.warnings)
                    new |= result.new
                    updated |= result.updated
                    if stop is not None and stop.is_set():
                        raise _Stopped()
    except _Stopped:
        if summary.status != "skipped":
            summary.status, summary.error, summary.exit_code = "partial", "stopped before the end of the poll", 3
    except FeedError as exc:
        summary.status = "partial" if summary.pages else "failed"
        summary.error, summary.error_kind, summary.exit_code = str(exc), exc.kind, exc.exit_code
        summary.details = exc.details()
        error_ids = {"error_code": exc.code, "error_subcode": exc.subcode, "fbtrace_id": exc.fbtrace_id,
                     "error_endpoint": exc.endpoint}
        if isinstance(exc, ThrottledError) and not isinstance(exc, HashtagLimitError):
            wait = timedelta(seconds=exc.retry_after) if exc.retry_after else DEFAULT_COOLDOWN
            summary.cooldown_until = now + max(wait, timedelta(minutes=1))
            store.start_cooldown(db, account, now, summary.cooldown_until, str(exc), run_id)
            summary.error += f"; no request until {_when(summary.cooldown_until, contest.tz)}"
        log.warning("poll #%d %s: %s%s", run_id, summary.status, summary.error,
                    f" [{summary.details}]" if summary.details else "")
    notes = getattr(feed, "notes", [])
    summary.notes, notes[:] = list(notes), []
    store.record_warnings(db, run_id, summary.notes, now)
    summary.requests = feed.requests_made - requests_before
    summary.retries = getattr(feed, "retries", 0) - retries_before
    summary.usage = getattr(feed, "usage", None)
    summary.budget = store.hashtag_budget(db, account, now)
    summary.new_media, summary.updated_media = len(new), len(updated - new)
    store.add_media_counts(db, run_id, summary.new_media, summary.updated_media)
    store.finish_poll_run(db, run_id, now, status=summary.status, requests=summary.requests, error=summary.error)
    store.record_poll_outcome(db, run_id, error_kind=summary.error_kind, retries=summary.retries, usage=summary.usage,
                              cooldown_until=summary.cooldown_until, **error_ids)  # type: ignore[arg-type]
    return summary


class _Stopped(Exception):
    pass


def run(db_path: str | Path, feed_factory: Callable[[], Feed], clock: Clock, *, interval: float,
        on_poll: Callable[[PollSummary], None] | None = None, stop: threading.Event | None = None,
        final_grace: timedelta = FINAL_POLL_GRACE, max_failures: int | None = None) -> str:
    """Poll on a schedule until the contest is over or a stop is asked for.

    ``interval`` is in seconds of wall time; ``clock`` gives the contest time (the
    system clock in production, a faster one in the demo). The first poll runs at once;
    missed runs are coalesced into one. After ``end + final_grace`` one final poll runs
    and the scheduler stops. SIGINT and SIGTERM (when called from the main thread) stop
    it after the page being stored. With ``max_failures``, that many polls failing in a
    row (an exception, not a refused feed) stop it too. A poll refused for the token or
    its permissions (exit code 4) stops it at once: calling again cannot help, and
    Meta's error handling guide says to stop calling. (A refused request, exit code 2,
    does not: one odd answer must not end a nine-day contest; each poll records it.)
    Returns ``closed``, ``stopped``, ``failing`` or ``auth``.
    """
    from apscheduler.schedulers import SchedulerNotRunningError
    from apscheduler.schedulers.blocking import BlockingScheduler

    stop = stop or threading.Event()
    outcome = {"value": "stopped"}
    failures = {"count": 0}
    scheduler = BlockingScheduler(timezone="UTC")

    def job() -> None:
        if stop.is_set():
            return
        db = store.open_db(db_path)
        try:
            contest = store.load_contest(db)
            if contest is None:
                raise FeedError("the database has no contest; run derby init first")
            now = clock()
            summary = poll_once(db, contest, feed_factory(), now, stop)
            if on_poll is not None:
                on_poll(summary)
            failures["count"] = 0
            if summary.exit_code == 4:
                outcome["value"] = "auth"
                stop.set()
            elif now > contest.end + final_grace and summary.status == "ok":
                outcome["value"] = "closed"
                stop.set()
        except Exception as exc:  # one failed poll must never end the daemon
            log.error("poll failed: %s", exc)
            failures["count"] += 1
            if max_failures is not None and failures["count"] >= max_failures:
                outcome["value"] = "failing"
                stop.set()
        finally:
            db.close()
        if stop.is_set():
            _shutdown()

    def _shutdown() -> None:
        try:
            scheduler.shutdown(wait=False)
        except SchedulerNotRunningError:
            pass

    def ask_stop(signum: int, frame: object) -> None:
        log.info("signal %s received: stopping after the current page", signum)
        stop.set()
        _shutdown()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, ask_stop)
    scheduler.add_job(job, "interval", seconds=interval, next_run_time=datetime.now().astimezone(),
                      max_instances=1, coalesce=True, misfire_grace_time=max(int(interval), 1))
    try:
        scheduler.start()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return outcome["value"]
