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
from datetime import datetime, timedelta
from pathlib import Path

import sqlite_utils

from derby import store
from derby.clock import Clock
from derby.config import Contest
from derby.feeds import EDGES, Feed, FeedError

log = logging.getLogger("derby.poller")

FINAL_POLL_GRACE = timedelta(hours=24)
"""After the contest's end, ``run`` keeps polling this long (engagement still grows),
then makes a final poll and stops."""


@dataclass
class PollSummary:
    """The outcome of one poll run. ``status`` is ``ok``, ``partial`` (stopped or
    failed after storing some pages) or ``failed``; times are aware UTC."""

    run_id: int
    started_at: datetime
    status: str = "ok"
    pages: int = 0
    requests: int = 0
    new_media: int = 0
    updated_media: int = 0
    snapshots: int = 0
    warnings: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for a person: what this poll did."""
        text = (f"poll #{self.run_id} {self.status}: {self.pages} pages, {self.requests} requests, "
                f"{self.new_media} new and {self.updated_media} updated media, {self.snapshots} snapshots")
        if self.warnings:
            text += f", {self.warnings} warnings"
        if self.error:
            text += f"; error: {self.error}"
        return text


def poll_once(db: sqlite_utils.Database, contest: Contest, feed: Feed, now: datetime,
              stop: threading.Event | None = None) -> PollSummary:
    """Run one poll of every contest hashtag on both edges and store what comes back.

    Hashtag ids are resolved once and stored. A FeedError ends the poll (status
    ``failed``, or ``partial`` when pages were stored) and is recorded in the poll run,
    not raised; ``stop`` is checked between pages. Returns the summary.
    """
    run_id = store.start_poll_run(db, feed.name, now)
    summary = PollSummary(run_id=run_id, started_at=now)
    new: set[str] = set()
    updated: set[str] = set()
    requests_before = feed.requests_made
    try:
        for name in contest.hashtags:
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
        summary.status, summary.error = "partial", "stopped before the end of the poll"
    except FeedError as exc:
        summary.status = "partial" if summary.pages else "failed"
        summary.error = str(exc)
    notes = getattr(feed, "notes", [])
    summary.notes, notes[:] = list(notes), []
    store.record_warnings(db, run_id, summary.notes, now)
    summary.requests = feed.requests_made - requests_before
    summary.new_media, summary.updated_media = len(new), len(updated - new)
    store.add_media_counts(db, run_id, summary.new_media, summary.updated_media)
    store.finish_poll_run(db, run_id, now, status=summary.status, requests=summary.requests, error=summary.error)
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
    row (an exception, not a refused feed) stop it too. Returns ``closed``, ``stopped``
    or ``failing``.
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
            if now > contest.end + final_grace and summary.status == "ok":
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
