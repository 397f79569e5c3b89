"""Freshness of engagement and edited captions: flags computed beside the ranking.
Standard library only; nothing here reads the database or the clock.

The hashtag feed stops returning a post after 24 hours (``recent_media``) unless it is
popular (``top_media``), and a stranger's post cannot be re-read by id, so an entry's
engagement may be old. Each entry's engagement has a source and a time (the newest
reading the score may use, see :mod:`derby.store.readings`); the flags say what a judge
must know about it:

- ``stale`` (ranked entries): that reading is more than ``stale_after`` older than the reference time
  (the freeze once it has passed, else the standings' moment);
- ``gone``: a source reported the post deleted or hidden after its last reading;
- ``unseen`` (ranked entries): a source read successfully should have returned the post after its last
  reading and did not (``recent_media`` within the post's first 24 hours, a mention
  refresh);
- ``edited``: a later reading removed the contest hashtag or the required mention from
  a caption that had them, so the entry left the ranking;
- ``entrant_mismatch``: a refresh named another author than the entrant list (the
  list's name is kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from derby.text import caption_hashtags, mentions

FLAGS = ("stale", "gone", "unseen", "edited", "entrant_mismatch")
EDITABLE_OUT = ("no_caption", "missing_hashtag", "missing_mention")
"""Statuses an edit of the caption can give an entry that was eligible before."""


@dataclass(frozen=True)
class Freshness:
    """One entry's engagement provenance: ``source`` and ``read_at`` (aware UTC) of the
    reading used (None when it has no snapshot), whether it is a final-sweep refresh,
    its freshness ``flags`` (in :data:`FLAGS` order), and ``previous_caption`` (the
    newest earlier caption that still qualified, for an ``edited`` entry)."""

    source: str | None
    read_at: datetime | None
    final_sweep: bool
    flags: tuple[str, ...]
    previous_caption: str | None = None


def reference_time(moment: datetime, freeze: datetime, window_end: datetime | None = None) -> datetime:
    """The time engagement freshness is judged against: ``moment`` while the contest
    runs, the freeze once it has passed; with the rule ``engagement_window_hours``, the
    end of the entry's window when earlier."""
    return min(moment, freeze, window_end) if window_end is not None else min(moment, freeze)


def engagement_flags(read_at: datetime | None, outcomes: Iterable[tuple[str, str, datetime]],
                     reference: datetime, stale_after: timedelta) -> list[str]:
    """Return ``stale``, ``gone`` and ``unseen`` as they apply to an entry whose newest
    usable reading was at ``read_at`` (None: never read) given the sources'
    ``outcomes`` ``(source, outcome, at)``."""
    flags = []
    if read_at is not None and reference - read_at > stale_after:
        flags.append("stale")
    after = [(outcome, at) for _, outcome, at in outcomes if read_at is None or at > read_at]
    if any(outcome == "gone" for outcome, _ in after):
        flags.append("gone")
    if any(outcome == "missing" for outcome, _ in after):
        flags.append("unseen")
    return flags


def qualifying_caption(status: str, previous: Iterable[str | None], tags: Iterable[str],
                       mention: str | None, require_hashtag: bool = True) -> str | None:
    """For an entry out of the ranking with ``status`` (see :data:`EDITABLE_OUT`),
    return the newest of its ``previous`` captions (oldest first) that held a contest
    hashtag (when required) and the required mention, or None: the edit took it out."""
    if status not in EDITABLE_OUT:
        return None
    tag_set = set(tags)
    for caption in reversed(list(previous)):
        if not caption:
            continue
        if require_hashtag and not any(tag in tag_set for tag in caption_hashtags(caption)):
            continue
        if mention and not mentions(caption, mention):
            continue
        return caption
    return None


class Assessor:
    """Judges entries' freshness one at a time, as the standings stream them.

    ``readings`` (``{media_id: Reading}``), ``outcomes``, ``previous`` captions and
    ``authors`` (``{media_id: username}`` named by refreshes) come from the store;
    ``window`` is the rule ``engagement_window_hours``, when set. Calling it with a
    scored entry (``media_id``, ``status``, ``observed_at``, ``timestamp``,
    ``username``, ``flags``) appends the entry's flags (and ``entrant_mismatch`` when
    a refresh named another author than the entrant list) and returns its
    :class:`Freshness`."""

    def __init__(self, readings: Mapping | None, outcomes: Mapping, previous: Mapping, authors: Mapping, *,
                 tags: Iterable[str], mention: str | None, require_hashtag: bool, moment: datetime,
                 freeze: datetime, stale_after: timedelta, window: timedelta | None = None) -> None:
        self.readings, self.outcomes, self.previous, self.authors = readings, outcomes, previous, authors
        self.tags, self.mention, self.require_hashtag = list(tags), mention, require_hashtag
        self.moment, self.freeze, self.stale_after, self.window = moment, freeze, stale_after, window
        self.reference = reference_time(moment, freeze)

    def __call__(self, entry, reading=None) -> Freshness:
        """Judge ``entry``; ``reading`` is its newest usable reading when the caller
        read it with the entry (``readings`` None), else it is looked up there."""
        media_id = entry.media_id
        if self.readings is not None:
            reading = self.readings.get(media_id)
        if entry.observed_at is None:
            read_at, source, sweep = None, None, False
        elif reading is None or reading.read_at < entry.observed_at:
            read_at, source, sweep = entry.observed_at, None, False
        else:
            read_at, source, sweep = reading.read_at, reading.source, reading.final_sweep
        ref = self.reference if self.window is None or entry.timestamp is None else \
            reference_time(self.moment, self.freeze, entry.timestamp + self.window)
        flags = engagement_flags(read_at, self.outcomes.get(media_id, ()), ref, self.stale_after) \
            if media_id in self.outcomes or read_at is not None else []
        if entry.status != "eligible":  # the ranking's freshness: an entry out of it keeps only "gone"
            flags = [f for f in flags if f == "gone"]
        earlier = None
        if media_id in self.previous:
            earlier = qualifying_caption(entry.status, self.previous[media_id], self.tags, self.mention,
                                         self.require_hashtag)
            if earlier is not None:
                flags.append("edited")
        author = self.authors.get(media_id)
        if author is not None and entry.username is not None and entry.username != author:
            flags.append("entrant_mismatch")
        for flag in flags:
            if flag not in entry.flags:
                entry.flags.append(flag)
        return Freshness(source, read_at, sweep, tuple(flags), earlier)
