"""Each caption version's hashtags and mentions, stored at ingest and by the upgrade
of an older database."""

from __future__ import annotations

import sqlite3

import sqlite_utils

import pytest

from derby import store
from derby.errors import StoreError
from derby.store import schema
from derby.text import caption_words
from helpers import contest, media, page, utc


def test_caption_words_are_whole_distinct_and_normalized():
    # a mention with or without its @ (the hashtag feed strips it): every whole word that is a username
    assert caption_words("Bravo #SocialDerby #snq17#socialderby @SNQ. moi@x.ca") == (" socialderby snq17 ",
                                                                                     " bravo snq ")
    assert caption_words("rien") == (" ", " rien ")
    assert caption_words("👍 !") == (" ", " ")
    assert caption_words(None) == (None, None)


def test_a_stored_caption_and_the_one_an_edit_replaced_keep_their_words(tmp_path):
    db = store.open_db(tmp_path / "d.db")
    store.save_contest(db, contest(), utc(2017, 3, 30))
    for hour, caption in ((1, "#snq17 @ana"), (2, None), (3, "#socialderby")):
        run = store.start_poll_run(db, "fixture", utc(2017, 4, 2, hour))
        store.save_page(db, run, "snq17", "recent_media", page(media("1", caption=caption)), utc(2017, 4, 2, hour))
    assert db.execute("SELECT caption_hashtags, caption_mentions FROM media").fetchall() == [(" socialderby ", " ")]
    assert db.execute("SELECT caption, caption_hashtags, caption_mentions FROM media_edits").fetchall() == [
        ("#snq17 @ana", " snq17 ", " ana ")]


def _old_database(path, captions):
    """A database as an older derby left it: every migration before the caption words."""
    old = sqlite3.connect(path)

    db = sqlite_utils.Database(old)
    schema.migrations.apply(db, stop_before="m006_caption_hashtags_mentions")
    db.execute("INSERT INTO poll_runs (id, started_at, feed) VALUES (1, '2017-04-02T00:00:00Z', 'fixture')")
    db.conn.executemany("INSERT INTO media (media_id, caption, first_seen_at, first_poll_run_id) VALUES (?, ?, ?, 1)",
                        [(str(i), c, "2017-04-02T00:00:00Z") for i, c in enumerate(captions)])
    db.execute("INSERT INTO media_edits (media_id, poll_run_id, changed_at, caption) "
               "VALUES ('0', 1, '2017-04-02T00:00:00Z', '#avant @bo')")
    db.conn.commit()
    old.close()


def test_the_upgrade_fills_stored_captions_and_reports_its_progress(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    _old_database(path, ["#SNQ17 bravo @Ana", None, "rien"] * 10)
    monkeypatch.setattr(schema, "CAPTION_BATCH", 7)
    monkeypatch.setattr(schema, "PROGRESS_FROM", 5)
    lines: list[str] = []
    db = store.open_db(path, progress=lines.append)
    rows = db.execute("SELECT caption, caption_hashtags, caption_mentions FROM media ORDER BY rowid").fetchall()
    assert rows[:3] == [("#SNQ17 bravo @Ana", " snq17 ", " bravo ana "), (None, None, None), ("rien", " ", " rien ")]
    assert all(r == rows[i % 3] for i, r in enumerate(rows))
    assert db.execute("SELECT caption_hashtags, caption_mentions FROM media_edits").fetchall() == [(" avant ", " bo ")]
    assert lines[0] == "upgrading the database: hashtags and mentions of 21 stored captions"
    assert "21 of 21 captions (100%" in lines[-2] and lines[-1].startswith("upgraded 21 captions in ")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):  # the history stays append-only
        db.execute("UPDATE media_edits SET caption = 'x'")


def test_a_small_upgrade_is_quiet(tmp_path):
    path = tmp_path / "old.db"
    _old_database(path, ["#snq17"])
    lines: list[str] = []
    store.open_db(path, progress=lines.append)
    assert lines == []


def test_an_old_database_on_read_only_storage_says_to_copy_it(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    _old_database(path, ["#snq17"])
    monkeypatch.setattr(schema.os, "access", lambda *_: False)
    with pytest.raises(StoreError, match="older derby.*read-only: copy it to writable storage"):
        store.open_db(path)
    reader = store.open_reader(path)  # a reader needs no upgrade of the file: it reads an upgraded copy in memory
    assert "was made by an older derby" in store.reading_notes(reader)[0]
