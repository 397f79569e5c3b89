"""Build the feed a contest's ``[feed]`` table asks for, and name the account its
calls count against."""

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


def budget_account(config: FeedConfig, env: Mapping[str, str]) -> str | None:
    """The account whose hashtag budget and cool-downs the feed of ``config`` uses: the
    Instagram user id (``INSTAGRAM_USER_ID`` of ``env``) for the Graph feed, None while
    it is not a numeric id; the feed kind for others. It is the ``account`` the feed
    made by :func:`make_feed` reports (see :func:`derby.poll.feed_account`)."""
    if config.kind != "graph":
        return config.kind
    user_id = env.get("INSTAGRAM_USER_ID", "").strip()
    return user_id if user_id.isdigit() else None
