"""The board's cache of the previous poll's ranks: reused while nothing it depends on
changed, recomputed when a poll finishes, a rule changes, a judge acts or entrants
are imported, and always equal to the ranks computed afresh."""

from __future__ import annotations

from datetime import timedelta

import pytest

from derby import leaderboard, store

from helpers import contest, media, page, utc

START = utc(2017, 4, 1, 4)


def poll(db, when, *items, finish=True):
    run_id = store.start_poll_run(db, "fixture", when)
    store.save_page(db, run_id, "socialderby", "recent_media", page(*items), when)
    if finish:
        store.finish_poll_run(db, run_id, when + timedelta(minutes=2), status="ok", requests=1)
    return run_id


@pytest.fixture
def db(tmp_path):
    leaderboard._PAST_RANKS.clear()
    database = store.open_db(tmp_path / "c.db")
    store.save_contest(database, contest(), START)
    poll(database, utc(2017, 4, 2, 12), media("a", like_count=50), media("b", like_count=20),
         media("c", like_count=10))
    poll(database, utc(2017, 4, 3, 0), media("a", like_count=55), media("b", like_count=80),
         media("c", like_count=10), media("d", like_count=30))
    yield database
    database.close()
    leaderboard._PAST_RANKS.clear()


def moves(db, now):
    return [(r.entry.media_id, r.entry.rank, r.movement) for r in leaderboard.board_view(db, now).rows]


def fresh_moves(db, now):
    leaderboard._PAST_RANKS.clear()
    return moves(db, now)


def test_ranks_are_reused_while_nothing_changed_even_as_a_poll_is_being_stored(db, past_rankings):
    now = utc(2017, 4, 3, 1)
    first = moves(db, now)
    assert first == [("b", 1, 1), ("a", 2, -1), ("d", 3, None), ("c", 4, -1)]
    assert len(past_rankings) == 1
    assert moves(db, now) == first
    assert len(past_rankings) == 1
    # a poll in progress does not change the previous poll's standings
    poll(db, utc(2017, 4, 3, 12), media("c", like_count=500), finish=False)
    assert moves(db, utc(2017, 4, 3, 12, 1)) == [("c", 1, 2), ("b", 2, 0), ("a", 3, -2), ("d", 4, None)]
    assert len(past_rankings) == 1


def test_a_finished_poll_recomputes_the_previous_ranks(db, past_rankings):
    moves(db, utc(2017, 4, 3, 1))
    poll(db, utc(2017, 4, 3, 12), media("c", like_count=500))
    now = utc(2017, 4, 3, 13)
    assert moves(db, now) == [("c", 1, 3), ("b", 2, -1), ("a", 3, -1), ("d", 4, -1)]
    assert len(past_rankings) == 2
    assert fresh_moves(db, now) == moves(db, now)


def test_a_judges_action_recomputes_the_previous_ranks(db, past_rankings):
    now = utc(2017, 4, 3, 1)
    moves(db, now)
    # recorded with a time before the previous poll finished: it changes those standings
    store.moderate(db, "a", "disqualify", "bought likes", "judge", utc(2017, 4, 2, 0))
    assert moves(db, now) == [("b", 1, 0), ("d", 2, None), ("c", 3, -1)]
    assert len(past_rankings) == 2
    assert fresh_moves(db, now) == [("b", 1, 0), ("d", 2, None), ("c", 3, -1)]


def test_a_rule_change_recomputes_the_previous_ranks(db, past_rankings):
    now = utc(2017, 4, 3, 1)
    moves(db, now)
    # likes count for nothing from before the first poll: every score is 3 × 2 comments
    store.set_rule(db, "points_per_like", 0, utc(2017, 4, 2, 0), by="organizer")
    after = moves(db, now)
    assert len(past_rankings) == 2
    assert after == [("a", 1, 0), ("b", 2, 0), ("c", 3, 0), ("d", 4, None)]
    assert fresh_moves(db, now) == after


def test_an_entrant_import_recomputes_the_previous_ranks(db, past_rankings):
    now = utc(2017, 4, 3, 1)
    moves(db, now)
    store.set_rule(db, "max_entries_per_entrant", 1, utc(2017, 4, 1, 5), by="organizer")
    assert moves(db, now) == [("b", 1, 1), ("a", 2, -1), ("d", 3, None), ("c", 4, -1)]  # nobody has 2 entries yet
    assert len(past_rankings) == 2
    rows = [{"line": 2, "username": "ann", "shortcode": "Ca"}, {"line": 3, "username": "ann", "shortcode": "Cb"}]
    store.import_entrants(db, rows, utc(2017, 4, 2, 0), by="organizer")
    after = moves(db, now)
    assert len(past_rankings) == 3
    assert after == fresh_moves(db, now)
    assert after == [("b", 1, None), ("d", 2, None), ("c", 3, -1)]


def test_an_in_memory_database_is_not_cached(past_rankings):
    database = store.open_db(":memory:")
    store.save_contest(database, contest(), START)
    poll(database, utc(2017, 4, 2, 12), media("a", like_count=50))
    poll(database, utc(2017, 4, 3, 0), media("a", like_count=55), media("b", like_count=80))
    assert moves(database, utc(2017, 4, 3, 1)) == [("b", 1, None), ("a", 2, -1)]
    assert moves(database, utc(2017, 4, 3, 1)) == [("b", 1, None), ("a", 2, -1)]
    assert len(past_rankings) == 2
    assert leaderboard._PAST_RANKS == {}


@pytest.fixture
def live_rankings(monkeypatch):
    """Count the live rankings computed from the stored media (not from the kept
    per-entry standings)."""
    calls: list = []
    real = leaderboard.ranking_query

    def counting(rules, terms, *, as_of, **kw):
        if as_of is None:
            calls.append(as_of)
        return real(rules, terms, as_of=as_of, **kw)

    monkeypatch.setattr(leaderboard, "ranking_query", counting)
    return calls


def test_a_refresh_reads_the_kept_standings(db, live_rankings):
    now = utc(2017, 4, 3, 1)
    first = moves(db, now)
    again = leaderboard.board_view(db, utc(2017, 4, 3, 2))
    assert [(r.entry.media_id, r.entry.rank, r.movement) for r in again.rows] == first
    assert again.now == utc(2017, 4, 3, 2)
    assert live_rankings == []


@pytest.mark.parametrize("change", ["page", "moderation", "rule", "finish"])
def test_any_write_changes_the_live_standings(db, live_rankings, change):
    now = utc(2017, 4, 3, 13)
    run_id = poll(db, utc(2017, 4, 3, 12), media("c", like_count=500), finish=False)
    assert moves(db, now) == [("c", 1, 2), ("b", 2, 0), ("a", 3, -2), ("d", 4, None)]
    if change == "page":  # the same media again in the same run: its snapshot is updated in place
        store.save_page(db, run_id, "snq17", "recent_media", page(media("c", like_count=1)), utc(2017, 4, 3, 12, 1))
        expected = [("b", 1, 1), ("a", 2, -1), ("d", 3, None), ("c", 4, -1)]
    elif change == "moderation":
        store.moderate(db, "c", "disqualify", "bought likes", "judge", utc(2017, 4, 3, 12, 30))
        expected = [("b", 1, 1), ("a", 2, -1), ("d", 3, None)]
    elif change == "rule":
        store.set_rule(db, "points_per_like", 0, utc(2017, 4, 3, 12, 30), by="organizer")
        expected = [("a", 1, 0), ("b", 2, 0), ("c", 3, 0), ("d", 4, None)]
    else:
        store.finish_poll_run(db, run_id, utc(2017, 4, 3, 12, 2), status="ok", requests=1)
        expected = [("c", 1, 3), ("b", 2, -1), ("a", 3, -1), ("d", 4, -1)]
    assert moves(db, now) == expected
    assert live_rankings == []
    assert fresh_moves(db, now) == expected
