"""The live standings kept current: per-entry columns in ``entry_scores``, written in
the same transaction as whatever changes them, so the live board reads the top rows
and the counts instead of ranking every stored media again.

``entry_scores`` holds, per media, what :func:`derby.scoring.entry_scores_upsert`
computes (status checks, points per rule, scores with and without likes); what
depends on other entries (``hidden_likes = comments_only``, the review hold, the
entrant cap, ranks and ties) is computed when read. ``entry_scores_state`` says which
rules and contest those columns were computed for; a writer that finds another
version rebuilds the table, a read-only reader ranks from the stored media instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlite_utils

from derby import clock, scoring
from derby.rules import Rules

STANDINGS_EVENTS: dict[str, str] = {
    "page stored": "save_page: the page's media are scored again, in the page's transaction",
    "rule change": "set_rule: every entry is scored again and the standings view made again",
    "contest loaded or changed (init: hashtags, window, grace)": "save_contest: every entry is scored again",
    "moderation (disqualify, reinstate)": "moderate: that media is scored again",
    "entrant import": "import_entrants: the linked media are scored again",
    "purge (personal data pseudonymised)": "purge_personal_data: the media whose entrant or judge's reason was "
                                           "rewritten are scored again",
    "the freeze passing": "nothing to do: the snapshot used is chosen by the stored freeze, not the clock, "
                          "so a page stored after it keeps the last snapshot before it",
    "a hidden-likes policy that flips (comments_only: the first eligible entry hiding its likes)":
        "nothing stored: decided when the standings are read, from every entry's hidden flag",
    "an older derby's database, or a writer that changed rules behind derby's back":
        "the version in entry_scores_state differs: the next writer rebuilds, readers rank from the media",
}
"""Every event that changes the standings, and how ``entry_scores`` follows it."""


def _in_force(db: sqlite_utils.Database) -> tuple[Rules, scoring.ContestTerms, str] | None:
    """The live rules in force, the contest terms and their ``scores_version``, or
    None before a contest."""
    from derby.store.contest import rules_in_force

    key = db.conn.execute("SELECT (SELECT json_array(id, name, new_value) FROM rule_changes ORDER BY id DESC "
                          "LIMIT 1), hashtags, start_at, end_at, count_engagement_until, kind FROM contest "
                          "WHERE id = 1").fetchone()
    if key is None:
        return None
    # kept on the connection's Database, keyed by the newest rule change (rule changes
    # are only appended; its values, in case a rolled-back id was used again) and the
    # contest row, so each stored page does not decode the
    # rules again; another writer's change gives another key
    kept = getattr(db, "derby_in_force", None)
    found = kept[1] if kept is not None and kept[0] == key else None
    if found is None:
        start, end = clock.from_store(key[2]), clock.from_store(key[3])
        freeze = clock.from_store(key[4]) if key[4] else end
        terms = scoring.ContestTerms(tuple(json.loads(key[1])), start, end, freeze)  # type: ignore[arg-type]
        rules = rules_in_force(db, contest=(key[5], bool(terms.hashtags)))
        found = (rules, terms, scoring.scores_version(rules, terms))
        db.derby_in_force = (key, found)  # type: ignore[attr-defined]
    return found


def _stored_version(db: sqlite_utils.Database) -> str | None:
    row = db.conn.execute("SELECT version FROM entry_scores_state WHERE id = 1").fetchone()
    return row[0] if row else None


def rebuild_entry_scores(db: sqlite_utils.Database) -> None:
    """Score every stored media again and make the ``standings`` view again (in the
    caller's transaction, or one of its own). Nothing happens before a contest."""
    from derby.store.schema import write

    found = _in_force(db)
    if found is None:
        return
    rules, terms, version = found
    query = scoring.entry_scores_upsert(rules, terms, only_ids=False)
    with write(db):
        db.execute("DELETE FROM entry_scores")
        db.execute(query.sql, query.params)
        db.execute("INSERT OR REPLACE INTO entry_scores_state (id, version) VALUES (1, ?)",
                   [version])
        db.execute("DROP VIEW IF EXISTS standings")
        db.execute(scoring.standings_view(rules))


def refresh_entry_scores(db: sqlite_utils.Database, media_ids: Iterable[str]) -> None:
    """Score ``media_ids`` again (every media when the stored columns were computed
    for other rules or another contest), in the caller's transaction."""
    ids = list(media_ids)
    found = _in_force(db)
    if found is None or not ids:
        return
    rules, terms, version = found
    if _stored_version(db) != version:
        rebuild_entry_scores(db)
        return
    query = scoring.entry_scores_upsert(rules, terms, only_ids=True)
    db.execute(query.sql, {**query.params, "ids": json.dumps(ids)})


def live_likes_counted(db: sqlite_utils.Database, rules: Rules) -> bool:
    """Return whether the live standings count likes: always, unless ``hidden_likes =
    comments_only`` and an eligible entry of ``entry_scores`` hides its likes."""
    if rules.hidden_likes != "comments_only":
        return True
    return db.conn.execute("SELECT 1 FROM entry_scores WHERE base_status = 'eligible' AND hidden LIMIT 1").fetchone() is None


def entry_scores_current(db: sqlite_utils.Database, rules: Rules, terms: scoring.ContestTerms) -> bool:
    """Return True when ``entry_scores`` was computed for ``rules`` and ``terms``."""
    return _stored_version(db) == scoring.scores_version(rules, terms)
