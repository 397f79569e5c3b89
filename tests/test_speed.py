"""Issue 7: the shapes that keep derby fast (query plans, bounded memory, the latest
snapshot table, the top-N leaderboard). Speed itself is measured by scripts/bench.py."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
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

def _read_entries_plan(db, as_of=None):
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        leaderboard.standings(db, NOW, as_of).entries
    finally:
        db.conn.set_trace_callback(None)
    (sql,) = [s for s in statements if "visible_runs" in s]
    return _plan(db, sql, [])


def _statements(db, action):
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        action()
    finally:
        db.conn.set_trace_callback(None)
    return statements


def _no_snapshot_scan(plan):
    # snapshots is aliased s: a full scan would show as "SCAN s"
    return not [step for step in plan if step in ("SCAN s", "SCAN snapshots")
                or step.startswith(("SCAN s ", "SCAN snapshots "))]


def test_a_stored_page_scores_its_media_from_the_latest_snapshot_table(db):
    _poll(db, utc(2017, 4, 3, 13), [media("1")])
    statements = _statements(db, lambda: _poll(db, utc(2017, 4, 4, 1), [media("1", like_count=11), media("2")]))
    (sql,) = [s for s in statements if s.lstrip().startswith("INSERT OR REPLACE INTO entry_scores")]
    plan = _plan(db, sql, [])
    assert _no_snapshot_scan(plan)
    assert "SEARCH l USING PRIMARY KEY (media_id=?)" in plan
    assert "SEARCH s USING INDEX snapshots_media_observed (media_id=? AND observed_at<?)" in plan
    assert "SEARCH m USING INDEX sqlite_autoindex_media_1 (media_id=?)" in plan  # only the page's media


def test_the_live_read_reads_the_kept_standings_not_the_snapshots(db):
    _poll(db, utc(2017, 4, 3, 13), [media("1"), media("2")])
    statements = _statements(db, lambda: leaderboard.standings(db, NOW).entries)
    (sql,) = [s for s in statements if "WITH" in s and "entry_scores" in s]
    assert "snapshots" not in sql and "visible_runs" not in sql


def test_the_board_counts_read_the_status_index_not_every_kept_row(db):
    from derby import scoring

    _poll(db, utc(2017, 4, 3, 13), [media("1"), media("2", like_count=None)])
    for policy in ("zero", "review", "comments_only"):
        store.set_rule(db, "hidden_likes", policy, utc(2017, 4, 3, 14), by="t")
        query = scoring.live_counts_query(store.rules_in_force(db))
        plan = _plan(db, query.sql, query.params)
        assert "SCAN entry_scores USING COVERING INDEX entry_scores_status" in plan
        assert not any("TEMP B-TREE" in step and "GROUP BY" in step for step in plan[:2])  # the groups come in order


def test_live_read_uses_the_latest_snapshot_only_up_to_the_freeze(db):
    freeze = store.load_contest(db).freeze
    early, before, after = freeze - timedelta(hours=20), freeze - timedelta(hours=1), freeze + timedelta(hours=1)
    _poll(db, early, [media("1", like_count=5), media("2", like_count=9)])
    _poll(db, before, [media("1", like_count=50), media("2", like_count=9)])
    _poll(db, after, [media("1", like_count=500), media("3", like_count=7)])
    rows = {e.media_id: (e.like_count, e.observed_at, "observed_late" in e.flags)
            for e in leaderboard.standings(db, NOW).entries}
    assert rows == {"1": (50, before, False), "2": (9, early, False), "3": (7, after, True)}
    # the latest snapshot table holds the newest reading, after the freeze
    assert _kept_latest(db)["1"][2] == 500
    board = leaderboard.standings(db, NOW)
    assert [(e.media_id, e.like_count) for e in board.ranked][:2] == [("1", 50), ("2", 9)]


def test_save_page_lookups_are_primary_key_searches(db):
    _poll(db, utc(2017, 4, 3, 13), [media("1")])
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        _poll(db, utc(2017, 4, 4, 1), [media("1", like_count=11), media("2")])
    finally:
        db.conn.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    plans = [_plan(db, sql, []) for sql in selects]
    assert plans[:2] == [["SEARCH media USING INDEX sqlite_autoindex_media_1 (media_id=?)"],
                         ["SEARCH latest_snapshots USING PRIMARY KEY (media_id=?)"]]
    # then the contest row with the newest rule change (the rules in force are decoded
    # once per rule change) and the kept standings' version, to score the page's
    # media: nothing that grows with the contest
    assert len(selects) == 4
    assert not [step for plan in plans[2:] for step in plan
                if step.startswith(("SCAN media", "SCAN snapshots", "SCAN entry_scores"))]


def test_as_of_searches_the_snapshot_index_per_media_instead_of_scanning(db):
    plan = _read_entries_plan(db, utc(2017, 4, 5))
    assert not [step for step in plan if step in ("SCAN s", "SCAN snapshots") or step.startswith(("SCAN s ", "SCAN snapshots "))]
    assert "SEARCH s USING INDEX snapshots_media_observed (media_id=? AND observed_at<?)" in plan


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
    before_issue7 = Migrations("derby")  # the migrations of a database made before latest_snapshots
    before_issue7()(store.m001_contest_polls_media)
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
    assert "m005_latest_snapshots" in [m.name for m in store.migrations.applied(db)]
    assert _kept_latest(db) == {"1": (2, "2017-04-04T01:00:00Z", 8, 1), "2": (3, "2017-04-03T13:00:00Z", None, 5)}


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


def test_streaming_the_standings_takes_no_more_memory_for_more_entries(db):
    import io

    from derby import export

    when = utc(2017, 4, 3, 13)
    run = store.start_poll_run(db, "fixture", when)
    for start in range(0, 2000, 50):
        store.save_page(db, run, "socialderby", "recent_media",
                        page(*[media(str(1000 + i), like_count=i % 97) for i in range(start, start + 50)]), when)
    board = leaderboard.standings(db, NOW)

    class Null(io.TextIOBase):
        def write(self, text):
            return len(text)

    def peak(top):
        records = (leaderboard.entry_record(e, board.contest) for e in board.rows(top))
        tracemalloc.start()
        try:
            export.write_json(Null(), leaderboard.contest_record(board), records)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, everything = peak(200), peak(None)
    assert everything < 2 * small, (small, everything)
