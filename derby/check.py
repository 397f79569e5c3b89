"""Check the winners before announcing them: for each winner and alternate, is the post
still online, does its caption still hold the contest hashtag (and the required
mention), did its engagement drop since the close, is it still the same entrant?

A post is re-read where the platform allows it, through the ``read`` function the
caller passes (``read(media_row) -> dict | None``: the post's current ``caption``,
``like_count``, ``comments_count``, ``username`` and ``permalink``, or None when it is
gone; raising :class:`CannotRead` when no read path can reach it). The hashtag feed
cannot read a stranger's post by id, so where no read path exists derby says so,
prints the permalink for a person to open, and reports what the store last saw.
Results go to the audit log (``check_winners``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlite_utils

from derby import clock, leaderboard, store
from derby.config import Contest
from derby.store import checks as check_store
from derby.store import draws as draw_store
from derby.text import caption_hashtags, caption_mentions, mentions, shortcode


class CannotRead(Exception):
    """No read path reaches this post (the message says why)."""


def mention_reader(db: sqlite_utils.Database, contest: Contest, feed, account: str, now: datetime,
                   organizer: str | None = None) -> Callable[[dict], dict | None]:
    """A ``read`` for :func:`check_winners` that reads each post again by mention of the
    organizer account (``GET /{account}?fields=mentioned_media.media_id(ID){...}``, Graph
    API IG User mentioned_media; it works at any age for a post whose caption mentions
    the account). ``organizer`` is that account's username (None: not known yet).

    Returns None when the platform reports the post gone (error 100, subcode 33) and
    its stored caption mentions ``organizer``. Raises :class:`CannotRead` for any other
    failure or refusal (a permission is missing, the platform is throttling), without a
    request for a post whose stored caption does not mention ``organizer``, and for a
    100/33 answer when ``organizer`` is unknown: the platform answers a post that does
    not mention the account the same way, so that answer does not prove it gone.

    As a poll does, it asks nothing while a poll's refusal turned mention reads off
    (``store.disabled_sources``), and a throttle ends its reads: the cool-down of
    ``account`` is recorded as a poll records it (:func:`derby.poll.cooldown_end`,
    capped by :func:`derby.poll.cooldown_cap`) and every later post is not asked."""
    from derby.feeds.parse import FeedError, ThrottledError
    from derby.feeds.refresh import MentionRefresh, is_graph_id, refusal
    from derby.poll import cooldown_cap, cooldown_end

    off = store.disabled_sources(db).get("mentioned_media")
    stopped: list[str] = []

    def read(state: dict) -> dict | None:
        if off is not None:
            raise CannotRead(f"not asked: mention reads are off since {clock.format_local(off[1], contest.tz, 'en')} "
                             f"({off[0]})")
        if stopped:
            raise CannotRead(f"not asked: {stopped[0]}")
        media_id = state["media_id"]
        if not is_graph_id(media_id):  # stored by a derby that did not yet refuse such ids
            raise CannotRead(f"its stored media id {media_id[:40]!r} is not a Graph id (the API never gives one like "
                             "it), so it cannot be read again")
        if organizer and not mentions(state.get("caption"), organizer):
            raise CannotRead(f"its caption does not mention @{organizer}, so it cannot be read by mention")
        try:
            pages = list(feed.read(MentionRefresh(account, media_id), now))
        except ThrottledError as exc:
            until = min(cooldown_end(exc, now), cooldown_cap(db, contest, now))
            store.start_cooldown(db, account, now, until, str(exc))
            stopped.append(f"the platform throttled an earlier read; no request until "
                           f"{clock.format_local(until, contest.tz, 'en')} ({exc})")
            raise CannotRead(f"the platform throttled the mention read ({exc}); no request until "
                             f"{clock.format_local(until, contest.tz, 'en')}") from None
        except FeedError as exc:
            if refusal(exc) == "gone" and organizer:
                return None
            if refusal(exc) == "gone":
                raise CannotRead(f"the mention read answered {exc}: the post is gone, or its caption does not "
                                 "mention the organizer account (its username is not known yet)") from None
            raise CannotRead(f"the mention read was refused ({exc})") from None
        media = next((m for page in pages for m in page.media if m.media_id == media_id), None)
        if media is None:
            raise CannotRead("the mention read answered without the post (its caption may no longer mention the account)")
        author = next((page.authors.get(media_id) for page in pages if media_id in page.authors), None)
        return {"caption": media.caption, "like_count": media.like_count, "comments_count": media.comments_count,
                "username": author, "permalink": media.permalink}

    return read


def gone_report(outcomes: list[tuple[str, str, datetime]], read_at: datetime | None) -> tuple[str, datetime] | None:
    """The first ``(source, at)`` of a source that reported the post gone after its
    newest reading ``read_at`` (``outcomes`` as :func:`derby.store.read_outcomes` gives
    them, oldest first), or None: the report that gives the board its ``gone`` flag."""
    gone = [(source, at) for source, outcome, at in outcomes if outcome == "gone" and (read_at is None or at > read_at)]
    return gone[0] if gone else None


@dataclass(frozen=True)
class GoneReport:
    """A post a source reported gone after its newest reading: the entry's ``rank``,
    ``media_id`` and ``permalink``, the newest such report's ``source`` and time ``at`` (aware UTC),
    and ``decision``: the judge's latest action on it made at or after the report
    (``{action, reason, by, at}`` as :func:`derby.store.moderation_history` gives it),
    None when no judge decided since."""

    rank: int | None
    media_id: str
    permalink: str | None
    source: str
    at: datetime
    decision: dict | None = None

    @property
    def kept(self) -> bool:
        """A judge reinstated the post after the report."""
        return self.decision is not None and self.decision["action"] == "reinstate"

    def name(self) -> str:
        """``rank N (shortcode)``, the media id when the permalink has no shortcode."""
        return f"rank {self.rank} ({shortcode(self.permalink) or self.media_id})"


def gone_reports(db: sqlite_utils.Database, entries, outcomes: dict | None = None,
                 since: datetime | None = None) -> list[GoneReport]:
    """The :class:`GoneReport` of each of ``entries`` (scored entries carrying their
    ``fresh`` reading) that a source reported gone after its newest reading (and after
    ``since``, aware UTC, when given), from every report recorded (``outcomes`` as
    :func:`derby.store.read_outcomes` gives them; read when None), with the judge's
    latest decision since the report."""
    outcomes = store.read_outcomes(db) if outcomes is None else outcomes
    found = []
    for e in entries:
        said = outcomes.get(e.media_id)
        if not said:
            continue
        fresh = getattr(e, "fresh", None)
        read_at = fresh.read_at if fresh is not None else None
        if since is not None:
            said = [o for o in said if o[2] > since]
        reports = [(source, at) for source, outcome, at in said if outcome == "gone" and (read_at is None or at > read_at)]
        if not reports:
            continue
        report = reports[-1]  # the newest: a reinstatement answers the reports made before it, not a later one
        later = [a for a in store.moderation_history(db, e.media_id) if a["at"] >= report[1]]
        found.append(GoneReport(e.rank, e.media_id, e.permalink, report[0], report[1], later[-1] if later else None))
    return found


def gone_undecided(db: sqlite_utils.Database, entries, outcomes: dict | None = None,
                   since: datetime | None = None) -> list[GoneReport]:
    """The reports of :func:`gone_reports` that no reinstatement answered: no judge
    decided since the report, or a disqualification made after the standings' moment
    left the post in them (standings ``--as-of`` an earlier time)."""
    return [r for r in gone_reports(db, entries, outcomes, since) if not r.kept]


def announcement_warnings(db: sqlite_utils.Database, board, count: int) -> list[str]:
    """What a person must know about the first ``count`` ranked entries of ``board``
    (:class:`derby.leaderboard.Standings`) before announcing them, one line each
    (``warning: …``, or ``note: …`` once a judge decided):

    - a post a source reported gone (the board's ``disparue``) stays at its rank until a
      judge decides: a disqualification passes it over (the next entries move up), a
      reinstatement made after the report keeps it (the note names the judge);
    - a post the last poll before the standings' time did not see may have been
      deleted or hidden: the hashtag feed cannot tell (a stranger's post cannot be read
      by id), so a person checks it (``derby check-winners``)."""
    last = store.last_poll_run_until(db, board.as_of)
    entries = list(board.rows(count))
    outcomes = store.read_outcomes(db)
    reports = {r.media_id: r for r in gone_reports(db, [e for e in entries if "gone" in e.flags], outcomes)}
    seen = store.last_seen(db, [e.media_id for e in entries], board.as_of)
    latest = clock.from_store(last["started_at"]) if last else None
    tz = board.contest.tz
    lines = []
    for e in entries:
        name = f"rank {e.rank} ({shortcode(e.permalink) or e.media_id})"
        report = reports.get(e.media_id)
        if report is not None:
            said = f"{name} was reported gone by {report.source} {clock.format_local(report.at, tz, 'en')}"
            if report.kept:
                kept = report.decision
                lines.append(f"note: {said}; kept by {kept['by']} {clock.format_local(kept['at'], tz, 'en')}: "
                             f"{kept['reason']}")
            else:
                lines.append(f"warning: {said} (deleted, hidden or made private): it stays at its rank until a judge "
                             f"decides: derby disqualify {e.media_id} --reason TEXT passes it over (the next entries "
                             f"move up), derby reinstate {e.media_id} --reason TEXT keeps it")
        elif latest is not None and e.media_id in seen and seen[e.media_id] < latest:
            lines.append(f"warning: {name} was last seen by the feed {clock.format_local(seen[e.media_id], tz, 'en')}, "
                         f"not by the last poll ({clock.format_local(latest, tz, 'en')}): it may have been deleted or "
                         "hidden, which the hashtag feed cannot tell; check that it is still online (derby "
                         "check-winners) before announcing it")
    return lines


NO_READ_PATH = ("derby has no way to read this post by id (the hashtag feed cannot read a stranger's post, and no "
                "refresh of known media is configured)")


@dataclass
class WinnerCheck:
    """The check of one winner or alternate: ``role`` (``winner``/``alternate``),
    ``place`` (1, 2, … in the announcement order), ``lines`` (what was found, for a
    person) and ``warnings`` (what must be looked at before announcing). In a team
    contest ``media_id`` is None, ``permalink`` the account's profile address, and
    ``team``, ``account_id`` and ``trophy`` (None for the overall ranking) say whom
    the check is about."""

    role: str
    place: int
    media_id: str | None
    permalink: str | None
    read: bool
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    team: str | None = None
    account_id: str | None = None
    trophy: str | None = None


def chosen(db: sqlite_utils.Database, now: datetime, top: int, alternates: int) -> tuple[str, list[tuple[str, str]]]:
    """Return ``(source, [(role, media_id), ...])``: the draw's winners and alternates
    when a draw ran, else the first ``top`` of the standings and the next ``alternates``."""
    run = draw_store.any_draw_run(db)
    if run is not None:
        result = json.loads(run["certificate"])["result"]
        return "draw", [("winner", m) for m in result["winners"]] + [("alternate", m) for m in result["alternates"]]
    ranked = leaderboard.standings(db, now).ranked
    return "standings", ([("winner", e.media_id) for e in ranked[:top]]
                         + [("alternate", e.media_id) for e in ranked[top:top + alternates]])


def check_winners(db: sqlite_utils.Database, contest: Contest, now: datetime, by: str, *, top: int, alternates: int,
                  read: Callable[[dict], dict | None] | None = None,
                  app: str | None = None) -> tuple[str, list[WinnerCheck]]:
    """Check each winner and alternate (see the module docstring) and record the
    results in the audit log. While ``app`` (the feed's account) cools down after a
    throttle, no post is read, as a poll would not read any. Returns ``(source, checks)``."""
    source, picks = chosen(db, now, top, alternates)
    held = store.active_cooldown(db, app, now) if app else None
    if read is not None and held is not None:
        read = _cooling(f"the account cools down until {clock.format_local(held['until'], contest.tz, 'en')} "
                        f"({held['reason']}); no request made")
    board = leaderboard.standings(db, now)
    at_close = {e.media_id: e for e in board.entries}
    last_poll = store.last_poll_run(db, successful=True)
    last_poll_at = clock.from_store(last_poll["started_at"]) if last_poll else None
    seen = store.last_seen(db, [m for _, m in picks])
    outcomes = store.read_outcomes(db)
    results = []
    for place, (role, media_id) in enumerate(picks, start=1):
        state = check_store.stored_state(db, media_id)
        entry = at_close.get(media_id)
        result = WinnerCheck(role, place, media_id, state["permalink"] if state else None, False)
        if state is None or entry is None:
            result.warnings.append("not a stored entry of this contest")
            results.append(result)
            continue
        fresh = _read(read, state, result)
        known = board.freshness.get(media_id)
        report = gone_report(outcomes.get(media_id, []), known.read_at if known else None) \
            if "gone" in entry.flags else None
        _online(result, fresh, seen.get(media_id), last_poll_at, contest, report)
        _caption(result, fresh, state, entry, contest, board.rules)
        _engagement(result, fresh, state, entry, contest, known.read_at if known else None, closed=now >= contest.freeze)
        _entrant(result, fresh, state, contest)
        results.append(result)
    draw_store.record_attempt(db, now, by, "check_winners",
                              f"checked {len(results)} winners and alternates ({source}): "
                              f"{sum(len(r.warnings) for r in results)} warnings, "
                              f"{sum(1 for r in results if not r.read)} not readable",
                              [{"media_id": r.media_id, "role": r.role, "read": r.read, "warnings": r.warnings}
                               for r in results])
    return source, results


def _cooling(why: str) -> Callable[[dict], dict | None]:
    def read(state: dict) -> dict | None:
        raise CannotRead(why)

    return read


def _read(read, state: dict, result: WinnerCheck) -> dict | None:
    if read is None:
        result.lines.append(f"cannot be read: {NO_READ_PATH}; open {state['permalink'] or 'its permalink'} to check it")
        return None
    try:
        fresh = read(state)
    except CannotRead as exc:
        result.lines.append(f"cannot be read: {exc}; open {state['permalink'] or 'its permalink'} to check it")
        return None
    result.read = True
    return fresh if fresh is not None else {"gone": True}


def _online(result: WinnerCheck, fresh: dict | None, seen: datetime | None, last_poll: datetime | None,
            contest: Contest, report: tuple[str, datetime] | None = None) -> None:
    tz = contest.tz
    if fresh is not None:
        if fresh.get("gone"):
            result.warnings.append("the post is no longer online (deleted, hidden or made private)")
        else:
            result.lines.append("still online (read now)"
                                + (f", though {report[0]} reported it gone {clock.format_local(report[1], tz, 'en')}: "
                                   f"a judge may keep it (derby reinstate {result.media_id} --reason TEXT)"
                                   if report else ""))
        return
    if report is not None:
        result.warnings.append(f"reported gone by {report[0]} {clock.format_local(report[1], tz, 'en')} (deleted, "
                               "hidden or made private); a judge decides: derby disqualify passes it over, derby "
                               "reinstate keeps it")
    elif seen is None:
        result.warnings.append("never seen by the feed")
    elif last_poll is not None and seen < last_poll:
        result.warnings.append(f"the feed last saw it {clock.format_local(seen, tz, 'en')}, not in the last poll "
                               f"({clock.format_local(last_poll, tz, 'en')}): it may have been deleted or hidden")
    else:
        result.lines.append(f"seen by the last poll ({clock.format_local(seen, tz, 'en')})")


def _caption(result: WinnerCheck, fresh: dict | None, state: dict, entry, contest: Contest, rules) -> None:
    caption = fresh.get("caption") if fresh and not fresh.get("gone") else state["caption"]
    when = "now" if fresh and not fresh.get("gone") else "as last stored"
    # the words ranking reads of a stored caption (text.caption_words), here of the caption read now
    tags = [t for t in caption_hashtags(caption) if t in contest.hashtags]
    problems = []
    if rules.require_hashtag_in_caption and not caption:
        problems.append("no caption, so no contest hashtag in it")
    elif rules.require_hashtag_in_caption and not tags:
        problems.append("no contest hashtag in the caption")
    if rules.require_mention and rules.require_mention not in caption_mentions(caption):
        problems.append(f"the caption does not @mention @{rules.require_mention}")
    if problems:
        result.warnings.append(f"the caption ({when}) no longer passes: {'; '.join(problems)}")
    else:
        needs = "hashtag and mention" if rules.require_mention else "hashtag"
        result.lines.append(f"caption ({when}) still holds the contest {needs}")
    if caption != entry.caption:
        result.warnings.append(f"the caption ({when}) differs from the one scored at the close")


def _engagement(result: WinnerCheck, fresh: dict | None, state: dict, entry, contest: Contest,
                scored_at: datetime | None, *, closed: bool = True) -> None:
    """Engagement at the close (the standings' reading, read at ``scored_at``: the
    time ``derby explain`` shows) against now, or against the newest reading. Before
    the close (``closed`` False) it is said against the standings' reading."""
    if fresh and not fresh.get("gone"):
        likes, comments, when = fresh.get("like_count"), fresh.get("comments_count"), "now"
    elif state["latest"]:
        latest = state["latest"]
        likes, comments = latest["like_count"], latest["comments_count"]
        when = f"as last read {clock.format_local(latest['read_at'], contest.tz, 'en')}"
        if scored_at is not None and scored_at != latest["read_at"]:
            whose = "the close's" if closed else "the standings'"
            when += f"; {whose} counts were read {clock.format_local(scored_at, contest.tz, 'en')}"
    else:
        return
    since = "since the close" if closed else "since the standings' reading (the contest is still running)"
    text = (f"engagement {since} ({when}): likes {_n(entry.like_count)} → {_n(likes)}, "
            f"comments {_n(entry.comments_count)} → {_n(comments)}")
    dropped = [n for n, a, b in (("likes", entry.like_count, likes), ("comments", entry.comments_count, comments))
               if a is not None and b is not None and b < a]
    if dropped:
        result.warnings.append(text + f": {' and '.join(dropped)} dropped (bought engagement removed?)")
    else:
        result.lines.append(text)


def _n(value: int | None) -> str:
    return "hidden" if value is None else str(value)


def _entrant(result: WinnerCheck, fresh: dict | None, state: dict, contest: Contest) -> None:
    links = state["links"]
    registered = links[-1]["username"] if links else None
    owner = fresh.get("username") if fresh and not fresh.get("gone") else None
    if owner and registered and owner.lower() != registered:
        result.warnings.append(f"the post is now by @{owner}, registered to @{registered}")
    elif registered:
        later = [link for link in links if link["linked_at"] > contest.freeze]
        if len({link["username"] for link in links}) > 1 and later:
            result.warnings.append(f"the entrant changed after the close: now @{registered}")
        else:
            result.lines.append(f"entrant @{registered}" + (" (confirmed by the read)" if owner else " (registered)"))
    else:
        result.lines.append("entrant unknown (no registration matched this post)"
                            + (f"; the post is by @{owner}" if owner else ""))
