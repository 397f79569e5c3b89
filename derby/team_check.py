"""Check a team contest's winners before announcing them: each winning team's account
read again by its owner, and its counted posts where the ranking depends on posts.

The winners, alternates and trophy winners are those of the export
(:func:`derby.team_leaderboard.team_winners`). Each account is read once, through the
``read`` function the caller passes (``read(team, posts) -> TeamRead | None``, see
:func:`owner_reader`: the account's counts now and, when ``posts``, its own media; None
when the platform reports the account gone; raising :class:`~derby.check.CannotRead`
when it cannot be reached). What was read is compared with what the standings used at
the close: the followers at the freeze (a drop is a warning: bought followers removed?),
the username, and each counted post (gone from the account's media, engagement
dropped, a caption that no longer holds the contest hashtag). Where an account cannot
be read, derby says so, prints its profile address for a person to open, and reports
when the polls last read it. Nothing read here is stored; results go to the audit log
(``check_winners``), as in a hashtag contest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlite_utils

from derby import clock, store
from derby.check import CannotRead, WinnerCheck
from derby.config import Contest
from derby.store import draws as draw_store
from derby.team_leaderboard import TeamStandings, team_standings, team_winners
from derby.team_scoring import TeamScore
from derby.teams import Team, name_token_env
from derby.text import caption_hashtags

POST_METRICS = ("likes", "comments", "posts", "engagement_per_post", "engagement_per_follower")
"""Trophy metrics computed from the counted posts."""


@dataclass
class TeamRead:
    """An account read again: ``username`` and ``followers_count`` (None when absent),
    and, when its posts were asked for, ``media`` (``{media_id: Media}`` of its own media
    since the contest's start; None when not read) or ``media_error`` (why they could
    not be read)."""

    username: str | None
    followers_count: int | None
    media: dict | None = None
    media_error: str | None = None


def owner_reader(db: sqlite_utils.Database, feed, contest: Contest, now: datetime,
                 app: str | None = None) -> Callable[[Team, bool], TeamRead | None]:
    """A ``read`` for :func:`check_team_winners` over ``feed`` (an accounts or fixture
    feed): the team's :class:`~derby.feeds.sources.AccountFields` and, when asked,
    :class:`~derby.feeds.sources.AccountMedia` since the contest's start, each with the
    team's own settings (``feed.team_account(team)``), through ``feed.read`` as a team
    poll reads them (Graph API IG User and IG User Media, owner reads). Returns None
    when the platform answers error 100 subcode 33 for the account (it does not exist or
    cannot be loaded); raises CannotRead for any other failure (a token not set or
    refused, a permission missing, throttling).

    A throttle is handled as a team poll handles it: the cool-down is recorded
    (:func:`derby.poll.cooldown_end`) for the team's account when the platform limits
    that account only, else for ``app`` (the feed's account), and then no further
    account is asked."""
    from derby.feeds.parse import FeedError, ThrottledError
    from derby.feeds.refresh import refusal
    from derby.feeds.sources import AccountFields, AccountMedia
    from derby.poll import cooldown_end

    stopped: list[str] = []

    def throttled(team: Team, exc: ThrottledError) -> CannotRead:
        until = cooldown_end(exc, now)
        whole_app = exc.scope == "app"
        store.start_cooldown(db, app if whole_app and app else team.account_id, now, until, str(exc))
        when = clock.format_local(until, contest.tz, "en")
        if whole_app:
            stopped.append(f"the platform throttled an earlier read; no request until {when} ({exc})")
        return CannotRead(f"the platform throttled the owner read ({exc}); no request "
                          f"{'' if whole_app else 'for this account '}until {when}")

    def read(team: Team, posts: bool) -> TeamRead | None:
        if stopped:
            raise CannotRead(f"not asked: {stopped[0]}")
        try:
            account = feed.team_account(team)
            answer = list(feed.read(AccountFields(team.account_id, team.name, account), now))
        except ThrottledError as exc:
            raise throttled(team, exc) from None
        except FeedError as exc:
            if refusal(exc) == "gone":
                return None
            raise CannotRead(f"the owner read was refused ({name_token_env(str(exc), team)})") from None
        reading = answer[0].reading if answer else None
        if reading is None:
            raise CannotRead("the owner read answered without the account")
        found = TeamRead(reading.username, reading.followers_count)
        if posts:
            try:
                pages = feed.read(AccountMedia(team.account_id, team.name, contest.start, account), now)
                found.media = {m.media_id: m for page in pages for m in page.media}
            except ThrottledError as exc:
                found.media_error = str(throttled(team, exc))
            except FeedError as exc:
                found.media_error = name_token_env(str(exc), team)
        return found

    return read


def profile_url(username: str | None) -> str | None:
    """The account's public profile address, when its username is known."""
    return f"https://www.instagram.com/{username}/" if username else None


@dataclass
class _Pick:
    role: str
    trophy: str | None
    metric: str | None
    team: TeamScore
    posts: bool = field(default=False)


def picks(board: TeamStandings, top: int, alternates: int) -> list[_Pick]:
    """The overall winners and alternates, then each trophy's winners, with whether the
    place depends on posts (:func:`posts_matter`)."""
    found = []
    for row in team_winners(board, top, alternates):
        team = board.team(row["account_id"])
        if team is None:
            continue
        trophy = next((t for t in board.contest.trophies if t.name == row["trophy"]), None)
        metric = trophy.metric if trophy else None
        found.append(_Pick(row["role"], row["trophy"], metric, team, posts_matter(board, team, metric)))
    return found


def posts_matter(board: TeamStandings, team: TeamScore, metric: str | None) -> bool:
    """Whether ``team``'s place depends on the teams' posts: for a trophy (``metric``),
    a metric computed from them; for the overall ranking (``metric`` None or
    ``score``), points per post, any counted post's own points, or a tie with another
    team that a key computed from posts separated."""
    if metric not in (None, "score"):
        return metric in POST_METRICS
    if float(board.rules.get("points_per_post") or 0):  # type: ignore[arg-type]
        return True
    if team.tie_break in POST_METRICS:
        return True
    return any(e.score for t in board.ranked for e in t.counted)


def check_team_winners(db: sqlite_utils.Database, contest: Contest, now: datetime, by: str, *, top: int,
                       alternates: int, read: Callable[[Team, bool], TeamRead | None] | None = None,
                       app: str | None = None) -> tuple[str, list[WinnerCheck]]:
    """Check each winning team (see the module docstring) and record the results in
    the audit log. An account cooling down after a throttle (or every account, while
    ``app``, the feed's account, cools down) is not read, as a poll would not read it.
    Returns ``("standings", checks)``; each check's ``media_id`` is None and its
    ``team``, ``account_id`` and ``trophy`` say whom it is about."""
    board = team_standings(db, now)
    chosen = picks(board, top, alternates)
    wants_posts = {p.team.account_id for p in chosen if p.posts}
    reads = store.team_reads(db)
    cache: dict[str, tuple[bool, TeamRead | None, str | None]] = {}
    results = []
    for place, pick in enumerate(chosen, start=1):
        team = pick.team
        if team.account_id not in cache:
            held = store.active_cooldown(db, team.account_id, now) or (store.active_cooldown(db, app, now) if app else None)
            cache[team.account_id] = (False, None, f"cooling down until {clock.format_local(held['until'], contest.tz, 'en')} "
                                      f"({held['reason']}); no request made") if held else \
                _read(read, board, team, team.account_id in wants_posts)
        done, fresh, why = cache[team.account_id]
        result = WinnerCheck(pick.role, place, None, profile_url(team.username), done, team=team.name,
                             account_id=team.account_id, trophy=pick.trophy)
        if not done:
            result.lines.append(f"cannot be read: {why}; open {result.permalink or 'the account'} to check it")
            _last_read(result, reads.get(team.account_id), store.latest_account_snapshot(db, team.account_id),
                       contest)
        elif fresh is None:
            result.warnings.append("the account is gone: the platform answered that it does not exist or cannot be "
                                   f"loaded (deleted, deactivated, or no longer managed by this token); open "
                                   f"{result.permalink or 'the account'} to check it")
        else:
            since = _since(contest, now)
            _account(result, fresh, team, since)
            if pick.posts:
                _posts(result, fresh, team, board, since)
        results.append(result)
    draw_store.record_attempt(db, now, by, "check_winners",
                              f"checked {len(results)} team winners, alternates and trophy winners (standings): "
                              f"{sum(len(r.warnings) for r in results)} warnings, "
                              f"{sum(1 for r in results if not r.read)} not readable",
                              [{"account_id": r.account_id, "team": r.team, "role": r.role, "trophy": r.trophy,
                                "read": r.read, "warnings": r.warnings} for r in results])
    return "standings", results


def _read(read, board: TeamStandings, team: TeamScore, posts: bool) -> tuple[bool, TeamRead | None, str | None]:
    if read is None:
        return False, None, "no owner read is possible (no feed could be made)"
    config = next((t for t in board.contest.teams if t.account_id == team.account_id), None)
    if config is None:
        return False, None, "the team is no longer in the contest file"
    try:
        return True, read(config, posts), None
    except CannotRead as exc:
        return False, None, str(exc)


def _last_read(result: WinnerCheck, reads: dict | None, snapshot: dict | None, contest: Contest) -> None:
    """When the polls last read the account (its newest successful team read, else
    its newest stored snapshot: snapshots are written only when the counts change)."""
    last_ok = reads["last_ok"] if reads else None
    if last_ok is None and snapshot is None:
        result.warnings.append("no poll ever read this account")
        return
    when = clock.format_local(last_ok or snapshot["observed_at"], contest.tz, "en")  # type: ignore[index]
    followers = f" ({snapshot['followers_count']} followers)" if snapshot and snapshot["followers_count"] is not None else ""
    result.lines.append(f"last read by a poll {when}{followers}")
    last = reads["last"] if reads else None
    if last and last["status"] == "failed":
        result.warnings.append(f"the latest poll could not read it ({clock.format_local(last['at'], contest.tz, 'en')}: "
                               f"{last['error']})")


def _since(contest: Contest, now: datetime) -> str:
    """What the standings' counts are compared with a read of now: the close once the
    contest froze, else the standings' reading (the contest still running, or not started)."""
    if now >= contest.freeze:
        return "since the close"
    state = "has not started" if now < contest.start else "is still running"
    return f"since the standings' reading (the contest {state})"


def _account(result: WinnerCheck, fresh: TeamRead, team: TeamScore, since: str = "since the close") -> None:
    result.lines.append("account still online (read now by its owner)")
    if fresh.username and team.username and fresh.username.lower() != team.username.lower():
        result.warnings.append(f"the account is now @{fresh.username}, it was @{team.username} "
                               f"{'at the close' if since == 'since the close' else 'in the standings'}")
    before, now = team.followers_count, fresh.followers_count
    if now is None:
        result.warnings.append("the read gave no followers_count (is it still a Business or Creator account?)")
    elif before is not None and now < before:
        result.warnings.append(f"followers {since}: {before} → {now}: {before - now} fewer "
                               "(bought followers removed?)")
    else:
        result.lines.append(f"followers {since}: {_n(before)} → {now}")


def _posts(result: WinnerCheck, fresh: TeamRead, team: TeamScore, board: TeamStandings,
           since: str = "since the close") -> None:
    if fresh.media is None:
        result.lines.append(f"its {len(team.counted)} counted posts cannot be read again ({fresh.media_error}); "
                            f"open {result.permalink or 'the account'} to check them")
        return
    rules, tags = board.posts.rules, board.contest.hashtags
    online, likes, comments = 0, [0, 0], [0, 0]
    for entry in team.counted:
        media = fresh.media.get(entry.media_id)
        if media is None:
            result.warnings.append(f"counted post {entry.media_id} ({entry.permalink or 'no permalink'}) is no longer "
                                   "in the account's media (deleted or archived)")
            continue
        online += 1
        dropped = [name for name, a, b in (("likes", entry.like_count, media.like_count),
                                           ("comments", entry.comments_count, media.comments_count))
                   if a is not None and b is not None and b < a]
        if dropped:
            result.warnings.append(f"counted post {entry.media_id}: {' and '.join(dropped)} dropped {since} "
                                   f"(likes {_n(entry.like_count)} → {_n(media.like_count)}, comments "
                                   f"{_n(entry.comments_count)} → {_n(media.comments_count)})")
        if rules.require_hashtag_in_caption and tags and not any(t in tags for t in caption_hashtags(media.caption)):
            result.warnings.append(f"counted post {entry.media_id}: the caption (now) no longer holds a contest hashtag")
        likes[0], likes[1] = likes[0] + (entry.like_count or 0), likes[1] + (media.like_count or 0)
        comments[0], comments[1] = comments[0] + (entry.comments_count or 0), comments[1] + (media.comments_count or 0)
    result.lines.append(f"{online} of {len(team.counted)} counted posts still online (read now); engagement {since}: "
                        f"likes {likes[0]} → {likes[1]}, comments {comments[0]} → {comments[1]}")


def _n(value: int | None) -> str:
    return "unknown" if value is None else str(value)
