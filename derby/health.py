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
from datetime import datetime, timedelta
from pathlib import Path

import sqlite_utils

from derby import clock, store
from derby.config import Contest
from derby.poller import COVERAGE_WARNING, final_poll_at, holder_alive
from derby.text import display_text

EXIT_CODES = {"ok": 0, "degraded": 1, "action_needed": 2}


def _iso(dt: datetime | None) -> str | None:
    return clock.to_store(dt) if dt else None


def phase(contest: Contest, now: datetime, closed: bool) -> str:
    """Return ``not_started``, ``running``, ``grace`` (after the end, still polling for
    late-found posts and engagement), ``final_poll_due`` (final poll not done yet) or
    ``closed``."""
    if closed:
        return "closed"
    if now < contest.start:
        return "not_started"
    if now <= contest.end:
        return "running"
    if now < final_poll_at(contest):
        return "grace"
    return "final_poll_due"


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
    problems: list[dict] = []

    def problem(level: str, message: str) -> None:
        problems.append({"level": level, "message": message})

    closed = store.contest_closed(db)
    current = phase(contest, now, closed is not None)
    closes_at = final_poll_at(contest)
    target = {"not_started": contest.start, "running": contest.end, "grace": closes_at}.get(current)
    during = current in ("running", "grace", "final_poll_due")

    holder = store.lock_holder(db)
    running = holder is not None and holder_alive(holder, now)
    daemon = {"running": running, "pid": None, "host": None, "since": None, "heartbeat_at": None, "next_poll_at": None}
    if holder is not None and running:
        daemon.update(pid=holder.pid, host=holder.host, since=_iso(holder.since), heartbeat_at=_iso(holder.heartbeat_at),
                      next_poll_at=_iso(holder.next_poll_at))
    if during and not running:
        problem("degraded", "no derby run is polling this database during the contest: start it (systemctl start derby)")

    last = store.last_poll_run(db)
    last_ok = store.last_poll_run(db, successful=True)
    if last is not None and last["status"] not in ("ok", "running"):
        problem("degraded", f"the last poll (#{last['id']}) ended {last['status']}: {last['error'] or 'no error text'}")

    cooldown = None
    active = store.active_cooldown(db, account, now) if account else None
    for candidate in (holder.resume_at if holder and running else None,
                      clock.from_store(last["cooldown_until"]) if last and last.get("cooldown_until") else None,
                      active["until"] if active else None):
        if candidate is not None and candidate > now:
            cooldown = max(cooldown or candidate, candidate)
    if cooldown is not None:
        problem("degraded", f"the feed asked to cool down: no poll before {_iso(cooldown)}")

    action = last["error"] if last and last.get("error_kind") == "auth" else None
    if action:
        problem("action_needed", action)
    token = "action_needed" if action else ("ok" if last_ok else "unknown")

    coverage = store.last_coverage(db)
    if current in ("running", "grace", "final_poll_due") and now >= contest.start:
        for name in contest.hashtags:
            since = coverage.get(name) or contest.start
            if min(now, contest.end) - since >= COVERAGE_WARNING:
                deadline = since + timedelta(hours=24)
                if deadline > now:
                    problem("degraded", f"no successful poll of #{name} since {_iso(since)}: posts are lost for good "
                                        f"unless a poll succeeds before {_iso(deadline)}")
                else:
                    problem("degraded", f"no successful poll of #{name} since {_iso(since)}: posts published between "
                                        f"then and {_iso(now - timedelta(hours=24))} are out of recent_media's "
                                        "24-hour reach; only top_media may still show some")
    gaps = store.coverage_gaps(db)
    for gap in (g for g in gaps if not g.acknowledged):  # acknowledged gaps are known: no alert
        problem("degraded", f"coverage gap on #{gap.hashtag}: posts from {_iso(gap.gap_from)} to {_iso(gap.gap_to)} "
                            f"({gap.hours:.1f} h) may be lost")

    budget = store.hashtag_budget(db, account, now) if account else None
    size = 0
    if db_path is not None and str(db_path) != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            try:
                size += os.path.getsize(f"{db_path}{suffix}")
            except OSError:
                pass
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
        "last_poll": _poll(last),
        "last_successful_poll": _poll(last_ok),
        "cooldown_until": _iso(cooldown),
        "token": token,
        "action": action,
        "hashtag_budget": None if budget is None else {
            "account": budget.account, "used": budget.used, "limit": budget.limit, "hashtags": list(budget.hashtags),
            "next_free": _iso(budget.next_free)},
        "coverage": {name: _iso(coverage.get(name)) for name in contest.hashtags},
        "coverage_gaps": [{"hashtag": g.hashtag, "from": _iso(g.gap_from), "to": _iso(g.gap_to), "hours": round(g.hours, 2),
                           "acknowledged": g.acknowledged} for g in gaps],
        "database": {"path": str(db_path) if db_path else None, "bytes": size, "counts": store.counts(db)},
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
    lines.append("hashtag budget: unknown (INSTAGRAM_USER_ID not set)" if b is None else
                 f"hashtag budget: {b['used']} of {b['limit']} used in the last 7 days by account {b['account']}"
                 + (f", next slot frees {local(b['next_free'])}" if b["next_free"] else ""))
    lines.append("coverage: " + ", ".join(f"#{h} read {local(t)}" for h, t in data["coverage"].items()))
    gaps = data["coverage_gaps"]
    lines.append("coverage gaps: " + ("none" if not gaps else "; ".join(
        f"#{g['hashtag']} {local(g['from'])} → {local(g['to'])} ({g['hours']:.1f} h"
        f"{', acknowledged' if g.get('acknowledged') else ''})" for g in gaps)))
    db = data["database"]
    counts = db["counts"]
    lines.append(f"database: {db['bytes'] / 1e6:.1f} MB; {counts['media']} media, {counts['snapshots']} snapshots, "
                 f"{counts['poll_runs']} poll runs")
    for p in data["problems"]:
        lines.append(f"{'ACTION' if p['level'] == 'action_needed' else 'warning'}: {p['message']}")
    lines.append(f"health: {data['health']}")
    return lines
