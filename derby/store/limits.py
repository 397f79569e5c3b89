"""Platform limits: cool-downs, usage readings and the weekly hashtag budget."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from derby import clock
from derby.config import HASHTAG_LIMIT  # noqa: F401 - part of this module's interface
from derby.store.schema import write

HASHTAG_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class HashtagBudget:
    """The hashtag budget of one account at a moment: ``used`` of ``limit`` unique
    hashtags in the rolling window, which ones (``hashtags``, normalized names), and
    ``next_free`` (aware UTC), when the oldest counted one frees its slot (None when
    none is counted)."""

    account: str
    used: int
    limit: int
    hashtags: tuple[str, ...]
    next_free: datetime | None

    @property
    def free(self) -> int:
        return max(self.limit - self.used, 0)

    def counts(self, hashtag: str) -> bool:
        """Whether querying ``hashtag`` now costs nothing more (already counted)."""
        return hashtag in self.hashtags

    def needed(self, hashtags) -> list[str]:
        """The hashtags of ``hashtags`` that would each take a new slot if queried now."""
        return [h for h in hashtags if not self.counts(h)]


def hashtag_budget(db: sqlite_utils.Database, account: str, now: datetime) -> HashtagBudget:
    """Return the hashtag budget of ``account`` at ``now`` (aware): every hashtag whose
    last query lies within the 7 days before ``now`` counts."""
    since = clock.to_store(now - HASHTAG_WINDOW)
    rows = list(db.query("SELECT hashtag, last_queried_at FROM hashtag_queries WHERE account = ? AND last_queried_at > ? "
                         "ORDER BY last_queried_at, hashtag", [account, since]))
    next_free = clock.from_store(rows[0]["last_queried_at"]) + HASHTAG_WINDOW if rows else None
    return HashtagBudget(account=account, used=len(rows), limit=HASHTAG_LIMIT,
                         hashtags=tuple(r["hashtag"] for r in rows), next_free=next_free)


def record_hashtag_query(db: sqlite_utils.Database, account: str, hashtag: str, now: datetime) -> None:
    """Record that ``account`` queried ``hashtag`` at ``now`` (the platform counts a
    hashtag whose id is already known as soon as its media are read)."""
    when = clock.to_store(now)
    with write(db):
        db.execute("""INSERT INTO hashtag_queries (account, hashtag, first_queried_at, last_queried_at) VALUES (?, ?, ?, ?)
                      ON CONFLICT (account, hashtag) DO UPDATE SET
                        last_queried_at = max(last_queried_at, excluded.last_queried_at)""",
                   [account, hashtag, when, when])


def start_cooldown(db: sqlite_utils.Database, account: str, now: datetime, until: datetime, reason: str,
                   run_id: int | None = None) -> None:
    """Record that no request may be made for ``account`` before ``until`` (aware)."""
    with write(db):
        db.execute("INSERT INTO cooldowns (account, started_at, until, reason, poll_run_id) VALUES (?, ?, ?, ?, ?)",
                   [account, clock.to_store(now), clock.to_store(until), reason, run_id])


def active_cooldown(db: sqlite_utils.Database, account: str, now: datetime) -> dict | None:
    """Return the cool-down of ``account`` in force at ``now`` that ends last, as a dict
    (``until`` and ``started_at`` aware UTC, ``reason``, ``poll_run_id``), or None."""
    row = next(db.query("SELECT * FROM cooldowns WHERE account = ? AND until > ? ORDER BY until DESC, id DESC LIMIT 1",
                        [account, clock.to_store(now)]), None)
    if row is not None:
        row["until"], row["started_at"] = clock.from_store(row["until"]), clock.from_store(row["started_at"])
    return row


def record_poll_outcome(db: sqlite_utils.Database, run_id: int, *, error_kind: str | None = None,
                        error_code: int | None = None, error_subcode: int | None = None, fbtrace_id: str | None = None,
                        error_endpoint: str | None = None, retries: int = 0, usage: dict | None = None,
                        cooldown_until: datetime | None = None) -> None:
    """Store what a poll run met: the error's kind, code, subcode, fbtrace_id and
    endpoint (no query string), the retries made, the latest usage reading (JSON, its
    ``max_pct`` also in ``usage_pct``; NULL when no header was seen) and the cool-down set."""
    with write(db):
        db.execute("""UPDATE poll_runs SET error_kind = ?, error_code = ?, error_subcode = ?, fbtrace_id = ?,
                      error_endpoint = ?, retries = ?, usage = ?, usage_pct = ?, cooldown_until = ? WHERE id = ?""",
                   [error_kind, error_code, error_subcode, fbtrace_id, error_endpoint, retries,
                    json.dumps(usage, sort_keys=True) if usage is not None else None,
                    usage["max_pct"] if usage is not None else None,
                    clock.to_store(cooldown_until) if cooldown_until else None, run_id])
