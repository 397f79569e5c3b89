"""A team contest's ``[[teams]]`` and ``[[trophies]]`` tables. Standard library only.

A team contest ranks a few known Instagram accounts (one per team), read by their
owner, on followers gained, posts and engagement. ``parse_teams`` and
``parse_trophies`` validate the contest file's arrays of tables and raise ValueError
with a message naming the team or trophy and the fix; :mod:`derby.config` adds the
file's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_TOKEN_ENV = "INSTAGRAM_ACCESS_TOKEN"
LOGINS = ("facebook", "instagram")
TEAM_KEYS = {"name", "account_id", "token_env", "login"}
TROPHY_KEYS = {"name", "metric", "count"}
TROPHY_METRICS: dict[str, str] = {
    "score": "highest score",
    "followers_gained": "most followers gained",
    "likes": "most likes on counted posts",
    "comments": "most comments on counted posts",
    "posts": "most counted posts",
    "engagement_per_post": "(likes + comments) / counted posts (0 with no post)",
    "engagement_per_follower": "(likes + comments) / followers at the freeze (0 with none)",
}
TROPHY_METRICS_FR: dict[str, str] = {
    "score": "pointage le plus élevé",
    "followers_gained": "le plus d'abonnés gagnés",
    "likes": "le plus de J'aime sur les publications comptées",
    "comments": "le plus de commentaires sur les publications comptées",
    "posts": "le plus de publications comptées",
    "engagement_per_post": "(J'aime + commentaires) / publications comptées (0 sans publication)",
    "engagement_per_follower": "(J'aime + commentaires) / abonnés au gel (0 sans abonné)",
}


def metric_description(metric: str, lang: str = "en") -> str:
    """What trophy ``metric`` ranks by, in ``lang`` (``fr`` or ``en``)."""
    return (TROPHY_METRICS_FR if lang == "fr" else TROPHY_METRICS)[metric]
MAX_TEAMS = 50
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


def name_token_env(message: str, team: Team) -> str:
    """``message`` (a refused token's advice, which names the organizer account's
    variable, INSTAGRAM_ACCESS_TOKEN) naming instead the variable ``team``'s token
    comes from (``team.token_env``, such as DERBY_TOKEN_3E_AVENUE)."""
    if team.token_env == DEFAULT_TOKEN_ENV:
        return message
    return message.replace(DEFAULT_TOKEN_ENV, team.token_env)


@dataclass(frozen=True)
class Team:
    """One team: ``name`` (shown on the board), ``account_id`` (the team account's
    Instagram user id, digits: the team's identity), ``token_env`` (the environment or
    ``.env`` variable holding the token that reads it) and ``login`` (``facebook``: a
    Facebook Login token, requests to ``DERBY_GRAPH_URL``; ``instagram``: an Instagram
    Login token of this account, requests to ``DERBY_INSTAGRAM_URL``)."""

    name: str
    account_id: str
    token_env: str = DEFAULT_TOKEN_ENV
    login: str = "facebook"


@dataclass(frozen=True)
class Trophy:
    """One trophy: ``name``, the ``metric`` it ranks teams by (a key of
    :data:`TROPHY_METRICS`) and ``count`` (its number of winners, at least 1)."""

    name: str
    metric: str
    count: int = 1


def parse_teams(raw: object) -> tuple[Team, ...]:
    """Return the validated ``[[teams]]`` of a contest file (a list of tables).

    Raises ValueError for a missing or empty list, unknown keys, a missing or blank
    name, an account id that is not digits, duplicate names (compared case- and
    space-insensitively) or account ids, a token variable that is not a variable name
    and an unknown login.
    """
    if not isinstance(raw, list) or not raw:
        raise ValueError("a team contest needs at least one [[teams]] table with name and account_id")
    if len(raw) > MAX_TEAMS:
        raise ValueError(f"{len(raw)} [[teams]]: at most {MAX_TEAMS}")
    teams: list[Team] = []
    names: dict[str, str] = {}
    ids: dict[str, str] = {}
    for position, table in enumerate(raw, start=1):
        label = f"[[teams]] #{position}"
        if not isinstance(table, dict):
            raise ValueError(f"{label} must be a table")
        unknown = set(table) - TEAM_KEYS
        if unknown:
            raise ValueError(f"{label}: unknown key {sorted(unknown)[0]}; allowed: {', '.join(sorted(TEAM_KEYS))}")
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{label} needs a name (text shown on the board)")
        name = " ".join(name.split())
        label = f"team “{name}”"
        account = table.get("account_id")
        if isinstance(account, int) and not isinstance(account, bool):
            account = str(account)
        if not isinstance(account, str) or not account.strip().isdigit() or not account.strip().isascii():
            raise ValueError(f"{label}: account_id must be the account's numeric Instagram user id, as text "
                             "(e.g. \"17841400000000101\")")
        account = account.strip()
        token_env = table.get("token_env", DEFAULT_TOKEN_ENV)
        if not isinstance(token_env, str) or not _ENV_NAME.match(token_env):
            raise ValueError(f"{label}: token_env must name an environment variable such as DERBY_TOKEN_3E_AVENUE")
        if "TOKEN" not in token_env.upper():
            # derby keeps the values of *TOKEN* and *SECRET* variables out of every message
            raise ValueError(f"{label}: token_env {token_env!r} must have TOKEN in its name (such as "
                             "DERBY_TOKEN_3E_AVENUE), so derby keeps its value out of every message")
        login = table.get("login", "facebook")
        if login not in LOGINS:
            raise ValueError(f"{label}: login must be one of {', '.join(LOGINS)}, not {login!r}")
        key = name.casefold()
        if key in names:
            raise ValueError(f"{label} is listed twice; team names must differ")
        if account in ids:
            raise ValueError(f"{label} has account_id {account}, already the account of team “{ids[account]}”")
        names[key], ids[account] = name, name
        teams.append(Team(name=name, account_id=account, token_env=token_env, login=login))
    return tuple(teams)


def parse_trophies(raw: object) -> tuple[Trophy, ...]:
    """Return the validated ``[[trophies]]`` (none when absent). Raises ValueError for
    unknown keys, a missing name, duplicate names, an unknown metric or a bad count."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError("trophies must be an array of tables ([[trophies]])")
    trophies: list[Trophy] = []
    for position, table in enumerate(raw, start=1):
        label = f"[[trophies]] #{position}"
        if not isinstance(table, dict):
            raise ValueError(f"{label} must be a table")
        unknown = set(table) - TROPHY_KEYS
        if unknown:
            raise ValueError(f"{label}: unknown key {sorted(unknown)[0]}; allowed: {', '.join(sorted(TROPHY_KEYS))}")
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{label} needs a name")
        name = " ".join(name.split())
        metric = table.get("metric")
        if metric not in TROPHY_METRICS:
            raise ValueError(f"trophy “{name}”: metric must be one of {', '.join(TROPHY_METRICS)}, not {metric!r}")
        count = table.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_TEAMS:
            raise ValueError(f"trophy “{name}”: count must be a whole number from 1 to {MAX_TEAMS}")
        if any(t.name.casefold() == name.casefold() for t in trophies):
            raise ValueError(f"trophy “{name}” is listed twice; trophy names must differ")
        trophies.append(Trophy(name=name, metric=metric, count=count))
    return tuple(trophies)


def find_team(teams: tuple[Team, ...] | list[Team], ref: str) -> Team | None:
    """Return the team ``ref`` names: its name (case-insensitive) or its account id."""
    wanted = " ".join(ref.split()).casefold()
    return next((t for t in teams if t.name.casefold() == wanted or t.account_id == wanted), None)
