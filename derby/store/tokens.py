"""The expiry facts of the tokens in use (table ``token_expiry``), keyed by fingerprint."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from derby import clock
from derby.store.schema import write


def save_token_expiry(db: sqlite_utils.Database, fingerprint: str, label: str, expires_at: datetime | None,
                      data_access_expires_at: datetime | None, is_valid: bool | None, checked_at: datetime) -> None:
    """Store (replace) what was learnt of the token with ``fingerprint`` at
    ``checked_at``; times aware UTC, None for "never" (or not told)."""
    row = {"fingerprint": fingerprint, "label": label,
           "expires_at": clock.to_store(expires_at) if expires_at else None,
           "data_access_expires_at": clock.to_store(data_access_expires_at) if data_access_expires_at else None,
           "is_valid": None if is_valid is None else int(is_valid), "checked_at": clock.to_store(checked_at)}
    with write(db):
        db["token_expiry"].upsert(row, pk="fingerprint")


def token_expiries(db: sqlite_utils.Database, fingerprints: list[str] | None = None) -> list[dict]:
    """The stored rows (times as aware UTC datetimes, ``is_valid`` a bool or None), of
    ``fingerprints`` only when given; [] on a database made before the table."""
    if "token_expiry" not in db.table_names():
        return []
    rows = []
    for row in db.query("SELECT * FROM token_expiry ORDER BY label, fingerprint"):
        if fingerprints is not None and row["fingerprint"] not in fingerprints:
            continue
        for key in ("expires_at", "data_access_expires_at", "checked_at"):
            row[key] = clock.from_store(row[key]) if row[key] else None
        row["is_valid"] = None if row["is_valid"] is None else bool(row["is_valid"])
        rows.append(row)
    return rows
