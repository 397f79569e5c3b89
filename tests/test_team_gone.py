"""A team post deleted from its account is reported gone: after a whole read of the
account's own media back to the contest's start (no page cut short, no stop, no
error), each stored post of the contest that the read did not return gets a ``gone``
report (source ``account_media``), shown on the posts' board and in the team's
explanation through the shared per-post freshness flags. Against a loopback server
(pytest-httpserver) answering with the real recorded bodies."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from click.testing import CliRunner
from werkzeug import Response

from conftest import FAKE_TOKEN, utc
from derby import clock, leaderboard, store, team_leaderboard
from derby.cli import cli
from derby.config import load_contest
from derby.feeds.accounts import AccountsFeed
from derby.poller import poll_once

A = "17841407673135339"  # the id in ig_user_fields.json
NOW = utc(2021, 8, 14, 12)
DELETED = "17896622936197745"  # page 1, published 2021-08-13 08:02 UTC
BEFORE_START = "17893085207160254"  # page 2, published 2021-06-09: before the contest's start

CONTEST = f"""
[contest]
kind = "teams"
title = "Derby des artères"
timezone = "America/Toronto"
start = "2021-07-01T00:00:00"
end = "2021-08-31T23:59:59"

[feed]
kind = "accounts"

[rules]
points_per_follower = 1
points_per_post = 5
points_per_like = 1

[[teams]]
name = "3e Avenue"
account_id = "{A}"
"""


class Account:
    """Team A's answers: its fields, and its media in two pages (``hidden`` media left
    out of them, as the platform leaves out a deleted post)."""

    def __init__(self, httpserver, real_dir):
        self.hidden: set[str] = set()
        self.fail = False
        user = json.loads((real_dir / "ig_user_fields.json").read_bytes())
        user["id"] = A
        self.pages = [json.loads((real_dir / f"user_medias_p{n}.json").read_bytes()) for n in (1, 2)]
        httpserver.expect_request(f"/v24.0/{A}").respond_with_json(user)
        httpserver.expect_request(f"/v24.0/{A}/media").respond_with_handler(self.media)

    def media(self, request) -> Response:
        if self.fail and request.args.get("after") == "after":
            return Response(json.dumps({"error": {"message": "An unknown error occurred", "type": "OAuthException",
                                                  "code": 1, "fbtrace_id": "F41l"}}), status=500)
        body = dict(self.pages[1 if request.args.get("after") == "after" else 0])
        body["data"] = [m for m in body["data"] if m["id"] not in self.hidden]
        return Response(json.dumps(body), content_type="application/json")


@pytest.fixture
def setup(httpserver, real_dir, tmp_path, monkeypatch):
    path = tmp_path / "teams.toml"
    path.write_text(CONTEST, encoding="utf-8")
    contest = load_contest(path)
    db = store.open_db(tmp_path / "d.db")
    store.save_contest(db, contest, utc(2021, 6, 30))
    env = {"INSTAGRAM_ACCESS_TOKEN": FAKE_TOKEN, "DERBY_GRAPH_URL": httpserver.url_for("/v24.0").rstrip("/")}
    monkeypatch.setattr(clock, "utcnow", lambda: NOW + timedelta(hours=5))

    def poll(at, **kwargs):
        kwargs.setdefault("max_attempts", 1)
        return poll_once(db, contest, AccountsFeed(env, session=requests.Session(), **kwargs), at)

    return db, Account(httpserver, real_dir), poll, tmp_path / "d.db"


def _gone(db) -> list[tuple[str, str]]:
    return [(o["media_id"], o["source"]) for o in db.query("SELECT media_id, source FROM media_outcomes "
                                                           "WHERE outcome = 'gone' ORDER BY id")]


def test_a_post_missing_from_a_whole_read_is_reported_gone_once(setup):
    db, account, poll, _ = setup
    assert poll(NOW).status == "ok"
    assert _gone(db) == []
    account.hidden = {DELETED, BEFORE_START}
    # a read cut short by the page cap did not reach the start: it says nothing of absent posts
    assert poll(NOW + timedelta(hours=1), page_cap=1).status == "ok"
    assert _gone(db) == []
    # a read that failed on its second page says nothing either
    account.fail = True
    assert poll(NOW + timedelta(hours=2)).status != "ok"
    assert _gone(db) == []
    account.fail = False
    assert poll(NOW + timedelta(hours=3)).status == "ok"
    assert _gone(db) == [(DELETED, "account_media")]  # not the post published before the start
    warnings = [w["message"] for w in db.query("SELECT message FROM poll_warnings")]
    assert any("1 post of the contest no longer in the account's media" in w for w in warnings)
    assert poll(NOW + timedelta(hours=4)).status == "ok"
    assert _gone(db) == [(DELETED, "account_media")]  # already reported after its newest sighting
    # back in the account's media: the newest sighting is after the report, the flag goes
    account.hidden = set()
    assert poll(NOW + timedelta(hours=5)).status == "ok"
    entry = leaderboard.standings(db, NOW + timedelta(hours=5)).entry(DELETED)
    assert "gone" not in entry.flags


def test_the_posts_board_and_the_team_explanation_flag_the_post_gone(setup):
    db, account, poll, path = setup
    poll(NOW)
    account.hidden = {DELETED}
    poll(NOW + timedelta(hours=1))
    posts = team_leaderboard.team_standings(db, NOW + timedelta(hours=2)).posts
    assert "gone" in posts.entry(DELETED).flags
    assert "gone" not in posts.entry("17895731045244887").flags
    runner = CliRunner()
    board = runner.invoke(cli, ["--db", str(path), "leaderboard", "--posts", "--lang", "en"])
    assert board.exit_code == 0, board.output
    assert "gone" in board.output
    explained = runner.invoke(cli, ["--db", str(path), "explain", "3e Avenue", "--lang", "en"])
    assert explained.exit_code == 0, explained.output
    line = next(x for x in explained.output.splitlines() if x.strip().startswith(DELETED))
    assert "gone" in line
