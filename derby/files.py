"""Writing result files the way shell tools do: ``-`` is standard output, and a named
file appears whole or not at all.

A named file is written to a temporary file beside it (same folder, so the same
filesystem), flushed to disk, then moved over the target in one ``os.replace``: an
interrupted export (Ctrl-C, a full disk, a crash) leaves the previous file, if any,
untouched and no half file. A new file gets the usual permissions (``0666`` less the
umask); a replaced one keeps its own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

STDOUT = "-"


def is_stdout(target: str | Path) -> bool:
    """Whether ``target`` names standard output (``-``)."""
    return str(target) == STDOUT


@contextmanager
def atomic_binary(target: str | Path, stdout: IO[bytes] | None = None, *, seekable: bool = False,
                  mode: int | None = None) -> Iterator[IO[bytes]]:
    """Yield a binary file to write ``target``'s bytes into.

    For ``-`` the bytes go to ``stdout`` (a binary stream), directly, or, with
    ``seekable`` (a zip such as ``.xlsx`` needs to seek), through a temporary file
    copied out at the end. Otherwise the file is replaced atomically on success and the
    temporary file removed on any exception, which is re-raised. Raises OSError when
    the folder cannot be written. ``mode`` (e.g. ``0o600`` for a file of secrets) sets
    the file's permissions instead.
    """
    if is_stdout(target):
        if stdout is None:
            raise ValueError("writing to - needs the standard output stream")
        if not seekable:
            yield stdout
            stdout.flush()
            return
        with tempfile.TemporaryFile() as spool:
            yield spool
            spool.seek(0)
            shutil.copyfileobj(spool, stdout)
            stdout.flush()
        return
    path = Path(target)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or Path("."))
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if mode is None:
            _copy_mode(path, temp)
        else:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_text(target: str | Path, stdout: IO[bytes] | None = None, *, encoding: str = "utf-8",
                newline: str | None = None) -> Iterator[IO[str]]:
    """Like :func:`atomic_binary`, as a text stream with ``encoding`` and ``newline``
    (pass ``newline=""`` for CSV)."""
    import io

    with atomic_binary(target, stdout) as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline=newline, write_through=True)
        try:
            yield text
            text.flush()
        finally:
            text.detach()  # the binary stream is closed (or, for stdout, kept) by atomic_binary


def _copy_mode(path: Path, temp: Path) -> None:
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(temp, mode)
