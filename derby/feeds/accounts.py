"""The accounts feed: a team contest's accounts, each read by its owner over the Graph
API client of :mod:`derby.feeds.graph` (one call path: parsing, error classes, retries,
usage headers, redaction).

Requests (Meta's Instagram Graph API reference, "IG User" and "IG User Media"; see the
shared ``docs/graph-api.md``, "Owner-level reads"):
``GET /{ig-user-id}?fields=id,username,followers_count,follows_count,media_count`` and
``GET /{ig-user-id}/media?fields=id,caption,media_type,permalink,timestamp,like_count,
comments_count&limit=50``, paged by the ``after`` cursor (``paging.next`` carries the
token and is never followed) until a page reaches posts older than the contest's start.

Each team's requests carry that team's token only (``team.token_env``, read when the
team is first read) and go to its login's base URL (``facebook``: ``DERBY_GRAPH_URL``;
``instagram``: ``DERBY_INSTAGRAM_URL``). Usage is read per account: ``X-App-Usage`` at
95 % stops every team (a ThrottledError of scope ``app``), a team's
``X-Business-Use-Case-Usage`` at 95 % only that team (scope ``account``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime

from derby.config import GraphSettings, team_settings
from derby.errors import ConfigError
from derby.feeds.graph import STOP_PCT, GraphFeed
from derby.feeds.paging import older_than, paginate
from derby.feeds.parse import AccountReading, AuthError, MediaPage, ThrottledError, parse_account, parse_media_page
from derby.secrets import redact
from derby.teams import Team

ACCOUNT_FIELDS = "id,username,followers_count,follows_count,media_count"
ACCOUNT_MEDIA_FIELDS = "id,caption,media_type,permalink,timestamp,like_count,comments_count"
PAGE_LIMIT = 50


class AccountsFeed:
    """Reads team accounts; one Graph API client per team (its token, its base URL),
    sharing one HTTP session and the poll's deadline (seconds, counted from the first
    request). ``env`` is where team tokens are read (the CLI passes ``os.environ`` after
    loading ``.env``); the other options are :class:`~derby.feeds.graph.GraphFeed`'s.

    After use: ``requests_made``, ``retries``, ``notes`` and ``usage`` (the latest
    reading of any team). Raises FeedError subclasses, token-free; a team whose token
    variable is missing gives an AuthError naming the team.
    """

    name = "accounts"
    account = "app"
    """Where an app-level cool-down is recorded: it binds every team."""

    def __init__(self, env: Mapping[str, str], *, timeout: float = 20.0, page_cap: int = 10, deadline: float = 600.0,
                 session=None, monotonic: Callable[[], float] | None = None, **options) -> None:
        import time

        self._env = env
        self._timeout, self._page_cap, self._deadline = timeout, page_cap, deadline
        self._session = session
        self._monotonic = monotonic or time.monotonic
        self._options = options
        self._clients: dict[str, GraphFeed] = {}
        self._ends_at: float | None = None
        self.notes: list[str] = []
        self.usage: dict | None = None

    @property
    def requests_made(self) -> int:
        return sum(c.requests_made for c in self._clients.values())

    @property
    def retries(self) -> int:
        return sum(c.retries for c in self._clients.values())

    def redact(self, text: str) -> str:
        """Return ``text`` without any team's token or the app secret."""
        for client in self._clients.values():
            text = client.redact(text)
        return redact(text)

    def _client(self, team: Team) -> GraphFeed:
        try:
            settings = team_settings(team, self._env)
        except ConfigError as exc:
            raise AuthError(str(exc), problem="invalid", endpoint=team.account_id) from None
        key = f"{team.account_id} {settings.base_url} {hash(settings.access_token)}"
        client = self._clients.get(key)
        if client is None:
            if self._ends_at is None:
                self._ends_at = self._monotonic() + self._deadline
            remaining = max(self._ends_at - self._monotonic(), 0.001)
            graph = GraphSettings(access_token=settings.access_token, user_id="", base_url=settings.base_url,
                                  app_secret=settings.app_secret)
            client = GraphFeed(graph, timeout=self._timeout, page_cap=self._page_cap, deadline=remaining,
                               session=self._session, monotonic=self._monotonic, **self._options)
            client.notes = self.notes
            self._session = self._session or client._session  # one connection pool for every team
            self._clients[key] = client
        return client

    def _call(self, client: GraphFeed, path: str, params: dict[str, object], parse):
        if self.usage and self.usage.get("app_pct", 0.0) >= STOP_PCT:  # another team's answer said so
            regain = self.usage["regain_minutes"]
            raise ThrottledError(f"the app's usage is at {self.usage['app_pct']:g} % of the platform's limit; "
                                 f"stopped before calling {path}", retry_after=regain * 60 if regain else None,
                                 endpoint=path, scope="app")
        try:
            return client._call(path, params, parse)
        finally:
            if client.usage is not None:
                self.usage = client.usage

    def read_account(self, team: Team, now: datetime | None = None) -> tuple[AccountReading, list[str]]:
        """Return the team account's reading and the warnings about it (``now`` is
        unused: the API answers for the present). Raises FeedError."""
        client = self._client(team)
        warnings: list[str] = []
        path = team.account_id
        reading = self._call(client, path, {"fields": ACCOUNT_FIELDS},
                             lambda payload: parse_account(payload, team.account_id, warnings, endpoint=path))
        return reading, warnings

    def account_media_pages(self, team: Team, since: datetime, now: datetime | None = None) -> Iterator[MediaPage]:
        """Yield the account's media pages, newest first, until one reaches posts older
        than ``since`` (aware UTC). Raises FeedError."""
        client = self._client(team)
        path = f"{team.account_id}/media"

        def fetch(after: str | None) -> MediaPage:
            params: dict[str, object] = {"fields": ACCOUNT_MEDIA_FIELDS, "limit": PAGE_LIMIT}
            if after:
                params["after"] = after
            return self._call(client, path, params, lambda payload: parse_media_page(payload, endpoint=path))

        yield from paginate(fetch, self._page_cap, self.notes, f"team {team.name} media", older_than(since))
