"""Sources: what a feed reads. Standard library only.

A source describes *what* to ask for (one Graph API request per page) and how to parse
its answer into a :class:`~derby.feeds.parse.MediaPage`; a feed (``GraphFeed`` over
HTTP, ``FixtureFeed`` from recorded files) does the asking, through its one call path
(errors, retries, usage headers, redaction) and the one paging loop
(:func:`derby.feeds.paging.paginate`). ``docs/sources.md`` describes each source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from derby.config import GraphSettings
from derby.feeds.parse import MediaPage, parse_account, parse_media_page

MEDIA_FIELDS = "id,caption,media_type,permalink,timestamp,like_count,comments_count,children{id,media_type}"
PAGE_LIMIT = 50  # the most the hashtag edges accept per page (Graph API reference)


@dataclass(frozen=True)
class Request:
    """One Graph API GET: ``path`` below the base URL (no query string), ``params``
    without ``user_id`` and ``access_token`` (the feed adds them), and ``account``:
    the settings (token, user id, base URL, app secret) this request is made with, or
    None for the feed's own. Owner-level team accounts give each request theirs, and
    ``owner`` true: the account is named in the path, so no ``user_id`` is sent."""

    path: str
    params: dict[str, object] = field(default_factory=dict)
    account: GraphSettings | None = None
    owner: bool = False


class Source(Protocol):
    """Something that yields pages of media readings.

    ``label`` names it in paging notes (``#17841… recent_media``). ``request(after)``
    is the request of the page after cursor ``after`` (None: the first page);
    ``parse(payload, endpoint)`` turns a decoded body into a MediaPage or raises
    FeedError. A source that reads one known media returns a page without a next page.
    """

    label: str

    def request(self, after: str | None) -> Request: ...

    def parse(self, payload: object, endpoint: str) -> MediaPage: ...


class Feed(Protocol):
    """What the poller needs from a feed: read any source, resolve hashtag names.

    Optional, read with getattr by the poller: ``account`` (whose rate limits and
    hashtag budget the calls count against; default the feed's name), ``retries``,
    ``notes`` (paging notes), ``usage`` (the latest usage reading, or None) and
    ``redact`` (text -> text without secrets).
    """

    name: str

    def read(self, source: Source, now: datetime) -> Iterator[MediaPage]:
        """Yield the parsed pages of ``source`` as seen at ``now`` (aware UTC); raises FeedError."""

    def resolve_hashtag(self, name: str) -> str:
        """Return the Graph hashtag id of normalized hashtag ``name``; raises FeedError."""

    @property
    def requests_made(self) -> int:
        """Requests (or fixture files) read since the feed was created."""


@dataclass(frozen=True)
class HashtagEdge:
    """``GET /{hashtag-id}/recent_media`` or ``/top_media`` (Graph API "IG Hashtag"
    reference): ``limit`` at most 50, paged by ``after`` cursors. ``hashtag`` is the
    normalized name the readings are stored under."""

    hashtag_id: str
    edge: str
    hashtag: str = ""

    @property
    def label(self) -> str:
        return f"#{self.hashtag or self.hashtag_id} {self.edge}"

    def request(self, after: str | None) -> Request:
        params: dict[str, object] = {"fields": MEDIA_FIELDS, "limit": PAGE_LIMIT}
        if after:
            params["after"] = after
        return Request(f"{self.hashtag_id}/{self.edge}", params)

    def parse(self, payload: object, endpoint: str) -> MediaPage:
        return parse_media_page(payload, endpoint=endpoint)


HASHTAG_SEARCH = "ig_hashtag_search"
"""The path of ``GET /ig_hashtag_search?user_id&q`` (Graph API "IG Hashtag Search")."""


def hashtag_search(name: str) -> Request:
    """The request that resolves hashtag ``name`` to its id (counts toward the account's
    30 unique hashtags per rolling 7 days)."""
    return Request(HASHTAG_SEARCH, {"q": name})


# -- owner-level reads of team accounts (Graph API "IG User" and "IG User Media") --------

ACCOUNT_FIELDS = "id,username,followers_count,follows_count,media_count"
ACCOUNT_MEDIA_FIELDS = "id,caption,media_type,permalink,timestamp,like_count,comments_count"


@dataclass(frozen=True)
class AccountFields:
    """``GET /{ig-user-id}?fields=id,username,followers_count,follows_count,media_count``
    of a team account, read by its owner (``account``: the team's settings, None in a
    replay). One request; its page has no media and carries the ``reading``."""

    account_id: str
    team: str
    account: GraphSettings | None = None

    @property
    def label(self) -> str:
        return f"team {self.team} account"

    def request(self, after: str | None) -> Request:
        return Request(self.account_id, {"fields": ACCOUNT_FIELDS}, account=self.account, owner=True)

    def parse(self, payload: object, endpoint: str) -> MediaPage:
        warnings: list[str] = []
        reading = parse_account(payload, self.account_id, warnings, endpoint=endpoint)
        return MediaPage(media=[], warnings=warnings, reading=reading)


@dataclass(frozen=True)
class AccountMedia:
    """``GET /{ig-user-id}/media?fields=…&limit=50`` of a team account, newest first,
    paged by ``after`` cursors; paging ends (``enough``) once a page reaches posts
    published before ``since`` (aware UTC, the contest's start)."""

    account_id: str
    team: str
    since: datetime
    account: GraphSettings | None = None

    @property
    def label(self) -> str:
        return f"team {self.team} media"

    def request(self, after: str | None) -> Request:
        params: dict[str, object] = {"fields": ACCOUNT_MEDIA_FIELDS, "limit": PAGE_LIMIT}
        if after:
            params["after"] = after
        return Request(f"{self.account_id}/media", params, account=self.account, owner=True)

    def parse(self, payload: object, endpoint: str) -> MediaPage:
        return parse_media_page(payload, endpoint=endpoint)

    def enough(self, page: MediaPage) -> bool:
        return any(m.timestamp is not None and m.timestamp < self.since for m in page.media)
