"""Engagement you can see: each entry's source and reading time, and the stale, gone,
unseen and edited flags on the board, in explain and in JSON."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from derby import board as drawing
from derby import export, leaderboard, poller, store
from derby.feeds.parse import MediaPage

from helpers import contest, media, page, utc

START = utc(2017, 4, 1, 4)
END = utc(2017, 4, 10, 3, 59, 59)


def poll(db, when, *items, edge="recent_media", hashtag="socialderby"):
    run_id = store.start_poll_run(db, "fixture", when)
    if items:
        store.save_page(db, run_id, hashtag, edge, page(*items), when)
    store.finish_poll_run(db, run_id, when, status="ok", requests=1)
    return run_id


@pytest.fixture
def db(tmp_path):
    database = store.open_db(tmp_path / "f.db")
    store.save_contest(database, contest(), START)
    yield database
    database.close()


def rows(db, now, as_of=None):
    board = leaderboard.standings(db, now, as_of)
    return board, {e.media_id: e for e in board.entries}


def draw(db, now, lang="fr"):
    view = leaderboard.board_view(db, now, show_all=True)
    console = Console(file=io.StringIO(), width=200, height=40, force_terminal=False, color_system=None)
    console.print(drawing.render(view, lang, console))
    return console.file.getvalue()


def test_the_reading_time_is_the_newest_sighting_even_when_nothing_changed(db):
    poll(db, utc(2017, 4, 3, 12), media("1", like_count=5))
    poll(db, utc(2017, 4, 3, 18), media("1", like_count=5), edge="top_media")  # same counts: no new snapshot
    board, by_id = rows(db, utc(2017, 4, 3, 19))
    fresh = board.freshness["1"]
    assert by_id["1"].observed_at == utc(2017, 4, 3, 12)
    assert (fresh.source, fresh.read_at, fresh.flags) == ("top_media", utc(2017, 4, 3, 18), ())
    record = leaderboard.entry_record(by_id["1"], board.contest, fresh)
    assert (record["engagement_source"], record["observed_at"]) == ("top_media", "2017-04-03T14:00:00-04:00")


def test_stale_against_now_while_running_and_against_the_freeze_after(db):
    poll(db, utc(2017, 4, 3, 12), media("1"), media("2"))
    poll(db, utc(2017, 4, 4, 20), media("2"), edge="top_media")
    _, by_id = rows(db, utc(2017, 4, 4, 11))
    assert "stale" not in by_id["1"].flags  # 23 h old
    _, by_id = rows(db, utc(2017, 4, 4, 21))
    assert "stale" in by_id["1"].flags and "stale" not in by_id["2"].flags
    # long after the close, "2" is judged against the freeze: read 5 days before it
    _, by_id = rows(db, utc(2017, 5, 1))
    assert "stale" in by_id["2"].flags
    text = draw(db, utc(2017, 5, 1))
    assert "figé" in text
    assert "stale" in draw(db, utc(2017, 5, 1), "en")


def test_a_post_reported_gone_is_flagged_on_the_board_and_in_json(db):
    run = poll(db, utc(2017, 4, 9, 12), media("1", like_count=500), media("2", like_count=1))
    store.record_outcomes(db, run, [("1", "mentioned_media", "gone", "code 100/33")], utc(2017, 4, 9, 13))
    board, by_id = rows(db, utc(2017, 4, 9, 14))
    assert by_id["1"].rank == 1 and by_id["1"].flags == ["gone"]
    assert "disparue" in draw(db, utc(2017, 4, 9, 14))
    data = json.loads(export.leaderboard_json(board, None, True))
    entry = next(e for e in data["entries"] if e["media_id"] == "1")
    assert entry["flags"] == ["gone"] and entry["engagement_source"] == "recent_media"
    lines = leaderboard.explain_lines(board, "1", [])
    assert "  gone: a source reported the post deleted or hidden" in lines
    # the moment before it was reported, nothing was known
    _, before = rows(db, utc(2017, 4, 9, 14), as_of=utc(2017, 4, 9, 12, 30))
    assert before["1"].flags == []


def test_a_post_missing_from_a_full_recent_media_read_is_unseen_until_it_comes_back(db):
    cfg = contest()
    store.save_contest(db, cfg, START)

    class Feed:
        name = "fixture"
        requests_made = 0

        def __init__(self, items):
            self.items = items

        def resolve_hashtag(self, name):
            return "1784"

        def read(self, source, now):
            yield MediaPage(media=list(self.items if source.edge == "recent_media" else []), warnings=[])

    one = media("1", timestamp=utc(2017, 4, 3, 10), like_count=20)
    two = media("2", timestamp=utc(2017, 4, 3, 11))
    poller.poll_once(db, cfg, Feed([one, two]), utc(2017, 4, 3, 12))
    poller.poll_once(db, cfg, Feed([two]), utc(2017, 4, 3, 18))  # "1" should still be there: 8 h old
    _, by_id = rows(db, utc(2017, 4, 3, 19))
    assert by_id["1"].flags == ["unseen"] and by_id["2"].flags == []
    assert "absente" in draw(db, utc(2017, 4, 3, 19))
    # past its first 24 hours the edge no longer returns it: no new miss
    poller.poll_once(db, cfg, Feed([one, two]), utc(2017, 4, 3, 20))
    poller.poll_once(db, cfg, Feed([]), utc(2017, 4, 4, 14))
    _, by_id = rows(db, utc(2017, 4, 4, 14))
    assert by_id["1"].flags == [] and by_id["2"].flags == []
    misses = {(r["media_id"], r["at"], r["detail"]) for r in db.query("SELECT * FROM media_outcomes")}
    assert misses == {("1", "2017-04-03T18:00:00Z", "#socialderby"), ("1", "2017-04-03T18:00:00Z", "#snq17")}


def test_an_edited_caption_leaves_the_ranking_with_a_visible_flag(db):
    poll(db, utc(2017, 4, 3, 12), media("1", caption="Ma photo #socialderby", like_count=90))
    poll(db, utc(2017, 4, 3, 18), media("1", caption="Ma photo, finalement", like_count=95))
    board, by_id = rows(db, utc(2017, 4, 3, 19))
    assert (by_id["1"].status, by_id["1"].flags) == ("missing_hashtag", ["edited"])
    assert "mot-clic absent, modifiée" in draw(db, utc(2017, 4, 3, 19))
    lines = leaderboard.explain_lines(board, "1", [])
    assert "  caption before: Ma photo #socialderby" in lines
    assert "  caption now:    Ma photo, finalement" in lines
    data = json.loads(export.leaderboard_json(board, None, True))
    assert data["entries"][0]["flags"] == ["edited"]
    # as of before the edit it was ranked, unflagged
    _, before = rows(db, utc(2017, 4, 3, 19), as_of=utc(2017, 4, 3, 13))
    assert (before["1"].rank, before["1"].flags) == (1, [])


def test_an_edit_that_keeps_the_hashtag_is_not_flagged(db):
    poll(db, utc(2017, 4, 3, 12), media("1", caption="#socialderby v1"))
    poll(db, utc(2017, 4, 3, 18), media("1", caption="#socialderby v2"))
    _, by_id = rows(db, utc(2017, 4, 3, 19))
    assert by_id["1"].flags == [] and by_id["1"].rank == 1


# -- engagement_window_hours ----------------------------------------------------------

def test_the_engagement_window_scores_each_entry_as_of_n_hours_after_its_post(db):
    posted = utc(2017, 4, 2, 12)
    late_post = utc(2017, 4, 9, 12)  # its window would end after the freeze
    poll(db, utc(2017, 4, 3, 0), media("1", timestamp=posted, like_count=10, comments_count=0))
    poll(db, utc(2017, 4, 4, 0), media("1", timestamp=posted, like_count=50, comments_count=0), edge="top_media")
    poll(db, utc(2017, 4, 5, 0), media("1", timestamp=posted, like_count=90, comments_count=0), edge="top_media")
    poll(db, utc(2017, 4, 9, 20), media("2", timestamp=late_post, like_count=30, comments_count=0))
    poll(db, utc(2017, 4, 10, 12), media("2", timestamp=late_post, like_count=80, comments_count=0))
    _, by_id = rows(db, utc(2017, 4, 11))
    assert (by_id["1"].like_count, by_id["2"].like_count) == (90, 30)  # without the rule: as of the freeze
    store.set_rule(db, "engagement_window_hours", 48, utc(2017, 4, 10, 13), by="Marie")
    board, by_id = rows(db, utc(2017, 4, 11))
    assert by_id["1"].like_count == 50 and by_id["1"].observed_at == utc(2017, 4, 4, 0)
    assert "stale" not in by_id["1"].flags  # read 12 h before its window closed
    assert board.freshness["1"].read_at == utc(2017, 4, 4, 0)
    assert by_id["2"].like_count == 30 and "observed_late" not in by_id["2"].flags  # never after the freeze
    lines = leaderboard.explain_lines(board, "1", [])
    assert ("Engagement window: engagement_window_hours = 48: every entry is scored on its engagement as of 48 h "
            "after it was posted (never after the freeze), here 2017-04-04 08:00 (UTC−4)") in lines
    french = leaderboard.explain_lines(board, "1", [], "fr")
    assert ("Fenêtre d'engagement : engagement_window_hours = 48 : chaque participation est notée sur son "
            "engagement 48 h après sa publication (jamais après le gel), ici le 4 avril 2017, 8 h 00 (UTC−4)") in french
    assert not any(line.startswith("Engagement window") for line in french)
    assert any(line.strip().startswith("oui période :") for line in french)
    trend = leaderboard.trends(db, board, [by_id["1"]])["1"]
    assert trend == [10.0, 50.0]  # 10 then 50 likes; the 90 came after its window


def test_engagement_window_rule_values():
    from derby.rules import parse_rule_value, validate_rule

    assert validate_rule("engagement_window_hours", 48) == 48.0
    assert parse_rule_value("engagement_window_hours", "none") is None
    with pytest.raises(ValueError, match="more than 0 hours"):
        validate_rule("engagement_window_hours", 0)


def test_the_top_rows_alone_get_the_same_freshness_as_the_whole_standings(db):
    # the board's top rows read the readings, outcomes and authors of those rows only
    run = poll(db, utc(2017, 4, 3, 12), media("1", like_count=500), media("2", like_count=300),
               media("3", like_count=200), media("4", like_count=100))
    later = poll(db, utc(2017, 4, 4, 20), media("3", like_count=201), edge="top_media")
    store.save_refresh(db, later, "mentioned_media", [(media("2", like_count=301), "someone_else")], [],
                       utc(2017, 4, 4, 20))
    store.record_outcomes(db, run, [("1", "mentioned_media", "gone", "code 100/33")], utc(2017, 4, 4, 21))
    store.import_entrants(db, [{"line": 2, "username": "ann", "shortcode": "C2"}], utc(2017, 4, 4, 21), by="organizer")
    now = utc(2017, 4, 4, 22)
    whole, by_id = rows(db, now)
    top = leaderboard.standings(db, now)
    head = list(top.rows(3))
    assert [(e.media_id, e.flags) for e in head] == [(m, by_id[m].flags) for m in ("1", "2", "3")]
    assert by_id["1"].flags == ["stale", "gone"] and "entrant_mismatch" in by_id["2"].flags
    assert {m: top.freshness[m] for m in ("1", "2", "3")} == {m: whole.freshness[m] for m in ("1", "2", "3")}


def test_the_live_standings_read_each_entrys_reading_with_its_row_as_read_readings_gives_it(db):
    # readings before the freeze, one only after it (a later poll: it must not count),
    # one never re-read, one never read at all after its first snapshot
    poll(db, utc(2017, 4, 3, 12), media("1", like_count=5), media("2", like_count=9), media("3"))
    poll(db, utc(2017, 4, 6, 12), media("1", like_count=5), edge="top_media")
    poll(db, utc(2017, 4, 8, 12), media("2", like_count=9))
    poll(db, utc(2017, 4, 11, 12), media("1", like_count=7), media("2", like_count=9), media("4"), edge="top_media")
    board = leaderboard.standings(db, utc(2017, 4, 12))
    readings = store.read_readings(db, None, board.contest.freeze)
    entries = list(board.rows(show_all=True))
    assert {e.media_id for e in entries} == {"1", "2", "3", "4"}
    for entry in entries:
        reading = readings.get(entry.media_id)
        if entry.observed_at is None:
            expected = (None, None, False)
        elif reading is None or reading.read_at < entry.observed_at:
            expected = (entry.observed_at, None, False)
        else:
            expected = (reading.read_at, reading.source, reading.final_sweep)
        assert (entry.fresh.read_at, entry.fresh.source, entry.fresh.final_sweep) == expected, entry.media_id
        assert board.freshness[entry.media_id] is entry.fresh
    by_id = {e.media_id: e.fresh for e in entries}
    # read again after the freeze: the newest reading before it counts
    assert (by_id["1"].read_at, by_id["1"].source) == (utc(2017, 4, 6, 12), "top_media")
    assert (by_id["2"].read_at, by_id["2"].source) == (utc(2017, 4, 8, 12), "recent_media")


def test_the_standings_hold_the_freshness_of_the_entries_still_held_only(db):
    poll(db, utc(2017, 4, 3, 12), *[media(str(i), like_count=i) for i in range(1, 31)])
    board = leaderboard.standings(db, utc(2017, 4, 4))
    kept = [e for n, e in enumerate(board.rows()) if n < 5]
    assert {e.media_id for e in kept} <= set(board.freshness)
    assert len(board.freshness) == 5
