"""Team scoring: pure functions from a team contest's per-post scores, account
snapshots and rules to team scores, a team ranking and trophy rankings. Standard
library only. Nothing here reads the database or the clock.

Each post's points come from the per-entry formula (:func:`derby.leaderboard.standings`, the ranking query of :mod:`derby.scoring`,
whose ``ScoredEntry`` items this module consumes and never recomputes). A team's score::

    followers_gained = followers at the freeze − baseline
                       (at the freeze: the latest reading at or before it;
                        baseline: the latest reading at or before the start, else the
                        first one after it; a loss is negative)
    posts            = its posts counted: eligible, not over cap_posts_per_day
    score            = points_per_follower × followers_gained
                     + points_per_post × posts
                     + the sum of its counted posts' scores

rounded to 6 decimals. ``cap_posts_per_day`` keeps, per team and per day of the
contest's time zone, the earliest N eligible posts (by timestamp, then media id); the
others get status ``over_daily_cap`` and count for nothing. A team a judge
disqualified is not ranked. Ranking follows the team tie-break chain (keys of
:data:`derby.rules.TEAM_TIE_BREAK_KEYS`, ending with ``name``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from derby.rules import DEFAULT_TEAM_TIE_BREAK, TEAM_TIE_BREAK_KEYS, TEAM_TIE_BREAK_KEYS_FR, format_value
from derby.scoring import ELIGIBLE, ScoredEntry

OVER_DAILY_CAP = "over_daily_cap"
TEAM_REASONS = {"disqualified": "the team was disqualified by a judge"}


@dataclass
class TeamScore:
    """One team with its score and standing.

    ``followers_count`` is the reading used at the freeze, ``followers_baseline`` the
    baseline (both None before any reading); ``followers_trend`` the follower counts
    at the baseline and at the end of each day up to the freeze, oldest first. ``posts`` holds every stored post of the team
    (``ScoredEntry``), ``counted`` those that count. ``likes``/``comments`` sum the
    counted posts' ``like_count``/``comments_count`` (a missing count as 0).
    ``points`` maps each rule to the points it gave the team (per-post rules summed
    over counted posts). ``status`` is ``eligible`` or a key of :data:`TEAM_REASONS`;
    ``flags`` holds ``followers_lost`` (a reading lower than the one before, from
    the baseline to the freeze), ``no_post``, ``no_reading`` (no follower reading at all:
    ranked with 0 gained), ``missing_like_count`` and ``tied``.
    """

    name: str
    account_id: str
    username: str | None = None
    followers_count: int | None = None
    followers_baseline: int | None = None
    followers_gained: int = 0
    followers_trend: list[int] = field(default_factory=list)
    posts: list[ScoredEntry] = field(default_factory=list)
    counted: list[ScoredEntry] = field(default_factory=list)
    likes: int = 0
    comments: int = 0
    follower_points: float = 0.0
    post_points: float = 0.0
    posts_score: float = 0.0
    score: float = 0.0
    status: str = ELIGIBLE
    rank: int | None = None
    flags: list[str] = field(default_factory=list)
    tie_break: str | None = None
    moderation: Mapping | None = None
    _points: dict[str, float] | None = field(default=None, repr=False, compare=False)

    @property
    def points(self) -> dict[str, float]:
        """Points per rule, ``{rule: points}``: the follower and post points, then each
        per-post rule summed over the counted posts (built on first use: each post's
        explanation is built then)."""
        if self._points is None:
            points = {"points_per_follower": self.follower_points, "points_per_post": self.post_points}
            for entry in self.counted:
                for rule, value in entry.points.items():
                    points[rule] = points.get(rule, 0.0) + value
            self._points = points
        return self._points

    @property
    def reason(self) -> str | None:
        """Why the team is not ranked (None when it is)."""
        if self.status == ELIGIBLE:
            return None
        if self.status == "disqualified" and self.moderation:
            return f"disqualified by {self.moderation.get('by')}: {self.moderation.get('reason')}"
        return TEAM_REASONS.get(self.status, self.status)


def follower_readings(series: list[Mapping], start: datetime, freeze: datetime,
                      until: datetime | None = None) -> tuple[int | None, int | None, list[int], bool]:
    """Return ``(baseline, at_freeze, trend, lost)`` from an account's snapshots (oldest
    first, ``observed_at`` aware UTC, ``followers_count`` possibly None): the baseline
    is the latest reading at or before ``start``, else the first one after it; the
    reading at the freeze the latest at or before ``freeze``, else (an account first
    read after the freeze) the first one; the trend the followers at the baseline and
    at the end of each day after it up to the freeze or ``until`` (the moment the
    readings describe, when earlier; see :func:`_daily`); and whether any reading from
    the baseline's to the freeze's is lower than the one before it."""
    readings = [s for s in series if s.get("followers_count") is not None]
    before = [s for s in readings if s["observed_at"] <= start]
    baseline = before[-1] if before else (readings[0] if readings else None)
    upto = [s for s in readings if s["observed_at"] <= freeze] or readings[:1]
    final = upto[-1] if upto else None
    if baseline is None or final is None:
        return (baseline["followers_count"] if baseline else None), None, [], False
    used = [r["followers_count"] for r in upto if r["observed_at"] >= baseline["observed_at"]]
    lost = any(later < earlier for earlier, later in zip(used, used[1:]))
    end = max(min(freeze, until), final["observed_at"]) if until is not None else final["observed_at"]
    return baseline["followers_count"], final["followers_count"], _daily(upto, baseline, end), lost


def _daily(readings: list[Mapping], baseline: Mapping, end: datetime) -> list[int]:
    """The followers at the baseline, then at the end of each day (24 hours) after it
    until ``end``: snapshots are written only on change, so a team that stalls shows a
    flat line, not its last rise."""
    counts, at = [], baseline["observed_at"]
    index = 0
    while True:
        while index + 1 < len(readings) and readings[index + 1]["observed_at"] <= at:
            index += 1
        counts.append(readings[index]["followers_count"] if readings[index]["observed_at"] <= at
                      else baseline["followers_count"])
        if at >= end:
            return counts
        at = min(at + timedelta(days=1), end)


def apply_daily_cap(entries: Iterable[ScoredEntry], team_of: Mapping[str, str], cap: int | None,
                    tz: tzinfo) -> list[ScoredEntry]:
    """Mark the eligible posts beyond ``cap`` per team and local day ``over_daily_cap``
    (earliest kept); return those marked. ``cap`` None marks none."""
    if cap is None:
        return []
    kept: dict[tuple[str, object], int] = {}
    marked = []
    eligible = [e for e in entries if e.status == ELIGIBLE and e.timestamp is not None]
    for entry in sorted(eligible, key=lambda e: (e.timestamp, len(e.media_id), e.media_id)):
        key = (team_of.get(entry.media_id, ""), entry.timestamp.astimezone(tz).date())  # type: ignore[union-attr]
        kept[key] = kept.get(key, 0) + 1
        if kept[key] > cap:
            entry.status, entry.rank = OVER_DAILY_CAP, None
            entry.detail = f"the team already has {cap} post{'s' if cap != 1 else ''} counted that day (cap_posts_per_day)"
            marked.append(entry)
    return marked


def score_team(team: TeamScore, rules: Mapping[str, object], start: datetime, freeze: datetime,
               series: list[Mapping], until: datetime | None = None) -> TeamScore:
    """Fill ``team``'s follower reading, sums, points and score from its ``posts`` and
    account ``series`` (``until``: the moment the readings describe, for the trend);
    returns it."""
    baseline, final, trend, lost = follower_readings(series, start, freeze, until)
    team.followers_baseline, team.followers_count, team.followers_trend = baseline, final, trend
    team.followers_gained = final - baseline if final is not None and baseline is not None else 0
    if lost:
        team.flags.append("followers_lost")
    names = [s.get("username") for s in series if s.get("username")]
    team.username = names[-1] if names else None
    team.counted = [e for e in team.posts if e.status == ELIGIBLE]
    if not team.counted:
        team.flags.append("no_post")
    if any(e.like_count is None and e.observed_at is not None for e in team.counted):
        team.flags.append("missing_like_count")
    team.likes = sum(e.like_count or 0 for e in team.counted)
    team.comments = sum(e.comments_count or 0 for e in team.counted)
    per_follower = float(rules.get("points_per_follower") or 0)  # type: ignore[arg-type]
    per_post = float(rules.get("points_per_post") or 0)  # type: ignore[arg-type]
    team.follower_points = per_follower * team.followers_gained
    team.post_points = per_post * len(team.counted)
    team.posts_score = round(sum(e.score for e in team.counted), 6) + 0.0
    team.score = round(team.follower_points + team.post_points + team.posts_score, 6) + 0.0
    if final is None:
        team.flags.append("no_reading")
    return team


def _key(chain: list[str]):
    def value(team: TeamScore, key: str):
        if key == "name":
            return (team.name.casefold(), team.name)
        if key == "posts":
            return -len(team.counted)
        return -float(getattr(team, key))
    return lambda t: tuple(value(t, k) for k in chain)


def team_chain(rules: Mapping[str, object]) -> list[str]:
    """The team tie-break chain in force: the ``tie_break`` rule when it is a team
    chain (ends with ``name``), else :data:`DEFAULT_TEAM_TIE_BREAK`."""
    chain = list(rules.get("tie_break") or ())  # type: ignore[call-overload]
    return chain if chain and chain[-1] == "name" else list(DEFAULT_TEAM_TIE_BREAK)


def rank_teams(teams: list[TeamScore], rules: Mapping[str, object]) -> list[TeamScore]:
    """Rank scored teams by the team tie-break chain; return ranked teams first, in rank
    order, then the others by name. Consecutive ranked teams with equal scores are
    flagged ``tied`` and carry the chain key that separated them."""
    chain = team_chain(rules)
    key = _key(chain)
    ranked = sorted((t for t in teams if t.status == ELIGIBLE), key=key)
    for position, team in enumerate(ranked, start=1):
        team.rank = position
    for before, after in zip(ranked, ranked[1:]):
        if before.score == after.score:
            a, b = key(before), key(after)
            separated = next((chain[j] for j in range(1, len(chain)) if a[j] != b[j]), chain[-1])
            for team in (before, after):
                if "tied" not in team.flags:
                    team.flags.append("tied")
            before.tie_break = before.tie_break or separated
            after.tie_break = separated
    return ranked + sorted((t for t in teams if t.status != ELIGIBLE), key=lambda t: t.name.casefold())


def metric(team: TeamScore, name: str) -> float:
    """Return the value of trophy metric ``name`` (see :data:`derby.teams.TROPHY_METRICS`)."""
    if name == "posts":
        return float(len(team.counted))
    if name == "engagement_per_post":
        return (team.likes + team.comments) / len(team.counted) if team.counted else 0.0
    if name == "engagement_per_follower":
        return (team.likes + team.comments) / team.followers_count if team.followers_count else 0.0
    return float(getattr(team, name))


def rank_trophy(teams: list[TeamScore], metric_name: str, rules: Mapping[str, object]) -> list[tuple[int, TeamScore, float]]:
    """Rank the ranked teams by ``metric_name`` (higher first), ties by the team
    tie-break chain; return ``(place, team, value)`` rows."""
    key = _key(team_chain(rules))
    ranked = sorted((t for t in teams if t.rank is not None), key=lambda t: (-metric(t, metric_name), key(t)))
    return [(place, team, round(metric(team, metric_name), 6)) for place, team in enumerate(ranked, start=1)]


def explain_chain(rules: Mapping[str, object], lang: str = "en") -> str:
    """The team tie-break chain as a person reads it, in ``lang`` (``fr`` or ``en``)."""
    keys = TEAM_TIE_BREAK_KEYS_FR if lang == "fr" else TEAM_TIE_BREAK_KEYS
    return " > ".join(f"{k} ({keys[k]})" for k in team_chain(rules)) or format_value([])
