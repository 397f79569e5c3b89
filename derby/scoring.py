"""Scoring: pure functions from stored entries and rules to scores and a ranking.

Standard library only. Nothing here reads the database or the clock.

Score of an entry = ``points_per_like`` × likes + ``points_per_comment`` × comments,
from the snapshot the store hands over. Unknown (hidden) likes count as 0 and the entry
is flagged ``hidden_likes``. An entry is *eligible* when its own timestamp lies in the
contest window and, with ``require_hashtag_in_caption``, its caption holds a contest
hashtag as a whole tag. Ranking: score descending, then earlier timestamp, then media id
ascending; ranks are 1..N over eligible entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from derby.text import caption_hashtags

ELIGIBLE = "eligible"
REASONS = {
    "no_timestamp": "the feed gave no timestamp for this post",
    "before_start": "posted before the contest started",
    "after_end": "posted after the contest closed",
    "no_caption": "no caption, so no contest hashtag in it",
    "missing_hashtag": "no contest hashtag in the caption",
}


@dataclass
class ScoredEntry:
    """One media with its score and standing.

    ``status`` is ``eligible`` or a key of :data:`REASONS`; ``rank`` is None unless
    eligible; ``flags`` holds ``hidden_likes`` and ``tied``; ``points`` maps each rule
    that contributed to its points. Times are aware UTC.
    """

    media_id: str
    permalink: str | None
    caption: str | None
    media_type: str | None
    timestamp: datetime | None
    like_count: int | None
    comments_count: int | None
    observed_at: datetime | None
    username: str | None = None
    score: float = 0.0
    status: str = ELIGIBLE
    rank: int | None = None
    flags: list[str] = field(default_factory=list)
    points: dict[str, float] = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        """A sentence saying why the entry is not ranked, or None when eligible."""
        return REASONS.get(self.status)


def eligibility(entry: Mapping, hashtags: Iterable[str], start: datetime, end: datetime,
                rules: Mapping[str, object]) -> str:
    """Return ``eligible`` or the status key saying why ``entry`` is not.

    ``hashtags`` are normalized contest hashtags; the window is [start, end], inclusive.
    """
    timestamp = entry.get("timestamp")
    if timestamp is None:
        return "no_timestamp"
    if timestamp < start:
        return "before_start"
    if timestamp > end:
        return "after_end"
    if rules.get("require_hashtag_in_caption", True):
        caption = entry.get("caption")
        if not caption:
            return "no_caption"
        if not set(caption_hashtags(caption)) & set(hashtags):
            return "missing_hashtag"
    return ELIGIBLE


def score_entry(entry: Mapping, rules: Mapping[str, object]) -> tuple[float, dict[str, float], list[str]]:
    """Return (score, points per rule, flags) of one entry's snapshot."""
    likes = entry.get("like_count")
    comments = entry.get("comments_count") or 0
    flags = []
    if likes is None:
        flags.append("hidden_likes")
        likes = 0
    points = {
        "points_per_like": float(rules["points_per_like"]) * likes,  # type: ignore[arg-type]
        "points_per_comment": float(rules["points_per_comment"]) * comments,  # type: ignore[arg-type]
    }
    return sum(points.values()), points, flags


def rank_entries(entries: Iterable[Mapping], hashtags: Iterable[str], start: datetime, end: datetime,
                 rules: Mapping[str, object]) -> list[ScoredEntry]:
    """Score, judge and rank ``entries`` (dicts as given by ``store.read_entries``).

    Returns every entry: eligible ones first in rank order, then the others ordered by
    media id. Equal scores are ordered by earlier timestamp, then media id, and both
    entries are flagged ``tied``.
    """
    tags = list(hashtags)
    scored = []
    for entry in entries:
        score, points, flags = score_entry(entry, rules)
        scored.append(ScoredEntry(
            media_id=entry["media_id"], permalink=entry.get("permalink"), caption=entry.get("caption"),
            media_type=entry.get("media_type"), timestamp=entry.get("timestamp"),
            like_count=entry.get("like_count"), comments_count=entry.get("comments_count"),
            observed_at=entry.get("observed_at"), username=entry.get("username"),
            score=score, points=points, flags=flags,
            status=eligibility(entry, tags, start, end, rules),
        ))
    ranked = sorted((e for e in scored if e.status == ELIGIBLE), key=lambda e: (-e.score, e.timestamp, e.media_id))
    for position, entry in enumerate(ranked, start=1):
        entry.rank = position
    for before, after in zip(ranked, ranked[1:]):
        if before.score == after.score:
            for e in (before, after):
                if "tied" not in e.flags:
                    e.flags.append("tied")
    others = sorted((e for e in scored if e.status != ELIGIBLE), key=lambda e: e.media_id)
    return ranked + others
