"""Which stored entries a poll reads again by id, inside the request budget. Standard
library only; nothing here reads the database, the clock or the network.

Refreshes spend requests where they matter (the contest file's ``[refresh]``):

1. **contenders**: entries ranked within twice the winners plus alternates, then entries
   whose last reading is old enough that, growing at the rate they grew until then,
   they might reach that rank;
2. **the rest**, oldest reading first.

An entry is refreshable by mention when its caption mentions the organizer account
(see :func:`derby.text.mentions`) and no source reported it gone or refused it; by
Business Discovery when its entrant is known and was not refused (one request reads
the entrant's latest 50 media, so it refreshes all their entries). An entry is due when
the hashtag edges did not return it in this poll and its newest reading is at least
``every`` old. The first poll after the freeze is the **final sweep**: every
refreshable eligible entry is due, whatever the edges returned, since no reading after
the freeze counts but the sweep's; later polls refresh nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from derby.text import mentions

WINNERS, ALTERNATES = 3, 2
"""The export's default winners and alternates: contenders are ranked within twice
their sum."""
CONTENDER_RANK = 2 * (WINNERS + ALTERNATES)


@dataclass(frozen=True)
class Standing:
    """What the plan needs of one entry's standing: its rank (None: not ranked),
    score, and the entrant's username when known."""

    rank: int | None
    score: float
    username: str | None = None


@dataclass(frozen=True)
class PlannedRead:
    """One refresh request: ``source`` (``mentioned_media`` or ``business_discovery``),
    ``key`` (the media id, or the entrant's username for Business Discovery), the
    media it refreshes and its priority (``contender``, ``may_reach``, ``rest``)."""

    source: str
    key: str
    media_ids: tuple[str, ...]
    priority: str


@dataclass
class RefreshPlan:
    """The reads to make this poll, in order; ``left`` reads that were due but did not
    fit in ``max_requests``; ``final_sweep`` when this poll is the final sweep."""

    reads: list[PlannedRead] = field(default_factory=list)
    left: list[PlannedRead] = field(default_factory=list)
    final_sweep: bool = False


def could_reach(standing: Standing, read_at: datetime | None, timestamp: datetime | None, now: datetime,
                target: float) -> bool:
    """True when an entry scored ``standing.score`` at ``read_at`` might reach ``target``
    by ``now`` growing at its average rate since ``timestamp`` (the post's time)."""
    if read_at is None or timestamp is None:
        return True
    grown_for = max((read_at - timestamp).total_seconds(), 3600.0)
    rate = max(standing.score, 0.0) / grown_for
    return standing.score + rate * max((now - read_at).total_seconds(), 0.0) >= target


def plan_refreshes(candidates: Iterable, standings: Mapping[str, Standing], *, now: datetime, freeze: datetime,
                   every: timedelta, max_requests: int, organizer: str | None, mentions_on: bool,
                   discovery_on: bool, refused_entrants: Iterable[str] = (), final_sweep: bool = False) -> RefreshPlan:
    """Return the refresh plan of one poll at ``now`` (see the module docstring).

    ``candidates`` are :class:`derby.store.RefreshCandidate`; ``standings`` maps media
    ids to :class:`Standing` (eligible entries have a rank); ``organizer`` is the
    organizer account's username (None: unknown, no mention refresh). ``final_sweep``
    says this poll is the first after ``freeze``; other polls after it plan nothing.
    """
    plan = RefreshPlan(final_sweep=final_sweep)
    if now >= freeze and not final_sweep:
        return plan
    ranked = sorted((s.score for s in standings.values() if s.rank is not None), reverse=True)
    target = ranked[CONTENDER_RANK - 1] if len(ranked) >= CONTENDER_RANK else float("-inf")
    refused = set(refused_entrants)
    wanted: list[tuple[tuple, PlannedRead]] = []
    by_entrant: dict[str, list] = {}
    for c in candidates:
        standing = standings.get(c.media_id)
        if standing is None or standing.rank is None or "all" in c.closed_sources:
            continue
        if not final_sweep and (c.seen_this_run or (c.read_at is not None and now - c.read_at < every)):
            continue
        if standing.rank <= CONTENDER_RANK:
            priority = "contender"
        elif could_reach(standing, c.read_at, c.timestamp, now, target):
            priority = "may_reach"
        else:
            priority = "rest"
        order = (("contender", "may_reach", "rest").index(priority), c.read_at or datetime.min.replace(tzinfo=now.tzinfo),
                 c.media_id)
        if mentions_on and organizer and "mentioned_media" not in c.closed_sources and mentions(c.caption, organizer):
            wanted.append((order, PlannedRead("mentioned_media", c.media_id, (c.media_id,), priority)))
        elif discovery_on and standing.username and standing.username not in refused \
                and "business_discovery" not in c.closed_sources:
            by_entrant.setdefault(standing.username, []).append((order, c.media_id, priority))
    for username, items in by_entrant.items():
        items.sort()
        order, _, priority = items[0]
        wanted.append((order, PlannedRead("business_discovery", username, tuple(m for _, m, _ in items), priority)))
    wanted.sort(key=lambda pair: pair[0])
    reads = [read for _, read in wanted]
    plan.reads, plan.left = reads[:max_requests], reads[max_requests:]
    return plan
