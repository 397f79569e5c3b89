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

from derby.leaderboard import Standings, contest_record, entry_record, select
from derby.text import spreadsheet_safe

WINNER_COLUMNS = ("rank", "role", "media_id", "permalink", "username", "score", "like_count",
                  "comments_count", "posted_at", "media_type", "flags")
LEADERBOARD_COLUMNS = ("rank", "media_id", "permalink", "username", "score", "like_count", "comments_count",
                       "posted_at", "media_type", "status", "reason", "flags")


def winners(board: Standings, top: int, alternates: int) -> list[dict]:
    """Return the winners (the ``top`` first ranked, role ``winner``) then the next
    ``alternates`` ranked (role ``alternate``), as records of :func:`entry_record`."""
    rows = []
    for position, entry in enumerate(board.ranked[: top + alternates]):
        record = entry_record(entry, board.contest)
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
    entries = [entry_record(e, board.contest) for e in select(board, top, show_all)]
    return json.dumps({"contest": contest_record(board), "entries": entries}, ensure_ascii=False, indent=2)
