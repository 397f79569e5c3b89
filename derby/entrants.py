"""The entrants' registration list (CSV). Standard library only.

Hashtag results carry no author, so organizers import who entered what: a CSV with a
header row holding ``username``, then ``permalink`` or ``shortcode``, and optionally
``display_name`` (column names are matched case-insensitively; other columns are
ignored). UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"); commas or
semicolons (French Excel) as separators.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from urllib.parse import urlsplit

from derby.errors import DerbyError
from derby.text import shortcode


class EntrantsFileError(DerbyError):
    """The entrants file cannot be read or lacks the columns it needs."""

    exit_code = 2


def read_csv(path: str | Path) -> list[dict]:
    """Read the registration list at ``path``.

    Returns one dict per data row: ``line`` (1-based line number in the file),
    ``username`` (as written), ``shortcode`` (from the ``shortcode`` column or the
    ``permalink``, which may also hold a bare shortcode; None when neither gives one),
    ``display_name`` (or None), ``permalink`` (as written, or None) and ``problem``
    (why the permalink gives no shortcode, e.g. a link on another host; else None).
    Username validity and matching are left to ``store.import_entrants``, which reports
    every row it refuses. Raises EntrantsFileError for a missing or unreadable file, a
    file that is not UTF-8, or a header without ``username`` and one of ``permalink`` /
    ``shortcode``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EntrantsFileError(f"entrants file {path} not found") from None
    except UnicodeDecodeError:
        raise EntrantsFileError(f"{path} is not UTF-8 text; save it as CSV UTF-8") from None
    except OSError as exc:
        raise EntrantsFileError(f"cannot read entrants file {path}: {exc.strerror}") from None
    lines = text.splitlines(keepends=True)
    if not lines:
        raise EntrantsFileError(f"{path} is empty; expected a header row: username,permalink[,display_name]")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    if "username" not in header or not ({"permalink", "shortcode"} & set(header)):
        raise EntrantsFileError(f"{path}: the header must name username and permalink or shortcode "
                                f"(found: {', '.join(header) or 'nothing'})")
    column = {name: header.index(name) for name in ("username", "permalink", "shortcode", "display_name")
              if name in header}
    rows = []
    for record in reader:
        if not any(cell.strip() for cell in record):
            continue
        line = reader.line_num

        def cell(name: str) -> str | None:
            index = column.get(name)
            value = record[index].strip() if index is not None and index < len(record) else ""
            return value or None

        code, problem = cell("shortcode"), None
        if code is None and cell("permalink"):
            code, problem = _permalink_code(cell("permalink"))  # type: ignore[arg-type]
        rows.append({"line": line, "username": cell("username") or "", "shortcode": code,
                     "display_name": cell("display_name"), "permalink": cell("permalink"), "problem": problem})
    return rows


_BARE_SHORTCODE = re.compile(r"[A-Za-z0-9_-]{5,40}")
_INSTAGRAM_HOSTS = ("instagram.com", "www.instagram.com", "m.instagram.com", "instagr.am", "www.instagr.am")


def _permalink_code(value: str) -> tuple[str | None, str | None]:
    """Return ``(shortcode, None)`` for a permalink or a bare shortcode written in the
    permalink column, else ``(None, why)``."""
    if _BARE_SHORTCODE.fullmatch(value):
        return value, None
    parts = urlsplit(value if "//" in value else "https://" + value)
    host = (parts.hostname or "").lower()
    if host not in _INSTAGRAM_HOSTS:
        return None, f"{value!r} is a link on {host or 'no host'}, not an Instagram permalink (https://www.instagram.com/p/…)"
    code = shortcode("https://www.instagram.com" + parts.path)
    if code is None:
        return None, f"{value!r} is not a link to a post (…/p/SHORTCODE/, …/reel/SHORTCODE/)"
    return code, None
