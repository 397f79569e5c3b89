"""Every command through click's CliRunner, on the bundled replay (no network)."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from derby import store
from derby.cli import cli

ROOT = Path(__file__).resolve().parents[1]
REPLAY_TOML = ROOT / "config" / "socialderby-replay.toml"


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def polled(runner, tmp_path):
    """A database initialised with the replay contest and polled once (latest poll)."""
    db = tmp_path / "d.db"
    assert runner.invoke(cli, ["--db", str(db), "init", str(REPLAY_TOML)]).exit_code == 0
    result = runner.invoke(cli, ["--db", str(db), "poll"])
    assert result.exit_code == 0, result.output
    return db


def test_init_reports_the_contest(runner, tmp_path):
    result = runner.invoke(cli, ["--db", str(tmp_path / "d.db"), "init", str(REPLAY_TOML)])
    assert result.exit_code == 0
    assert "#socialderby, #snq17" in result.output and "(UTC−4)" in result.output
    assert "Concours « " in result.output and " chargé dans " in result.output and " du 1 avril 2017, " in result.output
    english = runner.invoke(cli, ["--db", str(tmp_path / "d.db"), "init", str(REPLAY_TOML), "--lang", "en"])
    assert english.exit_code == 0 and "Contest “" in english.output and " loaded into " in english.output


def test_init_bad_file_is_one_line_exit_2(runner, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[contest]\ntitle = "x"\n')
    result = runner.invoke(cli, ["--db", str(tmp_path / "d.db"), "init", str(bad)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"derby: {bad}: missing contest.hashtags"]


def test_poll_without_init_says_what_to_do(runner, tmp_path):
    result = runner.invoke(cli, ["--db", str(tmp_path / "d.db"), "poll"])
    assert result.exit_code == 2
    assert "run: derby init" in result.output
    assert "Traceback" not in result.output


def test_poll_summary_line(runner, polled):
    result = CliRunner().invoke(cli, ["--db", str(polled), "poll", "--lang", "en"])
    assert result.exit_code == 0
    assert result.output.startswith("poll #2 ok: ")
    assert "0 new and 0 updated media, 0 snapshots" in result.output


def test_poll_summary_line_speaks_the_contests_french(runner, polled):
    result = CliRunner().invoke(cli, ["--db", str(polled), "poll"])
    assert result.exit_code == 0
    assert result.output.startswith("relève n° 2 réussie : ")
    assert "0 nouveau média et 0 mis à jour, 0 instantané" in result.output


def test_db_from_environment(runner, polled, monkeypatch):
    monkeypatch.setenv("DERBY_DB", str(polled))
    result = runner.invoke(cli, ["leaderboard", "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["contest"]["hashtags"] == ["socialderby", "snq17"]


def test_leaderboard_json(runner, polled):
    result = runner.invoke(cli, ["--db", str(polled), "leaderboard", "--format", "json", "--top", "3"])
    data = json.loads(result.output)
    assert [e["rank"] for e in data["entries"]] == [1, 2, 3]
    first = data["entries"][0]
    assert set(first) >= {"rank", "media_id", "permalink", "username", "score", "like_count", "comments_count",
                          "posted_at", "status"}
    assert first["posted_at"].endswith("-04:00") and first["status"] == "eligible"
    scores = [e["score"] for e in data["entries"]]
    assert scores == sorted(scores, reverse=True)


def test_leaderboard_all_lists_unranked_with_reasons(runner, polled):
    data = json.loads(runner.invoke(cli, ["--db", str(polled), "leaderboard", "--format", "json", "--all"]).output)
    unranked = [e for e in data["entries"] if e["rank"] is None]
    assert unranked and all(e["reason"] for e in unranked)
    assert {e["status"] for e in unranked} <= {"before_start", "after_end", "no_caption", "missing_hashtag", "no_timestamp"}


def test_hidden_likes_are_flagged_not_zero(runner, tmp_path):
    db = tmp_path / "demo.db"
    assert runner.invoke(cli, ["demo", "--db", str(db), "--interval", "0.3"]).exit_code == 0
    data = json.loads(runner.invoke(cli, ["--db", str(db), "leaderboard", "--format", "json", "--all"]).output)
    hidden = [e for e in data["entries"] if e["like_count"] is None]
    assert len(hidden) == 12
    assert all("hidden_likes" in e["flags"] for e in hidden)
    assert all(e["score"] == 3 * e["comments_count"] for e in hidden)


def test_leaderboard_table_and_csv(runner, polled):
    table = runner.invoke(cli, ["--db", str(polled), "leaderboard", "--top", "5"])
    assert table.exit_code == 0 and "Pointage" in table.output and "Classement au" in table.output
    english = runner.invoke(cli, ["--db", str(polled), "leaderboard", "--top", "5", "--lang", "en"])
    assert "Score" in english.output
    out = runner.invoke(cli, ["--db", str(polled), "leaderboard", "--format", "csv", "--top", "2"]).output
    rows = list(csv.DictReader(out.splitlines()))
    assert [r["rank"] for r in rows] == ["1", "2"]


def test_export_winners_csv(runner, polled, tmp_path):
    out = tmp_path / "winners.csv"
    result = runner.invoke(cli, ["--db", str(polled), "export", str(out), "--top", "3", "--alternates", "2"])
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert [(r["rank"], r["role"]) for r in rows] == [("1", "winner"), ("2", "winner"), ("3", "winner"),
                                                     ("4", "alternate"), ("5", "alternate")]
    board = json.loads(runner.invoke(cli, ["--db", str(polled), "leaderboard", "--format", "json", "--top", "5"]).output)
    assert [r["media_id"] for r in rows] == [e["media_id"] for e in board["entries"]]


def test_export_json_and_as_of(runner, polled, tmp_path):
    out = tmp_path / "w.json"
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    assert runner.invoke(cli, ["--db", str(polled), "export", str(out), "--as-of", now]).exit_code == 0
    assert [w["role"] for w in json.loads(out.read_text())["winners"]] == ["winner"] * 3 + ["alternate"] * 2
    bad = runner.invoke(cli, ["--db", str(polled), "export", str(out), "--as-of", "yesterday"])
    assert bad.exit_code == 2 and "ISO 8601" in bad.output


def test_graph_feed_without_token_is_a_config_error(runner, tmp_path):
    db = tmp_path / "d.db"
    runner.invoke(cli, ["--db", str(db), "init", str(ROOT / "config" / "socialderby.toml")])
    result = runner.invoke(cli, ["--db", str(db), "poll"])
    assert result.exit_code == 2
    assert "INSTAGRAM_ACCESS_TOKEN is not set" in result.output


def test_demo_runs_the_whole_job(runner, tmp_path):
    db = tmp_path / "demo.db"
    result = runner.invoke(cli, ["demo", "--db", str(db), "--interval", "0.3"])
    assert result.exit_code == 0, result.output
    assert "poll #1 ok" in result.output and "Pointage" in result.output
    # the replay's most-liked post is deleted mid-contest and a mention refresh reported it gone:
    # the winners' export says what is known, and leaves the decision to a judge
    said = " ".join(result.output.split())
    assert "warning: rank 1 (BSpF_AEkxu5) was reported gone by mentioned_media 2017-04-0" in said
    assert "it stays at its rank until a judge decides: derby disqualify" in said
    assert "rank 2 (" not in result.output
    rows = list(csv.DictReader((tmp_path / "winners.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert [r["role"] for r in rows] == ["winner"] * 3 + ["alternate"] * 2
    database = store.open_db(db)
    runs = list(database.query("SELECT status FROM poll_runs"))
    assert len(runs) >= 10 and {r["status"] for r in runs} == {"ok"}
    assert database["media"].count >= 150
    grown = next(database.query("SELECT max(n) AS n FROM (SELECT count(*) AS n FROM snapshots GROUP BY media_id)"))
    assert grown["n"] >= 3  # counts grew over several polls
    # it ends with a committed, verified draw (a made-up beacon value, said so) and certified results
    text = " ".join(result.output.split())
    assert "MADE-UP beacon value" in text and "derby draw verify" in text
    # its rank 1 is reported gone and it has no judge: it keeps the post on purpose, and says so
    assert "commits with --include-gone" in text and "A real draw is refused until a judge decides" in text
    (committed,) = store.audit_log(database, action="draw_commit")
    assert "kept in the pool though reported gone (--include-gone): rank 1 (" in committed["summary"]
    assert text.count(": match") == 2 and "Results certified into" in text
    folder = tmp_path / "derby-demo-results"
    cert = next(folder.glob("draw-certificate-*.json"))
    verified = runner.invoke(cli, ["draw", "verify", str(cert)])
    assert verified.exit_code == 0 and "match" in verified.output
    checked = runner.invoke(cli, ["--db", str(db), "results", "verify", "--lang", "en", str(folder / "results.json")])
    assert "ok   as certified" in checked.output


def test_python_dash_m_works(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "derby", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and "leaderboard" in result.stdout


def test_read_commands_never_create_a_database(runner, tmp_path):
    result = runner.invoke(cli, ["--db", str(tmp_path / "none.db"), "leaderboard"])
    assert result.exit_code == 2 and "no database at" in result.output
    assert not (tmp_path / "none.db").exists()
    missing_folder = runner.invoke(cli, ["--db", str(tmp_path / "nope" / "x.db"), "init", str(REPLAY_TOML)])
    assert missing_folder.exit_code == 1 and "does not exist" in missing_folder.output


def test_demo_refuses_a_database_holding_another_contest(runner, tmp_path):
    db = tmp_path / "real.db"
    assert runner.invoke(cli, ["--db", str(db), "init", str(ROOT / "config" / "socialderby.toml")]).exit_code == 0
    result = runner.invoke(cli, ["demo", "--db", str(db)])
    assert result.exit_code == 2 and "the demo needs an empty or demo database" in result.output
    assert not (tmp_path / "winners.csv").exists()


def test_demo_ignores_the_contest_database_setting(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("DERBY_DB", str(tmp_path / "real.db"))
    result = runner.invoke(cli, ["demo", "--interval", "0.3", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "real.db").exists()


def test_contest_file_with_a_bom_loads_and_latin1_is_refused(runner, tmp_path):
    text = REPLAY_TOML.read_text(encoding="utf-8").replace('path = "../derby/demo/replay"', f'path = "{ROOT / "derby/demo/replay"}"')
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert runner.invoke(cli, ["--db", str(tmp_path / "d.db"), "init", str(bom)]).exit_code == 0
    latin = tmp_path / "latin.toml"
    latin.write_bytes(text.encode("latin-1", errors="replace"))
    result = runner.invoke(cli, ["--db", str(tmp_path / "d.db"), "init", str(latin)])
    assert result.exit_code == 2 and "not UTF-8" in result.output


def test_a_dotenv_that_is_not_utf8_is_one_line(tmp_path):
    import subprocess
    import sys

    (tmp_path / ".env").write_bytes(b"\xff\xfeI\x00N\x00")
    result = subprocess.run([sys.executable, "-m", "derby", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"derby: {tmp_path / '.env'} is not UTF-8 text; save it as UTF-8 (derby init --example-env writes an example)"


def test_poll_prints_the_runs_warnings(runner, tmp_path):
    replay = tmp_path / "replay"
    (replay / "hashtags").mkdir(parents=True)
    (replay / "hashtags" / "socialderby.json").write_text('{"data": [{"id": "1"}]}')
    (replay / "hashtags" / "snq17.json").write_text('{"data": [{"id": "2"}]}')
    poll_dir = replay / "polls" / "20170402T120000Z" / "1"
    poll_dir.mkdir(parents=True)
    (poll_dir / "recent_media-1.json").write_text('{"data": [{"id": "9", "timestamp": "garbage"}, {"caption": "x"}]}')
    toml = tmp_path / "c.toml"
    toml.write_text(REPLAY_TOML.read_text(encoding="utf-8").replace('path = "../derby/demo/replay"', 'path = "replay"'),
                    encoding="utf-8")
    db = str(tmp_path / "d.db")
    runner.invoke(cli, ["--db", db, "init", str(toml)])
    result = runner.invoke(cli, ["--db", db, "poll"])
    assert result.exit_code == 0
    assert "warning: #socialderby recent_media: media 9: timestamp 'garbage' does not parse; ignored" in result.output
    assert "warning: #socialderby recent_media: item 1: no media id; skipped" in result.output


def test_init_refuses_to_mix_two_contests_in_one_database(runner, polled, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text(REPLAY_TOML.read_text(encoding="utf-8")
                     .replace("(replay)", "(autre)").replace('path = "../derby/demo/replay"', f'path = "{ROOT / "derby/demo/replay"}"'),
                     encoding="utf-8")
    result = runner.invoke(cli, ["--db", str(polled), "init", str(other)])
    assert result.exit_code == 2
    assert "posts of a contest with the title “Social Derby — Semaine numérique de Québec 2017 (replay)”" in result.output
    assert "Use another --db, or --force" in result.output
    fewer = tmp_path / "fewer.toml"
    fewer.write_text(REPLAY_TOML.read_text(encoding="utf-8").replace('["socialderby", "snq17"]', '["socialderby"]')
                     .replace('path = "../derby/demo/replay"', f'path = "{ROOT / "derby/demo/replay"}"'), encoding="utf-8")
    assert "with the hashtag #snq17" in runner.invoke(cli, ["--db", str(polled), "init", str(fewer)]).output
    assert runner.invoke(cli, ["--db", str(polled), "init", "--force", str(other)]).exit_code == 0
    assert runner.invoke(cli, ["--db", str(polled), "init", str(REPLAY_TOML)]).exit_code == 2  # now the title differs


def test_export_refuses_a_file_name_it_would_not_write(runner, polled, tmp_path):
    result = runner.invoke(cli, ["--db", str(polled), "export", str(tmp_path / "w.ods")])
    assert result.exit_code == 2 and "name the file .csv, .json, .ndjson or .xlsx" in result.output
    assert not (tmp_path / "w.ods").exists()


def test_a_read_only_database_is_read_and_a_write_says_so(runner, polled, monkeypatch):
    import sqlite3 as sqlite

    real_connect = sqlite.connect

    def read_only(path, *args, **kwargs):  # the file and its folder cannot be written (as on a read-only mount)
        return real_connect(f"file:{path}?mode=ro", *args, uri=True, **kwargs)

    assert runner.invoke(cli, ["--db", str(polled), "leaderboard", "--format", "json"]).exit_code == 0
    monkeypatch.setattr(sqlite, "connect", read_only)
    result = runner.invoke(cli, ["--db", str(polled), "rules", "set", "points_per_like", "2", "--reason", "x"])
    assert result.exit_code == 1
    assert result.output.startswith("derby: the database is read-only (attempt to write a readonly database)")
    assert "Traceback" not in result.output


def test_all_keeps_the_reason_column_at_80_columns(runner, polled):
    result = runner.invoke(cli, ["--db", str(polled), "leaderboard", "--all", "--lang", "en"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "after close" in result.output


def test_the_demo_contests_rules_hold_at_every_replayed_moment(tmp_path):
    import dataclasses

    from derby import clock, leaderboard
    from derby.demo.runner import demo_contest, run_demo
    from helpers import utc

    contest = demo_contest()
    contest = dataclasses.replace(contest, rules={**contest.rules, "points_per_like": 0.0})
    db_path = tmp_path / "demo.db"
    assert run_demo(db_path, interval=0.3, contest=contest) == "closed"
    midway = leaderboard.standings(store.open_db(db_path), clock.utcnow(), utc(2017, 4, 5, 12))
    assert midway.rules.points_per_like == 0.0
    assert all(e.score == 3 * (e.comments_count or 0) for e in midway.ranked)


def test_demo_quiet_prints_no_progress(runner, tmp_path):
    result = runner.invoke(cli, ["demo", "-q", "--db", str(tmp_path / "demo.db"), "--interval", "0.3", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert "poll #" not in result.output and "Replaying" not in result.output
    assert "Pointage" in result.output and "warning: rank 1" in result.output


def test_demo_again_on_its_kept_database_shows_the_results(runner, tmp_path):
    db = tmp_path / "demo.db"
    assert runner.invoke(cli, ["demo", "--db", str(db), "--interval", "0.3"]).exit_code == 0
    (tmp_path / "winners.csv").unlink()
    again = runner.invoke(cli, ["--db", str(db), "demo", "--interval", "0.3", "--top", "3"])
    assert again.exit_code == 0, again.output
    assert "already holds the finished replay" in again.output and "Pointage" in again.output
    rows = list(csv.DictReader((tmp_path / "winners.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert [r["role"] for r in rows] == ["winner"] * 3 + ["alternate"] * 2


@pytest.mark.parametrize("as_of, message", [
    ("9999-12-31T23:00", "derby: --as-of '9999-12-31T23:00' is out of range; give a time during the contest"),
    ("9999-12-31", "derby: --as-of '9999-12-31' is in the future (now is "),
    ("2099-01-01T00:00", "derby: --as-of '2099-01-01T00:00' is in the future (now is "),
])
def test_as_of_out_of_range_or_in_the_future_is_one_clear_line(runner, polled, as_of, message):
    for command in (["leaderboard", "--format", "json"], ["export", "w.csv"], ["rules"]):
        result = runner.invoke(cli, ["--db", str(polled), *command, "--as-of", as_of])
        assert result.exit_code == 2, result.output
        assert result.output.startswith(message) and result.output.count("\n") == 1


@pytest.mark.parametrize("as_of, message", [
    ("0001-01-01", "derby: --as-of '0001-01-01' is out of range: the contest starts 2017-04-01 00:00 (UTC−4); "
                   "give a time during the contest such as 2017-04-"),
    ("0001-01-01T00:00Z", "derby: --as-of '0001-01-01T00:00Z' is out of range: the contest starts "),
    ("2017-03-31T23:59", "derby: --as-of '2017-03-31T23:59' is out of range: the contest starts "),
    ("", "derby: --as-of is empty; give a time during the contest such as 2017-04-"),
    ("  ", "derby: --as-of is empty; "),
    ("yesterday", "derby: --as-of 'yesterday' is not an ISO 8601 time such as 2017-04-"),
    ("2017-11-05T01:30", "derby: --as-of '2017-11-05T01:30' happens twice in America/Toronto (clocks go back): "
                         "UTC−4 or UTC−5; add the offset, e.g. 2017-11-05T01:30-04:00 or 2017-11-05T01:30-05:00"),
    ("2017-03-12T02:30", "derby: --as-of '2017-03-12T02:30' does not exist in America/Toronto (clocks go forward)"),
])
def test_as_of_before_the_contest_blank_or_ambiguous_is_refused_in_one_line(runner, polled, as_of, message):
    media = sqlite3.connect(polled).execute("SELECT media_id FROM media LIMIT 1").fetchone()[0]
    for command in (["leaderboard", "--format", "json"], ["rules"], ["explain", media], ["export", "w.csv"]):
        result = runner.invoke(cli, ["--db", str(polled), *command, "--as-of", as_of])
        assert result.exit_code == 2, (command, result.output)
        assert result.output.startswith(message) and result.output.count("\n") == 1, (command, result.output)
        assert "2017-04-05T12:00" not in result.output or "such as 2017-04-05T12:00" in result.output


def test_as_of_with_an_offset_on_the_ambiguous_hour_is_taken(runner, polled):
    result = runner.invoke(cli, ["--db", str(polled), "leaderboard", "--format", "json", "--as-of", "2017-11-05T01:30-05:00"])
    assert result.exit_code == 0, result.output


def test_demo_teams_into_the_hashtag_demo_database_says_which_demo_it_holds(runner, tmp_path):
    db = tmp_path / "demo.db"
    assert runner.invoke(cli, ["--db", str(db), "init", str(ROOT / "derby" / "demo" / "contest.toml")]).exit_code == 0
    result = runner.invoke(cli, ["demo", "--teams", "--db", str(db)])
    assert result.exit_code == 2
    assert ("holds the hashtag demo; the team demo (--teams) needs its own database: pass another --db, "
            "or drop --teams to see the hashtag demo again") in result.stderr


def test_a_refused_init_into_a_new_database_leaves_no_file_behind(runner, tmp_path):
    example = tmp_path / "teams.toml"
    assert runner.invoke(cli, ["init", "--example", "teams", str(example)]).exit_code == 0
    result = runner.invoke(cli, ["--db", str(tmp_path / "new.db"), "init", str(example)])
    assert result.exit_code == 2 and "is not set" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["teams.toml"]


def test_a_refused_init_into_an_existing_database_keeps_it_whole(runner, polled, tmp_path):
    before = store.open_db(polled)["media"].count
    example = tmp_path / "teams.toml"
    assert runner.invoke(cli, ["init", "--example", "teams", str(example)]).exit_code == 0
    result = runner.invoke(cli, ["--db", str(polled), "init", str(example)])
    assert result.exit_code == 2
    assert polled.exists() and store.open_db(polled)["media"].count == before > 0


def test_init_force_that_changes_the_contest_s_terms_is_in_the_audit_log(runner, polled, tmp_path, monkeypatch):
    other = tmp_path / "other.toml"
    other.write_text(REPLAY_TOML.read_text(encoding="utf-8").replace('["socialderby", "snq17"]', '["autre"]')
                     .replace('start = "2017-04-01T00:00:00"', 'start = "2017-04-02T00:00:00"').replace('path = "../derby/demo/replay"', f'path = "{ROOT / "derby/demo/replay"}"'), encoding="utf-8")
    monkeypatch.setenv("DERBY_JUDGE", "Marie")
    assert runner.invoke(cli, ["--db", str(polled), "init", str(REPLAY_TOML)]).exit_code == 0  # unchanged: no entry
    assert store.audit_log(store.open_db(polled), action="contest_change") == []
    assert runner.invoke(cli, ["--db", str(polled), "init", "--force", "--by", "Luc", str(other)]).exit_code == 0
    (row,) = store.audit_log(store.open_db(polled), action="contest_change")
    assert row["actor"] == "Luc" and row["data"]["changes"] == [
        "hashtags: #socialderby, #snq17 → #autre", "start: 2017-04-01T00:00:00-04:00 → 2017-04-02T00:00:00-04:00"]
    out = runner.invoke(cli, ["--db", str(polled), "audit", "--action", "contest_change"]).output
    assert "hashtags: #socialderby, #snq17 → #autre" in out
