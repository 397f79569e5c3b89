"""The single-instance lock, and the one rule for whether its holder still runs.

``derby run`` holds an OS file lock (``fcntl.flock``) on a file beside the database
(``derby.db.lock``) for its whole life, and ``derby poll`` for one poll. The kernel
releases it the moment its process ends, however it ends (exit, ``kill -9``, a crash,
the OOM killer, a reboot), so a dead process never blocks the next start, whatever pid
it had and whatever pid the next one gets (a restarted container is pid 1 again). That
is the one liveness rule, used to refuse a second poller, by ``derby status``, and
before closing poll runs left ``running``: the holder is alive exactly while the file
lock is held. The ``daemon_lock`` row (:mod:`derby.store.daemon`) only describes the
holder (pid, host, since, heartbeat, next poll) for ``derby status`` and the refusal.

flock is reliable on a local filesystem only (on NFS it may be emulated or ignored):
keep the database, and so its lock file, on a local disk. Standard library only.
"""

from __future__ import annotations

import fcntl
import os
import socket
import uuid
from datetime import datetime
from pathlib import Path

from derby import store


def process_identity(now: datetime) -> store.LockHolder:
    """Return the lock row this process would write: a random instance id, pid, host
    name and (on Linux) boot id, since ``now``."""
    return store.LockHolder(instance=uuid.uuid4().hex, pid=os.getpid(), host=socket.gethostname(),
                            boot_id=_boot_id(), since=now, heartbeat_at=now)


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def busy_error(holder: store.LockHolder | None, *, poll: bool = False) -> store.AlreadyRunning:
    """The refusal when another process holds the lock: it names the daemon from its
    lock row, or says a ``derby poll`` holds it (no row: a poll by hand writes none)."""
    if holder is None:
        return store.AlreadyRunning("another derby poll is using this database right now; run again when it ends")
    what = ("it polls on its schedule, and a poll by hand would spend the same rate budget; --force to poll anyway"
            if poll else f"stop it first (kill {holder.pid}, or systemctl stop derby)")
    return store.AlreadyRunning(f"another derby run is already polling this database: {holder.describe()}; {what}")


SUFFIX = ".lock"


def lock_path(db_path: str | Path) -> Path | None:
    """The lock file of a database: ``derby.db.lock`` beside ``derby.db`` (None for an
    in-memory database, which nothing else can open)."""
    text = str(db_path)
    if text == ":memory:" or not text:
        return None
    return Path(text + SUFFIX)


class FileLock:
    """An exclusive, non-blocking flock on a database's lock file, for one holder.

    :meth:`acquire` takes it (True) or says another process holds it (False);
    :meth:`release` gives it up. Raises OSError when the lock file cannot be created or
    opened (a read-only folder, no permission).
    """

    def __init__(self, db_path: str | Path) -> None:
        self.path = lock_path(db_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None or self.path is None

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; return whether this object now holds it."""
        if self.held:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the lock up (closing the file releases it); the file itself stays."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def is_held(db_path: str | Path) -> bool | None:
    """Whether a process holds the lock of the database at ``db_path`` (this process
    too, when it holds it through another :class:`FileLock`). None when that cannot be
    told: the lock file exists but cannot be opened (another user's, mode 0600).

    Probing briefly takes the lock when it is free and gives it back at once.
    """
    path = lock_path(db_path)
    if path is None or not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except PermissionError:
        return None
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing also drops the lock if the probe took it
    return False
