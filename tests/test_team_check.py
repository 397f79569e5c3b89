"""check-winners in a team contest: each winning account read again by its owner through
the accounts feed, against a loopback server (pytest-httpserver) answering with the real
recorded owner-level bodies of the shared folder (ig_user_fields.json,
user_medias_p1/p2.json). Followers lost since the close, a counted post gone or with
fewer likes, an account gone and an account without a token are each said clearly."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from werkzeug import Response

from conftest import FAKE_TOKEN, utc
from derby import clock, store, team_check
from derby.cli import cli
from derby.config import load_contest
from derby.feeds.parse import AccountReading
from helpers import media, page
from test_accounts_feed import serve_team

A = "17841407673135339"  # the id in ig_user_fields.json (64363 followers, username facebookfordevelopers)
B = "17841400000000202"
C = "17841400000000303"
TOKEN_B = "IGQVJtestTOKENofTeamB000111"
NOW = utc(2021, 8, 15, 12)

CONTEST = f"""
[contest]
kind = "teams"
title = "Derby des artères"
timezone = "America/Toronto"
start = "2021-06-01T00:00:00"
end = "2021-08-13T23:59:59"

[rules]
points_per_follower = 1
points_per_post = 5
points_per_like = 1
points_per_comment = 3

[[teams]]
name = "3e Avenue"
account_id = "{A}"

[[teams]]
name = "Saint-Jean"
account_id = "{B}"
token_env = "DERBY_TOKEN_B"

[[teams]]
name = "Limoilou"
account_id = "{C}"
token_env = "DERBY_TOKEN_C"

[[trophies]]
name = "Abonnés gagnés"
metric = "followers_gained"
"""


def seed(tmp_path):
    """The three teams read before the start and once before the close. A's stored
    state differs from what the real bodies answer now: 64400 followers (now 64363),
    post 17896622936197745 with 9 likes (now 2), and post 17800000000000001 that the
    account's media no longer lists."""
    path = tmp_path / "teams.toml"
    path.write_text(CONTEST, encoding="utf-8")
    db = store.open_db(tmp_path / "d.db")
    store.save_contest(db, load_contest(path), utc(2021, 5, 30))
    polls = [(utc(2021, 5, 31, 12), {A: 64000, B: 500, C: 300}, {}),
             (utc(2021, 8, 13, 20), {A: 64400, B: 700, C: 400}, {
                 A: [media("17896622936197745", caption=None, timestamp=utc(2021, 8, 13, 8, 2, 40), like_count=9,
                           comments_count=6, permalink="https://www.instagram.com/p/CSgdWACBeKr/"),
                     media("17895731045244887", caption=None, timestamp=utc(2021, 8, 13, 8, 25, 28), like_count=0,
                           comments_count=0, permalink="https://www.instagram.com/p/CSgf9BChwVq/"),
                     media("17800000000000001", caption="Effacée", timestamp=utc(2021, 8, 1, 12), like_count=5,
                           comments_count=1, permalink="https://www.instagram.com/p/CGone/")],
                 B: [media("18000000000000301", caption="Saint-Jean", timestamp=utc(2021, 8, 2, 12))],
                 C: [media("18000000000000401", caption="Limoilou", timestamp=utc(2021, 8, 3, 12))]})]
    for when, followers, pages in polls:
        run = store.start_poll_run(db, "accounts", when)
        for account, name in ((A, "facebookfordevelopers"), (B, "saintjean"), (C, "limoilou")):
            store.save_account_snapshot(db, run, AccountReading(account, name, followers[account], 1, 1), when)
            if account in pages:
                store.save_page(db, run, account, "media", page(*pages[account]), when)
                store.link_team_media(db, run, account, [m.media_id for m in pages[account]])
            store.record_team_read(db, run, account, when, status="ok", pages=1)
        store.finish_poll_run(db, run, when, status="ok", requests=6)
    db.close()
    return tmp_path / "d.db"


@pytest.fixture
def served(httpserver, real_dir, monkeypatch):
    """A answered by the real bodies; B answers that the account does not exist
    (error 100, subcode 33); C's token variable is not set."""
    serve_team(httpserver, real_dir, A)
    gone = {"error": {"message": f"Unsupported get request. Object with ID '{B}' does not exist, cannot be loaded "
                                 "due to missing permissions, or does not support this operation",
                      "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "Gone1"}}
    httpserver.expect_request(f"/v24.0/{B}").respond_with_response(Response(json.dumps(gone), status=400))
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("DERBY_TOKEN_B", TOKEN_B)
    monkeypatch.setenv("DERBY_GRAPH_URL", httpserver.url_for("/v24.0").rstrip("/"))
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)
    return httpserver


def test_each_winning_account_is_read_again_by_its_owner(tmp_path, served):
    db = seed(tmp_path)
    result = CliRunner().invoke(cli, ["--db", str(db), "check-winners", "--top", "1", "--alternates", "2", "--lang", "en"])
    out = result.output
    assert result.exit_code == 1, out
    assert "Traceback" not in out and FAKE_TOKEN not in out and TOKEN_B not in out
    lines = out.splitlines()
    assert lines[0] == "winners and alternates from the standings:"
    assert lines[1] == f"1. winner    team “3e Avenue” {A}  https://www.instagram.com/facebookfordevelopers/"
    assert "account still online (read now by its owner)" in out
    assert "warning: followers since the close: 64400 → 64363: 37 fewer (bought followers removed?)" in out
    assert ("warning: counted post 17800000000000001 (https://www.instagram.com/p/CGone/) is no longer in the "
            "account's media (deleted or archived)") in out
    assert "warning: counted post 17896622936197745: likes dropped since the close (likes 9 → 2, comments 6 → 6)" in out
    assert "2 of 3 counted posts still online (read now); engagement since the close: likes 9 → 2, comments 6 → 6" in out
    assert f"2. alternate team “Saint-Jean” {B}" in out and "warning: the account is gone" in out
    assert f"3. alternate team “Limoilou” {C}" in out
    assert "cannot be read: the owner read was refused (" in out and "DERBY_TOKEN_C" in out
    assert "open https://www.instagram.com/limoilou/ to check it" in out
    assert "last read by a poll 2021-08-13 16:00 (UTC−4) (400 followers)" in out
    assert f"4. winner    trophy “Abonnés gagnés” team “3e Avenue” {A}" in out
    assert "1 of 4 could not be read: open their profiles before announcing" in out
    # each account is read once, though 3e Avenue wins twice: its counts, then its two media pages
    assert [r.path for r, _ in served.log] == [f"/v24.0/{A}", f"/v24.0/{A}/media", f"/v24.0/{A}/media", f"/v24.0/{B}"]
    (row,) = store.audit_log(store.open_db(db), action="check_winners")
    assert [(r["team"], r["role"], r["read"]) for r in row["data"]] == [
        ("3e Avenue", "winner", True), ("Saint-Jean", "alternate", True), ("Limoilou", "alternate", False),
        ("3e Avenue", "winner", True)]


def test_posts_are_read_again_only_when_the_ranking_depends_on_them(tmp_path, served):
    db = store.open_db(seed(tmp_path))
    board = team_check.team_standings(db, NOW)
    first = board.ranked[0]
    assert team_check.posts_matter(board, first, None) is True
    assert team_check.posts_matter(board, first, "followers_gained") is False
    assert team_check.posts_matter(board, first, "likes") is True
    store.set_rule(db, "points_per_post", 0, NOW, by="Marie")
    store.set_rule(db, "points_per_like", 0, NOW, by="Marie")
    store.set_rule(db, "points_per_comment", 0, NOW, by="Marie")
    contest = store.load_contest(db)
    read = team_check.owner_reader(db, team_feed(served), contest, NOW)
    _, results = team_check.check_team_winners(db, contest, NOW, "Marie", top=1, alternates=0, read=read)
    assert [r.path for r, _ in served.log] == [f"/v24.0/{A}"]  # followers only: no media pages asked
    assert not any("counted post" in w for r in results for w in r.warnings)


def team_feed(httpserver):
    import os

    from derby.feeds.accounts import AccountsFeed

    return AccountsFeed(dict(os.environ), max_attempts=1)



def test_an_account_cooling_down_is_not_read(tmp_path, served):
    db = store.open_db(seed(tmp_path))
    store.start_cooldown(db, A, utc(2021, 8, 15, 11), utc(2021, 8, 15, 14), "business use case throttle (80002)", None)
    contest = store.load_contest(db)
    read = team_check.owner_reader(db, team_feed(served), contest, NOW)
    _, (first, *_) = team_check.check_team_winners(db, contest, NOW, "Marie", top=1, alternates=0, read=read)
    assert served.log == [] and not first.read
    assert first.lines[0].startswith("cannot be read: cooling down until 2021-08-15 10:00 (UTC−4) (business use case "
                                     "throttle (80002)); no request made; open https://www.instagram.com/")


def test_a_team_token_refused_names_the_team_s_token_variable(tmp_path, httpserver, real_dir, monkeypatch):
    """An expired token (error 190, subcode 463) of a team whose token_env is its own:
    the advice names that variable, as a poll's does, not the organizer account's."""
    serve_team(httpserver, real_dir, A)
    expired = {"error": {"message": "Error validating access token: Session has expired on Friday, 13-Aug-21.",
                         "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": "Exp1"}}
    httpserver.expect_request(f"/v24.0/{B}").respond_with_response(Response(json.dumps(expired), status=400))
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("DERBY_TOKEN_B", TOKEN_B)
    monkeypatch.setenv("DERBY_GRAPH_URL", httpserver.url_for("/v24.0").rstrip("/"))
    monkeypatch.setattr(clock, "utcnow", lambda: NOW)
    db = seed(tmp_path)
    out = CliRunner().invoke(cli, ["--db", str(db), "check-winners", "--top", "1", "--alternates", "1", "--lang", "en"]).output
    (line,) = [x for x in out.splitlines() if "cannot be read" in x]
    assert "put it in DERBY_TOKEN_B" in line and "INSTAGRAM_ACCESS_TOKEN" not in line, out
    assert TOKEN_B not in out and "Traceback" not in out


@pytest.mark.parametrize("now, state", [(utc(2021, 5, 31, 13), "has not started"),
                                        (utc(2021, 8, 13, 21), "is still running")])
def test_before_the_close_the_counts_are_not_said_since_the_close(tmp_path, served, monkeypatch, now, state):
    monkeypatch.setattr(clock, "utcnow", lambda: now)
    db = seed(tmp_path)
    out = CliRunner().invoke(cli, ["--db", str(db), "check-winners", "--top", "1", "--alternates", "0", "--lang", "en"]).output
    assert "since the close" not in out and "at the close" not in out, out
    assert f"followers since the standings' reading (the contest {state}): " in out, out


def _throttling(httpserver, monkeypatch, code: int) -> None:
    """A is throttled (``code``, HTTP 429 asking for 20 minutes); B answers that the
    account is gone (100/33), so a request for it shows in the log; C has no token."""
    body = {"error": {"message": "Application request limit reached" if code == 4 else "User request limit reached",
                      "type": "OAuthException", "code": code, "fbtrace_id": "Thr0ttle"}}
    httpserver.expect_request(f"/v24.0/{A}").respond_with_response(
        Response(json.dumps(body), status=429, headers={"Retry-After": "1200"}, content_type="application/json"))
    gone = {"error": {"message": "Unsupported get request.", "type": "GraphMethodException", "code": 100,
                      "error_subcode": 33, "fbtrace_id": "Gone1"}}
    httpserver.expect_request(f"/v24.0/{B}").respond_with_response(Response(json.dumps(gone), status=400))
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("DERBY_TOKEN_B", TOKEN_B)
    monkeypatch.setenv("DERBY_GRAPH_URL", httpserver.url_for("/v24.0").rstrip("/"))


def test_an_app_throttle_ends_the_owner_reads_and_records_the_cool_down(tmp_path, httpserver, monkeypatch):
    """Against a loopback server: the winner's read is throttled for the whole app
    (code 4); the alternates are not asked and say so, and the app's cool-down is
    recorded as a team poll records it."""
    from derby.poll import feed_account

    _throttling(httpserver, monkeypatch, 4)
    db = store.open_db(seed(tmp_path))
    contest = store.load_contest(db)
    feed = team_feed(httpserver)
    app = feed_account(feed)
    read = team_check.owner_reader(db, feed, contest, NOW, app)
    first, second, third, trophy = team_check.check_team_winners(db, contest, NOW, "Marie", top=1, alternates=2,
                                                                 read=read, app=app)[1]
    assert [r.path for r, _ in httpserver.log] == [f"/v24.0/{A}"]
    assert not (first.read or second.read or third.read or trophy.read)
    assert first.lines[0].startswith("cannot be read: the platform throttled the owner read (")
    assert "no request until 2021-08-15 08:20 (UTC−4)" in first.lines[0]
    for later in (second, third):
        assert later.lines[0].startswith("cannot be read: cooling down until 2021-08-15 08:20 (UTC−4) (")
        assert "no request made" in later.lines[0]
    held = store.active_cooldown(db, app, NOW)
    assert held is not None and held["until"] == utc(2021, 8, 15, 12, 20)


def test_an_account_throttle_cools_that_account_only(tmp_path, httpserver, monkeypatch):
    from derby.poll import feed_account

    _throttling(httpserver, monkeypatch, 80002)
    db = store.open_db(seed(tmp_path))
    contest = store.load_contest(db)
    feed = team_feed(httpserver)
    app = feed_account(feed)
    read = team_check.owner_reader(db, feed, contest, NOW, app)
    first, second, *_ = team_check.check_team_winners(db, contest, NOW, "Marie", top=1, alternates=2,
                                                       read=read, app=app)[1]
    assert [r.path for r, _ in httpserver.log] == [f"/v24.0/{A}", f"/v24.0/{B}"]
    assert "no request for this account until 2021-08-15 08:20 (UTC−4)" in first.lines[0]
    assert second.read and store.active_cooldown(db, app, NOW) is None
    assert store.active_cooldown(db, A, NOW)["until"] == utc(2021, 8, 15, 12, 20)
