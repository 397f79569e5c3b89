"""One poll of a team contest: each team account's counts and its own media.

For each team, in contest-file order: the account reading (stored as an account
snapshot when it changed), then its media pages, newest first, until they reach posts
older than the contest's start; each page is stored in its own transaction and its
media linked to the team. A team that fails does not stop the others (the poll is
``partial``); each team's read is recorded (``store.record_team_read``) for
``derby status``. An app-level throttle (the app's platform limits) cools every team
down and ends the poll; an account-level one (business use case, code 80002) cools
only that account. Feeds give readings; this module stores them.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

import sqlite_utils

from derby import store
from derby.config import Contest
from derby.feeds.parse import AuthError, BadRequestError, FeedError, ThrottledError
from derby.feeds.sources import AccountFields, AccountMedia
from derby.poll import PollSummary, _when, check_tokens, cooldown_end, feed_account, keep_ranks
from derby.teams import Team, name_token_env

log = logging.getLogger("derby.poller")


class _Stopped(Exception):
    pass


class _AppThrottled(Exception):
    def __init__(self, error: ThrottledError) -> None:
        self.error = error


def poll_teams(db: sqlite_utils.Database, contest: Contest, feed, now: datetime,
               stop: threading.Event | None = None) -> PollSummary:
    """Run one poll of every team of ``contest`` through ``feed`` (``feed.read`` of each
    team's :class:`~derby.feeds.sources.AccountFields` and
    :class:`~derby.feeds.sources.AccountMedia`, made with ``feed.team_account(team)``)
    and store what comes back. Returns the summary; the poll run records its status
    (``ok``, ``partial``, ``failed``, ``skipped`` during an app-level cool-down), the
    first error with its kind and ids, warnings and notes. Never raises FeedError."""
    run_id = store.start_poll_run(db, feed.name, now)
    summary = PollSummary(run_id=run_id, started_at=now, tz=contest.tz)
    app = feed_account(feed)
    requests_before, retries_before = feed.requests_made, getattr(feed, "retries", 0)
    counts: dict[str, set[str]] = {"new": set(), "updated": set()}
    warnings: list[str] = []
    failures: list[tuple[Team, FeedError]] = []
    cooldown = store.active_cooldown(db, app, now)
    read_ok = 0
    if cooldown is not None:
        summary.status, summary.exit_code, summary.error_kind = "skipped", 3, "cooldown"
        summary.cooldown_until = cooldown["until"]
        summary.error = f"cooling down until {_when(cooldown['until'], contest.tz)} ({cooldown['reason']}); no request made"
    else:
        try:
            for team in contest.teams:
                if stop is not None and stop.is_set():
                    summary.notes.append("stopped before every team was read")
                    break
                ok = _poll_team(db, contest, feed, team, run_id, now, summary, counts, warnings, failures, stop)
                read_ok += ok
        except _Stopped:
            summary.notes.append("stopped between pages; the next poll reads every team again")
        except _AppThrottled as throttled:
            exc = throttled.error
            summary.cooldown_until = cooldown_end(exc, now)
            store.start_cooldown(db, app, now, summary.cooldown_until, str(exc), run_id)
            summary.notes.append(f"app-level throttle: every team waits until {_when(summary.cooldown_until, contest.tz)}")
        except Exception as exc:  # noqa: BLE001 - one bad record or a busy database must not end the daemon
            text = getattr(feed, "redact", str)(f"{type(exc).__name__}: {exc}")
            log.error("poll #%s: unexpected error: %s", run_id, text)
            failures.append((Team(name="?", account_id="?"), FeedError(f"unexpected error: {text}")))
        _outcome(summary, failures, read_ok, len(contest.teams))
    first = failures[0][1] if failures else None
    mark = _close(db, summary, feed, run_id, now, counts, warnings, requests_before, retries_before, first)
    if summary.status == "ok":
        keep_ranks(db, run_id, mark, now, rank_teams=lambda: _team_ranks(db, run_id, now))
    if hasattr(feed, "team_tokens"):
        check_tokens(db, feed, feed.team_tokens(list(contest.teams)), now, run_id,
                     told=feed.team_tokens(list(contest.teams), login="instagram"))
    return summary


def _poll_team(db, contest: Contest, feed, team: Team, run_id: int, now: datetime, summary: PollSummary,
               counts: dict[str, set[str]], warnings: list[str], failures: list,
               stop: threading.Event | None = None) -> bool:
    """Read one team; return True when it was read whole. Raises _AppThrottled, and
    _Stopped when ``stop`` is set after a page was stored."""
    label = f"team “{team.name}” ({team.account_id})"
    held = store.active_cooldown(db, team.account_id, now)
    if held is not None:
        summary.notes.append(f"{label} cooling down until {_when(held['until'], contest.tz)}: not read")
        store.record_team_read(db, run_id, team.account_id, now, status="skipped", error_kind="cooldown",
                               error=held["reason"])
        return False
    pages = 0
    try:
        account = feed.team_account(team)
        answer = list(feed.read(AccountFields(team.account_id, team.name, account), now))
        reading = answer[0].reading if answer else None
        if reading is None:
            raise FeedError(f"no answer for account {team.account_id}", endpoint=team.account_id)
        warnings.extend(f"{label}: {n}" for n in answer[0].warnings)
        _note_followers(db, team, reading, label, warnings)
        store.save_account_snapshot(db, run_id, reading, now)
        whole = True  # no page cut short: the read reached the contest's start
        for page in feed.read(AccountMedia(team.account_id, team.name, contest.start, account), now):
            whole = whole and not page.truncated
            result = store.save_page(db, run_id, team.account_id, "media", page, now, label=f"{label} media")
            store.link_team_media(db, run_id, team.account_id, [m.media_id for m in page.media])
            missing = [m.media_id for m in page.media if m.like_count is None]
            warnings.extend(f"{label}: media {m} came without like_count; an owner always reads it, so this is a "
                            "data error (counted as 0)" for m in missing)
            pages += 1
            summary.pages += 1
            summary.snapshots += result.snapshots
            summary.warnings += len(page.warnings)
            counts["new"] |= result.new
            counts["updated"] |= result.updated
            if stop is not None and stop.is_set():
                store.record_team_read(db, run_id, team.account_id, now, status="skipped", pages=pages,
                                       error="stopped before the end of its media")
                raise _Stopped()
        if whole:
            _record_gone(db, contest, team, run_id, now, label, warnings)
        if not store.team_post_count(db, team.account_id):
            warnings.append(f"{label} has no post yet")
    except ThrottledError as exc:
        store.record_team_read(db, run_id, team.account_id, now, status="failed", pages=pages, error_kind=exc.kind,
                               error=str(exc))
        failures.append((team, exc))
        if exc.scope == "app":
            raise _AppThrottled(exc) from None
        until = cooldown_end(exc, now)
        store.start_cooldown(db, team.account_id, now, until, str(exc), run_id)
        summary.notes.append(f"{label} throttled (this account only) until {_when(until, contest.tz)}: {exc}")
        return False
    except FeedError as exc:
        if isinstance(exc, AuthError):
            _name_token(exc, team, summary)
        message = f"{exc}{_hint(exc)}"
        store.record_team_read(db, run_id, team.account_id, now, status="failed", pages=pages, error_kind=exc.kind,
                               error=message)
        failures.append((team, exc))
        summary.notes.append(f"{label} not read: {message}")
        log.warning("poll #%d: %s not read: %s", run_id, label, message)
        return False
    store.record_team_read(db, run_id, team.account_id, now, status="ok", pages=pages)
    return True


def _name_token(exc: AuthError, team: Team, summary: PollSummary) -> None:
    """Make a refused token's advice name the variable the team's token came from
    (``team.token_env``, such as DERBY_TOKEN_3E_AVENUE), not the organizer account's,
    and note that variable in ``summary.refused_token_envs``."""
    exc.args = (name_token_env(str(exc), team),)
    if team.token_env not in summary.refused_token_envs:
        summary.refused_token_envs.append(team.token_env)


def _record_gone(db, contest: Contest, team: Team, run_id: int, now: datetime, label: str,
                 warnings: list[str]) -> None:
    """After a whole read of the team's media: its stored posts of the contest this read
    did not return are reported gone (the board flags them; a judge decides)."""
    gone = store.record_account_gone(db, run_id, team.account_id, contest.start, now)
    if gone:
        warnings.append(f"{label}: {gone} post{'s' if gone != 1 else ''} of the contest no longer in the account's "
                        "media (deleted, archived or hidden): reported gone, flagged on the board")


def _hint(exc: FeedError) -> str:
    if isinstance(exc, AuthError) and exc.problem == "permission" or isinstance(exc, BadRequestError) and exc.code == 100:
        return (" (is it a Business or Creator account, linked to the app, that this team's token manages? "
                "A personal account cannot be read)")
    return ""


def _note_followers(db, team: Team, reading, label: str, warnings: list[str]) -> None:
    """Warn when the followers count went down since the last snapshot (unfollows are
    real: the reading is kept, and the team flagged on the board)."""
    last = store.latest_account_snapshot(db, team.account_id)
    before = last["followers_count"] if last else None
    if before is not None and reading.followers_count is not None and reading.followers_count < before:
        lost = before - reading.followers_count
        warnings.append(f"{label} lost {lost} follower{'s' if lost != 1 else ''} since the last reading "
                        f"({before} → {reading.followers_count}); kept and flagged")


def _outcome(summary: PollSummary, failures: list, read_ok: int, teams: int) -> None:
    if not failures and read_ok == teams:
        return
    if not failures:  # stopped, or a cool-down of some accounts
        summary.status = "partial" if read_ok or summary.pages else "failed"
        summary.exit_code = 3
        summary.error = summary.error or "not every team was read (see the notes)"
        return
    team, first = failures[0]
    summary.status = "partial" if read_ok or summary.pages else "failed"
    summary.error = f"team “{team.name}”: {first}" if team.account_id != "?" else str(first)
    summary.error_kind, summary.details = first.kind, first.details()
    # one team's token needs a person, but the others are still read: stop only when none was
    every_auth = all(isinstance(exc, AuthError) for _, exc in failures) and read_ok == 0
    summary.exit_code = first.exit_code if every_auth or not isinstance(first, AuthError) else 3
    if summary.cooldown_until is not None:
        summary.error += f"; no request until {_when(summary.cooldown_until, summary.tz)}"


def _team_ranks(db, run_id: int, now: datetime) -> dict[str, int]:
    """``{team account id: rank}`` of the ranked teams as of the end of poll run
    ``run_id``: what the team board's movement compares with at the next poll."""
    from derby import clock
    from derby.team_leaderboard import team_standings

    finished = clock.from_store(store.poll_run(db, run_id)["finished_at"])
    return {t.account_id: t.rank for t in team_standings(db, now, finished).ranked}  # type: ignore[misc]


def _close(db, summary: PollSummary, feed, run_id: int, now: datetime, counts: dict[str, set[str]],
           warnings: list[str], requests_before: int, retries_before: int, first: FeedError | None) -> int:
    """Write the poll run's closing record; return ``store.commit_mark`` as it leaves
    the database."""
    notes = getattr(feed, "notes", [])
    summary.notes, notes[:] = summary.notes + list(notes), []
    summary.requests = feed.requests_made - requests_before
    summary.retries = getattr(feed, "retries", 0) - retries_before
    summary.usage = getattr(feed, "usage", None)
    summary.new_media = len(counts["new"])
    summary.updated_media = len(counts["updated"] - counts["new"])
    summary.warnings += len(warnings)
    with store.write(db):  # the poll run's closing record, whole or not at all
        store.record_warnings(db, run_id, warnings + summary.notes, now)
        store.add_media_counts(db, run_id, summary.new_media, summary.updated_media)
        store.finish_poll_run(db, run_id, now, status=summary.status, requests=summary.requests, error=summary.error)
        store.record_poll_outcome(db, run_id, error_kind=summary.error_kind, retries=summary.retries,
                                  usage=summary.usage, cooldown_until=summary.cooldown_until,
                                  error_code=first.code if first else None,
                                  error_subcode=first.subcode if first else None,
                                  fbtrace_id=first.fbtrace_id if first else None,
                                  error_endpoint=first.endpoint if first else None)
        return store.commit_mark(db)
