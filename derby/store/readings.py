"""Where and when each media's engagement was read, and what sources said of it.

A *reading* is a source returning a media: a hashtag edge (``recent_media``,
``top_media``, one sighting per poll run) or a refresh by id (``mentioned_media``,
``business_discovery``). Snapshots are written only when engagement changes, so the
time of the reading that confirms an entry's engagement is the newest sighting, not the
snapshot's time. Refresh readings of the final sweep (the first poll after the freeze)
count as readings at the freeze; no other reading after the freeze counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from derby import clock
from derby.store.schema import write

REFRESH_SOURCES = ("mentioned_media", "business_discovery")
OUTCOMES = ("gone", "not_refreshable", "missing")
MISSING_MARGIN = timedelta(hours=1)
"""A post is expected in ``recent_media`` until 24 hours after it was published (Graph
API reference, IG Hashtag recent_media); within this margin of that limit its absence
says nothing."""


@dataclass(frozen=True)
class Reading:
    """The newest reading of a media that its score may use: when (aware UTC, the poll
    run's start), by which source, and whether it is a final-sweep refresh."""

    read_at: datetime
    source: str
    final_sweep: bool = False


_USABLE = "(p.started_at <= :limit OR (p.final_sweep = 1 AND s.edge IN ('mentioned_media', 'business_discovery')))"
"""A reading the score may use: made by the freeze (``:limit``), or a final-sweep refresh."""

_SLOW_SQL = """
WITH visible_runs AS (
    SELECT id, started_at, final_sweep FROM poll_runs
    WHERE :as_of IS NULL OR (finished_at IS NOT NULL AND finished_at <= :as_of)
)
SELECT s.media_id, max(p.started_at), s.edge, p.final_sweep
FROM sightings s JOIN visible_runs p ON p.id = s.poll_run_id
WHERE {usable}
  {media}
GROUP BY s.media_id
""".replace("{usable}", _USABLE)


def live_reading_columns(freeze: datetime) -> tuple[list[tuple[str, str]], dict[str, object]]:
    """The newest usable reading of each live entry, as columns of the live ranking
    (see :func:`derby.scoring.live_ranking_query`; ``sc`` is its row of
    ``entry_scores``), read as the rows stream instead of held for every media:
    ``[(name, SQL)]`` and parameters. ``reading`` is ``'read_at source final_sweep'``
    (read_at: UTC text; final_sweep: 0 or 1), NULL when never read: the same reading
    as :func:`read_readings` live, without ``engagement_window_hours``."""
    late = (f"SELECT max(p.started_at) || ' ' || s.edge || ' ' || p.final_sweep "
            f"FROM sightings s JOIN poll_runs p ON p.id = s.poll_run_id WHERE s.media_id = sc.media_id AND {_USABLE}")
    sql = (f"(SELECT CASE WHEN lr.read_at <= :limit THEN lr.read_at || ' ' || lr.source || ' 0' ELSE ({late}) END "
           f"FROM latest_readings lr WHERE lr.media_id = sc.media_id)")
    return [("reading", sql.replace(":limit", ":reading_limit"))], {"reading_limit": clock.to_store(freeze)}


def parse_reading(text: str | None, parse=clock.from_store) -> Reading | None:
    """The :class:`Reading` of a ``reading`` column of :func:`live_reading_columns`."""
    if text is None:
        return None
    at, source, sweep = text.split(" ")
    return Reading(parse(at), source, sweep == "1")  # type: ignore[arg-type]


_ONLY = "AND {column} IN (SELECT value FROM json_each(:ids))"


def _only(column: str, media_ids: Iterable[str] | None) -> tuple[str, dict[str, object]]:
    """The condition and parameter restricting a read to ``media_ids`` (none when None)."""
    if media_ids is None:
        return "", {}
    return _ONLY.format(column=column), {"ids": json.dumps(list(media_ids))}


def read_readings(db: sqlite_utils.Database, as_of: datetime | None = None,
                  freeze: datetime | None = None, window_hours: float | None = None,
                  media_ids: Iterable[str] | None = None) -> dict[str, Reading]:
    """Return ``{media_id: Reading}``: each media's newest reading at or before
    ``freeze`` and ``as_of`` (final-sweep refresh readings count though made after the
    freeze), from the poll runs finished by ``as_of`` (all when None). With
    ``window_hours`` (the rule ``engagement_window_hours``) a media's readings count
    only up to its timestamp plus that many hours. Media never read are left out; with
    ``media_ids`` only those media are read."""
    limit = min(t for t in (freeze, as_of) if t is not None) if (freeze or as_of) else None
    limit_text = clock.to_store(limit) if limit else "9999"
    only, ids = _only("s.media_id", media_ids)
    params = {"as_of": clock.to_store(as_of) if as_of else None, "limit": limit_text, **ids}
    if window_hours is not None:
        return _windowed(db, params, window_hours, only)
    parse = clock.from_store
    times: dict[str, datetime] = {}
    result: dict[str, Reading] = {}

    def add(media_id: str, at: str, source: str, sweep: int) -> None:
        when = times.get(at)
        if when is None:
            when = times[at] = parse(at)  # type: ignore[assignment]
        result[media_id] = Reading(when, source, bool(sweep))  # type: ignore[arg-type]

    if as_of is not None:
        for row in db.conn.execute(_SLOW_SQL.format(media=only), params):
            add(*row)
        return result
    later = []
    latest = "SELECT media_id, read_at, source FROM latest_readings WHERE 1 " + only.replace("s.media_id", "media_id")
    for media_id, at, source in db.conn.execute(latest, params):
        if at <= limit_text:
            add(media_id, at, source, 0)
        else:
            later.append(media_id)
    for start in range(0, len(later), 500):
        chunk = later[start:start + 500]
        names = {f"m{i}": media_id for i, media_id in enumerate(chunk)}
        sql = _SLOW_SQL.format(media=f"AND s.media_id IN ({', '.join(':' + n for n in names)})")
        for row in db.conn.execute(sql, {**params, **names, "ids": None}):
            add(*row)
    return result


def _windowed(db: sqlite_utils.Database, params: dict, window_hours: float, only: str = "") -> dict[str, Reading]:
    sql = _SLOW_SQL.format(media=only).replace(
        "FROM sightings s JOIN visible_runs p ON p.id = s.poll_run_id",
        "FROM sightings s JOIN visible_runs p ON p.id = s.poll_run_id JOIN media m ON m.media_id = s.media_id")
    window = "strftime('%Y-%m-%dT%H:%M:%SZ', m.timestamp, :window)"
    sql = sql.replace("(p.started_at <= :limit OR (p.final_sweep = 1",
                      f"(p.started_at <= min(:limit, coalesce({window}, :limit)) OR ({window} >= :limit AND p.final_sweep = 1")
    result = {}
    for media_id, at, source, sweep in db.conn.execute(sql, {**params, "window": f"+{int(round(window_hours * 3600))} seconds"}):
        result[media_id] = Reading(clock.from_store(at), source, bool(sweep))  # type: ignore[arg-type]
    return result


def read_outcomes(db: sqlite_utils.Database, as_of: datetime | None = None,
                  media_ids: Iterable[str] | None = None) -> dict[str, list[tuple[str, str, datetime]]]:
    """Return ``{media_id: [(source, outcome, at), ...]}`` oldest first: what sources
    said of a media (see :data:`OUTCOMES`), recorded at or before ``as_of``; of
    ``media_ids`` only when given."""
    cutoff = clock.to_store(as_of) if as_of else "9999"
    only, ids = _only("media_id", media_ids)
    found: dict[str, list[tuple[str, str, datetime]]] = {}
    for media_id, source, outcome, at in db.conn.execute(
            f"SELECT media_id, source, outcome, at FROM media_outcomes WHERE at <= :cutoff {only} ORDER BY at, id",
            {"cutoff": cutoff, **ids}):
        found.setdefault(media_id, []).append((source, outcome, clock.from_store(at)))  # type: ignore[arg-type]
    return found


def previous_captions(db: sqlite_utils.Database, as_of: datetime | None = None,
                      media_ids: Iterable[str] | None = None) -> dict[str, list[str | None]]:
    """Return ``{media_id: [caption, ...]}``, oldest first: the captions a media had
    before an edit a poll run finished by ``as_of`` recorded (only media with edits;
    of ``media_ids`` only when given)."""
    visible = "" if as_of is None else \
        "AND poll_run_id IN (SELECT id FROM poll_runs WHERE finished_at IS NOT NULL AND finished_at <= :as_of)"
    only, ids = _only("media_id", media_ids)
    found: dict[str, list[str | None]] = {}
    for media_id, caption in db.conn.execute(
            f"SELECT media_id, caption FROM media_edits WHERE 1 {visible} {only} ORDER BY changed_at, id",
            {"as_of": clock.to_store(as_of) if as_of else None, **ids}):
        found.setdefault(media_id, []).append(caption)
    return found


def record_outcomes(db: sqlite_utils.Database, run_id: int | None, rows: Iterable[tuple[str, str, str, str | None]],
                    now: datetime) -> int:
    """Append ``(media_id, source, outcome, detail)`` rows at ``now``; returns how many."""
    values = [(media_id, source, outcome, run_id, clock.to_store(now), detail)
              for media_id, source, outcome, detail in rows]
    for row in values:
        if row[2] not in OUTCOMES:
            raise ValueError(f"unknown media outcome {row[2]!r}")
    if values:
        with write(db):
            db.conn.executemany("INSERT INTO media_outcomes (media_id, source, outcome, poll_run_id, at, detail) "
                                "VALUES (?, ?, ?, ?, ?, ?)", values)
    return len(values)


def record_missing(db: sqlite_utils.Database, run_id: int, hashtag: str, now: datetime) -> int:
    """After a full ``recent_media`` read of ``hashtag`` by poll run ``run_id`` at
    ``now``: record ``missing`` for each media that edge returned before and should
    still return (published less than 24 hours before ``now``, less a margin) but did
    not. Returns how many were recorded."""
    since = clock.to_store(now - timedelta(hours=24) + MISSING_MARGIN)
    when = clock.to_store(now)
    with write(db):
        cursor = db.conn.execute(
            """INSERT INTO media_outcomes (media_id, source, outcome, poll_run_id, at, detail)
               SELECT DISTINCT m.media_id, 'recent_media', 'missing', :run, :now, '#' || :tag
               FROM sightings s JOIN media m ON m.media_id = s.media_id
               WHERE s.poll_run_id IN (SELECT id FROM poll_runs WHERE started_at >= :since AND id < :run)
                 AND s.hashtag = :tag AND s.edge = 'recent_media'
                 AND m.timestamp >= :since AND m.timestamp <= :now
                 AND NOT EXISTS (SELECT 1 FROM sightings x WHERE x.poll_run_id = :run AND x.media_id = m.media_id
                                 AND x.hashtag = :tag AND x.edge = 'recent_media')""",
            {"run": run_id, "now": when, "tag": hashtag, "since": since})
    return cursor.rowcount


def record_account_gone(db: sqlite_utils.Database, run_id: int, account_id: str, since: datetime,
                        now: datetime) -> int:
    """After poll run ``run_id`` read the whole of team account ``account_id``'s own
    media (``GET /{ig-user-id}/media``, newest first, back past ``since``, the
    contest's start; Graph API reference, IG User media) at ``now``: record ``gone``
    (source ``account_media``) for each media linked to that account, published at or
    after ``since``, that this run did not return — the owner's own list leaves out
    only a post deleted, archived or hidden. A media already reported gone after its
    newest sighting is not reported again. Returns how many were recorded."""
    with write(db):
        cursor = db.conn.execute(
            """INSERT INTO media_outcomes (media_id, source, outcome, poll_run_id, at, detail)
               SELECT tm.media_id, 'account_media', 'gone', :run, :now, 'account ' || :account
               FROM team_media tm JOIN media m ON m.media_id = tm.media_id
               WHERE tm.account_id = :account AND m.timestamp >= :since AND m.timestamp <= :now
                 AND NOT EXISTS (SELECT 1 FROM sightings s WHERE s.poll_run_id = :run AND s.media_id = tm.media_id)
                 AND NOT EXISTS (
                     SELECT 1 FROM media_outcomes o WHERE o.media_id = tm.media_id AND o.outcome = 'gone'
                       AND o.at > coalesce((SELECT max(p.started_at) FROM sightings s
                                            JOIN poll_runs p ON p.id = s.poll_run_id
                                            WHERE s.media_id = tm.media_id), ''))""",
            {"run": run_id, "now": clock.to_store(now), "account": account_id, "since": clock.to_store(since)})
    return cursor.rowcount
