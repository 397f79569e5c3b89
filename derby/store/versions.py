"""The data version the board caches on: one value that changes whenever anything the
standings read may have changed. Read-only; no table of its own."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from derby import clock


def data_version(db: sqlite_utils.Database, as_of: datetime | None = None) -> tuple:
    """Return a value that changes whenever anything the standings (live, or as of
    ``as_of``, aware UTC) read may have changed: the newest row of each history table
    (rule changes, moderation, entrant links, media edits, purges), every poll run row (stored
    pages bump their run's counters; as of a moment: the runs finished by then), for
    the live standings the newest snapshot and media, the contest and the rules. Whole
    rows, so a database made again at the same path differs at least in its times."""
    conn = db.conn
    history = conn.execute(
        "SELECT (SELECT max(id) FROM rule_changes), (SELECT max(id) FROM moderation), "
        "(SELECT max(id) FROM entrant_links), (SELECT max(id) FROM media_edits), "
        "(SELECT max(id) FROM purges)").fetchone()  # a purge rewrites entrant links in place
    if as_of is None:
        readings = conn.execute("SELECT (SELECT max(id) FROM snapshots), (SELECT max(rowid) FROM media)").fetchone()
        runs = conn.execute("SELECT * FROM poll_runs ORDER BY id").fetchall()
    else:
        readings = ()
        runs = conn.execute("SELECT * FROM poll_runs WHERE finished_at <= ? ORDER BY id", [clock.to_store(as_of)]).fetchall()
    return (*history, *readings, len(runs), tuple(runs), tuple(conn.execute("SELECT * FROM contest").fetchall()),
            tuple(conn.execute("SELECT name, value, updated_at FROM rules ORDER BY name").fetchall()))


def database_file(db: sqlite_utils.Database) -> str:
    """Return the path of the database's main file ('' for an in-memory database)."""
    return next((row[2] for row in db.conn.execute("PRAGMA database_list") if row[1] == "main"), "") or ""
