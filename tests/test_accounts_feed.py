"""The accounts feed (team contests) against a real HTTP server on loopback
(pytest-httpserver), serving bodies shaped like the real recorded owner-level responses
of the shared folder (ig_user_fields.json, user_medias_p1/p2.json). Nothing leaves
loopback: the feed's session refuses every https URL."""

from __future__ import annotations

import json
from datetime import timedelta
import logging

import pytest
import requests
from requests.adapters import BaseAdapter
from werkzeug import Response

from conftest import FAKE_TOKEN, utc
from derby import store
from derby.config import Contest, FeedConfig
from derby.feeds.accounts import AccountsFeed
from derby.feeds.sources import ACCOUNT_FIELDS, ACCOUNT_MEDIA_FIELDS
from derby.feeds.factory import make_feed
from derby.poller import poll_once
from derby.teams import Team

A = "17841407673135339"  # the id in ig_user_fields.json
B = "17841400000000202"
TOKEN_B = "IGQVJtestTOKENofTeamB000111"
NOW = utc(2021, 8, 14, 12)


class RefuseOutside(BaseAdapter):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def send(self, request, **kwargs):
        self.urls.append(request.url)
        raise AssertionError("the feed tried to leave loopback")

    def close(self):
        pass


def contest(start=utc(2021, 1, 1), login_b="facebook") -> Contest:
    return Contest(title="Derby des artères", hashtags=(), timezone="America/Toronto", start=start,
                   end=utc(2021, 12, 31), feed=FeedConfig(kind="accounts"), kind="teams",
                   teams=(Team("3e Avenue", A), Team("Saint-Jean", B, token_env="DERBY_TOKEN_B", login=login_b)))


@pytest.fixture
def env(httpserver):
    return {"INSTAGRAM_ACCESS_TOKEN": FAKE_TOKEN, "DERBY_TOKEN_B": TOKEN_B,
            "DERBY_GRAPH_URL": httpserver.url_for("/v24.0").rstrip("/"),
            "DERBY_INSTAGRAM_URL": httpserver.url_for("/ig/v24.0").rstrip("/")}


@pytest.fixture
def outside():
    return RefuseOutside()


def feed(env, outside, **kwargs) -> AccountsFeed:
    session = requests.Session()
    session.mount("https://", outside)
    kwargs.setdefault("max_attempts", 1)
    return AccountsFeed(env, session=session, **kwargs)


def user_body(real_dir, account: str) -> bytes:
    data = json.loads((real_dir / "ig_user_fields.json").read_bytes())
    data["id"] = account
    return json.dumps(data).encode()


def media_bodies(real_dir, account: str) -> tuple[bytes, bytes]:
    p1, p2 = (json.loads((real_dir / f"user_medias_p{n}.json").read_bytes()) for n in (1, 2))
    if account != A:  # team B's own media: the same shapes, other ids
        for page in (p1, p2):
            for item in page["data"]:
                item["id"] = "1" + item["id"][1:-1] + "9"
    return json.dumps(p1).encode(), json.dumps(p2).encode()


def serve_team(httpserver, real_dir, account: str, prefix: str = "/v24.0", *, token: str = FAKE_TOKEN) -> None:
    """Serve one team account: its fields, and its media in two pages chained by the
    recorded ``after`` cursor. Only ``token`` is accepted."""
    p1, p2 = media_bodies(real_dir, account)

    def guard(request, body: bytes) -> Response:
        if request.args.get("access_token") != token:
            return Response(json.dumps({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException",
                                                  "code": 190, "fbtrace_id": "Tr4ce"}}), status=400)
        return Response(body, content_type="application/json")

    httpserver.expect_request(f"{prefix}/{account}").respond_with_handler(lambda r: guard(r, user_body(real_dir, account)))
    httpserver.expect_request(f"{prefix}/{account}/media").respond_with_handler(
        lambda r: guard(r, p2 if r.args.get("after") == "after" else p1))


def log(httpserver) -> list[tuple[str, str | None, str | None]]:
    return [(r.path, r.args.get("access_token"), r.args.get("after")) for r, _ in httpserver.log]


def dump(db) -> str:
    return "\n".join(db.conn.iterdump())


def test_a_poll_reads_each_team_with_its_own_token_and_base_url(httpserver, real_dir, env, outside):
    serve_team(httpserver, real_dir, A)
    serve_team(httpserver, real_dir, B, "/ig/v24.0", token=TOKEN_B)
    db = store.open_db(":memory:")
    c = contest(login_b="instagram")
    store.save_contest(db, c, utc(2021, 1, 1))
    summary = poll_once(db, c, feed(env, outside), NOW)
    assert summary.status == "ok", summary.error
    assert log(httpserver) == [
        (f"/v24.0/{A}", FAKE_TOKEN, None), (f"/v24.0/{A}/media", FAKE_TOKEN, None),
        (f"/v24.0/{A}/media", FAKE_TOKEN, "after"),
        (f"/ig/v24.0/{B}", TOKEN_B, None), (f"/ig/v24.0/{B}/media", TOKEN_B, None),
        (f"/ig/v24.0/{B}/media", TOKEN_B, "after")]
    first = httpserver.log[0][0].args.to_dict()
    assert first["fields"] == ACCOUNT_FIELDS and "user_id" not in first
    assert httpserver.log[1][0].args["fields"] == ACCOUNT_MEDIA_FIELDS and httpserver.log[1][0].args["limit"] == "50"
    assert outside.urls == []  # paging.next (graph.facebook.com, with a token) is never followed
    series = store.account_series(db)
    assert series[A][0]["followers_count"] == 64363 and series[A][0]["username"] == "facebookfordevelopers"
    linked = store.team_media(db)
    assert sorted(m for m, a in linked.items() if a == A) == ["17893085207160254", "17895731045244887",
                                                              "17896129349106152", "17896622936197745"]
    assert sum(1 for a in linked.values() if a == B) == 4
    text = dump(db)
    assert FAKE_TOKEN not in text and TOKEN_B not in text


def test_paging_stops_once_a_page_reaches_posts_older_than_the_start(httpserver, real_dir, env, outside):
    serve_team(httpserver, real_dir, A)
    serve_team(httpserver, real_dir, B, token=TOKEN_B)
    db = store.open_db(":memory:")
    c = contest(start=utc(2021, 8, 13, 8, 10))  # page 1 holds a post of 08:02
    store.save_contest(db, c, utc(2021, 1, 1))
    assert poll_once(db, c, feed(env, outside), NOW).status == "ok"
    assert [p for p, _, after in log(httpserver) if after == "after"] == []


def test_a_team_whose_token_is_refused_makes_the_poll_partial(httpserver, real_dir, env, outside):
    serve_team(httpserver, real_dir, A)
    serve_team(httpserver, real_dir, B, token="another-token")  # B's token is revoked
    db = store.open_db(":memory:")
    c = contest()
    store.save_contest(db, c, utc(2021, 1, 1))
    summary = poll_once(db, c, feed(env, outside), NOW)
    assert summary.status == "partial" and summary.exit_code == 3
    assert summary.error.startswith("team “Saint-Jean”: Graph API error 190")
    assert store.team_reads(db)[B]["last"]["error_kind"] == "auth"
    assert len(store.team_media(db)) == 4  # team A's posts are stored
    assert TOKEN_B not in dump(db) and TOKEN_B not in summary.line()


def test_an_app_level_throttle_cools_every_team_down(httpserver, real_dir, env, outside):
    httpserver.expect_request(f"/v24.0/{A}").respond_with_json(
        {"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4,
                   "fbtrace_id": "T"}}, status=403)
    serve_team(httpserver, real_dir, B, token=TOKEN_B)
    db = store.open_db(":memory:")
    c = contest()
    store.save_contest(db, c, utc(2021, 1, 1))
    summary = poll_once(db, c, feed(env, outside), NOW)
    assert summary.status == "failed" and summary.cooldown_until is not None
    assert [p for p, _, _ in log(httpserver)] == [f"/v24.0/{A}"]  # B was not called
    again = poll_once(db, c, feed(env, outside), NOW + (summary.cooldown_until - NOW) / 2)
    assert again.status == "skipped" and len(httpserver.log) == 1


def throttle_account_a(httpserver, real_dir, minutes):
    """Team A's account answers 80002 asking for ``minutes`` of rest; team B reads fine."""
    httpserver.expect_request(f"/v24.0/{A}").respond_with_json(
        {"error": {"message": "(#80002) There have been too many calls to this Instagram account", "code": 80002,
                   "type": "OAuthException", "fbtrace_id": "T"}}, status=400,
        headers={"X-Business-Use-Case-Usage": json.dumps(
            {A: [{"type": "instagram", "call_count": 100, "total_cputime": 1, "total_time": 1,
                  "estimated_time_to_regain_access": minutes}]})})
    serve_team(httpserver, real_dir, B, token=TOKEN_B)
    db = store.open_db(":memory:")
    c = contest()
    store.save_contest(db, c, utc(2021, 1, 1))
    return db, c


def test_an_account_level_throttle_cools_only_that_account(httpserver, real_dir, env, outside):
    db, c = throttle_account_a(httpserver, real_dir, 30)
    summary = poll_once(db, c, feed(env, outside), NOW)
    assert summary.status == "partial"
    assert store.active_cooldown(db, A, NOW)["until"] == utc(2021, 8, 14, 12, 30)
    assert len(store.team_media(db)) == 4  # B was read
    before = len(httpserver.log)
    later = poll_once(db, c, feed(env, outside), utc(2021, 8, 14, 12, 10))
    assert [p for p, _, _ in log(httpserver)[before:]] == [f"/v24.0/{B}", f"/v24.0/{B}/media", f"/v24.0/{B}/media"]
    assert any("3e Avenue" in n and "cooling down" in n for n in later.notes)


def test_usage_headers_stop_the_app_or_only_the_account(httpserver, real_dir, env, outside):
    p1, _ = media_bodies(real_dir, A)
    httpserver.expect_request(f"/v24.0/{A}").respond_with_data(
        user_body(real_dir, A), content_type="application/json",
        headers={"X-Business-Use-Case-Usage": json.dumps({A: [{"call_count": 96, "total_cputime": 1, "total_time": 1}]})})
    serve_team(httpserver, real_dir, B, token=TOKEN_B)
    db = store.open_db(":memory:")
    c = contest()
    store.save_contest(db, c, utc(2021, 1, 1))
    summary = poll_once(db, c, feed(env, outside), NOW)
    assert summary.status == "partial"
    assert store.active_cooldown(db, A, NOW) is not None  # A's own usage at 96 %: only A waits
    assert [p for p, _, _ in log(httpserver)].count(f"/v24.0/{B}/media") == 2


def test_transient_failures_are_retried_and_html_is_not_a_reading(httpserver, real_dir, env, outside):
    answers = iter([Response("<html>502</html>", status=502), Response(user_body(real_dir, A),
                                                                      content_type="application/json")])
    httpserver.expect_request(f"/v24.0/{A}").respond_with_handler(lambda r: next(answers))
    p1, p2 = media_bodies(real_dir, A)
    httpserver.expect_request(f"/v24.0/{A}/media").respond_with_handler(
        lambda r: Response(p2 if r.args.get("after") == "after" else p1, content_type="application/json"))
    serve_team(httpserver, real_dir, B, token=TOKEN_B)
    db = store.open_db(":memory:")
    c = contest()
    store.save_contest(db, c, utc(2021, 1, 1))
    accounts = feed(env, outside, max_attempts=3, sleep=lambda s: None, rand=lambda: 0.0)
    summary = poll_once(db, c, accounts, NOW)
    assert summary.status == "ok" and summary.retries == 1


def test_a_missing_team_token_fails_that_team_only(httpserver, real_dir, env, outside, caplog):
    serve_team(httpserver, real_dir, A)
    del env["DERBY_TOKEN_B"]
    db = store.open_db(":memory:")
    c = contest()
    store.save_contest(db, c, utc(2021, 1, 1))
    with caplog.at_level(logging.DEBUG):
        summary = poll_once(db, c, feed(env, outside), NOW)
    assert summary.status == "partial" and "DERBY_TOKEN_B is not set" in summary.error
    assert FAKE_TOKEN not in caplog.text


def test_make_feed_builds_the_accounts_feed(env):
    assert isinstance(make_feed(FeedConfig(kind="accounts"), env), AccountsFeed)


def test_a_team_accounts_day_long_throttle_is_kept_whole(httpserver, real_dir, env, outside):
    """A team account has no 24-hour window to outrun: its cool-down is never capped
    the way a hashtag account's is."""
    db, c = throttle_account_a(httpserver, real_dir, 1440)
    poll_once(db, c, feed(env, outside), NOW)
    assert store.active_cooldown(db, A, NOW)["until"] == NOW + timedelta(days=1)


def test_a_teams_expired_token_names_the_team_and_its_variable(httpserver, real_dir, env, outside):
    from derby.leaderboard import poll_health

    serve_team(httpserver, real_dir, A)
    expired = json.dumps({"error": {"message": "Error validating access token: Session has expired", "type": "OAuthException",
                                    "code": 190, "error_subcode": 463, "fbtrace_id": "Tr4ce"}})
    httpserver.expect_request(f"/v24.0/{B}").respond_with_response(Response(expired, status=400))
    db = store.open_db(":memory:")
    c = contest()
    store.save_contest(db, c, utc(2021, 1, 1))
    summary = poll_once(db, c, feed(env, outside), NOW)
    assert summary.error == ("team “Saint-Jean”: Graph API error 190 on 17841400000000202: Error validating access token: "
                             "Session has expired (the access token has expired; generate a new long-lived token and "
                             "put it in DERBY_TOKEN_B)")
    assert "INSTAGRAM_ACCESS_TOKEN" not in " ".join([summary.error, *summary.notes])
    assert summary.refused_token_envs == ["DERBY_TOKEN_B"]
    health = poll_health(db, store.load_contest(db), NOW)
    assert health.token_expired and health.expired_team == ("Saint-Jean", "DERBY_TOKEN_B")
