"""What ``derby check-winners`` reads of a winner from the store: the media as last
stored, its newest snapshot, its entrant links and when the feed last saw it."""

from __future__ import annotations

import sqlite_utils

from derby import clock


def stored_state(db: sqlite_utils.Database, media_id: str) -> dict | None:
    """Return the media row as last stored (``caption, permalink, timestamp, ...``)
    with ``latest`` (``like_count, comments_count, observed_at`` of its newest snapshot,
    and ``read_at``, ``source``: its newest reading, which confirmed those counts;
    snapshots are written only when the counts change, so ``observed_at`` is when
    they last changed; or None) and ``links`` (entrant links, oldest first:
    ``username, display_name, linked_at``), or None for an unknown media. Times aware
    UTC."""
    row = next(db.query("SELECT * FROM media WHERE media_id = ?", [media_id]), None)
    if row is None:
        return None
    row["timestamp"] = clock.from_store(row["timestamp"])
    latest = next(db.query("SELECT like_count, comments_count, observed_at FROM latest_snapshots WHERE media_id = ?",
                           [media_id]), None)
    if latest:
        latest["observed_at"] = clock.from_store(latest["observed_at"])
        reading = next(db.query("SELECT read_at, source FROM latest_readings WHERE media_id = ?", [media_id]), None)
        latest["read_at"] = max(clock.from_store(reading["read_at"]), latest["observed_at"]) if reading else \
            latest["observed_at"]
        latest["source"] = reading["source"] if reading else None
    row["latest"] = latest
    row["links"] = [{**r, "linked_at": clock.from_store(r["linked_at"])} for r in db.query(
        "SELECT username, display_name, linked_at FROM entrant_links WHERE media_id = ? ORDER BY linked_at, id",
        [media_id])]
    return row
