"""Reading commands on a read-only medium, an older schema, an empty or foreign file:
they read what is there and never change the file."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from derby import store
from derby.cli import cli

ROOT = Path(__file__).resolve().parents[1]
REPLAY_TOML = ROOT / "config" / "socialderby-replay.toml"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def polled(tmp_path) -> Path:
    db = tmp_path / "d.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", str(db), "init", str(REPLAY_TOML)]).exit_code == 0
    assert runner.invoke(cli, ["--db", str(db), "poll"]).exit_code == 0
    return db


def _read_only_mount_works(folder: Path) -> bool:
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount --bind {folder} {folder} && "
                            f"mount -o remount,bind,ro {folder} && ! touch {folder}/probe"],
                           capture_output=True, text=True)
    return probe.returncode == 0


def test_reading_commands_work_on_a_read_only_filesystem_without_wal_files(polled, tmp_path):
    archive = tmp_path / "usb"
    archive.mkdir()
    conn = sqlite3.connect(polled)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as when the daemon stopped
    conn.close()
    shutil.copy(polled, archive / "d.db")  # the WAL database alone: no -wal, no -shm
    assert not (archive / "d.db-shm").exists()
    if shutil.which("unshare") is None or not _read_only_mount_works(archive):
        pytest.skip("no unprivileged mount namespace here to make a read-only filesystem")
    before = digest(archive / "d.db")
    script = " && ".join([
        f"mount --bind {archive} {archive}", f"mount -o remount,bind,ro {archive}",
        f"{sys.executable} -m derby --db {archive / 'd.db'} leaderboard --format json > {tmp_path / 'board.json'}",
        f"{sys.executable} -m derby --db {archive / 'd.db'} rules > /dev/null",
        f"{sys.executable} -m derby --db {archive / 'd.db'} audit > /dev/null",
    ])
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "is on a read-only medium without its -shm file: read as a fixed copy" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(json.loads((tmp_path / "board.json").read_text())["entries"]) > 10
    assert digest(archive / "d.db") == before


def test_an_older_schema_is_read_without_migrating_the_file(tmp_path):
    db_path = tmp_path / "old.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", str(db_path), "init", str(REPLAY_TOML)]).exit_code == 0
    assert runner.invoke(cli, ["--db", str(db_path), "poll"]).exit_code == 0
    import gc

    gc.collect()  # the commands' own connections are closed now, not while the file's digest is compared
    # make it look like a database of an older derby: the latest_snapshots migration undone
    db = sqlite3.connect(db_path)
    db.executescript("DROP TRIGGER latest_snapshots_insert; DROP TRIGGER latest_snapshots_update; "
                     "DROP TRIGGER latest_snapshots_delete; DROP TABLE latest_snapshots; "
                     "DELETE FROM _sqlite_migrations WHERE name = 'm005_latest_snapshots';")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    before = digest(db_path)
    result = runner.invoke(cli, ["--db", str(db_path), "leaderboard", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert ("was made by an older derby (its schema lacks m005_latest_snapshots); read through an upgraded copy in "
            "memory, the file is unchanged") in result.output
    assert digest(db_path) == before
    assert "latest_snapshots" not in sqlite3.connect(db_path).execute(
        "SELECT group_concat(name) FROM sqlite_master").fetchone()[0]


@pytest.mark.parametrize("command", [["leaderboard"], ["leaderboard", "--format", "json"], ["rules"], ["status"],
                                     ["audit"], ["explain", "1"], ["export", "w.csv"], ["poll"]])
def test_an_empty_or_foreign_file_is_never_changed(tmp_path, command):
    runner = CliRunner()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    foreign = tmp_path / "photos.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE albums (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    for path, message in ((empty, "is an empty database, not a derby one; run: derby init"),
                          (foreign, "is not a derby database (it holds the tables albums); pass the contest's --db")):
        before = digest(path)
        result = runner.invoke(cli, ["--db", str(path), *command])
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
        assert digest(path) == before
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(path.name)) == [path.name]
