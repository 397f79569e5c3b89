"""Standings from the store, and their rendering with rich.

``standings(db)`` computes the ranking when it is read, from the stored contest, rules
and snapshots, so a rule change needs no re-poll. ``render_table`` draws it with rich;
user text (captions, permalinks) goes in as ``rich.text.Text`` after
:func:`derby.text.display_text`, so it is never read as markup or escape codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from derby import clock, store
from derby.config import Contest
from derby.errors import DerbyError
from derby.scoring import ELIGIBLE, ScoredEntry, rank_entries
from derby.text import display_text, shortcode, shorten


@dataclass
class Standings:
    """A computed leaderboard: ``entries`` eligible first in rank order, then the rest;
    ``as_of`` is the moment it describes (aware UTC), ``rules`` the rules used."""

    contest: Contest
    entries: list[ScoredEntry]
    as_of: datetime
    rules: dict[str, object]

    @property
    def ranked(self) -> list[ScoredEntry]:
        return [e for e in self.entries if e.status == ELIGIBLE]


def standings(db: sqlite_utils.Database, now: datetime, as_of: datetime | None = None) -> Standings:
    """Compute the standings of the stored contest at ``as_of``.

    Scores use the snapshot frozen at the deadline (``contest.freeze``; see
    :func:`derby.store.read_entries`). With ``as_of`` (aware) the rules, moderation,
    entrants and poll data that existed at that moment are used, so data recorded
    later never changes the result. Without ``as_of`` everything stored is used and the
    standings describe the time of the last successful poll (``now`` when there was
    none).

    Raises DerbyError when the database has no contest (run ``derby init`` first).
    """
    contest = store.load_contest(db)
    if contest is None:
        raise DerbyError("this database has no contest yet; run: derby init config/socialderby.toml")
    rules = store.read_rules(db, as_of)
    entries = rank_entries(store.read_entries(db, as_of, contest.freeze), contest.hashtags, contest.start,
                           contest.end, rules)
    if as_of is None:
        last = store.last_poll_run(db, successful=True)
        as_of = clock.from_store(last["started_at"]) if last else now
    return Standings(contest=contest, entries=entries, as_of=as_of, rules=rules)


def select(board: Standings, top: int | None = None, show_all: bool = False) -> list[ScoredEntry]:
    """Return the entries to show: the top ``top`` ranked, plus every other stored
    entry when ``show_all``."""
    ranked = board.ranked[:top] if top else board.ranked
    return ranked + [e for e in board.entries if e.status != ELIGIBLE] if show_all else ranked


def entry_record(entry: ScoredEntry, contest: Contest) -> dict:
    """Return an entry as a plain dict for JSON and CSV.

    Keys: rank, media_id, permalink, username, display_name, score, like_count (None
    when hidden), comments_count, posted_at (ISO 8601 in the contest zone, with offset),
    media_type, status, reason, flags (list), tie_break (the key that separated a tied
    entry, else None), points (rule -> points), observed_at (ISO 8601, contest zone),
    caption (raw).
    """
    tz = contest.tz
    return {
        "rank": entry.rank, "media_id": entry.media_id, "permalink": entry.permalink,
        "username": entry.username, "score": _number(entry.score), "like_count": entry.like_count,
        "comments_count": entry.comments_count, "posted_at": clock.iso_local(entry.timestamp, tz),
        "media_type": entry.media_type, "status": entry.status, "reason": entry.reason,
        "flags": list(entry.flags), "tie_break": entry.tie_break, "display_name": entry.display_name,
        "points": {rule: _number(points) for rule, points in entry.points.items()},
        "observed_at": clock.iso_local(entry.observed_at, tz), "caption": entry.caption,
    }


def contest_record(board: Standings) -> dict:
    """Return the contest block of the JSON output (times ISO 8601 in contest zone)."""
    c = board.contest
    return {
        "title": c.title, "hashtags": list(c.hashtags), "timezone": c.timezone,
        "start": clock.iso_local(c.start, c.tz), "end": clock.iso_local(c.end, c.tz),
        "as_of": clock.iso_local(board.as_of, c.tz), "phase": c.phase(board.as_of),
        "engagement_counted_until": clock.iso_local(c.freeze, c.tz),
        "tie_break": list(board.rules.get("tie_break") or []),
        "rules": board.rules, "entries_stored": len(board.entries), "entries_ranked": len(board.ranked),
    }


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 4)


_LABELS = {
    "fr": {"rank": "Rang", "entry": "Participation", "caption": "Légende", "likes": "J'aime", "comments": "Comm.",
           "score": "Pointage", "posted": "Publiée le", "status": "Statut", "hidden": "masquées",
           "title": "Classement", "as_of": "au", "none": "Aucune participation classée pour l'instant.",
           "not_started": "à venir", "running": "en cours", "closed": "terminé"},
    "en": {"rank": "Rank", "entry": "Entry", "caption": "Caption", "likes": "Likes", "comments": "Comments",
           "score": "Score", "posted": "Posted", "status": "Status", "hidden": "hidden",
           "title": "Leaderboard", "as_of": "as of", "none": "No ranked entry yet.",
           "not_started": "not started", "running": "running", "closed": "closed"},
}
_STATUS_FR = {
    "no_timestamp": "sans date", "before_start": "avant le début", "after_end": "après la clôture",
    "no_caption": "sans légende", "missing_hashtag": "mot-clic absent",
    "disqualified": "disqualifiée", "missing_mention": "mention absente", "review": "à vérifier",
    "over_entrant_cap": "au-delà du maximum par participant·e",
}


def render_table(board: Standings, console: Console, *, top: int | None = None, show_all: bool = False,
                 lang: str | None = None) -> None:
    """Print the leaderboard as a rich table on ``console``.

    Columns are dropped when the console is narrow, least useful first: caption, then
    posted-at, then status.
    """
    lang = lang or board.contest.language
    labels = _LABELS[lang]
    contest = board.contest
    tz = contest.tz
    title = Text(display_text(contest.title), style="bold")
    caption = Text(f"{labels['title']} {labels['as_of']} {clock.format_local(board.as_of, tz, lang)}"
                   f" · {labels[contest.phase(board.as_of)]}")
    rows = select(board, top, show_all)
    if not rows:
        console.print(title)
        console.print(Text(labels["none"]))
        return
    status_label = (lambda e: e.status) if lang == "en" else (lambda e: _STATUS_FR.get(e.status, "classée"))
    # (label, minimum console width to show it, cell of an entry, column options)
    columns = [
        ("rank", 0, lambda e: Text(str(e.rank) if e.rank else "—"), {"justify": "right"}),
        ("entry", 0, lambda e: Text(shorten(display_text(e.username or shortcode(e.permalink) or e.media_id), 24)), {}),
        ("caption", 110, lambda e: Text(shorten(display_text(e.caption), 40)), {"overflow": "ellipsis", "max_width": 40}),
        ("likes", 0, lambda e: Text(labels["hidden"], style="italic dim") if e.like_count is None else Text(str(e.like_count)),
         {"justify": "right"}),
        ("comments", 0, lambda e: Text("—" if e.comments_count is None else str(e.comments_count)), {"justify": "right"}),
        ("score", 0, lambda e: Text(str(_number(e.score)), style="bold"), {"justify": "right"}),
        ("posted", 72 if not show_all else 96, lambda e: Text(clock.format_local(e.timestamp, tz, lang, offset=False)), {}),
    ]
    if show_all:
        columns.append(("status", 60, lambda e: Text(status_label(e).replace("_", " "), style="" if e.rank else "yellow"), {}))
    shown = [c for c in columns if console.width >= c[1]]
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAVY, expand=False)
    for key, _, _, options in shown:
        table.add_column(labels[key], no_wrap=True, **options)
    for entry in rows:
        table.add_row(*(cell(entry) for _, _, cell, _ in shown))
    console.print(table)


# -- issue 4: one entry explained -------------------------------------------------------

def explain_lines(board: Standings, media_id: str, moderation: list[dict]) -> list[str]:
    """Return the explanation of one entry as plain lines for a terminal: the entry,
    the snapshot used, each rule's contribution, the eligibility checks, the
    moderation history (``store.moderation_history`` rows) and the final rank. User
    text goes through :func:`derby.text.display_text`. Times in the contest zone.

    Raises DerbyError when ``media_id`` is not in the standings (stored after
    ``board.as_of``).
    """
    from derby.rules import TIE_BREAK_KEYS, format_value

    entry = next((e for e in board.entries if e.media_id == media_id), None)
    contest = board.contest
    tz = contest.tz
    if entry is None:
        raise DerbyError(f"entry {media_id} was not stored yet at {clock.format_local(board.as_of, tz, 'en')}")

    def when(dt: datetime | None) -> str:
        return clock.format_local(dt, tz, "en") or "unknown"

    who = f"@{display_text(entry.username)}" if entry.username else "entrant unknown (no entrant import matched)"
    if entry.display_name:
        who += f" ({display_text(entry.display_name)})"
    lines = [
        f"Entry {entry.media_id}  {display_text(entry.permalink) or '(no permalink)'}",
        f"  {who}",
        f"  posted {when(entry.timestamp)} · {entry.media_type or 'unknown media type'}",
        f"  caption: {shorten(display_text(entry.caption), 200) or '(none)'}",
        f"Standings as of {when(board.as_of)}; engagement counts until {when(contest.freeze)}",
    ]
    if entry.observed_at is None:
        lines.append("Snapshot used: none yet (no engagement recorded)")
    else:
        likes = "hidden" if entry.like_count is None else str(entry.like_count)
        late = ("  (observed late: first seen after engagement stopped counting, so its first snapshot is used)"
                if "observed_late" in entry.flags else "")
        lines.append(f"Snapshot used: observed {when(entry.observed_at)}: {likes} likes, "
                     f"{entry.comments_count if entry.comments_count is not None else 0} comments{late}")
    lines.append("Points:")
    width = max([len(c.rule) for c in entry.contributions] + [5])
    for c in entry.contributions:
        lines.append(f"  {c.rule:<{width}}  {c.basis:<40}  {_number(c.points):>8}")
    lines.append(f"  {'score':<{width}}  {'':<40}  {_number(entry.score):>8}")
    lines.append("Eligibility:")
    for check, passed, note in entry.checks:
        lines.append(f"  {'ok ' if passed else 'NO '} {check}: {display_text(note)}")
    lines.append("Moderation:" if moderation else "Moderation: none")
    for action in moderation:
        lines.append(f"  {when(action['at'])}  {action['action']} by {display_text(action['by'])}: "
                     f"{display_text(action['reason'])}")
    if entry.rank is not None:
        standing = f"Rank: {entry.rank} of {len(board.ranked)}"
        if entry.tie_break:
            standing += (f" (tied on score with a neighbour; separated by {entry.tie_break}: "
                         f"{TIE_BREAK_KEYS[entry.tie_break]})")
        lines.append(standing)
    else:
        lines.append(f"Rank: not ranked, {display_text(entry.reason)} [{entry.status}]")
    lines.append(f"Tie-break order: {format_value(list(board.rules.get('tie_break') or []))}")
    return lines
