"""Running the ranking queries that :mod:`derby.scoring` builds."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime

import sqlite_utils

from derby import clock


def history_present(db: sqlite_utils.Database, as_of: datetime | None = None) -> tuple[bool, bool]:
    """Return (any entrant link or author named by a refresh, any moderation) recorded
    at or before ``as_of`` (ever
    when None): without them the ranking skips one search per media."""
    cutoff = clock.to_store(as_of) if as_of else "9999"
    conn = db.conn
    links = conn.execute("SELECT 1 FROM entrant_links WHERE linked_at <= ? UNION ALL "
                         "SELECT 1 FROM media_authors WHERE at <= ? LIMIT 1", [cutoff, cutoff]).fetchone()
    judged = conn.execute("SELECT 1 FROM moderation WHERE at <= ? LIMIT 1", [cutoff]).fetchone()
    return links is not None, judged is not None


def _bound(db: sqlite_utils.Database, params: dict[str, object]) -> dict[str, object]:
    if params.get("as_of") is not None and "dead" in params:
        # runs whose process died count as ended at their last stored page
        from derby.store.polls import dead_poll_runs

        params = {**params, "dead": json.dumps(dead_poll_runs(db))}
    return params


def query_rows(db: sqlite_utils.Database, sql: str, params: dict[str, object]) -> Iterator[sqlite3.Row]:
    """Run one query built by :mod:`derby.scoring` and yield its rows as they come
    (``sqlite3.Row``: by name or position), never all at once."""
    cursor = db.conn.cursor()
    cursor.row_factory = sqlite3.Row
    cursor.execute(sql, _bound(db, params))
    try:
        yield from cursor
    finally:
        cursor.close()


def query_tuples(db: sqlite_utils.Database, sql: str, params: dict[str, object]) -> tuple[list[str], Iterator[tuple]]:
    """Run one query built by :mod:`derby.scoring`: return its column names and an
    iterator of its rows as plain tuples, read as they come (never all at once)."""
    cursor = db.conn.cursor()
    cursor.execute(sql, _bound(db, params))
    columns = [d[0] for d in cursor.description]

    def rows() -> Iterator[tuple]:
        try:
            yield from cursor
        finally:
            cursor.close()
    return columns, rows()
