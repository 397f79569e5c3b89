"""derby purge: personal data replaced by pseudonyms after the retention period, in the
append-only tables too, through the one audited path the triggers allow."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from derby import clock, store
from derby.cli import cli
from helpers import utc

DEMO = Path(__file__).resolve().parents[1] / "derby" / "demo" / "contest.toml"


@pytest.fixture
def contest_db(tmp_path, monkeypatch):
    now = [utc(2017, 4, 11, 12)]
    monkeypatch.setattr(clock, "utcnow", lambda: now[0])
    db = tmp_path / "d.db"

    def run(*args, ok=True):
        result = CliRunner().invoke(cli, ["--db", str(db), *args])
        if ok:
            assert result.exit_code == 0, (result.output, result.stderr)
        return result

    run("init", str(DEMO))
    now[0] = utc(2017, 4, 11, 12, 5)
    run("poll")
    board = json.loads(run("leaderboard", "--format", "json").output)["entries"]
    csv = tmp_path / "inscriptions.csv"
    csv.write_text("username,permalink,display_name\n"
                   f"marie.q,{board[0]['permalink']},Marie Quintal\n"
                   f"jean_t,{board[1]['permalink']},Jean Tremblay\n"
                   f"jean_t,https://www.instagram.com/p/NOPE/,Jean Tremblay\n", encoding="utf-8")
    now[0] = utc(2017, 4, 11, 13)
    assert run("entrants", "import", str(csv), "--by", "Marie", ok=False).exit_code == 1  # the NOPE row is refused
    now[0] = utc(2017, 4, 11, 14)
    run("disqualify", board[1]["media_id"], "--reason", "compte de @jean_t acheté", "--by", "Marie")
    database = store.open_db(db)
    database.execute("INSERT INTO judge_flags (media_id, kind, detected_at, detail) VALUES (?, 'ratio', ?, 'x')",
                     [board[0]["media_id"], "2017-04-11T12:05:00Z"])
    database.conn.commit()
    store.flags.decide(database, 1, "clear", "vérifié avec @marie.q", "Marie", utc(2017, 4, 11, 15))
    run.db, run.now, run.board = db, now, board
    return run


def _all_text(db_path: Path) -> str:
    conn = sqlite3.connect(db_path)
    chunks = []
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        for row in conn.execute(f"SELECT * FROM [{table}]"):
            chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks)


def test_purge_before_the_retention_period_is_refused_and_recorded(contest_db):
    contest_db.now[0] = utc(2017, 5, 1, 12)
    result = contest_db("purge", ok=False)
    assert result.exit_code == 2 and "retention period ends" in result.stderr
    assert "marie.q" in _all_text(contest_db.db)
    assert store.audit_log(store.open_db(contest_db.db), action="purge_refused")


def test_purge_replaces_personal_data_everywhere_and_keeps_the_standings(contest_db):
    before = json.loads(contest_db("leaderboard", "--format", "json", "--all").output)["entries"]
    contest_db.now[0] = utc(2017, 7, 10, 12)
    out = contest_db("purge", "--by", "Marie").output
    assert "2 entrants pseudonymised" in out
    text = _all_text(contest_db.db)
    for personal in ("marie.q", "jean_t", "Marie Quintal", "Jean Tremblay", "inscriptions.csv"):
        assert personal not in text, personal
    after = json.loads(contest_db("leaderboard", "--format", "json", "--all").output)["entries"]
    assert [(e["media_id"], e["rank"], e["score"], e["status"]) for e in after] == \
        [(e["media_id"], e["rank"], e["score"], e["status"]) for e in before]
    names = {e["username"] for e in after if e["username"]}
    assert len(names) == 2 and all(n.startswith("participant-") for n in names)
    (row,) = store.audit_log(store.open_db(contest_db.db), action="purge")
    assert row["data"]["entrants"] == 2


def test_outside_a_purge_the_history_stays_append_only(contest_db):
    contest_db.now[0] = utc(2017, 7, 10, 12)
    contest_db("purge")
    db = store.open_db(contest_db.db)
    for sql in ("UPDATE entrant_links SET username = 'x'", "UPDATE audit_log SET summary = 'x'",
                "UPDATE moderation SET reason = 'x'", "DELETE FROM entrant_links",
                "UPDATE flag_decisions SET note = 'x'", "UPDATE entrant_imports SET by = 'x'",
                "UPDATE purges SET by = 'x'", "DELETE FROM purges"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(sql)


def test_a_contest_without_retention_cannot_be_purged(tmp_path, monkeypatch):
    toml = tmp_path / "c.toml"
    toml.write_text(DEMO.read_text(encoding="utf-8").replace("retention_days = 90\n", "")
                    .replace('path = "replay"', f'path = "{DEMO.parent / "replay"}"'), encoding="utf-8")
    db = tmp_path / "d.db"
    assert CliRunner().invoke(cli, ["--db", str(db), "init", str(toml)]).exit_code == 0
    result = CliRunner().invoke(cli, ["--db", str(db), "purge"])
    assert result.exit_code == 2 and "retention_days" in result.stderr


def test_a_second_purge_finds_nothing_left(contest_db):
    contest_db.now[0] = utc(2017, 7, 10, 12)
    contest_db("purge")
    contest_db.now[0] = utc(2017, 7, 11, 12)
    assert "0 entrants pseudonymised, 0 rows rewritten" in contest_db("purge").output
