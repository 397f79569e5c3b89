"""The expiry facts of the tokens in use (table ``token_expiry``), keyed by fingerprint."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from derby import clock
from derby.store.judging import record_audit
from derby.store.schema import write


def save_token_expiry(db: sqlite_utils.Database, fingerprint: str, label: str, expires_at: datetime | None,
                      data_access_expires_at: datetime | None, is_valid: bool | None, checked_at: datetime) -> None:
    """Store (replace) what ``debug_token`` told of the token with ``fingerprint`` at
    ``checked_at``; times aware UTC, None for "never" (or not told)."""
    row = {"fingerprint": fingerprint, "label": label, "source": "debug_token",
           "expires_at": clock.to_store(expires_at) if expires_at else None,
           "data_access_expires_at": clock.to_store(data_access_expires_at) if data_access_expires_at else None,
           "is_valid": None if is_valid is None else int(is_valid), "checked_at": clock.to_store(checked_at)}
    with write(db):
        db["token_expiry"].upsert(row, pk="fingerprint")


def record_token_issued(db: sqlite_utils.Database, fingerprint: str, label: str, expires_at: datetime,
                        now: datetime, actor: str | None = None, summary: str = "") -> None:
    """Store the expiry of the token in variable ``label`` as the organizer recorded it
    (``derby token issued``; source ``recorded``), at ``now``; rows of other tokens of
    that variable (the ones it replaced) are dropped. With ``actor``, ``summary`` goes
    to the audit log (action ``token_issued``) in the same transaction. Times aware UTC."""
    row = {"fingerprint": fingerprint, "label": label, "expires_at": clock.to_store(expires_at),
           "data_access_expires_at": None, "is_valid": None, "checked_at": clock.to_store(now), "source": "recorded"}
    with write(db):
        db.execute("DELETE FROM token_expiry WHERE label = ? AND fingerprint != ?", [label, fingerprint])
        db["token_expiry"].upsert(row, pk="fingerprint")
        if actor is not None:
            record_audit(db, now, actor, "token_issued", label, summary,
                         {"fingerprint": fingerprint, "expires_at": clock.to_store(expires_at)})


def touch_token_expiries(db: sqlite_utils.Database, fingerprints: list[str], now: datetime) -> None:
    """Note that the stored expiries of ``fingerprints`` were looked at (warned of) at ``now``."""
    with write(db):
        for fp in fingerprints:
            db.execute("UPDATE token_expiry SET checked_at = ? WHERE fingerprint = ?", [clock.to_store(now), fp])


def token_expiries(db: sqlite_utils.Database, fingerprints: list[str] | None = None) -> list[dict]:
    """The stored rows (times as aware UTC datetimes, ``is_valid`` a bool or None,
    ``source`` ``debug_token`` or ``recorded``), of ``fingerprints`` only when given; []
    on a database made before the table."""
    if "token_expiry" not in db.table_names():
        return []
    rows = []
    for row in db.query("SELECT * FROM token_expiry ORDER BY label, fingerprint"):
        if fingerprints is not None and row["fingerprint"] not in fingerprints:
            continue
        for key in ("expires_at", "data_access_expires_at", "checked_at"):
            row[key] = clock.from_store(row[key]) if row[key] else None
        row["is_valid"] = None if row["is_valid"] is None else bool(row["is_valid"])
        row.setdefault("source", "debug_token")  # a reader of a database not yet migrated
        rows.append(row)
    return rows
