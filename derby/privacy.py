"""Keeping the rules' deletion promise: ``derby purge`` pseudonymises personal data once
the retention period of the contest file (``[privacy] retention_days`` after the end)
has passed. The rewrite itself is :func:`derby.store.purge.purge_personal_data`, the
only path the append-only triggers allow; every refusal is in the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlite_utils

from derby import clock
from derby.config import Contest
from derby.errors import DerbyError
from derby.store import draws as draw_store
from derby.store.purge import purge_personal_data


class PurgeRefused(DerbyError):
    """The purge was refused (recorded in the audit log)."""

    exit_code = 2


def purge_due(contest: Contest) -> datetime | None:
    """When personal data must be pseudonymised (aware UTC), or None when the contest
    file sets no retention period."""
    days = contest.terms.retention_days
    return None if days is None else contest.end + timedelta(days=days)


def purge(db: sqlite_utils.Database, contest: Contest, now: datetime, by: str) -> dict:
    """Pseudonymise the personal data when the retention period has passed. Returns what
    :func:`purge_personal_data` returns. Raises PurgeRefused (recorded) when the
    contest file sets no retention period or the period has not passed."""
    due = purge_due(contest)
    reason = None
    if due is None:
        reason = "the contest file sets no [privacy] retention_days; set it (the rules promise when data is deleted)"
    elif now < due:
        reason = (f"the retention period ends {clock.format_local(due, contest.tz, 'en')} "
                  f"({contest.terms.retention_days} days after the end); personal data is kept until then")
    if reason:
        draw_store.record_attempt(db, now, by, "purge_refused", f"refused: {reason}")
        raise PurgeRefused(reason)
    return purge_personal_data(db, now, by)
