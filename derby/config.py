"""The contest file (TOML, read with ``tomllib``) and the Graph API settings.

``load_contest(path)`` returns a validated :class:`Contest` or raises
:class:`~derby.errors.ConfigError` with a one-line message naming the file, the key and
the fix. ``graph_settings(env)`` reads the Graph API settings from a mapping (the CLI
passes ``os.environ`` after loading ``.env``); this module never reads the environment.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from derby import clock, rules, terms as contest_terms
from derby.errors import ConfigError
from derby.teams import Team, Trophy, parse_teams, parse_trophies
from derby.text import normalize_hashtag
from derby.units import format_duration, parse_duration, plural  # noqa: F401 - part of the contest file's vocabulary

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v24.0"
DEFAULT_INSTAGRAM_URL = "https://graph.instagram.com/v24.0"
FEED_KINDS = ("graph", "fixture", "accounts")
LANGUAGES = ("fr", "en")

DEFAULT_EVERY = 1800.0
"""Seconds between polls when ``[schedule] every`` is not given (30 minutes)."""
DEFAULT_GRACE = 86400.0
"""Seconds ``derby run`` keeps polling after the contest's end (24 hours)."""
MAX_EVERY = 6 * 3600.0
"""The longest interval accepted: ``recent_media`` reaches back only 24 hours (Graph API
reference, IG Hashtag recent_media), so a poll every 6 hours survives three failed polls
in a row without losing posts."""
MIN_EVERY_GRAPH = 60.0
"""The shortest interval accepted for the Graph API feed."""
MAX_EVERY_TEAMS = 24 * 3600.0
"""The longest interval of a team contest: an owner reads its own media at any age (no
24-hour window to outrun), so polls may be a day apart."""
REQUESTS_PER_HOUR_BUDGET = 200
"""Graph API calls derby allows itself per hour: the platform rate limit for a user
access token is 200 calls per user per hour (Meta, Graph API "Rate Limiting",
platform rate limits). A schedule whose worst case (every page of every edge of every
hashtag) would exceed it is refused."""

HASHTAG_LIMIT = 30
"""Unique hashtags one Instagram account may query in a rolling 7 days (Graph API
reference, IG Hashtag Search)."""

_ALLOWED = {
    "contest": {"title", "hashtags", "timezone", "start", "end", "language", "count_engagement_until", "kind"},
    "feed": {"kind", "path", "page_cap", "timeout", "deadline"},
    "rules": set(rules.RULE_KINDS),
    "schedule": {"every", "grace"},
    "refresh": {"mentions", "business_discovery", "every", "max_requests", "stale_after"},
    **contest_terms.TABLES,
    "prizes": contest_terms.PRIZE_KEYS,
}
_ARRAYS = {"teams": parse_teams, "trophies": parse_trophies}  # arrays of tables


@dataclass(frozen=True)
class FeedConfig:
    """Where posts come from.

    ``kind`` is ``graph`` (hashtag edges), ``accounts`` (team accounts read by their
    owner) or ``fixture``; ``path`` is the fixture folder (absolute);
    ``page_cap`` is the most pages read per edge and hashtag in one poll; ``timeout`` is
    the per-request timeout in seconds; ``deadline`` the most seconds one whole poll may
    spend calling the feed (retries and pauses included).
    """

    kind: str
    path: Path | None = None
    page_cap: int = 10
    timeout: float = 20.0
    deadline: float = 600.0


@dataclass(frozen=True)
class Schedule:
    """When ``derby run`` polls: ``every`` (seconds between polls) and ``grace``
    (seconds it keeps polling after the contest's end, for posts that show up late; the
    final poll runs then, or at ``count_engagement_until`` when later). Read from the
    contest file's ``[schedule]`` table."""

    every: float = DEFAULT_EVERY
    grace: float = DEFAULT_GRACE


@dataclass(frozen=True)
class RefreshConfig:
    """How entries are read again by id once the hashtag edges stop returning them
    (the contest file's ``[refresh]``): by mention of the organizer account
    (``mentions``), by Business Discovery of a known entrant (``business_discovery``),
    each refreshable entry at most once per ``every`` seconds, at most
    ``max_requests`` refresh requests per poll (default 100, or what the request
    budget leaves; see :func:`default_refresh_requests`). ``stale_after`` (seconds): an entry's
    engagement is flagged stale when the reading used is older than this before the
    freeze (or before now while the contest runs)."""

    mentions: bool = True
    business_discovery: bool = False
    every: float = 6 * 3600.0
    max_requests: int = 100
    stale_after: float = 24 * 3600.0


@dataclass(frozen=True)
class Contest:
    """A validated contest.

    ``hashtags`` are normalized (no '#', NFC, case-folded); ``start``/``end`` are aware
    UTC datetimes (the file gives them in local time of ``timezone``); ``rules`` maps a
    rule name to its validated value, as seeded into the database by ``derby init``;
    ``count_engagement_until`` (aware UTC, at or after ``end``, optional) is the grace
    during which engagement of posts made in the window still counts. ``kind`` is
    ``hashtag`` or ``teams``; a team contest lists its ``teams`` (hashtags optional)
    and any ``trophies``.
    """

    title: str
    hashtags: tuple[str, ...]
    timezone: str
    start: datetime
    end: datetime
    feed: FeedConfig
    language: str = "fr"
    rules: dict[str, object] = field(default_factory=dict)
    source: Path | None = None
    schedule: Schedule = field(default_factory=lambda: Schedule())
    count_engagement_until: datetime | None = None
    kind: str = "hashtag"
    teams: tuple[Team, ...] = ()
    trophies: tuple[Trophy, ...] = ()
    refresh: RefreshConfig = field(default_factory=lambda: RefreshConfig())
    terms: contest_terms.Terms = field(default_factory=lambda: contest_terms.Terms())

    @property
    def freeze(self) -> datetime:
        """The moment engagement stops counting (aware UTC): ``count_engagement_until``
        when the contest file gives one, else ``end``."""
        return self.count_engagement_until or self.end

    @property
    def tz(self) -> ZoneInfo:
        return clock.zone(self.timezone)

    def phase(self, now: datetime) -> str:
        """Return ``not_started``, ``running`` or ``closed`` at ``now`` (aware)."""
        if now < self.start:
            return "not_started"
        return "running" if now <= self.end else "closed"


def contest_kind(contest: Contest) -> str:
    """Return the contest's kind: ``hashtags`` (members of the public post with the
    hashtag), or ``teams`` where the contest file says so."""
    return getattr(contest, "kind", "hashtags") or "hashtags"


def load_contest(path: str | Path) -> Contest:
    """Read and validate the contest file at ``path``.

    Raises ConfigError for a missing or unreadable file, bad TOML, unknown tables or
    keys, a bad timezone, unparsable times, an end not after the start, an empty or
    invalid hashtag list, an unknown feed kind, a missing fixture folder, and any rule
    that fails validation.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")  # editors on Windows may add a BOM
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; save it as UTF-8") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder; pass the contest TOML file inside it") from None
    except FileNotFoundError:
        raise ConfigError(f"contest file {path} not found; pass the path of a contest TOML file (derby init --example contest.toml writes one to start from)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read contest file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        return _build(data, path)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _build(data: dict, path: Path) -> Contest:
    for table, value in data.items():
        if table in _ARRAYS or table == "prizes":  # arrays of tables; [[prizes]]: checked by derby.terms
            continue
        if table not in _ALLOWED:
            allowed = [f"[{t}]" for t in _ALLOWED] + [f"[[{t}]]" for t in _ARRAYS]
            raise ValueError(f"unknown table [{table}]; allowed: {', '.join(allowed)}")
        if not isinstance(value, dict):
            raise ValueError(f"{table} must be a table ([{table}])")
        unknown = set(value) - _ALLOWED[table]
        if unknown:
            raise ValueError(f"unknown key {table}.{sorted(unknown)[0]}; allowed in [{table}]: {', '.join(sorted(_ALLOWED[table]))}")
    section = data.get("contest")
    if not section:
        raise ValueError("missing [contest] table")
    kind = section.get("kind", "hashtag")
    if kind not in rules.CONTEST_KINDS:
        raise ValueError(f"contest.kind must be one of {', '.join(rules.CONTEST_KINDS)}, not {kind!r}")
    for key in ("title", "hashtags", "timezone", "start", "end"):
        if key not in section and not (key == "hashtags" and kind == "teams"):
            raise ValueError(f"missing contest.{key}")
    if kind != "teams" and ("teams" in data or "trophies" in data):
        raise ValueError("[[teams]] and [[trophies]] belong to a team contest; add kind = \"teams\" to [contest]")
    title = _string(section, "title")
    tz_name = _string(section, "timezone")
    tz = clock.zone(tz_name)
    start = _time(section, "start", tz)
    end = _time(section, "end", tz)
    if end <= start:
        raise ValueError("contest.end must be after contest.start")
    until = _time(section, "count_engagement_until", tz) if "count_engagement_until" in section else None
    if until is not None and until < end:
        raise ValueError("contest.count_engagement_until must be at or after contest.end")
    raw_tags = section.get("hashtags", [])
    if not isinstance(raw_tags, list) or (not raw_tags and kind != "teams"):
        raise ValueError("contest.hashtags must be a non-empty list such as [\"socialderby\"]")
    tags: list[str] = []
    for raw in raw_tags:
        if not isinstance(raw, str):
            raise ValueError(f"contest.hashtags: {raw!r} is not text")
        tag = normalize_hashtag(raw)
        if tag not in tags:
            tags.append(tag)
    if len(tags) > HASHTAG_LIMIT:  # before the schedule check: its advice would not help
        raise ValueError(f"contest.hashtags lists {len(tags)} hashtags; an Instagram account may query only "
                         f"{HASHTAG_LIMIT} unique hashtags in 7 days (Graph API IG Hashtag Search), so keep at most "
                         f"{HASHTAG_LIMIT}")
    language = section.get("language", "fr")
    if language not in LANGUAGES:
        raise ValueError(f"contest.language must be one of {', '.join(LANGUAGES)}")
    feed = _feed(data.get("feed", {}), path, kind)
    teams = parse_teams(data.get("teams")) if kind == "teams" else ()
    stated_rules = _rules(data.get("rules", {}), kind)
    refresh = _refresh(data.get("refresh", {}), data.get("schedule", {}), len(tags), feed)
    return Contest(
        title=title,
        hashtags=tuple(tags),
        timezone=tz_name,
        start=start,
        end=end,
        feed=feed,
        language=language,
        rules=stated_rules,
        source=path.resolve(),
        schedule=_schedule(data.get("schedule", {}), len(teams) if kind == "teams" else len(tags), feed, refresh,
                           kind),
        count_engagement_until=until,
        kind=kind,
        teams=teams,
        trophies=parse_trophies(data.get("trophies")) if kind == "teams" else (),
        refresh=refresh,
        terms=contest_terms.parse(data),
    )


def _rules(section: dict, kind: str) -> dict[str, object]:
    """The file's ``[rules]``, validated, with the tie-break and team rules checked
    against the contest's kind."""
    stated = rules.validate_rules(section)
    if "tie_break" in stated:
        rules.check_tie_break_kind(stated["tie_break"], kind)  # type: ignore[arg-type]
    misplaced = sorted(set(stated) & set(rules.TEAM_RULES)) if kind != "teams" else []
    if misplaced:
        raise ValueError(f"rule {misplaced[0]} is for a team contest (kind = \"teams\")")
    return stated


def _refresh(section: dict, schedule: dict, hashtags: int, feed: FeedConfig) -> RefreshConfig:
    defaults = RefreshConfig()
    flags = {}
    for key in ("mentions", "business_discovery"):
        value = section.get(key, getattr(defaults, key))
        if not isinstance(value, bool):
            raise ValueError(f"refresh.{key} must be true or false")
        flags[key] = value
    every = parse_duration(section["every"], "refresh.every") if "every" in section else defaults.every
    stale = parse_duration(section["stale_after"], "refresh.stale_after") if "stale_after" in section \
        else defaults.stale_after
    most = section.get("max_requests", None)
    if most is None:
        most = default_refresh_requests(schedule, hashtags, feed)
    if isinstance(most, bool) or not isinstance(most, int) or not 0 <= most <= 10_000:
        raise ValueError("refresh.max_requests must be a whole number from 0 to 10000")
    return RefreshConfig(every=every, max_requests=most, stale_after=stale, **flags)


def _string(section: dict, key: str) -> str:
    value = section[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"contest.{key} must be non-empty text")
    return value.strip()


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY_ENDS = ("end", "count_engagement_until")
"""Keys whose date without a time means the end of that day (23:59:59 local), so the
last day is not cut; a start date means the start of its day."""


def _time(section: dict, key: str, tz: ZoneInfo) -> datetime:
    value = section[key]
    if isinstance(value, datetime):  # a TOML datetime literal rather than a string
        value = value.isoformat()
    elif isinstance(value, date):  # a TOML date literal: 2017-04-09
        value = value.isoformat()
    if isinstance(value, str) and _DATE_ONLY.fullmatch(value.strip()):
        value = value.strip() + ("T23:59:59" if key in _DAY_ENDS else "T00:00:00")
    if not isinstance(value, str):
        raise ValueError(f"contest.{key} must be a time such as \"2017-04-01T00:00:00\"")
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"contest.{key} = {value!r} is not an ISO 8601 time such as \"2017-04-01T00:00:00\"") from None
    try:
        return clock.parse_local(value, tz)
    except clock.LocalTimeError as exc:
        raise ValueError(f"contest.{key} = {value!r} {exc}") from None


def check_interval(every: float, *, feed_kind: str, hashtags: int, page_cap: int, key: str = "schedule.every",
                   teams: int | None = None, refresh_requests: int = 0) -> float:
    """Return ``every`` (seconds) when a poller on that interval can keep up: at most
    :data:`MAX_EVERY`, and for the Graph feed at least :data:`MIN_EVERY_GRAPH` with a
    worst case (every page of both edges of every hashtag, plus ``refresh_requests``,
    the most refresh requests of one poll) within :data:`REQUESTS_PER_HOUR_BUDGET`.
    Raises ValueError saying why.

    A team contest (``teams``: its number of teams) may poll up to
    :data:`MAX_EVERY_TEAMS` apart; its worst case per poll is teams × (1 + page_cap)
    requests (the account's counts, then every page of its media)."""
    if teams is not None:
        return _check_team_interval(every, feed_kind, teams, page_cap, key)
    if every > MAX_EVERY:
        raise ValueError(f"{key} = {format_duration(every)} is too long: recent_media only reaches back 24 hours, "
                         f"so poll at least every {format_duration(MAX_EVERY)}")
    if feed_kind == "graph":
        if every < MIN_EVERY_GRAPH:
            raise ValueError(f"{key} = {format_duration(every)} is too short for the Graph API; use at least {format_duration(MIN_EVERY_GRAPH)}")
        # both edges, every page, every hashtag (+ one search each at most once), and the refreshes
        worst = hashtags * 2 * page_cap + refresh_requests
        per_hour = worst * 3600 / every
        if per_hour > REQUESTS_PER_HOUR_BUDGET:
            shortest = worst * 3600 / REQUESTS_PER_HOUR_BUDGET
            refreshes = f" + {refresh_requests} refresh requests" if refresh_requests else ""
            lower = "feed.page_cap or refresh.max_requests" if refresh_requests else "feed.page_cap"
            raise ValueError(f"{key} = {format_duration(every)} could make {per_hour:.0f} requests an hour "
                             f"({plural(hashtags, 'hashtag')} × 2 edges × {plural(page_cap, 'page')}{refreshes}), "
                             f"over the budget of {REQUESTS_PER_HOUR_BUDGET}; poll every {format_duration(shortest)} or "
                             f"more, or lower {lower}")
    return every


def _check_team_interval(every: float, feed_kind: str, teams: int, page_cap: int, key: str) -> float:
    if every > MAX_EVERY_TEAMS:
        raise ValueError(f"{key} = {format_duration(every)} is too long for a team contest; poll at least once a day")
    if feed_kind == "accounts":
        if every < MIN_EVERY_GRAPH:
            raise ValueError(f"{key} = {format_duration(every)} is too short for the Graph API; use at least {format_duration(MIN_EVERY_GRAPH)}")
        worst = teams * (1 + page_cap)
        per_hour = worst * 3600 / every
        if per_hour > REQUESTS_PER_HOUR_BUDGET:
            shortest = worst * 3600 / REQUESTS_PER_HOUR_BUDGET
            raise ValueError(f"{key} = {format_duration(every)} could make {per_hour:.0f} requests an hour "
                             f"({plural(teams, 'team')} × (1 + {plural(page_cap, 'page')})), over the budget of "
                             f"{REQUESTS_PER_HOUR_BUDGET}; poll every {format_duration(shortest)} or more, or lower feed.page_cap")
    return every


def _schedule(section: dict, hashtags: int, feed: FeedConfig, refresh: RefreshConfig,
              kind: str = "hashtag") -> Schedule:
    every = parse_duration(section.get("every", DEFAULT_EVERY), "schedule.every")
    grace = parse_duration(section["grace"], "schedule.grace") if "grace" in section else DEFAULT_GRACE
    if grace > 30 * 86400:
        raise ValueError("schedule.grace must be at most 30 days")
    return Schedule(every=check_interval(every, feed_kind=feed.kind, hashtags=hashtags, page_cap=feed.page_cap,
                                         teams=hashtags if kind == "teams" else None,
                                         refresh_requests=refresh_requests(refresh)), grace=grace)


def default_refresh_requests(schedule: dict, hashtags: int, feed: FeedConfig) -> int:
    """``refresh.max_requests`` when the file does not give it: 100, or for the Graph
    feed what the request budget leaves at the schedule's interval when that is less
    (so a contest file without ``[refresh]`` stays within the budget)."""
    default = RefreshConfig().max_requests
    if feed.kind != "graph":
        return default
    try:
        every = parse_duration(schedule.get("every", DEFAULT_EVERY), "schedule.every")
    except ValueError:
        return default  # the schedule's own check says what is wrong
    left = int(REQUESTS_PER_HOUR_BUDGET * every / 3600) - hashtags * 2 * feed.page_cap
    return max(0, min(default, left))


def refresh_requests(refresh: RefreshConfig) -> int:
    """The most refresh requests one poll may make (0 when no refresh source is on)."""
    return refresh.max_requests if refresh.mentions or refresh.business_discovery else 0


def _feed(section: dict, path: Path, contest_kind: str = "hashtag") -> FeedConfig:
    kind = section.get("kind", "accounts" if contest_kind == "teams" else "graph")
    if kind not in FEED_KINDS:
        raise ValueError(f"feed.kind must be one of {', '.join(FEED_KINDS)}, not {kind!r}")
    if contest_kind == "teams" and kind == "graph":
        raise ValueError("a team contest reads its accounts: feed.kind = \"accounts\" (the default) or \"fixture\"")
    if contest_kind != "teams" and kind == "accounts":
        raise ValueError("feed.kind = \"accounts\" reads team accounts; add kind = \"teams\" to [contest]")
    page_cap = section.get("page_cap", 10)
    if isinstance(page_cap, bool) or not isinstance(page_cap, int) or not 1 <= page_cap <= 100:
        raise ValueError("feed.page_cap must be a whole number from 1 to 100")
    timeout = section.get("timeout", 20.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 300:
        raise ValueError("feed.timeout must be a number of seconds above 0 and at most 300")
    deadline = section.get("deadline", 600.0)
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not timeout <= deadline <= 6 * 3600:
        raise ValueError("feed.deadline must be a number of seconds, at least feed.timeout and at most 21600 (6 hours)")
    folder = None
    if kind != "fixture" and "path" in section:
        raise ValueError("feed.path is only for feed.kind = \"fixture\"")
    if kind == "fixture":
        if "path" not in section:
            raise ValueError("feed.path is required when feed.kind = \"fixture\"")
        folder = (path.parent / section["path"]).resolve()
        if not (folder / "polls").is_dir():
            raise ValueError(f"feed.path {folder} is not a replay folder (it needs a polls/ folder; see the README's fixture layout)")
    return FeedConfig(kind=kind, path=folder, page_cap=page_cap, timeout=float(timeout), deadline=float(deadline))


@dataclass(frozen=True)
class GraphSettings:
    """Graph API credentials and endpoint. ``repr`` never shows the token or secret."""

    access_token: str = field(repr=False)
    user_id: str
    base_url: str = DEFAULT_GRAPH_URL
    app_secret: str | None = field(default=None, repr=False)
    app_id: str | None = None


def graph_settings(env: Mapping[str, str]) -> GraphSettings:
    """Read ``INSTAGRAM_ACCESS_TOKEN``, ``INSTAGRAM_USER_ID``, ``DERBY_GRAPH_URL``,
    ``INSTAGRAM_APP_SECRET`` and ``INSTAGRAM_APP_ID`` (for ``debug_token``) from ``env``.

    Raises ConfigError naming the missing variable and where to set it, and for a base
    URL that would send the token in clear text to another machine.
    """
    token = env.get("INSTAGRAM_ACCESS_TOKEN", "").strip()
    user_id = env.get("INSTAGRAM_USER_ID", "").strip()
    if not token:
        raise ConfigError("INSTAGRAM_ACCESS_TOKEN is not set; put it in .env (derby init --example-env writes an example)")
    if not user_id.isdigit():
        raise ConfigError("INSTAGRAM_USER_ID must be the numeric id of the Instagram business account; put it in .env")
    base = _base_url(env, "DERBY_GRAPH_URL", DEFAULT_GRAPH_URL)
    secret = env.get("INSTAGRAM_APP_SECRET", "").strip() or None
    app_id = env.get("INSTAGRAM_APP_ID", "").strip() or None
    return GraphSettings(access_token=token, user_id=user_id, base_url=base, app_secret=secret, app_id=app_id)


def graph_base_url(env: Mapping[str, str]) -> str:
    """``DERBY_GRAPH_URL`` (default graph.facebook.com), checked as for the token. Raises ConfigError."""
    return _base_url(env, "DERBY_GRAPH_URL", DEFAULT_GRAPH_URL)


def _base_url(env: Mapping[str, str], variable: str, default: str) -> str:
    base = env.get(variable, "").strip() or default
    parts = urlsplit(base)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and local)):
        raise ConfigError(f"{variable} must be an https:// URL (plain http only for a test server on 127.0.0.1): "
                          "the access token travels with every request")
    return base.rstrip("/")


@dataclass(frozen=True)
class TeamSettings:
    """How one team's account is read: its own token (from ``team.token_env``) and the
    base URL of its login (``facebook``: ``DERBY_GRAPH_URL``; ``instagram``:
    ``DERBY_INSTAGRAM_URL``, default graph.instagram.com). ``repr`` never shows the
    token or secret."""

    team: Team
    access_token: str = field(repr=False)
    base_url: str
    app_secret: str | None = field(default=None, repr=False)


def team_settings(team: Team, env: Mapping[str, str]) -> TeamSettings:
    """Return the settings that read ``team``'s account, from ``env`` (read literally).

    Raises ConfigError naming the team and the variable when its token is not set, and
    for a base URL that would send the token in clear text to another machine.
    """
    token = env.get(team.token_env, "").strip()
    if not token:
        raise ConfigError(f"team “{team.name}”: {team.token_env} is not set; put the token that reads account "
                          f"{team.account_id} in .env (see the README: team contests, tokens)")
    if team.login == "instagram":
        base = _base_url(env, "DERBY_INSTAGRAM_URL", DEFAULT_INSTAGRAM_URL)
    else:
        base = _base_url(env, "DERBY_GRAPH_URL", DEFAULT_GRAPH_URL)
    # appsecret_proof is computed with the Facebook app's secret; an Instagram Login app has its own
    secret = (env.get("INSTAGRAM_APP_SECRET", "").strip() or None) if team.login == "facebook" else None
    return TeamSettings(team=team, access_token=token, base_url=base, app_secret=secret)
