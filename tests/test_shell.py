"""Shell habits: results on stdout and messages on stderr, -v/-q everywhere, `-` for
stdout, atomic writes, one format vocabulary, one duration syntax, no hard wrap in a
pipe, env vars in --help, completion, --version, and `derby --db FILE demo`."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from derby import __version__, files
from derby.cli import cli

ROOT = Path(__file__).resolve().parents[1]
REPLAY_TOML = ROOT / "config" / "socialderby-replay.toml"


@pytest.fixture
def polled(tmp_path):
    db = tmp_path / "d.db"
    assert CliRunner().invoke(cli, ["--db", str(db), "init", str(REPLAY_TOML)]).exit_code == 0
    assert CliRunner().invoke(cli, ["--db", str(db), "poll"]).exit_code == 0
    return db


def derby(db, *args, env=None):
    return CliRunner().invoke(cli, ["--db", str(db), *args], env=env)


def _commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_every_command_takes_verbose_and_quiet():
    names = {opt for p in cli.params for opt in p.opts}
    assert {"-v", "--verbose", "-q", "--quiet"} <= names
    for path, command in _commands(cli):
        opts = {opt for p in command.params for opt in p.opts}
        assert {"-v", "--verbose", "-q", "--quiet"} <= opts, path


def test_export_to_stdout_keeps_the_messages_on_stderr(polled, tmp_path):
    result = derby(polled, "export", "-")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout_bytes.decode("utf-8-sig"))))
    assert len(rows) == 5 and rows[0]["role"] == "winner"
    assert result.stderr.startswith("wrote 5 rows (3 winners, 2 alternates) to stdout")
    assert not (tmp_path / "-").exists()
    quiet = derby(polled, "export", "-", "-q")
    assert quiet.stdout_bytes == result.stdout_bytes and "wrote" not in quiet.stderr
    assert "wrote" not in derby(polled, "-q", "export", str(tmp_path / "w.csv")).stderr


def test_ndjson_everywhere_and_text_still_means_table(polled):
    board = derby(polled, "leaderboard", "--format", "ndjson", "--top", "3")
    lines = board.stdout.splitlines()
    assert len(lines) == 3 and [json.loads(line)["rank"] for line in lines] == [1, 2, 3]
    exported = derby(polled, "export", "-", "--all", "--format", "ndjson")
    entries = json.loads(derby(polled, "leaderboard", "--all", "--format", "json").stdout)["entries"]
    assert [json.loads(line)["media_id"] for line in exported.stdout.splitlines()] == [e["media_id"] for e in entries]
    rules = [json.loads(line) for line in derby(polled, "rules", "--format", "ndjson").stdout.splitlines()]
    assert {"name": "points_per_like", "value": 1, "default": False} == {k: rules[0][k] for k in ("name", "value", "default")}
    rules_csv = list(csv.DictReader(io.StringIO(derby(polled, "rules", "--format", "csv").stdout)))
    assert rules_csv[0]["name"] == "points_per_like" and {r["name"]: r["value"] for r in rules_csv}["tie_break"].startswith("[")
    audit = derby(polled, "audit", "--format", "text")
    assert audit.exit_code == 0 and audit.stdout == derby(polled, "audit", "--format", "table").stdout
    assert [json.loads(line)["action"] for line in derby(polled, "audit", "--format", "ndjson").stdout.splitlines()][0] == "rule_seed"
    assert list(csv.DictReader(io.StringIO(derby(polled, "audit", "--format", "csv").stdout)))[0]["action"] == "rule_seed"
    status = derby(polled, "status", "--format", "ndjson")
    assert len(status.stdout.splitlines()) == 1 and json.loads(status.stdout)["contest"]["title"]
    assert derby(polled, "status", "--format", "text", "--lang", "en").stdout.startswith("contest: ")


def test_one_duration_syntax_on_the_command_line(polled):
    refused = derby(polled, "leaderboard", "--live", "--every", "10x")
    assert refused.exit_code == 2 and 'is not a duration such as "90s", "10m", "6h", "2d"' in refused.output
    assert derby(polled, "leaderboard", "--live", "--every", "0.5").exit_code == 2
    assert derby(polled, "leaderboard", "--live", "--every", "1m").exit_code == 0  # one frame: not a terminal
    too_long = derby(polled, "run", "--every", "1d")
    assert too_long.exit_code == 2 and "--every = 1d is too long" in too_long.output


def test_piped_board_is_not_wrapped_at_80_columns(polled):
    wide = derby(polled, "leaderboard", "--top", "5")
    assert max(len(line) for line in wide.stdout.splitlines()) == 120
    narrow = derby(polled, "leaderboard", "--top", "5", env={"COLUMNS": "100"})
    assert max(len(line) for line in narrow.stdout.splitlines()) == 100


def test_save_to_stdout_and_atomic_replacement(polled, tmp_path):
    svg = derby(polled, "leaderboard", "--save", "-")
    assert svg.exit_code == 0 and "<svg" in svg.stdout and "saved the board" not in svg.stderr
    target = tmp_path / "w.csv"
    target.write_text("the previous export\n")
    target.chmod(0o640)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), files.atomic_text(target) as fh:
        fh.write("half a file")
        raise Boom
    assert target.read_text() == "the previous export\n" and [p.name for p in tmp_path.iterdir() if ".part" in p.name] == []
    assert derby(polled, "export", str(target)).exit_code == 0
    assert target.read_text(encoding="utf-8-sig").startswith("rank,role,") and target.stat().st_mode & 0o777 == 0o640


def test_help_shows_env_vars_and_version_shows_sqlite():
    assert "env var: DERBY_DB" in CliRunner().invoke(cli, ["--help"]).output
    assert "env var: DERBY_JUDGE" in CliRunner().invoke(cli, ["disqualify", "--help"]).output
    version = CliRunner().invoke(cli, ["--version"])
    assert version.output.startswith(f"derby {__version__} (SQLite {sqlite3.sqlite_version}, Python ")


def test_shell_completion_script():
    result = CliRunner().invoke(cli, [], prog_name="derby", env={"_DERBY_COMPLETE": "bash_source"})
    assert result.exit_code == 0 and "_derby_completion" in result.output and "complete " in result.output


def test_demo_honours_the_group_db_and_never_derby_db(tmp_path, monkeypatch):
    kept = tmp_path / "kept.db"
    monkeypatch.setenv("DERBY_DB", str(tmp_path / "real.db"))
    result = CliRunner().invoke(cli, ["--db", str(kept), "demo", "--interval", "0.05", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert kept.exists() and not (tmp_path / "real.db").exists()
    assert "Replaying" in result.stderr and "Pointage" in result.stdout
    other = tmp_path / "other.db"
    assert CliRunner().invoke(cli, ["--db", str(other), "init", str(ROOT / "config" / "socialderby.toml")]).exit_code == 0
    refused = CliRunner().invoke(cli, ["--db", str(other), "demo"])
    assert refused.exit_code == 2 and "the demo needs an empty or demo database" in refused.stderr


def test_poll_says_each_page_with_verbose_and_nothing_with_quiet(tmp_path):
    db = tmp_path / "v.db"
    assert CliRunner().invoke(cli, ["--db", str(db), "init", str(REPLAY_TOML)]).exit_code == 0
    loud = derby(db, "poll", "-v", "--lang", "en")
    assert loud.exit_code == 0 and loud.stdout.startswith("poll #1 ok: 4 pages, 6 requests")
    assert "DEBUG derby.poller: poll #1: #socialderby recent_media page 1 stored: 4 media, 4 new, 0 updated" in loud.stderr
    plain = derby(db, "poll", "--lang", "en")
    assert plain.stdout.startswith("poll #2 ok: ") and "page 1 stored" not in plain.stderr
    quiet = derby(db, "-q", "poll")
    assert quiet.exit_code == 0 and quiet.stdout == ""
