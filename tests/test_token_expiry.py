"""Token expiry: debug_token over a loopback server, stored by fingerprint, warned of
in status, on the board and in the log; secrets never leave."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from derby import board, health, leaderboard, store
from derby.config import GraphSettings
from derby.feeds.graph import GraphFeed
from derby.poll import check_tokens
from derby.tokens import fingerprint
from helpers import contest, utc

TOKEN = "EAAGtokenSECRETvalue123"
APP_ID = "1234567890"
APP_SECRET = "appsecretSECRET987"
NOW = utc(2017, 4, 5, 12)
SOON = int(utc(2017, 4, 9, 12).timestamp())  # 4 days after NOW
LATER = int(utc(2017, 6, 1).timestamp())


def feed(httpserver, app_id=APP_ID):
    base = httpserver.url_for("/v24.0").rstrip("/")
    return GraphFeed(GraphSettings(access_token=TOKEN, user_id="17841400000000000", base_url=base,
                                   app_secret=APP_SECRET, app_id=app_id),
                     sleep=lambda s: None, max_attempts=1)


def answer(httpserver, data, status=200):
    httpserver.expect_request("/v24.0/debug_token").respond_with_data(json.dumps(data), status=status,
                                                                      content_type="application/json")


def db_with_contest():
    db = store.open_db(":memory:")
    store.save_contest(db, contest(), NOW)
    return db


def test_debug_token_asks_with_the_app_token_and_stores_by_fingerprint(httpserver):
    answer(httpserver, {"data": {"app_id": APP_ID, "type": "USER", "is_valid": True, "expires_at": SOON,
                                 "data_access_expires_at": LATER, "scopes": ["instagram_basic"]}})
    db = db_with_contest()
    check_tokens(db, feed(httpserver), [("INSTAGRAM_ACCESS_TOKEN", TOKEN)], NOW)
    request, _ = httpserver.log[0]
    assert request.args["input_token"] == TOKEN and request.args["access_token"] == f"{APP_ID}|{APP_SECRET}"
    rows = store.token_expiries(db)
    assert [(r["fingerprint"], r["label"], r["expires_at"], r["is_valid"]) for r in rows] == [
        (fingerprint(TOKEN), "INSTAGRAM_ACCESS_TOKEN", utc(2017, 4, 9, 12), True)]
    dump = "\n".join(db.iterdump())
    assert TOKEN not in dump and APP_SECRET not in dump


def test_checked_at_most_once_a_day(httpserver):
    answer(httpserver, {"data": {"is_valid": True, "expires_at": 0, "data_access_expires_at": 0}})
    db, f = db_with_contest(), feed(httpserver)
    tokens = [("INSTAGRAM_ACCESS_TOKEN", TOKEN)]
    check_tokens(db, f, tokens, NOW)
    check_tokens(db, f, tokens, utc(2017, 4, 6, 11))
    assert len(httpserver.log) == 1
    check_tokens(db, f, tokens, utc(2017, 4, 6, 12))
    assert len(httpserver.log) == 2
    assert store.token_expiries(db)[0]["expires_at"] is None  # 0: never


def test_not_asked_without_app_id(httpserver):
    db = db_with_contest()
    check_tokens(db, feed(httpserver, app_id=None), [("INSTAGRAM_ACCESS_TOKEN", TOKEN)], NOW)
    assert httpserver.log == [] and store.token_expiries(db) == []


def test_a_refusal_is_a_warning_without_secrets(httpserver, caplog):
    answer(httpserver, {"error": {"message": f"bad app token {APP_ID}|{APP_SECRET} for {TOKEN}", "code": 190,
                                  "type": "OAuthException"}}, status=400)
    db = db_with_contest()
    run = store.start_poll_run(db, "graph", NOW)
    with caplog.at_level(logging.WARNING):
        check_tokens(db, feed(httpserver), [("INSTAGRAM_ACCESS_TOKEN", TOKEN)], NOW, run)
    text = caplog.text + "\n".join(db.iterdump())
    assert "token expiry of INSTAGRAM_ACCESS_TOKEN not checked" in text
    assert TOKEN not in text and APP_SECRET not in text
    assert store.token_expiries(db) == []


def test_expiring_token_warned_in_log_status_and_board(httpserver, caplog):
    answer(httpserver, {"data": {"is_valid": True, "expires_at": SOON, "data_access_expires_at": LATER}})
    db = db_with_contest()
    with caplog.at_level(logging.WARNING):
        check_tokens(db, feed(httpserver), [("INSTAGRAM_ACCESS_TOKEN", TOKEN)], NOW)
    assert "the access token INSTAGRAM_ACCESS_TOKEN expires" in caplog.text
    problems = health.judge(health.gather(db, contest(), NOW))
    assert any(p["level"] == "degraded" and "expires" in p["message"] for p in problems)
    fr = _header(db, NOW, "fr")
    assert "le jeton d'accès INSTAGRAM_ACCESS_TOKEN expire le 9 avril 2017" in fr
    en = _header(db, utc(2017, 4, 10), "en")
    assert "the access token INSTAGRAM_ACCESS_TOKEN has expired" in en
    later = health.judge(health.gather(db, contest(), utc(2017, 4, 10)))
    assert any(p["level"] == "action_needed" and "has expired" in p["message"] for p in later)


def test_data_access_expiry_warned(httpserver):
    answer(httpserver, {"data": {"is_valid": True, "expires_at": 0, "data_access_expires_at": SOON}})
    db = db_with_contest()
    check_tokens(db, feed(httpserver), [("INSTAGRAM_ACCESS_TOKEN", TOKEN)], NOW)
    assert "the data access of token INSTAGRAM_ACCESS_TOKEN expires" in _header(db, NOW, "en")
    assert "expire" not in _header(db, utc(2017, 4, 1), "en")  # more than a week ahead


def test_every_token_passed_in_is_checked(httpserver):
    answer(httpserver, {"data": {"is_valid": True, "expires_at": SOON}})
    db = db_with_contest()
    check_tokens(db, feed(httpserver), [("INSTAGRAM_ACCESS_TOKEN", TOKEN), ("TEAM_A_TOKEN", "EAAGteamA999")], NOW)
    assert sorted(r["label"] for r in store.token_expiries(db)) == ["INSTAGRAM_ACCESS_TOKEN", "TEAM_A_TOKEN"]
    assert {r.args["input_token"] for r, _ in httpserver.log} == {TOKEN, "EAAGteamA999"}


def _header(db, now, lang):
    view = leaderboard.board_view(db, now)
    return "\n".join(line.plain for line in board.header(view, lang, 400))


def test_the_poll_checks_the_feeds_tokens_even_when_it_fails(httpserver):
    from derby.poll import poll_once

    answer(httpserver, {"data": {"is_valid": False, "expires_at": 0}})
    db = db_with_contest()
    summary = poll_once(db, contest(), feed(httpserver), NOW)  # ig_hashtag_search gets the server's 500
    assert summary.status == "failed"
    assert [r["label"] for r in store.token_expiries(db)] == ["INSTAGRAM_ACCESS_TOKEN"]
    assert "no longer valid" in _header(db, NOW, "en")


def test_input_token_parameter_is_redacted():
    from derby.secrets import redact

    assert redact("GET /debug_token?input_token=EAAGabc&access_token=1|s") == "GET /debug_token?input_token=***&access_token=***"


def test_board_says_plainly_when_the_last_poll_was_refused_for_an_expired_token():
    db = db_with_contest()
    run = store.start_poll_run(db, "graph", NOW)
    store.finish_poll_run(db, run, NOW, status="failed", requests=1, error="auth: the access token has expired")
    store.record_poll_outcome(db, run, error_kind="auth", error_code=190, error_subcode=463)
    assert "le jeton d'accès a expiré" in _header(db, NOW, "fr")
    assert "the access token has expired" in _header(db, NOW, "en")


def test_a_team_contest_checks_each_facebook_login_teams_token(httpserver):
    from derby.feeds.accounts import AccountsFeed
    from derby.teams import Team

    answer(httpserver, {"data": {"is_valid": True, "expires_at": SOON}})
    env = {"DERBY_GRAPH_URL": httpserver.url_for("/v24.0").rstrip("/"), "INSTAGRAM_APP_ID": APP_ID,
           "INSTAGRAM_APP_SECRET": APP_SECRET, "TEAM_A_TOKEN": "EAAGteamA999", "TEAM_B_TOKEN": "IGQteamB"}
    teams = [Team("A", "111", "TEAM_A_TOKEN"), Team("B", "222", "TEAM_B_TOKEN", login="instagram"),
             Team("C", "333", "TEAM_C_TOKEN")]
    f = AccountsFeed(env, sleep=lambda s: None, max_attempts=1)
    assert f.team_tokens(teams) == [("TEAM_A_TOKEN", "EAAGteamA999")]  # B: Instagram Login, C: not set
    db = db_with_contest()
    check_tokens(db, f, f.team_tokens(teams), NOW)
    assert [r["label"] for r in store.token_expiries(db)] == ["TEAM_A_TOKEN"]
    assert httpserver.log[0][0].args["access_token"] == f"{APP_ID}|{APP_SECRET}"


# -- Instagram Login tokens: the platform never tells; the organizer records the issue date --

IG_TOKEN = "IGQVJsecretINSTAGRAMtoken42"


def _team_db(tmp_path):
    from click.testing import CliRunner

    from derby.cli import cli
    from test_teams_config import TEAMS

    path = tmp_path / "teams.toml"
    path.write_text(TEAMS, encoding="utf-8")
    db = tmp_path / "t.db"
    env = {"DERBY_TOKEN_3E_AVENUE": "EAAGfacebook1", "INSTAGRAM_ACCESS_TOKEN": IG_TOKEN}

    def run(*args, now=None):
        return CliRunner().invoke(cli, ["--db", str(db), *(["--now", now] if now else []), *args], env=env)

    assert run("--now", "2017-03-30T12:00", "init", str(path)).exit_code == 0
    return db, run


def test_token_issued_records_a_60_day_expiry_that_status_warns_of(tmp_path):
    db, run = _team_db(tmp_path)
    recorded = run("token", "issued", "INSTAGRAM_ACCESS_TOKEN", "--at", "2017-04-01T12:00", "--lang", "en",
                   now="2017-04-02T09:00")
    assert recorded.exit_code == 0, recorded.output
    assert ("the token in INSTAGRAM_ACCESS_TOKEN expires 2017-05-31 12:00 (UTC−4) (60 days after 2017-04-01 12:00 "
            "(UTC−4)); derby status, the board and the daemon's log warn from 2017-05-24 12:00 (UTC−4)") in recorded.output
    rows = store.token_expiries(store.open_db(db))
    assert [(r["label"], r["expires_at"], r["fingerprint"], r["source"]) for r in rows] == [
        ("INSTAGRAM_ACCESS_TOKEN", utc(2017, 5, 31, 16), fingerprint(IG_TOKEN), "recorded")]
    assert "derby token issued" not in run("status", "--lang", "en", now="2017-05-20T12:00").output
    soon = run("status", "--lang", "en", now="2017-05-26T12:00")
    assert soon.exit_code == 1
    assert ("warning: the access token INSTAGRAM_ACCESS_TOKEN expires 2017-05-31 12:00 (UTC−4) (recorded with derby "
            "token issued): refresh it (GET https://graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token"
            "&access_token=…), put the new one in INSTAGRAM_ACCESS_TOKEN, then run derby token issued "
            "INSTAGRAM_ACCESS_TOKEN") in soon.output
    french = run("status", now="2017-05-26T12:00").output
    assert "le jeton d'accès INSTAGRAM_ACCESS_TOKEN expire le 31 mai 2017, 12 h 00 (UTC−4)" in french
    expired = run("status", "--lang", "en", now="2017-06-01T12:00")
    assert expired.exit_code == 2 and "has expired" in expired.output
    everything = "\n".join(store.open_db(db).iterdump()) + recorded.output + soon.output + french + expired.output
    assert IG_TOKEN not in everything


def test_token_issued_says_it_in_the_contests_french_and_records_the_english(tmp_path):
    db, run = _team_db(tmp_path)
    said = run("token", "issued", "INSTAGRAM_ACCESS_TOKEN", "--at", "2017-04-01T12:00", now="2017-04-02T09:00").output
    assert ("noté : le jeton de INSTAGRAM_ACCESS_TOKEN expire le 31 mai 2017, 12 h 00 (UTC−4) (60 jours après le "
            "1 avril 2017, 12 h 00 (UTC−4)); derby status, le tableau et le journal du service avertissent à partir du "
            "24 mai 2017, 12 h 00 (UTC−4)") in said
    (row,) = store.audit_log(store.open_db(db), action="token_issued")
    assert "the token in INSTAGRAM_ACCESS_TOKEN expires 2017-05-31 12:00 (UTC−4)" in row["summary"]


def test_token_issued_takes_the_expires_in_of_a_refresh_and_replaces_the_old_tokens_row(tmp_path, monkeypatch):
    db, run = _team_db(tmp_path)
    assert run("token", "issued", "INSTAGRAM_ACCESS_TOKEN", now="2017-04-02T09:00").exit_code == 0
    refreshed = "IGQVJrefreshedTOKEN77"
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", refreshed)
    from click.testing import CliRunner

    from derby.cli import cli

    again = CliRunner().invoke(cli, ["--db", str(db), "--now", "2017-04-20T09:00", "token", "issued",
                                     "INSTAGRAM_ACCESS_TOKEN", "--expires-in", "5183944"])
    assert again.exit_code == 0, again.output
    rows = store.token_expiries(store.open_db(db))
    assert [(r["fingerprint"], r["expires_at"]) for r in rows] == [
        (fingerprint(refreshed), utc(2017, 4, 20, 13) + timedelta(seconds=5183944))]


def test_token_issued_refuses_what_it_cannot_record(tmp_path):
    db, run = _team_db(tmp_path)
    unknown = run("token", "issued", "HOME")
    assert unknown.exit_code == 2
    assert ("HOME is not a token variable of this contest; its token variables: DERBY_TOKEN_3E_AVENUE, "
            "INSTAGRAM_ACCESS_TOKEN") in unknown.stderr
    future = run("token", "issued", "INSTAGRAM_ACCESS_TOKEN", "--at", "2017-04-05T12:00", now="2017-04-02T09:00")
    assert future.exit_code == 2 and "--at 2017-04-05T12:00 is in the future" in future.stderr
    from click.testing import CliRunner

    from derby.cli import cli

    unset = CliRunner().invoke(cli, ["--db", str(db), "token", "issued", "DERBY_TOKEN_3E_AVENUE"],
                               env={"DERBY_TOKEN_3E_AVENUE": ""})
    assert unset.exit_code == 2 and "DERBY_TOKEN_3E_AVENUE is not set" in unset.stderr
    assert store.token_expiries(store.open_db(db)) == []


def test_a_recorded_expiry_is_warned_in_the_log_once_a_day_without_asking_the_platform(httpserver, caplog):
    from derby import tokens as expiry

    db = db_with_contest()
    store.record_token_issued(db, fingerprint(IG_TOKEN), "DERBY_TOKEN_SAINT_JEAN", utc(2017, 4, 9, 12), NOW)
    f = feed(httpserver)
    with caplog.at_level(logging.WARNING):
        check_tokens(db, f, [], utc(2017, 4, 5, 13), told=[("DERBY_TOKEN_SAINT_JEAN", IG_TOKEN)])
        assert caplog.text == ""  # the organizer has just recorded it (and was told when it expires)
        check_tokens(db, f, [], utc(2017, 4, 6, 13), told=[("DERBY_TOKEN_SAINT_JEAN", IG_TOKEN)])
        assert "the access token DERBY_TOKEN_SAINT_JEAN expires" in caplog.text
        caplog.clear()
        check_tokens(db, f, [], utc(2017, 4, 7, 11), told=[("DERBY_TOKEN_SAINT_JEAN", IG_TOKEN)])
        assert caplog.text == ""  # once a day
        check_tokens(db, f, [], utc(2017, 4, 7, 14), told=[("DERBY_TOKEN_SAINT_JEAN", IG_TOKEN)])
        assert "DERBY_TOKEN_SAINT_JEAN" in caplog.text and IG_TOKEN not in caplog.text
    assert httpserver.log == []  # an Instagram Login token is never sent to debug_token
    assert expiry.LONG_LIVED_INSTAGRAM == timedelta(days=60)
