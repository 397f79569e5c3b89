"""The daemon's records: schedule, the single-instance lock, coverage and closing.

``daemon_lock`` holds at most one row: the ``derby run`` polling this database (process
id, host, boot id, since, heartbeat, next poll). ``coverage`` records, per successful
read of a hashtag's recent_media, the span of post times it covered (the edge reaches
back 24 hours); ``coverage_gaps`` records spans no poll covered. ``contest_state``
records that the final poll ran and the contest is closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from derby import clock
from derby.errors import StoreError
from derby.store.schema import write


COVERAGE_SPAN_SECONDS = 24 * 3600
"""How far back ``recent_media`` reaches: media published in the last 24 hours (Graph
API reference, IG Hashtag > recent_media)."""


def save_schedule(db: sqlite_utils.Database, every: float, grace: float) -> None:
    """Store the contest's schedule: ``every`` and ``grace`` in seconds."""
    with write(db):
        db["schedule"].upsert({"id": 1, "every": float(every), "grace": float(grace)}, pk="id")


def load_schedule(db: sqlite_utils.Database) -> tuple[float, float] | None:
    """Return the stored ``(every, grace)`` in seconds, or None before ``derby init``."""
    row = next(db.query("SELECT every, grace FROM schedule WHERE id = 1"), None)
    return (row["every"], row["grace"]) if row else None


@dataclass
class LockHolder:
    """The process that holds (or held) the daemon lock. Times are aware UTC."""

    instance: str
    pid: int
    host: str
    boot_id: str | None
    since: datetime
    heartbeat_at: datetime
    next_poll_at: datetime | None = None
    resume_at: datetime | None = None

    def describe(self) -> str:
        """``pid 4242 on host vps1, since 2017-04-01T03:55:00Z``."""
        return f"pid {self.pid} on host {self.host}, since {clock.to_store(self.since)}"


class AlreadyRunning(StoreError):
    """Another live ``derby run`` holds this database's daemon lock."""


def lock_holder(db: sqlite_utils.Database) -> LockHolder | None:
    """Return the row of the daemon lock, or None when nobody holds it."""
    row = next(db.query("SELECT * FROM daemon_lock WHERE id = 1"), None)
    if row is None:
        return None
    return LockHolder(instance=row["instance"], pid=row["pid"], host=row["host"], boot_id=row["boot_id"],
                      since=clock.from_store(row["since"]), heartbeat_at=clock.from_store(row["heartbeat_at"]),  # type: ignore[arg-type]
                      next_poll_at=clock.from_store(row["next_poll_at"]), resume_at=clock.from_store(row["resume_at"]))


def acquire_lock(db: sqlite_utils.Database, me: LockHolder, is_alive) -> LockHolder | None:
    """Take the daemon lock for ``me``, in one immediate transaction.

    ``is_alive(holder) -> bool`` says whether a present holder still runs. Returns the
    stale holder that was taken over (None when the lock was free). Raises
    AlreadyRunning naming the live holder.
    """
    with write(db):
        current = lock_holder(db)
        if current is not None and current.instance != me.instance and is_alive(current):
            raise AlreadyRunning(f"another derby run is already polling this database: {current.describe()}; "
                                 f"stop it first (kill {current.pid}, or systemctl stop derby)")
        db.execute("""INSERT OR REPLACE INTO daemon_lock (id, instance, pid, host, boot_id, since, heartbeat_at)
                      VALUES (1, ?, ?, ?, ?, ?, ?)""",
                   [me.instance, me.pid, me.host, me.boot_id, clock.to_store(me.since), clock.to_store(me.heartbeat_at)])
    return current


def heartbeat(db: sqlite_utils.Database, instance: str, now: datetime, *, next_poll_at: datetime | None = None,
              resume_at: datetime | None = None, set_next: bool = False) -> bool:
    """Refresh the lock's heartbeat (and, with ``set_next``, the next poll and the end
    of a cool-down). Returns False when ``instance`` no longer holds the lock."""
    with write(db):
        if set_next:
            cursor = db.execute("UPDATE daemon_lock SET heartbeat_at = ?, next_poll_at = ?, resume_at = ? WHERE instance = ?",
                                [clock.to_store(now), clock.to_store(next_poll_at) if next_poll_at else None,
                                 clock.to_store(resume_at) if resume_at else None, instance])
        else:
            cursor = db.execute("UPDATE daemon_lock SET heartbeat_at = ? WHERE instance = ?", [clock.to_store(now), instance])
    return cursor.rowcount == 1


def release_lock(db: sqlite_utils.Database, instance: str) -> None:
    """Give up the daemon lock if ``instance`` holds it."""
    with write(db):
        db.execute("DELETE FROM daemon_lock WHERE instance = ?", [instance])


def mark_interrupted_runs(db: sqlite_utils.Database, now: datetime) -> list[int]:
    """Close poll runs still marked ``running`` (their process died: kill -9, power
    loss, or ``derby run`` abandoned it) as ``interrupted``, ending at their last stored
    page (their start when they stored none): what they stored was complete then, so
    ``--as-of`` answers the same before and after the closing. Pages they stored are
    kept. Call only while holding the daemon lock. Returns their ids. (``now`` is kept
    for callers; the end is never later than it.)"""
    with write(db):
        ids = [row["id"] for row in db.query("SELECT id FROM poll_runs WHERE status = 'running' ORDER BY id")]
        db.execute("""UPDATE poll_runs SET status = 'interrupted',
                      finished_at = min(coalesce(progress_at, started_at), ?),
                      error = coalesce(error, 'the process ended during this poll; stored pages are kept')
                      WHERE status = 'running'""", [clock.to_store(now)])
    return ids


@dataclass
class CoverageGap:
    """A span of post times (aware UTC) that no poll of ``hashtag`` could reach;
    ``acknowledged`` once a person said it is known (see :func:`acknowledge_gaps`)."""

    hashtag: str
    gap_from: datetime
    gap_to: datetime
    acknowledged: bool = False

    @property
    def hours(self) -> float:
        return (self.gap_to - self.gap_from).total_seconds() / 3600


def record_coverage(db: sqlite_utils.Database, run_id: int, hashtag: str, now: datetime,
                    window: tuple[datetime, datetime] | None = None) -> CoverageGap | None:
    """Record that run ``run_id`` read ``hashtag``'s recent_media in full at ``now``,
    covering posts from ``now - 24 h`` to ``now``.

    When the previous coverage of that hashtag (or, for the first one, the start of the
    contest ``window`` (start, end)) ends before this one begins, the span between,
    clipped to the window, is stored as a coverage gap and returned: posts published
    then may be lost for good.
    """
    covered_from = now - timedelta(seconds=COVERAGE_SPAN_SECONDS)
    with write(db):
        row = next(db.query("SELECT max(covered_to) AS last FROM coverage WHERE hashtag = ?", [hashtag]))
        previous = clock.from_store(row["last"]) if row["last"] else (window[0] if window else None)
        db.execute("INSERT OR REPLACE INTO coverage (poll_run_id, hashtag, covered_from, covered_to) VALUES (?, ?, ?, ?)",
                   [run_id, hashtag, clock.to_store(covered_from), clock.to_store(now)])
        if previous is None:
            return None
        gap_from, gap_to = previous, covered_from
        if window is not None:
            gap_from, gap_to = max(gap_from, window[0]), min(gap_to, window[1])
        if gap_from >= gap_to:
            return None
        gap = CoverageGap(hashtag, gap_from, gap_to)
        db.execute("INSERT INTO coverage_gaps (hashtag, gap_from, gap_to, poll_run_id, detected_at) VALUES (?, ?, ?, ?, ?)",
                   [hashtag, clock.to_store(gap.gap_from), clock.to_store(gap.gap_to), run_id, clock.to_store(now)])
    return gap


def coverage_gaps(db: sqlite_utils.Database) -> list[CoverageGap]:
    """Return every recorded coverage gap, oldest first, each marked ``acknowledged``
    when an acknowledgement covers it."""
    known = _acknowledged_up_to(db)
    return [CoverageGap(r["hashtag"], clock.from_store(r["gap_from"]), clock.from_store(r["gap_to"]),  # type: ignore[arg-type]
                        acknowledged=r["id"] <= known)
            for r in db.query("SELECT id, hashtag, gap_from, gap_to FROM coverage_gaps ORDER BY gap_from, hashtag")]


def acknowledge_gaps(db: sqlite_utils.Database, now: datetime, *, by: str, reason: str) -> int:
    """Record, in the audit log (action ``ack_gaps``), that ``by`` knows of every
    coverage gap recorded so far, and why; gaps recorded later are not covered. Returns
    how many gaps it newly acknowledged (0 records nothing). Raises ValueError for an
    empty reason."""
    from derby.store.judging import record_audit

    if not reason or not reason.strip():
        raise ValueError("--reason is required: say why the gaps are acceptable (kept in the audit log)")
    with write(db):
        known = _acknowledged_up_to(db)
        rows = list(db.query("SELECT id, hashtag, gap_from, gap_to FROM coverage_gaps WHERE id > ? ORDER BY id", [known]))
        if not rows:
            return 0
        hours = sum((clock.from_store(r["gap_to"]) - clock.from_store(r["gap_from"])).total_seconds()  # type: ignore[operator]
                    for r in rows) / 3600
        record_audit(db, now, by, "ack_gaps", None,
                     f"acknowledged {len(rows)} coverage gap{'s' if len(rows) > 1 else ''} ({hours:.1f} h): {reason.strip()}",
                     {"up_to_gap_id": rows[-1]["id"], "gaps": [[r["hashtag"], r["gap_from"], r["gap_to"]] for r in rows],
                      "reason": reason.strip()})
    return len(rows)


def _acknowledged_up_to(db: sqlite_utils.Database) -> int:
    row = next(db.query("SELECT max(json_extract(data, '$.up_to_gap_id')) AS up_to FROM audit_log "
                        "WHERE action = 'ack_gaps'"), None)
    return int(row["up_to"]) if row and row["up_to"] is not None else 0


def last_coverage(db: sqlite_utils.Database) -> dict[str, datetime]:
    """Return, per hashtag, the time (aware UTC) of its latest full recent_media read."""
    return {r["hashtag"]: clock.from_store(r["last"])  # type: ignore[misc]
            for r in db.query("SELECT hashtag, max(covered_to) AS last FROM coverage GROUP BY hashtag")}


def close_contest(db: sqlite_utils.Database, now: datetime, final_poll_run_id: int | None) -> None:
    """Record that the final poll ran and the contest is closed."""
    with write(db):
        db["contest_state"].upsert({"id": 1, "closed_at": clock.to_store(now), "final_poll_run_id": final_poll_run_id}, pk="id")


def contest_closed(db: sqlite_utils.Database) -> dict | None:
    """Return ``{"closed_at": aware UTC, "final_poll_run_id": int}`` once the contest
    is closed, else None."""
    row = next(db.query("SELECT closed_at, final_poll_run_id FROM contest_state WHERE id = 1"), None)
    if row is None:
        return None
    return {"closed_at": clock.from_store(row["closed_at"]), "final_poll_run_id": row["final_poll_run_id"]}
