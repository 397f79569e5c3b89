"""The purge of personal data: usernames, display names and registration rows replaced
by pseudonyms, in the append-only tables too, through this one path.

The history tables refuse any UPDATE (triggers) except while a row of ``purges`` is
open, and then only of their personal columns: :func:`purge_personal_data` opens that
row, rewrites, closes it and writes the audit entry, all in one transaction, so the
window never outlives it. Pseudonyms are ``participant-`` and 10 hex digits of an
HMAC-SHA256 keyed with a random secret that is never stored: one entrant keeps one
pseudonym (a per-entrant cap ranks the same), and nobody can turn it back into the
username by hashing guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

import sqlite_utils

from derby import clock
from derby.store.judging import record_audit
from derby.store.schema import write
from derby.store.standings import refresh_entry_scores


def _pseudonyms(usernames: list[str]) -> dict[str, str]:
    key = secrets.token_bytes(32)
    return {u: "participant-" + hmac.new(key, u.encode("utf-8"), hashlib.sha256).hexdigest()[:10] for u in usernames}


def _replacer(mapping: dict[str, str]):
    if not mapping:
        return lambda text: text
    names = sorted(mapping, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w.])@?(" + "|".join(re.escape(n) for n in names) + r")(?![\w])", re.IGNORECASE)
    return lambda text: text if text is None else pattern.sub(lambda m: mapping[m.group(1).lower()], text)


def purge_personal_data(db: sqlite_utils.Database, now: datetime, by: str) -> dict:
    """Replace every entrant's username by a pseudonym and drop display names and import
    file names, in ``entrant_links``, ``entrant_imports``, moderation reasons, judges'
    notes on flags and the audit log (every mention of a known username or import file), in one transaction; record the purge
    and its audit entry. Returns ``{"entrants", "rows"}``: entrants pseudonymised and
    rows rewritten."""
    with write(db):
        purge_id = db["purges"].insert({"started_at": clock.to_store(now), "by": by}).last_pk
        usernames = [r[0] for r in db.conn.execute(
            "SELECT DISTINCT username FROM entrant_links WHERE username NOT LIKE 'participant-%'")]
        mapping = _pseudonyms(usernames)
        sources = [r[0] for r in db.conn.execute("SELECT DISTINCT source FROM entrant_imports WHERE source IS NOT NULL")]
        replace = _replacer({**{s.lower(): "registration file" for s in sources}, **mapping})
        rows = 0
        touched = set()
        for link_id, media_id, username, display in db.conn.execute(
                "SELECT id, media_id, username, display_name FROM entrant_links").fetchall():
            if username in mapping or display is not None:
                db.execute("UPDATE entrant_links SET username = ?, display_name = NULL WHERE id = ?",
                           [mapping.get(username, username), link_id])
                touched.add(media_id)
                rows += 1
        rows += db.execute("UPDATE entrant_imports SET source = NULL WHERE source IS NOT NULL").rowcount
        for table, columns in (("moderation", ("reason",)), ("flag_decisions", ("note",)),
                               ("audit_log", ("summary", "data", "subject"))):
            for row in db.conn.execute(f"SELECT id, {', '.join(columns)} FROM {table}").fetchall():
                new = [replace(v) for v in row[1:]]
                if new != list(row[1:]):
                    db.execute(f"UPDATE {table} SET {', '.join(c + ' = ?' for c in columns)} WHERE id = ?",
                               [*new, row[0]])
                    rows += 1
        touched |= {r[0] for r in db.conn.execute("SELECT DISTINCT media_id FROM moderation")}
        refresh_entry_scores(db, sorted(touched))  # the live standings keep names and judges' reasons too
        db.execute("UPDATE purges SET finished_at = ?, entrants = ?, rows = ? WHERE id = ?",
                   [clock.to_store(now), len(mapping), rows, purge_id])
        record_audit(db, now, by, "purge", None,
                     f"personal data purged: {len(mapping)} entrants pseudonymised, {rows} rows rewritten",
                     {"entrants": len(mapping), "rows": rows})
    return {"entrants": len(mapping), "rows": rows}


def last_purge(db: sqlite_utils.Database) -> dict | None:
    """Return the newest finished purge, or None."""
    return next(db.query("SELECT * FROM purges WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"), None)

