"""Refreshes by id through the Graph feed against a loopback server (pytest-httpserver),
answering with bodies shaped like the recorded mentioned_media.json and medias_p1.json:
mention refreshes past 24 hours, gone posts, refusals, permissions, throttling, the
final sweep and Business Discovery."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
import requests
from werkzeug import Response

from conftest import FAKE_TOKEN, utc
from derby import leaderboard, store
from derby.config import Contest, FeedConfig, GraphSettings, RefreshConfig
from derby.feeds.graph import GraphFeed
from derby.feeds.refresh import parse_business_discovery, parse_mentioned_media
from derby.poller import poll_once
from helpers import media, page

USER_ID = "17841406338772941"
TAG_ID = "17841562426109234"
START, END = utc(2017, 4, 1, 4), utc(2017, 4, 10, 3, 59, 59)
CONTEST = Contest(title="Derby test", hashtags=("socialderby",), timezone="America/Toronto", start=START, end=END,
                  feed=FeedConfig(kind="graph"), refresh=RefreshConfig(max_requests=10))


def mention_body(media_id, likes, comments=2, username="ami_du_derby", caption="Merci snq_officiel #socialderby"):
    return {"mentioned_media": {"caption": caption, "comments_count": comments, "id": media_id, "like_count": likes,
                                "media_type": "IMAGE", "timestamp": "2017-04-02T16:00:00+0000", "username": username},
            "id": USER_ID}


def error(code, message, subcode=None, status=400):
    err = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AtraceXYZ"}
    if subcode is not None:
        err["error_subcode"] = subcode
    return Response(json.dumps({"error": err}), status=status, content_type="application/json")


class Graph:
    """The loopback Graph API: empty hashtag edges, the account's username, and the
    answers given per mentioned media id (or Business Discovery username)."""

    def __init__(self, httpserver):
        self.answers: dict[str, object] = {}
        self.calls: list[str] = []
        httpserver.expect_request(f"/v24.0/{TAG_ID}/recent_media").respond_with_json({"data": []})
        httpserver.expect_request(f"/v24.0/{TAG_ID}/top_media").respond_with_json({"data": []})
        httpserver.expect_request(f"/v24.0/{USER_ID}").respond_with_handler(self.handle)
        self.base = httpserver.url_for("/v24.0").rstrip("/")

    def handle(self, request):
        fields = request.args.get("fields", "")
        assert request.args.get("access_token") == FAKE_TOKEN
        self.calls.append(fields)
        if fields == "username":
            return Response(json.dumps({"username": "SNQ_Officiel", "id": USER_ID}), content_type="application/json")
        key = fields.split("(")[1].split(")")[0]
        answer = self.answers.get(key, error(100, "Unsupported get request", status=400))
        if isinstance(answer, Response):
            return answer
        return Response(json.dumps(answer), content_type="application/json")

    def feed(self):
        session = requests.Session()
        settings = GraphSettings(access_token=FAKE_TOKEN, user_id=USER_ID, base_url=self.base)
        return GraphFeed(settings, session=session, max_attempts=1)


@pytest.fixture
def graph(httpserver):
    return Graph(httpserver)


@pytest.fixture
def db(tmp_path):
    database = store.open_db(tmp_path / "r.db")
    store.save_contest(database, CONTEST, START - timedelta(days=1))
    store.save_hashtag_id(database, "socialderby", TAG_ID, START)
    run = store.start_poll_run(database, "graph", utc(2017, 4, 2, 20))
    store.save_page(database, run, "socialderby", "recent_media", page(
        media("1001", caption="Merci snq_officiel #socialderby", like_count=10),    # mentions, bare
        media("1002", caption="#socialderby avec @SNQ_Officiel", like_count=20),    # mentions, with @
        media("1003", caption="#socialderby sans mention", like_count=30),           # cannot be refreshed
        media("1004", caption="#socialderby merci snq_officiel", like_count=500)),  # will be gone
        utc(2017, 4, 2, 20))
    store.finish_poll_run(database, run, utc(2017, 4, 2, 20), status="ok", requests=2)
    yield database
    database.close()


def test_mention_refreshes_past_24_hours_record_gone_and_refusals_and_stop_asking(db, graph):
    graph.answers = {"1001": mention_body("1001", 95), "1004": error(100, "Object does not exist", 33)}
    summary = poll_once(db, CONTEST, graph.feed(), utc(2017, 4, 5, 12))  # two and a half days later
    assert summary.status == "ok" and summary.refreshes == 3
    assert "3 refreshes" in summary.line()
    assert store.organizer_username(db, USER_ID) == "snq_officiel"  # validated, lower case, read once
    board = leaderboard.standings(db, utc(2017, 4, 5, 12))
    by_id = {e.media_id: e for e in board.entries}
    assert (by_id["1001"].like_count, by_id["1001"].username) == (95, "ami_du_derby")
    assert board.freshness["1001"].source == "mentioned_media"
    assert board.freshness["1001"].read_at == utc(2017, 4, 5, 12)
    assert "gone" in by_id["1004"].flags and by_id["1004"].rank == 1  # still ranked, but flagged
    outcomes = {(r["media_id"], r["outcome"]) for r in db.query("SELECT media_id, outcome FROM media_outcomes")}
    assert outcomes == {("1004", "gone"), ("1002", "not_refreshable")}
    assert "stale" in by_id["1003"].flags and "stale" not in by_id["1001"].flags
    asked = len(graph.calls)
    # an hour later: 1001 is not due yet (every 6 h); 1002 and 1004 are never asked again
    assert poll_once(db, CONTEST, graph.feed(), utc(2017, 4, 5, 13)).refreshes == 0
    assert len(graph.calls) == asked
    # seven hours later 1001 is due again, and only it
    graph.answers["1001"] = mention_body("1001", 120)
    assert poll_once(db, CONTEST, graph.feed(), utc(2017, 4, 5, 19)).refreshes == 1
    assert graph.calls[-1] == "mentioned_media.media_id(1001){id,caption,like_count,comments_count,media_type,timestamp,username}"


def test_an_entrant_list_naming_someone_else_keeps_its_name_and_flags_the_mismatch(db, graph):
    store.import_entrants(db, [{"line": 2, "username": "marie", "shortcode": "C1001"}], utc(2017, 4, 3), by="test")
    graph.answers = {"1001": mention_body("1001", 95, username="quelqu.un")}
    poll_once(db, CONTEST, graph.feed(), utc(2017, 4, 5, 12))
    entry = next(e for e in leaderboard.standings(db, utc(2017, 4, 5, 12)).entries if e.media_id == "1001")
    assert entry.username == "marie" and "entrant_mismatch" in entry.flags


def test_a_missing_permission_turns_mention_refreshes_off_and_hashtags_go_on(db, graph):
    graph.answers = {"1001": error(10, "(#10) Application does not have permission for this action", status=403)}
    summary = poll_once(db, CONTEST, graph.feed(), utc(2017, 4, 5, 12))
    assert summary.status == "ok" and summary.pages == 2
    assert any("lacks the permission for mentioned_media refreshes (instagram_manage_comments)" in n
               for n in summary.notes)
    assert "mentioned_media" in store.disabled_sources(db)
    from derby import health

    problems = health.judge(health.gather(db, CONTEST, utc(2017, 4, 5, 13), None, USER_ID))
    assert any(p["message"].startswith("mentioned_media refreshes are off since 2017-04-05 08:00 (UTC−4)")
               for p in problems)
    import io

    from rich.console import Console

    from derby import board as drawing

    console = Console(file=io.StringIO(), width=160, force_terminal=False, color_system=None)
    console.print(drawing.render(leaderboard.board_view(db, utc(2017, 4, 5, 13)), "en", console))
    assert "⚠ mentioned_media refreshes off: a permission is missing (see derby status)" in console.file.getvalue()
    asked = len(graph.calls)
    assert poll_once(db, CONTEST, graph.feed(), utc(2017, 4, 5, 20)).refreshes == 0
    assert len(graph.calls) == asked


def test_throttling_during_refreshes_records_the_cool_down(db, graph):
    graph.answers = {"1001": error(4, "Application request limit reached")}
    summary = poll_once(db, CONTEST, graph.feed(), utc(2017, 4, 5, 12))
    assert summary.status == "partial" and summary.cooldown_until is not None
    assert store.active_cooldown(db, USER_ID, utc(2017, 4, 5, 12, 30)) is not None


def test_the_final_sweep_counts_as_the_engagement_at_the_freeze(db, graph):
    graph.answers = {"1001": mention_body("1001", 300), "1002": mention_body("1002", 40)}
    after = END + timedelta(hours=3)
    summary = poll_once(db, CONTEST, graph.feed(), after)
    assert "final sweep: 3 of 3 refreshable entries read" in summary.notes  # 1004 answers a refusal
    board = leaderboard.standings(db, after)
    one = next(e for e in board.entries if e.media_id == "1001")
    assert one.like_count == 300 and "observed_late" not in one.flags and "stale" not in one.flags
    assert board.freshness["1001"].final_sweep
    assert "in the final sweep after the freeze" in "\n".join(leaderboard.explain_lines(board, "1001", []))
    # no later reading counts, so no later poll refreshes
    asked = len(graph.calls)
    assert poll_once(db, CONTEST, graph.feed(), after + timedelta(hours=7)).refreshes == 0
    assert len(graph.calls) == asked


def test_the_final_sweep_says_what_the_budget_left(db, graph):
    graph.answers = {"1001": mention_body("1001", 300), "1002": mention_body("1002", 40)}
    tight = replace(CONTEST, refresh=RefreshConfig(max_requests=1))
    summary = poll_once(db, tight, graph.feed(), END + timedelta(hours=3))
    assert "final sweep: 1 of 3 refreshable entries read; 2 left (refresh.max_requests = 1)" in summary.notes


def test_business_discovery_refreshes_known_entrants_and_stops_at_personal_accounts(db, graph):
    cfg = replace(CONTEST, refresh=RefreshConfig(mentions=False, business_discovery=True, max_requests=10))
    store.import_entrants(db, [{"line": 2, "username": "createur", "shortcode": "C1003"},
                               {"line": 3, "username": "perso", "shortcode": "C1002"}], utc(2017, 4, 3), by="test")
    graph.answers = {
        "createur": {"business_discovery": {"media": {"data": [
            {"id": "9999", "like_count": 1, "comments_count": 0, "timestamp": "2017-04-01T00:00:00+0000"},
            {"id": "1003", "like_count": 77, "comments_count": 5, "timestamp": "2017-04-02T16:00:00+0000"}]},
            "id": "17841407673135339"}, "id": USER_ID},
        "perso": error(110, "Invalid user id"),
    }
    poll_once(db, cfg, graph.feed(), utc(2017, 4, 5, 12))
    entry = next(e for e in leaderboard.standings(db, utc(2017, 4, 5, 12)).entries if e.media_id == "1003")
    assert (entry.like_count, entry.comments_count) == (77, 5)
    assert store.refused_entrants(db, "business_discovery") == {"perso"}
    assert db.execute("SELECT count(*) FROM media WHERE media_id = '9999'").fetchone()[0] == 0  # not an entry


def test_the_recorded_bodies_parse(real_dir):
    body = json.loads((real_dir / "mentioned_media.json").read_text(encoding="utf-8"))
    reading = parse_mentioned_media(body, "17889114512354744")
    assert (reading.media.like_count, reading.media.comments_count, reading.media.media_type) == \
        (0, 0, "CAROUSEL_ALBUM")
    assert parse_mentioned_media(body, "1").media is None  # another media than asked: dropped
    found, warnings = parse_business_discovery(json.loads((real_dir / "medias_p1.json").read_text(encoding="utf-8")))
    assert found and warnings == [] and found[0].like_count == 87


def test_a_media_id_that_is_not_a_graph_id_never_reaches_a_url():
    from derby.feeds.refresh import discovery_fields, mention_fields

    with pytest.raises(ValueError):
        mention_fields("1}{caption")
    with pytest.raises(ValueError):
        discovery_fields("ami)}{x")
