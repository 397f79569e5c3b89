"""Storage: schema, idempotent upserts, append-only snapshots, nothing lost."""

from __future__ import annotations

import sqlite3

import pytest

from derby import leaderboard, store
from derby.errors import StoreError
from helpers import contest, media, page, utc


@pytest.fixture
def db():
    database = store.open_db(":memory:")
    store.save_contest(database, contest(), utc(2017, 3, 30))
    return database


def _run(db, when):
    return store.start_poll_run(db, "fixture", when)


def test_open_is_idempotent_and_uses_wal(tmp_path):
    path = tmp_path / "d.db"
    store.open_db(path).close()
    db = store.open_db(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"media", "snapshots", "poll_runs", "hashtags", "rules", "sightings", "contest"} <= set(db.table_names())
    names = [m.name for m in store.migrations.applied(db)]
    assert names[:3] == ["m001_contest_polls_media", "m002_rules_judging_audit", "m003_platform_limits"] and "m004_daemon_state" in names
    assert len(names) == len(set(names))


def test_open_rejects_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("this is not sqlite" * 100)
    with pytest.raises(StoreError, match="is it a derby database"):
        store.open_db(path)


def test_contest_round_trip(db):
    loaded = store.load_contest(db)
    assert loaded.title == "Test Derby"
    assert loaded.hashtags == ("socialderby", "snq17")
    assert loaded.start == utc(2017, 4, 1, 4)
    assert loaded.rules["points_per_like"] == 1.0


def test_save_page_stores_media_and_first_snapshot(db):
    run = _run(db, utc(2017, 4, 3, 13))
    result = store.save_page(db, run, "socialderby", "recent_media", page(media("1"), media("2", like_count=None)),
                             utc(2017, 4, 3, 13))
    assert result.new == {"1", "2"} and result.updated == set() and result.snapshots == 2
    rows = list(db.query("SELECT media_id, like_count, comments_count, observed_at FROM snapshots ORDER BY media_id"))
    assert rows == [
        {"media_id": "1", "like_count": 10, "comments_count": 2, "observed_at": "2017-04-03T13:00:00Z"},
        {"media_id": "2", "like_count": None, "comments_count": 2, "observed_at": "2017-04-03T13:00:00Z"},
    ]
    assert db["media"].get("1")["timestamp"] == "2017-04-03T12:00:00Z"


def test_repolling_the_same_data_changes_only_the_poll_log(db):
    first = _run(db, utc(2017, 4, 3, 13))
    store.save_page(db, first, "socialderby", "recent_media", page(media("1")), utc(2017, 4, 3, 13))
    before = {t: list(db[t].rows) for t in ("media", "snapshots")}
    second = _run(db, utc(2017, 4, 3, 14))
    result = store.save_page(db, second, "socialderby", "recent_media", page(media("1")), utc(2017, 4, 3, 14))
    assert result.new == set() and result.updated == set() and result.snapshots == 0
    assert {t: list(db[t].rows) for t in ("media", "snapshots")} == before
    assert db["poll_runs"].count == 2
    assert db["sightings"].count == 2


def test_a_missing_field_never_erases_a_stored_value(db):
    run = _run(db, utc(2017, 4, 3, 13))
    store.save_page(db, run, "socialderby", "recent_media", page(media("1")), utc(2017, 4, 3, 13))
    later = _run(db, utc(2017, 4, 3, 14))
    bare = media("1", caption=None, permalink=None, timestamp=None, media_type=None, like_count=None, comments_count=5)
    store.save_page(db, later, "socialderby", "top_media", page(bare), utc(2017, 4, 3, 14))
    row = db["media"].get("1")
    assert row["caption"] == "Bravo #socialderby"
    assert row["permalink"] == "https://www.instagram.com/p/C1/"
    assert row["timestamp"] == "2017-04-03T12:00:00Z"
    snaps = list(db.query("SELECT like_count, comments_count FROM snapshots ORDER BY id"))
    assert snaps == [{"like_count": 10, "comments_count": 2}, {"like_count": None, "comments_count": 5}]


def test_a_reading_without_comments_count_keeps_the_last_known_one(db):
    run = _run(db, utc(2017, 4, 3, 13))
    store.save_page(db, run, "socialderby", "recent_media", page(media("1", like_count=5, comments_count=5)),
                    utc(2017, 4, 3, 13))
    later = _run(db, utc(2017, 4, 3, 14))
    store.save_page(db, later, "socialderby", "recent_media", page(media("1", like_count=6, comments_count=None)),
                    utc(2017, 4, 3, 14))
    hidden = _run(db, utc(2017, 4, 3, 15))
    store.save_page(db, hidden, "socialderby", "recent_media", page(media("1", like_count=None, comments_count=None)),
                    utc(2017, 4, 3, 15))
    snaps = list(db.query("SELECT like_count, comments_count FROM snapshots ORDER BY id"))
    # the comments are kept; a missing like_count still means hidden likes (no reading at all writes nothing)
    assert snaps == [{"like_count": 5, "comments_count": 5}, {"like_count": 6, "comments_count": 5}]
    from derby import leaderboard

    entry = leaderboard.standings(db, utc(2017, 4, 4)).entry("1")
    assert (entry.like_count, entry.comments_count, entry.score) == (6, 5, 6 * 1 + 5 * 3)


def test_growth_appends_a_snapshot_and_counts_as_updated(db):
    run = _run(db, utc(2017, 4, 3, 13))
    store.save_page(db, run, "socialderby", "recent_media", page(media("1")), utc(2017, 4, 3, 13))
    later = _run(db, utc(2017, 4, 3, 14))
    result = store.save_page(db, later, "socialderby", "recent_media", page(media("1", like_count=11)), utc(2017, 4, 3, 14))
    assert result.updated == {"1"} and result.snapshots == 1
    assert db["snapshots"].count == 2


def test_one_snapshot_per_media_per_poll_run(db):
    run = _run(db, utc(2017, 4, 3, 13))
    store.save_page(db, run, "socialderby", "recent_media", page(media("1")), utc(2017, 4, 3, 13))
    store.save_page(db, run, "socialderby", "top_media", page(media("1", like_count=12)), utc(2017, 4, 3, 13))
    assert list(db.query("SELECT like_count FROM snapshots")) == [{"like_count": 12}]


def test_duplicates_within_a_page_collapse(db):
    run = _run(db, utc(2017, 4, 3, 13))
    result = store.save_page(db, run, "snq17", "recent_media", page(media("1"), media("1")), utc(2017, 4, 3, 13))
    assert result.new == {"1"}
    assert db["media"].count == 1


def test_page_warnings_are_recorded(db):
    run = _run(db, utc(2017, 4, 3, 13))
    store.save_page(db, run, "snq17", "recent_media", page(media("1"), warnings=["item 3: no media id; skipped"]),
                    utc(2017, 4, 3, 13))
    assert [r["message"] for r in db["poll_warnings"].rows] == ["#snq17 recent_media: item 3: no media id; skipped"]


def test_standings_as_of_use_only_what_existed(db):
    run = _run(db, utc(2017, 4, 3, 13))
    store.save_page(db, run, "socialderby", "recent_media", page(media("1")), utc(2017, 4, 3, 13))
    store.finish_poll_run(db, run, utc(2017, 4, 3, 13, 1), status="ok", requests=1)
    later = _run(db, utc(2017, 4, 4, 13))
    store.save_page(db, later, "socialderby", "recent_media", page(media("1", like_count=50), media("2")),
                    utc(2017, 4, 4, 13))
    store.finish_poll_run(db, later, utc(2017, 4, 4, 13, 1), status="ok", requests=1)
    earlier = leaderboard.standings(db, utc(2017, 4, 5), utc(2017, 4, 3, 20)).entries
    assert [(e.media_id, e.like_count) for e in earlier] == [("1", 10)]
    now = sorted((e.media_id, e.like_count) for e in leaderboard.standings(db, utc(2017, 4, 5)).entries)
    assert now == [("1", 50), ("2", 10)]


def test_a_failed_page_rolls_back_alone(db, monkeypatch):
    run = _run(db, utc(2017, 4, 3, 13))
    store.save_page(db, run, "socialderby", "recent_media", page(media("1")), utc(2017, 4, 3, 13))
    bad = page(media("2"), media("3", like_count=10**30))  # too big for SQLite: the page fails
    with pytest.raises(OverflowError):
        store.save_page(db, run, "socialderby", "recent_media", bad, utc(2017, 4, 3, 13))
    assert [r["media_id"] for r in db["media"].rows] == ["1"]
    assert db["poll_runs"].get(run)["pages"] == 1


def test_set_rule_validates(db):
    with pytest.raises(ValueError, match="points_per_like"):
        store.set_rule(db, "points_per_like", -1, utc(2017, 4, 1))
    store.set_rule(db, "points_per_comment", 5, utc(2017, 4, 1))
    assert store.read_rules(db)["points_per_comment"] == 5.0


def test_the_database_survives_a_second_connection_writing(tmp_path):
    path = tmp_path / "d.db"
    first = store.open_db(path)
    store.save_contest(first, contest(), utc(2017, 3, 30))
    second = store.open_db(path)
    run = store.start_poll_run(second, "fixture", utc(2017, 4, 3))
    store.save_page(second, run, "snq17", "recent_media", page(media("9")), utc(2017, 4, 3))
    assert [r["media_id"] for r in first["media"].rows] == ["9"]
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_second_writer_waits_for_the_lock_instead_of_failing(tmp_path):
    import threading

    path = tmp_path / "d.db"
    first = store.open_db(path)
    store.save_contest(first, contest(), utc(2017, 3, 30))
    first.conn.execute("BEGIN IMMEDIATE")
    first.conn.execute("INSERT INTO poll_warnings (at, message) VALUES ('2017-04-03T00:00:00Z', 'held')")
    errors = []

    def write_page():
        try:
            second = store.open_db(path)
            run = store.start_poll_run(second, "fixture", utc(2017, 4, 3))
            list(second.query("SELECT * FROM media"))  # a read before the write: the case that failed at once
            store.save_page(second, run, "snq17", "recent_media", page(media("9")), utc(2017, 4, 3))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    writer = threading.Thread(target=write_page)
    writer.start()
    writer.join(0.3)  # it is waiting on the lock, not failing
    assert writer.is_alive() and errors == []
    first.conn.execute("COMMIT")
    writer.join(10)
    assert errors == [] and [r["media_id"] for r in first["media"].rows] == ["9"]
