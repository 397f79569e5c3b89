"""Flags for judges: engagement that looks bought or coordinated, found from the
snapshots alone at the end of each poll and stored (never computed on the board's read
path). A flag says what it saw, with numbers; it never disqualifies: a judge clears it
or acts on it (``derby flags clear|act``), and that is recorded.

Engagement is ``like_count + comments_count`` (hidden likes count as 0). Three kinds:

- ``burst``: in one poll interval an entry gained at least :data:`BURST_MIN_GAIN`, at a
  rate (per hour, over the time since the previous poll that saw it, however short)
  at least :data:`BURST_FACTOR` times the highest of its own past rate (since it was
  first seen), the field's rate and :data:`BURST_FLOOR_RATE`. The field's rate is the
  median rate of the other entries that gained this poll (each gain over the time since
  the previous poll); for an entry growing for the
  first time (no past rate) it is the :data:`FIRST_GROWTH_QUANTILE` quantile of the
  first-growth rates of the entries seen so far (how fast the quickest posts started),
  once :data:`FIRST_GROWTH_MIN_FIELD` are known. The interval is measured from the
  previous *sighting*, not the previous snapshot (a snapshot is stored only when
  engagement changes), so a burst between two polls a minute apart is a gain of
  hundreds in one minute: caught, however short the interval.
- ``ratio``: its likes-to-comments ratio ``(likes + 1) / (comments + 1)`` is further
  from the field's median than :data:`RATIO_FACTOR` times either way, and further than
  :data:`RATIO_MADS` robust deviations (MAD × 1.4826) of the field's log ratios, among
  entries with at least :data:`RATIO_MIN_ENGAGEMENT`, when the field has
  :data:`RATIO_MIN_FIELD` of them. Raised once per entry.
- ``lockstep``: among the :data:`LOCKSTEP_TOP` most engaged entries seen this poll, two
  gained nearly the same amount (within :data:`LOCKSTEP_TOLERANCE` of the larger gain,
  or 2) in this poll and in at least :data:`LOCKSTEP_MIN_STEPS` of their last
  :data:`LOCKSTEP_WINDOW` polls in all, each gain at least :data:`LOCKSTEP_MIN_GAIN`.
  Only the top entries are compared, so the cost stays that of 45 pairs per poll.

How the thresholds were chosen: on the bundled replay (180 posts, polls 12 hours
apart) an established entry's step rate stays under 3× its own past rate, this poll's
field median is 0.4–3/h, and the quickest starts run at 15–23 engagement per hour; the
factor 5 sits above that spread, and the minimum gain of 50 keeps a small account's
few likes at once out. On the whole replay they raise four flags: one burst (the
first post to take off, 7× faster than any start before it: a judge looks and clears
it) and three ratios (posts with hundreds of likes and no comment; the third is seen
once mention refreshes read posts past their first 24 hours). The tests check a
burst of 500 likes inside a one-minute poll interval and two entries gaining the same
amounts poll after poll are caught.
"""

from __future__ import annotations

import bisect
import math
import statistics
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

BURST_MIN_GAIN = 50
BURST_FACTOR = 5.0
BURST_FLOOR_RATE = 1.0
"""Engagement per hour below which any rate is ordinary."""
FIRST_GROWTH_QUANTILE = 0.95
FIRST_GROWTH_MIN_FIELD = 3
RATIO_FACTOR = 4.0
RATIO_MADS = 3.0
RATIO_MIN_ENGAGEMENT = 50
RATIO_MIN_FIELD = 20
LOCKSTEP_TOP = 10
LOCKSTEP_WINDOW = 6
LOCKSTEP_MIN_STEPS = 3
LOCKSTEP_MIN_GAIN = 20
LOCKSTEP_TOLERANCE = 0.05


@dataclass(frozen=True)
class Flag:
    """A flag found: ``media_id``, ``kind`` (``burst``, ``ratio``, ``lockstep``),
    ``detail`` (one sentence with the numbers) and ``data`` (the numbers)."""

    media_id: str
    kind: str
    detail: str
    data: dict


def _hours(a: datetime, b: datetime) -> float:
    return max((b - a).total_seconds(), 1.0) / 3600


def engagement(likes: int | None, comments: int | None) -> int:
    return (likes or 0) + (comments or 0)


def _without(ordered: list[float], value: float | None) -> _Field:
    return _Field(ordered, None if value is None else bisect.bisect_left(ordered, value))


class _Field:
    """A sorted list of rates seen without one of them (an entry is never its own field),
    answering a quantile in O(1) instead of copying the list for every entry."""

    def __init__(self, ordered: list[float], skip: int | None) -> None:
        self.ordered, self.skip = ordered, skip if skip is not None and skip < len(ordered) else None

    def __len__(self) -> int:
        return len(self.ordered) - (self.skip is not None)

    def _at(self, k: int) -> float:
        return self.ordered[k + 1 if self.skip is not None and k >= self.skip else k]

    def quantile(self, q: float) -> float:
        n = len(self)
        return self._at(min(int(q * n), n - 1)) if n else 0.0

    def median(self) -> float:
        n = len(self)
        if not n:
            return 0.0
        return self._at(n // 2) if n % 2 else (self._at(n // 2 - 1) + self._at(n // 2)) / 2


def bursts(steps: list[dict], now: datetime, field_rates: dict[str, float],
           first_rates: dict[str, float] | None = None) -> list[Flag]:
    """Return burst flags. ``steps`` are this poll's candidates (entries that gained at
    least :data:`BURST_MIN_GAIN`), each a dict: ``media_id, gain`` (engagement gained
    since the previous reading), ``since`` (aware UTC: the previous poll that saw the
    entry, or its previous snapshot), ``past_gain`` and ``past_since`` (engagement
    gained from its first snapshot to ``since``, and that first snapshot's time;
    ``past_since`` None when there is no past). ``field_rates`` are the rates (per
    hour) of every entry that changed this poll, over the interval since the previous
    poll; ``first_rates`` the entries' first-growth rates so far (see
    :func:`derby.store.flags.first_growth_rates`): an entry growing for the first time is
    compared with how fast the field's quickest entries started."""
    positive = sorted(r for r in field_rates.values() if r > 0)
    first_rates = first_rates or {}
    starts = sorted(first_rates.values())
    flags = []
    for s in steps:
        media_id, gain = s["media_id"], s["gain"]
        rate = gain / _hours(s["since"], now)
        if gain < BURST_MIN_GAIN:
            continue
        own = s["past_gain"] / _hours(s["past_since"], s["since"]) if s["past_since"] is not None else 0.0
        mine = field_rates.get(media_id, 0.0)
        field, basis = _without(positive, mine if mine > 0 else None).median(), "the field's this poll"
        if own <= 0:
            earlier = _without(starts, first_rates.get(media_id))
            if len(earlier) >= FIRST_GROWTH_MIN_FIELD:
                field, basis = earlier.quantile(FIRST_GROWTH_QUANTILE), "the field's fastest starts"
        baseline = max(own, field, BURST_FLOOR_RATE)
        if rate >= BURST_FACTOR * baseline:
            minutes = (now - s["since"]).total_seconds() / 60
            flags.append(Flag(media_id, "burst",
                              f"+{gain} likes and comments in {minutes:.0f} min ({rate:.0f}/h): {rate / baseline:.0f}× "
                              f"the higher of its own past rate ({own:.1f}/h) and {basis} ({field:.1f}/h)",
                              {"gain": gain, "minutes": round(minutes, 1), "rate": round(rate, 2),
                               "own_rate": round(own, 2), "field_rate": round(field, 2)}))
    return flags


def ratios(readings: list[tuple[str, int | None, int | None]], already: set[str]) -> list[Flag]:
    """Return ratio flags from the latest readings ``(media_id, like_count,
    comments_count)`` of the entries seen this poll; entries in ``already`` (flagged
    before) are not flagged again."""
    field = [(m, likes, comments) for m, likes, comments in readings
             if likes is not None and engagement(likes, comments) >= RATIO_MIN_ENGAGEMENT]
    if len(field) < RATIO_MIN_FIELD:
        return []
    logs = {m: math.log((likes + 1) / ((comments or 0) + 1)) for m, likes, comments in field}
    centre = statistics.median(logs.values())
    mad = statistics.median(abs(v - centre) for v in logs.values()) * 1.4826
    limit = max(RATIO_MADS * mad, math.log(RATIO_FACTOR))
    flags = []
    for m, likes, comments in field:
        if m in already or abs(logs[m] - centre) <= limit:
            continue
        ratio, typical = math.exp(logs[m]), math.exp(centre)
        flags.append(Flag(m, "ratio", f"{likes} likes for {comments or 0} comments: ratio {ratio:.1f}, the field's "
                                      f"median is {typical:.1f} ({len(field)} entries)",
                          {"likes": likes, "comments": comments or 0, "ratio": round(ratio, 2),
                           "field_median": round(typical, 2), "field": len(field)}))
    return flags


def _close(a: int, b: int) -> bool:
    return a >= LOCKSTEP_MIN_GAIN and b >= LOCKSTEP_MIN_GAIN and abs(a - b) <= max(2, LOCKSTEP_TOLERANCE * max(a, b))


def locksteps(gains: dict[str, dict[int, int]], run_id: int, runs: list[int]) -> list[Flag]:
    """Return lock-step flags. ``gains`` maps each of the top entries to ``{poll run id:
    engagement gained in that run}``; ``runs`` are the last poll run ids to compare,
    oldest first, ending with ``run_id`` (this poll)."""
    flags: dict[str, Flag] = {}
    ids = sorted(gains)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            ga, gb = gains[a], gains[b]
            if not _close(ga.get(run_id, 0), gb.get(run_id, 0)):
                continue
            same = [r for r in runs if _close(ga.get(r, 0), gb.get(r, 0))]
            if len(same) < LOCKSTEP_MIN_STEPS:
                continue
            steps = ", ".join(f"+{ga[r]}/+{gb[r]}" for r in same)
            for me, other in ((a, b), (b, a)):
                if me not in flags:
                    flags[me] = Flag(me, "lockstep", f"gained in lock-step with {other} in {len(same)} of the last "
                                                     f"{len(runs)} polls ({steps})",
                                     {"with": other, "polls": same, "gains": [[ga[r], gb[r]] for r in same]})
    return list(flags.values())


def flag_poll(db: sqlite_utils.Database, run_id: int, now: datetime) -> list[Flag]:
    """Find and store the flags of poll run ``run_id`` (observed at ``now``, aware UTC).
    Returns the flags stored (new ones only). The readings are read through a
    read-only connection of their own (see :func:`derby.store.flags.reading`)."""
    from derby.store import flags as flag_store

    with flag_store.reading(db) as reader:
        gains, previous = flag_store.poll_gains(reader, run_id)
        interval = _hours(previous, now) if previous is not None else 1.0
        field_rates = {m: g / interval for m, g in gains.items()}
        steps = flag_store.poll_steps(reader, run_id, [m for m, g in gains.items() if g >= BURST_MIN_GAIN])
        # the field's first-growth rates read every media's first snapshots: only when an entry needs them
        starting = any(s["past_gain"] <= 0 for s in steps)
        found = bursts(steps, now, field_rates, flag_store.first_growth_rates(reader, run_id) if starting else None)
        found += ratios(flag_store.latest_readings(reader, run_id), flag_store.flagged(reader, "ratio"))
        top, runs = flag_store.top_gains(reader, run_id, LOCKSTEP_TOP, LOCKSTEP_WINDOW)
        found += locksteps(top, run_id, runs)
    return flag_store.save_flags(db, run_id, now, found)
