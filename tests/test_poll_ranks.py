"""Each successful poll keeps its ranks when it finishes, and the board's movement
column reads them instead of ranking the previous poll again: the movement is the
same as the one computed from a ranking as of that poll's end, after every event that
changes standings without a poll, and an older database without kept ranks still
gets it right."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from derby import clock, leaderboard, poller, store, team_leaderboard
from derby.config import load_contest
from derby.feeds.fixture import FixtureFeed
from helpers import contest as make_contest, media, page, utc

POLLS = [utc(2017, 4, 2, 12), utc(2017, 4, 3, 0), utc(2017, 4, 3, 12)]


class ScriptedFeed:
    """A feed whose every poll returns the media the test sets."""

    name, requests_made, notes = "fixture", 0, []

    def __init__(self):
        self.items: list = []

    def resolve_hashtag(self, name):
        return {"socialderby": "1", "snq17": "2"}[name]

    def read(self, source, now):
        if source.hashtag_id == "1" and source.edge == "recent_media":
            yield page(*self.items)


def _field(step: int) -> list:
    # twelve entries whose order changes from poll to poll; "h" hides its likes
    return [media(f"{m}", like_count=None if m == "h" else 10 + (i * 7 + step * (5 - i)) % 40,
                  comments_count=(i + step) % 4, timestamp=utc(2017, 4, 2, i))
            for i, m in enumerate("abcdefghijkl")]


@pytest.fixture
def polled(tmp_path):
    leaderboard._PAST_RANKS.clear()
    db = store.open_db(tmp_path / "d.db")
    contest = make_contest()
    store.save_contest(db, contest, utc(2017, 3, 30))
    feed = ScriptedFeed()

    def poll(when, items):
        feed.items = items
        return poller.poll_once(db, contest, feed, when)

    for step, when in enumerate(POLLS):
        assert poll(when, _field(step)).status == "ok"
    yield db, poll
    db.close()
    leaderboard._PAST_RANKS.clear()


def moves(db, now):
    return [(r.entry.media_id, r.entry.rank, r.movement) for r in leaderboard.board_view(db, now, top=20).rows]


def as_of_moves(db, now, monkeypatch):
    """The movement as derby computed it before ranks were kept: the previous poll
    ranked again as of its end."""
    leaderboard._PAST_RANKS.clear()
    with monkeypatch.context() as patch:
        patch.setattr(store, "stored_ranks", lambda *a, **k: None)
        return moves(db, now)


def _ends(db):
    return [(row[0], row[1]) for row in db.conn.execute("SELECT id, finished_at FROM poll_runs WHERE status = 'ok' "
                                                        "ORDER BY started_at, id")]


def test_a_finished_poll_keeps_its_ranks_equal_to_the_standings_as_of_its_end(polled):
    db, _ = polled
    kept = {run for (run,) in db.conn.execute("SELECT poll_run_id FROM poll_ranks_state")}
    ends = _ends(db)
    assert kept == {ends[-2][0], ends[-1][0]}  # the two newest only
    for run_id, finished in ends[-2:]:
        moment = clock.from_store(finished)
        expected = {e.media_id: e.rank for e in leaderboard.standings(db, moment, moment).rows()}
        assert len(expected) >= 10
        assert store.stored_ranks(db, run_id, "entries") == expected


def test_the_board_reads_the_kept_ranks_and_moves_as_before(polled, past_rankings, monkeypatch):
    db, _ = polled
    now = POLLS[-1] + timedelta(hours=1)
    shown = moves(db, now)
    assert past_rankings == []  # no ranking as of the previous poll's end
    assert shown == as_of_moves(db, now, monkeypatch)
    assert {m for _, _, m in shown} - {None, 0}  # entries did move


def test_a_poll_in_progress_still_moves_against_the_previous_poll(polled, past_rankings, monkeypatch):
    db, _ = polled
    run_id = store.start_poll_run(db, "fixture", utc(2017, 4, 4, 0))
    store.save_page(db, run_id, "socialderby", "recent_media", page(media("l", like_count=900)), utc(2017, 4, 4, 0))
    now = utc(2017, 4, 4, 0, 5)
    shown = moves(db, now)
    assert shown[0][:2] == ("l", 1)
    assert past_rankings == []
    assert shown == as_of_moves(db, now, monkeypatch)


def _rule(db, when):
    store.set_rule(db, "points_per_like", 0, when, by="organizer")


def _moderation(db, when):
    store.moderate(db, "b", "disqualify", "bought likes", "judge", when)


def _entrants(db, when):
    store.set_rule(db, "max_entries_per_entrant", 1, when, by="organizer")
    rows = [{"line": i + 2, "username": "ann", "shortcode": f"C{m}"} for i, m in enumerate("abcdef")]
    store.import_entrants(db, rows, when, by="organizer")


def _policy(db, when):
    store.set_rule(db, "hidden_likes", "comments_only", when, by="organizer")


def _contest_change(db, when):
    # the window now starts after the first five entries were posted
    store.save_contest(db, make_contest(start=utc(2017, 4, 2, 5)), when)


def _freeze(db, when):
    # engagement counts until before the previous poll: its snapshots no longer count
    store.save_contest(db, make_contest(count_engagement_until=utc(2017, 4, 2, 18)), when)


EVENTS = {"rule change": _rule, "moderation": _moderation, "entrant import": _entrants,
          "hidden-likes policy flips": _policy, "contest changed": _contest_change, "freeze moved": _freeze}


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("dated", ["after the last poll", "back-dated before the previous poll"])
def test_after_an_event_without_a_poll_movement_is_as_before(polled, monkeypatch, event, dated):
    db, _ = polled
    when = POLLS[-1] + timedelta(minutes=30) if dated.startswith("after") else utc(2017, 4, 1, 12)
    now = POLLS[-1] + timedelta(hours=1)
    EVENTS[event](db, when)
    assert moves(db, now) == as_of_moves(db, now, monkeypatch)


def test_a_backdated_judges_action_is_not_read_from_the_kept_ranks(polled, past_rankings):
    db, _ = polled
    now = POLLS[-1] + timedelta(hours=1)
    _moderation(db, POLLS[-1] + timedelta(minutes=30))
    moves(db, now)
    assert past_rankings == []  # dated after the previous poll: the kept ranks still hold
    store.moderate(db, "c", "disqualify", "bought likes", "judge", utc(2017, 4, 1, 12))
    moves(db, now)
    assert len(past_rankings) == 1  # dated before it: that poll is ranked again


def test_a_poll_before_an_action_dated_after_it_keeps_no_ranks(polled, monkeypatch):
    db, poll = polled
    store.moderate(db, "d", "disqualify", "bought likes", "judge", utc(2017, 4, 5))  # a clock set ahead
    first = poll(utc(2017, 4, 4, 0), _field(3))
    assert store.stored_ranks(db, first.run_id, "entries") is None
    poll(utc(2017, 4, 4, 12), _field(4))
    now = utc(2017, 4, 4, 13)
    assert moves(db, now) == as_of_moves(db, now, monkeypatch)


def test_a_database_without_kept_ranks_moves_as_before(polled, past_rankings, monkeypatch):
    db, _ = polled
    now = POLLS[-1] + timedelta(hours=1)
    expected = moves(db, now)
    with store.write(db):  # as a database polled by an older derby
        db.execute("DELETE FROM poll_ranks")
        db.execute("DELETE FROM poll_ranks_state")
    leaderboard._PAST_RANKS.clear()
    assert moves(db, now) == expected
    assert len(past_rankings) == 1


def test_a_commit_by_another_connection_after_the_close_keeps_nothing(polled):
    db, _ = polled
    run_id = _ends(db)[-1][0]
    with store.write(db):
        mark = store.commit_mark(db)
    other = sqlite3.connect(store.database_file(db))
    other.execute("INSERT INTO moderation (media_id, action, reason, by, at) VALUES "
                  "('c', 'disqualify', 'x', 'judge', '2017-04-01T12:00:00Z')")
    other.commit()
    other.close()
    assert store.keep_entry_ranks(db, run_id, mark, POLLS[-1]) is False
    with store.write(db):
        mark = store.commit_mark(db)
    assert store.keep_entry_ranks(db, run_id, mark, POLLS[-1]) is True


def test_the_ranking_holds_no_write_lock(polled, monkeypatch):
    db, _ = polled
    run_id = _ends(db)[-1][0]
    real = store.poll_ranks.scoring.live_ranks_query
    writes = []

    def query_while_someone_writes(rules):
        other = sqlite3.connect(store.database_file(db), timeout=0)
        other.execute("BEGIN IMMEDIATE")  # fails at once ("database is locked") if the ranks' writer held it
        other.execute("UPDATE contest SET title = title")
        other.rollback()
        other.close()
        writes.append(True)
        return real(rules)

    monkeypatch.setattr(store.poll_ranks.scoring, "live_ranks_query", query_while_someone_writes)
    with store.write(db):
        mark = store.commit_mark(db)
    assert store.keep_entry_ranks(db, run_id, mark, POLLS[-1]) is True
    assert writes == [True]


def test_a_failure_to_keep_ranks_is_a_warning_and_the_poll_stays_ok(polled, monkeypatch):
    db, poll = polled

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "keep_entry_ranks", broken)
    summary = poll(utc(2017, 4, 4, 0), _field(3))
    assert summary.status == "ok"
    warnings = [r["message"] for r in db.query("SELECT message FROM poll_warnings WHERE poll_run_id = ?",
                                               [summary.run_id])]
    assert any("ranks not kept" in w and "disk I/O error" in w for w in warnings)


def test_a_poll_that_is_not_ok_keeps_no_ranks(polled):
    db, _ = polled

    class Failing(ScriptedFeed):
        def read(self, source, now):
            from derby.feeds.parse import TransientError

            raise TransientError("503 from the platform")

    summary = poller.poll_once(db, make_contest(), Failing(), utc(2017, 4, 4, 0))
    assert summary.status == "failed"
    assert db.execute("SELECT count(*) FROM poll_ranks_state WHERE poll_run_id = ?", [summary.run_id]).fetchone()[0] == 0


# -- the team board ----------------------------------------------------------------------

TEAM_DEMO = Path(__file__).resolve().parents[1] / "derby" / "demo" / "teams"


def _team_polled(tmp_path, days: int):
    text = (TEAM_DEMO / "contest.toml").read_text(encoding="utf-8").replace(
        'path = "replay"', f'path = "{TEAM_DEMO / "replay"}"')
    path = tmp_path / "contest.toml"
    path.write_text(text, encoding="utf-8")
    contest = load_contest(path)
    db = store.open_db(tmp_path / "teams.db")
    store.save_contest(db, contest, utc(2017, 3, 30))
    feed = FixtureFeed(TEAM_DEMO / "replay")
    for day in range(days):
        assert poller.poll_once(db, contest, feed, utc(2017, 3, 31, 17) + timedelta(days=day)).status == "ok"
    return db


def test_the_team_board_reads_the_kept_team_ranks_and_moves_as_before(tmp_path, monkeypatch):
    db = _team_polled(tmp_path, 9)  # the eighth day's poll moves two teams
    now = utc(2017, 4, 8, 18)
    calls: list = []
    real = team_leaderboard.team_standings

    def counting(database, moment, as_of=None):
        calls.append(as_of)
        return real(database, moment, as_of)

    monkeypatch.setattr(team_leaderboard, "team_standings", counting)
    view = team_leaderboard.team_board_view(db, now)
    assert [c for c in calls if c is not None] == []  # no team ranking as of the previous poll's end
    shown = [(r.team.account_id, r.team.rank, r.movement) for r in view.rows]
    with monkeypatch.context() as patch:
        patch.setattr(store, "stored_ranks", lambda *a, **k: None)
        before = team_leaderboard.team_board_view(db, now)
    assert [(r.team.account_id, r.team.rank, r.movement) for r in before.rows] == shown
    assert any(m not in (None, 0) for _, _, m in shown)


def test_what_movement_means_after_each_event_is_in_the_architecture_notes():
    notes = (Path(__file__).parent.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for event, meaning in store.MOVEMENT_AFTER_EVENTS.items():
        assert f"| {event} | {meaning} |" in notes
