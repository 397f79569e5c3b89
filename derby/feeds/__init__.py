"""Hashtag feeds: where contest posts come from.

A feed resolves hashtag names to Graph hashtag ids and yields parsed pages of media for
an edge (``recent_media`` or ``top_media``). Two feeds share one page parser
(:mod:`derby.feeds.parse`), so live and offline polls give the same records:

- :class:`derby.feeds.graph.GraphFeed`: the Instagram Graph API over HTTP;
- :class:`derby.feeds.fixture.FixtureFeed`: recorded page bodies replayed by poll time.

Feeds know nothing of SQLite; the poller stores what they yield.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

from derby.feeds.parse import (
    AuthError,
    BadRequestError,
    BudgetError,
    FeedError,
    HashtagLimitError,
    Media,
    MediaPage,
    ThrottledError,
    TransientError,
)

EDGES = ("recent_media", "top_media")

__all__ = ["EDGES", "AuthError", "BadRequestError", "BudgetError", "Feed", "FeedError", "HashtagLimitError", "Media",
           "MediaPage", "ThrottledError", "TransientError"]


class Feed(Protocol):
    """What the poller needs from a feed."""

    name: str

    def resolve_hashtag(self, name: str) -> str:
        """Return the Graph hashtag id of normalized hashtag ``name``; raises FeedError."""

    def media_pages(self, hashtag_id: str, edge: str, now: datetime) -> Iterator[MediaPage]:
        """Yield parsed pages of ``edge`` for ``hashtag_id`` as seen at ``now`` (UTC)."""

    @property
    def requests_made(self) -> int:
        """Requests (or fixture files) read since the feed was created."""

    # Optional, read with getattr by the poller: ``account`` (whose rate limits and
    # hashtag budget the calls count against; default the feed's name), ``retries``,
    # ``notes`` (paging notes) and ``usage`` (the latest usage reading, or None).
