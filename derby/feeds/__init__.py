"""Feeds: where contest posts come from.

A feed reads *sources* (:mod:`derby.feeds.sources`: today the two edges of each
hashtag) and yields parsed pages of media readings. Two feeds share one page parser
(:mod:`derby.feeds.parse`) and one paging loop (:mod:`derby.feeds.paging`), so live and
offline polls give the same records:

- :class:`derby.feeds.graph.GraphFeed`: the Instagram Graph API over HTTP (its one call
  path holds errors, retries, usage headers and redaction for every source);
- :class:`derby.feeds.fixture.FixtureFeed`: recorded page bodies replayed by poll time.

Feeds know nothing of SQLite; the poller stores what they yield.
"""

from __future__ import annotations

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
from derby.feeds.sources import Feed, HashtagEdge, Request, Source

EDGES = ("recent_media", "top_media")

__all__ = ["EDGES", "AuthError", "BadRequestError", "BudgetError", "Feed", "FeedError", "HashtagEdge",
           "HashtagLimitError", "Media", "MediaPage", "Request", "Source", "ThrottledError", "TransientError"]
