"""Poll runs, media, snapshots and sightings: what each poll stored, and the reads
that scoring and the board make of them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from derby import clock
from derby.feeds.parse import MediaPage
from derby.store.schema import write


def start_poll_run(db: sqlite_utils.Database, feed: str, now: datetime) -> int:
    """Record the start of a poll run and return its id."""
    with write(db):
        cursor = db.execute("INSERT INTO poll_runs (started_at, feed) VALUES (?, ?)", [clock.to_store(now), feed])
    return int(cursor.lastrowid)  # type: ignore[arg-type]


def finish_poll_run(db: sqlite_utils.Database, run_id: int, now: datetime, *, status: str,
                    requests: int, error: str | None = None) -> None:
    """Record the end of poll run ``run_id``: status (ok, partial, failed), request
    count and error text; page and media counts are already kept by :func:`save_page`."""
    with write(db):
        db.execute("UPDATE poll_runs SET finished_at = ?, status = ?, requests = ?, error = ? WHERE id = ?",
                   [clock.to_store(now), status, requests, error, run_id])


def record_warnings(db: sqlite_utils.Database, run_id: int | None, messages: Iterable[str], now: datetime) -> None:
    """Append warnings (bad records, paging notes) to the poll run's log."""
    rows = [(run_id, clock.to_store(now), m) for m in messages]
    if rows:
        with write(db):
            db.conn.executemany("INSERT INTO poll_warnings (poll_run_id, at, message) VALUES (?, ?, ?)", rows)


def poll_run(db: sqlite_utils.Database, run_id: int) -> dict:
    """Return the poll run row ``run_id`` as a dict."""
    return db["poll_runs"].get(run_id)


def last_poll_run(db: sqlite_utils.Database, *, successful: bool = False) -> dict | None:
    """Return the newest poll run (only ``ok`` ones when ``successful``), or None."""
    where = "WHERE status = 'ok'" if successful else ""
    return next(db.query(f"SELECT * FROM poll_runs {where} ORDER BY id DESC LIMIT 1"), None)


# -- media and snapshots ---------------------------------------------------------------

@dataclass
class PageResult:
    """What saving one page changed: media new to the database, media whose fields or
    engagement changed, and snapshots written."""

    new: set[str]
    updated: set[str]
    snapshots: int


_MEDIA_FIELDS = ("caption", "media_type", "permalink", "timestamp", "media_url", "children")


def save_page(db: sqlite_utils.Database, run_id: int, hashtag: str, edge: str, page: MediaPage,
              observed_at: datetime, *, refresh: bool = False) -> PageResult:
    """Store one parsed page in one transaction: media, snapshots, sightings, warnings
    and the poll run's page count.

    Media are upserted by id; a field absent from this page never erases a stored
    value. A snapshot is appended when the engagement differs from the media's latest
    one (at most one per media per poll run), so re-polling unchanged data writes only
    to the poll-run log. ``edge`` is the source (a hashtag edge, or a refresh source
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
                media_rows.append((media_id, *values.values(), when, run_id))
            elif any(v is not None and v != stored for v, stored in zip(values.values(), old[1:])):
                result.updated.add(media_id)
                edit_rows.append((media_id, run_id, when, *old[1:]))
                media_rows.append((media_id, *values.values(), when, run_id))
            # else: the upsert would leave the row as it is, so it is skipped.
            if media.like_count is None and media.comments_count is None:
                continue
            previous = latest.get(media_id)
            reading = (media.like_count, media.comments_count)
            if previous is None or previous[1:] != reading or refresh:
                snapshot_rows.append((media_id, run_id, when, *reading, edge))
                if old is not None:
                    result.updated.add(media_id)
        db.conn.executemany(
            """INSERT INTO media (media_id, caption, media_type, permalink, timestamp, media_url, children,
                                  first_seen_at, first_poll_run_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (media_id) DO UPDATE SET
                 caption = coalesce(excluded.caption, caption),
                 media_type = coalesce(excluded.media_type, media_type),
                 permalink = coalesce(excluded.permalink, permalink),
                 timestamp = coalesce(excluded.timestamp, timestamp),
                 media_url = coalesce(excluded.media_url, media_url),
                 children = coalesce(excluded.children, children)""",
            media_rows,
        )
        db.conn.executemany(
            """INSERT INTO snapshots (media_id, poll_run_id, observed_at, like_count, comments_count, source)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (media_id, poll_run_id) DO UPDATE SET
                 like_count = excluded.like_count, comments_count = excluded.comments_count,
                 source = excluded.source""",
            snapshot_rows,
        )
        result.snapshots = len(snapshot_rows)
        db.conn.executemany(
            f"""INSERT INTO media_edits (media_id, poll_run_id, changed_at, {', '.join(_MEDIA_FIELDS)})
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""", edit_rows)
        db.conn.executemany("INSERT OR IGNORE INTO sightings (poll_run_id, media_id, hashtag, edge) VALUES (?, ?, ?, ?)",
                       [(run_id, media_id, hashtag, edge) for media_id in ids])
        db.conn.executemany("INSERT INTO poll_warnings (poll_run_id, at, message) VALUES (?, ?, ?)",
                       [(run_id, when, f"#{hashtag} {edge}: {w}" if hashtag else f"{edge}: {w}") for w in page.warnings])
        db.execute("UPDATE poll_runs SET pages = pages + ?, media_seen = media_seen + ? WHERE id = ?",
                   [0 if refresh else 1, len(ids), run_id])
    return result


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


_ENTRIES_SQL = """
WITH visible_runs AS (
    SELECT id, started_at, final_sweep FROM poll_runs
    WHERE :as_of IS NULL OR (finished_at IS NOT NULL AND finished_at <= :as_of)
),
chosen AS (
    SELECT m.media_id,
        coalesce(
            -- without as_of, the newest snapshot when it is not after the freeze
            (SELECT l.snapshot_id FROM latest_snapshots l
             WHERE :as_of IS NULL AND l.media_id = m.media_id AND l.observed_at <= :freeze),
            -- a final sweep's refresh counts as the engagement at the freeze
            (SELECT s.id FROM snapshots s
             WHERE s.media_id = m.media_id AND s.source IN ('mentioned_media', 'business_discovery')
               AND s.poll_run_id IN (SELECT id FROM visible_runs WHERE final_sweep = 1) AND :freeze >= :freeze
             ORDER BY s.observed_at DESC, s.id DESC LIMIT 1),
            (SELECT s.id FROM snapshots s JOIN visible_runs r ON r.id = s.poll_run_id
             WHERE s.media_id = m.media_id AND s.observed_at <= :freeze
             ORDER BY s.observed_at DESC, s.id DESC LIMIT 1),
            (SELECT s.id FROM snapshots s JOIN visible_runs r ON r.id = s.poll_run_id
             WHERE s.media_id = m.media_id ORDER BY s.observed_at, s.id LIMIT 1)) AS snapshot_id,
        (SELECT e.id FROM media_edits e
         WHERE e.media_id = m.media_id AND e.poll_run_id NOT IN (SELECT id FROM visible_runs)
         ORDER BY e.id LIMIT 1) AS edit_id
    FROM media m
    WHERE m.first_poll_run_id IS NULL OR m.first_poll_run_id IN (SELECT id FROM visible_runs)
)
SELECT m.media_id, m.first_seen_at,
       CASE WHEN e.id IS NULL THEN m.caption ELSE e.caption END AS caption,
       CASE WHEN e.id IS NULL THEN m.media_type ELSE e.media_type END AS media_type,
       CASE WHEN e.id IS NULL THEN m.permalink ELSE e.permalink END AS permalink,
       CASE WHEN e.id IS NULL THEN m.timestamp ELSE e.timestamp END AS timestamp,
       s.like_count, s.comments_count, s.observed_at,
       s.source IN ('mentioned_media', 'business_discovery')
           AND s.poll_run_id IN (SELECT id FROM poll_runs WHERE final_sweep = 1) AS swept,
       (SELECT username FROM entrant_links WHERE media_id = m.media_id AND linked_at <= :cutoff
        ORDER BY linked_at DESC, id DESC LIMIT 1) AS username,
       (SELECT display_name FROM entrant_links WHERE media_id = m.media_id AND linked_at <= :cutoff
        ORDER BY linked_at DESC, id DESC LIMIT 1) AS display_name,
       (SELECT id FROM moderation WHERE media_id = m.media_id AND at <= :cutoff
        ORDER BY at DESC, id DESC LIMIT 1) AS moderation_id
FROM chosen c
JOIN media m ON m.media_id = c.media_id
LEFT JOIN snapshots s ON s.id = c.snapshot_id
LEFT JOIN media_edits e ON e.id = c.edit_id
ORDER BY m.media_id
"""


def read_entries(db: sqlite_utils.Database, as_of: datetime | None = None,
                 freeze: datetime | None = None, window_hours: float | None = None) -> list[dict]:
    """Return every stored media with the snapshot its score uses, as dicts.

    Keys: ``media_id, caption, media_type, permalink, timestamp`` (aware UTC or None),
    ``like_count, comments_count, observed_at`` (of the snapshot used; None when the
    media has none), ``observed_late`` (bool), ``first_seen_at``, ``username`` and
    ``display_name`` (of the imported entrant, else None) and ``moderation`` (the
    latest judge's action ``{"action", "reason", "by", "at"}``, or None).

    The snapshot used is the last one observed at or before ``freeze`` (the contest's
    end plus any grace; no limit when None), or a refresh of the final sweep (the
    first poll after the freeze: the closest measurement of the engagement at the
    freeze); a media first observed after ``freeze`` uses its first snapshot and is
    ``observed_late``.

    With ``as_of`` (aware) the result is what the database held then: only poll runs
    finished at or before it (media, snapshots and caption edits they brought), and
    entrant links and moderation recorded at or before it. A poll run that never
    finished (a crash) counts only when ``as_of`` is None.
    """
    cutoff = clock.to_store(as_of) if as_of else "9999"
    limit = min(t for t in (freeze, as_of) if t is not None) if (freeze or as_of) else None
    params = {"as_of": clock.to_store(as_of) if as_of else None, "cutoff": cutoff,
              "freeze": clock.to_store(limit) if limit else "9999"}
    # An empty history table needs no search per media (most contests import no
    # entrants, and moderation touches a handful of media).
    links = _any(db, "SELECT 1 FROM entrant_links WHERE linked_at <= ? LIMIT 1", cutoff)
    judged = _any(db, "SELECT 1 FROM moderation WHERE at <= ? LIMIT 1", cutoff)
    sql = _entries_sql(_ENTRIES_SQL, links, judged)
    if window_hours is not None:
        sql = window_limit_sql(sql, "m.timestamp")
        params["window"] = f"+{int(round(window_hours * 3600))} seconds"
    rows = db.conn.execute(sql, params).fetchall()
    actions = _rows_by_key(db, "SELECT id, action, reason, by, at FROM moderation WHERE id IN ({})",
                           [r[12] for r in rows if r[12] is not None], "id") if judged else {}
    entries = []
    times: dict[str | None, datetime | None] = {None: None}  # poll times repeat across media
    parse = clock.from_store
    for (media_id, first_seen_at, caption, media_type, permalink, timestamp, like_count, comments_count,
         observed_at, swept, username, display_name, moderation_id) in rows:
        observed = times.get(observed_at, _UNSEEN)
        if observed is _UNSEEN:
            observed = times[observed_at] = parse(observed_at)
        first_seen = times.get(first_seen_at, _UNSEEN)
        if first_seen is _UNSEEN:
            first_seen = times[first_seen_at] = parse(first_seen_at)
        action = actions.get(moderation_id) if moderation_id is not None else None
        entries.append({
            "media_id": media_id, "first_seen_at": first_seen, "caption": caption, "media_type": media_type,
            "permalink": permalink, "timestamp": parse(timestamp), "like_count": like_count,
            "comments_count": comments_count, "observed_at": observed,
            "username": username, "display_name": display_name,
            "observed_late": bool(observed and not swept and _late(observed, freeze, timestamp, window_hours)),
            "moderation": None if action is None else {
                "action": action["action"], "reason": action["reason"], "by": action["by"],
                "at": parse(action["at"])},
        })
    return entries


_UNSEEN = object()


def window_limit_sql(sql: str, timestamp: str) -> str:
    """Return ``sql`` with each ``:freeze`` limit replaced by the per-media limit of the
    rule ``engagement_window_hours``: the media's ``timestamp`` (a stored UTC text
    column) plus ``:window`` (an SQLite modifier such as ``'+172800 seconds'``), when
    that is earlier than ``:freeze``. A final sweep's readings count only for media
    whose window reaches the freeze. A media without a timestamp keeps ``:freeze``."""
    limit = (f"(CASE WHEN {timestamp} IS NULL THEN :freeze ELSE "
             f"min(:freeze, strftime('%Y-%m-%dT%H:%M:%SZ', {timestamp}, :window)) END)")
    return sql.replace(":freeze >= :freeze", f"{limit} >= :freeze").replace("<= :freeze", f"<= {limit}")


def _late(observed: datetime, freeze: datetime | None, timestamp: str | None, window_hours: float | None) -> bool:
    limit = freeze
    if window_hours is not None and timestamp is not None:
        end = clock.from_store(timestamp) + timedelta(hours=window_hours)  # type: ignore[operator]
        limit = end if limit is None else min(limit, end)
    return limit is not None and observed > limit

def _entries_sql(sql: str, links: bool, judged: bool) -> str:
    if not links:
        start = sql.index("(SELECT username FROM entrant_links")
        end = sql.index("AS display_name")
        sql = sql[:start] + "NULL AS username,\n       NULL " + sql[end:]
    if not judged:
        start = sql.index("(SELECT id FROM moderation")
        end = sql.index("AS moderation_id")
        sql = sql[:start] + "NULL " + sql[end:]
    return sql


def _any(db: sqlite_utils.Database, sql: str, *params: object) -> bool:
    return db.conn.execute(sql, params).fetchone() is not None


def _rows_by_key(db: sqlite_utils.Database, sql: str, keys: list, key: str) -> dict:
    rows: dict = {}
    for chunk in _chunks(keys):
        for row in db.query(sql.format(", ".join("?" * len(chunk))), chunk):
            rows[row[key]] = row
    return rows


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
    """Return the newest poll run (any status) started at or before ``until``, or None."""
    cutoff = clock.to_store(until) if until else "9999"
    return next(db.query("SELECT * FROM poll_runs WHERE started_at <= ? ORDER BY started_at DESC, id DESC LIMIT 1",
                         [cutoff]), None)


def snapshot_series(db: sqlite_utils.Database, media_ids: Iterable[str],
                    until: datetime | None = None) -> dict[str, list[dict]]:
    """Return each media's snapshots, oldest first, as
    ``{media_id: [{"observed_at": aware UTC, "like_count", "comments_count"}, ...]}``.
    With ``until`` only snapshots of poll runs finished at or before it are given, as
    :func:`read_entries` does for ``as_of``."""
    ids = list(media_ids)
    cutoff = clock.to_store(until) if until else "9999"
    series: dict[str, list[dict]] = {media_id: [] for media_id in ids}
    for chunk in _chunks(ids):
        visible = "" if until is None else "AND poll_run_id IN (SELECT id FROM poll_runs WHERE finished_at <= :cutoff)"
        sql = (f"SELECT media_id, observed_at, like_count, comments_count FROM snapshots "
               f"WHERE observed_at <= ? {visible} AND media_id IN ({', '.join('?' * len(chunk))}) "
               f"ORDER BY observed_at, id")
        for row in db.query(sql.replace(":cutoff", "?"), [cutoff, *([cutoff] if until else []), *chunk]):
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
