"""What refreshes by id remember: the organizer account, refresh sources turned off,
authors named by refreshes, entrants Business Discovery cannot read, and the
candidates a refresh plan chooses from."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from derby import clock
from derby.feeds.parse import Media, MediaPage
from derby.store.polls import PageResult, save_page
from derby.store.schema import write


def organizer_username(db: sqlite_utils.Database, account: str) -> str | None:
    """The stored username of the organizer account ``account`` (read once from the
    API), or None when not read yet (or stored for another account)."""
    row = db.execute("SELECT username FROM organizer_account WHERE id = 1 AND account = ?", [account]).fetchone()
    return row[0] if row else None


def save_organizer(db: sqlite_utils.Database, account: str, username: str, now: datetime) -> None:
    """Store the organizer account's validated username."""
    with write(db):
        db.execute("INSERT INTO organizer_account (id, account, username, read_at) VALUES (1, ?, ?, ?) "
                   "ON CONFLICT (id) DO UPDATE SET account = excluded.account, username = excluded.username, "
                   "read_at = excluded.read_at", [account, username, clock.to_store(now)])


def disabled_sources(db: sqlite_utils.Database) -> dict[str, tuple[str, datetime]]:
    """``{source: (reason, since)}`` of refresh sources turned off by a refusal."""
    return {row[0]: (row[1], clock.from_store(row[2]))  # type: ignore[misc]
            for row in db.execute("SELECT source, reason, changed_at FROM refresh_sources WHERE enabled = 0")}


def disable_source(db: sqlite_utils.Database, source: str, reason: str, now: datetime, run_id: int | None) -> None:
    """Turn refresh ``source`` off (a permission refusal), saying why."""
    with write(db):
        db.execute("INSERT INTO refresh_sources (source, enabled, reason, changed_at, poll_run_id) VALUES (?, 0, ?, ?, ?) "
                   "ON CONFLICT (source) DO UPDATE SET enabled = 0, reason = excluded.reason, "
                   "changed_at = excluded.changed_at, poll_run_id = excluded.poll_run_id",
                   [source, reason, clock.to_store(now), run_id])


def enable_sources(db: sqlite_utils.Database, sources: Iterable[str], now: datetime) -> None:
    """Turn refresh sources back on (``derby init`` after the permission was granted)."""
    with write(db):
        for source in sources:
            db.execute("UPDATE refresh_sources SET enabled = 1, reason = NULL, changed_at = ? WHERE source = ?",
                       [clock.to_store(now), source])


def save_refresh(db: sqlite_utils.Database, run_id: int, source: str, items: list[tuple[Media, str | None]],
                 warnings: list[str], now: datetime) -> PageResult:
    """Store refresh readings ``(media, author username or None)`` of ``source`` in one
    transaction: like a hashtag page (media upserted without erasing stored values,
    caption edits kept), but every reading writes its snapshot, and the authors named
    are appended to ``media_authors``."""
    with write(db):
        # authors first: storing the page scores its media again, entrant included
        rows = [(m.media_id, name, source, run_id, clock.to_store(now)) for m, name in items if name]
        db.conn.executemany("INSERT INTO media_authors (media_id, username, source, poll_run_id, at) "
                            "VALUES (?, ?, ?, ?, ?)", rows)
        result = save_page(db, run_id, "", source, MediaPage(media=[m for m, _ in items], warnings=warnings), now,
                           refresh=True)
    return result


def read_authors(db: sqlite_utils.Database, as_of: datetime | None = None,
                 media_ids: Iterable[str] | None = None) -> dict[str, str]:
    """``{media_id: username}``: the newest author a refresh named for each media, as
    recorded at or before ``as_of``; of ``media_ids`` only when given."""
    cutoff = clock.to_store(as_of) if as_of else "9999"
    only = "" if media_ids is None else "AND media_id IN (SELECT value FROM json_each(:ids))"
    return {row[0]: row[1] for row in db.execute(
        f"SELECT media_id, username FROM media_authors WHERE at <= :cutoff {only} ORDER BY at, id",
        {"cutoff": cutoff, "ids": json.dumps(list(media_ids or []))})}


def refused_entrants(db: sqlite_utils.Database, source: str) -> set[str]:
    """Usernames ``source`` refused (a personal account for Business Discovery)."""
    return {row[0] for row in db.execute("SELECT username FROM entrant_refusals WHERE source = ?", [source])}


def record_entrant_refusal(db: sqlite_utils.Database, username: str, source: str, detail: str, now: datetime,
                           run_id: int | None) -> None:
    """Record that ``source`` cannot read entrant ``username``: derby stops asking."""
    with write(db):
        db.execute("INSERT INTO entrant_refusals (username, source, poll_run_id, at, detail) VALUES (?, ?, ?, ?, ?)",
                   [username, source, run_id, clock.to_store(now), detail])


@dataclass(frozen=True)
class RefreshCandidate:
    """A stored media a refresh may read: its caption and timestamp (aware UTC or
    None), newest reading (aware UTC or None), the sources that refused it or reported
    it gone, and whether this poll run's hashtag edges returned it."""

    media_id: str
    caption: str | None
    timestamp: datetime | None
    read_at: datetime | None
    closed_sources: frozenset[str]
    seen_this_run: bool


def refresh_candidates(db: sqlite_utils.Database, run_id: int) -> list[RefreshCandidate]:
    """Every stored media with what a refresh plan needs (see :class:`RefreshCandidate`):
    ``closed_sources`` holds ``all`` once any source reported the media gone."""
    closed: dict[str, set[str]] = {}
    for media_id, source, outcome in db.execute(
            "SELECT media_id, source, outcome FROM media_outcomes WHERE outcome IN ('gone', 'not_refreshable')"):
        closed.setdefault(media_id, set()).add("all" if outcome == "gone" else source)
    seen = {row[0] for row in db.execute("SELECT media_id FROM sightings WHERE poll_run_id = ? AND hashtag != ''",
                                         [run_id])}
    parse = clock.from_store
    return [RefreshCandidate(media_id, caption, parse(timestamp), parse(read_at),
                             frozenset(closed.get(media_id, ())), media_id in seen)
            for media_id, caption, timestamp, read_at in db.execute(
                "SELECT m.media_id, m.caption, m.timestamp, l.read_at FROM media m "
                "LEFT JOIN latest_readings l ON l.media_id = m.media_id ORDER BY m.media_id")]


def mark_final_sweep(db: sqlite_utils.Database, run_id: int) -> None:
    """Mark poll run ``run_id`` as the final sweep: its refresh readings count as the
    engagement at the freeze."""
    with write(db):
        db.execute("UPDATE poll_runs SET final_sweep = 1 WHERE id = ?", [run_id])


def final_sweep_done(db: sqlite_utils.Database) -> bool:
    """True once a poll run was marked as the final sweep."""
    return db.execute("SELECT 1 FROM poll_runs WHERE final_sweep = 1 LIMIT 1").fetchone() is not None
