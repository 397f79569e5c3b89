"""Team contests in the store: teams, account snapshots, the team of each media,
judges' actions on whole teams, and each poll run's read of each team.

Teams are keyed by ``account_id``: renaming a team in the contest file keeps its
snapshots and posts. Account snapshots are append-only and written only when a reading
differs from the account's latest one, like media snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from derby import clock
from derby.feeds.parse import AccountReading
from derby.store.judging import record_audit
from derby.store.schema import write
from derby.teams import Team


@dataclass
class TeamChanges:
    """What loading a contest file's ``[[teams]]`` changes: ``added`` and ``dropped``
    teams, ``renamed`` as ``(team, old name)``, ``repointed`` as ``(name, old account,
    new account)``, and ``posts`` (stored posts per account id)."""

    added: list[Team]
    renamed: list[tuple[Team, str]]
    dropped: list[Team]
    repointed: list[tuple[str, str, str]]
    posts: dict[str, int]

    def refused(self) -> list[str]:
        """Lines for the changes that lose stored posts (refused without ``--force``)."""
        lines = []
        moved = {old for _, old, _ in self.repointed}
        for name, old, new in self.repointed:
            if self.posts.get(old):
                lines.append(f"team “{name}” would move from account {old} ({self.posts[old]} posts stored) to {new}")
        for team in self.dropped:
            if self.posts.get(team.account_id) and team.account_id not in moved:
                lines.append(f"team “{team.name}” (account {team.account_id}, {self.posts[team.account_id]} posts "
                             "stored) is no longer in the contest file")
        return lines


def load_teams(db: sqlite_utils.Database, *, dropped: bool = False) -> list[Team]:
    """Return the stored teams in contest-file order (with the dropped ones when asked)."""
    where = "" if dropped else "WHERE dropped_at IS NULL"
    return [Team(name=r["name"], account_id=r["account_id"], token_env=r["token_env"], login=r["login"])
            for r in db.query(f"SELECT * FROM teams {where} ORDER BY dropped_at IS NOT NULL, position, account_id")]


def team_changes(db: sqlite_utils.Database, teams: Iterable[Team]) -> TeamChanges:
    """Compare ``teams`` (from a contest file) with the stored ones."""
    stored = {t.account_id: t for t in load_teams(db)}
    wanted = {t.account_id: t for t in teams}
    by_name = {t.name.casefold(): t for t in stored.values()}
    posts = {r["account_id"]: r["n"] for r in db.query("SELECT account_id, count(*) AS n FROM team_media GROUP BY account_id")}
    changes = TeamChanges(added=[], renamed=[], dropped=[], repointed=[], posts=posts)
    for account, team in wanted.items():
        old = stored.get(account)
        if old is None:
            changes.added.append(team)
            before = by_name.get(team.name.casefold())
            if before is not None and before.account_id not in wanted:
                changes.repointed.append((team.name, before.account_id, account))
        elif old.name != team.name:
            changes.renamed.append((team, old.name))
    changes.dropped = [t for a, t in stored.items() if a not in wanted]
    return changes


def save_teams(db: sqlite_utils.Database, teams: Iterable[Team], now: datetime, by: str = "contest file") -> TeamChanges:
    """Store the contest file's teams (in the caller's transaction when there is one):
    new ones added, renamed ones renamed (their history kept), missing ones marked
    dropped (their rows kept). Renames and drops go to the audit log. Returns the
    changes; refusing those that lose posts is the caller's choice (``derby init``)."""
    teams = list(teams)
    changes = team_changes(db, teams)
    when = clock.to_store(now)
    with write(db):
        for position, team in enumerate(teams):
            db.execute(
                """INSERT INTO teams (account_id, name, token_env, login, position, added_at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (account_id) DO UPDATE SET name = excluded.name, token_env = excluded.token_env,
                     login = excluded.login, position = excluded.position, dropped_at = NULL""",
                [team.account_id, team.name, team.token_env, team.login, position, when])
        for team, old in changes.renamed:
            record_audit(db, now, by, "team_rename", team.account_id, f"team “{old}” renamed “{team.name}”",
                         {"account_id": team.account_id, "old": old, "new": team.name})
        for team in changes.dropped:
            db.execute("UPDATE teams SET dropped_at = ? WHERE account_id = ?", [when, team.account_id])
            record_audit(db, now, by, "team_drop", team.account_id,
                         f"team “{team.name}” (account {team.account_id}) dropped from the contest file",
                         {"account_id": team.account_id, "name": team.name})
    return changes


def save_account_snapshot(db: sqlite_utils.Database, run_id: int, reading: AccountReading, observed_at: datetime) -> bool:
    """Append ``reading`` as the account's snapshot of poll run ``run_id`` unless it
    equals the account's latest one; return whether a row was written."""
    values = (reading.username, reading.followers_count, reading.follows_count, reading.media_count)
    with write(db):
        latest = db.execute("SELECT username, followers_count, follows_count, media_count FROM account_snapshots "
                            "WHERE account_id = ? ORDER BY observed_at DESC, id DESC LIMIT 1",
                            [reading.account_id]).fetchone()
        if latest is not None and tuple(latest) == values:
            return False
        db.execute("INSERT OR IGNORE INTO account_snapshots (account_id, poll_run_id, observed_at, username, "
                   "followers_count, follows_count, media_count) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [reading.account_id, run_id, clock.to_store(observed_at), *values])
    return True


def link_team_media(db: sqlite_utils.Database, run_id: int, account_id: str, media_ids: Iterable[str]) -> None:
    """Record ``account_id`` as the team of each media (the first link stays)."""
    with write(db):
        db.conn.executemany("INSERT OR IGNORE INTO team_media (media_id, account_id, poll_run_id) VALUES (?, ?, ?)",
                            [(m, account_id, run_id) for m in media_ids])


def record_team_read(db: sqlite_utils.Database, run_id: int, account_id: str, now: datetime, *, status: str,
                     pages: int = 0, error_kind: str | None = None, error: str | None = None) -> None:
    """Record how poll run ``run_id`` read ``account_id`` (``ok``, ``failed`` or
    ``skipped``), with the redacted error text of a failure."""
    with write(db):
        db.execute("INSERT OR REPLACE INTO team_reads (poll_run_id, account_id, at, status, pages, error_kind, error) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", [run_id, account_id, clock.to_store(now), status, pages, error_kind, error])


def team_media(db: sqlite_utils.Database) -> dict[str, str]:
    """Return ``{media_id: account_id}`` of every media linked to a team."""
    return dict(db.execute("SELECT media_id, account_id FROM team_media").fetchall())


def account_series(db: sqlite_utils.Database, until: datetime | None = None) -> dict[str, list[dict]]:
    """Return each team account's snapshots, oldest first, as ``{account_id: [{"observed_at"
    (aware UTC), "username", "followers_count", "follows_count", "media_count"}, ...]}``.
    With ``until`` only snapshots of poll runs finished at or before it are given."""
    visible = "" if until is None else "WHERE poll_run_id IN (SELECT id FROM poll_runs WHERE finished_at <= :until)"
    series: dict[str, list[dict]] = {}
    sql = (f"SELECT account_id, observed_at, username, followers_count, follows_count, media_count "
           f"FROM account_snapshots {visible} ORDER BY observed_at, id")
    for row in db.query(sql, {"until": clock.to_store(until) if until else None}):
        row["observed_at"] = clock.from_store(row["observed_at"])
        series.setdefault(row.pop("account_id"), []).append(row)
    return series


def moderate_team(db: sqlite_utils.Database, account_id: str, action: str, reason: str, by: str, now: datetime) -> dict:
    """Record a judge's ``disqualify`` or ``reinstate`` of a whole team, with the audit
    log entry. Raises ValueError for an empty reason, an unknown action, or an action
    that changes nothing (disqualifying a disqualified team, reinstating one that is
    not)."""
    if action not in ("disqualify", "reinstate"):
        raise ValueError(f"unknown action {action!r}")
    if not reason or not reason.strip():
        raise ValueError("a reason is required")
    latest = team_moderation(db).get(account_id)
    if action == "disqualify" and latest and latest["action"] == "disqualify":
        raise ValueError("this team is already disqualified")
    if action == "reinstate" and not (latest and latest["action"] == "disqualify"):
        raise ValueError("this team is not disqualified")
    row = {"account_id": account_id, "action": action, "reason": reason.strip(), "by": by, "at": clock.to_store(now)}
    with write(db):
        db["team_moderation"].insert(row)
        record_audit(db, now, by, f"team_{action}", account_id, f"team {account_id} {action}: {row['reason']}", row)
    return {**row, "at": now}


def team_moderation(db: sqlite_utils.Database, as_of: datetime | None = None) -> dict[str, dict]:
    """Return each team's latest judge's action at ``as_of`` (all when None) as
    ``{account_id: {"action", "reason", "by", "at" (aware UTC)}}``."""
    cutoff = clock.to_store(as_of) if as_of else "9999"
    rows = db.query("SELECT * FROM team_moderation t WHERE id = (SELECT id FROM team_moderation WHERE account_id = "
                    "t.account_id AND at <= :c ORDER BY at DESC, id DESC LIMIT 1)", {"c": cutoff})
    return {r["account_id"]: {"action": r["action"], "reason": r["reason"], "by": r["by"],
                              "at": clock.from_store(r["at"])} for r in rows}


def team_reads(db: sqlite_utils.Database) -> dict[str, dict]:
    """Return per team account its read health: ``last_ok`` (aware UTC or None),
    ``last`` (the newest read: ``status``, ``at``, ``error_kind``, ``error``) and
    ``failures`` (failed reads since the last good one)."""
    result: dict[str, dict] = {}
    for row in db.query("SELECT * FROM team_reads ORDER BY at, poll_run_id"):
        entry = result.setdefault(row["account_id"], {"last_ok": None, "last": None, "failures": 0})
        at = clock.from_store(row["at"])
        if row["status"] == "ok":
            entry["last_ok"], entry["failures"] = at, 0
        elif row["status"] == "failed":
            entry["failures"] += 1
        entry["last"] = {"status": row["status"], "at": at, "error_kind": row["error_kind"], "error": row["error"]}
    return result


def team_moderation_history(db: sqlite_utils.Database, account_id: str, as_of: datetime | None = None) -> list[dict]:
    """Return every judge's action on team ``account_id`` recorded at or before
    ``as_of`` (all when None), oldest first: ``{"action", "reason", "by", "at"}``."""
    cutoff = clock.to_store(as_of) if as_of else "9999"
    return [{"action": r["action"], "reason": r["reason"], "by": r["by"], "at": clock.from_store(r["at"])}
            for r in db.query("SELECT * FROM team_moderation WHERE account_id = ? AND at <= ? ORDER BY at, id",
                              [account_id, cutoff])]


def latest_account_snapshot(db: sqlite_utils.Database, account_id: str) -> dict | None:
    """Return the account's newest snapshot (``observed_at`` aware UTC, ``username``,
    ``followers_count``, ``follows_count``, ``media_count``), or None before any."""
    row = next(db.query("SELECT observed_at, username, followers_count, follows_count, media_count "
                        "FROM account_snapshots WHERE account_id = ? ORDER BY observed_at DESC, id DESC LIMIT 1",
                        [account_id]), None)
    if row is not None:
        row["observed_at"] = clock.from_store(row["observed_at"])
    return row


def team_post_count(db: sqlite_utils.Database, account_id: str) -> int:
    """Return how many stored media are linked to the team account."""
    return db.execute("SELECT count(*) FROM team_media WHERE account_id = ?", [account_id]).fetchone()[0]
