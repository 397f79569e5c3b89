"""Issue 7: the shapes that keep derby fast (query plans, bounded memory, the latest
snapshot table, the top-N leaderboard). Speed itself is measured by scripts/bench.py."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tracemalloc

import pytest
import sqlite_utils
from sqlite_utils.migrations import Migrations

from derby import leaderboard, store
from helpers import contest, media, page, utc

NOW = utc(2017, 4, 12)


@pytest.fixture
def db(tmp_path):
    database = store.open_db(tmp_path / "speed.db")
    store.save_contest(database, contest(), utc(2017, 3, 30))
    return database


def _poll(db, when, items):
    run = store.start_poll_run(db, "fixture", when)
    store.save_page(db, run, "socialderby", "recent_media", page(*items), when)
    store.finish_poll_run(db, run, when, status="ok", requests=1)
    return run


def _tables_read(db, action):
    """Run ``action()`` and return the tables SQLite was asked to read meanwhile."""
    tables: set[str] = set()

    def authorizer(code, arg1, arg2, dbname, source):
        if code == sqlite3.SQLITE_READ:
            tables.add(arg1)
        return sqlite3.SQLITE_OK

    db.conn.set_authorizer(authorizer)
    try:
        action()
    finally:
        db.conn.set_authorizer(None)
    return tables


def _plan(db, sql, params):
    return [row[3] for row in db.conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


def _brute_latest(db):
    return {r[0]: r[1:] for r in db.conn.execute(
        """SELECT media_id, id, observed_at, like_count, comments_count FROM snapshots s
           WHERE id = (SELECT id FROM snapshots WHERE media_id = s.media_id ORDER BY observed_at DESC, id DESC LIMIT 1)""")}


def _kept_latest(db):
    return {r[0]: r[1:] for r in db.conn.execute(
        "SELECT media_id, snapshot_id, observed_at, like_count, comments_count FROM latest_snapshots")}


# -- query plans ------------------------------------------------------------------------

def test_top_entries_query_plan_reads_one_row_per_media_and_no_snapshot():
    database = store.open_db(":memory:")
    params = {"start": "2017-04-01T04:00:00Z", "end": "2017-04-10T03:59:59Z", "like_points": 1.0,
              "comment_points": 3.0, "limit": 20}
    assert _plan(database, store.TOP_ENTRIES_SQL, params) == [
        "SCAN m", "SEARCH s USING PRIMARY KEY (media_id=?) LEFT-JOIN", "USE TEMP B-TREE FOR ORDER BY",
    ]


def test_live_leaderboard_never_reads_the_snapshots_table(db):
    _poll(db, utc(2017, 4, 3, 13), [media("1", like_count=5), media("2", like_count=9)])
    _poll(db, utc(2017, 4, 4, 1), [media("1", like_count=50), media("2", like_count=9)])
    boards = []
    tables = _tables_read(db, lambda: boards.append(leaderboard.standings(db, NOW, top=20)))
    assert "snapshots" not in tables
    assert {"media", "latest_snapshots"} <= tables
    assert [(e.media_id, e.like_count, e.rank) for e in boards[0].entries] == [("1", 50, 1), ("2", 9, 2)]
    # The full live ranking does not search snapshots either.
    assert "snapshots" not in _tables_read(db, lambda: store.read_entries(db))


def test_save_page_lookups_are_primary_key_searches(db):
    _poll(db, utc(2017, 4, 3, 13), [media("1")])
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        _poll(db, utc(2017, 4, 4, 1), [media("1", like_count=11), media("2")])
    finally:
        db.conn.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2
    plans = [_plan(db, sql, []) for sql in selects]
    assert plans == [["SEARCH media USING INDEX sqlite_autoindex_media_1 (media_id=?)"],
                     ["SEARCH latest_snapshots USING PRIMARY KEY (media_id=?)"]]


def test_as_of_searches_the_snapshot_index_per_media_instead_of_scanning(db):
    statements: list[str] = []
    _poll(db, utc(2017, 4, 3, 13), [media("1")])
    db.conn.set_trace_callback(statements.append)
    try:
        store.read_entries(db, utc(2017, 4, 5))
    finally:
        db.conn.set_trace_callback(None)
    plan = _plan(db, statements[-1], [])
    assert "SCAN snapshots" not in " ".join(plan)
    assert any(step.startswith("SEARCH snapshots USING COVERING INDEX snapshots_media_observed (media_id=? AND observed_at<?)")
               for step in plan)


# -- the latest snapshot table -------------------------------------------------------------

def test_latest_snapshots_follows_inserts_updates_and_deletes(db):
    _poll(db, utc(2017, 4, 3, 13), [media("1", like_count=1), media("2", like_count=None, comments_count=4)])
    _poll(db, utc(2017, 4, 4, 1), [media("1", like_count=2), media("3")])
    assert _kept_latest(db) == _brute_latest(db)
    assert _kept_latest(db)["1"][1:] == ("2017-04-04T01:00:00Z", 2, 2)
    # The same poll run reading again: the snapshot is updated in place.
    run = db.conn.execute("SELECT max(id) FROM poll_runs").fetchone()[0]
    store.save_page(db, run, "snq17", "top_media", page(media("1", like_count=7)), utc(2017, 4, 4, 1))
    assert _kept_latest(db)["1"][1:] == ("2017-04-04T01:00:00Z", 7, 2)
    # A snapshot written out of time order does not replace a newer one.
    late = store.start_poll_run(db, "fixture", utc(2017, 4, 4, 2))
    with db.atomic():
        db.execute("INSERT INTO snapshots (media_id, poll_run_id, observed_at, like_count, comments_count)"
                   " VALUES ('1', ?, '2017-04-03T20:00:00Z', 99, 0)", [late])
    assert _kept_latest(db)["1"][1:] == ("2017-04-04T01:00:00Z", 7, 2)
    with db.atomic():
        db.execute("DELETE FROM snapshots WHERE media_id = '1' AND observed_at = '2017-04-04T01:00:00Z'")
    assert _kept_latest(db)["1"][1:] == ("2017-04-03T20:00:00Z", 99, 0)
    assert _kept_latest(db) == _brute_latest(db)


def test_migration_fills_latest_snapshots_from_an_older_database(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(str(path))
    before_issue7 = Migrations("derby")  # the migrations of a database made before issue 7
    before_issue7()(store.m001_initial)
    before_issue7.apply(sqlite_utils.Database(conn))
    conn.execute("INSERT INTO poll_runs (id, started_at, feed) VALUES (1, '2017-04-03T13:00:00Z', 'f'), (2, '2017-04-04T01:00:00Z', 'f')")
    conn.execute("INSERT INTO media (media_id, first_seen_at) VALUES ('1', '2017-04-03T13:00:00Z'), ('2', '2017-04-03T13:00:00Z')")
    conn.executemany("INSERT INTO snapshots (id, media_id, poll_run_id, observed_at, like_count, comments_count)"
                     " VALUES (?, ?, ?, ?, ?, ?)", [(1, "1", 1, "2017-04-03T13:00:00Z", 3, 0),
                                                   (2, "1", 2, "2017-04-04T01:00:00Z", 8, 1),
                                                   (3, "2", 1, "2017-04-03T13:00:00Z", None, 5)])
    conn.commit()
    conn.close()
    db = store.open_db(path)
    assert [m.name for m in store.migrations.applied(db)][-1] == "m_i7_latest_snapshots"
    assert _kept_latest(db) == {"1": (2, "2017-04-04T01:00:00Z", 8, 1), "2": (3, "2017-04-03T13:00:00Z", None, 5)}


# -- the top-N leaderboard is the full leaderboard's head ----------------------------------

def test_top_standings_equal_the_head_of_the_full_ranking(db):
    items = []
    for i in range(400):
        caption = "Bravo #socialderby" if i % 5 == 0 else ("rien" if i % 5 == 1 else f"#SNQ17 n°{i}")
        if i < 150 and i % 3:
            caption = "sans mot-clic"          # most of the best scores are not eligible
        timestamp = utc(2017, 3, 30) if i % 17 == 0 else utc(2017, 4, 2, i % 24)
        items.append(media(f"{1000 + i}", caption=caption, timestamp=timestamp,
                           like_count=None if i % 11 == 0 else 1000 - (i // 4) * 4,
                           comments_count=i % 3))
    when = utc(2017, 4, 3, 13)
    run = store.start_poll_run(db, "fixture", when)
    for start in range(0, len(items), 50):
        store.save_page(db, run, "socialderby", "recent_media", page(*items[start:start + 50]), when)
    store.finish_poll_run(db, run, when, status="ok", requests=8)
    full = leaderboard.standings(db, NOW)
    assert full.complete and len(full.ranked) > 150
    for top in (1, 2, 3, 20, 27, 150, 1000):
        head = leaderboard.standings(db, NOW, top=top)
        assert head.complete is False and head.as_of == full.as_of
        assert head.entries == full.ranked[:top], top
    assert any("tied" in e.flags for e in full.ranked[:20])


# -- memory ------------------------------------------------------------------------------

def _ingest_peak(tmp_path, name, pages):
    """Peak Python memory (bytes) while storing ``pages`` pages of 50 new media each,
    made one at a time by a generator, over what was in use before."""
    database = store.open_db(tmp_path / name)
    store.save_contest(database, contest(), utc(2017, 3, 30))
    when = utc(2017, 4, 3, 13)
    run = store.start_poll_run(database, "fixture", when)

    def stream():
        for p in range(pages):
            yield page(*(media(f"{p:05d}{i:02d}", caption=f"#socialderby {p}-{i} " + "x" * 200) for i in range(50)))

    # warm up (statement cache, first allocations) before measuring
    store.save_page(database, run, "socialderby", "recent_media", page(media("warm")), when)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for item in stream():
            store.save_page(database, run, "socialderby", "recent_media", item, when)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert database.conn.execute("SELECT count(*) FROM media").fetchone()[0] == pages * 50 + 1
    database.close()
    return peak - before


def test_ingest_memory_does_not_grow_with_the_number_of_pages(tmp_path):
    small = _ingest_peak(tmp_path, "small.db", 10)
    large = _ingest_peak(tmp_path, "large.db", 200)
    # 20 times the pages: the peak is that of one page, give or take allocator noise.
    assert large < small * 1.5 + 64 * 1024, (small, large)


# -- startup -----------------------------------------------------------------------------

@pytest.mark.parametrize(("module", "absent"), [
    ("derby.cli", {"rich", "sqlite_utils", "requests", "apscheduler", "dotenv", "derby.store"}),
    ("derby.export", {"rich", "requests", "apscheduler"}),
])
def test_heavy_libraries_are_imported_only_when_used(module, absent):
    code = (f"import sys, {module}; absent = {sorted(absent)!r}; "
            "print(sorted(a for a in absent if a in sys.modules or any(m.startswith(a + '.') for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
