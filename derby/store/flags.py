"""Judge flags: the readings :mod:`derby.flags` looks at after each poll, the flags it
stores (``judge_flags``) and the judges' decisions on them (``flag_decisions``,
append-only, each with its audit entry)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime

import sqlite_utils

from derby import clock
from derby.store.judging import record_audit
from derby.store.schema import BUSY_TIMEOUT_MS, open_reader, write


@contextlib.contextmanager
def reading(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A read-only connection to ``db``'s file for the flags' reads (``db`` itself for
    an in-memory database). The flags read every snapshot of the poll; through the
    poller's own connection those pages would push out of its page cache the media and
    latest-snapshot pages the next poll's writes need."""
    path = next((row[2] for row in db.conn.execute("PRAGMA database_list") if row[1] == "main"), "")
    if not path:
        yield db
        return
    reader = open_reader(path, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        yield reader
    finally:
        reader.close()

_E = "coalesce({t}.like_count, 0) + coalesce({t}.comments_count, 0)"

_GAINS_SQL = f"""
SELECT s.media_id, {_E.format(t="s")} - (
    SELECT {_E.format(t="p")} FROM snapshots p WHERE p.media_id = s.media_id AND p.id < s.id
    ORDER BY p.observed_at DESC, p.id DESC LIMIT 1) AS gain
FROM snapshots s WHERE s.poll_run_id = ?
"""

_STEPS_SQL = f"""
SELECT s.media_id, {_E.format(t="s")} AS now_e, {_E.format(t="p")} AS prev_e, p.observed_at AS prev_at,
       {_E.format(t="f")} AS first_e, f.observed_at AS first_at,
       -- poll run ids grow with their start: the newest earlier run that saw the media
       (SELECT r.started_at FROM poll_runs r WHERE r.id = (
            SELECT max(g.poll_run_id) FROM sightings g WHERE g.media_id = s.media_id AND g.poll_run_id < s.poll_run_id))
       AS seen_at
FROM snapshots s
JOIN snapshots p ON p.id = (SELECT id FROM snapshots WHERE media_id = s.media_id AND id < s.id
                            ORDER BY observed_at DESC, id DESC LIMIT 1)
JOIN snapshots f ON f.id = (SELECT id FROM snapshots WHERE media_id = s.media_id ORDER BY observed_at, id LIMIT 1)
WHERE s.poll_run_id = ? AND s.media_id IN ({{}})
"""


def poll_gains(db: sqlite_utils.Database, run_id: int) -> tuple[dict[str, int], datetime | None]:
    """Return ``({media_id: engagement gained}, previous)``: the gain of each media whose
    engagement changed in poll run ``run_id`` (and that had a reading before), and the
    start of the poll run before it (None for the first)."""
    gains = {m: g for m, g in db.conn.execute(_GAINS_SQL, [run_id]) if g is not None}
    previous = db.conn.execute("SELECT max(started_at) FROM poll_runs WHERE id < ?", [run_id]).fetchone()[0]
    return gains, clock.from_store(previous)


def poll_steps(db: sqlite_utils.Database, run_id: int, media_ids: list[str]) -> list[dict]:
    """Return, for these media (changed in poll run ``run_id``), the step
    :func:`derby.flags.bursts` takes: ``media_id, gain, since, past_gain, past_since``."""
    steps = []
    for start in range(0, len(media_ids), 500):
        chunk = media_ids[start:start + 500]
        sql = _STEPS_SQL.format(", ".join("?" * len(chunk)))
        for media_id, now_e, prev_e, prev_at, first_e, first_at, seen_at in db.conn.execute(sql, [run_id, *chunk]):
            since = max(clock.from_store(prev_at), clock.from_store(seen_at) or clock.from_store(prev_at))  # type: ignore[type-var]
            first = clock.from_store(first_at)
            steps.append({"media_id": media_id, "gain": now_e - prev_e, "since": since,
                          "past_gain": prev_e - first_e, "past_since": first if first < since else None})  # type: ignore[operator]
    return steps


_FIRST_STEPS_SQL = """
WITH firsts AS (SELECT media_id, min(id) AS first_id FROM snapshots WHERE poll_run_id < :run GROUP BY media_id),
     seconds AS (SELECT f.media_id, f.first_id,
                        (SELECT id FROM snapshots WHERE media_id = f.media_id AND id > f.first_id AND poll_run_id < :run
                         ORDER BY id LIMIT 1) AS second_id
                 FROM firsts f)
SELECT x.media_id, coalesce(b.like_count, 0) + coalesce(b.comments_count, 0)
                   - coalesce(a.like_count, 0) - coalesce(a.comments_count, 0), a.observed_at, b.observed_at
FROM seconds x JOIN snapshots a ON a.id = x.first_id JOIN snapshots b ON b.id = x.second_id
"""


def first_growth_rates(db: sqlite_utils.Database, run_id: int) -> dict[str, float]:
    """Return ``{media_id: engagement per hour}`` of each media's first change (from its
    first snapshot to its second), among the snapshots of poll runs before ``run_id``."""
    rates = {}
    for media_id, gain, first_at, second_at in db.conn.execute(_FIRST_STEPS_SQL, {"run": run_id}):
        hours = max((clock.from_store(second_at) - clock.from_store(first_at)).total_seconds(), 1.0) / 3600  # type: ignore[operator]
        rates[media_id] = gain / hours
    return rates


def latest_readings(db: sqlite_utils.Database, run_id: int) -> list[tuple[str, int | None, int | None]]:
    """Return ``(media_id, like_count, comments_count)`` of the latest snapshot of each
    media seen by poll run ``run_id``."""
    return db.conn.execute(
        "SELECT l.media_id, l.like_count, l.comments_count FROM latest_snapshots l "
        "WHERE l.media_id IN (SELECT media_id FROM sightings WHERE poll_run_id = ?)", [run_id]).fetchall()


def flagged(db: sqlite_utils.Database, kind: str) -> set[str]:
    """Return the media ids that already have a flag of ``kind``."""
    return {r[0] for r in db.conn.execute("SELECT DISTINCT media_id FROM judge_flags WHERE kind = ?", [kind])}


def top_gains(db: sqlite_utils.Database, run_id: int, top: int, window: int) -> tuple[dict[str, dict[int, int]], list[int]]:
    """Return ``({media_id: {poll run id: engagement gained}}, runs)`` for the ``top``
    most engaged media seen by poll run ``run_id``, over the last ``window`` finished
    poll runs up to it (``runs``, oldest first)."""
    runs = [r[0] for r in db.conn.execute(
        "SELECT id FROM poll_runs WHERE id <= ? AND status IN ('ok', 'partial') ORDER BY id DESC LIMIT ?",
        [run_id, window])][::-1]
    if run_id not in runs:
        runs.append(run_id)
    ids = [r[0] for r in db.conn.execute(
        "SELECT l.media_id FROM latest_snapshots l WHERE l.media_id IN "
        "(SELECT media_id FROM sightings WHERE poll_run_id = ?) "
        "ORDER BY coalesce(l.like_count, 0) + coalesce(l.comments_count, 0) DESC, l.media_id LIMIT ?", [run_id, top])]
    gains: dict[str, dict[int, int]] = {m: {} for m in ids}
    if not ids:
        return gains, runs
    rows = db.conn.execute(
        f"SELECT media_id, poll_run_id, coalesce(like_count, 0) + coalesce(comments_count, 0) FROM snapshots "
        f"WHERE media_id IN ({', '.join('?' * len(ids))}) ORDER BY media_id, observed_at, id", ids)
    last: dict[str, int] = {}
    for media_id, run, value in rows:
        if media_id in last:
            gains[media_id][run] = value - last[media_id]
        last[media_id] = value
    return gains, runs


def save_flags(db: sqlite_utils.Database, run_id: int, now: datetime, flags: list) -> list:
    """Store ``flags`` (:class:`derby.flags.Flag`) of poll run ``run_id`` in one
    transaction; a flag already stored for the same media, kind and run is skipped.
    Returns the flags stored."""
    stored = []
    with write(db):
        for flag in flags:
            cursor = db.execute(
                "INSERT OR IGNORE INTO judge_flags (media_id, kind, poll_run_id, detected_at, detail, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [flag.media_id, flag.kind, run_id, clock.to_store(now), flag.detail,
                 json.dumps(flag.data, ensure_ascii=False, sort_keys=True)])
            if cursor.rowcount:
                stored.append(flag)
    return stored


def list_flags(db: sqlite_utils.Database, *, include_decided: bool = False,
               media_id: str | None = None) -> list[dict]:
    """Return the flags (of one media when ``media_id`` is given), oldest first, each
    with its latest decision (``decision``, ``note``, ``by``, ``decided_at`` or None):
    only undecided ones unless ``include_decided``. Times aware UTC."""
    rows = []
    for row in db.query(
            "SELECT f.*, d.decision, d.note, d.by, d.at AS decided_at FROM judge_flags f "
            "LEFT JOIN flag_decisions d ON d.id = (SELECT max(id) FROM flag_decisions WHERE flag_id = f.id) "
            "WHERE :media IS NULL OR f.media_id = :media ORDER BY f.id", {"media": media_id}):
        if row["decision"] is not None and not include_decided:
            continue
        row["detected_at"] = clock.from_store(row["detected_at"])
        row["decided_at"] = clock.from_store(row["decided_at"])
        row["data"] = json.loads(row["data"]) if row["data"] else None
        rows.append(row)
    return rows


def open_flags(db: sqlite_utils.Database, media_ids: list[str]) -> dict[str, list[str]]:
    """Return ``{media_id: [kind, ...]}`` of the undecided flags of these media."""
    found: dict[str, list[str]] = {}
    for chunk_start in range(0, len(media_ids), 500):
        chunk = media_ids[chunk_start:chunk_start + 500]
        for media_id, kind in db.conn.execute(
                f"SELECT media_id, kind FROM judge_flags f WHERE media_id IN ({', '.join('?' * len(chunk))}) "
                "AND NOT EXISTS (SELECT 1 FROM flag_decisions d WHERE d.flag_id = f.id) ORDER BY id", chunk):
            found.setdefault(media_id, [])
            if kind not in found[media_id]:
                found[media_id].append(kind)
    return found


def decide(db: sqlite_utils.Database, flag_id: int, decision: str, note: str, by: str, now: datetime) -> dict:
    """Record a judge's ``clear`` or ``act`` on flag ``flag_id`` with a note, and its
    audit entry, in one transaction. Raises ValueError for an unknown flag or decision,
    an empty note, or a flag already decided."""
    if decision not in ("clear", "act"):
        raise ValueError(f"unknown decision {decision!r}")
    note = (note or "").strip()
    if not note:
        raise ValueError("a note is required (--note TEXT): what the judge saw or did")
    with write(db):
        flag = next(db.query("SELECT * FROM judge_flags WHERE id = ?", [flag_id]), None)
        if flag is None:
            raise ValueError(f"no flag #{flag_id}; derby flags lists them")
        if db["flag_decisions"].count_where("flag_id = ?", [flag_id]):
            raise ValueError(f"flag #{flag_id} was already decided")
        db["flag_decisions"].insert({"flag_id": flag_id, "decision": decision, "note": note, "by": by,
                                     "at": clock.to_store(now)})
        record_audit(db, now, by, f"flag_{decision}", flag["media_id"],
                     f"flag #{flag_id} ({flag['kind']}) {'cleared' if decision == 'clear' else 'acted on'}: {note}",
                     {"flag_id": flag_id, "kind": flag["kind"], "note": note})
    return flag
