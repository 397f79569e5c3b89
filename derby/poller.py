"""Polling: one collection cycle (``poll_once``) and the scheduler around it (``run``).

``poll_once`` reads every contest hashtag's ``recent_media`` and ``top_media`` from a
feed and stores each page in its own transaction, so a crash mid-poll leaves a
consistent database that the next poll continues. ``run`` wraps it in an APScheduler
3.x ``BlockingScheduler``; each job opens its own database connection.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path

import sqlite_utils

from derby import clock, clock as clock_mod, store
from derby.clock import Clock
from derby.config import Contest
from derby.errors import ConfigError, StoreError
from derby.feeds import EDGES, Feed, FeedError
from derby.feeds.parse import BadRequestError, BudgetError, HashtagLimitError, ThrottledError, TransientError
from derby.text import display_text

log = logging.getLogger("derby.poller")

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
    gaps: list[store.CoverageGap] = field(default_factory=list)
    """Coverage gaps this poll found (see :func:`derby.store.record_coverage`)."""

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
        raise ConfigError(f"the contest needs {len(needed)} new hashtag{'s' if len(needed) > 1 else ''} but account {account} has {budget.free} of "
                          f"{budget.limit} free this week ({budget.used} used in the last 7 days){when}; "
                          "drop hashtags or wait")
    return budget


def poll_once(db: sqlite_utils.Database, contest: Contest, feed: Feed, now: datetime,
              stop: threading.Event | None = None) -> PollSummary:
    """Run one poll of every contest hashtag on both edges and store what comes back.

    No request is made while a cool-down of the feed's account is in force (status
    ``skipped``). Hashtag ids are resolved once and stored; every hashtag polled counts
    in the account's hashtag budget, and a hashtag beyond the 30th of the week is
    refused. A bad request or a transient failure that outlasted its retries ends only
    that hashtag's part of the poll: the other hashtags are still read. Throttling, an
    auth refusal and the budget end the whole poll. Either way the poll is ``failed``,
    or ``partial`` when pages were stored, and the (first) error is recorded in the poll
    run with its kind, code and fbtrace_id, not raised; throttling also records a
    cool-down. ``stop`` is checked between pages. All the poll run's closing writes
    go in one transaction. Returns the summary.
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
    hashtag_error: FeedError | None = None

    def note_error(exc: FeedError) -> None:
        nonlocal error_ids
        summary.status = "partial" if summary.pages else "failed"
        summary.error, summary.error_kind, summary.exit_code = str(exc), exc.kind, exc.exit_code
        summary.details = exc.details()
        error_ids = {"error_code": exc.code, "error_subcode": exc.subcode, "fbtrace_id": exc.fbtrace_id,
                     "error_endpoint": exc.endpoint}
        log.warning("poll #%d %s: %s%s", run_id, summary.status, summary.error,
                    f" [{summary.details}]" if summary.details else "")

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
            try:
                graph_id = store.hashtag_id(db, name)
                if graph_id is None:
                    graph_id = feed.resolve_hashtag(name)
                    store.save_hashtag_id(db, name, graph_id, now)
                for edge in EDGES:
                    complete = True
                    for page in feed.media_pages(graph_id, edge, now):
                        result = store.save_page(db, run_id, name, edge, page, now)
                        summary.pages += 1
                        summary.snapshots += result.snapshots
                        summary.warnings += len(page.warnings)
                        new |= result.new
                        updated |= result.updated
                        complete = complete and not page.truncated
                        if stop is not None and stop.is_set():
                            raise _Stopped()
                    if edge == "recent_media" and complete:  # a cut-short read did not cover 24 hours
                        store.record_missing(db, run_id, name, now)
                        gap = store.record_coverage(db, run_id, name, now, (contest.start, contest.end))
                        if gap is not None:
                            summary.gaps.append(gap)
                            summary.notes.append(
                                f"coverage gap on #{name}: posts published from {clock.to_store(gap.gap_from)} to "
                                f"{clock.to_store(gap.gap_to)} ({gap.hours:.1f} h) were never reachable and may be lost")
            except (BadRequestError, TransientError) as exc:  # this hashtag only: the others are still read
                hashtag_error = hashtag_error or exc
                summary.notes.append(f"#{name} not fully read: {exc}")
        if hashtag_error is not None:
            note_error(hashtag_error)
    except _Stopped:
        if summary.status != "skipped":
            summary.status, summary.error, summary.exit_code = "partial", "stopped before the end of the poll", 3
    except FeedError as exc:
        if isinstance(exc, ThrottledError) and not isinstance(exc, HashtagLimitError):
            wait = timedelta(seconds=exc.retry_after) if exc.retry_after else DEFAULT_COOLDOWN
            summary.cooldown_until = now + max(wait, timedelta(minutes=1))
            store.start_cooldown(db, account, now, summary.cooldown_until, str(exc), run_id)
        note_error(exc)
        if summary.cooldown_until is not None:
            summary.error += f"; no request until {_when(summary.cooldown_until, contest.tz)}"
    except Exception as exc:  # noqa: BLE001 - one bad record or a busy database must not end the daemon
        text = getattr(feed, "redact", str)(f"{type(exc).__name__}: {exc}")
        log.error("poll #%s: unexpected error: %s", run_id, text)
        summary.status = "partial" if summary.pages else "failed"
        summary.error, summary.error_kind, summary.exit_code = f"unexpected error: {text}", "error", 1
    notes = getattr(feed, "notes", [])
    summary.notes, notes[:] = summary.notes + list(notes), []
    summary.requests = feed.requests_made - requests_before
    summary.retries = getattr(feed, "retries", 0) - retries_before
    summary.usage = getattr(feed, "usage", None)
    summary.budget = store.hashtag_budget(db, account, now)
    summary.new_media, summary.updated_media = len(new), len(updated - new)
    with store.write(db):  # the poll run's closing record, whole or not at all
        store.record_warnings(db, run_id, summary.notes, now)
        store.add_media_counts(db, run_id, summary.new_media, summary.updated_media)
        store.finish_poll_run(db, run_id, now, status=summary.status, requests=summary.requests, error=summary.error)
        store.record_poll_outcome(db, run_id, error_kind=summary.error_kind, retries=summary.retries,
                                  usage=summary.usage, cooldown_until=summary.cooldown_until,
                                  **error_ids)  # type: ignore[arg-type]
    return summary


class _Stopped(Exception):
    pass


COVERAGE_WARNING = timedelta(hours=12)
"""Warn when a hashtag has had no successful poll for this long during the contest:
half of the 24 hours ``recent_media`` reaches back."""
START_LEAD = timedelta(minutes=10)
"""Before the start, ``run`` waits; its first poll comes this long before the start."""
STOP_TIMEOUT = 8.0
"""Seconds ``run`` waits for the poll in progress to end after a stop is asked for
(SIGTERM must end the process within 10 seconds)."""
STALE_HEARTBEAT = timedelta(minutes=15)
"""A lock held from another host is stale when its heartbeat is older than this."""
HEARTBEAT_EVERY = 60.0
"""Wall-clock seconds between heartbeats of a running daemon."""


def final_poll_at(contest: Contest, grace: timedelta | None = None) -> datetime:
    """Return when the final poll is due (aware UTC): the end plus ``grace`` (default the
    contest's ``[schedule] grace``: posts published before the end may still appear,
    ``recent_media`` reaching back 24 hours), or ``count_engagement_until`` when later."""
    grace = grace if grace is not None else timedelta(seconds=contest.schedule.grace)
    return max(contest.end + grace, contest.freeze)


def process_identity(now: datetime) -> store.LockHolder:
    """Return the lock row this process would write: a random instance id, pid, host
    name and (on Linux) boot id, since ``now``."""
    return store.LockHolder(instance=uuid.uuid4().hex, pid=os.getpid(), host=socket.gethostname(),
                            boot_id=_boot_id(), since=now, heartbeat_at=now)


def holder_alive(holder: store.LockHolder, now: datetime) -> bool:
    """Whether the process that holds the daemon lock still runs.

    On this host (same boot): its pid exists and is not a zombie. From another boot of
    this host: dead. On another host: its heartbeat is younger than
    :data:`STALE_HEARTBEAT`.
    """
    if holder.host != socket.gethostname():
        return now - holder.heartbeat_at < STALE_HEARTBEAT
    boot = _boot_id()
    if holder.boot_id and boot and holder.boot_id != boot:
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{holder.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def run(db_path: str | Path, feed_factory: Callable[[], Feed], clock: Clock, *, interval: float | None = None,
        on_poll: Callable[[PollSummary], None] | None = None, stop: threading.Event | None = None,
        final_grace: timedelta | None = None, max_failures: int | None = None, speed: float | None = None,
        lead: timedelta = START_LEAD, warn_after: timedelta = COVERAGE_WARNING, stop_timeout: float = STOP_TIMEOUT,
        wall_clock: Clock = clock_mod.utcnow) -> str:
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
    taken over) and closes poll runs a dead process left ``running``. Then an APScheduler
    ``BlockingScheduler`` runs one poll job (``max_instances=1``, ``coalesce=True``:
    runs missed while the machine slept become one) and a heartbeat job. Phases: before
    ``start - lead`` it waits; then it polls every ``interval``; the first run at or
    after :func:`final_poll_at` is the final poll: when it ends ``ok`` the contest is
    recorded closed and ``run`` returns ``closed``. A feed cool-down moves the next poll
    to its end; a feed error that needs a person (token, permission) stops polling
    (``auth``). Any other error is recorded in its poll run and polling goes on;
    with ``max_failures``, that many exceptions in a row stop it (``failing``). SIGINT
    and SIGTERM (when called from the main thread) stop it after the page being stored.
    """
    from apscheduler.schedulers import SchedulerNotRunningError
    from apscheduler.schedulers.blocking import BlockingScheduler

    stop = stop or threading.Event()
    speed = speed or float(getattr(clock, "speed", 1.0))
    db = store.open_db(db_path)
    try:
        contest = store.load_contest(db)
        if contest is None:
            raise StoreError("this database has no contest yet; run: derby init config/socialderby.toml")
        if store.contest_closed(db) is not None:
            return "already_closed"
        interval = float(interval or contest.schedule.every)
        me = process_identity(wall_clock())
        previous = store.acquire_lock(db, me, lambda holder: holder_alive(holder, wall_clock()))
        if previous is not None:
            log.warning("took over the daemon lock of %s: that process is no longer running", previous.describe())
        interrupted = store.mark_interrupted_runs(db, clock())
        if interrupted:
            log.warning("poll runs %s were interrupted by the end of their process; their stored pages are kept",
                        ", ".join(f"#{i}" for i in interrupted))
    finally:
        db.close()
    log.info("polling every %s for %s (%s); final poll after %s",
             timedelta(seconds=round(interval)), display_text(contest.title), ", ".join("#" + h for h in contest.hashtags),
             clock_mod.to_store(final_poll_at(contest, final_grace)))

    initial = contest
    outcome = {"value": "stopped"}
    failures = {"count": 0}
    idle = threading.Event()
    idle.set()
    scheduler = BlockingScheduler(timezone="UTC")

    def finish(value: str) -> None:
        outcome["value"] = value
        stop.set()
        _shutdown()

    def wall_after(contest_delta: timedelta, *, cap: bool = True) -> datetime:
        seconds = max(contest_delta.total_seconds(), 0.0) / speed
        return datetime.now(timezone.utc) + timedelta(seconds=min(seconds, interval) if cap else seconds)

    # A scheduled run may read the clock a hair before the final poll time; that run is final.
    tolerance = min(timedelta(seconds=interval * speed * 0.05), timedelta(minutes=1))

    def contest_time_of(wall: datetime | None, now: datetime) -> datetime | None:
        if wall is None:
            return None
        return now + (wall - datetime.now(timezone.utc)) * speed

    def job() -> None:
        if stop.is_set():
            _shutdown()
            return
        idle.clear()
        try:
            _poll_job()
        finally:
            idle.set()

    def _poll_job() -> None:
        now = clock()
        db = None
        try:
            db = store.open_db(db_path)
            # Read again each time: `derby init` may have changed the hashtags or dates.
            contest = store.load_contest(db) or initial
            closes_at = final_poll_at(contest, final_grace)
            resume_at = None
            if now < contest.start - lead:
                wait = contest.start - lead - now
                scheduler.modify_job("poll", next_run_time=wall_after(wait))
                log.info("the contest starts at %s: waiting", clock_mod.format_local(contest.start, contest.tz, "en"))
            else:
                summary = poll_once(db, contest, feed_factory(), now, stop)
                failures["count"] = 0
                log.log(logging.INFO if summary.status == "ok" else logging.WARNING, "%s", summary.line())
                for note in summary.notes:
                    log.warning("poll #%s: %s", summary.run_id, note)
                if on_poll is not None:
                    on_poll(summary)
                if summary.exit_code == 4:
                    # Calling again cannot help, and Meta's error handling guide says to stop calling.
                    log.error("the token or its permissions need a person (%s); no more requests until derby run "
                              "is restarted", summary.error)
                    finish("auth")
                elif summary.cooldown_until is not None and summary.cooldown_until > now:
                    resume_at = summary.cooldown_until
                    log.warning("cooling down: next poll at %s", clock_mod.to_store(resume_at))
                    scheduler.modify_job("poll", next_run_time=wall_after(resume_at - now, cap=False))
                elif now >= closes_at - tolerance and summary.status == "ok":
                    store.close_contest(db, now, summary.run_id)
                    log.info("final poll done: the contest is closed")
                    finish("closed")
                    return
                elif now >= contest.start:
                    _warn_coverage(db, contest, now, warn_after)
            if not stop.is_set():
                job_next = scheduler.get_job("poll")
                next_wall = job_next.next_run_time if job_next else None
                next_at = contest_time_of(next_wall, now)
                if next_at is not None and now < closes_at - tolerance and closes_at < next_at:
                    # The final poll comes on time, not up to one interval later.
                    scheduler.modify_job("poll", next_run_time=wall_after(closes_at - now))
                    next_at = closes_at
                if not store.heartbeat(db, me.instance, wall_clock(), next_poll_at=next_at, resume_at=resume_at, set_next=True):
                    log.error("another process took over the daemon lock: stopping")
                    finish("lost_lock")
        except Exception as exc:  # noqa: BLE001 - one failed poll must never end the daemon
            log.error("poll failed: %s: %s", type(exc).__name__, exc)
            failures["count"] += 1
            if max_failures is not None and failures["count"] >= max_failures:
                finish("failing")
        finally:
            if db is not None:
                db.close()

    def beat() -> None:
        if stop.is_set():
            return
        try:
            db = store.open_db(db_path)
            try:
                held = store.heartbeat(db, me.instance, wall_clock())
            finally:
                db.close()
        except Exception as exc:  # noqa: BLE001 - a busy database delays a heartbeat, no more
            log.warning("heartbeat failed: %s", exc)
            return
        if not held:
            log.error("another process took over the daemon lock: stopping")
            finish("lost_lock")

    def _shutdown() -> None:
        try:
            scheduler.shutdown(wait=False)
        except SchedulerNotRunningError:
            pass

    def ask_stop(signum: int, frame: object) -> None:
        log.info("signal %s received: stopping after the current page", signal.Signals(signum).name)
        stop.set()
        _shutdown()

    previous_handlers = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous_handlers[signum] = signal.signal(signum, ask_stop)
    scheduler.add_job(job, "interval", id="poll", seconds=interval, next_run_time=datetime.now(timezone.utc),
                      max_instances=1, coalesce=True, misfire_grace_time=max(int(interval), 1))
    if interval > HEARTBEAT_EVERY:  # otherwise each poll run's own heartbeat is often enough
        scheduler.add_job(beat, "interval", id="heartbeat", seconds=HEARTBEAT_EVERY, max_instances=1, coalesce=True,
                          misfire_grace_time=int(HEARTBEAT_EVERY))
    finished = threading.Event()

    def watch_stop() -> None:  # a stop set by another thread ends the scheduler at once
        while not finished.is_set():
            if stop.wait(0.1):
                _shutdown()
                return

    try:
        if not stop.is_set():
            threading.Thread(target=watch_stop, name="derby-stop-watch", daemon=True).start()
            scheduler.start()
        if not idle.wait(stop_timeout):
            log.warning("a request was still in flight %s s after the stop; leaving it (nothing half-stored)", stop_timeout)
            outcome["value"] = "abandoned"
            try:
                db = store.open_db(db_path)
                try:
                    store.mark_interrupted_runs(db, clock())
                finally:
                    db.close()
            except Exception as exc:  # noqa: BLE001 - the next start marks it
                log.warning("could not mark the abandoned poll run: %s", exc)
    finally:
        finished.set()
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
        try:
            db = store.open_db(db_path)
            try:
                store.release_lock(db, me.instance)
            finally:
                db.close()
        except Exception as exc:  # noqa: BLE001 - the next start takes a dead process's lock over
            log.warning("could not release the daemon lock: %s", exc)
    return outcome["value"]


def _warn_coverage(db: sqlite_utils.Database, contest: Contest, now: datetime, warn_after: timedelta) -> list[str]:
    """Log (and return) a warning for each hashtag without a successful poll for
    ``warn_after`` during the contest: after 24 hours its posts are lost for good."""
    if now > contest.end:
        return []
    last = store.last_coverage(db)
    messages = []
    for name in contest.hashtags:
        since = last.get(name) or contest.start
        if now - since >= warn_after:
            lost_at = since + timedelta(seconds=store.COVERAGE_SPAN_SECONDS)
            message = (f"no successful poll of #{name} since {clock_mod.to_store(since)}: posts older than 24 h "
                       f"are lost for good unless a poll succeeds before {clock_mod.to_store(lost_at)}")
            log.warning("%s", message)
            messages.append(message)
    return messages
