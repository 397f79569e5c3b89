"""derby --now / DERBY_NOW: a rehearsal clock, announced first on stderr, whose polls
never mix with real ones."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from derby import store
from derby.cli import cli
from derby.clock import ScaledClock

ROOT = Path(__file__).resolve().parents[1]
REPLAY_TOML = ROOT / "config" / "socialderby-replay.toml"


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "r.db"
    result = CliRunner().invoke(cli, ["--db", str(path), "--now", "2017-03-31T12:00", "init", str(REPLAY_TOML)])
    assert result.exit_code == 0, result.output
    return path


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def test_a_rehearsal_poll_records_times_on_the_rehearsal_clock(db):
    result = invoke("--db", str(db), "--now", "2017-04-03T12:00", "poll")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0].startswith("derby: REHEARSAL: the clock reads 2017-04-03T12:00 in the "
                                                    "contest's time zone")
    assert "REHEARSAL" not in result.stdout
    run = store.poll_run(store.open_db(db), 1)
    started = run["started_at"] if isinstance(run["started_at"], datetime) else datetime.fromisoformat(run["started_at"])
    # the contest's zone is UTC−4 then; the clock runs on at real speed from there
    assert timedelta(0) <= started - datetime(2017, 4, 3, 16, tzinfo=timezone.utc) < timedelta(seconds=30)
    observed = {r[0] for r in store.open_db(db).execute("SELECT observed_at FROM snapshots")}
    assert observed and all("2017-04-03T16:00" <= o < "2017-04-03T16:01" for o in observed)
    # the replay feed read the poll recorded just before then, not the last one
    posted = [r[0] for r in store.open_db(db).execute("SELECT timestamp FROM media")]
    assert max(posted) < "2017-04-03T16:00:00Z"


def test_json_stays_clean_and_rules_changes_carry_the_rehearsal_time(db):
    env = {"DERBY_NOW": "2017-04-05T12:00-04:00"}
    result = invoke("--db", str(db), "leaderboard", "--format", "json", env=env)
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)
    assert result.stderr.splitlines()[0] == ("derby: REHEARSAL: the clock reads 2017-04-05T12:00-04:00 (--now / "
                                             "DERBY_NOW) and runs on from there; these are not real times")
    result = invoke("--db", str(db), "rules", "set", "points_per_comment", "2", "--reason", "essai", env=env)
    assert result.exit_code == 0, result.output
    [change] = [c for c in store.rule_history(store.open_db(db)) if c["name"] == "points_per_comment"][-1:]
    assert timedelta(0) <= change["changed_at"] - datetime(2017, 4, 5, 16, tzinfo=timezone.utc) < timedelta(seconds=30)


def test_real_polls_refuse_a_rehearsal_database_and_the_reverse(db, tmp_path):
    assert invoke("--db", str(db), "--now", "2017-04-03T12:00", "poll").exit_code == 0
    real = invoke("--db", str(db), "poll")
    assert real.exit_code == 2
    assert real.stderr.strip().startswith("derby: this database holds the polls of a rehearsal")
    assert store.open_db(db)["poll_runs"].count == 1

    other = tmp_path / "real.db"
    assert invoke("--db", str(other), "init", str(REPLAY_TOML)).exit_code == 0
    assert invoke("--db", str(other), "poll").exit_code == 0
    rehearsal = invoke("--db", str(other), "--now", "2017-04-03T12:00", "poll")
    assert rehearsal.exit_code == 2
    assert "holds polls made on the real clock" in rehearsal.stderr
    assert invoke("--db", str(other), "--now", "2017-04-03T12:00", "run").exit_code == 2
    assert store.open_db(other)["poll_runs"].count == 1


def test_a_bad_rehearsal_time_is_refused(tmp_path):
    result = invoke("--db", str(tmp_path / "x.db"), "--now", "le 5 avril", "status")
    assert result.exit_code == 2
    assert "is not an ISO 8601 time" in result.output


def test_init_reads_a_time_without_offset_in_the_contest_files_zone(db):
    seeded = store.rule_history(store.open_db(db))[0]["changed_at"]
    assert timedelta(0) <= seeded - datetime(2017, 3, 31, 16, tzinfo=timezone.utc) < timedelta(seconds=30)


def test_without_now_there_is_no_rehearsal_line(db):
    result = invoke("--db", str(db), "leaderboard", "--format", "json")
    assert "REHEARSAL" not in result.stderr


def test_the_rehearsal_clock_runs_at_real_speed():
    ticks = iter([100.0, 100.0, 161.5])
    rehearsal = ScaledClock(datetime(2017, 4, 5, 16, tzinfo=timezone.utc), 1.0, monotonic=lambda: next(ticks))
    assert rehearsal() == datetime(2017, 4, 5, 16, tzinfo=timezone.utc)
    assert rehearsal() == datetime(2017, 4, 5, 16, 1, 1, tzinfo=timezone.utc)


def _polled_twice(db):
    for when in ("2017-04-03T12:00", "2017-04-08T12:00"):
        assert invoke("--db", str(db), "--now", when, "poll").exit_code == 0


def _entries(result) -> list:
    assert result.exit_code == 0, result.output
    return [(e["media_id"], e["score"]) for e in json.loads(result.stdout)["entries"]]


def test_now_before_later_polls_shows_what_was_known_then_as_as_of_does(db):
    _polled_twice(db)
    as_of = _entries(invoke("--db", str(db), "leaderboard", "--format", "json", "--as-of", "2017-04-04T12:00"))
    rehearsed = invoke("--db", str(db), "--now", "2017-04-04T12:00", "leaderboard", "--format", "json")
    assert _entries(rehearsed) == as_of != _entries(invoke("--db", str(db), "leaderboard", "--format", "json"))
    assert ("note: this database holds polls made after --now (the latest started 2017-04-08 12:00 (UTC−4)): "
            "showing what was known at --now, as --as-of would") in rehearsed.stderr
    media = as_of[0][0]
    explained = invoke("--db", str(db), "--now", "2017-04-04T12:00", "explain", media, "--lang", "en")
    assert explained.stdout == invoke("--db", str(db), "explain", media, "--lang", "en",
                                      "--as-of", "2017-04-04T12:00").stdout


def test_status_with_now_before_later_polls_says_it_reports_the_latest_polls(db):
    _polled_twice(db)
    result = invoke("--db", str(db), "--now", "2017-04-04T12:00", "status", "--lang", "en")
    assert ("note: this database holds polls made after --now (the latest started 2017-04-08 12:00 (UTC−4)): "
            "status reports the latest stored polls, not what was known at --now") in result.stderr
    later = invoke("--db", str(db), "--now", "2017-04-09T12:00", "status", "--lang", "en")
    assert "polls made after --now" not in later.stderr
