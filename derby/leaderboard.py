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
from derby.text import display_text, shorten


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
    """Compute the standings of the stored contest at ``as_of`` (default: all data).

    Raises DerbyError when the database has no contest (run ``derby init`` first).
    """
    contest = store.load_contest(db)
    if contest is None:
        raise DerbyError("this database has no contest yet; run: derby init config/socialderby.toml")
    rules = store.read_rules(db)
    entries = rank_entries(store.read_entries(db, as_of), contest.hashtags, contest.start, contest.end, rules)
    return Standings(contest=contest, entries=entries, as_of=as_of or now, rules=rules)


def select(board: Standings, top: int | None = None, show_all: bool = False) -> list[ScoredEntry]:
    """Return the entries to show: the top ``top`` ranked, plus every other stored
    entry when ``show_all``."""
    ranked = board.ranked[:top] if top else board.ranked
    return ranked + [e for e in board.entries if e.status != ELIGIBLE] if show_all else ranked


def entry_record(entry: ScoredEntry, contest: Contest) -> dict:
    """Return an entry as a plain dict for JSON and CSV.

    Keys: rank, media_id, permalink, username, score, like_count (None when hidden),
    comments_count, posted_at (ISO 8601 in the contest zone, with offset), media_type,
    status, reason, flags (list), observed_at (ISO 8601, contest zone), caption (raw).
    """
    tz = contest.tz
    return {
        "rank": entry.rank, "media_id": entry.media_id, "permalink": entry.permalink,
        "username": entry.username, "score": _number(entry.score), "like_count": entry.like_count,
        "comments_count": entry.comments_count, "posted_at": clock.iso_local(entry.timestamp, tz),
        "media_type": entry.media_type, "status": entry.status, "reason": entry.reason,
        "flags": list(entry.flags), "observed_at": clock.iso_local(entry.observed_at, tz),
        "caption": entry.caption,
    }


def contest_record(board: Standings) -> dict:
    """Return the contest block of the JSON output (times ISO 8601 in contest zone)."""
    c = board.contest
    return {
        "title": c.title, "hashtags": list(c.hashtags), "timezone": c.timezone,
        "start": clock.iso_local(c.start, c.tz), "end": clock.iso_local(c.end, c.tz),
        "as_of": clock.iso_local(board.as_of, c.tz), "phase": c.phase(board.as_of),
        "rules": board.rules, "entries_stored": len(board.entries), "entries_ranked": len(board.ranked),
    }


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 4)


_LABELS = {
    "fr": {"rank": "Rang", "entry": "Participation", "likes": "J'aime", "comments": "Comm.",
           "score": "Pointage", "posted": "Publiée le", "status": "Statut", "hidden": "masquées",
           "title": "Classement", "as_of": "au", "none": "Aucune participation classée pour l'instant.",
           "not_started": "à venir", "running": "en cours", "closed": "terminé"},
    "en": {"rank": "Rank", "entry": "Entry", "likes": "Likes", "comments": "Comments",
           "score": "Score", "posted": "Posted", "status": "Status", "hidden": "hidden",
           "title": "Leaderboard", "as_of": "as of", "none": "No ranked entry yet.",
           "not_started": "not started", "running": "running", "closed": "closed"},
}
_STATUS_FR = {
    "no_timestamp": "sans date", "before_start": "avant le début", "after_end": "après la clôture",
    "no_caption": "sans légende", "missing_hashtag": "mot-clic absent",
}


def render_table(board: Standings, console: Console, *, top: int | None = None, show_all: bool = False,
                 lang: str | None = None) -> None:
    """Print the leaderboard as a rich table on ``console``."""
    lang = lang or board.contest.language
    labels = _LABELS[lang]
    contest = board.contest
    tz = contest.tz
    title = Text(display_text(contest.title), style="bold")
    caption = Text(f"{labels['title']} {labels['as_of']} {clock.format_local(board.as_of, tz, lang)}"
                   f" · {labels[contest.phase(board.as_of)]}")
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAVY, expand=False)
    table.add_column(labels["rank"], justify="right")
    table.add_column(labels["entry"], overflow="fold", max_width=48)
    table.add_column(labels["likes"], justify="right")
    table.add_column(labels["comments"], justify="right")
    table.add_column(labels["score"], justify="right", style="bold")
    table.add_column(labels["posted"], no_wrap=True)
    if show_all:
        table.add_column(labels["status"])
    rows = select(board, top, show_all)
    for entry in rows:
        name = entry.username or entry.permalink or entry.media_id
        cells = [
            Text(str(entry.rank) if entry.rank else "—"),
            Text(shorten(display_text(name), 48)),
            Text(labels["hidden"], style="italic dim") if entry.like_count is None else Text(str(entry.like_count)),
            Text(str(entry.comments_count if entry.comments_count is not None else "—")),
            Text(str(_number(entry.score))),
            Text(clock.format_local(entry.timestamp, tz, lang, offset=False)),
        ]
        if show_all:
            status = entry.status if lang == "en" else _STATUS_FR.get(entry.status, "classée")
            cells.append(Text(status.replace("_", " "), style="" if entry.rank else "yellow"))
        table.add_row(*cells)
    if not rows:
        console.print(title)
        console.print(Text(labels["none"]))
        return
    console.print(table)
