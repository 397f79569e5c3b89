"""Poll runs, media, snapshots and sightings: what each poll stored, and the reads
that scoring and the board make of them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from derby import clock
from derby.feeds.parse import MediaPage
from derby.store.schema import write
from derby.store.standings import refresh_entry_scores
from derby.text import caption_words


_STARTED: dict[tuple[int, int], tuple[datetime, float]] = {}
"""Poll runs started by this process: (connection id, run id) -> (started_at, monotonic
seconds then), to tell how long a run took on the clock it was started with."""


def start_poll_run(db: sqlite_utils.Database, feed: str, now: datetime) -> int:
    """Record the start of a poll run at ``now`` (aware; the contest clock) and return its id."""
    with write(db):
        cursor = db.execute("INSERT INTO poll_runs (started_at, feed) VALUES (?, ?)", [clock.to_store(now), feed])
    run_id = int(cursor.lastrowid)  # type: ignore[arg-type]
    _STARTED[(id(db.conn), run_id)] = (now, time.monotonic())
    return run_id


def _elapsed_since_start(db: sqlite_utils.Database, run_id: int, now: datetime) -> datetime:
    """``now``, or the run's start plus the wall seconds since this process started it
    when that is later: a poll handed its start time as ``now`` still records when it
    really ended."""
    started = _STARTED.get((id(db.conn), run_id))
    if started is None:
        return now
    return max(now, started[0] + timedelta(seconds=time.monotonic() - started[1]))


def finish_poll_run(db: sqlite_utils.Database, run_id: int, now: datetime, *, status: str,
                    requests: int, error: str | None = None) -> None:
    """Record the end of poll run ``run_id``: status (ok, partial, failed), request
    count and error text; page and media counts are already kept by :func:`save_page`.

    ``finished_at`` is ``now`` or, when later, the run's start plus the wall time it
    took in this process (so a poll given its start time as ``now`` records its end)."""
    finished = _elapsed_since_start(db, run_id, now)
    with write(db):
        db.execute("UPDATE poll_runs SET finished_at = ?, status = ?, requests = ?, error = ? WHERE id = ?",
                   [clock.to_store(finished), status, requests, error, run_id])
    _STARTED.pop((id(db.conn), run_id), None)


def note_no_poller(db: sqlite_utils.Database) -> None:
    """Record, on this connection, that no process polls its database (its file lock
    is free, see :mod:`derby.lock`): poll runs still marked ``running`` are then a dead
    process's (see :func:`dead_poll_runs`)."""
    db.derby_no_poller = True  # type: ignore[attr-defined]


def dead_poll_runs(db: sqlite_utils.Database) -> dict[int, str]:
    """Return the poll runs still marked ``running`` although no process polls (as
    recorded by :func:`note_no_poller`), as ``{id: end}`` where ``end`` is the storage
    text of the last moment it stored a page (else its start). Empty when a poller may
    be alive or nobody could tell."""
    if not getattr(db, "derby_no_poller", False):
        return {}
    return {row["id"]: row["progress_at"] or row["started_at"]
            for row in db.query("SELECT id, started_at, progress_at FROM poll_runs WHERE status = 'running'")}


def record_warnings(db: sqlite_utils.Database, run_id: int | None, messages: Iterable[str], now: datetime) -> None:
    """Append warnings (bad records, paging notes) to the poll run's log."""
    rows = [(run_id, clock.to_store(now), m) for m in messages]
    if rows:
        with write(db):
            db.conn.executemany("INSERT INTO poll_warnings (poll_run_id, at, message) VALUES (?, ?, ?)", rows)


def poll_warnings(db: sqlite_utils.Database, run_id: int, *, limit: int | None = None) -> list[str]:
    """Return the warnings logged for poll run ``run_id``, oldest first (the first
    ``limit`` of them when given)."""
    sql = "SELECT message FROM poll_warnings WHERE poll_run_id = ? ORDER BY id"
    params: list[object] = [run_id]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [row[0] for row in db.conn.execute(sql, params)]


def poll_run(db: sqlite_utils.Database, run_id: int) -> dict:
    """Return the poll run row ``run_id`` as a dict."""
    return db["poll_runs"].get(run_id)


def last_poll_run(db: sqlite_utils.Database, *, successful: bool = False) -> dict | None:
    """Return the newest poll run (only ``ok`` ones when ``successful``), or None. A
    run whose process is gone is shown ``interrupted``, never in progress."""
    where = "WHERE status = 'ok'" if successful else ""
    return _as_ended(db, next(db.query(f"SELECT * FROM poll_runs {where} ORDER BY id DESC LIMIT 1"), None))


def _as_ended(db: sqlite_utils.Database, row: dict | None) -> dict | None:
    """The poll run ``row`` as readers must see it: ``interrupted`` (ended at its last
    stored page) when it is marked running but its process is gone."""
    if row is None or row["status"] != "running":
        return row
    end = dead_poll_runs(db).get(row["id"])
    if end is not None:
        row = {**row, "status": "interrupted", "finished_at": end, "left_running": True,
               "error": row["error"] or "the process ended during this poll; stored pages are kept"}
    return row


# -- media and snapshots ---------------------------------------------------------------

@dataclass
class PageResult:
    """What saving one page changed: media new to the database, media whose fields or
    engagement changed, and snapshots written."""

    new: set[str]
    updated: set[str]
    snapshots: int


_MEDIA_FIELDS = ("caption", "media_type", "permalink", "timestamp", "media_url", "children")


_SNAPSHOT_UPSERT = """INSERT INTO snapshots (media_id, poll_run_id, observed_at, like_count, comments_count, source)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (media_id, poll_run_id) DO UPDATE SET
      like_count = excluded.like_count, comments_count = excluded.comments_count, source = excluded.source"""


def save_page(db: sqlite_utils.Database, run_id: int, hashtag: str, edge: str, page: MediaPage,
              observed_at: datetime, *, label: str | None = None, refresh: bool = False) -> PageResult:
    """Store one parsed page in one transaction: media, snapshots, sightings, warnings
    and the poll run's page count.

    Media are upserted by id; a field absent from this page never erases a stored
    value, and a reading without ``comments_count`` keeps the media's last known one (a
    missing ``like_count`` stays NULL: hidden likes; an unreadable one keeps the last known
    count, and a media without one gets no snapshot yet). A snapshot is appended when the
    engagement differs from the media's latest one (at most one per media per poll run),
    so re-polling unchanged data writes only to the poll-run log. ``label`` prefixes its warnings (default ``#hashtag edge``).
    ``edge`` is the source (a hashtag edge, or a refresh source
    with ``hashtag`` ""). With ``refresh`` (a refresh by id) the snapshot is written
    even when unchanged, replacing one this poll run's hashtag edges wrote, and the
    page is not counted in the poll run's pages.
    """
    when = clock.to_store(observed_at)
    by_id = {m.media_id: m for m in page.media}  # duplicates within a page collapse
    ids = list(by_id)
    result = PageResult(new=set(), updated=set(), snapshots=0)
    with write(db):
        existing = _tuples_by_id(db, f"SELECT media_id, {', '.join(_MEDIA_FIELDS)} FROM media WHERE media_id IN ({{}})", ids)
        latest = _tuples_by_id(db, "SELECT media_id, like_count, comments_count FROM latest_snapshots WHERE media_id IN ({})", ids)
        media_rows, snapshot_rows, edit_rows = [], [], []
        for media_id, media in by_id.items():
            values = {
                "caption": media.caption, "media_type": media.media_type, "permalink": media.permalink,
                "timestamp": clock.to_store(media.timestamp) if media.timestamp else None,
                "media_url": media.media_url, "children": media.children,
            }
            old = existing.get(media_id)
            if old is None:
                result.new.add(media_id)
                media_rows.append((media_id, *values.values(), when, run_id, *caption_words(media.caption)))
            elif any(v is not None and v != stored for v, stored in zip(values.values(), old[1:])):
                result.updated.add(media_id)
                edit_rows.append((media_id, run_id, when, *old[1:], *caption_words(old[1])))
                media_rows.append((media_id, *values.values(), when, run_id, *caption_words(media.caption)))
            # else: the upsert would leave the row as it is, so it is skipped.
            previous = latest.get(media_id)
            if (media.like_count is None and media.comments_count is None) or (media.likes_unreadable and previous is None):
                continue  # nothing read, or no known likes to keep: a NULL would say the likes are hidden
            reading = _reading(media, previous)
            if previous is None or previous[1:] != reading or refresh:
                snapshot_rows.append((media_id, run_id, when, *reading, edge))
                if old is not None:
                    result.updated.add(media_id)
        db.conn.executemany(
            """INSERT INTO media (media_id, caption, media_type, permalink, timestamp, media_url, children,
                                  first_seen_at, first_poll_run_id, caption_hashtags, caption_mentions)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (media_id) DO UPDATE SET
                 caption_hashtags = CASE WHEN excluded.caption IS NULL THEN caption_hashtags
                                         ELSE excluded.caption_hashtags END,
                 caption_mentions = CASE WHEN excluded.caption IS NULL THEN caption_mentions
                                         ELSE excluded.caption_mentions END,
                 caption = coalesce(excluded.caption, caption),
                 media_type = coalesce(excluded.media_type, media_type),
                 permalink = coalesce(excluded.permalink, permalink),
                 timestamp = coalesce(excluded.timestamp, timestamp),
                 media_url = coalesce(excluded.media_url, media_url),
                 children = coalesce(excluded.children, children)""",
            media_rows,
        )
        db.conn.executemany(_SNAPSHOT_UPSERT, snapshot_rows)
        result.snapshots = len(snapshot_rows)
        db.conn.executemany(
            f"""INSERT INTO media_edits (media_id, poll_run_id, changed_at, {', '.join(_MEDIA_FIELDS)},
                                         caption_hashtags, caption_mentions)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", edit_rows)
        db.conn.executemany("INSERT OR IGNORE INTO sightings (poll_run_id, media_id, hashtag, edge) VALUES (?, ?, ?, ?)",
                       [(run_id, media_id, hashtag, edge) for media_id in ids])
        db.conn.executemany("INSERT INTO poll_warnings (poll_run_id, at, message) VALUES (?, ?, ?)",
                       [(run_id, when, f"{label or (f'#{hashtag} {edge}' if hashtag else edge)}: {w}") for w in page.warnings])
        db.execute("UPDATE poll_runs SET pages = pages + ?, media_seen = media_seen + ?, progress_at = ? WHERE id = ?",
                   [0 if refresh else 1, len(ids), clock.to_store(_elapsed_since_start(db, run_id, observed_at)), run_id])
        refresh_entry_scores(db, ids)
    return result


def _reading(media, previous: tuple | None) -> tuple:
    """(like_count, comments_count) to store: a reading without ``comments_count``, or
    with an unreadable ``like_count`` (``Media.likes_unreadable``), keeps the last known
    count (``previous``: media id, likes, comments)."""
    likes, comments = media.like_count, media.comments_count
    if previous is not None:
        comments = previous[2] if comments is None else comments
        likes = previous[1] if media.likes_unreadable else likes
    return likes, comments


def add_media_counts(db: sqlite_utils.Database, run_id: int, new: int, updated: int) -> None:
    """Store the number of distinct new and updated media of a poll run."""
    with write(db):
        db.execute("UPDATE poll_runs SET new_media = ?, updated_media = ? WHERE id = ?", [new, updated, run_id])


def _chunks(items: list, size: int = 500) -> Iterator[list]:
    """Slices of ``items`` small enough for one ``IN (?, …)`` list (SQLite caps the
    number of parameters of a statement)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _tuples_by_id(db: sqlite_utils.Database, sql: str, ids: list[str]) -> dict[str, tuple]:
    # Plain tuples, media_id first: this runs for every page stored.
    rows: dict[str, tuple] = {}
    for chunk in _chunks(ids):
        for row in db.conn.execute(sql.format(", ".join("?" * len(chunk))), chunk):
            rows[row[0]] = row
    return rows


def media_count(db: sqlite_utils.Database) -> int:
    """Return the number of stored media."""
    return db.conn.execute("SELECT count(*) FROM media").fetchone()[0]


def counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Return row counts of the main tables."""
    return {t: db[t].count for t in ("media", "snapshots", "poll_runs", "hashtags")}



# -- history for the live board --------------------------------------------------

def successful_polls(db: sqlite_utils.Database, until: datetime | None = None) -> list[tuple[datetime, datetime]]:
    """Return ``(started_at, finished_at)`` (aware UTC) of every ``ok`` poll run finished
    at or before ``until`` (all when None), oldest first."""
    cutoff = clock.to_store(until) if until else "9999"
    return [(clock.from_store(row["started_at"]), clock.from_store(row["finished_at"]))  # type: ignore[misc]
            for row in db.query("SELECT started_at, finished_at FROM poll_runs WHERE status = 'ok' "
                                "AND finished_at <= ? ORDER BY started_at, id", [cutoff])]


def last_seen(db: sqlite_utils.Database, media_ids: Iterable[str], until: datetime | None = None) -> dict[str, datetime]:
    """Return when each media was last seen by a poll run started at or before
    ``until`` (aware UTC, from the sightings; media never seen are left out)."""
    cutoff = clock.to_store(until) if until else "9999"
    ids = list(media_ids)
    seen: dict[str, datetime] = {}
    for chunk in _chunks(ids):
        rows = db.execute(
            f"""SELECT s.media_id, max(p.started_at) FROM sightings s JOIN poll_runs p ON p.id = s.poll_run_id
                WHERE s.media_id IN ({", ".join("?" * len(chunk))}) AND p.started_at <= ? GROUP BY s.media_id""",
            [*chunk, cutoff]).fetchall()
        seen.update({media_id: clock.from_store(at) for media_id, at in rows})
    return seen


def last_poll_run_until(db: sqlite_utils.Database, until: datetime | None = None) -> dict | None:
    """Return the newest poll run (any status) started at or before ``until``, or None;
    a run whose process is gone is shown ``interrupted``."""
    cutoff = clock.to_store(until) if until else "9999"
    return _as_ended(db, next(db.query("SELECT * FROM poll_runs WHERE started_at <= ? "
                                       "ORDER BY started_at DESC, id DESC LIMIT 1", [cutoff]), None))


def snapshot_series(db: sqlite_utils.Database, media_ids: Iterable[str],
                    until: datetime | None = None) -> dict[str, list[dict]]:
    """Return each media's snapshots, oldest first, as
    ``{media_id: [{"observed_at": aware UTC, "like_count", "comments_count"}, ...]}``.
    With ``until`` only snapshots of poll runs finished at or before it are given, as
    the ranking does for ``as_of``."""
    ids = list(media_ids)
    cutoff = clock.to_store(until) if until else "9999"
    series: dict[str, list[dict]] = {media_id: [] for media_id in ids}
    dead = json.dumps(dead_poll_runs(db) if until is not None else {})
    for chunk in _chunks(ids):
        visible = "" if until is None else (
            "AND (poll_run_id IN (SELECT id FROM poll_runs WHERE finished_at <= :cutoff) "
            "OR poll_run_id IN (SELECT key FROM json_each(:dead) WHERE value <= :cutoff))")
        sql = (f"SELECT media_id, observed_at, like_count, comments_count FROM snapshots "
               f"WHERE observed_at <= ? {visible} AND media_id IN ({', '.join('?' * len(chunk))}) "
               f"ORDER BY observed_at, id")
        extra = [cutoff, dead, cutoff] if until else []
        for row in db.query(sql.replace(":cutoff", "?").replace(":dead", "?"), [cutoff, *extra, *chunk]):
            row["observed_at"] = clock.from_store(row["observed_at"])
            series[row.pop("media_id")].append(row)
    return series


def coverage_at(db: sqlite_utils.Database, until: datetime) -> tuple[dict[str, datetime], list[tuple[str, datetime, datetime]]]:
    """Return what the daemon recorded of its coverage (see :func:`record_coverage`) as
    known at ``until``: per hashtag the end of its latest full ``recent_media`` read, and
    the coverage gaps detected so far as ``(hashtag, from, to)``, oldest first. Both are
    empty for a database whose polls recorded no coverage."""
    cutoff = clock.to_store(until)
    last = {r["hashtag"]: clock.from_store(r["last"])
            for r in db.query("SELECT hashtag, max(covered_to) AS last FROM coverage WHERE covered_to <= ? "
                              "GROUP BY hashtag", [cutoff])}
    gaps = [(r["hashtag"], clock.from_store(r["gap_from"]), clock.from_store(r["gap_to"]))
            for r in db.query("SELECT hashtag, gap_from, gap_to FROM coverage_gaps WHERE detected_at <= ? "
                              "ORDER BY gap_from, hashtag", [cutoff])]
    return last, gaps  # type: ignore[return-value]
