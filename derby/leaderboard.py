"""Standings from the store, and what the board shows about them.

``standings(db)`` computes the ranking when it is read, from the stored contest, rules
and snapshots, so a rule change needs no re-poll. ``board_view(db, ...)`` adds what a
judge looks at beside the ranking: movement since the previous successful poll, each
entry's score over its snapshots, the health of polling and the counts. Drawing is
:mod:`derby.board`'s job; this module knows nothing of rich.
"""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator, MutableMapping
from itertools import islice
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlite_utils

from derby import clock, freshness, store
from derby import tokens as expiry
from derby.config import Contest
from derby.errors import DerbyError
from derby.rules import Rules
from derby.scoring import (ELIGIBLE, ContestTerms, Query, ScoredEntry, live_counts_query, live_ranking_query,
                           entry_decoder, ranking_query, trend_query)
from derby.text import display_text, shorten
from derby.units import plural


@dataclass
class Standings:
    """The leaderboard of the stored contest at ``as_of`` (aware UTC), under ``rules``.

    Rows are read from the database when asked for, never all held at once by the
    read path: :meth:`rows` streams them (ranked first in rank order, then the rest by
    media id), :meth:`counts` counts them in SQL. ``entries`` and ``ranked`` read
    every row into a list (for small uses and tests). Read it before the database is
    closed.
    """

    contest: Contest
    as_of: datetime
    rules: Rules
    _db: sqlite_utils.Database | None = field(default=None, repr=False, compare=False)
    _moment: datetime | None = field(default=None, repr=False, compare=False)
    _entries: list[ScoredEntry] | None = field(default=None, repr=False, compare=False)
    _counts: dict[str, int] | None = field(default=None, repr=False, compare=False)
    _now: datetime | None = field(default=None, repr=False, compare=False)
    _assessor: freshness.Assessor | None = field(default=None, repr=False, compare=False)
    freshness: MutableMapping[str, freshness.Freshness] = field(default_factory=weakref.WeakValueDictionary,
                                                                repr=False, compare=False)
    """Each entry read so far and still held by the reader (its ``fresh``): its
    engagement source, reading time and freshness flags (see :mod:`derby.freshness`),
    by media id. Entries a streaming reader let go leave it, so it never holds them all."""

    def rows(self, top: int | None = None, show_all: bool = False) -> Iterator[ScoredEntry]:
        """Yield the first ``top`` ranked entries (all when None), then, when
        ``show_all``, every entry that is not ranked."""
        if self._entries is not None:
            ranked = [e for e in self._entries if e.status == ELIGIBLE]
            yield from ranked[:top] if top else ranked
            if show_all:
                yield from (e for e in self._entries if e.status != ELIGIBLE)
            return
        assert self._db is not None, "standings without a database"
        if top and not show_all:
            # a few rows: their freshness is judged from their own readings only
            shown = list(self._read(top, False, judge=False))
            assess = self._assessor_of([e.media_id for e in shown])
            for entry in shown:
                entry.fresh = assess(entry)
                self.freshness[entry.media_id] = entry.fresh
                yield entry
            return
        yield from self._read(top, show_all)

    def _read(self, top: int | None, show_all: bool, judge: bool = True) -> Iterator[ScoredEntry]:
        assert self._db is not None, "standings without a database"
        terms = contest_terms(self.contest)
        query = _ranking(self._db, self.rules, terms, self._moment, top if top and not show_all else None)
        columns, found = store.query_tuples(self._db, query.sql, query.params)
        parse = _time_parser()
        decode = entry_decoder(columns, self.rules, terms, parse)
        rank = columns.index("rank")
        reading = columns.index("reading") if "reading" in columns else None
        assess = None  # what it needs is read at the first row
        count = 0
        # the collector stays on: a streaming reader keeps few objects alive, and the
        # cycles a writer makes per entry (the json encoder's) must be freed as it goes
        for row in found:
            if row[rank] is None:
                if not show_all:
                    return
            elif top and count >= top:
                if not show_all:
                    return
                continue
            else:
                count += 1
            entry = decode(row)
            if judge:
                if assess is None:
                    assess = self._assess(streamed=reading is not None)
                entry.fresh = assess(entry, None if reading is None else store.parse_reading(row[reading], parse))
                self.freshness[entry.media_id] = entry.fresh
            yield entry

    def _assess(self, streamed: bool) -> freshness.Assessor:
        """The freshness judge of these standings (what it needs is read once); with
        ``streamed`` each entry's reading comes with its row (not read for every media)."""
        if self._assessor is None or (self._assessor.readings is None) != streamed:
            self._assessor = self._assessor_of(None, streamed)
        return self._assessor

    def _assessor_of(self, media_ids: list[str] | None, streamed: bool = False) -> freshness.Assessor:
        """A freshness judge knowing the readings, outcomes, edits and authors of
        ``media_ids`` (of every media when None); with ``streamed`` it knows no readings
        (each comes with its entry's row)."""
        db, contest, rules, moment = self._db, self.contest, self.rules, self._moment
        window = rules.engagement_window_hours
        return freshness.Assessor(
            None if streamed else store.read_readings(db, moment, contest.freeze, window, media_ids),  # type: ignore[arg-type]
            store.read_outcomes(db, moment, media_ids), store.previous_captions(db, moment, media_ids),  # type: ignore[arg-type]
            store.read_authors(db, moment, media_ids),  # type: ignore[arg-type]
            tags=contest.hashtags, mention=rules.require_mention, require_hashtag=rules.require_hashtag_in_caption,
            moment=moment or self._now or self.as_of, freeze=contest.freeze,
            stale_after=timedelta(seconds=contest.refresh.stale_after),
            window=timedelta(hours=window) if window else None)

    @property
    def entries(self) -> list[ScoredEntry]:
        """Every entry, ranked first (read into a list once)."""
        if self._entries is None:
            with _collector_paused():
                self._entries = list(self.rows(show_all=True))
        return self._entries

    @property
    def ranked(self) -> list[ScoredEntry]:
        """The ranked entries in rank order (read into a list)."""
        return [e for e in self.entries if e.status == ELIGIBLE] if self._entries is not None else list(self.rows())

    def entry(self, media_id: str) -> ScoredEntry | None:
        """Return one entry by media id, or None when it is not in the standings."""
        return next((e for e in self.rows(show_all=True) if e.media_id == media_id), None)

    def counts(self) -> dict[str, int]:
        """Return ``entries`` (stored posts), ``eligible`` (ranked), ``disqualified``
        (by a judge) and ``hidden_likes`` (posts whose owner hides likes)."""
        if self._counts is None:
            by_status = {status: (count, hidden) for status, count, hidden in self._status_counts()}
            self._counts = {
                "entries": sum(c for c, _ in by_status.values()),
                "eligible": by_status.get(ELIGIBLE, (0, 0))[0],
                "disqualified": by_status.get(DISQUALIFIED, (0, 0))[0],
                "hidden_likes": sum(h or 0 for _, h in by_status.values()),
            }
        return dict(self._counts)

    def _status_counts(self) -> Iterator[tuple[str, int, int]]:
        if self._entries is not None:
            found: dict[str, list[int]] = {}
            for e in self._entries:
                slot = found.setdefault(e.status, [0, 0])
                slot[0] += 1
                slot[1] += int(e.like_count is None and e.observed_at is not None)
            yield from ((k, c, h) for k, (c, h) in found.items())
            return
        assert self._db is not None
        terms = contest_terms(self.contest)
        if self._moment is None and store.entry_scores_current(self._db, self.rules, terms):
            query = live_counts_query(self.rules)
        else:
            links, judged = store.history_present(self._db, self._moment)
            base = ranking_query(self.rules, terms, as_of=self._moment, links=links, judged=judged)
            query = Query(f"SELECT status, count(*), sum(hidden) FROM ({base.sql}) GROUP BY status", base.params)
        yield from (tuple(row) for row in store.query_rows(self._db, query.sql, query.params))


def _time_parser():
    # poll times repeat across media: parse each distinct text once
    cache: dict[str | None, datetime | None] = {None: None}

    def parse(text: str | None) -> datetime | None:
        found = cache.get(text, _UNSEEN)
        if found is _UNSEEN:
            if len(cache) > 4096:  # post times are all different: keep the memory flat
                cache.clear()
                cache[None] = None
            found = cache[text] = clock.from_store(text)
        return found  # type: ignore[return-value]
    return parse


_UNSEEN = object()


def standings(db: sqlite_utils.Database, now: datetime, as_of: datetime | None = None) -> Standings:
    """Return the standings of the stored contest at ``as_of``, read from ``db`` when
    their rows are asked for.

    Scores use the snapshot frozen at the deadline (``contest.freeze``; see the entry
    stage of :func:`derby.scoring.entry_sql`). With ``as_of`` (aware) the rules,
    moderation, entrants and poll data that existed at that moment are used, so data
    recorded later never changes the result. Without ``as_of`` everything stored is
    used (the per-entry columns the store keeps current) and the standings describe
    the time of the last successful poll (``now`` when there was none).

    Raises DerbyError when the database has no contest (run ``derby init`` first).
    """
    contest = store.load_contest(db)
    if contest is None:
        raise DerbyError("this database has no contest yet; load one: derby init contest.toml (derby init --example contest.toml writes one to start from)")
    rules = store.rules_in_force(db, as_of)
    moment = as_of
    if as_of is None:
        last = store.last_poll_run(db, successful=True)
        as_of = clock.from_store(last["started_at"]) if last else now
    return Standings(contest=contest, as_of=as_of, rules=rules, _db=db, _moment=moment, _now=now)  # type: ignore[arg-type]


def _ranking(db: sqlite_utils.Database, rules: Rules, terms: ContestTerms, as_of: datetime | None,
             top: int | None = None) -> Query:
    # live: the per-entry columns the store keeps current; as of a moment (or when they
    # were computed for other rules, and this reader cannot rebuild them): from the media
    if as_of is None and store.entry_scores_current(db, rules, terms):
        # each entry's reading read with its row (without engagement_window_hours)
        extra = store.live_reading_columns(terms.freeze) if rules.engagement_window_hours is None else None
        return live_ranking_query(rules, top=top, count_likes=store.live_likes_counted(db, rules), extra=extra)
    links, judged = store.history_present(db, as_of)
    return ranking_query(rules, terms, as_of=as_of, links=links, judged=judged)


def contest_terms(contest: Contest) -> ContestTerms:
    """Return what the ranking needs of ``contest``."""
    return ContestTerms(hashtags=tuple(contest.hashtags), start=contest.start, end=contest.end, freeze=contest.freeze)


@contextmanager
def _collector_paused():
    # Making 100k+ entries would run the cyclic garbage collector again and again, each
    # pass walking every entry made so far; ranking makes no reference cycles.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def select(board: Standings, top: int | None = None, show_all: bool = False) -> list[ScoredEntry]:
    """Return the entries to show as a list: the top ``top`` ranked, plus every other
    stored entry when ``show_all`` (see :meth:`Standings.rows` to stream them)."""
    return list(board.rows(top, show_all))


def entry_record(entry: ScoredEntry, contest: Contest, fresh: freshness.Freshness | None = None) -> dict:
    """Return an entry as a plain dict for JSON and CSV.

    Keys: rank, media_id, permalink, username, display_name, score, like_count (None
    when hidden), comments_count, posted_at (ISO 8601 in the contest zone, with offset),
    media_type, status, reason, flags (list: scoring's, then ``stale``, ``gone``,
    ``unseen``, ``edited``), tie_break (the key that separated a tied entry, else
    None), points (rule -> points), observed_at (ISO 8601, contest zone: when the
    engagement used was read, by ``fresh``'s reading when given, else the snapshot's
    time), engagement_source (``recent_media``, ``top_media``, ``mentioned_media``,
    ``business_discovery``, or None when unknown), caption (raw).
    """
    tz = contest.tz
    observed = fresh.read_at if fresh is not None and fresh.read_at is not None else entry.observed_at
    return {
        "rank": entry.rank, "media_id": entry.media_id, "permalink": entry.permalink,
        "username": entry.username, "score": _number(entry.score), "like_count": entry.like_count,
        "comments_count": entry.comments_count, "posted_at": clock.iso_local(entry.timestamp, tz),
        "media_type": entry.media_type, "status": entry.status, "reason": entry.reason,
        "flags": list(entry.flags), "tie_break": entry.tie_break, "display_name": entry.display_name,
        "points": {rule: _number(points) for rule, points in entry.points.items()},
        "observed_at": clock.iso_local(observed, tz),
        "engagement_source": fresh.source if fresh is not None else None, "caption": entry.caption,
    }


def contest_record(board: Standings) -> dict:
    """Return the contest block of the JSON output (times ISO 8601 in contest zone)."""
    c = board.contest
    return {
        "title": c.title, "hashtags": list(c.hashtags), "timezone": c.timezone,
        "start": clock.iso_local(c.start, c.tz), "end": clock.iso_local(c.end, c.tz),
        "as_of": clock.iso_local(board.as_of, c.tz), "phase": c.phase(board.as_of),
        "engagement_counted_until": clock.iso_local(c.freeze, c.tz),
        "tie_break": list(board.rules.tie_break),
        "rules": board.rules.values(), "entries_stored": board.counts()["entries"],
        "entries_ranked": board.counts()["eligible"],
    }


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 4)


# -- the board: movement, trend, polling health and counts -------------------

RECENT_MEDIA_REACH = timedelta(hours=24)
"""How far back ``recent_media`` reaches (Graph API docs, IG Hashtag recent_media: "media
published within the last 24 hours"): posts published more than this before a poll and
after the previous one may be missing, which the board calls a coverage gap."""
STALE_MINIMUM = timedelta(minutes=10)
STALE_WITHOUT_HISTORY = timedelta(hours=1)
DISQUALIFIED = "disqualified"
"""Status of an entry a judge disqualified (set by moderation, see the judging commands)."""


@dataclass
class PollHealth:
    """How fresh the standings are, seen at ``now`` (aware UTC).

    ``last_success`` is the start of the newest ``ok`` poll run (None before any),
    ``age`` is ``now - last_success``; ``last_status`` is the status of the newest poll
    run of any kind (``ok``, ``partial``, ``failed``, ``running``; None before any).
    ``stale`` is true when ``age`` passed ``stale_after`` (twice the usual interval
    between successful polls, at least 10 minutes; 1 hour without history) unless the
    contest closed before that poll (the standings are final). ``gaps`` lists the
    coverage gaps ``(hashtag or None, from, to)`` of :func:`coverage_gaps`.
    """

    last_success: datetime | None
    age: timedelta | None
    last_status: str | None
    stale: bool
    stale_after: timedelta
    gaps: list[tuple[str | None, datetime, datetime]] = field(default_factory=list)
    tokens: list = field(default_factory=list)  # derby.tokens.Notice: tokens expiring within a week or expired
    token_expired: bool = False  # the last poll was refused for an expired token (code 190, subcode 463 or 460)
    expired_team: tuple[str, str] | None = None  # a team contest: (team name, token_env) of that refused token


@dataclass
class BoardRow:
    """One row of the board. ``movement`` is places gained since the previous
    successful poll (negative: lost; 0: same), None when the entry was not ranked then
    (new) or is not ranked now; ``trend`` is the entry's score at each of its snapshots,
    oldest first (the snapshots the score may use: none after the freeze); ``flags`` are
    the entry's flags (``observed_late`` is the board's "late": first seen after
    engagement stopped counting); ``judge_flags`` the kinds of its undecided judge flags
    (``burst``, ``ratio``, ``lockstep``: see :mod:`derby.flags`), as stored by the polls."""

    entry: ScoredEntry
    movement: int | None
    trend: list[float]
    flags: list[str]
    judge_flags: list[str] = field(default_factory=list)


@dataclass
class BoardView:
    """Everything the board shows, computed at ``now`` (aware UTC; the ``--as-of`` time
    when one is given). ``rows`` holds at most ``limit`` rows of ``total_rows``."""

    board: Standings
    now: datetime
    health: PollHealth
    counts: dict[str, int]
    rows: list[BoardRow]
    total_rows: int
    previous_poll: datetime | None
    refresh_off: tuple[str, ...] = ()
    """Refresh sources a permission refusal turned off (``mentioned_media``, ...)."""
    of_teams: bool = False
    """The posts of a team contest (``leaderboard --posts``): each row's team is its
    entry's ``display_name``, its account the ``username``."""


def poll_health(db: sqlite_utils.Database, contest: Contest, now: datetime) -> PollHealth:
    """Return the polling health at ``now`` from the poll runs started at or before it."""
    times = [started for started, _ in store.successful_polls(db, now)]
    last = store.last_poll_run_until(db, now)
    recent = times[-7:]
    intervals = sorted(b - a for a, b in zip(recent, recent[1:]))
    stale_after = max(2 * intervals[len(intervals) // 2], STALE_MINIMUM) if intervals else STALE_WITHOUT_HISTORY
    last_success = times[-1] if times else None
    age = now - last_success if last_success else None
    final = last_success is not None and last_success > contest.end
    stale = age is not None and age > stale_after and not final
    gaps = coverage_gaps(db, contest, now, times)
    return PollHealth(last_success=last_success, age=age, last_status=last["status"] if last else None,
                      stale=stale, stale_after=stale_after, gaps=gaps,
                      tokens=expiry.notices(store.token_expiries(db), now),
                      token_expired=bool(last) and expiry.refused_as_expired(last),
                      expired_team=_expired_team(contest, last))


def _expired_team(contest: Contest, last: dict | None) -> tuple[str, str] | None:
    """(name, token_env) of the team whose expired token refused the poll run ``last``
    (its error's endpoint is the team's account), None in a hashtag contest."""
    if not last or not expiry.refused_as_expired(last) or contest.kind != "teams":
        return None
    account = (last.get("error_endpoint") or "").split("/")[0]
    return next(((t.name, t.token_env) for t in contest.teams if t.account_id == account), None)


def coverage_gaps(db: sqlite_utils.Database, contest: Contest, now: datetime,
                  poll_times: list[datetime]) -> list[tuple[str | None, datetime, datetime]]:
    """Return the spans of post times (clipped to the contest) that no poll could reach,
    as ``(hashtag or None, from, to)``, oldest first, as known at ``now``.

    A full ``recent_media`` read at *t* reaches posts from *t* − 24 h to *t*. The daemon
    records each read and each gap (``store.record_coverage``); those records are used
    when present, plus, per hashtag, the gap still open at ``now`` (its last read was
    more than 24 hours ago). Without records (a database polled before they existed)
    the same rule is applied to the successful poll times ``poll_times``.
    """
    reach = RECENT_MEDIA_REACH
    horizon = min(now - reach, contest.end)
    last, recorded = store.coverage_at(db, now)
    if last or recorded:
        gaps: list[tuple[str | None, datetime, datetime]] = list(recorded)
        for tag in contest.hashtags:
            since = max(last.get(tag, contest.start), contest.start)
            if since < horizon:
                gaps.append((tag, since, horizon))
        return sorted(gaps, key=lambda g: (g[1], g[0] or ""))
    gaps = []
    marks = [contest.start] + [t for t in poll_times if t > contest.start]
    for a, b in zip(marks, marks[1:]):
        if min(b - reach, contest.end) > a and a < contest.end:
            gaps.append((None, a, min(b - reach, contest.end)))
    if marks[-1] < horizon:
        gaps.append((None, marks[-1], horizon))
    return gaps


def movements(db: sqlite_utils.Database, board: Standings, now: datetime,
              until: datetime | None = None,
              entries: list[ScoredEntry] | None = None) -> tuple[dict[str, int | None], datetime | None]:
    """Return each ranked entry's movement since the previous successful poll and that
    poll's time: ``({media_id: places gained or None when new}, previous or None)``;
    only for the ranked ones of ``entries`` when given (the rows shown).

    The previous standings are those as of the end of the successful poll before the
    last one (both finished at or before ``until``), with the rules, moderation and
    entrant links of that moment: the ranks that poll kept when it finished (see
    :mod:`derby.store.poll_ranks`), read for the rows shown only, or, when it kept
    none that still hold (a database polled by an older derby, a contest changed
    since, a back-dated judge's action), the standings ranked again as of that moment.
    """
    found = store.previous_poll(db, until)
    chosen = list(board.rows()) if entries is None else [e for e in entries if e.status == ELIGIBLE]
    if found is None:
        return {e.media_id: None for e in chosen}, None
    run_id, previous, finished = found
    before = store.stored_ranks(db, run_id, "entries", None if entries is None else [e.media_id for e in chosen])
    if before is None:
        # as of the moment that poll finished: its snapshots are the newest then
        before = previous_ranks(db, now, finished)
    return {e.media_id: (before[e.media_id] - e.rank if e.media_id in before else None)  # type: ignore[operator]
            for e in chosen}, previous


# Ranks as of a past moment, per database: {key: {media_id: rank}}, newest last.
_PAST_RANKS: dict[tuple, dict[str, int]] = {}
_PAST_RANKS_KEPT = 8
_CACHE_LOCK = threading.Lock()  # the live board may refresh from a thread


def previous_ranks(db: sqlite_utils.Database, now: datetime, moment: datetime) -> dict[str, int]:
    """Return ``{media_id: rank}`` of the standings as of ``moment`` (aware UTC), from a
    cache kept across refreshes of the board.

    Standings as of a past moment change only when what they read changes: the
    contest, the rules and their history, moderation, entrant links, media edits, or
    a poll run finished by then (media and snapshots are stored only by poll runs, in
    ``store.save_page``). The cache key holds all of these (the history tables
    are append-only, so their newest id says whether a row was added), so a poll
    finishing, a rule change or a judge's action recomputes the ranks; a refresh while
    the daemon stores a new poll reuses them.
    """
    path = store.database_file(db)
    if not path:  # an in-memory database: nothing outlives the connection to key on
        return _ranks(standings(db, now, moment))
    key = (path, clock.to_store(moment), *store.data_version(db, moment))
    with _CACHE_LOCK:
        ranks = _PAST_RANKS.pop(key, None)
    if ranks is None:
        ranks = _ranks(standings(db, now, moment))
    with _CACHE_LOCK:
        _PAST_RANKS[key] = ranks
        while len(_PAST_RANKS) > _PAST_RANKS_KEPT:
            del _PAST_RANKS[next(iter(_PAST_RANKS))]
    return ranks


def _ranks(board: Standings) -> dict[str, int]:
    return {e.media_id: e.rank for e in board.rows() if e.rank is not None}


def trends(db: sqlite_utils.Database, board: Standings, entries: list[ScoredEntry],
           until: datetime | None = None) -> dict[str, list[float]]:
    """Return each entry's score at each snapshot its score could use, oldest first:
    snapshots observed at or before ``until`` and the contest's freeze (only the first
    one for an entry first observed after the freeze), scored under the board's rules
    by the ranking's own formula.
    """
    contest = board.contest
    limit = clock.to_store(min(t for t in (until, contest.freeze) if t is not None))
    result: dict[str, list[float]] = {e.media_id: [] for e in entries}
    first: dict[str, float] = {}
    window = board.rules.engagement_window_hours
    ends = {e.media_id: clock.to_store(min(clock.from_store(limit), e.timestamp + timedelta(hours=window)))  # type: ignore[type-var]
            for e in entries if window and e.timestamp is not None}
    for chunk in _chunks([e.media_id for e in entries]):
        query = trend_query(board.rules, contest_terms(contest), as_of=until, media_ids=chunk,
                            count_likes=not any("likes_not_counted" in e.flags for e in entries))
        for media_id, observed_at, score in store.query_rows(db, query.sql, query.params):
            first.setdefault(media_id, score)
            if observed_at <= ends.get(media_id, limit):
                result[media_id].append(score)
    for media_id, scores in result.items():
        if not scores and media_id in first:
            scores.append(first[media_id])
    return result


def _chunks(items: list, size: int = 500):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def board_counts(board: Standings) -> dict[str, int]:
    """Return ``entries`` (stored posts), ``eligible`` (ranked), ``disqualified`` (by a
    judge) and ``hidden_likes`` (posts whose owner hides likes)."""
    return board.counts()


def board_view(db: sqlite_utils.Database, now: datetime, as_of: datetime | None = None, *, top: int | None = None,
               show_all: bool = False, limit: int | None = None) -> BoardView:
    """Compute the board at ``now`` (or as it was at ``as_of``): standings, health,
    counts, and at most ``limit`` rows with movement and trend.

    Raises DerbyError when the database has no contest; ``sqlite3.OperationalError``
    when it stays locked past the connection's busy timeout.
    """
    moment = as_of or now
    board = standings(db, moment, as_of)
    counts = board.counts()
    # only the rows shown are read: the live standings give the top rows without
    # ranking every stored media again
    if limit is not None and limit <= 0:
        shown: list[ScoredEntry] = []
    elif show_all or limit is None:
        shown = list(islice(board.rows(top, show_all), limit))
    else:
        shown = list(board.rows(min(top, limit) if top else limit))
    ranked = min(top, counts["eligible"]) if top else counts["eligible"]
    total = ranked + (counts["entries"] - counts["eligible"] if show_all else 0)
    moved, previous = movements(db, board, moment, as_of, shown)
    series = trends(db, board, shown, as_of)
    marks = store.open_judge_flags(db, [e.media_id for e in shown])
    rows = [BoardRow(entry=entry, movement=moved.get(entry.media_id), trend=series.get(entry.media_id, []),
                     flags=list(entry.flags), judge_flags=marks.get(entry.media_id, [])) for entry in shown]
    return BoardView(board=board, now=moment, health=poll_health(db, board.contest, moment), counts=counts,
                     rows=rows, total_rows=total, previous_poll=previous,
                     refresh_off=tuple(sorted(store.disabled_sources(db))))


# -- one entry explained --------------------------------------------------------------

def explain_lines(board: Standings, media_id: str, moderation: list[dict], lang: str = "en") -> list[str]:
    """Return the explanation of one entry as plain lines for a terminal, in ``lang``
    (``fr`` or ``en``): the entry, the snapshot used, each rule's contribution, the
    eligibility checks, the moderation history (``store.moderation_history`` rows) and
    the final rank. User text goes through :func:`derby.text.display_text`. Times in
    the contest zone.

    Raises DerbyError when ``media_id`` is not in the standings (stored after
    ``board.as_of``).
    """
    from derby.explain_fr import FRAME, french
    from derby.rules import format_value, tie_break_description

    entry = board.entry(media_id)
    contest = board.contest
    tz = contest.tz
    if entry is None:
        raise DerbyError(f"entry {media_id} was not stored yet at {clock.format_local(board.as_of, tz, 'en')}")
    t = FRAME[lang]
    say = french if lang == "fr" else (lambda text: text)

    def when(dt: datetime | None) -> str:
        return clock.format_local(dt, tz, lang) or t["unknown"]

    who = f"@{display_text(entry.username)}" if entry.username else t["unknown_entrant"]
    if entry.display_name:
        who += f" ({display_text(entry.display_name)})"
    lines = [
        t["entry"].format(id=entry.media_id, permalink=display_text(entry.permalink) or t["no_permalink"]),
        f"  {who}",
        "  " + t["posted"].format(when=when(entry.timestamp), type=t["types"].get(entry.media_type or "")
                                  or display_text(entry.media_type) or t["unknown_type"]),
        "  " + t["caption"].format(caption=shorten(display_text(entry.caption), 200) or t["none"]),
        t["as_of"].format(as_of=when(board.as_of), freeze=when(contest.freeze)),
    ]
    if entry.observed_at is None:
        lines.append(t["no_snapshot"])
    else:
        count = entry.comments_count or 0
        late = t["late"] if "observed_late" in entry.flags else ""
        if lang == "fr":
            likes = "J'aime masqués" if entry.like_count is None else f"{entry.like_count} J'aime"
            comments = f"{count} commentaire{'s' if count > 1 else ''}"
        else:
            likes = "hidden likes" if entry.like_count is None else plural(entry.like_count, "like")
            comments = plural(count, "comment")
        lines.append(t["snapshot"].format(when=when(entry.observed_at), likes=likes, comments=comments, late=late))
    window = board.rules.engagement_window_hours
    if window and entry.timestamp is not None:
        end = min(entry.timestamp + timedelta(hours=window), contest.freeze)
        lines.append(t["window"].format(hours=format_value(window), end=when(end)))
    lines.extend(_freshness_lines(board, entry, when, lang))
    lines.append(t["points"])
    width = max([len(c.rule) for c in entry.contributions] + [5])
    for c in entry.contributions:
        lines.append(f"  {c.rule:<{width}}  {say(c.basis):<40}  {_number(c.points):>8}")
    lines.append(f"  {t['score']:<{width}}  {'':<40}  {_number(entry.score):>8}")
    lines.append(t["eligibility"])
    for check, passed, note in entry.checks:
        lines.append(f"  {t['ok'] if passed else t['no']} {t['checks'].get(check, check)}{t['colon']}{display_text(say(note))}")
    lines.append(t["moderation"] if moderation else t["no_moderation"])
    for action in moderation:
        lines.append("  " + t["action"].format(when=when(action["at"]), action=t.get(action["action"], action["action"]),
                                               by=display_text(action["by"]), reason=display_text(action["reason"])))
    if entry.rank is not None:
        standing = t["rank"].format(rank=entry.rank, of=board.counts()["eligible"])
        if entry.tie_break:
            standing += t["tied"].format(key=entry.tie_break, why=tie_break_description(entry.tie_break, lang))
        lines.append(standing)
    else:
        lines.append(t["not_ranked"].format(reason=display_text(say(entry.reason)), status=entry.status))
    lines.append(t["order"].format(order=format_value(list(board.rules.tie_break))))
    return lines



_FRESH_TEXT = {
    "en": {"read": "Engagement read: {when}", "by": " by {source}", "first": ", its first reading (after the freeze)",
           "sweep": " in the final sweep after the freeze: it counts as the engagement at the freeze",
           "stale": "stale: that reading is more than {age} older than {ref}; the post may have gained likes and "
                    "comments since", "freeze": "the freeze", "standings": "these standings",
           "gone": "gone: a source reported the post deleted or hidden",
           "unseen": "unseen: a source read since should have returned the post and did not (deleted, hidden or "
                     "edited out?)",
           "edited": "edited: a later reading changed the caption so that it no longer qualifies",
           "entrant_mismatch": "entrant mismatch: a refresh named another author than the entrant list (the list's "
                               "name is kept)",
           "before": "caption before: {text}", "now": "caption now:    {text}", "none": "(none)",
           "recent_media": "the hashtag's recent_media edge", "top_media": "the hashtag's top_media edge",
           "mentioned_media": "a mention refresh (mentioned_media, read by id)",
           "business_discovery": "a Business Discovery refresh of the entrant's account"},
    "fr": {"read": "Engagement relevé : {when}", "by": " par {source}", "first": ", son premier relevé (après le gel)",
           "sweep": " lors du balayage final après le gel : il compte comme l'engagement au gel",
           "stale": "figé : ce relevé a plus de {age} de plus que {ref} ; la publication a pu gagner des J'aime et "
                    "des commentaires depuis", "freeze": "le gel", "standings": "ce classement",
           "gone": "disparue : une source a signalé la publication supprimée ou masquée",
           "unseen": "absente : une source lue depuis aurait dû la rendre et ne l'a pas rendue (supprimée, masquée "
                     "ou modifiée ?)",
           "edited": "modifiée : un relevé plus récent a changé la légende, qui ne remplit plus les conditions",
           "entrant_mismatch": "auteur·e différent·e : un relevé nomme un autre compte que la liste d'inscription "
                               "(le nom de la liste est gardé)",
           "before": "légende avant : {text}", "now": "légende après : {text}", "none": "(aucune)",
           "recent_media": "l'arête recent_media du mot-clic", "top_media": "l'arête top_media du mot-clic",
           "mentioned_media": "un relevé par mention (mentioned_media, lu par son id)",
           "business_discovery": "un relevé Business Discovery du compte du participant·e"},
}


def _freshness_lines(board: Standings, entry: ScoredEntry, when, lang: str = "en") -> list[str]:
    """Where and when the numbers were read, and what the freshness flags mean."""
    fresh = board.freshness.get(entry.media_id)
    if fresh is None:
        return []
    t = _FRESH_TEXT["fr" if lang == "fr" else "en"]
    contest = board.contest
    lines = []
    if fresh.read_at is not None:
        text = t["read"].format(when=when(fresh.read_at))
        if fresh.source is None:
            text += t["first"] if "observed_late" in entry.flags else ""
        else:
            text += t["by"].format(source=t.get(fresh.source, fresh.source))
            text += t["sweep"] if fresh.final_sweep else ""
        lines.append(text)
    age = clock.format_duration(timedelta(seconds=contest.refresh.stale_after), "fr" if lang == "fr" else "en")
    ref = t["freeze"] if board.as_of >= contest.freeze else t["standings"]
    for flag in fresh.flags:
        lines.append("  " + t[flag].format(age=age, ref=ref))
    if fresh.previous_caption is not None:
        lines.append("  " + t["before"].format(text=shorten(display_text(fresh.previous_caption), 200)))
        lines.append("  " + t["now"].format(text=shorten(display_text(entry.caption), 200) or t["none"]))
    return lines
