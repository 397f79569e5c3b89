"""Rehearsal and real polls never share a database.

``derby --now TIME`` runs commands on a rehearsal clock. Its polls record times that
are not real, so a database holds polls of one clock only: the ``poll_clock`` table
names it, claimed by the first poll. A database whose poll runs predate that table
holds polls of the real clock.
"""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from derby.clock import to_store
from derby.errors import ConfigError
from derby.store.schema import write

CLOCK_KINDS = ("real", "rehearsal")


def claim_poll_clock(db: sqlite_utils.Database, kind: str, now: datetime) -> None:
    """Record that polls of this database run on ``kind`` (``real`` or ``rehearsal``)
    from ``now`` (aware, on that clock), or raise ConfigError when it holds polls made
    on the other clock. Idempotent."""
    if kind not in CLOCK_KINDS:
        raise ValueError(f"unknown clock kind {kind!r}")
    kinds = {row[0] for row in db.execute("SELECT kind FROM poll_clock")}
    if not kinds and db.execute("SELECT count(*) FROM poll_runs").fetchone()[0]:
        kinds = {"real"}
    other = kinds - {kind}
    if other:
        if kind == "rehearsal":
            raise ConfigError("this database holds polls made on the real clock; a rehearsal (--now, DERBY_NOW) "
                              "must not mix its polls with them: rehearse in another database (--db rehearsal.db)")
        raise ConfigError("this database holds the polls of a rehearsal (--now, DERBY_NOW); real polls must not "
                          "mix with them: poll the real contest into another database (--db), or rehearse again "
                          "with --now")
    if kind not in kinds:
        with write(db):
            db.execute("INSERT OR IGNORE INTO poll_clock (kind, first_at) VALUES (?, ?)", [kind, to_store(now)])


def poll_clock(db: sqlite_utils.Database) -> str | None:
    """The clock this database's polls were made on (``real``, ``rehearsal``), or None
    when it holds no poll yet."""
    row = db.execute("SELECT kind FROM poll_clock LIMIT 1").fetchone()
    if row:
        return row[0]
    return "real" if db.execute("SELECT count(*) FROM poll_runs").fetchone()[0] else None
