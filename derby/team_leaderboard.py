"""Team standings from the store, and what the team board shows about them.

``team_standings(db, now)`` computes a team contest's ranking when it is read: each
post through the per-entry formula (:func:`derby.leaderboard.standings`, the ranking query of :mod:`derby.scoring`), then the team
aggregation of :mod:`derby.team_scoring` over the posts and the account snapshots, so a
rule change needs no re-poll and any past moment can be recomputed (``as_of``).
Drawing is :mod:`derby.board`'s job; this module knows nothing of rich.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlite_utils

from derby import clock, store
from derby.config import Contest
from derby.errors import DerbyError
from derby.freshness import FLAGS as FRESHNESS_FLAGS
from derby.leaderboard import (BoardRow, BoardView, PollHealth, Standings, board_counts, entry_record, poll_health,
                               standings, trends)
from derby.scoring import ELIGIBLE, ScoredEntry
from derby.team_scoring import (
    TeamScore,
    apply_daily_cap,
    explain_chain,
    rank_teams,
    rank_trophy,
    score_team,
)
from derby.teams import TROPHY_METRICS, Trophy, find_team
from derby.text import display_text, shorten
from derby.units import number, signed


@dataclass
class TeamStandings:
    """A computed team leaderboard: ``teams`` ranked first in rank order, then the
    others; ``posts`` the teams' posts as standings of entries (ranked across teams);
    ``team_of`` maps a media id to its team's account id; ``as_of`` is the moment it
    describes (aware UTC), ``rules`` the rules used."""

    contest: Contest
    teams: list[TeamScore]
    posts: Standings
    team_of: dict[str, str]
    as_of: datetime
    rules: dict[str, object]

    @property
    def ranked(self) -> list[TeamScore]:
        return [t for t in self.teams if t.rank is not None]

    def team(self, account_id: str | None) -> TeamScore | None:
        return next((t for t in self.teams if t.account_id == account_id), None)


def team_standings(db: sqlite_utils.Database, now: datetime, as_of: datetime | None = None) -> TeamStandings:
    """Compute the standings of the stored team contest at ``as_of`` (aware; the
    rules, moderation and poll data of that moment), or of everything stored.

    Raises DerbyError when the database has no contest or a hashtag contest.
    """
    contest = store.load_contest(db)
    if contest is None:
        raise DerbyError("this database has no contest yet; run: derby init config/socialderby-teams.toml")
    if contest.kind != "teams":
        raise DerbyError("this database holds a hashtag contest, not a team contest")
    rules = store.read_rules(db, as_of)  # the team rules and the teams' tie-break
    accounts = {t.account_id for t in contest.teams}
    team_of = {m: a for m, a in store.team_media(db).items() if a in accounts}
    # each post by the per-entry formula, as a hashtag contest's entries are ranked
    post_board = standings(db, now, as_of)
    scored = [e for e in post_board.entries if e.media_id in team_of]
    apply_daily_cap(scored, team_of, rules.get("cap_posts_per_day"), contest.tz)  # type: ignore[arg-type]
    ranked_posts = [e for e in scored if e.status == ELIGIBLE]
    for position, entry in enumerate(ranked_posts, start=1):
        entry.rank = position
    posts = ranked_posts + [e for e in scored if e.status != ELIGIBLE]
    series = store.account_series(db, as_of)
    moderation = store.team_moderation(db, as_of)
    if as_of is None:
        last = store.last_poll_run(db, successful=True)
        as_of = clock.from_store(last["started_at"]) if last else now
    by_team: dict[str, list[ScoredEntry]] = {}
    for entry in posts:
        by_team.setdefault(team_of[entry.media_id], []).append(entry)
    teams = []
    for team in contest.teams:
        action = moderation.get(team.account_id)
        score = TeamScore(name=team.name, account_id=team.account_id, posts=by_team.get(team.account_id, []),
                          moderation=action)
        if action and action["action"] == "disqualify":
            score.status = "disqualified"
        teams.append(score_team(score, rules, contest.start, contest.freeze, series.get(team.account_id, []), as_of))
        for entry in score.posts:  # shown with their team wherever posts are listed
            entry.username, entry.display_name = score.username, team.name
    return TeamStandings(contest=contest, teams=rank_teams(teams, rules),
                         posts=Standings(contest=contest, as_of=as_of, rules=post_board.rules, _entries=posts),
                         team_of=team_of, as_of=as_of, rules=rules)


def select_teams(board: TeamStandings, top: int | None = None, show_all: bool = False) -> list[TeamScore]:
    """The teams to show: the top ``top`` ranked, plus the others when ``show_all``."""
    ranked = board.ranked[:top] if top else board.ranked
    return ranked + [t for t in board.teams if t.rank is None] if show_all else ranked


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 4)


def team_record(team: TeamScore, contest: Contest) -> dict:
    """Return a team as a plain dict for JSON and CSV.

    Keys: rank, team (its name), username, account_id, score, followers_count (at the
    freeze), followers_baseline, followers_gained, posts (counted), posts_stored,
    like_count and comments_count (sums over counted posts), points (rule -> points),
    status, reason, flags (list), tie_break.
    """
    return {
        "rank": team.rank, "team": team.name, "username": team.username, "account_id": team.account_id,
        "score": _number(team.score), "followers_count": team.followers_count,
        "followers_baseline": team.followers_baseline, "followers_gained": team.followers_gained,
        "posts": len(team.counted), "posts_stored": len(team.posts), "like_count": team.likes,
        "comments_count": team.comments, "points": {k: _number(v) for k, v in team.points.items()},
        "status": team.status, "reason": team.reason, "flags": list(team.flags), "tie_break": team.tie_break,
    }


def post_record(entry: ScoredEntry, board: TeamStandings) -> dict:
    """Return a team's post as :func:`derby.leaderboard.entry_record` with ``team``
    (the team's name) and ``username`` (the team account's)."""
    team = board.team(board.team_of.get(entry.media_id))
    record = entry_record(entry, board.contest)
    record["team"] = team.name if team else None
    record["username"] = team.username if team else None
    return record


def contest_record(board: TeamStandings) -> dict:
    """Return the contest block of a team contest's JSON output (ISO 8601, contest zone)."""
    c = board.contest
    return {
        "title": c.title, "kind": c.kind, "hashtags": list(c.hashtags), "timezone": c.timezone,
        "start": clock.iso_local(c.start, c.tz), "end": clock.iso_local(c.end, c.tz),
        "as_of": clock.iso_local(board.as_of, c.tz), "phase": c.phase(board.as_of),
        "engagement_counted_until": clock.iso_local(c.freeze, c.tz),
        "tie_break": list(board.rules.get("tie_break") or []), "rules": board.rules,
        "teams": len(board.teams), "teams_ranked": len(board.ranked),
        "trophies": [{"name": t.name, "metric": t.metric, "count": t.count} for t in c.trophies],
    }


def find_trophy(contest: Contest, name: str) -> Trophy:
    """Return the contest's trophy called ``name`` (case-insensitive); raises DerbyError
    listing the trophies."""
    wanted = " ".join(name.split()).casefold()
    trophy = next((t for t in contest.trophies if t.name.casefold() == wanted), None)
    if trophy is None:
        known = ", ".join(f"“{t.name}”" for t in contest.trophies) or "none (add [[trophies]] to the contest file)"
        raise DerbyError(f"no trophy {name!r} in this contest; its trophies: {known}")
    return trophy


def trophy_records(board: TeamStandings, trophy: Trophy, *, limit: int | None = None) -> list[dict]:
    """Return the teams ranked for ``trophy`` as :func:`team_record` rows with
    ``trophy``, ``place``, ``metric`` and ``value``; the first ``trophy.count`` have role
    ``winner`` (all rows when ``limit`` is None, else the first ``limit``)."""
    rows = []
    for place, team, value in rank_trophy(board.teams, trophy.metric, board.rules)[:limit]:
        rows.append({**team_record(team, board.contest), "trophy": trophy.name, "place": place,
                     "metric": trophy.metric, "value": _number(value),
                     "role": "winner" if place <= trophy.count else "runner-up"})
    return rows


def team_winners(board: TeamStandings, top: int, alternates: int) -> list[dict]:
    """Return the overall winners (``top`` first ranked, role ``winner``) and
    ``alternates``, then each trophy's winners, all as :func:`team_record` rows with a
    ``trophy`` column (empty for the overall ranking), ``place`` and ``role``."""
    rows = []
    for position, team in enumerate(board.ranked[: top + alternates]):
        rows.append({**team_record(team, board.contest), "trophy": None, "place": team.rank,
                     "role": "winner" if position < top else "alternate"})
    for trophy in board.contest.trophies:
        rows.extend(trophy_records(board, trophy, limit=trophy.count))
    return rows


# -- the team board -------------------------------------------------------------------

@dataclass
class TeamRow:
    """One row of the team board: ``movement`` (places gained since the previous
    successful poll; None when new or unranked), ``trend`` (followers read up to the
    freeze, oldest first), and with a trophy its ``place`` and metric ``value``."""

    team: TeamScore
    movement: int | None
    trend: list[int]
    place: int | None = None
    value: float | None = None


@dataclass
class TeamBoardView:
    """Everything the team board shows at ``now`` (aware UTC). ``board`` is the
    TeamStandings; ``counts`` holds ``teams``, ``ranked``, ``posts`` (counted),
    ``posts_stored`` and ``disqualified`` (teams); ``trophy`` the trophy ranked by, if any."""

    board: TeamStandings
    now: datetime
    health: PollHealth
    counts: dict[str, int]
    rows: list[TeamRow]
    total_rows: int
    previous_poll: datetime | None
    trophy: Trophy | None = None
    metric_label: str = field(default="")
    refresh_off: tuple[str, ...] = ()  # a team contest refreshes no media by id


def previous_team_ranks(db: sqlite_utils.Database, now: datetime,
                        until: datetime | None = None) -> tuple[dict[str, int], datetime | None]:
    """Return ``({team account id: rank}, started_at)`` of the successful poll before the
    last one finished at or before ``until`` (``({}, None)`` when there are fewer than
    two): the ranks that poll kept when it finished (see :mod:`derby.store.poll_ranks`),
    or, when it kept none that still hold, the team standings as of its end."""
    found = store.previous_poll(db, until)
    if found is None:
        return {}, None
    run_id, started, finished = found
    ranks = store.stored_ranks(db, run_id, "teams")
    if ranks is None:
        ranks = {t.account_id: t.rank for t in team_standings(db, now, finished).ranked}  # type: ignore[misc]
    return ranks, started


def team_board_view(db: sqlite_utils.Database, now: datetime, as_of: datetime | None = None, *,
                    top: int | None = None, show_all: bool = False, limit: int | None = None,
                    trophy: str | None = None) -> TeamBoardView:
    """Compute the team board at ``now`` (or as it was at ``as_of``), ranked by the
    score or, with ``trophy`` (a trophy's name), by that trophy's metric.

    Raises DerbyError for a database without a team contest or an unknown trophy.
    """
    moment = as_of or now
    board = team_standings(db, moment, as_of)
    chosen = find_trophy(board.contest, trophy) if trophy else None
    before, previous = previous_team_ranks(db, moment, as_of)
    if chosen is not None:
        # a trophy's movement compares trophy places, from the standings as of the previous poll's end
        found = store.previous_poll(db, as_of)
        earlier = team_standings(db, moment, found[2]) if found else None
    if chosen is not None:
        ranked = rank_trophy(board.teams, chosen.metric, board.rules)
        places = {t.account_id: p for p, t, _ in rank_trophy(earlier.teams, chosen.metric, earlier.rules)} \
            if earlier else {}
        rows = [TeamRow(team=t, movement=places[t.account_id] - p if t.account_id in places else None,
                        trend=t.followers_trend, place=p, value=v) for p, t, v in ranked]
        if show_all:
            rows += [TeamRow(team=t, movement=None, trend=t.followers_trend) for t in board.teams if t.rank is None]
        rows = rows[:top] if top else rows
    else:
        rows = [TeamRow(team=t, trend=t.followers_trend,
                        movement=(before[t.account_id] - t.rank) if t.rank and t.account_id in before else None)
                for t in select_teams(board, top, show_all)]
    health = poll_health(db, board.contest, moment)
    health.gaps = []  # an owner reads its own media at any age: no 24-hour window to miss
    counts = {"teams": len(board.teams), "ranked": len(board.ranked),
              "posts": sum(len(t.counted) for t in board.teams), "posts_stored": len(board.posts.entries),
              "disqualified": sum(1 for t in board.teams if t.status == "disqualified")}
    shown = rows if limit is None else rows[:max(limit, 0)]
    return TeamBoardView(board=board, now=moment, health=health, counts=counts, rows=shown, total_rows=len(rows),
                         previous_poll=previous, trophy=chosen,
                         metric_label=TROPHY_METRICS[chosen.metric] if chosen else "")


def posts_board_view(db: sqlite_utils.Database, now: datetime, as_of: datetime | None = None, *,
                     top: int | None = None, show_all: bool = False, limit: int | None = None) -> BoardView:
    """The board of the teams' posts ranked across teams (``leaderboard --posts``),
    each shown with its team's account; drawn like a hashtag contest's board."""
    moment = as_of or now
    board = team_standings(db, moment, as_of)
    posts = board.posts
    chosen = posts.ranked[:top] if top else posts.ranked
    if show_all:
        chosen = chosen + [e for e in posts.entries if e.rank is None]
    health = poll_health(db, board.contest, moment)
    health.gaps = []
    shown = chosen if limit is None else chosen[:max(limit, 0)]
    polls = store.successful_polls(db, as_of)
    previous = polls[-2][0] if len(polls) >= 2 else None
    # ranked across teams after the daily cap, as now: the previous ranks come the same way
    before = {e.media_id: e.rank for e in team_standings(db, moment, polls[-2][1]).posts.ranked} if previous else {}
    series = trends(db, posts, shown, as_of)
    rows = [BoardRow(entry=e, movement=before[e.media_id] - e.rank if e.rank and e.media_id in before else None,
                     trend=series.get(e.media_id, []), flags=list(e.flags)) for e in shown]
    return BoardView(board=posts, now=moment, health=health, counts=board_counts(posts), rows=rows,
                     total_rows=len(chosen), previous_poll=previous, of_teams=True)


# -- one team explained ---------------------------------------------------------------

def resolve_team(board: TeamStandings, ref: str) -> TeamScore | None:
    """Return the team ``ref`` names: its name (case-insensitive), account id or
    ``@username``."""
    found = find_team(board.contest.teams, ref)
    if found is not None:
        return board.team(found.account_id)
    handle = ref.strip().removeprefix("@").casefold()
    return next((t for t in board.teams if t.username and t.username.casefold() == handle), None)


EXPLAIN_TEXT: dict[str, dict[str, str]] = {
    "en": {"team": "Team “{name}”  account {account}", "unread": "  (no reading yet)",
           "as_of": "Standings as of {when}; followers and engagement count until {freeze}",
           "followers": "Followers: {base} at the baseline → {final} at the freeze: {gained} gained",
           "points": "Points:", "per_follower": "{gained} followers × {value}", "per_post": "{n} posts × {value}",
           "posts_points": "posts' points", "sum": "sum over {n} counted posts",
           "posts": "Posts ({stored} stored, {n} counted):", "no_posts": "Posts: none yet", "counted": "counted",
           "not_counted": "not counted: {reason}", "no_date": "no date", "no_caption": "(no caption)",
           "moderation": "Moderation:", "no_moderation": "Moderation: none",
           "action": "  {when}  team {action} by {by}: {reason}", "rank": "Rank: {rank} of {of}",
           "tied": " (tied on score; separated by {key})", "unranked": "Rank: not ranked, {reason} [{status}]",
           "flags": "Flags: {flags}", "chain": "Tie-break order: {chain}", "unknown": "unknown"},
    "fr": {"team": "Équipe « {name} »  compte {account}", "unread": "  (pas encore lu)",
           "as_of": "Classement au {when}; abonnés et engagement comptent jusqu'au {freeze}",
           "followers": "Abonnés : {base} au départ → {final} à la clôture : {gained} gagnés",
           "points": "Points :", "per_follower": "{gained} abonnés × {value}", "per_post": "{n} publications × {value}",
           "posts_points": "points des publications", "sum": "somme sur {n} publications comptées",
           "posts": "Publications ({stored} enregistrées, {n} comptées) :", "no_posts": "Publications : aucune encore",
           "counted": "comptée", "not_counted": "non comptée : {reason}", "no_date": "sans date",
           "no_caption": "(sans légende)", "moderation": "Modération :", "no_moderation": "Modération : aucune",
           "action": "  {when}  équipe : {action} par {by} : {reason}", "rank": "Rang : {rank} sur {of}",
           "tied": " (égalité de pointage; départagée par {key})",
           "unranked": "Rang : non classée, {reason} [{status}]", "flags": "Notes : {flags}",
           "chain": "Ordre de départage : {chain}", "unknown": "inconnu"},
}
"""The sentences of :func:`explain_team_lines`, by language."""


def explain_team_lines(board: TeamStandings, team: TeamScore, moderation: list[dict] | None = None,
                       lang: str = "en") -> list[str]:
    """Return the explanation of one team as plain lines for a terminal, in ``lang``
    (``fr`` or ``en``): its follower readings and points, post points, each post's
    points and status, the moderation of the team (``moderation``: rows ``{"action",
    "reason", "by", "at"}``), its rank and the tie-break order. Times in the contest
    zone; user text made safe for display."""
    contest, tz, rules = board.contest, board.contest.tz, board.rules
    t = EXPLAIN_TEXT.get(lang, EXPLAIN_TEXT["en"])

    def when(dt: datetime | None) -> str:
        return clock.format_local(dt, tz, lang) or t["unknown"]

    def count(value: int | None) -> str:
        return t["unknown"] if value is None else number(value, lang)

    gained = signed(team.followers_gained or 0, lang)

    n = len(team.counted)
    lines = [
        t["team"].format(name=display_text(team.name), account=team.account_id)
        + (f"  @{display_text(team.username)}" if team.username else t["unread"]),
        t["as_of"].format(when=when(board.as_of), freeze=when(contest.freeze)),
        t["followers"].format(base=count(team.followers_baseline), final=count(team.followers_count),
                              gained=gained),
        t["points"],
        f"  {'points_per_follower':<24}{t['per_follower'].format(gained=gained, value=_fmt(rules.get('points_per_follower'))):<40}{_fmt(team.follower_points):>10}",
        f"  {'points_per_post':<24}{t['per_post'].format(n=n, value=_fmt(rules.get('points_per_post'))):<40}{_fmt(team.post_points):>10}",
        f"  {t['posts_points']:<24}{t['sum'].format(n=n):<40}{_fmt(team.posts_score):>10}",
        f"  {'score':<64}{_fmt(team.score):>10}",
        t["posts"].format(stored=len(team.posts), n=n) if team.posts else t["no_posts"],
    ]
    for entry in sorted(team.posts, key=lambda e: (e.timestamp is None, e.timestamp or board.as_of, e.media_id)):
        state = t["counted"] if entry.status == ELIGIBLE else t["not_counted"].format(reason=display_text(entry.reason))
        terms = ", ".join(f"{rule} {_fmt(points)}" for rule, points in entry.points.items() if points)
        notes = [f for f in entry.flags if f in FRESHNESS_FLAGS]  # the post's freshness, as the posts' board shows it
        lines.append(f"  {entry.media_id}  {clock.format_short(entry.timestamp, tz, lang) or t['no_date']}  "
                     f"{_fmt(entry.score):>8}  {state}" + (f"  [{terms}]" if terms else "")
                     + (f"  ({t['flags'].format(flags=', '.join(notes))})" if notes else ""))
        lines.append(f"      {shorten(display_text(entry.caption), 100) or t['no_caption']}")
    lines.append(t["moderation"] if moderation else t["no_moderation"])
    lines += [t["action"].format(when=when(a["at"]), action=a["action"], by=display_text(a["by"]),
                                 reason=display_text(a["reason"])) for a in moderation or []]
    if team.rank is not None:
        tie = t["tied"].format(key=team.tie_break) if team.tie_break else ""
        lines.append(t["rank"].format(rank=team.rank, of=len(board.ranked)) + tie)
    else:
        lines.append(t["unranked"].format(reason=display_text(team.reason), status=team.status))
    if team.flags:
        lines.append(t["flags"].format(flags=", ".join(team.flags)))
    lines.append(t["chain"].format(chain=explain_chain(rules, lang)))
    return lines


def _fmt(value: object) -> str:
    if value is None:
        return "0"
    amount = float(value)  # type: ignore[arg-type]
    return str(int(amount)) if amount.is_integer() else f"{amount:.2f}"
