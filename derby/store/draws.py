"""Draws and certified results: commitments, runs, certifications, refusals.

- ``draw_commitments``: each committed pool (the exact canonical bytes hashed), when and
  by whom, and the moment its standings describe (NULL: the live standings);
- ``draw_runs``: the run of a commitment (one at most): the beacon value and the
  certificate written;
- ``results_certifications``: the SHA-256 of each results file certified.

All three are append-only (triggers); every write and every refusal also goes to the
audit log, in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import sqlite_utils

from derby import clock
from derby.store.judging import record_audit
from derby.store.schema import write


def record_attempt(db: sqlite_utils.Database, now: datetime, actor: str, action: str, summary: str,
                   data: object = None) -> None:
    """Write an attempt that changes nothing else (a refused ``draw_commit_refused``, a
    ``results_verify`` check) to the audit log, alone in its transaction."""
    with write(db):
        record_audit(db, now, actor, action, None, summary, data)


def rules_version(db: sqlite_utils.Database, as_of: datetime | None) -> tuple[int, str]:
    """Return ``(changes, digest)`` of the rule history up to ``as_of`` (all when None):
    the number of recorded rule changes, and the SHA-256 hex of their rows (name, old
    and new value, when, who, why) in order, so any edit of the history changes it."""
    cutoff = clock.to_store(as_of) if as_of else "9999"
    rows = db.conn.execute("SELECT id, name, old_value, new_value, changed_at, changed_by, reason FROM rule_changes "
                           "WHERE changed_at <= ? ORDER BY id", [cutoff]).fetchall()
    text = json.dumps([list(r) for r in rows], ensure_ascii=True, separators=(",", ":"))
    return len(rows), hashlib.sha256(text.encode("ascii")).hexdigest()


def latest_commitment(db: sqlite_utils.Database) -> dict | None:
    """Return the newest draw commitment with its run (``run``: the draw_runs row or
    None), or None before any commit. Times are aware UTC."""
    row = next(db.query("SELECT * FROM draw_commitments ORDER BY id DESC LIMIT 1"), None)
    if row is None:
        return None
    row["committed_at"] = clock.from_store(row["committed_at"])
    row["as_of"] = clock.from_store(row["as_of"])
    row["run"] = next(db.query("SELECT * FROM draw_runs WHERE commitment_id = ?", [row["id"]]), None)
    return row


def any_draw_run(db: sqlite_utils.Database) -> dict | None:
    """Return the first draw run of this database, or None."""
    return next(db.query("SELECT * FROM draw_runs ORDER BY id LIMIT 1"), None)


def commitment_of(db: sqlite_utils.Database, commitment_id: int) -> str:
    """Return the commitment (hex) of draw commitment ``commitment_id``."""
    return db["draw_commitments"].get(commitment_id)["commitment"]


def save_commitment(db: sqlite_utils.Database, commitment: str, pool_bytes: bytes, as_of: datetime | None,
                    now: datetime, by: str, summary: str) -> int:
    """Store a commitment (and its audit entry) in one transaction; return its id.
    Raises ValueError when a draw of this database already ran (checked inside the
    transaction)."""
    with write(db):
        if any_draw_run(db) is not None:
            raise ValueError("a draw already ran in this database")
        new_id = db["draw_commitments"].insert({
            "commitment": commitment, "pool": pool_bytes.decode("ascii"),
            "as_of": clock.to_store(as_of) if as_of else None, "committed_at": clock.to_store(now),
            "committed_by": by}).last_pk
        record_audit(db, now, by, "draw_commit", commitment, summary, {"commitment": commitment, "id": new_id})
    return int(new_id)


def save_run(db: sqlite_utils.Database, commitment_id: int, value: dict, certificate: dict, now: datetime, by: str,
             summary: str) -> None:
    """Store the run of commitment ``commitment_id`` and its audit entry (winners and
    alternates in its data) in one transaction. Raises ValueError when it already ran."""
    with write(db):
        if db["draw_runs"].count_where("commitment_id = ?", [commitment_id]):
            raise ValueError("this commitment was already drawn")
        db["draw_runs"].insert({"commitment_id": commitment_id, "value_kind": value["kind"], "value": value["value"],
                                "certificate": json.dumps(certificate, ensure_ascii=False, sort_keys=True),
                                "ran_at": clock.to_store(now), "ran_by": by})
        record_audit(db, now, by, "draw_run", certificate["commitment"], summary,
                     {"winners": certificate["result"]["winners"], "alternates": certificate["result"]["alternates"],
                      "value": value})


def save_certification(db: sqlite_utils.Database, sha256: str, now: datetime, by: str, path: str | None,
                       summary: str, data: object) -> None:
    """Record a results certification (and its audit entry) in one transaction."""
    with write(db):
        db["results_certifications"].insert({"sha256": sha256, "certified_at": clock.to_store(now),
                                             "certified_by": by, "path": path})
        record_audit(db, now, by, "results_certify", sha256, summary, data)


def certification(db: sqlite_utils.Database, sha256: str) -> dict | None:
    """Return the certification of a results file with this SHA-256, or None."""
    row = next(db.query("SELECT * FROM results_certifications WHERE sha256 = ? ORDER BY id LIMIT 1", [sha256]), None)
    if row is not None:
        row["certified_at"] = clock.from_store(row["certified_at"])
    return row
