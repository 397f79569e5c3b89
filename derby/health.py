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
from collections.abc import Callable
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
from derby.health_text import LINES, PROBLEMS
from derby.units import is_singular

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


def judge(facts: Facts, lang: str = "en") -> list[dict]:
    """Return the problems ``facts`` show, each ``{"level", "message"}``; level
    ``degraded`` or ``action_needed``; messages in ``lang`` (``fr`` or ``en``; derby's
    stored error texts and the platform's are quoted as they came)."""
    f, problems, say = facts, [], _sayer(facts, lang)

    def problem(level: str, key: str, **values) -> None:
        problems.append({"level": level, "message": say(key, **values)})

    if f.lock_held is None:
        problem("degraded", "lock_unknown", lock=lock_path(f.db_path))
    elif f.phase in ("running", "grace", "final_poll_due") and not f.running:
        problem("degraded", "not_polling")
    last = f.last
    left = last is not None and (last.get("left_running") or (last["status"] == "running" and f.lock_held is False))
    if left:
        problem("degraded", "left_running", id=last["id"])
    elif last is not None and last["status"] not in ("ok", "running"):
        problem("degraded", "last_failed", id=last["id"], status=say(f"ended_{last['status']}"),
                error=last["error"] or say("no_error"))
    cooldown = cooldown_until(f)
    if cooldown is not None:
        problem("degraded", "cooldown", when=cooldown)
    action = auth_action(f)
    if action:
        problems.append({"level": "action_needed", "message": action})
    for key, values in _coverage_problems(f):
        problem("degraded", key, **values)
    for notice in expiry.notices(f.tokens, f.now):
        problems.append({"level": "action_needed" if notice.expired else "degraded",
                         "message": expiry.message(notice, lang, f.contest.tz)})
    for line in (f.teams or {}).get("problems", []):
        problem(line["level"], "team_failed", **line["values"])
    for source, (reason, since) in sorted((f.refresh_off or {}).items()):
        problem("degraded", "refresh_off", source=source, since=since, reason=reason)
    return problems


def _sayer(facts: Facts, lang: str) -> Callable[..., str]:
    """A function that words problem ``key`` in ``lang`` with ``values``; times (aware
    datetimes among them) in the contest's zone with its offset
    (``2017-04-03 14:05 (UTC−4)`` in English, ``3 avril 2017, 14 h 05 (UTC−4)`` in French)."""
    words = PROBLEMS["fr" if lang == "fr" else "en"]

    def say(key: str, **values) -> str:
        shown = {k: clock.format_local(v, facts.contest.tz, "fr" if lang == "fr" else "en")
                 if isinstance(v, datetime) else v for k, v in values.items()}
        if "hours" in shown:
            shown["hours"] = f"{shown['hours']:.1f}".replace(".", "," if lang == "fr" else ".")
        return words[key].format(**shown)

    return say


def _coverage_problems(f: Facts) -> list[tuple[str, dict]]:
    found = []
    if f.closed is None:
        for stale in stale_coverage(f.contest, f.coverage, f.now):
            if stale.lost_at > f.now:
                found.append(("stale_ahead", {"tag": stale.hashtag, "since": stale.since, "lost": stale.lost_at}))
            else:
                found.append(("stale_lost", {"tag": stale.hashtag, "since": stale.since,
                                             "limit": f.now - timedelta(hours=24)}))
    for gap in (g for g in f.gaps if not g.acknowledged):  # acknowledged gaps are known: no alert
        found.append(("gap", {"tag": gap.hashtag, "start": gap.gap_from, "end": gap.gap_to, "hours": gap.hours}))
    return found


def report(db: sqlite_utils.Database, contest: Contest, now: datetime, db_path: str | Path | None = None,
           account: str | None = None, lang: str = "en") -> dict:
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
    bytes: the file with its WAL, counts). Problems are worded in ``lang``.
    """
    facts = gather(db, contest, now, db_path, account)
    return as_dict(facts, judge(facts, lang))


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


def _duration(seconds: int, day: str = "d") -> str:
    days, rest = divmod(abs(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    return (f"{days} {day} " if days else "") + f"{hours} h {minutes:02d} min"


def render_text(data: dict, lang: str = "en") -> list[str]:
    """Return the report as lines for a person in ``lang`` (``fr`` or ``en``), times in
    the contest's zone with its offset."""
    tz, w = clock.zone(data["contest"]["timezone"]), LINES["fr" if lang == "fr" else "en"]

    def local(text: str | None) -> str:
        return clock.format_local(clock.from_store(text), tz, lang) if text else w["never"]

    def on(text: str | None) -> str:  # "le 3 avril 2017, …" in French
        return w["on"].format(when=local(text)) if text else w["never"]

    def hours(value: float) -> str:
        return f"{value:.1f}".replace(".", ",") if lang == "fr" else f"{value:.1f}"

    def words(count: int, one: str, many: str) -> str:
        return w[one] if is_singular(count, lang) else w[many]

    c, d = data["contest"], data["daemon"]
    left = w["left"].format(duration=_duration(c["seconds_left"], w["day"])) if c["seconds_left"] is not None else ""
    phase = w["phase_closed" if c["phase"] == "closed" else c["phase"]]
    lines = [w["contest"].format(title=display_text(c["title"]), phase=phase, left=left,
                                 until=w.get(f"until_{c['phase']}", "")).rstrip()
             + (w["closed"].format(when=on(c["closed_at"])) if c["closed_at"] else "")]
    polling = not d["next_poll_at"] and (data["last_poll"] or {}).get("status") == "running"
    lines.append(w["daemon_running"].format(pid=d["pid"], host=d["host"], since=on(d["since"]),
                                            next=w["next_polling"] if polling else on(d["next_poll_at"]))
                 if d["running"] else w["daemon_stopped"])
    for key in ("last_poll", "last_successful_poll"):
        p = data[key]
        lines.append(w["poll_none"].format(label=w[key]) if p is None else w["poll"].format(
            label=w[key], id=p["id"], status=w["status_running" if p["status"] == "running" else p["status"]],
            when=on(p["started_at"]), new=p["new_media"], new_w=words(p["new_media"], "new", "news"),
            updated=p["updated_media"])
            + (w["poll_error"].format(error=p["error"]) if p and p["error"] and p["status"] != "ok" else ""))
    lines.append(w["cooldown"].format(what=w["cooldown_until"].format(when=local(data["cooldown_until"]))
                                      if data["cooldown_until"] else w["none"]))
    lines.append(w["token"].format(state=w[f"token_{data['token']}"]) + (f" ({data['action']})" if data["action"] else ""))
    lines.append(_budget_line(data, w, on))
    for team in data.get("teams") or []:
        last = team["last_read"]
        lines.append(w["team"].format(name=display_text(team["name"]), account=team["account_id"], when=on(team["last_ok"]))
                     + (w["team_failures"].format(n=team["failures"]) if team["failures"] else "")
                     + (w["team_error"].format(error=display_text(last["error"]))
                        if last and last["status"] == "failed" else ""))
    if data["coverage"]:
        lines.append(w["coverage"].format(reads=", ".join(w["coverage_read"].format(tag=h, when=on(t))
                                                          for h, t in data["coverage"].items())))
    gaps = data["coverage_gaps"]
    lines.append(w["gaps"].format(gaps=w["no_gaps"] if not gaps else "; ".join(w["gap"].format(
        tag=g["hashtag"], start=local(g["from"]), end=local(g["to"]), hours=hours(g["hours"]),
        ack=w["ack"] if g.get("acknowledged") else "") for g in gaps)))
    counts = data["database"]["counts"]
    size = f"{data['database']['bytes'] / 1e6:.1f}"
    lines.append(w["database"].format(mb=size.replace(".", ",") if lang == "fr" else size,
                                      media=counts["media"], media_w=words(counts["media"], "medium", "media"),
                                      snapshots=counts["snapshots"], snapshots_w=words(counts["snapshots"], "snapshot", "snapshots"),
                                      polls=counts["poll_runs"], polls_w=words(counts["poll_runs"], "poll_run", "poll_runs")))
    for p in data["problems"]:
        lines.append(w["problem"].format(level=w[p["level"]], message=p["message"]))
    lines.append(w["health"].format(state=w[f"health_{data['health']}"]))
    return lines


def _budget_line(data: dict, w: dict[str, str], on: Callable[[str | None], str]) -> str:
    b = data["hashtag_budget"]
    if b is None:
        return w["budget_teams"] if data.get("teams") else w["budget_unknown"]
    return (w["budget"].format(used=b["used"], limit=b["limit"], account=b["account"])
            + (w["budget_next"].format(when=on(b["next_free"])) if b["next_free"] else ""))


def team_health(db: sqlite_utils.Database, contest: Contest) -> dict:
    """Return a team contest's per-team read health: ``teams`` (name, account_id,
    last_ok, failures since, last_read ``{status, at, error_kind, error}``) and
    ``problems`` naming each team whose last read failed (``{"level", "values"}``:
    ``action_needed`` when its token or permissions must be fixed; the values of the
    ``team_failed`` problem: name, account, error). Empty for a hashtag contest."""
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
            problems.append({"level": level, "values": {"name": team.name, "account": team.account_id,
                                                        "error": last["error"]}})
    return {"teams": teams, "problems": problems}
