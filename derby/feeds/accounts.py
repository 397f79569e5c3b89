"""The accounts feed: a team contest's accounts, each read by its owner through the
one Graph API call path of :class:`~derby.feeds.graph.GraphFeed` (parsing, error
classes, retries, usage headers, redaction), as the sources
:class:`~derby.feeds.sources.AccountFields` and :class:`~derby.feeds.sources.AccountMedia`.

Each team's requests carry that team's settings only (``team_account(team)``: the token
of ``team.token_env``, read from ``env`` when the team is read, and its login's base
URL: ``facebook``, ``DERBY_GRAPH_URL``; ``instagram``, ``DERBY_INSTAGRAM_URL``). Usage
is read per account: ``X-App-Usage`` at 95 % stops every team (a ThrottledError of
scope ``app``), a team's ``X-Business-Use-Case-Usage`` at 95 % only that team (scope
``account``); see :meth:`GraphFeed._usage_for`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime

from derby.config import DEFAULT_GRAPH_URL, GraphSettings, graph_base_url, team_settings
from derby.errors import ConfigError
from derby.feeds.graph import GraphFeed
from derby.feeds.parse import AuthError, BadRequestError, MediaPage
from derby.feeds.sources import Source
from derby.teams import Team


class AccountsFeed:
    """Reads team accounts over one GraphFeed (one HTTP session, one deadline for the
    whole poll). ``env`` is where team tokens are read (the CLI passes ``os.environ``
    after loading ``.env``); the other options are GraphFeed's.

    After use: ``requests_made``, ``retries``, ``notes`` and ``usage`` (the latest
    reading of any team). Raises FeedError subclasses, token-free.
    """

    name = "accounts"
    """Also the account an app-level cool-down is recorded for (it binds every team;
    :func:`derby.feeds.factory.budget_account` names it the same)."""

    def __init__(self, env: Mapping[str, str], **options) -> None:
        self._env = env
        # no account of its own: every request carries its team's settings
        # the app's id and secret only ask debug_token (token expiry), at DERBY_GRAPH_URL
        try:
            base = graph_base_url(env)
        except ConfigError:
            base = DEFAULT_GRAPH_URL
        app = GraphSettings(access_token="", user_id="", base_url=base,
                            app_secret=env.get("INSTAGRAM_APP_SECRET", "").strip() or None,
                            app_id=env.get("INSTAGRAM_APP_ID", "").strip() or None)
        self._graph = GraphFeed(app, **options)

    def team_account(self, team: Team) -> GraphSettings:
        """Return the settings ``team``'s requests are made with. Raises AuthError
        naming the team when its token variable is not set (a person must set it)."""
        try:
            settings = team_settings(team, self._env)
        except ConfigError as exc:
            raise AuthError(str(exc), problem="invalid", endpoint=team.account_id) from None
        return GraphSettings(access_token=settings.access_token, user_id=team.account_id, base_url=settings.base_url,
                             app_secret=settings.app_secret)

    def read(self, source: Source, now: datetime | None = None) -> Iterator[MediaPage]:
        """Yield the parsed pages of ``source`` (see :meth:`GraphFeed.read`)."""
        return self._graph.read(source, now)

    def resolve_hashtag(self, name: str) -> str:
        raise BadRequestError(f"a team contest makes no hashtag search (#{name})")

    def team_tokens(self, teams: list[Team], login: str = "facebook") -> list[tuple[str, str]]:
        """``(token_env, token)`` of each team of ``login`` whose token is set. Facebook
        Login tokens are those ``debug_token`` can tell the expiry of; an Instagram Login
        token is not a Facebook app's to debug (its expiry is recorded with ``derby token
        issued``)."""
        found = []
        for team in teams:
            token = self._env.get(team.token_env, "").strip()
            if team.login == login and token and (team.token_env, token) not in found:
                found.append((team.token_env, token))
        return found

    @property
    def can_debug_tokens(self) -> bool:
        """Whether ``debug_token`` can be asked (``INSTAGRAM_APP_ID`` and ``INSTAGRAM_APP_SECRET`` set)."""
        return self._graph.can_debug_tokens

    def debug_token(self, token: str) -> dict:
        """See :meth:`GraphFeed.debug_token`."""
        return self._graph.debug_token(token)

    def redact(self, text: str) -> str:
        """Return ``text`` without any team's token, the app secret or a proof."""
        return self._graph.redact(text)

    @property
    def requests_made(self) -> int:
        return self._graph.requests_made

    @property
    def retries(self) -> int:
        return self._graph.retries

    @property
    def notes(self) -> list[str]:
        return self._graph.notes

    @property
    def usage(self) -> dict | None:
        return self._graph.usage
