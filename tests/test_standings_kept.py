"""The live standings kept current in ``entry_scores`` by every event that changes
them, equal to a ranking from the stored media; the ``standings`` view."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from derby import leaderboard, scoring, store
from derby.store import schema
from helpers import contest, media, page, utc

NOW = utc(2017, 4, 12)


def _poll(db, when, *items):
    run = store.start_poll_run(db, "fixture", when)
    store.save_page(db, run, "socialderby", "recent_media", page(*items), when)
    store.finish_poll_run(db, run, when + timedelta(minutes=1), status="ok", requests=1)


def _from_media(db):
    """The live ranking computed from the stored media, ignoring the kept columns."""
    found = store.load_contest(db)
    rules, terms = store.rules_in_force(db), leaderboard.contest_terms(found)
    query = scoring.ranking_query(rules, terms, as_of=None)
    return [(r["media_id"], r["rank"], r["status"], r["score"], r["flags_text"], r["tie_break"])
            for r in store.query_rows(db, query.sql, query.params)]


def _kept(db):
    found = store.load_contest(db)
    rules, terms = store.rules_in_force(db), leaderboard.contest_terms(found)
    assert store.entry_scores_current(db, rules, terms)
    query = scoring.live_ranking_query(rules, count_likes=store.live_likes_counted(db, rules))
    return [(r["media_id"], r["rank"], r["status"], r["score"], r["flags_text"], r["tie_break"])
            for r in store.query_rows(db, query.sql, query.params)]


def _counts(db, kept: bool):
    """``{status: (entries, hidden)}`` from the kept columns' counts query, or counted
    from the ranking of the stored media."""
    found = store.load_contest(db)
    rules, terms = store.rules_in_force(db), leaderboard.contest_terms(found)
    if kept:
        query = scoring.live_counts_query(rules)
        return {status: (n, hidden or 0) for status, n, hidden in store.query_rows(db, query.sql, query.params)}
    query = scoring.ranking_query(rules, terms, as_of=None)
    counted: dict[str, tuple[int, int]] = {}
    for r in store.query_rows(db, query.sql, query.params):
        n, hidden = counted.get(r["status"], (0, 0))
        counted[r["status"]] = (n + 1, hidden + (r["hidden"] or 0))
    return counted


@pytest.fixture
def db(tmp_path):
    database = store.open_db(tmp_path / "kept.db")
    store.save_contest(database, contest(), utc(2017, 3, 30))
    return database


def test_every_event_keeps_the_stored_standings_equal_to_a_fresh_ranking(db):
    when = utc(2017, 4, 3, 12)
    events = [
        lambda: _poll(db, when, media("1", like_count=5), media("2", like_count=50), media("3", like_count=None)),
        lambda: store.set_rule(db, "points_per_comment", 10, when, by="t"),
        lambda: store.set_rule(db, "hidden_likes", "comments_only", when, by="t"),   # likes stop counting
        lambda: store.moderate(db, "3", "disqualify", "stolen", "Marie", when),       # ... and count again
        lambda: store.import_entrants(db, [{"line": 2, "username": "ana", "shortcode": "C1"},
                                           {"line": 3, "username": "ana", "shortcode": "C2"}], when, by="t"),
        lambda: store.set_rule(db, "max_entries_per_entrant", 1, when, by="t"),
        lambda: _poll(db, when + timedelta(hours=1), media("1", like_count=500, caption="plus de mot-clic")),
        lambda: store.save_contest(db, contest(hashtags=("socialderby", "snq17", "plus")), when),
        lambda: store.moderate(db, "3", "reinstate", "ok", "Marie", when),
        lambda: _poll(db, utc(2017, 4, 11), media("1", like_count=900), media("4")),  # after the freeze
        lambda: store.set_rule(db, "max_entries_per_entrant", None, when, by="t"),
        lambda: _poll(db, when + timedelta(hours=2), media("5", like_count=None), media("6", like_count=None)),
        lambda: store.set_rule(db, "hidden_likes", "review", when, by="t"),           # hidden ones wait ...
        lambda: store.moderate(db, "5", "disqualify", "no", "Marie", when),
        lambda: store.moderate(db, "5", "reinstate", "yes after all", "Marie", when),  # ... unless reinstated
    ]
    seen = set()
    for event in events:
        event()
        kept = _kept(db)
        assert kept == _from_media(db)
        assert _counts(db, kept=True) == _counts(db, kept=False)
        seen.add(tuple(kept))
    assert len(seen) >= 7  # the events did change the standings


def test_a_reader_ranks_from_the_media_when_the_kept_columns_are_stale(db, tmp_path):
    _poll(db, utc(2017, 4, 3, 12), media("1", like_count=5), media("2", like_count=50))
    db.execute("UPDATE entry_scores_state SET version = 'another derby'")
    db.conn.commit()
    reader = store.open_reader(tmp_path / "kept.db")
    board = leaderboard.standings(reader, NOW)
    assert [(e.media_id, e.rank) for e in board.ranked] == [("2", 1), ("1", 2)]
    # the next writer rebuilds them
    _poll(db, utc(2017, 4, 3, 13), media("3"))
    assert _kept(db) == _from_media(db)


def test_an_upgraded_database_gets_its_kept_standings(tmp_path):
    path = tmp_path / "old.db"
    db = store.open_db(path)
    store.save_contest(db, contest(), utc(2017, 3, 30))
    _poll(db, utc(2017, 4, 3, 12), media("1", like_count=5), media("2", like_count=50))
    db.execute("DROP VIEW standings")
    db.execute("DROP TABLE entry_scores")
    db.execute("DROP TABLE entry_scores_state")
    db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm007_entry_scores'")
    db.conn.commit()
    db.close()
    again = store.open_db(path)
    assert _kept(again) == _from_media(again)


def test_the_standings_view_reads_as_the_live_board(db, tmp_path):
    _poll(db, utc(2017, 4, 3, 12), media("1", like_count=5, comments_count=0), media("2", like_count=50),
          media("3", like_count=5, comments_count=0, caption="rien"), media("4", like_count=None))
    store.set_rule(db, "media_type_bonus", {"IMAGE": 2}, utc(2017, 4, 3, 13), by="t")
    conn = sqlite3.connect(f"file:{tmp_path / 'kept.db'}?mode=ro", uri=True)   # as the sqlite3 shell opens it
    rows = conn.execute("SELECT rank, media_id, score, status, points_per_like, points_per_comment, "
                        "media_type_bonus, flags FROM standings").fetchall()
    assert rows == [(1, "2", 58.0, "eligible", 50.0, 6.0, 2.0, ""), (2, "4", 8.0, "eligible", 0.0, 6.0, 2.0, "hidden_likes"),
                    (3, "1", 7.0, "eligible", 5.0, 0.0, 2.0, ""), (None, "3", 7.0, "missing_hashtag", 5.0, 0.0, 2.0, "")]
    # a rule read from the rules table: held for review
    store.set_rule(db, "hidden_likes", "review", utc(2017, 4, 3, 14), by="t")
    assert ("4", "review") in conn.execute("SELECT media_id, status FROM standings").fetchall()
    assert [r[0] for r in conn.execute("SELECT media_id FROM standings WHERE rank IS NOT NULL")] == ["2", "1"]


def test_the_kept_columns_match_the_table_the_migration_made():
    source = open(schema.__file__, encoding="utf-8").read()
    block = source[source.index("CREATE TABLE entry_scores ("):source.index(") WITHOUT ROWID", source.index(
        "CREATE TABLE entry_scores ("))]
    columns = [c.split()[0] for c in block.split("(", 1)[1].replace("\n", " ").split(",") if c.strip()]
    assert columns == list(scoring.STORED_COLUMNS)


def test_the_events_are_listed_in_the_architecture_notes():
    from pathlib import Path

    notes = (Path(__file__).parent.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for event in ("page stored", "rule change", "moderation", "entrant import", "freeze", "hidden-likes"):
        assert event in notes and any(event in key for key in store.STANDINGS_EVENTS)
