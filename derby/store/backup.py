"""Consistent copies of a live database: SQLite's online backup API, then a check.

The copy is taken page by page from a read transaction, so a poller writing meanwhile
(WAL) is never blocked and the copy is the database as of one moment. It is written to
a temporary file beside the target, checked with ``PRAGMA integrity_check``, switched
to the rollback journal (one self-contained file, no ``-wal``/``-shm``) and only then
renamed over the target.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from derby.errors import StoreError
from derby.store.schema import BUSY_TIMEOUT_MS, open_reader

PAGES_PER_STEP = 1024
"""Pages copied per step of the backup (4 MiB at the default page size): between steps
the poller may write, and the backup restarts only for pages changed meanwhile."""


@dataclass(frozen=True)
class BackupResult:
    """A finished backup: where it is, its size in bytes and its page count."""

    path: Path
    size: int
    pages: int


def backup(source: str | Path, target: str | Path, *, overwrite: bool = False) -> BackupResult:
    """Copy the derby database at ``source`` to ``target`` while it may be in use.

    Raises StoreError when ``source`` is not a derby database, when ``target`` exists
    (unless ``overwrite``) or is the source itself, when its folder is missing, or when
    the copy fails its integrity check (the copy is then removed and ``target`` left as
    it was).
    """
    source, target = Path(source), Path(target)
    if target.exists() and target.resolve() == source.resolve():
        raise StoreError(f"{target} is the database itself; back it up to another file")
    if target.exists() and not overwrite:
        raise StoreError(f"{target} already exists; pass --force to replace it, or pick a new name")
    if not target.parent.is_dir():
        raise StoreError(f"cannot write {target}: folder {target.parent} does not exist")
    reader = open_reader(source, timeout=BUSY_TIMEOUT_MS / 1000)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        copy = sqlite3.connect(partial)
        try:
            reader.conn.backup(copy, pages=PAGES_PER_STEP)
            try:
                problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
            except sqlite3.DatabaseError as exc:  # damaged past what the check can list
                problems = [str(exc)]
            if problems != ["ok"]:
                raise StoreError(f"the copy of {source} failed its integrity check ({'; '.join(problems[:3])}); "
                                 f"{target} was not written. Run: sqlite3 {source} 'PRAGMA integrity_check'")
            copy.execute("PRAGMA journal_mode = DELETE")
            pages = copy.execute("PRAGMA page_count").fetchone()[0]
        finally:
            copy.close()
        os.replace(partial, target)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot back up {source} to {target}: {exc}") from None
    finally:
        reader.close()
        partial.unlink(missing_ok=True)
    return BackupResult(path=target, size=target.stat().st_size, pages=pages)
