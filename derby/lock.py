"""Who holds the daemon lock, and whether that process still runs (standard library,
and the store's :class:`~derby.store.LockHolder`; the lock row itself is kept by
:mod:`derby.store.daemon`)."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from derby import store

STALE_HEARTBEAT = timedelta(minutes=15)
"""A lock held from another host is stale when its heartbeat is older than this."""


def process_identity(now: datetime) -> store.LockHolder:
    """Return the lock row this process would write: a random instance id, pid, host
    name and (on Linux) boot id, since ``now``."""
    return store.LockHolder(instance=uuid.uuid4().hex, pid=os.getpid(), host=socket.gethostname(),
                            boot_id=_boot_id(), since=now, heartbeat_at=now)


def holder_alive(holder: store.LockHolder, now: datetime) -> bool:
    """Whether the process that holds the daemon lock still runs.

    On this host (same boot): its pid exists and is not a zombie. From another boot of
    this host: dead. On another host: its heartbeat is younger than
    :data:`STALE_HEARTBEAT`.
    """
    if holder.host != socket.gethostname():
        return now - holder.heartbeat_at < STALE_HEARTBEAT
    boot = _boot_id()
    if holder.boot_id and boot and holder.boot_id != boot:
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{holder.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None
