"""Judging: moderation (disqualify, reinstate), entrants and the append-only audit log."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlite_utils

from derby import clock, rules as rule_kinds
from derby.text import shortcode
from derby.units import plural
from derby.store.schema import write
from derby.store.standings import refresh_entry_scores


def record_audit(db: sqlite_utils.Database, now: datetime, actor: str, action: str, subject: str | None,
           summary: str, data: object = None) -> None:
    db["audit_log"].insert({"at": clock.to_store(now), "actor": actor, "action": action, "subject": subject,
                            "summary": summary, "data": json.dumps(data, ensure_ascii=False, sort_keys=True)})


def audit_log(db: sqlite_utils.Database, *, action: str | None = None, subject: str | None = None) -> list[dict]:
    """Return the audit log, oldest first, optionally only one ``action`` or ``subject``.

    Keys: ``id, at`` (aware UTC), ``actor, action`` (``rule_seed``, ``rule_set``,
    ``disqualify``, ``reinstate``, ``entrants_import``, ``draw_commit``, ``draw_run``,
    ``results_certify``, ``results_verify``, ``check_winners``, ``flag_clear``,
    ``flag_act``, ``purge``, ``contest_change`` (a reloaded contest file changed its terms), and ``…_refused`` for refused attempts), ``subject`` (a rule name or a
    media id), ``summary`` (one line for a person), ``data`` (decoded JSON).
    """
    sql = ("SELECT * FROM audit_log WHERE (:action IS NULL OR action = :action)"
           " AND (:subject IS NULL OR subject = :subject) ORDER BY id")
    rows = []
    for row in db.query(sql, {"action": action, "subject": subject}):
        row["at"] = clock.from_store(row["at"])
        row["data"] = json.loads(row["data"]) if row["data"] else None
        rows.append(row)
    return rows


def find_media(db: sqlite_utils.Database, ref: str) -> dict | None:
    """Return the stored media row that ``ref`` names, or None.

    ``ref`` is a media id, a permalink (``https://www.instagram.com/p/SHORTCODE/``, any
    query string ignored) or a bare shortcode.
    """
    ref = ref.strip()
    row = next(db.query("SELECT * FROM media WHERE media_id = ?", [ref]), None)
    if row is not None:
        return row
    code = shortcode(ref) or (ref if ref.replace("_", "").replace("-", "").isalnum() else None)
    if not code:
        return None
    for row in db.query("SELECT * FROM media WHERE permalink LIKE ?", [f"%/{code}%"]):
        if shortcode(row["permalink"]) == code:
            return row
    return None


def moderate(db: sqlite_utils.Database, media_id: str, action: str, reason: str, by: str, now: datetime) -> dict:
    """Record a judge's ``disqualify`` or ``reinstate`` of ``media_id`` with ``reason``
    (and the audit entry) in one transaction; return the action as a dict.

    Raises ValueError for an empty reason or judge, an unknown action or media, a
    disqualification of an entry already disqualified, a second reinstatement, or the
    reinstatement of an entry never disqualified that is neither held for review
    (hidden likes) nor reported gone.
    """
    if action not in ("disqualify", "reinstate"):
        raise ValueError(f"unknown moderation action {action!r}")
    reason, by = (reason or "").strip(), (by or "").strip()
    if not reason:
        raise ValueError("a reason is required (--reason TEXT)")
    if not by:
        raise ValueError("the judge's name is required (--by NAME or DERBY_JUDGE)")
    row = {"media_id": media_id, "action": action, "reason": reason, "by": by, "at": clock.to_store(now)}
    with write(db):
        if db["media"].count_where("media_id = ?", [media_id]) == 0:
            raise ValueError(f"no stored media {media_id}")
        last = next(db.query("SELECT action FROM moderation WHERE media_id = ? ORDER BY at DESC, id DESC LIMIT 1",
                             [media_id]), None)
        if action == "disqualify" and last and last["action"] == "disqualify":
            raise ValueError(f"media {media_id} is already disqualified; reinstate it first")
        if action == "reinstate" and last and last["action"] == "reinstate":
            raise ValueError(f"media {media_id} is already reinstated")
        if action == "reinstate" and last is None and not _reinstatable(db, media_id):
            raise ValueError(f"media {media_id} is not disqualified, nor held for review (hidden likes) nor "
                             "reported gone: there is nothing to reinstate")
        db["moderation"].insert(row)
        record_audit(db, now, by, action, media_id, f"{action} {media_id}: {reason}", {"reason": reason})
        refresh_entry_scores(db, [media_id])
    return row


def _reinstatable(db: sqlite_utils.Database, media_id: str) -> bool:
    """Whether a never-moderated entry has something a reinstatement decides: likes
    hidden (held for review under ``hidden_likes = review``) or a report that it is gone."""
    hidden = db.execute("SELECT hidden FROM entry_scores WHERE media_id = ?", [media_id]).fetchone()
    gone = db.execute("SELECT 1 FROM media_outcomes WHERE media_id = ? AND outcome = 'gone' LIMIT 1",
                      [media_id]).fetchone()
    return bool(hidden and hidden[0]) or gone is not None


def moderation_history(db: sqlite_utils.Database, media_id: str, as_of: datetime | None = None) -> list[dict]:
    """Return the judges' actions on ``media_id``, oldest first (up to ``as_of``).
    Keys: ``action, reason, by, at`` (aware UTC)."""
    cutoff = clock.to_store(as_of) if as_of else "9999"
    rows = list(db.query("SELECT action, reason, by, at FROM moderation WHERE media_id = ? AND at <= ? ORDER BY at, id",
                         [media_id, cutoff]))
    for row in rows:
        row["at"] = clock.from_store(row["at"])
    return rows


@dataclass
class EntrantImport:
    """What an entrant import did: rows read, links made (``matched``: list of (line,
    username, media id)) and rows refused (``problems``: list of (line, message))."""

    rows: int
    matched: list[tuple[int, str, str]]
    problems: list[tuple[int, str]]
    notes: list[tuple[int, str]] = field(default_factory=list)
    """Rows not refused but worth a word (an entry listed twice for one entrant)."""


def import_entrants(db: sqlite_utils.Database, rows: Iterable[dict], now: datetime, *, by: str,
                    source: str | None = None) -> EntrantImport:
    """Attach entrants' usernames to stored media, in one transaction.

    ``rows`` are dicts with ``line`` (for messages), ``username`` and ``shortcode``
    (from a permalink or given), optional ``display_name``, as read by
    :func:`derby.entrants.read_csv`. Every row is either linked or reported: an
    invalid username, no shortcode, a shortcode matching no stored media, or a media
    already given to another username earlier in the same file. A later import links a
    media anew (the latest link wins); the history is kept.
    """
    by_code: dict[str, str] = {}
    for row in db.query("SELECT media_id, permalink FROM media WHERE permalink IS NOT NULL"):
        code = shortcode(row["permalink"])
        if code:
            by_code.setdefault(code, row["media_id"])
    result = EntrantImport(rows=0, matched=[], problems=[])
    seen: dict[str, tuple[str, int]] = {}
    links = []
    for row in rows:
        result.rows += 1
        line = row["line"]
        try:
            username = rule_kinds.normalize_username(row.get("username") or "")
        except ValueError as exc:
            result.problems.append((line, str(exc)))
            continue
        code = row.get("shortcode")
        if not code:
            result.problems.append((line, row.get("problem") or "no permalink or shortcode"))
            continue
        media_id = by_code.get(code)
        if media_id is None:
            result.problems.append((line, f"no stored entry has shortcode {code}"))
            continue
        if media_id in seen and seen[media_id][0] != username:
            first, first_line = seen[media_id]
            result.problems.append((line, f"conflict: entry {code} is claimed by @{username} here and by @{first} on "
                                          f"line {first_line}; kept @{first} (line {first_line}): fix the file and "
                                          "import it again"))
            continue
        if media_id in seen:
            result.notes.append((line, f"entry {code} is listed twice for @{username} (line {seen[media_id][1]}); kept once"))
            continue
        seen[media_id] = (username, line)
        display = (row.get("display_name") or "").strip() or None
        links.append((media_id, username, display))
        result.matched.append((line, username, media_id))
    when = clock.to_store(now)
    with write(db):
        import_id = db["entrant_imports"].insert({"at": when, "by": by, "source": source, "rows": result.rows,
                                                  "matched": len(links)}).last_pk
        db.conn.executemany("INSERT INTO entrant_links (media_id, username, display_name, import_id, linked_at)"
                            " VALUES (?, ?, ?, ?, ?)", [(*link, import_id, when) for link in links])
        record_audit(db, now, by, "entrants_import", source,
               f"imported {source or 'entrants'}: {plural(result.rows, 'row')}, {len(links)} linked, "
               f"{len(result.problems)} refused",
               {"rows": result.rows, "linked": len(links), "problems": [list(p) for p in result.problems]})
        refresh_entry_scores(db, [link[0] for link in links])
    return result
