"""Build the feed a contest's ``[feed]`` table asks for."""

from __future__ import annotations

from collections.abc import Mapping

from derby.config import FeedConfig, graph_settings
from derby.feeds import Feed


def make_feed(config: FeedConfig, env: Mapping[str, str]) -> Feed:
    """Return a GraphFeed (settings read from ``env``), an AccountsFeed (team tokens read
    from ``env`` when each team is read) or a FixtureFeed.

    Raises ConfigError when the Graph settings are missing, FeedError when the
    fixture folder is unusable.
    """
    if config.kind == "accounts":
        from derby.feeds.accounts import AccountsFeed

        return AccountsFeed(env, timeout=config.timeout, page_cap=config.page_cap, deadline=config.deadline)
    if config.kind == "fixture":
        from derby.feeds.fixture import FixtureFeed

        return FixtureFeed(config.path, page_cap=config.page_cap)  # type: ignore[arg-type]
    from derby.feeds.graph import GraphFeed

    return GraphFeed(graph_settings(env), timeout=config.timeout, page_cap=config.page_cap, deadline=config.deadline)
