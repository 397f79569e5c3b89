"""CSV, JSON, newline-delimited JSON and XLSX writers for standings: spreadsheet-safe.

CSV is UTF-8 with a byte-order mark by default (Excel then reads accents right),
written with ``newline=''`` so captions with line breaks stay in their cell, and every
text cell that a spreadsheet would run as a formula is neutralised. Numbers stay numbers.
CSV cannot carry types, so a spreadsheet guesses them (a 17-digit media id loses its
last digits, ``2017-04-05`` in a caption becomes a date): XLSX (XlsxWriter, used only
here) writes each cell with its type, see :func:`write_xlsx`.

Files are written atomically, or to standard output for ``-`` (:mod:`derby.files`).
"""

from __future__ import annotations

import csv
import json
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

from derby import clock, files
from derby.errors import ConfigError
from derby.leaderboard import Standings, contest_record, entry_record
from derby.team_leaderboard import TeamStandings, post_record, team_record, team_winners
from derby.team_leaderboard import contest_record as team_contest_record
from derby.text import spreadsheet_safe

WINNER_COLUMNS = ("rank", "role", "media_id", "permalink", "username", "score", "like_count",
                  "comments_count", "posted_at", "media_type", "flags", "tie_break")
"""Columns of the winners file; ``tie_break`` is the tie-break key that decided a tied
entry's place (empty when its score was not tied)."""
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
    for position, entry in enumerate(board.rows(top + alternates)):
        record = entry_record(entry, board.contest, board.freshness.get(entry.media_id))
        record["role"] = "winner" if position < top else "alternate"
        rows.append(record)
    return rows


OWN_TEXT_COLUMNS = frozenset({"role", "status", "reason", "flags", "tie_break", "tie_break_key", "moderation"})
"""Columns holding derby's own sentences (built from checked usernames), which need no
apostrophe for a leading ``@username`` (see :func:`derby.text.spreadsheet_safe`)."""


def write_csv(fh: IO[str], records: Iterable[dict], columns: Sequence[str]) -> int:
    """Write ``records`` as CSV with ``columns`` to the text stream ``fh`` (opened with
    ``newline=''``), one at a time; return the number written. Lists become
    ``;``-joined text; None becomes an empty cell."""
    writer = csv.writer(fh)
    writer.writerow(columns)
    own = [c in OWN_TEXT_COLUMNS for c in columns]
    count = 0
    for record in records:
        writer.writerow([_cell(record.get(c), mine) for c, mine in zip(columns, own)])
        count += 1
    return count


def _cell(value: object, own_text: bool = False) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    return spreadsheet_safe(str(value), own_text=own_text)


def export_winners(target: str | Path, board: Standings, *, top: int, alternates: int, fmt: str = "csv",
                   encoding: str = "utf-8-sig", lang: str | None = None, stdout: IO[bytes] | None = None) -> int:
    """Write the winners and alternates to ``target`` (a path, or ``-`` for the binary
    stream ``stdout``) as ``fmt`` (csv, json, ndjson or xlsx, headers of xlsx in
    ``lang``, default the contest's); return the rows written.

    Raises OSError when the file cannot be written.
    """
    rows = winners(board, top, alternates)
    if fmt == "xlsx":
        with files.atomic_binary(target, stdout, seekable=True) as fh:
            write_xlsx(fh, rows, WINNER_COLUMNS, board, lang or board.contest.language, "winners")
        return len(rows)
    with files.atomic_text(target, stdout, encoding="utf-8" if fmt in ("json", "ndjson") else encoding,
                           newline="") as fh:
        if fmt == "json":
            fh.write(json.dumps({"contest": contest_record(board), "winners": rows}, ensure_ascii=False, indent=2) + "\n")
        elif fmt == "ndjson":
            write_ndjson(fh, rows)
        else:
            write_csv(fh, rows, WINNER_COLUMNS)
    return len(rows)


def write_ndjson(fh: IO[str], records: Iterable[dict]) -> int:
    """Write one JSON object per line (newline-delimited JSON), text as typed; return
    the number written."""
    count = 0
    for record in records:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def leaderboard_json(board: Standings, top: int | None, show_all: bool) -> str:
    """Return the leaderboard as JSON text ``{"contest": {...}, "entries": [...]}``."""
    out = io.StringIO()
    write_json(out, contest_record(board), (entry_record(e, board.contest, board.freshness.get(e.media_id)) for e in board.rows(top, show_all)))
    return out.getvalue()


def write_json(fh: IO[str], contest: dict, records: Iterable[dict]) -> int:
    """Write ``{"contest": contest, "entries": [records...]}`` to ``fh`` as indented
    JSON, one record at a time (never the whole list in memory); return the number of
    records written."""
    body = json.dumps({"contest": contest, "entries": []}, ensure_ascii=False, indent=2)
    head, tail = body.rsplit("[]", 1)
    fh.write(head + "[")
    count = 0
    for record in records:
        text = json.dumps(record, ensure_ascii=False, indent=2).replace("\n", "\n    ")
        fh.write(("," if count else "") + "\n    " + text)
        count += 1
    fh.write(("\n  ]" if count else "]") + tail)
    return count


def entry_columns(board: Standings) -> list[str]:
    """Return the CSV columns of ``export --all``: :data:`ENTRY_COLUMNS` with a
    ``points.<rule>`` column after ``score`` for every rule that can give an entry
    points under the board's rules, in the order the scoring gives them."""
    r = board.rules
    rules = ["points_per_like", "points_per_comment"]
    rules += ["media_type_bonus"] if r.media_type_bonus else []
    rules += ["extra_hashtag_bonus"] if r.extra_hashtag_bonus else []
    rules += ["early_entry_bonus"] if r.early_entry_bonus else []
    columns = list(ENTRY_COLUMNS)
    at = columns.index("score") + 1
    columns[at:at] = [f"points.{name}" for name in rules]
    return columns


def entries(board: Standings) -> Iterator[dict]:
    """Yield every stored entry (ranked first, in rank order, then the others) as
    records of :func:`entry_record` (``points``: rule name -> points it gave) plus
    ``moderation``: the judges' latest action as ``{"action", "by", "at" (ISO 8601,
    contest zone), "reason"}``, or None when there is none; one at a time."""
    tz = board.contest.tz
    for entry in board.rows(show_all=True):
        record = entry_record(entry, board.contest, board.freshness.get(entry.media_id))
        action = entry.moderation
        record["moderation"] = None if not action else {
            "action": action.get("action"), "by": action.get("by"),
            "at": clock.iso_local(action.get("at"), tz), "reason": action.get("reason")}
        yield record


def moderation_text(action: dict | None) -> str | None:
    """Return a moderation record as one line: ``disqualify by Marie at
    2017-04-05T10:00:00-04:00: reason``."""
    if not action:
        return None
    return f"{action['action']} by {action['by']} at {action['at']}: {action['reason']}"


def export_entries(target: str | Path, board: Standings, *, fmt: str = "csv", encoding: str = "utf-8-sig",
                   lang: str | None = None, stdout: IO[bytes] | None = None) -> int:
    """Write every stored entry to ``target`` (a path, or ``-`` for ``stdout``) for the
    jury's records: CSV with :func:`entry_columns`, JSON ``{"contest": {...},
    "entries": [...]}``, one entry per line (ndjson), or XLSX (the moderation split into
    action, by, at and reason columns); return the number of entries written.

    Raises ConfigError when an XLSX sheet would pass :data:`XLSX_MAX_ROWS` (before
    anything is written), OSError when the file cannot be written.
    """
    rows = entries(board)
    if fmt == "xlsx":
        check_xlsx_rows(board.counts()["entries"])
        flat = [_flat(r, split_moderation=True) for r in rows]  # a sheet is built whole (at most 1,048,575 rows)
        with files.atomic_binary(target, stdout, seekable=True) as fh:
            write_xlsx(fh, flat, xlsx_entry_columns(board), board, lang or board.contest.language, "entries")
        return len(flat)
    with files.atomic_text(target, stdout, encoding="utf-8" if fmt in ("json", "ndjson") else encoding,
                           newline="") as fh:
        # streamed: one entry at a time, whatever the contest's size
        if fmt == "json":
            count = write_json(fh, contest_record(board), rows)
            fh.write("\n")
        elif fmt == "ndjson":
            count = write_ndjson(fh, rows)
        else:
            count = write_csv(fh, (_flat(r) for r in rows), entry_columns(board))
    return count


def _flat(record: dict, *, split_moderation: bool = False) -> dict:
    """An :func:`entries` record with one ``points.<rule>`` key per rule, and the
    moderation as one line, or (``split_moderation``) as ``moderation`` (the action),
    ``moderation_by``, ``moderation_at`` and ``moderation_reason``."""
    flat = {k: v for k, v in record.items() if k not in ("points", "moderation")}
    flat.update({f"points.{name}": value for name, value in record["points"].items()})
    action = record["moderation"]
    if not split_moderation:
        flat["moderation"] = moderation_text(action)
    else:
        action = action or {}
        flat.update(moderation=action.get("action"), moderation_by=action.get("by"), moderation_at=action.get("at"),
                    moderation_reason=action.get("reason"))
    return flat


# -- XLSX --------------------------------------------------------------------------------

XLSX_MAX_ROWS = 1_048_576
"""Rows in one sheet of Excel (and of XlsxWriter), the header row included."""

XLSX_HEADERS: dict[str, dict[str, str]] = {
    "fr": {"rank": "Rang", "role": "Rôle", "media_id": "ID du média", "permalink": "Lien", "username": "Compte",
           "display_name": "Nom", "status": "Statut", "reason": "Raison", "moderation": "Modération",
           "moderation_by": "Modération par", "moderation_at": "Modération le", "moderation_reason": "Motif",
           "score": "Pointage", "like_count": "J'aime", "comments_count": "Commentaires", "posted_at": "Publiée",
           "observed_at": "Relevée", "engagement_source": "Source du relevé", "media_type": "Type", "flags": "Notes", "tie_break": "Bris d'égalité",
           "caption": "Légende", "points": "Points : {rule}",
           "trophy": "Trophée", "place": "Place", "team": "Équipe", "account_id": "ID du compte",
           "followers_count": "Abonnés", "followers_baseline": "Abonnés au départ", "followers_gained": "Abonnés gagnés",
           "posts": "Publications comptées", "posts_stored": "Publications enregistrées", "metric": "Mesure",
           "value": "Valeur"},
    "en": {"rank": "Rank", "role": "Role", "media_id": "Media ID", "permalink": "Permalink", "username": "Username",
           "display_name": "Name", "status": "Status", "reason": "Reason", "moderation": "Moderation",
           "moderation_by": "Moderated by", "moderation_at": "Moderated at", "moderation_reason": "Moderation reason",
           "score": "Score", "like_count": "Likes", "comments_count": "Comments", "posted_at": "Posted",
           "observed_at": "Observed", "engagement_source": "Engagement source", "media_type": "Type", "flags": "Flags", "tie_break": "Tie-break",
           "caption": "Caption", "points": "Points: {rule}",
           "trophy": "Trophy", "place": "Place", "team": "Team", "account_id": "Account ID",
           "followers_count": "Followers", "followers_baseline": "Followers at the start",
           "followers_gained": "Followers gained", "posts": "Posts counted", "posts_stored": "Posts stored",
           "metric": "Metric", "value": "Value"},
}
_NUMBER_COLUMNS = {"rank", "score", "like_count", "comments_count", "place", "followers_count", "followers_baseline",
                   "followers_gained", "posts", "posts_stored", "value"}
_TIME_COLUMNS = {"posted_at", "observed_at", "moderation_at"}
_WIDTHS = {"rank": 6, "role": 10, "media_id": 19, "permalink": 42, "username": 18, "display_name": 20, "status": 14,
           "reason": 40, "moderation": 12, "moderation_by": 14, "moderation_reason": 40, "score": 10, "like_count": 9,
           "comments_count": 13, "media_type": 15, "flags": 20, "tie_break": 11, "caption": 60,
           "trophy": 18, "team": 22, "account_id": 19, "metric": 22}
_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


def check_xlsx_rows(rows: int) -> None:
    """Raise ConfigError when ``rows`` data rows (plus the header) do not fit one sheet."""
    if rows + 1 > XLSX_MAX_ROWS:
        raise ConfigError(f"{rows} rows do not fit a spreadsheet: Excel and LibreOffice stop at {XLSX_MAX_ROWS:,} "
                          "rows a sheet; export CSV instead (derby export entries.csv --all)")


def xlsx_entry_columns(board: Standings) -> list[str]:
    """Return the XLSX columns of ``export --all``: :func:`entry_columns` with the
    moderation split into action, by, at and reason."""
    columns = entry_columns(board)
    at = columns.index("moderation") + 1
    columns[at:at] = ["moderation_by", "moderation_at", "moderation_reason"]
    return columns


def write_xlsx(fh: IO[bytes], records: Sequence[dict], columns: Sequence[str], board: Standings | TeamStandings,
               lang: str, sheet: str, more: Sequence[tuple[str, Sequence[dict], Sequence[str]]] = ()) -> None:
    """Write ``records`` (records of :func:`entry_record` or
    :func:`derby.team_leaderboard.team_record` shape; times as ISO 8601 with offset) as
    a workbook to the seekable binary file ``fh``: sheet ``sheet`` with a frozen header
    row in ``lang`` (``fr`` or ``en``), then each ``(sheet, records, columns)`` of
    ``more``, then a ``contest`` sheet (a hashtag or a team contest's, after ``board``).

    Cells are typed: ids, usernames, captions and every other text as strings (never
    run as formulas, never turned into numbers or dates, no ``'`` added), counts and
    scores as numbers, times as date cells in the contest's zone. The zone's offset is
    in the column's header when every time of the column has the same one, else in each
    cell's number format (a DST change in the contest). Rows are streamed
    (XlsxWriter's ``constant_memory``), so a big contest takes little memory.
    """
    import xlsxwriter

    check_xlsx_rows(len(records))
    for _, extra, _ in more:
        check_xlsx_rows(len(extra))
    book = xlsxwriter.Workbook(fh, {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                                    "strings_to_urls": False, "default_date_format": _TIME_FORMAT})
    formats = {"bold": book.add_format({"bold": True, "bottom": 1}), "text": book.add_format({"num_format": "@"}),
               "time": book.add_format({"num_format": _TIME_FORMAT})}
    for name, rows, cols in ((sheet, records, columns), *more):
        _data_sheet(book, formats, name, rows, cols, lang)
    _contest_sheet(book, board, lang, formats["bold"])
    book.close()


def _data_sheet(book, formats: dict, sheet: str, records: Sequence[dict], columns: Sequence[str], lang: str) -> None:
    """One sheet of typed cells (see :func:`write_xlsx`), written row by row."""
    offsets = {c: {_iso(r.get(c)).utcoffset() for r in records if r.get(c)} for c in columns if c in _TIME_COLUMNS}

    def time_format(offset: timedelta) -> object:
        label = _offset_label(offset)
        if label not in formats:
            formats[label] = book.add_format({"num_format": f'{_TIME_FORMAT} "{label}"'})
        return formats[label]

    ws = book.add_worksheet(sheet)
    ws.freeze_panes(1, 0)
    for col, name in enumerate(columns):
        ws.set_column(col, col, _WIDTHS.get(name, 21 if name in _TIME_COLUMNS else 12),
                      formats["text"] if _kind(name) == "text" else None)
    for col, name in enumerate(columns):
        ws.write_string(0, col, _header(name, lang, offsets.get(name)), formats["bold"])
    for row, record in enumerate(records, start=1):
        for col, name in enumerate(columns):
            value = record.get(name)
            if value is None or value == [] or value == "":
                continue
            kind = _kind(name)
            if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
                ws.write_number(row, col, value)
            elif kind == "time":
                moment = _iso(value)
                mixed = len(offsets[name]) > 1
                ws.write_datetime(row, col, moment.replace(tzinfo=None),
                                  time_format(moment.utcoffset()) if mixed else formats["time"])
            else:
                ws.write_string(row, col, "; ".join(map(str, value)) if isinstance(value, list) else str(value))


def _kind(column: str) -> str:
    if column in _NUMBER_COLUMNS or column.startswith("points."):
        return "number"
    return "time" if column in _TIME_COLUMNS else "text"


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _offset_label(offset: timedelta) -> str:
    """``UTC−4`` for an offset of minus four hours."""
    return clock.format_offset(datetime(2000, 1, 1, tzinfo=timezone(offset)))


def _header(column: str, lang: str, offsets: set | None) -> str:
    labels = XLSX_HEADERS.get(lang, XLSX_HEADERS["en"])
    text = labels["points"].format(rule=column[7:]) if column.startswith("points.") else labels[column]
    if offsets and len(offsets) == 1:
        text += f" ({_offset_label(next(iter(offsets)))})"
    return text


def _contest_sheet(book, board: Standings | TeamStandings, lang: str, bold) -> None:
    """The last sheet, with what the standings are: title, hashtags, zone, window, as of,
    and the entries (or, in a team contest, the teams and trophies) counted."""
    c = board.contest
    fr = lang == "fr"
    rows: list[tuple[str, object]] = [
        ("Concours" if fr else "Contest", c.title),
        ("Mots-clics" if fr else "Hashtags", ", ".join(f"#{h}" for h in c.hashtags)),
        ("Fuseau horaire" if fr else "Time zone", c.timezone),
        ("Début" if fr else "Start", clock.iso_local(c.start, c.tz)), ("Fin" if fr else "End", clock.iso_local(c.end, c.tz)),
        ("Classement au" if fr else "Standings as of", clock.iso_local(board.as_of, c.tz))]
    if isinstance(board, TeamStandings):
        rows += [("Équipes" if fr else "Teams", len(board.teams)), ("Classées" if fr else "Teams ranked", len(board.ranked)),
                 ("Trophées" if fr else "Trophies", ", ".join(t.name for t in c.trophies))]
    else:
        rows += [("Participations" if fr else "Entries stored", board.counts()["entries"]),
                 ("Classées" if fr else "Entries ranked", board.counts()["eligible"])]
    ws = book.add_worksheet("contest")
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 50)
    for row, (label, value) in enumerate(rows):
        ws.write_string(row, 0, label, bold)
        if isinstance(value, int):
            ws.write_number(row, 1, value)
        else:
            ws.write_string(row, 1, str(value or ""))


# -- team contests --------------------------------------------------------------------------

TEAM_COLUMNS = ("rank", "team", "username", "account_id", "score", "followers_count", "followers_baseline",
                "followers_gained", "posts", "posts_stored", "like_count", "comments_count", "status", "reason",
                "flags", "tie_break")
"""Columns of a team leaderboard's CSV; ``points.<rule>`` columns follow ``score``."""
TEAM_WINNER_COLUMNS = ("trophy", "place", "role", "team", "username", "account_id", "score", "followers_count",
                       "followers_gained", "posts", "like_count", "comments_count", "metric", "value", "flags")
"""Columns of a team contest's winners file: the overall winners and alternates (empty
``trophy``), then each trophy's winners with its ``metric`` and the team's ``value``."""
TEAM_POST_COLUMNS = ("rank", "team", "username", "media_id", "permalink", "score", "like_count", "comments_count",
                     "posted_at", "media_type", "status", "reason", "flags")


def _team_points_columns(records: list[dict], columns: Sequence[str]) -> list[str]:
    names: list[str] = []
    for record in records:
        names += [n for n in record.get("points", {}) if n not in names]
    out = list(columns)
    at = out.index("score") + 1
    out[at:at] = [f"points.{n}" for n in names]
    return out


def _team_flat(record: dict) -> dict:
    return {**{k: v for k, v in record.items() if k != "points"},
            **{f"points.{n}": v for n, v in record.get("points", {}).items()}}


def team_rows_csv(fh: IO[str], records: list[dict]) -> None:
    """Write team records (:func:`derby.team_leaderboard.team_record`) as CSV with
    :data:`TEAM_COLUMNS` and one ``points.<rule>`` column per rule."""
    write_csv(fh, [_team_flat(r) for r in records], _team_points_columns(records, TEAM_COLUMNS))


def team_leaderboard_json(board: TeamStandings, records: list[dict], key: str = "entries") -> str:
    """Return ``{"contest": {...}, key: records}`` as JSON text."""
    return json.dumps({"contest": team_contest_record(board), key: records}, ensure_ascii=False, indent=2)


def export_team_winners(target: str | Path, board: TeamStandings, *, top: int, alternates: int, fmt: str = "csv",
                        encoding: str = "utf-8-sig", lang: str | None = None, stdout: IO[bytes] | None = None) -> int:
    """Write a team contest's winners, alternates and trophy winners to ``target`` (a
    path, or ``-`` for ``stdout``; CSV with :data:`TEAM_WINNER_COLUMNS`, JSON, ndjson,
    or XLSX with headers in ``lang``, default the contest's); return rows written.
    Raises OSError when it cannot be written."""
    rows = team_winners(board, top, alternates)
    if fmt == "xlsx":
        with files.atomic_binary(target, stdout, seekable=True) as fh:
            write_xlsx(fh, rows, TEAM_WINNER_COLUMNS, board, lang or board.contest.language, "winners")
        return len(rows)
    with files.atomic_text(target, stdout, encoding="utf-8" if fmt in ("json", "ndjson") else encoding,
                           newline="") as fh:
        if fmt == "json":
            fh.write(team_leaderboard_json(board, rows, "winners") + "\n")
        elif fmt == "ndjson":
            write_ndjson(fh, rows)
        else:
            write_csv(fh, rows, TEAM_WINNER_COLUMNS)
    return len(rows)


def export_team_entries(target: str | Path, board: TeamStandings, *, fmt: str = "csv", encoding: str = "utf-8-sig",
                        lang: str | None = None, stdout: IO[bytes] | None = None) -> int:
    """Write every team (ranked first) with each rule's points, for the jury's records
    (JSON adds every post with its team; XLSX a ``posts`` sheet of them, with
    :data:`TEAM_POST_COLUMNS`); return the number of teams written. Raises ConfigError
    when a sheet would pass :data:`XLSX_MAX_ROWS`, OSError when it cannot be written."""
    rows = [team_record(t, board.contest) for t in board.teams]
    if fmt == "xlsx":
        posts = [post_record(e, board) for e in board.posts.entries]
        with files.atomic_binary(target, stdout, seekable=True) as fh:
            write_xlsx(fh, [_team_flat(r) for r in rows], _team_points_columns(rows, TEAM_COLUMNS), board,
                       lang or board.contest.language, "teams", [("posts", posts, TEAM_POST_COLUMNS)])
        return len(rows)
    with files.atomic_text(target, stdout, encoding="utf-8" if fmt in ("json", "ndjson") else encoding,
                           newline="") as fh:
        if fmt == "json":
            posts = [post_record(e, board) for e in board.posts.entries]
            payload = {"contest": team_contest_record(board), "entries": rows, "posts": posts}
            fh.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        elif fmt == "ndjson":
            write_ndjson(fh, rows)
        else:
            team_rows_csv(fh, rows)
    return len(rows)
