"""Each successful poll's ranks, kept when the poll finishes, for the board's movement
column (places gained since the previous successful poll).

The ranks of a poll are the standings as that poll left them, which are the standings
``--as-of`` the moment it finished: the rules, moderation, entrant links and snapshots
recorded by then. They are computed after the poll's closing commit, from a read
snapshot that must show exactly what that commit left (:func:`commit_mark` is taken
inside the closing transaction; any other connection's commit since, a judge's action
say, and nothing is kept, so no rank ever describes a later moment), then written in
one short transaction. A hashtag contest's ranks come from the kept per-entry columns
(``entry_scores``, see :mod:`derby.store.standings`), which at that moment are the
live standings; a team contest's from the team ranking its caller computes. Only the
two newest successful polls' ranks are kept: the board compares with the one before
the newest.

They are kept only when the live standings at that point are the standings as of
the poll's end: no rule change, judge's action or entrant link is dated after it, no
snapshot was observed after it, and no other poll run is unfinished or finished after
it (a run left by a dead process, a clock set back). They are used only while they
still are: for the contest they were computed for (a fingerprint of the stored
contest and its teams; the contest is not versioned, so a ranking ``--as-of`` a past
moment takes the contest as it is now, and after ``derby init`` changes it the board
ranks that poll again), and while no history row added since is dated at or before
the poll's end (a back-dated judge's action, rule change or entrant import) and no
purge ran since. Otherwise the board ranks that poll again as of its end, as it did
before ranks were kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

import sqlite_utils

from derby import clock, scoring

MOVEMENT_AFTER_EVENTS: dict[str, str] = {
    "a page stored (a poll in progress)": "movement against the previous successful poll's kept ranks, as before: "
                                          "that poll's standings do not change",
    "a successful poll finished": "its ranks are kept; the board now compares with the poll before it",
    "rule change": "the previous poll's kept ranks hold (they used the rules in force then, as a ranking as of "
                   "its end does): the movement includes the change's effect",
    "moderation (disqualify, reinstate)": "the same: the judge's action moves entries, the previous ranks hold",
    "entrant import": "the same (entrant links count from when they were imported)",
    "the freeze passing": "nothing changes: the snapshot used is chosen by the stored freeze",
    "a hidden-likes policy that flips (comments_only)": "the previous ranks hold (the policy was decided from the "
                                                        "entries of that moment)",
    "any of these dated at or before the previous poll's end (a clock set back)": "the kept ranks no longer hold: "
        "that poll is ranked again as of its end",
    "contest changed (derby init: hashtags, window, freeze)": "the kept ranks no longer hold (a ranking as of a past "
        "moment takes the contest as it is now): that poll is ranked again as of its end",
    "purge (personal data pseudonymised)": "the kept ranks no longer hold: that poll is ranked again as of its end",
    "a database polled by an older derby (no kept ranks)": "that poll is ranked again as of its end",
}
"""What the board's movement compares with after each event that changes standings
without a new poll (see ``store.STANDINGS_EVENTS``); always the standings as of the
previous successful poll's end, read from its kept ranks while they still are those."""

KEPT_POLLS = 2
"""How many successful polls' ranks are kept (the newest and the one before it)."""

_IGNORED_CONTEST_COLUMNS = ("loaded_at", "source")  # a re-run of derby init with the same file changes nothing

_DATED_HISTORY = {"rule_changes": "changed_at", "moderation": "at", "entrant_links": "linked_at",
                  "media_authors": "at", "team_moderation": "at"}
"""The append-only tables a ranking as of a moment reads up to that moment, and the
time column it compares; ``purges`` (rewrites entrant links in place) counts too."""


def commit_mark(db: sqlite_utils.Database) -> int:
    """Return SQLite's data version of this connection (``PRAGMA data_version``):
    taken inside a write transaction, it changes by the time of a later read only if
    another connection committed in between."""
    return int(db.conn.execute("PRAGMA data_version").fetchone()[0])


@contextmanager
def _snapshot_since(db: sqlite_utils.Database, mark: int) -> Iterator[bool]:
    """A read transaction; yields True when it shows the database exactly as this
    connection left it when ``mark`` was taken (no other connection committed since);
    False at once inside the caller's own transaction."""
    if db.conn.in_transaction:
        yield False
        return
    db.conn.execute("BEGIN")
    try:
        db.conn.execute("SELECT 1 FROM poll_runs LIMIT 1").fetchall()  # the snapshot starts at the first read
        yield commit_mark(db) == mark
    finally:
        db.conn.execute("COMMIT")


def contest_fingerprint(db: sqlite_utils.Database) -> str:
    """Return a digest of the stored contest (without when and from which file it was
    loaded) and its teams: what a ranking as of a past moment takes as it is now."""
    cursor = db.conn.execute("SELECT * FROM contest WHERE id = 1")
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    contest = {n: v for n, v in zip(names, row or ()) if n not in _IGNORED_CONTEST_COLUMNS}
    teams = db.conn.execute("SELECT account_id, name, position, dropped_at FROM teams ORDER BY account_id").fetchall()
    text = json.dumps([contest, [list(t) for t in teams]], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def keep_entry_ranks(db: sqlite_utils.Database, run_id: int, mark: int, now: datetime) -> bool:
    """Store the ranks of successful poll run ``run_id`` of a hashtag contest: every
    ranked entry's media id and rank in the live standings, read from ``entry_scores``
    in a snapshot taken after the poll's closing commit (``mark``: :func:`commit_mark`
    in that transaction). Returns False, keeping nothing, when another connection
    committed since or the kept columns were computed for other rules or another
    contest (the board then ranks that poll again as of its end). ``now`` (aware UTC)
    is recorded as when they were stored."""
    from derby.store.standings import _in_force, entry_scores_current

    with _snapshot_since(db, mark) as unchanged:
        found = _in_force(db) if unchanged and _as_of_its_end(db, run_id) else None
        if found is None or not entry_scores_current(db, *found[:2]):
            return False
        kept = _kept_state(db)
        query = scoring.live_ranks_query(found[0])
        db.conn.execute("DROP TABLE IF EXISTS temp.poll_ranks_new")
        db.conn.execute(f"CREATE TEMP TABLE poll_ranks_new AS {query.sql}", query.params)
    try:
        _store(db, run_id, "entries", kept, "SELECT :run, media_id, rank FROM temp.poll_ranks_new", {}, now)
    finally:
        db.conn.execute("DROP TABLE IF EXISTS temp.poll_ranks_new")
    return True


def _as_of_its_end(db: sqlite_utils.Database, run_id: int) -> bool:
    """Whether the live standings now are those as of the end of run ``run_id``:
    nothing they read is dated after it, and every other run finished by then."""
    row = db.conn.execute("SELECT finished_at FROM poll_runs WHERE id = ?", [run_id]).fetchone()
    if row is None or row[0] is None:
        return False
    end = row[0]
    later = [f"SELECT 1 FROM {table} WHERE {column} > :end" for table, column in _DATED_HISTORY.items()]
    later.append("SELECT 1 FROM latest_snapshots WHERE observed_at > :end")
    later.append("SELECT 1 FROM poll_runs WHERE id <> :run AND (finished_at IS NULL OR finished_at > :end)")
    found = db.conn.execute(f"SELECT EXISTS ({' UNION ALL '.join(later)})", {"end": end, "run": run_id}).fetchone()
    return not found[0]


def _kept_state(db: sqlite_utils.Database) -> tuple[str, str]:
    """(the contest fingerprint, the JSON of the newest id of each history table)."""
    tables = [*_DATED_HISTORY, "purges"]
    newest = db.conn.execute("SELECT " + ", ".join(f"(SELECT coalesce(max(id), 0) FROM {t})" for t in tables)).fetchone()
    return contest_fingerprint(db), json.dumps(dict(zip(tables, newest)), sort_keys=True)


def keep_team_ranks(db: sqlite_utils.Database, run_id: int, mark: int, now: datetime,
                    rank: Callable[[], dict[str, int]]) -> bool:
    """Store the ranks of successful poll run ``run_id`` of a team contest: ``rank()``
    gives ``{team account id: rank}`` of the ranked teams and is called in a snapshot
    taken after the poll's closing commit (see :func:`keep_entry_ranks`). Returns
    False, keeping nothing, when another connection committed since (``rank`` is the
    team ranking as of the run's end, so nothing dated later changes it)."""
    with _snapshot_since(db, mark) as unchanged:
        if not unchanged:
            return False
        kept = _kept_state(db)
        ranks = rank()
    rows = json.dumps([[key, place] for key, place in ranks.items()])
    _store(db, run_id, "teams", kept,
           "SELECT :run, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(:rows)", {"rows": rows}, now)
    return True


def _store(db: sqlite_utils.Database, run_id: int, kind: str, kept: tuple[str, str], select: str,
           params: dict[str, object], now: datetime) -> None:
    from derby.store.schema import write

    with write(db):
        db.execute("DELETE FROM poll_ranks WHERE poll_run_id = ?", [run_id])
        db.execute(f"INSERT INTO poll_ranks (poll_run_id, ranked_id, rank) {select}", {**params, "run": run_id})
        db.execute("INSERT OR REPLACE INTO poll_ranks_state (poll_run_id, kind, contest, history, stored_at) "
                   "VALUES (?, ?, ?, ?, ?)", [run_id, kind, *kept, clock.to_store(now)])
        keep = "SELECT id FROM poll_runs WHERE status = 'ok' AND id IN (SELECT poll_run_id FROM poll_ranks_state) " \
               "ORDER BY started_at DESC, id DESC LIMIT :kept"
        db.execute(f"DELETE FROM poll_ranks WHERE poll_run_id NOT IN ({keep})", {"kept": KEPT_POLLS})
        db.execute(f"DELETE FROM poll_ranks_state WHERE poll_run_id NOT IN ({keep})", {"kept": KEPT_POLLS})


def previous_poll(db: sqlite_utils.Database, until: datetime | None = None) -> tuple[int, datetime, datetime] | None:
    """Return ``(id, started_at, finished_at)`` (aware UTC) of the successful poll run
    before the newest one finished at or before ``until`` (all when None), in the
    order of :func:`derby.store.successful_polls`; None when there are fewer than two."""
    cutoff = clock.to_store(until) if until else "9999"
    row = db.conn.execute("SELECT id, started_at, finished_at FROM poll_runs WHERE status = 'ok' AND finished_at <= ? "
                          "ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET 1", [cutoff]).fetchone()
    if row is None:
        return None
    return row[0], clock.from_store(row[1]), clock.from_store(row[2])  # type: ignore[return-value]


def stored_ranks(db: sqlite_utils.Database, run_id: int, kind: str,
                 ids: Iterable[str] | None = None) -> dict[str, int] | None:
    """Return the kept ranks of poll run ``run_id`` (``kind``: ``entries`` or
    ``teams``) as ``{id: rank}``, only of ``ids`` when given (ids not ranked then are
    left out); None when none were kept for that poll, they were computed for another
    contest than the one stored now, or a history row added since is dated at or
    before the poll's end (or a purge ran since)."""
    state = db.conn.execute("SELECT s.kind, s.contest, s.history, r.finished_at FROM poll_ranks_state s "
                            "JOIN poll_runs r ON r.id = s.poll_run_id WHERE s.poll_run_id = ?", [run_id]).fetchone()
    if state is None or state[0] != kind or state[1] != contest_fingerprint(db) or _changed_since(db, state[2], state[3]):
        return None
    if ids is None:
        rows = db.conn.execute("SELECT ranked_id, rank FROM poll_ranks WHERE poll_run_id = ?", [run_id])
    else:
        rows = db.conn.execute("SELECT ranked_id, rank FROM poll_ranks WHERE poll_run_id = ? "
                               "AND ranked_id IN (SELECT value FROM json_each(?))", [run_id, json.dumps(list(ids))])
    return {key: rank for key, rank in rows}


def _changed_since(db: sqlite_utils.Database, history: str, end: str) -> bool:
    newest = json.loads(history)
    checks = [f"SELECT 1 FROM {table} WHERE id > :{table} AND {column} <= :end"
              for table, column in _DATED_HISTORY.items()]
    checks.append("SELECT 1 FROM purges WHERE id > :purges")
    params = {t: newest.get(t, 0) for t in [*_DATED_HISTORY, "purges"]}
    return bool(db.conn.execute(f"SELECT EXISTS ({' UNION ALL '.join(checks)})", {**params, "end": end}).fetchone()[0])
