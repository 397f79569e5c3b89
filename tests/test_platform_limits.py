"""Polls against a loopback Graph API: cool-downs that survive a restart, the hashtag
budget, what a poll run records, `derby poll`/`derby init` exit statuses, and a scan
of every output for the token."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from derby import poller, store
from derby.cli import cli
from derby.config import FeedConfig, GraphSettings
from derby.feeds.graph import GraphFeed
from derby.secrets import env_file_warning, redact

from conftest import FAKE_TOKEN
from helpers import FakeTime, contest, utc

USER_ID = "17841405309211844"
SECRET = "appSECRETdoNotLog42"
TAGS = {"socialderby": "17843815927740216", "snq17": "17841563201587473"}
NOW = utc(2017, 4, 3, 16)




def graph_feed(httpserver, secret: str | None = None) -> GraphFeed:
    fake = FakeTime()
    settings = GraphSettings(access_token=FAKE_TOKEN, user_id=USER_ID, base_url=httpserver.url_for("/v24.0").rstrip("/"),
                             app_secret=secret)
    return GraphFeed(settings, sleep=fake.sleep, monotonic=fake.monotonic, rand=lambda: 1.0)


def graph_id(name: str) -> str:
    """A Graph media id (digits) standing for ``name``."""
    return str(int.from_bytes(name.encode(), "big"))


def page(ids, after=None) -> dict:
    body: dict = {"data": [{"id": graph_id(i), "caption": f"Go #socialderby {i}", "timestamp": "2017-04-03T14:05:09+0000",
                            "like_count": 3, "comments_count": 1, "permalink": f"https://www.instagram.com/p/{i}/"}
                           for i in ids]}
    if after:
        body["paging"] = {"cursors": {"after": after},
                          "next": f"https://graph.facebook.com/v24.0/x/recent_media?access_token={FAKE_TOKEN}&after={after}"}
    return body


def serve_contest(httpserver, *, recent=None) -> None:
    """Serve hashtag search and both edges of both contest hashtags (one page each)."""
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_handler(_search_handler)
    for name, tag_id in TAGS.items():
        httpserver.expect_request(f"/v24.0/{tag_id}/recent_media").respond_with_json(recent or page([f"{name}-r1"]))
        httpserver.expect_request(f"/v24.0/{tag_id}/top_media").respond_with_json(page([f"{name}-t1"]))


def _search_handler(request):
    from werkzeug import Response

    return Response(json.dumps({"data": [{"id": TAGS[request.args["q"]]}]}), content_type="application/json")


def error(code, message, subcode=None) -> dict:
    err = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AtraceXYZ"}
    if subcode:
        err["error_subcode"] = subcode
    return {"error": err}


@pytest.fixture
def db():
    database = store.open_db(":memory:")
    yield database
    database.close()


# -- poll runs record what happened ------------------------------------------------------

def test_complete_poll_records_requests_pages_budget_and_usage(httpserver, db):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_handler(_search_handler)
    for name, tag_id in TAGS.items():
        httpserver.expect_request(f"/v24.0/{tag_id}/recent_media").respond_with_json(
            page([f"{name}-r1"]), headers={"X-App-Usage": '{"call_count": 12, "total_cputime": 3, "total_time": 4}'})
        httpserver.expect_request(f"/v24.0/{tag_id}/top_media").respond_with_json(page([f"{name}-t1"]))
    summary = poller.poll_once(db, contest(), graph_feed(httpserver), NOW)
    assert (summary.status, summary.exit_code, summary.pages, summary.requests) == ("ok", 0, 4, 6)
    assert summary.line() == ("poll #1 ok: 4 pages, 6 requests, 4 new and 0 updated media, 4 snapshots, "
                              "API usage 12 %; hashtags 2/30 this week, next slot frees 2017-04-10 12:00 (UTC−4)")
    run = store.poll_run(db, 1)
    assert (run["status"], run["pages"], run["requests"], run["retries"], run["usage_pct"], run["error_kind"]) == \
        ("ok", 4, 6, 0, 12.0, None)
    assert json.loads(run["usage"])["app"] == {"call_count": 12, "total_cputime": 3, "total_time": 4}


def test_no_usage_header_is_recorded_as_unknown_not_zero(httpserver, db):
    serve_contest(httpserver)
    poller.poll_once(db, contest(), graph_feed(httpserver), NOW)
    run = store.poll_run(db, 1)
    assert (run["usage"], run["usage_pct"]) == (None, None)


def test_failure_mid_poll_keeps_stored_pages_and_records_the_error(httpserver, db):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_handler(_search_handler)
    httpserver.expect_request(f"/v24.0/{TAGS['socialderby']}/recent_media").respond_with_json(page(["a1", "a2"]))
    httpserver.expect_request(f"/v24.0/{TAGS['socialderby']}/top_media").respond_with_json(
        error(2, "Service temporarily unavailable"), status=503)
    summary = poller.poll_once(db, contest(), graph_feed(httpserver), NOW)
    # #snq17 is still read after #socialderby's failure (here it fails too: no handler, HTTP 500)
    assert (summary.status, summary.exit_code, summary.pages, summary.retries) == ("partial", 3, 1, 6)
    assert f"/v24.0/{TAGS['snq17']}/recent_media" in [request.path for request, _ in httpserver.log]
    assert [n.split(":")[0] for n in summary.notes if "not fully read" in n] == ["#socialderby not fully read",
                                                                                "#snq17 not fully read"]
    assert store.counts(db)["media"] == 2
    run = store.poll_run(db, 1)
    assert (run["status"], run["error_kind"], run["error_code"], run["fbtrace_id"], run["error_endpoint"], run["retries"]) == \
        ("partial", "transient", 2, "AtraceXYZ", f"{TAGS['socialderby']}/top_media", 6)
    assert run["error"] == (f"Graph API error 2 on {TAGS['socialderby']}/top_media: Service temporarily unavailable "
                            "(gave up after 4 attempts)")
    assert store.active_cooldown(db, USER_ID, NOW) is None  # transient failures set no cool-down


# -- throttling: a cool-down, and no request at all until it passes -------------------------

def test_throttle_records_a_cooldown_and_later_polls_make_no_request_even_after_restart(httpserver, tmp_path):
    path = tmp_path / "d.db"
    db = store.open_db(path)
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(
        error(4, "(#4) Application request limit reached"), status=403)
    summary = poller.poll_once(db, contest(), graph_feed(httpserver), NOW)
    assert (summary.status, summary.exit_code, summary.error_kind) == ("failed", 3, "throttled")
    assert summary.cooldown_until == NOW + timedelta(hours=1)
    assert summary.error.endswith("; no request until 2017-04-03 13:00 (UTC−4)")
    assert len(httpserver.log) == 1
    db.close()

    db = store.open_db(path)  # a restart: a new process opens the database again
    later = NOW + timedelta(minutes=59)
    summary = poller.poll_once(db, contest(), graph_feed(httpserver), later)
    assert (summary.status, summary.exit_code, summary.requests, summary.error_kind) == ("skipped", 3, 0, "cooldown")
    assert summary.error == ("cooling down until 2017-04-03 13:00 (UTC−4) (Graph API error 4 on ig_hashtag_search: "
                             "(#4) Application request limit reached); no request made")
    assert len(httpserver.log) == 1
    assert store.poll_run(db, 2)["status"] == "skipped"

    httpserver.clear()
    serve_contest(httpserver)
    summary = poller.poll_once(db, contest(), graph_feed(httpserver), NOW + timedelta(hours=1))
    assert summary.status == "ok" and len(httpserver.log) == 6
    db.close()


def test_regain_time_from_the_header_sets_the_cooldown(httpserver, db):
    usage = json.dumps({USER_ID: [{"type": "instagram", "call_count": 100, "total_cputime": 5, "total_time": 5,
                                   "estimated_time_to_regain_access": 90}]})
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(
        error(80002, "There have been too many calls to this Instagram account."), status=400,
        headers={"X-Business-Use-Case-Usage": usage})
    run = store.start_poll_run(db, "graph", NOW - timedelta(hours=1))  # both hashtags read in full an hour ago
    for name in contest().hashtags:
        store.record_coverage(db, run, name, NOW - timedelta(hours=1))
    store.finish_poll_run(db, run, NOW - timedelta(hours=1), status="ok", requests=4)
    summary = poller.poll_once(db, contest(), graph_feed(httpserver), NOW)
    assert summary.cooldown_until == NOW + timedelta(minutes=90)
    cooldown = store.active_cooldown(db, USER_ID, NOW)
    assert (cooldown["until"], cooldown["poll_run_id"]) == (NOW + timedelta(minutes=90), 2)
    assert store.poll_run(db, 2)["usage_pct"] == 100.0


def test_cooldown_belongs_to_one_account(db):
    store.start_cooldown(db, "111", NOW, NOW + timedelta(hours=1), "throttled")
    assert store.active_cooldown(db, "222", NOW) is None
    assert store.active_cooldown(db, "111", NOW + timedelta(hours=1)) is None


# -- the hashtag budget ------------------------------------------------------------------------

def fill_budget(db, n: int, start=NOW - timedelta(days=6)) -> None:
    for i in range(n):
        store.record_hashtag_query(db, USER_ID, f"tag{i:02d}", start + timedelta(hours=i))


def test_budget_counts_unique_hashtags_in_a_rolling_week(db):
    fill_budget(db, 3)
    store.record_hashtag_query(db, USER_ID, "tag00", NOW - timedelta(days=1))  # queried again: counted once, later
    store.record_hashtag_query(db, USER_ID, "old", NOW - timedelta(days=8))
    store.record_hashtag_query(db, "999", "other-account", NOW)
    budget = store.hashtag_budget(db, USER_ID, NOW)
    assert (budget.used, budget.free, budget.hashtags) == (3, 27, ("tag01", "tag02", "tag00"))
    assert budget.next_free == NOW - timedelta(days=6) + timedelta(hours=1) + timedelta(days=7)


def test_known_hashtag_id_still_counts_when_queried(httpserver, db):
    for name, tag_id in TAGS.items():
        store.save_hashtag_id(db, name, tag_id, NOW - timedelta(days=30))
    serve_contest(httpserver)
    poller.poll_once(db, contest(), graph_feed(httpserver), NOW)
    assert all(r.path != "/v24.0/ig_hashtag_search" for r, _ in httpserver.log)
    assert store.hashtag_budget(db, USER_ID, NOW).hashtags == ("snq17", "socialderby")


def test_poll_refuses_a_31st_hashtag_without_any_request(httpserver, db):
    fill_budget(db, 30)
    summary = poller.poll_once(db, contest(), graph_feed(httpserver), NOW)
    assert (summary.status, summary.exit_code, summary.error_kind, summary.requests) == ("failed", 3, "budget", 0)
    assert summary.error == (f"#socialderby would be hashtag 31 of account {USER_ID} this week; the platform allows 30; "
                             "the next slot frees 2017-04-04 12:00 (UTC−4)")
    assert summary.line().endswith("hashtags 30/30 this week, next slot frees 2017-04-04 12:00 (UTC−4); error: " + summary.error)
    assert httpserver.log == []


def test_hashtags_already_counted_are_free_to_poll_at_30(httpserver, db):
    fill_budget(db, 28)
    store.record_hashtag_query(db, USER_ID, "socialderby", NOW - timedelta(days=2))
    store.record_hashtag_query(db, USER_ID, "snq17", NOW - timedelta(days=2))
    serve_contest(httpserver)
    summary = poller.poll_once(db, contest(), graph_feed(httpserver), NOW)
    assert summary.status == "ok" and summary.budget.used == 30


def test_check_contest_budget_names_free_slots_and_next_free():
    db = store.open_db(":memory:")
    fill_budget(db, 29)
    with pytest.raises(Exception) as info:
        poller.check_contest_budget(db, contest(), USER_ID, NOW)
    assert info.value.exit_code == 2
    assert str(info.value) == (f"the contest needs 2 new hashtags but account {USER_ID} has 1 of 30 free this week "
                               "(29 used in the last 7 days); the next slot frees 2017-04-04 12:00 (UTC−4); drop hashtags or wait")
    assert poller.check_contest_budget(db, contest(hashtags=("snq17",)), USER_ID, NOW).used == 29


def test_check_contest_budget_without_account_checks_the_contest_alone(db):
    assert poller.check_contest_budget(db, contest(), None, NOW) is None
    with pytest.raises(Exception) as info:
        poller.check_contest_budget(db, contest(hashtags=tuple(f"t{i}" for i in range(31))), None, NOW)
    assert str(info.value) == "the contest lists 31 hashtags; an Instagram account may query only 30 unique hashtags in 7 days"


# -- the command line: exit statuses ------------------------------------------------------------

GRAPH_TOML = """
[contest]
title = "Graph Derby"
hashtags = ["socialderby", "snq17"]
timezone = "America/Toronto"
start = "2017-04-01T00:00:00"
end = "2017-04-09T23:59:59"

[feed]
kind = "graph"
timeout = 5
deadline = 30
"""


@pytest.fixture
def graph_env(httpserver, monkeypatch, tmp_path):
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("INSTAGRAM_USER_ID", USER_ID)
    monkeypatch.setenv("INSTAGRAM_APP_SECRET", SECRET)
    monkeypatch.setenv("DERBY_GRAPH_URL", httpserver.url_for("/v24.0"))
    toml = tmp_path / "graph.toml"
    toml.write_text(GRAPH_TOML)
    db = tmp_path / "g.db"
    result = CliRunner().invoke(cli, ["--db", str(db), "init", str(toml)])
    assert result.exit_code == 0, result.output
    return db


def poll(db) -> object:
    return CliRunner().invoke(cli, ["--db", str(db), "poll", "--lang", "en"])


def test_poll_exit_0_when_complete(httpserver, graph_env):
    serve_contest(httpserver)
    result = poll(graph_env)
    assert result.exit_code == 0, result.output
    first, *notes = result.output.splitlines()
    assert re.fullmatch(r"poll #1 ok: 4 pages, 6 requests, 4 new and 0 updated media, 4 snapshots; "
                        r"hashtags 2/30 this week, next slot frees \d{4}-\d\d-\d\d \d\d:\d\d \(UTC−[45]\)", first)
    # The 2017 contest polled today: nothing of its window was ever reachable (issue 5's coverage gaps).
    assert notes == [f"note: coverage gap on #{h}: posts published from 2017-04-01 00:00 (UTC−4) to 2017-04-09 23:59 "
                     f"(UTC−4) (216.0 h) were never reachable and may be lost" for h in ("socialderby", "snq17")]


def test_poll_exit_3_when_throttled_then_no_request_on_the_next_poll(httpserver, graph_env):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(error(17, "(#17) User request limit reached"), status=403)
    first = poll(graph_env)
    assert first.exit_code == 3
    assert "error: Graph API error 17 on ig_hashtag_search: (#17) User request limit reached; no request until " in first.output
    assert "derby: code 17, fbtrace_id AtraceXYZ, endpoint ig_hashtag_search (quote these when asking Meta for help)" in first.output
    second = poll(graph_env)
    assert second.exit_code == 3 and "no request made" in second.output
    assert len(httpserver.log) == 1


def test_poll_exit_4_when_the_token_expired(httpserver, graph_env):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(
        error(190, "Error validating access token: Session has expired", 463), status=400)
    result = poll(graph_env)
    assert result.exit_code == 4
    assert "(the access token has expired; generate a new long-lived token and put it in INSTAGRAM_ACCESS_TOKEN)" in result.output


def test_poll_exit_4_when_a_permission_is_missing(httpserver, graph_env):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(error(10, "(#10) no permission"), status=403)
    assert poll(graph_env).exit_code == 4


def test_poll_exit_2_for_a_bad_request(httpserver, graph_env):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(error(100, "(#100) Invalid user id"), status=400)
    result = poll(graph_env)
    assert result.exit_code == 2 and "Graph API error 100 on ig_hashtag_search: (#100) Invalid user id" in result.output


def test_poll_exit_2_when_the_token_is_not_configured(graph_env, monkeypatch):
    monkeypatch.delenv("INSTAGRAM_ACCESS_TOKEN")
    result = poll(graph_env)
    assert result.exit_code == 2
    assert result.output == "derby: INSTAGRAM_ACCESS_TOKEN is not set; put it in .env (derby init --example-env writes an example)\n"


def test_init_refuses_a_contest_beyond_the_free_budget(graph_env, tmp_path):
    db = store.open_db(graph_env)
    from derby import clock

    now = clock.utcnow()
    fill_budget(db, 29, start=now - timedelta(days=1))
    db.close()
    result = CliRunner().invoke(cli, ["--db", str(graph_env), "init", str(tmp_path / "graph.toml")])
    # socialderby and snq17 were not queried yet: 2 needed, 1 free
    assert result.exit_code == 2
    assert f"the contest needs 2 new hashtags but account {USER_ID} has 1 of 30 free this week (29 used in the last 7 days)" \
        in result.output
    assert "the next slot frees " in result.output and "Traceback" not in result.output


def test_init_reports_the_budget(graph_env, tmp_path):
    result = CliRunner().invoke(cli, ["--db", str(graph_env), "init", str(tmp_path / "graph.toml")])
    assert result.exit_code == 0
    assert f"Hashtag budget of account {USER_ID}: 0/30 used this week, 2 more needed by this contest." in result.output


# -- secrets: a scan of everything derby writes ---------------------------------------------------

def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_token_never_reaches_logs_messages_database_or_exports(httpserver, graph_env, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr("derby.feeds.graph.random.random", lambda: 0.0)  # the retry below waits 0 s
    leaky = f"Invalid OAuth access token - Cannot parse access token: {FAKE_TOKEN}"
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_handler(_search_handler)
    tag = TAGS["socialderby"]
    httpserver.expect_oneshot_request(f"/v24.0/{tag}/recent_media").respond_with_json(page(["p1"], after="c1"))
    httpserver.expect_oneshot_request(f"/v24.0/{tag}/recent_media").respond_with_data("<html>502</html>", status=502)
    httpserver.expect_request(f"/v24.0/{tag}/recent_media").respond_with_json(page(["p2"], after="c2"))
    httpserver.expect_request(f"/v24.0/{tag}/top_media").respond_with_json(page(["p3"]))
    httpserver.expect_request(f"/v24.0/{TAGS['snq17']}/recent_media").respond_with_json(page(["p4"]))
    httpserver.expect_request(f"/v24.0/{TAGS['snq17']}/top_media").respond_with_json(error(190, leaky, 467), status=400)
    runner = CliRunner()
    polled = runner.invoke(cli, ["--db", str(graph_env), "poll"])
    assert polled.exit_code == 4
    assert "Cannot parse access token: ***" in polled.output
    outputs = [polled.output]
    for fmt in ("csv", "json"):
        out = tmp_path / f"winners.{fmt}"
        exported = runner.invoke(cli, ["--db", str(graph_env), "export", str(out)])
        assert exported.exit_code == 0, exported.output
        outputs.append(exported.output)
    board = runner.invoke(cli, ["--db", str(graph_env), "leaderboard", "--all", "--format", "json"])
    outputs.append(board.output)
    for command in ([], ["init"], ["poll"], ["run"], ["leaderboard"], ["export"], ["demo"]):
        outputs.append(runner.invoke(cli, [*command, "--help"]).output)
    # urllib3 logged each request line with its query string; the filter removed the secrets
    assert any("GET /v24.0/ig_hashtag_search" in r.getMessage() for r in caplog.records)
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    everything = "\n".join(outputs) + logged
    for secret in (FAKE_TOKEN, SECRET):
        assert secret not in everything
        assert secret.encode() not in _all_bytes(tmp_path)  # database, its WAL, the exports
    assert "access_token=***" in logged
    # the proof is derived from the token: it must not be logged either
    assert re.search(r"appsecret_proof=[0-9a-f]{64}", everything) is None


def test_requests_errors_are_redacted_in_poll_output(graph_env, monkeypatch):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DERBY_GRAPH_URL", f"http://127.0.0.1:{port}/v24.0")
    db = store.open_db(graph_env)
    store.save_contest(db, store.load_contest(db).__class__(**{**store.load_contest(db).__dict__,
                                                                "feed": FeedConfig(kind="graph", timeout=1, deadline=1)}),
                       NOW)
    db.close()
    result = poll(graph_env)
    assert result.exit_code == 3
    assert "cannot reach 127.0.0.1 (connection refused) calling ig_hashtag_search; Meta was not reached" in result.output
    assert FAKE_TOKEN not in result.output and "quote these when asking Meta" not in result.output


def test_redact_removes_parameters_and_values():
    text = f"https://x/y?access_token={FAKE_TOKEN}&appsecret_proof=abc123&after=c1 and {FAKE_TOKEN} again"
    assert redact(text, FAKE_TOKEN) == "https://x/y?access_token=***&appsecret_proof=***&after=c1 and *** again"
    assert redact("access_token%3DEAAsecret%26x", None) == "access_token%3D***%26x"


def test_redact_finds_every_encoding_of_a_secret():
    import base64
    import json
    from urllib.parse import quote, quote_plus

    secret = 'EAAtrialSECRET+/=x "q\\'
    forms = [secret, quote(secret, safe=""), quote(secret, safe="").lower(), quote_plus(secret),
             quote(quote(secret, safe=""), safe=""), json.dumps(secret)[1:-1], json.dumps(secret).replace("/", "\\/")[1:-1],
             json.dumps(secret, ensure_ascii=True).replace("+", "\\u002b")[1:-1], base64.b64encode(secret.encode()).decode(),
             base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")]
    for form in forms:
        assert redact(f"<{form}>", secret) == "<***>", form


def test_env_file_readable_by_others_is_warned_about(tmp_path):
    env = tmp_path / ".env"
    env.write_text(f"INSTAGRAM_ACCESS_TOKEN={FAKE_TOKEN}\n")
    env.chmod(0o644)
    assert env_file_warning(env) == (f"warning: {env} is readable by other users (mode 644) and holds the access token; "
                                     f"run: chmod 600 {env}")
    env.chmod(0o600)
    assert env_file_warning(env) is None
    assert env_file_warning(tmp_path / "missing.env") is None


def test_main_warns_about_a_shared_env_file_without_showing_it(tmp_path, monkeypatch, capsys):
    from derby import cli as cli_module

    env = tmp_path / ".env"
    env.write_text(f"INSTAGRAM_ACCESS_TOKEN={FAKE_TOKEN}\nINSTAGRAM_USER_ID={USER_ID}\n")
    env.chmod(0o640)
    monkeypatch.setattr(sys, "argv", ["derby", "--help"])
    with pytest.raises(SystemExit) as info:
        cli_module.main()
    assert info.value.code == 0
    captured = capsys.readouterr()
    assert captured.err == (f"derby: warning: {env} is readable by other users (mode 640) and holds the access token; "
                            f"run: chmod 600 {env}\n")
    assert FAKE_TOKEN not in captured.out + captured.err
    os.environ.pop("INSTAGRAM_ACCESS_TOKEN", None)
    os.environ.pop("INSTAGRAM_USER_ID", None)


def test_daemon_stops_when_the_token_needs_a_person(httpserver, tmp_path):
    path = tmp_path / "d.db"
    db = store.open_db(path)
    store.save_contest(db, contest(), NOW)
    db.close()
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(
        error(190, "Error validating access token: Session has expired", 463), status=400)
    seen = []
    outcome = poller.run(path, lambda: graph_feed(httpserver), lambda: NOW, interval=60, on_poll=seen.append)
    assert outcome == "auth"
    assert [(s.status, s.exit_code) for s in seen] == [("failed", 4)]
    assert len(httpserver.log) == 1


def test_derby_run_exits_4_when_the_token_expired(httpserver, graph_env):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(
        error(190, "Error validating access token: Session has expired", 463), status=400)
    result = CliRunner().invoke(cli, ["--db", str(graph_env), "run", "--every", "2h"])
    assert result.exit_code == 4
    assert result.output.splitlines()[-1] == ("derby: stopped: the token or its permissions need a person (see the "
                                              "last poll above); fix them, then run again")
    assert FAKE_TOKEN not in result.output


def test_daemon_goes_on_after_a_bad_request(httpserver, tmp_path):
    import threading

    path = tmp_path / "d.db"
    db = store.open_db(path)
    store.save_contest(db, contest(), NOW)
    db.close()
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(error(100, "(#100) Invalid parameter"), status=400)
    stop = threading.Event()
    seen = []

    def on_poll(summary):
        seen.append((summary.status, summary.exit_code))
        if len(seen) == 2:
            stop.set()

    outcome = poller.run(path, lambda: graph_feed(httpserver), lambda: NOW, interval=0.05, on_poll=on_poll, stop=stop)
    assert outcome == "stopped"
    assert seen == [("failed", 2), ("failed", 2)]


def test_a_refused_connection_is_one_short_line_and_spends_no_hashtag_slot(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there now
    settings = GraphSettings(access_token=FAKE_TOKEN, user_id=USER_ID, base_url=f"http://127.0.0.1:{port}/v24.0")
    fake = FakeTime()
    feed = GraphFeed(settings, timeout=5, deadline=60, max_attempts=2, sleep=fake.sleep, monotonic=fake.monotonic)
    db = store.open_db(tmp_path / "d.db")
    store.save_contest(db, contest(feed=FeedConfig(kind="graph")), NOW)
    summary = poller.poll_once(db, contest(feed=FeedConfig(kind="graph")), feed, NOW)
    assert summary.status == "failed"
    assert store.hashtag_budget(db, USER_ID, NOW).used == 0  # Meta never saw these queries
    first_note = summary.notes[0]
    assert first_note.startswith(f"#socialderby not fully read: cannot reach 127.0.0.1 (connection refused) calling "
                                 "ig_hashtag_search; Meta was not reached")
    assert len(first_note) < 160 and "Max retries" not in first_note and FAKE_TOKEN not in first_note


def test_retry_after_a_day_is_capped_before_posts_leave_the_24_hours_and_said_loudly(httpserver, db):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_data("", status=429, headers={"Retry-After": "86400"})
    run = store.start_poll_run(db, "graph", NOW - timedelta(hours=2))
    for name in contest().hashtags:
        store.record_coverage(db, run, name, NOW - timedelta(hours=2))
    store.finish_poll_run(db, run, NOW - timedelta(hours=2), status="ok", requests=4)
    summary = poller.poll_once(db, contest(), graph_feed(httpserver), NOW)
    # last full read 2 h ago: its newest unread posts leave the 24 h in 22 h; less one interval (30 min)
    assert summary.cooldown_until == NOW + timedelta(hours=21, minutes=30)
    assert any("the platform asked for no request until" in n and "may be lost" in n for n in summary.notes)


def test_a_long_wait_is_never_cut_below_an_hour(httpserver, db):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_data("", status=429, headers={"Retry-After": "86400"})
    summary = poller.poll_once(db, contest(), graph_feed(httpserver), NOW)  # never read: the cap is already due
    assert summary.cooldown_until == NOW + timedelta(hours=1)


def test_a_short_retry_after_is_waited_out_inside_the_poll(httpserver):
    from email.utils import format_datetime

    fake = FakeTime()
    wall = NOW
    httpserver.expect_oneshot_request("/v24.0/ig_hashtag_search").respond_with_data(
        "", status=429, headers={"Retry-After": format_datetime(wall + timedelta(seconds=12), usegmt=True)})
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json({"data": [{"id": "42"}]})
    settings = GraphSettings(access_token=FAKE_TOKEN, user_id=USER_ID, base_url=httpserver.url_for("/v24.0").rstrip("/"))
    feed = GraphFeed(settings, sleep=fake.sleep, monotonic=fake.monotonic, rand=lambda: 1.0, wall=lambda: wall)
    assert feed.resolve_hashtag("socialderby") == "42"
    assert fake.sleeps == [12.0] and feed.retries == 1 and len(httpserver.log) == 2


def test_main_names_an_env_line_it_cannot_read_and_a_token_with_a_space_without_showing_them(tmp_path, monkeypatch, capsys):
    from derby import cli as cli_module

    env = tmp_path / ".env"
    env.write_text('# settings\nINSTAGRAM_ACCESS_TOKEN="EAAtrialSECRET"quote"\nDERBY_TOKEN_B=EAAteam SECRETtwo\n')
    env.chmod(0o600)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INSTAGRAM_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("DERBY_TOKEN_B", raising=False)
    monkeypatch.setattr(sys, "argv", ["derby", "--help"])
    try:
        with pytest.raises(SystemExit) as info:
            cli_module.main()
        assert info.value.code == 0
        err = capsys.readouterr().err
        assert err == (f"derby: warning: {env} line 2 could not be read (INSTAGRAM_ACCESS_TOKEN=…): check its quotes; "
                       "the line was ignored\n"
                       "derby: warning: DERBY_TOKEN_B holds a space or line break inside it; an access token has none "
                       f"(check {env})\n")
        assert "SECRET" not in err
    finally:
        os.environ.pop("DERBY_TOKEN_B", None)
