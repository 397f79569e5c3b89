"""One poll run (``poll_once``): read the feed, store each page, account for the
platform's limits, close the run.

Every contest hashtag's ``recent_media`` and ``top_media`` are read from a feed and each
page is stored in its own transaction, so a crash mid-poll leaves a consistent database
that the next poll continues. Each job is a method of :class:`_PollRun`, testable
through :func:`poll_once`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

import sqlite_utils

from derby import clock, refresher, store
from derby.config import Contest
from derby.errors import ConfigError
from derby.feeds import EDGES, Feed, FeedError, HashtagEdge
from derby.feeds.parse import BadRequestError, BudgetError, HashtagLimitError, ThrottledError, TransientError
from derby.units import plural

log = logging.getLogger("derby.poller")

DEFAULT_COOLDOWN = timedelta(hours=1)
MIN_COOLDOWN_CAP = timedelta(hours=1)
"""A platform's wait is never cut below this (see :meth:`cooldown_cap`)."""
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
    refreshes: int = 0
    """Refresh reads by id this poll made (see :mod:`derby.refresher`)."""
    gaps: list[store.CoverageGap] = field(default_factory=list)
    """Coverage gaps this poll found (see :func:`derby.store.record_coverage`)."""
    refused_token_envs: list[str] = field(default_factory=list)
    """The variables whose tokens the platform refused (a team contest: each refused
    team's ``token_env``); empty for a hashtag contest (its one token)."""

    def line(self) -> str:
        """One line for a person: what this poll did."""
        text = (f"poll #{self.run_id} {self.status}: {plural(self.pages, 'page')}, {plural(self.requests, 'request')}, "
                f"{self.new_media} new and {self.updated_media} updated media, {plural(self.snapshots, 'snapshot')}")
        if self.refreshes:
            text += f", {plural(self.refreshes, 'refresh', 'refreshes')}"
        if self.warnings:
            text += f", {plural(self.warnings, 'warning')}"
        if self.retries:
            text += f", {plural(self.retries, 'retry', 'retries')}"
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


def cooldown_end(exc: ThrottledError, now: datetime) -> datetime:
    """When a throttle at ``now`` (aware) lets requests start again: the wait the
    platform announced (``exc.retry_after`` seconds), else :data:`DEFAULT_COOLDOWN`;
    never under a minute."""
    wait = timedelta(seconds=exc.retry_after) if exc.retry_after else DEFAULT_COOLDOWN
    return now + max(wait, timedelta(minutes=1))


def cooldown_cap(db: sqlite_utils.Database, contest: Contest, now: datetime) -> datetime:
    """The latest end of a hashtag cool-down started at ``now``: before the oldest post
    not read again (published just after a hashtag's last full read, or the contest's
    start) leaves ``recent_media``'s 24 hours, less one poll interval; never within an
    hour."""
    last = store.last_coverage(db)
    since = min((last.get(name) or contest.start for name in contest.hashtags), default=contest.start)
    reach = timedelta(seconds=store.COVERAGE_SPAN_SECONDS)
    cap = max(since, now - reach) + reach - timedelta(seconds=contest.schedule.every)
    return max(cap, now + MIN_COOLDOWN_CAP)


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
            raise ConfigError(f"the contest lists {plural(len(contest.hashtags), 'hashtag')}; an Instagram account may query only "
                              f"{store.HASHTAG_LIMIT} unique hashtags in 7 days")
        return None
    budget = store.hashtag_budget(db, account, now)
    needed = budget.needed(contest.hashtags)
    if len(needed) > budget.free:
        when = f"; the next slot frees {_when(budget.next_free, contest.tz)}" if budget.next_free else ""
        raise ConfigError(f"the contest needs {len(needed)} new hashtag{'s' if len(needed) > 1 else ''} but account {account} has {budget.free} of "
                          f"{budget.limit} free this week ({budget.used} used in the last 7 days){when}; "
                          "drop hashtags or wait")
    return budget


def poll_once(db: sqlite_utils.Database, contest: Contest, feed: Feed, now: datetime,
              stop: threading.Event | None = None, tokens: list[tuple[str, str]] | None = None) -> PollSummary:
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
    go in one transaction. ``tokens``, ``(label, token)`` pairs, are the tokens in use
    (default: the feed's ``tokens_in_use()``); their expiry is checked at most once a
    day (see :func:`check_tokens`). Returns the summary.

    A team contest is polled by :func:`derby.team_poll.poll_teams` instead.
    """
    if contest.kind == "teams":
        from derby.team_poll import poll_teams

        return poll_teams(db, contest, feed, now, stop)
    run = _PollRun(db, contest, feed, now, stop)
    try:
        run.read_all()
    except _Stopped:
        run.stopped()
    except FeedError as exc:
        run.refused(exc)
    except Exception as exc:  # noqa: BLE001 - one bad record or a busy database must not end the daemon
        run.crashed(exc)
    summary = run.close()
    if summary.status == "ok":
        keep_ranks(db, summary.run_id, run.mark, now)
    if summary.pages:
        _flag_poll(db, summary.run_id, now)
    if tokens is None:
        tokens = feed.tokens_in_use() if hasattr(feed, "tokens_in_use") else []
    check_tokens(db, feed, tokens, now, summary.run_id)
    return summary


def check_tokens(db: sqlite_utils.Database, feed: Feed, tokens: list[tuple[str, str]], now: datetime,
                 run_id: int | None = None, told: list[tuple[str, str]] | None = None) -> None:
    """Refresh the stored expiry of each ``(label, token)`` not checked for a day, by
    the feed's ``debug_token`` (only when it can ask it: app id and secret set), then
    log a warning for each token (or data access) expiring within a week or expired.
    A failure is a warning of the poll run, never the end of the poll.

    ``told`` are tokens ``debug_token`` cannot be asked about (Instagram Login): they,
    and ``tokens`` when the feed cannot ask, are warned of from the expiry recorded with
    ``derby token issued``, at most once a day; nothing is sent anywhere."""
    from derby import tokens as expiry

    can_ask = bool(tokens) and getattr(feed, "can_debug_tokens", False)
    _warn_recorded(db, list(told or []) + ([] if can_ask else list(tokens)), now)
    if not can_ask:
        return
    fingerprints = [expiry.fingerprint(token) for _, token in tokens]
    stored = store.token_expiries(db, fingerprints)
    checked = False
    for (label, token), fp in zip(tokens, fingerprints):
        if not expiry.due(stored, fp, now):
            continue
        checked = True
        try:
            data = feed.debug_token(token)
        except (FeedError, ConfigError) as exc:
            text = f"token expiry of {label} not checked: {feed.redact(str(exc))}"
            log.warning("%s", text)
            store.record_warnings(db, run_id, [text], now)
            continue
        valid = data.get("is_valid")
        store.save_token_expiry(db, fp, label, expiry.unix_time(data.get("expires_at")),
                                expiry.unix_time(data.get("data_access_expires_at")),
                                valid if isinstance(valid, bool) else None, now)
    if checked:
        for notice in expiry.notices(store.token_expiries(db, fingerprints), now):
            log.warning("%s", expiry.message(notice))


def keep_ranks(db: sqlite_utils.Database, run_id: int, mark: int, now: datetime,
               rank_teams=None) -> None:
    """Keep the ranks successful poll run ``run_id`` left, for the board's movement
    column (see :mod:`derby.store.poll_ranks`; ``mark``: ``store.commit_mark`` taken
    in the run's closing transaction). ``rank_teams`` (a team contest's
    ``{account id: rank}``, computed when called) replaces the entries' ranks. A
    failure is a warning of the poll run, never the end of the poll: the board then
    ranks that poll again as of its end."""
    try:
        if rank_teams is None:
            kept = store.keep_entry_ranks(db, run_id, mark, now)
        else:
            kept = store.keep_team_ranks(db, run_id, mark, now, rank_teams)
    except Exception as exc:  # noqa: BLE001 - the movement column must never stop polling
        log.error("poll #%s: ranks not kept: %s: %s", run_id, type(exc).__name__, exc)
        store.record_warnings(db, run_id, [f"ranks not kept for the board's movement: {type(exc).__name__}: {exc}"],
                              now)
        return
    if not kept:
        log.info("poll #%s: ranks not kept (the database changed after the poll closed); the board ranks this "
                 "poll again as of its end", run_id)


def _warn_recorded(db: sqlite_utils.Database, tokens: list[tuple[str, str]], now: datetime) -> None:
    """Log the notices of the recorded expiries of ``tokens`` not looked at for a day."""
    from derby import tokens as expiry

    if not tokens:
        return
    rows = store.token_expiries(db, [expiry.fingerprint(token) for _, token in tokens])
    due = [r for r in rows if r["source"] == "recorded" and expiry.due(rows, r["fingerprint"], now)]
    if not due:
        return
    store.touch_token_expiries(db, [r["fingerprint"] for r in due], now)
    for notice in expiry.notices(due, now):
        log.warning("%s", expiry.message(notice))


def _flag_poll(db: sqlite_utils.Database, run_id: int, now: datetime) -> None:
    """Compute and store the judges' flags of this poll; a failure is a warning of the
    poll run, never the end of the poll."""
    from derby import flags

    try:
        found = flags.flag_poll(db, run_id, now)
    except Exception as exc:  # noqa: BLE001 - flags must never stop polling
        log.error("poll #%s: flags not computed: %s: %s", run_id, type(exc).__name__, exc)
        store.record_warnings(db, run_id, [f"flags not computed: {type(exc).__name__}: {exc}"], now)
        return
    if found:
        log.info("poll #%s: %d new flag%s for the judges (derby flags)", run_id, len(found), "s" if len(found) > 1 else "")


class _Stopped(Exception):
    pass


class _PollRun:
    """The state of one poll run while it reads: its summary and what it saw."""

    def __init__(self, db: sqlite_utils.Database, contest: Contest, feed: Feed, now: datetime,
                 stop: threading.Event | None) -> None:
        self.db, self.contest, self.feed, self.now, self.stop = db, contest, feed, now, stop
        self.run_id = store.start_poll_run(db, feed.name, now)
        self.summary = PollSummary(run_id=self.run_id, started_at=now, tz=contest.tz)
        self.account = feed_account(feed)
        self.new: set[str] = set()
        self.updated: set[str] = set()
        self.requests_before = feed.requests_made
        self.retries_before = getattr(feed, "retries", 0)
        self.error_ids: dict[str, object] = {}
        self.mark = -1  # store.commit_mark of the closing transaction (see close)

    # -- read the feed -------------------------------------------------------------------

    def read_all(self) -> None:
        """Read every hashtag, unless the account cools down; a hashtag's own failure
        is noted and the others are still read."""
        self.check_cooldown()
        first: FeedError | None = None
        for name in self.contest.hashtags:
            self.spend_budget(name)
            pages, reached = self.summary.pages, True
            try:
                self.read_hashtag(name)
            except (BadRequestError, TransientError) as exc:  # this hashtag only: the others are still read
                reached = exc.reached or self.summary.pages > pages
                first = first or exc
                self.summary.notes.append(f"#{name} not fully read: {exc}")
            except FeedError as exc:
                reached = exc.reached or self.summary.pages > pages
                raise
            finally:  # a query counts once its connection was made, never one refused before
                if reached:
                    store.record_hashtag_query(self.db, self.account, name, self.now)
        if first is not None:
            self.note_error(first)
        self.refresh()

    def refresh(self) -> None:
        """Read entries again by id, inside the refresh budget (see :mod:`derby.refresher`)."""
        outcome = refresher.refresh_entries(self.db, self.contest, self.feed, self.account, self.run_id, self.now)
        self.summary.refreshes = outcome.reads
        self.summary.snapshots += outcome.snapshots
        self.summary.notes.extend(outcome.notes)

    def read_hashtag(self, name: str) -> None:
        """Resolve ``name`` (once, then stored) and read both its edges."""
        graph_id = store.hashtag_id(self.db, name)
        if graph_id is None:
            graph_id = self.feed.resolve_hashtag(name)
            store.save_hashtag_id(self.db, name, graph_id, self.now)
        for edge in EDGES:
            complete = self.read_source(HashtagEdge(graph_id, edge, name))
            if edge == "recent_media" and complete:  # a cut-short read did not cover 24 hours
                store.record_missing(self.db, self.run_id, name, self.now)
                self.record_coverage(name)

    def read_source(self, source: HashtagEdge) -> bool:
        """Store every page of ``source``; return whether it was read to its end."""
        complete = True
        for number, page in enumerate(self.feed.read(source, self.now), start=1):
            self.store_page(source, page, number)
            complete = complete and not page.truncated
            if self.stop is not None and self.stop.is_set():
                raise _Stopped()
        return complete

    # -- store a page ----------------------------------------------------------------------

    def store_page(self, source: HashtagEdge, page, number: int = 1) -> None:
        result = store.save_page(self.db, self.run_id, source.hashtag, source.edge, page, self.now)
        log.debug("poll #%d: #%s %s page %d stored: %s, %d new, %d updated", self.run_id, source.hashtag, source.edge,
                  number, f"{len(page.media)} media", len(result.new), len(result.updated))
        self.summary.pages += 1
        self.summary.snapshots += result.snapshots
        self.summary.warnings += len(page.warnings)
        self.new |= result.new
        self.updated |= result.updated

    def record_coverage(self, name: str) -> None:
        gap = store.record_coverage(self.db, self.run_id, name, self.now, (self.contest.start, self.contest.end))
        if gap is not None:
            self.summary.gaps.append(gap)
            self.summary.notes.append(
                f"coverage gap on #{name}: posts published from {_when(gap.gap_from, self.contest.tz)} to "
                f"{_when(gap.gap_to, self.contest.tz)} ({gap.hours:.1f} h) were never reachable and may be lost")

    # -- account for limits ----------------------------------------------------------------

    def check_cooldown(self) -> None:
        """End the poll before any request while the account's cool-down is in force."""
        cooldown = store.active_cooldown(self.db, self.account, self.now)
        if cooldown is None:
            return
        s = self.summary
        s.status, s.exit_code = "skipped", 3
        s.error_kind, s.cooldown_until = "cooldown", cooldown["until"]
        s.error = f"cooling down until {_when(cooldown['until'], self.contest.tz)} ({cooldown['reason']}); no request made"
        raise _Stopped()

    def spend_budget(self, name: str) -> None:
        """Raise BudgetError when ``name`` would pass the account's hashtag budget (it is
        counted by :meth:`read_all` once a request for it reached the platform)."""
        budget = store.hashtag_budget(self.db, self.account, self.now)
        if budget.needed([name]) and budget.free == 0:
            raise BudgetError(f"#{name} would be hashtag {budget.used + 1} of account {self.account} this week; the "
                              f"platform allows {budget.limit}; the next slot frees "
                              f"{_when(budget.next_free, self.contest.tz)}")

    def refused(self, exc: FeedError) -> None:
        """The whole poll ended on ``exc``; throttling starts a cool-down of the account."""
        s = self.summary
        if isinstance(exc, ThrottledError) and not isinstance(exc, HashtagLimitError):
            asked = cooldown_end(exc, self.now)
            s.cooldown_until = min(asked, self.cooldown_cap())
            if s.cooldown_until < asked:
                s.notes.append(f"the platform asked for no request until {_when(asked, self.contest.tz)}; derby asks "
                               f"again at {_when(s.cooldown_until, self.contest.tz)}, before posts not read again leave "
                               "recent_media's 24 hours (if it refuses again, those posts may be lost)")
                log.warning("%s", s.notes[-1])
            store.start_cooldown(self.db, self.account, self.now, s.cooldown_until, str(exc), self.run_id)
        self.note_error(exc)
        if s.cooldown_until is not None:
            s.error += f"; no request until {_when(s.cooldown_until, self.contest.tz)}"

    def cooldown_cap(self) -> datetime:
        """See :func:`cooldown_cap`."""
        return cooldown_cap(self.db, self.contest, self.now)

    # -- errors ------------------------------------------------------------------------------

    def note_error(self, exc: FeedError) -> None:
        s = self.summary
        s.status = "partial" if s.pages else "failed"
        s.error, s.error_kind, s.exit_code = str(exc), exc.kind, exc.exit_code
        s.details = exc.details()
        self.error_ids = {"error_code": exc.code, "error_subcode": exc.subcode, "fbtrace_id": exc.fbtrace_id,
                          "error_endpoint": exc.endpoint}
        log.warning("poll #%d %s: %s%s", self.run_id, s.status, s.error, f" [{s.details}]" if s.details else "")

    def stopped(self) -> None:
        s = self.summary
        if s.status != "skipped":
            s.status, s.error, s.exit_code = "partial", "stopped before the end of the poll", 3

    def crashed(self, exc: Exception) -> None:
        s = self.summary
        text = getattr(self.feed, "redact", str)(f"{type(exc).__name__}: {exc}")
        log.error("poll #%s: unexpected error: %s", self.run_id, text)
        s.status = "partial" if s.pages else "failed"
        s.error, s.error_kind, s.exit_code = f"unexpected error: {text}", "error", 1

    # -- close the run -----------------------------------------------------------------------

    def close(self) -> PollSummary:
        """Finish the summary from the feed's counters and write the poll run's closing
        record in one transaction."""
        s, feed = self.summary, self.feed
        notes = getattr(feed, "notes", [])
        s.notes, notes[:] = s.notes + list(notes), []
        s.requests = feed.requests_made - self.requests_before
        s.retries = getattr(feed, "retries", 0) - self.retries_before
        s.usage = getattr(feed, "usage", None)
        s.budget = store.hashtag_budget(self.db, self.account, self.now)
        s.new_media, s.updated_media = len(self.new), len(self.updated - self.new)
        with store.write(self.db):  # the poll run's closing record, whole or not at all
            store.record_warnings(self.db, self.run_id, s.notes, self.now)
            store.add_media_counts(self.db, self.run_id, s.new_media, s.updated_media)
            store.finish_poll_run(self.db, self.run_id, self.now, status=s.status, requests=s.requests, error=s.error)
            store.record_poll_outcome(self.db, self.run_id, error_kind=s.error_kind, retries=s.retries, usage=s.usage,
                                      cooldown_until=s.cooldown_until, **self.error_ids)  # type: ignore[arg-type]
            self.mark = store.commit_mark(self.db)  # what the database is as this run leaves it
        return s
