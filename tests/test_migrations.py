"""A database made by derby before its migrations were renamed still opens and upgrades.

``data/derby-before-migration-rename.db`` was made by the code of commit de97d8f (the
demo contest, its first four replayed polls and one disqualification), whose migrations
were named ``m001_initial``, ``m_i4_…``, ``m_i3_…``, ``m_i5_…`` and ``m_i7_…``.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

from derby import leaderboard, poller, store
from derby.demo.runner import demo_contest
from derby.feeds.fixture import FixtureFeed

FIXTURE = Path(__file__).parent / "data" / "derby-before-migration-rename.db"
NAMES = ["m001_contest_polls_media", "m002_rules_judging_audit", "m003_platform_limits", "m004_daemon_state",
         "m005_latest_snapshots", "m006_caption_hashtags_mentions", "m007_entry_scores", "m008_poll_run_progress",
         "m009_draws_and_certified_results", "m010_judge_flags", "m011_purges", "m012_contest_terms",
         "m013_team_contests", "m014_poll_clock", "m015_engagement_readings", "m016_refresh_state", "m017_bare_mentions",
         "m018_token_expiry", "m019_poll_ranks",
         "m020_entry_scores_by_status", "m021_token_expiry_source"]


def _copy(tmp_path) -> Path:
    path = tmp_path / "old.db"
    shutil.copy(FIXTURE, path)
    return path


def test_the_fixture_holds_the_old_names():
    conn = sqlite3.connect(f"{FIXTURE.resolve().as_uri()}?mode=ro", uri=True)
    names = {row[0] for row in conn.execute("SELECT name FROM _sqlite_migrations")}
    conn.close()
    assert names == set(store.RENAMED_MIGRATIONS)


def test_an_old_database_opens_with_its_records_renamed_and_nothing_run_again(tmp_path):
    path = _copy(tmp_path)
    before = sqlite3.connect(path)
    counts = {t: before.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("media", "snapshots", "poll_runs", "moderation", "rule_changes", "latest_snapshots")}
    applied_at = dict(before.execute("SELECT name, applied_at FROM _sqlite_migrations"))
    before.close()
    db = store.open_db(path)
    applied = [m.name for m in store.migrations.applied(db)]
    assert sorted(applied)[:len(NAMES)] == NAMES  # then the migrations that came after the rename, applied now
    assert store.migrations.pending(db) == []
    # Same rows: no migration ran again (m002 would have copied the rules into rule_changes twice).
    assert {t: db[t].count for t in counts} == counts
    renamed = {m.name: m.applied_at for m in store.migrations.applied(db) if m.name in NAMES[:5]}
    assert renamed == {store.RENAMED_MIGRATIONS[old]: at for old, at in applied_at.items()}
    db.close()
    store.open_db(path).close()  # and opens again


def test_an_old_database_keeps_its_standings_and_takes_new_polls(tmp_path):
    path = _copy(tmp_path)
    contest = demo_contest()
    db = store.open_db(path)
    assert store.load_contest(db).hashtags == contest.hashtags
    times = FixtureFeed(contest.feed.path).poll_times()
    now = times[3] + timedelta(hours=2)
    board = leaderboard.standings(db, now)
    assert len(board.entries) == 24 and board.ranked
    (media_id,) = [row["media_id"] for row in db.query("SELECT media_id FROM moderation")]
    assert [m["action"] for m in store.moderation_history(db, media_id)] == ["disqualify"]
    assert next(e for e in board.entries if e.media_id == media_id).status != "eligible"
    summary = poller.poll_once(db, contest, FixtureFeed(contest.feed.path, page_cap=contest.feed.page_cap),
                               times[4] + timedelta(seconds=60))
    assert summary.status == "ok" and summary.pages > 0
    assert db["poll_runs"].count == 5
