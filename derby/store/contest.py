"""The stored contest, its rules (with their history) and hashtag ids."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path

import sqlite_utils

from derby import clock, rules as rule_kinds, terms as contest_terms
from derby.config import Contest, FeedConfig, RefreshConfig, Schedule
from derby.store.daemon import load_schedule, save_schedule
from derby.store.judging import record_audit
from derby.store.schema import write
from derby.store.teams import load_teams, save_teams
from derby.teams import Trophy
from derby.store.standings import rebuild_entry_scores


def save_contest(db: sqlite_utils.Database, contest: Contest, now: datetime, by: str = "contest file",
                 judge: str | None = None) -> list[dict]:
    """Store ``contest`` as the database's contest and apply its ``[rules]``.

    A database without rules is seeded with every rule kind (the file's value, else
    the kind's default); afterwards a value the file *changed* since the file was last
    applied is put in force as a recorded change (by ``by``). A rule changed with
    ``derby rules set`` therefore survives loading the same file again; rules the file
    does not list are left as they are. A change of a stored contest's terms (title,
    hashtags, dates, time zone, teams, trophies...: :func:`contest_changes`) is put in the
    audit log (``contest_change``, by ``judge``, else ``by``). Returns the rule changes
    recorded (see :func:`set_rule`).
    """
    feed = {"kind": contest.feed.kind, "path": str(contest.feed.path) if contest.feed.path else None,
            "page_cap": contest.feed.page_cap, "timeout": contest.feed.timeout,
            "deadline": contest.feed.deadline}
    stored = load_contest(db)
    with write(db):
        changed = contest_changes(stored, contest) if stored is not None else []
        if changed:
            record_audit(db, now, judge or by, "contest_change", None,
                         f"contest terms changed by loading {contest.source.name if contest.source else 'a contest file'}"
                         f": {'; '.join(changed)}", {"changes": changed})
        db["contest"].upsert({
            "id": 1, "title": contest.title, "hashtags": json.dumps(list(contest.hashtags)),
            "timezone": contest.timezone, "start_at": clock.to_store(contest.start),
            "end_at": clock.to_store(contest.end), "language": contest.language,
            "feed": json.dumps(feed), "source": str(contest.source) if contest.source else None,
            "loaded_at": clock.to_store(now),
            "count_engagement_until": clock.to_store(contest.count_engagement_until)
            if contest.count_engagement_until else None,
            "kind": contest.kind,
            "trophies": json.dumps([{"name": t.name, "metric": t.metric, "count": t.count} for t in contest.trophies],
                                   ensure_ascii=False),
            "refresh": json.dumps(dataclasses.asdict(contest.refresh)),
            "terms": json.dumps(contest.terms.record(), ensure_ascii=False, sort_keys=True),
        }, pk="id")
        if contest.kind == "teams":
            save_teams(db, contest.teams, now, by)
        source = contest.source.name if contest.source else "the contest file"
        if not has_rule_history(db):
            changes = [set_rule(db, name, value, now, by=by, reason=f"seeded from {source}", action="rule_seed")
                       for name, value in rule_kinds.effective_rules(contest.rules, contest.kind).items()]
        else:
            applied = _rules_from(db, by)
            changes = [set_rule(db, name, value, now, by=by, reason=f"edited in {source}")
                       for name, value in contest.rules.items()
                       if name not in applied
                       or rule_kinds.encode(applied[name]) != rule_kinds.encode(rule_kinds.validate_rule(name, value))]
        save_schedule(db, contest.schedule.every, contest.schedule.grace)
        rebuild_entry_scores(db)
    return [c for c in changes if c is not None]


def _terms(contest: Contest) -> dict[str, str]:
    """The contest's terms a judge would see change, as display texts (times in the
    contest's zone with its offset)."""
    def when(moment: datetime | None) -> str:
        return clock.iso_local(moment, contest.tz) if moment else "unset"  # type: ignore[return-value]

    return {"title": contest.title, "kind": contest.kind, "hashtags": ", ".join(f"#{h}" for h in contest.hashtags) or "none",
            "timezone": contest.timezone, "start": when(contest.start), "end": when(contest.end),
            "freeze": when(contest.freeze), "language": contest.language, "feed": contest.feed.kind,
            "teams": ", ".join(f"{t.name} ({t.account_id})" for t in contest.teams) or "none",
            "trophies": ", ".join(f"{t.name} ({t.metric}, {t.count})" for t in contest.trophies) or "none"}


def contest_changes(stored: Contest, loaded: Contest) -> list[str]:
    """Each term that differs between the ``stored`` contest and the ``loaded`` one, as
    ``"term: old → new"`` texts (empty when none changed)."""
    old, new = _terms(stored), _terms(loaded)
    return [f"{term}: {old[term]} → {new[term]}" for term in new if old[term] != new[term]]


def load_contest(db: sqlite_utils.Database) -> Contest | None:
    """Return the stored contest (rules included), or None before ``derby init``."""
    row = next(db.query("SELECT * FROM contest WHERE id = 1"), None)
    if row is None:
        return None
    feed = json.loads(row["feed"])
    return Contest(
        title=row["title"], hashtags=tuple(json.loads(row["hashtags"])), timezone=row["timezone"],
        start=clock.from_store(row["start_at"]), end=clock.from_store(row["end_at"]),  # type: ignore[arg-type]
        feed=FeedConfig(kind=feed["kind"], path=Path(feed["path"]) if feed.get("path") else None,
                        page_cap=feed["page_cap"], timeout=feed["timeout"],
                        deadline=feed.get("deadline", 600.0)),
        language=row["language"], rules=read_rules(db),
        source=Path(row["source"]) if row["source"] else None,
        schedule=Schedule(*(load_schedule(db) or (Schedule().every, Schedule().grace))),
        count_engagement_until=clock.from_store(row.get("count_engagement_until")),
        kind=row.get("kind") or "hashtag",
        teams=tuple(load_teams(db)) if row.get("kind") == "teams" else (),
        trophies=tuple(Trophy(**t) for t in json.loads(row.get("trophies") or "[]")),
        refresh=RefreshConfig(**json.loads(row["refresh"])) if row.get("refresh") else RefreshConfig(),
        terms=contest_terms.from_record(json.loads(row["terms"]) if row.get("terms") else None),
    )


def set_rule(db: sqlite_utils.Database, name: str, value: object, now: datetime, *, by: str = "unknown",
             reason: str | None = None, action: str = "rule_set") -> dict | None:
    """Put rule ``name`` = ``value`` in force from ``now``, recording the change (who,
    when, why, old and new value) in the rule history and the audit log.

    The value is validated first (raises ValueError naming the rule). Setting the value
    already in force records nothing and returns None; otherwise returns the change as
    a dict (``name, old_value, new_value, changed_at, changed_by, reason``).
    """
    value = rule_kinds.validate_rule(name, value)
    with write(db):
        old = _rules_at(db, None).get(name, _MISSING)
        if old is not _MISSING and rule_kinds.encode(old) == rule_kinds.encode(value):
            return None
        when = clock.to_store(now)
        change = {"name": name, "old_value": None if old is _MISSING else rule_kinds.encode(old),
                  "new_value": rule_kinds.encode(value), "changed_at": when, "changed_by": by, "reason": reason}
        db["rule_changes"].insert(change)
        db["rules"].upsert({"name": name, "value": rule_kinds.encode(value), "updated_at": when}, pk="name")
        was = "unset" if old is _MISSING else rule_kinds.format_value(old)
        record_audit(db, now, by, action, name,
               f"{name}: {was} → {rule_kinds.format_value(value)}" + (f" ({reason})" if reason else ""),
               {"old": None if old is _MISSING else old, "new": value, "reason": reason})
        rebuild_entry_scores(db)
    return change


_MISSING = object()


def _rules_from(db: sqlite_utils.Database, by: str) -> dict[str, object]:
    """Return the last value each rule got from ``by`` (the contest file)."""
    sql = """SELECT name, new_value FROM rule_changes c
             WHERE id = (SELECT max(id) FROM rule_changes WHERE name = c.name AND changed_by = :by)"""
    return {row["name"]: rule_kinds.decode(row["new_value"]) for row in db.query(sql, {"by": by})}


def has_rule_history(db: sqlite_utils.Database) -> bool:
    """Return True once any rule was recorded (seeded or set)."""
    return next(db.query("SELECT 1 AS one FROM rule_changes LIMIT 1"), None) is not None


def _rules_at(db: sqlite_utils.Database, as_of: datetime | None) -> dict[str, object]:
    sql = """SELECT name, new_value FROM rule_changes c
             WHERE id = (SELECT id FROM rule_changes WHERE name = c.name AND changed_at <= :cutoff
                         ORDER BY changed_at DESC, id DESC LIMIT 1)"""
    cutoff = clock.to_store(as_of) if as_of else "9999"
    return {row["name"]: rule_kinds.decode(row["new_value"]) for row in db.query(sql, {"cutoff": cutoff})
            if row["name"] in rule_kinds.RULE_KINDS}


def read_rules(db: sqlite_utils.Database, as_of: datetime | None = None) -> dict[str, object]:
    """Return every rule in force (at ``as_of``, aware, when given): recorded values,
    the kind's default for the others."""
    kind = db.execute("SELECT kind FROM contest WHERE id = 1").fetchone()
    return rule_kinds.effective_rules(_rules_at(db, as_of), kind[0] if kind else "hashtag")


def rules_in_force(db: sqlite_utils.Database, as_of: datetime | None = None, *,
                   contest: tuple[str, bool] | None = None) -> rule_kinds.Rules:
    """Return the rules in force (at ``as_of``, aware, when given) as one typed value:
    the per-entry formula's (in a team contest, those of its posts, see
    :func:`derby.rules.team_post_values`; the team rules are :func:`read_rules`').
    ``contest`` is ``(kind, has hashtags)`` when the caller read them already.
    Raises ValueError when a stored value is not valid for its kind."""
    values = _rules_at(db, as_of)
    if contest is None:
        row = db.execute("SELECT kind, hashtags FROM contest WHERE id = 1").fetchone()
        contest = (row[0], bool(json.loads(row[1]))) if row else ("hashtag", True)
    if contest[0] == "teams":
        values = rule_kinds.team_post_values(values, contest[1])
    return rule_kinds.Rules.from_values(values)


def stored_rule_names(db: sqlite_utils.Database) -> set[str]:
    """Return the names of rules that have a recorded value (the others are defaults)."""
    return set(_rules_at(db, None))


def rule_history(db: sqlite_utils.Database, name: str | None = None) -> list[dict]:
    """Return every recorded rule change, oldest first (only rule ``name`` when given).

    Keys: ``id, name, old_value, new_value`` (decoded), ``first`` (True when the rule
    had no value before), ``changed_at`` (aware UTC), ``changed_by, reason``.
    """
    sql = "SELECT * FROM rule_changes" + (" WHERE name = :name" if name else "") + " ORDER BY id"
    rows = []
    for row in db.query(sql, {"name": name}):
        row["first"] = row["old_value"] is None
        row["old_value"] = rule_kinds.decode(row["old_value"])
        row["new_value"] = rule_kinds.decode(row["new_value"])
        row["changed_at"] = clock.from_store(row["changed_at"])
        rows.append(row)
    return rows


# -- hashtags --------------------------------------------------------------------------

def hashtag_id(db: sqlite_utils.Database, name: str) -> str | None:
    """Return the stored Graph id of hashtag ``name``, or None when not resolved yet."""
    row = next(db.query("SELECT hashtag_id FROM hashtags WHERE name = ?", [name]), None)
    return row["hashtag_id"] if row else None


def save_hashtag_id(db: sqlite_utils.Database, name: str, graph_id: str, now: datetime) -> None:
    """Store the Graph id of hashtag ``name`` (ids never change, so once is enough)."""
    with write(db):
        db["hashtags"].upsert({"name": name, "hashtag_id": graph_id, "resolved_at": clock.to_store(now)}, pk="name")
