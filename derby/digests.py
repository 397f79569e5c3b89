"""Digests that tie a draw or a results file to the contest and the readings it used.

Each is the SHA-256 (hex) of canonical JSON (:func:`derby.draw.canonical_bytes`), so
the same data always gives the same digest and any change to it gives another.
"""

from __future__ import annotations

from derby import clock
from derby.config import Contest, contest_kind
from derby.draw import canonical_bytes, sha256_hex


def contest_definition(contest: Contest) -> dict:
    """The contest's definition as digested: title, hashtags, time zone, start, end and
    the engagement freeze (ISO 8601 UTC), and the contest kind."""
    return {
        "title": contest.title, "hashtags": list(contest.hashtags), "timezone": contest.timezone,
        "start": clock.to_store(contest.start), "end": clock.to_store(contest.end),
        "freeze": clock.to_store(contest.freeze), "kind": contest_kind(contest),
    }


def contest_digest(contest: Contest) -> str:
    """SHA-256 hex of :func:`contest_definition`."""
    return sha256_hex(canonical_bytes(contest_definition(contest)))


def reading_digest(entry) -> str:
    """SHA-256 hex of the data one ranked entry's score used: its media id, caption,
    media type, post time, and the snapshot (observed at, like and comment counts).
    ``entry`` is a :class:`derby.scoring.ScoredEntry`."""
    return sha256_hex(canonical_bytes([
        entry.media_id, entry.caption, entry.media_type,
        clock.to_store(entry.timestamp) if entry.timestamp else None,
        clock.to_store(entry.observed_at) if entry.observed_at else None,
        entry.like_count, entry.comments_count,
    ]))


def team_reading_digest(team) -> str:
    """SHA-256 hex of the data one ranked team's score used: its account id, the
    follower readings at the baseline and at the freeze, and the reading digest
    (:func:`reading_digest`) of each counted post, by media id. ``team`` is a
    :class:`derby.team_scoring.TeamScore`."""
    return sha256_hex(canonical_bytes([
        team.account_id, team.followers_baseline, team.followers_count,
        sorted([e.media_id, reading_digest(e)] for e in team.counted),
    ]))
