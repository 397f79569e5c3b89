"""CSV and JSON writers for standings: Excel-safe and formula-safe.

CSV is UTF-8 with a byte-order mark by default (Excel then reads accents right),
written with ``newline=''`` so captions with line breaks stay in their cell, and every
text cell that a spreadsheet would run as a formula is neutralised. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from derby import clock
from derby.leaderboard import Standings, contest_record, entry_record, select
from derby.text import spreadsheet_safe

WINNER_COLUMNS = ("rank", "role", "media_id", "permalink", "username", "score", "like_count",
                  "comments_count", "posted_at", "media_type", "flags")
ENTRY_COLUMNS = ("rank", "media_id", "permalink", "username", "display_name", "status", "reason", "moderation",
                 "score", "like_count", "comments_count", "posted_at", "observed_at", "engagement_source", "media_type",
                 "flags", "tie_break", "caption")
"""Columns of ``export --all`` (the jury's record); one ``points.<rule>`` column per
scoring rule follows ``score`` (see :func:`entry_columns`)."""
LEADERBOARD_COLUMNS = ("rank", "media_id", "permalink", "username", "score", "like_count", "comments_count",
                       "posted_at", "media_type", "status", "reason", "flags")


def winners(board: Standings, top: int, alternates: int) -> list[dict]:
    """Return the winners (the ``top`` first ranked, role ``winner``) then the next
    ``alternates`` ranked (role ``alternate``), as records of :func:`entry_record`."""
    rows = []
    for position, entry in enumerate(board.ranked[: top + alternates]):
        record = entry_record(entry, board.contest, board.freshness.get(entry.media_id))
        record["role"] = "winner" if position < top else "alternate"
        rows.append(record)
    return rows


def write_csv(fh: IO[str], records: Iterable[dict], columns: Sequence[str]) -> None:
    """Write ``records`` as CSV with ``columns`` to the text stream ``fh`` (opened with
    ``newline=''``). Lists become ``;``-joined text; None becomes an empty cell."""
    writer = csv.writer(fh)
    writer.writerow(columns)
    for record in records:
        writer.writerow([_cell(record.get(c)) for c in columns])


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    return spreadsheet_safe(str(value))


def export_winners(path: Path, board: Standings, *, top: int, alternates: int, fmt: str = "csv",
                   encoding: str = "utf-8-sig") -> int:
    """Write the winners and alternates to ``path`` (CSV or JSON); return rows written.

    Raises OSError when the file cannot be written.
    """
    rows = winners(board, top, alternates)
    if fmt == "json":
        payload = {"contest": contest_record(board), "winners": rows}
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    else:
        with path.open("w", encoding=encoding, newline="") as fh:
            write_csv(fh, rows, WINNER_COLUMNS)
    return len(rows)


def leaderboard_json(board: Standings, top: int | None, show_all: bool) -> str:
    """Return the leaderboard as JSON text ``{"contest": {...}, "entries": [...]}``."""
    entries = [entry_record(e, board.contest, board.freshness.get(e.media_id)) for e in select(board, top, show_all)]
    return json.dumps({"contest": contest_record(board), "entries": entries}, ensure_ascii=False, indent=2)


def entry_columns(board: Standings) -> list[str]:
    """Return the CSV columns of ``export --all``: :data:`ENTRY_COLUMNS` with a
    ``points.<rule>`` column after ``score`` for every rule that gave any entry points,
    in the order the scoring gives them."""
    rules: list[str] = []
    for entry in board.entries:
        for name in entry.points:
            if name not in rules:
                rules.append(name)
    columns = list(ENTRY_COLUMNS)
    at = columns.index("score") + 1
    columns[at:at] = [f"points.{name}" for name in rules]
    return columns


def entries(board: Standings) -> list[dict]:
    """Return every stored entry (ranked first, in rank order, then the others) as
    records of :func:`entry_record` (``points``: rule name -> points it gave) plus
    ``moderation``: the judges' latest action as ``{"action", "by", "at" (ISO 8601,
    contest zone), "reason"}``, or None when there is none."""
    tz = board.contest.tz
    rows = []
    for entry in board.entries:
        record = entry_record(entry, board.contest, board.freshness.get(entry.media_id))
        action = entry.moderation
        record["moderation"] = None if not action else {
            "action": action.get("action"), "by": action.get("by"),
            "at": clock.iso_local(action.get("at"), tz), "reason": action.get("reason")}
        rows.append(record)
    return rows


def moderation_text(action: dict | None) -> str | None:
    """Return a moderation record as one line: ``disqualify by Marie at
    2017-04-05T10:00:00-04:00: reason``."""
    if not action:
        return None
    return f"{action['action']} by {action['by']} at {action['at']}: {action['reason']}"


def export_entries(path: Path, board: Standings, *, fmt: str = "csv", encoding: str = "utf-8-sig") -> int:
    """Write every stored entry to ``path`` for the jury's records (CSV with
    :func:`entry_columns`, or JSON ``{"contest": {...}, "entries": [...]}``); return the
    number of entries written.

    Raises OSError when the file cannot be written.
    """
    rows = entries(board)
    if fmt == "json":
        payload = {"contest": contest_record(board), "entries": rows}
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    else:
        flat = [{**{k: v for k, v in r.items() if k != "points"}, "moderation": moderation_text(r["moderation"]),
                 **{f"points.{name}": value for name, value in r["points"].items()}} for r in rows]
        with path.open("w", encoding=encoding, newline="") as fh:
            write_csv(fh, flat, entry_columns(board))
    return len(rows)

