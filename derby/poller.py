"""The daemon: polls on a schedule through the contest's phases (``run``).

:class:`Daemon` wraps :func:`derby.poll.poll_once` in an APScheduler 3.x
``BlockingScheduler``; each job opens its own database connection. Its phases
(waiting for the start, polling, cooling down, the final poll, closed, stopping) are
decided in one place, :meth:`Daemon.next_phase`, and entered by one method each; every
way of stopping (a signal, the stop event, a lost lock, a token that needs a person,
repeated failures, the close) goes through :meth:`Daemon.halt`.

``poll_once``, ``PollSummary`` and the lock and timeline helpers are re-exported here
for callers that know the daemon by this module.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

import sqlite_utils
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler

from derby import clock as clock_mod, store
from derby.clock import Clock
from derby.config import Contest
from derby.errors import StoreError
from derby.feeds import Feed
from derby.lock import FileLock, busy_error, is_held, process_identity
from derby.poll import DEFAULT_COOLDOWN, PollSummary, check_contest_budget, feed_account, poll_once
from derby.text import display_text
from derby.units import format_duration
from derby.timeline import COVERAGE_WARNING, final_poll_at, stale_coverage

log = logging.getLogger("derby.poller")

__all__ = ["COVERAGE_WARNING", "DEFAULT_COOLDOWN", "HEARTBEAT_EVERY", "START_LEAD", "STOP_TIMEOUT",
           "Daemon", "PollSummary", "check_contest_budget", "feed_account", "final_poll_at", "is_held",
           "poll_once", "process_identity", "run"]

START_LEAD = timedelta(minutes=10)
"""Before the start, ``run`` waits; its first poll comes this long before the start."""
STOP_TIMEOUT = 8.0
"""Seconds ``run`` waits for the poll in progress to end after a stop is asked for
(SIGTERM must end the process within 10 seconds)."""
HEARTBEAT_EVERY = 60.0
"""Wall-clock seconds between heartbeats of a running daemon."""

LOCKED_RETRY = 5.0
"""Wall-clock seconds between tries to start on a database another program keeps locked
(each try itself waits the store's busy timeout)."""

T = TypeVar("T")

WAITING, POLLING, COOLING_DOWN, CLOSED, NEEDS_PERSON = "waiting", "polling", "cooling_down", "closed", "auth"


def run(db_path: str | Path, feed_factory: Callable[[], Feed], clock: Clock, *, interval: float | None = None,
        on_poll: Callable[[PollSummary], None] | None = None, stop: threading.Event | None = None,
        final_grace: timedelta | None = None, max_failures: int | None = None, speed: float | None = None,
        lead: timedelta = START_LEAD, warn_after: timedelta = COVERAGE_WARNING, stop_timeout: float = STOP_TIMEOUT,
        wall_clock: Clock = clock_mod.utcnow, locked_retry: float = LOCKED_RETRY) -> str:
    """Poll on a schedule through the contest's phases until it is closed or a stop is
    asked for. Returns ``closed``, ``already_closed``, ``stopped``, ``abandoned``
    (stopped while a request was still in flight after ``stop_timeout`` seconds: the
    caller should exit at once), ``auth``, ``lost_lock`` or ``failing``.

    ``clock`` gives contest time (aware UTC; the system clock in production, a faster
    one in the demo and tests), read once per scheduled run; ``speed`` is contest
    seconds per wall second (default: ``clock.speed`` or 1). ``interval`` (wall seconds)
    and ``final_grace`` default to the stored ``[schedule]`` (see :func:`final_poll_at`).

    Before starting, takes the database's daemon lock (raises
    :class:`~derby.store.AlreadyRunning` naming a live holder; a dead holder's lock is
    taken over) and closes poll runs a dead process left ``running``; a database another
    program keeps locked past the busy timeout is said so and tried again every
    ``locked_retry`` wall seconds until it is free or a stop is asked for. Then an APScheduler
    ``BlockingScheduler`` runs one poll job (``max_instances=1``, ``coalesce=True``:
    runs missed while the machine slept become one, and are logged) and a heartbeat
    job. Phases: before ``start - lead`` it waits; then it polls every ``interval``; the
    first run at or after :func:`final_poll_at` is the final poll: when it ends ``ok``
    the contest is recorded closed and ``run`` returns ``closed``. A feed cool-down
    moves the next poll to its end; a feed error that needs a person (token,
    permission) stops polling (``auth``). Any other error is recorded in its poll run
    and polling goes on; with ``max_failures``, that many exceptions in a row stop it
    (``failing``). SIGINT and SIGTERM (when called from the main thread) stop it after
    the page being stored.
    """
    daemon = Daemon(db_path, feed_factory, clock, interval=interval, on_poll=on_poll, stop=stop,
                    final_grace=final_grace, max_failures=max_failures, speed=speed, lead=lead,
                    warn_after=warn_after, stop_timeout=stop_timeout, wall_clock=wall_clock)
    daemon.locked_retry = locked_retry
    return daemon.run()


def while_locked(action: Callable[[], T], stop: threading.Event, pause: float, stopped: T) -> T:
    """Return ``action()``, tried again every ``pause`` wall seconds while it fails on a
    database another program keeps locked past the busy timeout (``sqlite3``'s
    "database is locked", or a StoreError saying so), with a warning each time; return
    ``stopped`` when ``stop`` is set meanwhile. Other errors propagate."""
    while True:
        try:
            return action()
        except (sqlite3.OperationalError, StoreError) as exc:
            if "database is locked" not in str(exc):
                raise
            log.warning("the database is locked by another program past the busy timeout; trying again in %s",
                        format_duration(pause))
        if stop.wait(pause):
            return stopped


def close_dead_runs(db: sqlite_utils.Database, now: datetime) -> list[int]:
    """Close the poll runs a dead process left ``running`` as ``interrupted`` (their
    stored pages are kept) and log them. Call only while holding the file lock: then no
    live process is polling, so every running poll run is a dead one's. Returns their ids."""
    interrupted = store.mark_interrupted_runs(db, now)
    if interrupted:
        log.warning("poll runs %s were interrupted by the end of their process; their stored pages are kept",
                    ", ".join(f"#{i}" for i in interrupted))
    return interrupted


class Daemon:
    """One ``derby run``: its settings and state as fields, a method per phase.

    Fields after :meth:`run` started: ``contest`` (as read at the start; each poll reads
    it again), ``interval`` (wall seconds), ``me`` (this process's lock row),
    ``outcome`` (what :meth:`run` returns), ``failures`` (exceptions in a row),
    ``idle`` (set while no poll job runs) and ``scheduler``.
    """

    def __init__(self, db_path: str | Path, feed_factory: Callable[[], Feed], clock: Clock, *,
                 interval: float | None = None, on_poll: Callable[[PollSummary], None] | None = None,
                 stop: threading.Event | None = None, final_grace: timedelta | None = None,
                 max_failures: int | None = None, speed: float | None = None, lead: timedelta = START_LEAD,
                 warn_after: timedelta = COVERAGE_WARNING, stop_timeout: float = STOP_TIMEOUT,
                 wall_clock: Clock = clock_mod.utcnow) -> None:
        self.db_path, self.feed_factory, self.clock, self.wall_clock = db_path, feed_factory, clock, wall_clock
        self.requested_interval, self.on_poll, self.final_grace = interval, on_poll, final_grace
        self.max_failures, self.lead, self.warn_after, self.stop_timeout = max_failures, lead, warn_after, stop_timeout
        self.stop = stop or threading.Event()
        self.speed = speed or float(getattr(clock, "speed", 1.0))
        self.outcome = "stopped"
        self.failures = 0
        self.idle = threading.Event()
        self.idle.set()
        self.finished = threading.Event()
        self.scheduler = BlockingScheduler(timezone="UTC")
        self.contest: Contest | None = None
        self.interval = 0.0
        self.me: store.LockHolder | None = None
        self.file_lock = FileLock(db_path)

    # -- the whole run ---------------------------------------------------------------------

    def run(self) -> str:
        """Take the lock, serve the schedule until a stop, release the lock; return the outcome."""
        if not self.start():
            return "already_closed"
        if self.contest is None:  # stopped while the database was locked
            return "stopped"
        previous_handlers = self.install_signals()
        self.schedule_jobs()
        try:
            self.serve()
        finally:
            self.finished.set()
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
            self.release_lock()
        return self.outcome

    locked_retry = LOCKED_RETRY

    def start(self) -> bool:
        """:meth:`start_once`, tried again while another program keeps the database
        locked (a transient lock is never a reason to stop); True, with no contest read,
        after a stop asked for meanwhile."""
        return while_locked(self.start_once, self.stop, self.locked_retry, True)

    def start_once(self) -> bool:
        """Read the contest, take the daemon lock, mark runs a dead process left
        running. False when the contest is already closed."""
        db = store.open_db(self.db_path)
        try:
            contest = store.load_contest(db)
            if contest is None:
                raise StoreError("this database has no contest yet; load one: derby init contest.toml (derby init --example contest.toml writes one to start from)")
            if store.contest_closed(db) is not None:
                return False
            self.contest = contest
            self.interval = float(self.requested_interval or contest.schedule.every)
            if not self.file_lock.acquire():
                raise busy_error(store.lock_holder(db))
            try:
                self.me = process_identity(self.wall_clock())
                # Holding the file lock, any lock row or running poll run is a dead process's.
                previous = store.acquire_lock(db, self.me, lambda holder: False)
                if previous is not None:
                    log.warning("took over the daemon lock of %s: that process is no longer running", previous.describe())
                close_dead_runs(db, self.clock())
            except BaseException:
                self.file_lock.release()
                raise
        finally:
            db.close()
        log.info("polling every %s for %s (%s); final poll after %s",
                 format_duration(self.interval), display_text(contest.title), _polled_what(contest),
                 clock_mod.format_local(final_poll_at(contest, self.final_grace), contest.tz, "en"))
        return True

    def install_signals(self) -> dict:
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, self.on_signal)
        return previous

    def schedule_jobs(self) -> None:
        """The poll job, the heartbeat job and the listener for runs APScheduler missed."""
        interval = self.interval
        self.scheduler.add_job(self.poll_job, "interval", id="poll", seconds=interval,
                               next_run_time=datetime.now(timezone.utc), max_instances=1, coalesce=True,
                               misfire_grace_time=max(int(interval), 1))
        if interval > HEARTBEAT_EVERY:  # otherwise each poll run's own heartbeat is often enough
            self.scheduler.add_job(self.beat, "interval", id="heartbeat", seconds=HEARTBEAT_EVERY, max_instances=1,
                                   coalesce=True, misfire_grace_time=int(HEARTBEAT_EVERY))
        self.scheduler.add_listener(self.on_missed, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)

    def serve(self) -> None:
        """Run the scheduler until a stop; then wait for the poll in progress (up to
        ``stop_timeout``), or abandon it."""
        if not self.stop.is_set():
            threading.Thread(target=self.watch_stop, name="derby-stop-watch", daemon=True).start()
            self.scheduler.start()
        if not self.idle.wait(self.stop_timeout):
            log.warning("a request was still in flight %s s after the stop; leaving it (nothing half-stored)",
                        self.stop_timeout)
            self.outcome = "abandoned"
            self.with_db(lambda db: store.mark_interrupted_runs(db, self.clock()),
                         "could not mark the abandoned poll run: %s")  # the next start marks it otherwise

    def release_lock(self) -> None:
        self.with_db(lambda db: store.release_lock(db, self.me.instance),
                     "could not release the daemon lock: %s")  # the next start takes a dead process's lock over
        self.file_lock.release()

    def with_db(self, action: Callable[[sqlite_utils.Database], object], failure: str) -> None:
        """Run ``action`` on a connection of its own; log ``failure`` if it fails."""
        try:
            db = store.open_db(self.db_path)
            try:
                action(db)
            finally:
                db.close()
        except Exception as exc:  # noqa: BLE001 - best effort on the way out
            log.warning(failure, exc)

    # -- the one stop path -------------------------------------------------------------------

    def halt(self, outcome: str | None = None) -> None:
        """Stop: record ``outcome`` (None keeps ``stopped``), set the stop event, end the scheduler."""
        if outcome is not None:
            self.outcome = outcome
        self.stop.set()
        try:
            self.scheduler.shutdown(wait=False)
        except SchedulerNotRunningError:
            pass

    def on_signal(self, signum: int, frame: object) -> None:
        log.info("signal %s received: stopping after the current page", signal.Signals(signum).name)
        self.halt()

    def watch_stop(self) -> None:
        """A stop set by another thread ends the scheduler at once."""
        while not self.finished.is_set():
            if self.stop.wait(0.1):
                self.halt()
                return

    def on_missed(self, event: JobExecutionEvent) -> None:
        if event.job_id != "poll":
            return
        if event.code == EVENT_JOB_MISSED:
            log.warning("a scheduled poll was missed (the machine slept or was busy): the next one runs as soon as it can")
        else:
            log.info("a scheduled poll was skipped: the previous poll is still running")

    # -- jobs --------------------------------------------------------------------------------

    def poll_job(self) -> None:
        if self.stop.is_set():
            self.halt()
            return
        self.idle.clear()
        try:
            self.cycle()
        finally:
            self.idle.set()

    def cycle(self) -> None:
        """One scheduled run: poll (unless waiting), then enter the next phase."""
        now = self.clock()
        db = None
        try:
            db = store.open_db(self.db_path)
            # Read again each time: `derby init` may have changed the hashtags or dates.
            contest = store.load_contest(db) or self.contest
            summary = None if self.before_lead(contest, now) else self.poll(db, contest, now)
            phase, run_at = self.next_phase(contest, now, summary)
            resume_at = self.enter(phase, db, contest, now, summary, run_at)
            if not self.stop.is_set():
                self.plan_next(db, contest, now, run_at if phase in (WAITING, COOLING_DOWN) else None,
                               cap=phase != COOLING_DOWN, resume_at=resume_at)
        except Exception as exc:  # noqa: BLE001 - one failed poll must never end the daemon
            log.error("poll failed: %s: %s", type(exc).__name__, exc)
            self.failures += 1
            if self.max_failures is not None and self.failures >= self.max_failures:
                self.halt("failing")
        finally:
            if db is not None:
                db.close()

    def before_lead(self, contest: Contest, now: datetime) -> bool:
        return now < contest.start - self.lead

    def poll(self, db: sqlite_utils.Database, contest: Contest, now: datetime) -> PollSummary:
        summary = poll_once(db, contest, self.feed_factory(), now, self.stop)
        self.failures = 0
        log.log(logging.INFO if summary.status == "ok" else logging.WARNING, "%s", summary.line())
        for note in summary.notes:
            log.warning("poll #%s: %s", summary.run_id, note)
        if self.on_poll is not None:
            self.on_poll(summary)
        return summary

    def tolerance(self) -> timedelta:
        """A scheduled run may read the clock a hair before the final poll time; that run is final."""
        return min(timedelta(seconds=self.interval * self.speed * 0.05), timedelta(minutes=1))

    def next_phase(self, contest: Contest, now: datetime, summary: PollSummary | None) -> tuple[str, datetime | None]:
        """The one place that decides what comes next: the phase and, for waiting and
        cooling down, the contest time of the next run (otherwise the interval's, never
        later than the final poll; see :meth:`plan_next`)."""
        if summary is None:
            return WAITING, contest.start - self.lead
        if summary.exit_code == 4:
            return NEEDS_PERSON, None
        if summary.cooldown_until is not None and summary.cooldown_until > now:
            return COOLING_DOWN, summary.cooldown_until
        if now >= final_poll_at(contest, self.final_grace) - self.tolerance() and summary.status == "ok":
            return CLOSED, None
        return POLLING, None

    def enter(self, phase: str, db: sqlite_utils.Database, contest: Contest, now: datetime,
              summary: PollSummary | None, run_at: datetime | None) -> datetime | None:
        """Do what entering ``phase`` asks; return the end of a cool-down (else None)."""
        if phase == WAITING:
            log.info("the contest starts at %s: waiting", clock_mod.format_local(contest.start, contest.tz, "en"))
        elif phase == NEEDS_PERSON:
            # Calling again cannot help, and Meta's error handling guide says to stop calling.
            log.error("the token or its permissions need a person (%s); no more requests until derby run "
                      "is restarted", summary.error)  # type: ignore[union-attr]
            self.halt("auth")
        elif phase == COOLING_DOWN:
            log.warning("cooling down: next poll at %s", clock_mod.format_local(run_at, contest.tz, "en"))
            return run_at
        elif phase == CLOSED:
            store.close_contest(db, now, summary.run_id)  # type: ignore[union-attr]
            log.info("final poll done: the contest is closed")
            self.halt("closed")
        elif now >= contest.start:
            _warn_coverage(db, contest, now, self.warn_after)
        return None

    def plan_next(self, db: sqlite_utils.Database, contest: Contest, now: datetime, run_at: datetime | None, *,
                  cap: bool, resume_at: datetime | None) -> None:
        """Set the next run (``run_at`` in contest time, capped at one interval when
        ``cap``; None: the interval's), bring it forward to the final poll when that
        comes first, and record it with the heartbeat (a lost lock stops the daemon)."""
        self.follow_schedule(contest)
        if run_at is not None:
            self.scheduler.modify_job("poll", next_run_time=self.wall_after(run_at - now, cap=cap))
        job = self.scheduler.get_job("poll")
        next_at = self.contest_time_of(job.next_run_time if job else None, now)
        closes_at = final_poll_at(contest, self.final_grace)
        if next_at is not None and now < closes_at - self.tolerance() and closes_at < next_at:
            # The final poll comes on time, not up to one interval later.
            self.scheduler.modify_job("poll", next_run_time=self.wall_after(closes_at - now))
            next_at = closes_at
        if not store.heartbeat(db, self.me.instance, self.wall_clock(), next_poll_at=next_at, resume_at=resume_at,
                               set_next=True):
            log.error("another process took over the daemon lock: stopping")
            self.halt("lost_lock")

    def follow_schedule(self, contest: Contest) -> None:
        """Take up a ``[schedule] every`` changed by ``derby init`` while running (from
        the next run on), unless ``run`` was given an interval, which wins."""
        every = float(contest.schedule.every)
        if self.requested_interval or every == self.interval:
            return
        self.interval = every
        log.info("the stored schedule changed: polling every %s from now", timedelta(seconds=round(every)))
        self.scheduler.reschedule_job("poll", trigger="interval", seconds=every)

    def beat(self) -> None:
        if self.stop.is_set():
            return
        try:
            db = store.open_db(self.db_path)
            try:
                held = store.heartbeat(db, self.me.instance, self.wall_clock())
            finally:
                db.close()
        except Exception as exc:  # noqa: BLE001 - a busy database delays a heartbeat, no more
            log.warning("heartbeat failed: %s", exc)
            return
        if not held:
            log.error("another process took over the daemon lock: stopping")
            self.halt("lost_lock")

    # -- contest time and wall time ------------------------------------------------------------

    def wall_after(self, contest_delta: timedelta, *, cap: bool = True) -> datetime:
        seconds = max(contest_delta.total_seconds(), 0.0) / self.speed
        return datetime.now(timezone.utc) + timedelta(seconds=min(seconds, self.interval) if cap else seconds)

    def contest_time_of(self, wall: datetime | None, now: datetime) -> datetime | None:
        if wall is None:
            return None
        return now + (wall - datetime.now(timezone.utc)) * self.speed


def _polled_what(contest: Contest) -> str:
    """``#a, #b`` (the hashtags), with ``N teams`` for a team contest."""
    parts = ["#" + h for h in contest.hashtags]
    if contest.teams:
        parts.insert(0, f"{len(contest.teams)} team{'s' if len(contest.teams) != 1 else ''}")
    return ", ".join(parts) or "nothing to poll"


def _warn_coverage(db: sqlite_utils.Database, contest: Contest, now: datetime, warn_after: timedelta) -> list[str]:
    """Log (and return) a warning for each hashtag without a successful poll for
    ``warn_after`` during the contest: after 24 hours its posts are lost for good."""
    if now > contest.end:
        return []
    messages = []
    for stale in stale_coverage(contest, store.last_coverage(db), now, warn_after):
        message = (f"no successful poll of #{stale.hashtag} since {clock_mod.format_local(stale.since, contest.tz, 'en')}: "
                   "posts older than 24 h are lost for good unless a poll succeeds before "
                   f"{clock_mod.format_local(stale.lost_at, contest.tz, 'en')}")
        log.warning("%s", message)
        messages.append(message)
    return messages
