"""The contest's timeline rules, each written once: when the final poll is due, which
phase a contest is in, and when a hashtag's coverage is stale. Standard library and
:mod:`derby.config` only; the daemon (:mod:`derby.poller`) and the health report
(:mod:`derby.health`) both use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from derby.config import Contest

COVERAGE_WARNING = timedelta(hours=12)
"""Warn when a hashtag has had no successful poll for this long during the contest:
half of the 24 hours ``recent_media`` reaches back."""
RECENT_MEDIA_REACH = timedelta(hours=24)
"""How far back ``recent_media`` reaches: media published in the last 24 hours (Graph
API reference, IG Hashtag > recent_media)."""


def final_poll_at(contest: Contest, grace: timedelta | None = None) -> datetime:
    """Return when the final poll is due (aware UTC): the end plus ``grace`` (default the
    contest's ``[schedule] grace``: posts published before the end may still appear,
    ``recent_media`` reaching back 24 hours), or ``count_engagement_until`` when later."""
    grace = grace if grace is not None else timedelta(seconds=contest.schedule.grace)
    return max(contest.end + grace, contest.freeze)


def phase(contest: Contest, now: datetime, closed: bool) -> str:
    """Return ``not_started``, ``running``, ``grace`` (after the end, still polling for
    late-found posts and engagement), ``final_poll_due`` (final poll not done yet) or
    ``closed``."""
    if closed:
        return "closed"
    if now < contest.start:
        return "not_started"
    if now <= contest.end:
        return "running"
    if now < final_poll_at(contest):
        return "grace"
    return "final_poll_due"


@dataclass(frozen=True)
class StaleCoverage:
    """A hashtag without a successful ``recent_media`` read since ``since`` (aware UTC);
    its posts older than 24 hours are lost for good unless a poll succeeds before
    ``lost_at``."""

    hashtag: str
    since: datetime
    lost_at: datetime


def stale_coverage(contest: Contest, last: Mapping[str, datetime], now: datetime,
                   warn_after: timedelta = COVERAGE_WARNING) -> list[StaleCoverage]:
    """Return the contest hashtags whose last full read (``last``: hashtag -> aware UTC,
    see :func:`derby.store.last_coverage`; the start when never read) lies ``warn_after``
    or more before ``now`` (or before the end, once it passed). Empty before the start,
    and for a team contest (an owner reads its own media at any age)."""
    if now < contest.start or contest.kind == "teams":
        return []
    stale = []
    for name in contest.hashtags:
        since = last.get(name) or contest.start
        if min(now, contest.end) - since >= warn_after:
            stale.append(StaleCoverage(name, since, since + RECENT_MEDIA_REACH))
    return stale
