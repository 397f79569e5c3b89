"""The team demo replay, and a team poll through the fixture feed: every team read,
one failing team makes the poll partial, and each bad input gives a recorded warning."""

from __future__ import annotations

import csv
import filecmp
import json
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from derby import store, team_leaderboard as teams
from derby.cli import cli
from derby.config import load_contest
from derby.demo.runner import team_demo_contest
from derby.feeds.fixture import FixtureFeed
from derby.poller import poll_once
from helpers import utc

ROOT = Path(__file__).resolve().parents[1]
TEAM_DEMO = ROOT / "derby" / "demo" / "teams"


def test_the_bundled_team_replay_is_what_the_script_makes():
    out = Path.cwd() / "made"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_team_replay.py"), "--out", str(out)], check=True)
    comparison = filecmp.dircmp(out, TEAM_DEMO)
    stack, different = [comparison], []
    while stack:
        current = stack.pop()
        different += current.diff_files + current.left_only + current.right_only
        stack.extend(current.subdirs.values())
    assert different == []
    assert "MADE-UP DATA" in (TEAM_DEMO / "replay" / "README.md").read_text(encoding="utf-8")


def test_demo_teams_replays_four_weeks_through_the_scheduler_and_writes_winners(tmp_path):
    db = tmp_path / "teams.db"
    # a quarter second a day: slow enough that a loaded machine does not skip a replayed day
    result = CliRunner().invoke(cli, ["demo", "--teams", "--db", str(db), "--interval", "0.25"],
                                env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "Vieux-Québec" in result.output and "Trophée « Engagement »" in result.output
    rows = list(csv.DictReader((tmp_path / "winners.csv").open(encoding="utf-8-sig")))
    assert [r["role"] for r in rows[:5]] == ["winner"] * 3 + ["alternate"] * 2
    assert {r["trophy"] for r in rows[5:]} == {"Engagement", "Meilleur ratio", "Abonnés gagnés"}
    database = store.open_db(db)
    polls = list(database.query("SELECT status FROM poll_runs"))
    assert len(polls) >= 25 and {p["status"] for p in polls} == {"ok"}
    assert store.contest_closed(database) is not None
    board = teams.team_standings(database, utc(2017, 5, 1))
    by_name = {t.name: t for t in board.teams}
    maguire = store.account_series(database)["17841400000000105"]
    assert maguire[-1]["observed_at"] < utc(2017, 4, 14)  # it stalls: no new reading after its tenth day
    assert "followers_lost" in by_name["Limoilou"].flags  # the day it lost followers
    assert [t.name for t in board.teams if "followers_lost" in t.flags] == ["Limoilou"]
    assert len({t.followers_gained for t in board.teams}) == 7  # growth differs by team
    over = [e for t in board.teams for e in t.posts if e.status == "over_daily_cap"]
    assert over and {board.team_of[e.media_id] for e in over} == {"17841400000000104"}
    early = [e for e in by_name["Faubourg Saint-Jean"].posts if e.status == "before_start"]
    assert len(early) == 1
    warnings = [r["message"] for r in database.query("SELECT message FROM poll_warnings")]
    lost = [w for w in warnings if "lost" in w]
    assert len(lost) == 1 and lost[0].startswith("team “Limoilou” (17841400000000107) lost ")
    assert lost[0].endswith(" → 412); kept and flagged")


def _replay_copy(tmp_path) -> Path:
    folder = tmp_path / "replay"
    shutil.copytree(TEAM_DEMO / "replay" / "polls" / "20170405T160000Z", folder / "polls" / "20170405T160000Z")
    return folder


def _contest(tmp_path, folder):
    text = (TEAM_DEMO / "contest.toml").read_text(encoding="utf-8").replace('path = "replay"', f'path = "{folder}"')
    path = tmp_path / "contest.toml"
    path.write_text(text, encoding="utf-8")
    return load_contest(path)


def test_a_failing_team_makes_the_poll_partial_and_the_others_are_read(tmp_path):
    folder = _replay_copy(tmp_path)
    accounts = folder / "polls" / "20170405T160000Z"
    (accounts / "17841400000000103-1.json").write_text("<html>502 Bad Gateway</html>", encoding="utf-8")
    (accounts / "17841400000000105-1.json").write_text(json.dumps(
        {"error": {"message": "Error validating access token: The session has been invalidated", "type": "OAuthException",
                   "code": 190, "error_subcode": 467, "fbtrace_id": "AbC"}}), encoding="utf-8")
    contest = _contest(tmp_path, folder)
    db = store.open_db(tmp_path / "d.db")
    store.save_contest(db, contest, utc(2017, 3, 30))
    summary = poll_once(db, contest, FixtureFeed(folder), utc(2017, 4, 5, 17))
    assert summary.status == "partial" and summary.exit_code == 3  # one team's token: the daemon goes on
    assert "team “Avenue Cartier”" in summary.error
    reads = store.team_reads(db)
    assert reads["17841400000000103"]["last"]["status"] == "failed"
    assert reads["17841400000000105"]["last"]["error_kind"] == "auth"
    assert sum(1 for r in reads.values() if r["last"]["status"] == "ok") == 5
    assert len(store.account_series(db)) == 5
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "d.db"), "status", "--lang", "en"])
    assert "team “Maguire” (account 17841400000000105) could not be read" in result.output
    french = CliRunner().invoke(cli, ["--db", str(tmp_path / "d.db"), "status"]).output
    assert "l'équipe « Maguire » (compte 17841400000000105) n'a pas pu être lue" in french
    assert "ACTION" in result.output and "Traceback" not in result.output
    data = json.loads(CliRunner().invoke(cli, ["--db", str(tmp_path / "d.db"), "status", "--format", "json"]).stdout)
    maguire = next(t for t in data["teams"] if t["name"] == "Maguire")
    assert (maguire["failures"], maguire["last_read"]["error_kind"], maguire["last_ok"]) == (1, "auth", None)


def test_bad_account_answers_are_clear_lines_or_recorded_warnings(tmp_path):
    folder = _replay_copy(tmp_path)
    accounts = folder / "polls" / "20170405T160000Z"
    (accounts / "17841400000000101-1.json").write_text(json.dumps(
        {"id": "17841400000000999", "username": "someoneelse", "followers_count": 5}), encoding="utf-8")
    (accounts / "17841400000000102-1.json").write_text(json.dumps(
        {"error": {"message": "(#100) Tried accessing nonexisting field (followers_count) on node type (User)",
                   "type": "OAuthException", "code": 100, "fbtrace_id": "X"}}), encoding="utf-8")
    media = accounts / "17841400000000104"
    page = json.loads((media / "media-1.json").read_text(encoding="utf-8"))
    del page["data"][0]["like_count"]
    page["paging"] = {"cursors": {"after": "same"}, "next": "https://graph.facebook.com/x?access_token=T&after=same"}
    (media / "media-1.json").write_text(json.dumps(page), encoding="utf-8")
    (media / "media-2.json").write_text(json.dumps(page), encoding="utf-8")
    for path in (accounts / "17841400000000106").glob("media-*.json"):
        path.write_text('{"data": []}', encoding="utf-8")
    contest = _contest(tmp_path, folder)
    db = store.open_db(tmp_path / "d.db")
    store.save_contest(db, contest, utc(2017, 3, 30))
    summary = poll_once(db, contest, FixtureFeed(folder), utc(2017, 4, 5, 17))
    text = "\n".join(summary.notes + [r["message"] for r in db.query("SELECT message FROM poll_warnings")])
    assert "the token belongs to another account" in text
    assert "A personal account cannot be read" in text
    assert "came without like_count" in text
    assert "cursor repeated" in text
    assert "team “Vieux-Québec” (17841400000000106) has no post yet" in text
    assert "access_token=T" not in text


def test_a_stop_between_pages_ends_the_poll_partial_and_keeps_what_was_stored(tmp_path):
    import threading

    folder = _replay_copy(tmp_path)
    contest = _contest(tmp_path, folder)
    db = store.open_db(tmp_path / "d.db")
    store.save_contest(db, contest, utc(2017, 3, 30))
    stop = threading.Event()
    feed = FixtureFeed(folder)
    pages = feed.read

    def read(source, now):  # the stop arrives once the first team's counts are read
        for page in pages(source, now):
            yield page
            if source.label.endswith("account"):
                stop.set()

    feed.read = read
    summary = poll_once(db, contest, feed, utc(2017, 4, 5, 17), stop)
    assert summary.status == "partial" and summary.exit_code == 3
    assert summary.pages == 1 and len(store.account_series(db)) == 1
    assert store.team_reads(db)["17841400000000101"]["last"]["status"] == "skipped"
