"""The refresh step of a poll: read entries again by id, inside the request budget.

After the hashtag edges, a poll plans its refreshes (:mod:`derby.refresh_plan`) from
the standings and the stored candidates, reads each planned source through the feed's
one call path (errors, retries, usage headers and redaction are the feed's), and stores
what came back as snapshots like any other (:func:`derby.store.save_refresh`). What a
refusal means is decided once, in :func:`derby.feeds.refresh.refusal`:

- ``gone`` (error 100, subcode 33): recorded once for the media; never asked again;
- ``not_refreshable`` (any other refusal of the media, or of an entrant's account by
  Business Discovery): recorded; derby stops asking;
- ``permission``: the source is turned off with a warning (``derby status``, the
  poll's notes); hashtag polling goes on;
- throttling and token errors end the poll as they do for the hashtag edges (the
  caller records the cool-down); a transient failure skips that read until next poll.

A mention refresh that answers without the media records it ``missing`` (the entry
is then flagged ``unseen``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlite_utils

from derby import leaderboard, store
from derby.config import Contest
from derby.feeds import Feed, FeedError, TransientError
from derby.feeds.refresh import PERMISSIONS, AccountUsername, DiscoveryRefresh, MentionRefresh, refusal
from derby.refresh_plan import PlannedRead, Standing, plan_refreshes

log = logging.getLogger("derby.poller")


@dataclass
class RefreshOutcome:
    """What a poll's refresh step did: reads made, media refreshed, gone and refused,
    reads left over the budget, whether it was the final sweep, and notes for the poll
    run (sources turned off, what the sweep left)."""

    reads: int = 0
    refreshed: int = 0
    gone: int = 0
    refused: int = 0
    left: int = 0
    final_sweep: bool = False
    snapshots: int = 0
    notes: list[str] = field(default_factory=list)


def refresh_entries(db: sqlite_utils.Database, contest: Contest, feed: Feed, account: str, run_id: int,
                    now: datetime) -> RefreshOutcome:
    """Plan and make this poll's refreshes (see the module docstring). Raises the
    feed's ThrottledError and token AuthError (the caller ends the poll on them)."""
    cfg = contest.refresh
    outcome = RefreshOutcome()
    off = store.disabled_sources(db)
    mentions_on = cfg.mentions and "mentioned_media" not in off
    discovery_on = cfg.business_discovery and "business_discovery" not in off
    if not (mentions_on or discovery_on) or cfg.max_requests == 0:
        return outcome
    # the final sweep is the first poll after the freeze of a contest polled before it
    sweep = now >= contest.freeze and not store.final_sweep_done(db) and bool(store.successful_polls(db, contest.freeze))
    if now >= contest.freeze and not sweep:
        return outcome
    candidates = store.refresh_candidates(db, run_id)
    every = timedelta(seconds=cfg.every)
    if not any(sweep or not c.seen_this_run and (c.read_at is None or now - c.read_at >= every) for c in candidates
               if "all" not in c.closed_sources):
        return outcome  # nothing is due: no request, not even for the organizer's username
    organizer = _organizer(db, feed, account, now, run_id, outcome) if mentions_on else None
    board = leaderboard.standings(db, now)
    standings = {e.media_id: Standing(e.rank, e.score, e.username) for e in board.rows()}
    plan = plan_refreshes(candidates, standings, now=now, freeze=contest.freeze,
                          every=every, max_requests=cfg.max_requests, organizer=organizer,
                          mentions_on=mentions_on and organizer is not None, discovery_on=discovery_on,
                          refused_entrants=store.refused_entrants(db, "business_discovery"), final_sweep=sweep)
    if sweep:
        store.mark_final_sweep(db, run_id)
        outcome.final_sweep = True
    closed: set[str] = set()
    for read in plan.reads:
        if read.source in closed:
            outcome.left += 1
            continue
        if not _read(db, feed, account, read, run_id, now, outcome):
            closed.add(read.source)
    outcome.left += len(plan.left)
    if sweep:
        outcome.notes.append(f"final sweep: {outcome.reads} of {len(plan.reads) + len(plan.left)} refreshable entries "
                             f"read" + (f"; {outcome.left} left (refresh.max_requests = {cfg.max_requests})"
                                        if outcome.left else ""))
    elif outcome.left:
        outcome.notes.append(f"{outcome.left} due refreshes left for the next poll (refresh.max_requests = "
                             f"{cfg.max_requests})")
    return outcome


def _organizer(db: sqlite_utils.Database, feed: Feed, account: str, now: datetime, run_id: int,
               outcome: RefreshOutcome) -> str | None:
    """The organizer account's username: stored, else read once from the API."""
    name = store.organizer_username(db, account)
    if name is not None:
        return name
    try:
        for page in feed.read(AccountUsername(account), now):
            name = page.authors.get(account)
    except FeedError as exc:
        if refusal(exc) == "permission":
            _turn_off(db, "mentioned_media", exc, now, run_id, outcome)
            return None
        if isinstance(exc, TransientError) or refusal(exc) is not None:
            outcome.notes.append(f"the organizer account's username could not be read ({exc}); no mention refresh "
                                 "this poll")
            return None
        raise
    if name is not None:
        store.save_organizer(db, account, name, now)
    return name


def _read(db: sqlite_utils.Database, feed: Feed, account: str, read: PlannedRead, run_id: int, now: datetime,
          outcome: RefreshOutcome) -> bool:
    """Make one planned read and store what it says; False when its source was turned
    off (no more reads of it this poll)."""
    source = MentionRefresh(account, read.key) if read.source == "mentioned_media" \
        else DiscoveryRefresh(account, read.key)
    outcome.reads += 1
    try:
        pages = list(feed.read(source, now))
    except FeedError as exc:
        meaning = refusal(exc)
        if meaning == "permission":
            _turn_off(db, read.source, exc, now, run_id, outcome)
            return False
        if meaning == "gone":
            outcome.gone += 1
            store.record_outcomes(db, run_id, [(m, read.source, "gone", exc.details() or str(exc))
                                               for m in read.media_ids], now)
        elif meaning == "not_refreshable":
            outcome.refused += 1
            if read.source == "business_discovery":
                store.record_entrant_refusal(db, read.key, read.source, str(exc), now, run_id)
            else:
                store.record_outcomes(db, run_id, [(read.key, read.source, "not_refreshable", str(exc))], now)
        elif isinstance(exc, TransientError):
            outcome.notes.append(f"{source.label} not refreshed this poll: {exc}")
        else:
            raise
        return True
    media = [m for page in pages for m in page.media if m.media_id in read.media_ids]
    authors = {k: v for page in pages for k, v in page.authors.items()}
    warnings = [w for page in pages for w in page.warnings]
    if media:
        result = store.save_refresh(db, run_id, read.source, [(m, authors.get(m.media_id)) for m in media],
                                    warnings, now)
        outcome.refreshed += len(media)
        outcome.snapshots += result.snapshots
    missing = [m for m in read.media_ids if m not in {x.media_id for x in media}]
    if missing and read.source == "mentioned_media":
        store.record_outcomes(db, run_id, [(m, read.source, "missing", "answered without the media") for m in missing],
                              now)
    return True


def _turn_off(db: sqlite_utils.Database, source: str, exc: FeedError, now: datetime, run_id: int,
              outcome: RefreshOutcome) -> None:
    reason = (f"the token lacks the permission for {source} refreshes ({PERMISSIONS[source]}): {exc}; "
              "refreshes of this kind are off until derby init is run again")
    store.disable_source(db, source, reason, now, run_id)
    outcome.notes.append(f"warning: {reason}")
    log.warning("%s", reason)
