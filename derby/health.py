"""The daemon's health, for ``derby status``: what a person or a monitoring check needs
to know about a contest database, read from the store.

:func:`report` returns a plain dict (times as ISO 8601 UTC text) with a ``health``
verdict and its exit status: 0 healthy, 1 degraded (a coverage gap, a stale or failed
poll, a cool-down, the daemon not running during the contest), 2 a person must act (the
feed refused the token or a permission). :func:`render_text` turns it into lines.
No rich, no HTTP; the CLI prints and exits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import sqlite_utils

from derby import clock, store
from derby import tokens as expiry
from derby.config import Contest
from derby.lock import is_held, lock_path
from derby.text import display_text
from derby.timeline import final_poll_at, phase, stale_coverage
from derby.units import plural

EXIT_CODES = {"ok": 0, "degraded": 1, "action_needed": 2}

__all__ = ["EXIT_CODES", "Facts", "gather", "judge", "phase", "render_text", "report"]


def _iso(dt: datetime | None) -> str | None:
    return clock.to_store(dt) if dt else None


@dataclass
class Facts:
    """What the store says about a contest database at ``now``, read once: the basis
    of a health report. Times are aware UTC."""

    contest: Contest
    now: datetime
    closed: dict | None
    holder: store.LockHolder | None
    running: bool  # the lock row's process holds the lock file (derby.lock's one liveness rule)
    last: dict | None
    last_ok: dict | None
    active_cooldown: dict | None
    coverage: dict[str, datetime]
    gaps: list[store.CoverageGap]
    budget: store.HashtagBudget | None
    db_path: str | Path | None
    size: int
    counts: dict[str, int]
    lock_held: bool | None = False  # a process holds the file lock (None: this user cannot open the lock file)
    tokens: list[dict] = field(default_factory=list)  # store.token_expiries rows
    teams: dict | None = None  # a team contest's per-team reads (see team_health)
    refresh_off: dict[str, tuple[str, datetime]] | None = None  # refresh sources a permission refusal turned off

    @property
    def phase(self) -> str:
        return phase(self.contest, self.now, self.closed is not None)


def gather(db: sqlite_utils.Database, contest: Contest, now: datetime, db_path: str | Path | None = None,
           account: str | None = None) -> Facts:
    """Read what a health report needs from the store (and the database file's size)."""
    holder = store.lock_holder(db)
    held = is_held(db_path) if db_path is not None else False
    return Facts(
        contest=contest, now=now, closed=store.contest_closed(db), holder=holder,
        running=holder is not None and held is True, lock_held=held,
        last=store.last_poll_run(db), last_ok=store.last_poll_run(db, successful=True),
        active_cooldown=store.active_cooldown(db, account, now) if account else None,
        coverage=store.last_coverage(db), gaps=store.coverage_gaps(db),
        budget=store.hashtag_budget(db, account, now) if account and contest.kind != "teams" else None,
        db_path=db_path, size=_file_size(db_path), counts=store.counts(db), teams=team_health(db, contest),
        refresh_off=store.disabled_sources(db), tokens=store.token_expiries(db))


def _file_size(db_path: str | Path | None) -> int:
    """Bytes of the database file with its WAL and shared-memory files (0 in memory)."""
    size = 0
    if db_path is not None and str(db_path) != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            try:
                size += os.path.getsize(f"{db_path}{suffix}")
            except OSError:
                pass
    return size


def cooldown_until(facts: Facts) -> datetime | None:
    """The latest cool-down end still ahead: the daemon's, the last poll's or the account's."""
    f, last, until = facts, facts.last, None
    for candidate in (f.holder.resume_at if f.holder and f.running else None,
                      clock.from_store(last["cooldown_until"]) if last and last.get("cooldown_until") else None,
                      f.active_cooldown["until"] if f.active_cooldown else None):
        if candidate is not None and candidate > f.now:
            until = max(until or candidate, candidate)
    return until


def auth_action(facts: Facts) -> str | None:
    """What a person must fix when the last poll's token or permission was refused."""
    last = facts.last
    return last["error"] if last and last.get("error_kind") == "auth" else None


def judge(facts: Facts) -> list[dict]:
    """Return the problems ``facts`` show, each ``{"level", "message"}``; level
    ``degraded`` or ``action_needed``."""
    f, problems = facts, []

    def problem(level: str, message: str) -> None:
        problems.append({"level": level, "message": message})

    if f.lock_held is None:
        problem("degraded", f"cannot tell whether derby run is polling: {lock_path(f.db_path)} cannot be opened by "
                            "this user; run derby status as the daemon's user (sudo -u derby …)")
    elif f.phase in ("running", "grace", "final_poll_due") and not f.running:
        problem("degraded", "no derby run is polling this database during the contest: start it (systemctl start derby)")
    last = f.last
    left = last is not None and (last.get("left_running") or (last["status"] == "running" and f.lock_held is False))
    if left:
        problem("degraded", f"poll #{last['id']} was left running by a process that ended; its stored pages are kept, "
                            "and the next command that writes marks it interrupted")
    elif last is not None and last["status"] not in ("ok", "running"):
        problem("degraded", f"the last poll (#{last['id']}) ended {last['status']}: {last['error'] or 'no error text'}")
    cooldown = cooldown_until(f)
    if cooldown is not None:
        problem("degraded", f"the feed asked to cool down: no poll before {_iso(cooldown)}")
    action = auth_action(f)
    if action:
        problem("action_needed", action)
    for message in _coverage_problems(f):
        problem("degraded", message)
    for notice in expiry.notices(f.tokens, f.now):
        problem("action_needed" if notice.expired else "degraded", expiry.message(notice, "en", f.contest.tz))
    for line in (f.teams or {}).get("problems", []):
        problem(line["level"], line["message"])
    for source, (reason, since) in sorted((f.refresh_off or {}).items()):
        problem("degraded", f"{source} refreshes are off since {_iso(since)}: {reason}")
    return problems


def _coverage_problems(f: Facts) -> list[str]:
    messages = []
    if f.closed is None:
        for stale in stale_coverage(f.contest, f.coverage, f.now):
            if stale.lost_at > f.now:
                messages.append(f"no successful poll of #{stale.hashtag} since {_iso(stale.since)}: posts are lost for "
                                f"good unless a poll succeeds before {_iso(stale.lost_at)}")
            else:
                messages.append(f"no successful poll of #{stale.hashtag} since {_iso(stale.since)}: posts published "
                                f"between then and {_iso(f.now - timedelta(hours=24))} are out of recent_media's "
                                "24-hour reach; only top_media may still show some")
    for gap in (g for g in f.gaps if not g.acknowledged):  # acknowledged gaps are known: no alert
        messages.append(f"coverage gap on #{gap.hashtag}: posts from {_iso(gap.gap_from)} to {_iso(gap.gap_to)} "
                        f"({gap.hours:.1f} h) may be lost")
    return messages


def report(db: sqlite_utils.Database, contest: Contest, now: datetime, db_path: str | Path | None = None,
           account: str | None = None) -> dict:
    """Return the health report of the contest database at ``now`` (aware UTC).

    Keys: ``health`` (ok, degraded, action_needed), ``exit_code``, ``problems`` (list
    of ``{"level", "message"}``), ``contest`` (title, phase, start, end, closes_at,
    closed_at, seconds_left: to the start, the end or the final poll by phase),
    ``daemon`` (running, pid, host, since, heartbeat_at, next_poll_at), ``last_poll``
    and ``last_successful_poll`` (id, started_at, finished_at, status, new_media,
    updated_media, error; or None), ``cooldown_until``, ``token`` (``ok``,
    ``unknown`` or ``action_needed``) and ``action``, ``hashtag_budget`` of
    ``account`` (used, limit, hashtags, next_free; None without an account),
    ``coverage`` (hashtag -> last
    full read), ``coverage_gaps`` (hashtag, from, to, hours), ``database`` (path,
    bytes: the file with its WAL, counts).
    """
    facts = gather(db, contest, now, db_path, account)
    return as_dict(facts, judge(facts))


def as_dict(f: Facts, problems: list[dict]) -> dict:
    """The report of :func:`report` from gathered facts and judged problems."""
    contest, now, closed, holder, budget = f.contest, f.now, f.closed, f.holder, f.budget
    current, closes_at = f.phase, final_poll_at(f.contest)
    target = {"not_started": contest.start, "running": contest.end, "grace": closes_at}.get(current)
    daemon = {"running": f.running, "pid": None, "host": None, "since": None, "heartbeat_at": None, "next_poll_at": None}
    if holder is not None and f.running:
        daemon.update(pid=holder.pid, host=holder.host, since=_iso(holder.since), heartbeat_at=_iso(holder.heartbeat_at),
                      next_poll_at=_iso(holder.next_poll_at))
    action = auth_action(f)
    health = ("action_needed" if any(p["level"] == "action_needed" for p in problems)
              else "degraded" if problems else "ok")
    return {
        "health": health,
        "exit_code": EXIT_CODES[health],
        "now": _iso(now),
        "problems": problems,
        "contest": {
            "title": contest.title, "timezone": contest.timezone, "phase": current,
            "start": _iso(contest.start), "end": _iso(contest.end), "closes_at": _iso(closes_at),
            "closed_at": _iso(closed["closed_at"]) if closed else None,
            "seconds_left": int((target - now).total_seconds()) if target else None,
        },
        "daemon": daemon,
        "last_poll": _poll(f.last),
        "last_successful_poll": _poll(f.last_ok),
        "cooldown_until": _iso(cooldown_until(f)),
        "token": "action_needed" if action else ("ok" if f.last_ok else "unknown"),
        "action": action,
        "hashtag_budget": None if budget is None else {
            "account": budget.account, "used": budget.used, "limit": budget.limit, "hashtags": list(budget.hashtags),
            "next_free": _iso(budget.next_free)},
        "coverage": {name: _iso(f.coverage.get(name)) for name in contest.hashtags} if contest.kind != "teams" else {},
        "coverage_gaps": [{"hashtag": g.hashtag, "from": _iso(g.gap_from), "to": _iso(g.gap_to), "hours": round(g.hours, 2),
                           "acknowledged": g.acknowledged} for g in f.gaps],
        "database": {"path": str(f.db_path) if f.db_path else None, "bytes": f.size, "counts": f.counts},
        **({"teams": f.teams["teams"]} if contest.kind == "teams" else {}),
    }


def _poll(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {k: row[k] for k in ("id", "started_at", "finished_at", "status", "new_media", "updated_media", "error")}


def _duration(seconds: int) -> str:
    days, rest = divmod(abs(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    return (f"{days} d " if days else "") + f"{hours} h {minutes:02d} min"


def render_text(data: dict) -> list[str]:
    """Return the report as lines for a person, times in the contest's zone."""
    tz = clock.zone(data["contest"]["timezone"])

    def local(text: str | None) -> str:
        return clock.format_local(clock.from_store(text), tz, "en") if text else "never"

    c = data["contest"]
    left = f", {_duration(c['seconds_left'])} left" if c["seconds_left"] is not None else ""
    until = {"not_started": "until the start", "running": "until the end", "grace": "until the final poll"}.get(c["phase"], "")
    lines = [f"contest: {display_text(c['title'])}: {c['phase'].replace('_', ' ')}{left} {until}".rstrip()
             + (f" (closed {local(c['closed_at'])})" if c["closed_at"] else "")]
    d = data["daemon"]
    if d["running"]:
        lines.append(f"daemon: running, pid {d['pid']} on {d['host']} since {local(d['since'])}; "
                     f"next poll {local(d['next_poll_at'])}")
    else:
        lines.append("daemon: not running")
    for label, key in (("last poll", "last_poll"), ("last successful poll", "last_successful_poll")):
        p = data[key]
        if p is None:
            lines.append(f"{label}: never")
        else:
            lines.append(f"{label}: #{p['id']} {p['status']} at {local(p['started_at'])}, "
                         f"{p['new_media']} new and {p['updated_media']} updated media"
                         + (f"; error: {p['error']}" if p["error"] and p["status"] != "ok" else ""))
    lines.append(f"cool-down: {'until ' + local(data['cooldown_until']) if data['cooldown_until'] else 'none'}")
    lines.append(f"token: {data['token']}" + (f" ({data['action']})" if data["action"] else ""))
    b = data["hashtag_budget"]
    lines.append(("hashtag budget: not used (a team contest makes no hashtag search)" if data.get("teams")
                  else "hashtag budget: unknown (INSTAGRAM_USER_ID not set)") if b is None else
                 f"hashtag budget: {b['used']} of {b['limit']} used in the last 7 days by account {b['account']}"
                 + (f", next slot frees {local(b['next_free'])}" if b["next_free"] else ""))
    for team in data.get("teams") or []:
        last = team["last_read"]
        lines.append(f"team {display_text(team['name'])} ({team['account_id']}): last read {local(team['last_ok'])}"
                     + (f"; {team['failures']} failed read(s) since" if team["failures"] else "")
                     + (f"; last error: {display_text(last['error'])}" if last and last["status"] == "failed" else ""))
    if data["coverage"]:
        lines.append("coverage: " + ", ".join(f"#{h} read {local(t)}" for h, t in data["coverage"].items()))
    gaps = data["coverage_gaps"]
    lines.append("coverage gaps: " + ("none" if not gaps else "; ".join(
        f"#{g['hashtag']} {local(g['from'])} → {local(g['to'])} ({g['hours']:.1f} h"
        f"{', acknowledged' if g.get('acknowledged') else ''})" for g in gaps)))
    db = data["database"]
    counts = db["counts"]
    lines.append(f"database: {db['bytes'] / 1e6:.1f} MB; {counts['media']} media, "
                 f"{plural(counts['snapshots'], 'snapshot')}, {plural(counts['poll_runs'], 'poll run')}")
    for p in data["problems"]:
        lines.append(f"{'ACTION' if p['level'] == 'action_needed' else 'warning'}: {p['message']}")
    lines.append(f"health: {data['health']}")
    return lines


def team_health(db: sqlite_utils.Database, contest: Contest) -> dict:
    """Return a team contest's per-team read health: ``teams`` (name, account_id,
    last_ok, failures since, last_read ``{status, at, error_kind, error}``) and
    ``problems`` naming each team whose last read failed (``action_needed`` when its
    token or permissions must be fixed). Empty for a hashtag contest."""
    if contest.kind != "teams":
        return {"teams": [], "problems": []}
    reads = store.team_reads(db)
    teams, problems = [], []
    for team in contest.teams:
        read = reads.get(team.account_id, {"last_ok": None, "last": None, "failures": 0})
        last = read["last"]
        teams.append({"name": team.name, "account_id": team.account_id, "last_ok": _iso(read["last_ok"]),
                      "failures": read["failures"], "last_read": None if last is None else {
                          "status": last["status"], "at": _iso(last["at"]), "error_kind": last["error_kind"],
                          "error": last["error"]}})
        if last is not None and last["status"] == "failed":
            level = "action_needed" if last["error_kind"] == "auth" else "degraded"
            problems.append({"level": level, "message": f"team “{team.name}” (account {team.account_id}) could not "
                                                        f"be read: {last['error']}"})
    return {"teams": teams, "problems": problems}
