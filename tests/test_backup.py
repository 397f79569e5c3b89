"""derby backup: a consistent, checked copy of a database in use."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from derby import store
from derby.cli import cli
from derby.errors import StoreError

ROOT = Path(__file__).resolve().parents[1]
REPLAY_TOML = ROOT / "config" / "socialderby-replay.toml"


@pytest.fixture
def polled(tmp_path) -> Path:
    db = tmp_path / "d.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", str(db), "init", str(REPLAY_TOML)]).exit_code == 0
    assert runner.invoke(cli, ["--db", str(db), "poll"]).exit_code == 0
    return db


def test_backup_while_a_writer_holds_a_transaction_copies_what_was_committed(polled, tmp_path):
    media = sqlite3.connect(polled).execute("SELECT count(*) FROM media").fetchone()[0]
    writer = sqlite3.connect(polled, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the daemon in the middle of storing a page
    writer.execute("DELETE FROM sightings")
    try:
        result = CliRunner().invoke(cli, ["--db", str(polled), "backup", str(tmp_path / "copy.db")])
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"backed up {polled} to {tmp_path / 'copy.db'} (") and "integrity check ok" in result.output
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    assert copy.execute("SELECT count(*) FROM media").fetchone()[0] == media
    assert copy.execute("SELECT count(*) FROM sightings").fetchone()[0] > 0
    copy.close()
    restored = CliRunner().invoke(cli, ["--db", str(tmp_path / "copy.db"), "leaderboard", "--format", "json"])
    assert restored.exit_code == 0


def test_backup_refuses_to_overwrite_and_to_copy_onto_itself(polled, tmp_path):
    (tmp_path / "old.db").write_text("keep me")
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", str(polled), "backup", str(tmp_path / "old.db")])
    assert result.exit_code == 1 and "already exists; pass --force" in result.output
    assert (tmp_path / "old.db").read_text() == "keep me"
    assert runner.invoke(cli, ["--db", str(polled), "backup", "--force", str(tmp_path / "old.db")]).exit_code == 0
    itself = runner.invoke(cli, ["--db", str(polled), "backup", "--force", str(polled)])
    assert itself.exit_code == 1 and "is the database itself" in itself.output


def test_a_copy_that_fails_its_integrity_check_is_not_kept(polled, tmp_path):
    conn = sqlite3.connect(polled)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sightings_media'").fetchone()[0]
    conn.close()
    with open(polled, "r+b") as fh:  # break one index page: the tables still read, the index no longer matches
        fh.seek((root - 1) * page_size + 8)
        fh.write(b"\xff" * 200)
    with pytest.raises(StoreError, match="failed its integrity check"):
        store.backup(polled, tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists()
    assert [p.name for p in tmp_path.iterdir() if "copy" in p.name] == []
