"""derby.feeds.graph.GraphFeed against a real HTTP server on loopback (pytest-httpserver),
serving the real recorded bodies read from the shared folder. Nothing leaves loopback:
the feed's session refuses every https URL (graph.facebook.com is https)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import socket
import threading

import pytest
import requests
from requests.adapters import BaseAdapter
from werkzeug import Response

from conftest import FAKE_TOKEN, utc
from derby import store
from derby.config import Contest, FeedConfig, GraphSettings
from derby.feeds.graph import MEDIA_FIELDS, GraphFeed
from derby.feeds.parse import FeedError
from derby.poller import poll_once

USER_ID = "17841406338772941"
HASHTAG_ID = "17841562426109234"  # the id in hashtag_search.json
NOW = utc(2020, 2, 14, 12, 0, 0)
LATER = utc(2020, 2, 14, 12, 30, 0)
CONTEST = Contest(title="Derby test", hashtags=("love",), timezone="UTC", start=utc(2000, 1, 1),
                  end=utc(2100, 1, 1), feed=FeedConfig(kind="graph"))


class RefuseOutside(BaseAdapter):
    """Mounted for https:// so a followed ``paging.next`` would fail loudly, not go out."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def send(self, request, **kwargs):
        self.urls.append(request.url)
        raise AssertionError("the feed tried to leave loopback")

    def close(self):
        pass


@pytest.fixture
def outside():
    return RefuseOutside()


def make_feed(base_url, outside, **kwargs):
    secret = kwargs.pop("app_secret", None)
    session = requests.Session()
    session.mount("https://", outside)
    settings = GraphSettings(access_token=FAKE_TOKEN, user_id=USER_ID, base_url=base_url, app_secret=secret)
    kwargs.setdefault("max_attempts", 1)  # one answer per test here; retries are tested in test_graph_errors.py
    return GraphFeed(settings, session=session, **kwargs)


def base(httpserver):
    return httpserver.url_for("/v24.0").rstrip("/")


def body(real_dir, name) -> bytes:
    return (real_dir / name).read_bytes()


def cursor(raw: bytes) -> str:
    return json.loads(raw)["paging"]["cursors"]["after"]


def ids(raw: bytes) -> list[str]:
    return [item["id"] for item in json.loads(raw)["data"]]


def serve_search(httpserver, real_dir):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_data(
        body(real_dir, "hashtag_search.json"), content_type="application/json")


def serve_chain(httpserver, edge, bodies: list[bytes]):
    """Serve ``bodies`` on ``/{id}/{edge}``: the first without ``after``, each next one
    only when ``after`` is the previous body's cursor; anything else gets an error body."""
    by_after: dict[str | None, bytes] = {None: bodies[0]}
    for previous, following in zip(bodies, bodies[1:]):
        by_after[cursor(previous)] = following

    def handler(request):
        after = request.args.get("after")
        if after not in by_after:
            return Response(json.dumps({"error": {"message": f"unknown cursor {after}", "code": 100}}), status=400)
        return Response(by_after[after], content_type="application/json")

    httpserver.expect_request(f"/v24.0/{HASHTAG_ID}/{edge}").respond_with_handler(handler)


def paths(httpserver) -> list[str]:
    return [request.path for request, _ in httpserver.log]


def dump(db) -> str:
    return "\n".join(db.conn.iterdump())


# -- hashtag search ----------------------------------------------------------------------

def test_resolve_hashtag_sends_user_id_q_and_token(httpserver, real_dir, outside):
    httpserver.expect_request("/v24.0/ig_hashtag_search", query_string={
        "user_id": USER_ID, "q": "love", "access_token": FAKE_TOKEN,
    }).respond_with_data(body(real_dir, "hashtag_search.json"), content_type="application/json")
    feed = make_feed(base(httpserver), outside)
    assert feed.resolve_hashtag("love") == "17841562426109234"
    assert paths(httpserver) == ["/v24.0/ig_hashtag_search"]
    assert feed.requests_made == 1


def test_resolve_hashtag_unknown_tag_raises(httpserver, outside):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json({"data": []})
    with pytest.raises(FeedError) as info:
        make_feed(base(httpserver), outside).resolve_hashtag("nosuchtag")
    assert str(info.value) == "hashtag #nosuchtag was not found by ig_hashtag_search"


# -- paging --------------------------------------------------------------------------------

def test_recent_media_reads_both_real_pages_via_the_after_cursor(httpserver, real_dir, outside):
    p1, p2 = body(real_dir, "hashtag_recent_medias_default_p1.json"), body(real_dir, "hashtag_recent_medias_default_p2.json")
    serve_chain(httpserver, "recent_media", [p1, p2])
    feed = make_feed(base(httpserver), outside)
    pages = list(feed.media_pages(HASHTAG_ID, "recent_media", NOW))
    assert [[m.media_id for m in page.media] for page in pages] == [ids(p1), ids(p2)]
    assert [request.args.get("after") for request, _ in httpserver.log] == [None, cursor(p1)]
    assert feed.requests_made == 2


def test_paging_never_follows_the_next_url_host(httpserver, real_dir, outside):
    p1 = body(real_dir, "hashtag_recent_medias_default_p1.json")
    assert json.loads(p1)["paging"]["next"].startswith("https://graph.facebook.com/v4.0/")
    serve_chain(httpserver, "recent_media", [p1, body(real_dir, "hashtag_recent_medias_default_p2.json")])
    list(make_feed(base(httpserver), outside).media_pages(HASHTAG_ID, "recent_media", NOW))
    assert outside.urls == []
    assert paths(httpserver) == [f"/v24.0/{HASHTAG_ID}/recent_media"] * 2
    assert {request.host for request, _ in httpserver.log} == {f"{httpserver.host}:{httpserver.port}"}


def test_media_request_carries_fields_limit_user_and_token(httpserver, real_dir, outside):
    serve_chain(httpserver, "top_media", [body(real_dir, "hashtag_top_medias_p2.json")])
    list(make_feed(base(httpserver), outside).media_pages(HASHTAG_ID, "top_media", NOW))
    (request, _), = httpserver.log
    assert request.args.to_dict() == {"user_id": USER_ID, "fields": MEDIA_FIELDS, "limit": "50", "access_token": FAKE_TOKEN}


def test_page_cap_stops_paging_and_records_a_note(httpserver, outside):
    served = []

    def endless(request):
        n = len(served) + 1
        served.append(request.args.get("after"))
        return Response(json.dumps({"data": [{"id": f"10{n}"}], "paging": {
            "cursors": {"after": f"c{n}"}, "next": f"https://graph.facebook.com/v24.0/x/recent_media?after=c{n}"}}),
            content_type="application/json")

    httpserver.expect_request(f"/v24.0/{HASHTAG_ID}/recent_media").respond_with_handler(endless)
    feed = make_feed(base(httpserver), outside, page_cap=3)
    pages = list(feed.media_pages(HASHTAG_ID, "recent_media", NOW))
    assert [p.media[0].media_id for p in pages] == ["101", "102", "103"]
    assert served == [None, "c1", "c2"]
    assert feed.notes == [f"#{HASHTAG_ID} recent_media: page cap of 3 reached; older media of this poll were not read"]


def test_repeated_cursor_stops_paging_with_a_note(httpserver, real_dir, outside):
    p1 = body(real_dir, "hashtag_recent_medias_default_p1.json")
    httpserver.expect_request(f"/v24.0/{HASHTAG_ID}/recent_media").respond_with_data(p1, content_type="application/json")
    feed = make_feed(base(httpserver), outside, page_cap=10)
    pages = list(feed.media_pages(HASHTAG_ID, "recent_media", NOW))
    assert len(pages) == 2
    assert [request.args.get("after") for request, _ in httpserver.log] == [None, cursor(p1)]
    assert feed.notes == [f"#{HASHTAG_ID} recent_media: cursor repeated after page 2 with nothing new; paging stopped"]


def test_appsecret_proof_is_hmac_sha256_of_token_keyed_by_secret(httpserver, real_dir, outside):
    serve_search(httpserver, real_dir)
    make_feed(base(httpserver), outside, app_secret="app-s3cret").resolve_hashtag("love")
    (request, _), = httpserver.log
    expected = hmac.new(b"app-s3cret", FAKE_TOKEN.encode(), hashlib.sha256).hexdigest()
    assert request.args["appsecret_proof"] == expected
    assert request.args["access_token"] == FAKE_TOKEN


def test_no_appsecret_proof_without_a_secret(httpserver, real_dir, outside):
    serve_search(httpserver, real_dir)
    make_feed(base(httpserver), outside).resolve_hashtag("love")
    (request, _), = httpserver.log
    assert "appsecret_proof" not in request.args


# -- through the poller into the store -------------------------------------------------------

@pytest.fixture
def default_pages(httpserver, real_dir):
    """Search, recent_media (default p1 -> p2) and top_media (default p1 -> p2)."""
    served = {
        "recent_media": [body(real_dir, "hashtag_recent_medias_default_p1.json"), body(real_dir, "hashtag_recent_medias_default_p2.json")],
        "top_media": [body(real_dir, "hashtag_top_medias_default_p1.json"), body(real_dir, "hashtag_top_medias_default_p2.json")],
    }
    serve_search(httpserver, real_dir)
    for edge, bodies in served.items():
        serve_chain(httpserver, edge, bodies)
    return served


def distinct_ids(served) -> set[str]:
    return {media_id for bodies in served.values() for raw in bodies for media_id in ids(raw)}


def test_poll_stores_every_distinct_media_once(httpserver, default_pages, outside):
    db = store.open_db(":memory:")
    summary = poll_once(db, CONTEST, make_feed(base(httpserver), outside), NOW)
    expected = distinct_ids(default_pages)
    assert (summary.status, summary.pages, summary.requests) == ("ok", 4, 5)
    assert {row["media_id"] for row in db["media"].rows} == expected
    assert db["media"].count == len(expected) == 100
    assert summary.new_media == 100
    assert db["snapshots"].count == 100


def test_same_media_on_both_edges_and_pages_is_stored_once(httpserver, real_dir, outside):
    # top_medias_p1/p2 and top_medias_default_p1/p2 hold the same 50 media with equal counts.
    served = {
        "recent_media": [body(real_dir, "hashtag_top_medias_p1.json"), body(real_dir, "hashtag_top_medias_p2.json")],
        "top_media": [body(real_dir, "hashtag_top_medias_default_p1.json"), body(real_dir, "hashtag_top_medias_default_p2.json")],
    }
    serve_search(httpserver, real_dir)
    for edge, bodies in served.items():
        serve_chain(httpserver, edge, bodies)
    db = store.open_db(":memory:")
    summary = poll_once(db, CONTEST, make_feed(base(httpserver), outside), NOW)
    assert summary.pages == 4
    assert db["media"].count == len(distinct_ids(served)) == 50
    assert db["snapshots"].count == 50
    assert db["sightings"].count == 100


def test_second_poll_of_the_same_bodies_adds_no_media_and_no_snapshots(httpserver, default_pages, outside):
    db = store.open_db(":memory:")
    poll_once(db, CONTEST, make_feed(base(httpserver), outside), NOW)
    media, snapshots = db["media"].count, db["snapshots"].count
    second = poll_once(db, CONTEST, make_feed(base(httpserver), outside), LATER)
    assert (db["media"].count, db["snapshots"].count) == (media, snapshots)
    assert (second.status, second.new_media, second.updated_media, second.snapshots) == ("ok", 0, 0, 0)
    assert db["poll_runs"].count == 2


def test_hashtag_id_is_resolved_once_across_polls(httpserver, default_pages, outside):
    db = store.open_db(":memory:")
    poll_once(db, CONTEST, make_feed(base(httpserver), outside), NOW)
    poll_once(db, CONTEST, make_feed(base(httpserver), outside), LATER)
    assert paths(httpserver).count("/v24.0/ig_hashtag_search") == 1
    assert store.hashtag_id(db, "love") == HASHTAG_ID


def test_token_never_reaches_the_database_or_summary(httpserver, default_pages, outside):
    db = store.open_db(":memory:")
    summaries = [poll_once(db, CONTEST, make_feed(base(httpserver), outside, page_cap=1), NOW),
                 poll_once(db, CONTEST, make_feed(base(httpserver), outside), LATER)]
    # the two page-cap notes of the first poll; its recent_media read was cut short, so it
    # covered nothing and the gap since the start (2000) runs to the second poll's reach
    assert db["poll_warnings"].count == 3
    assert [m for (m,) in db.execute("SELECT message FROM poll_warnings WHERE message LIKE 'coverage gap%'").fetchall()] == [
        "coverage gap on #love: posts published from 2000-01-01 00:00 (UTC+0) to 2020-02-13 12:30 (UTC+0) (176364.5 h) "
        "were never reachable and may be lost"]
    assert FAKE_TOKEN not in dump(db)
    assert all(FAKE_TOKEN not in s.line() for s in summaries)


def test_token_never_reaches_the_client_logs(httpserver, default_pages, outside, caplog):
    caplog.set_level(logging.DEBUG)
    db = store.open_db(":memory:")
    poll_once(db, CONTEST, make_feed(base(httpserver), outside), NOW)
    client = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]  # werkzeug: the test server
    assert sum("GET /v24.0/" in message for message in client) == 5  # urllib3 logged every request line
    assert [m for m in client if FAKE_TOKEN in m] == []


def test_failed_poll_keeps_the_token_out_of_db_line_and_warnings(httpserver, outside):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(
        {"error": {"message": f"Malformed access token {FAKE_TOKEN}", "type": "OAuthException", "code": 190, "fbtrace_id": "Atrace"}},
        status=400)
    db = store.open_db(":memory:")
    summary = poll_once(db, CONTEST, make_feed(base(httpserver), outside), NOW)
    assert summary.status == "failed"
    assert summary.error == ("Graph API error 190 on ig_hashtag_search: Malformed access token *** (the access token "
                             "was refused; generate a new one and put it in INSTAGRAM_ACCESS_TOKEN)")
    assert FAKE_TOKEN not in summary.line()
    assert FAKE_TOKEN not in dump(db)
    assert store.poll_run(db, summary.run_id)["error"] == summary.error


# -- failures: FeedError, never the token ----------------------------------------------------

def assert_token_free(exc: FeedError):
    """No token; an ``access_token=`` parameter may only appear with its value masked."""
    assert FAKE_TOKEN not in str(exc)
    assert FAKE_TOKEN not in repr(exc.args)
    assert re.search(r"access_token=(?!\*\*\*)", str(exc)) is None
    import traceback

    chain = "".join(traceback.format_exception(exc, chain=True))  # what an error reporter would walk
    assert FAKE_TOKEN not in chain
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        assert FAKE_TOKEN not in str(cause)
        cause = cause.__cause__ or cause.__context__


def test_html_502_page_raises_feed_error(httpserver, outside):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_data(
        "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", status=502, content_type="text/html")
    with pytest.raises(FeedError) as info:
        make_feed(base(httpserver), outside).resolve_hashtag("love")
    assert str(info.value) == "HTTP 502: HTML page instead of JSON from ig_hashtag_search (a proxy or server error)"
    assert info.value.endpoint == "ig_hashtag_search"
    assert_token_free(info.value)


def test_empty_200_raises_feed_error(httpserver, outside):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_data(b"", status=200)
    with pytest.raises(FeedError) as info:
        make_feed(base(httpserver), outside).resolve_hashtag("love")
    assert str(info.value) == "HTTP 200: empty response from ig_hashtag_search"
    assert_token_free(info.value)


def test_truncated_json_page_raises_feed_error(httpserver, real_dir, outside):
    p1 = body(real_dir, "hashtag_recent_medias_default_p1.json")
    httpserver.expect_request(f"/v24.0/{HASHTAG_ID}/recent_media").respond_with_data(p1[:1000], content_type="application/json")
    with pytest.raises(FeedError) as info:
        list(make_feed(base(httpserver), outside).media_pages(HASHTAG_ID, "recent_media", NOW))
    assert str(info.value).startswith(f"HTTP 200: malformed JSON from {HASHTAG_ID}/recent_media (")
    assert info.value.endpoint == f"{HASHTAG_ID}/recent_media"
    assert_token_free(info.value)


def test_error_body_quoting_the_token_is_redacted(httpserver, outside):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(
        {"error": {"message": f"Malformed access token {FAKE_TOKEN}", "type": "OAuthException", "code": 190,
                   "error_subcode": 463, "fbtrace_id": "Atrace"}}, status=400)
    with pytest.raises(FeedError) as info:
        make_feed(base(httpserver), outside).resolve_hashtag("love")
    assert str(info.value) == ("Graph API error 190 on ig_hashtag_search: Malformed access token *** (the access token "
                               "has expired; generate a new long-lived token and put it in INSTAGRAM_ACCESS_TOKEN)")
    assert (info.value.code, info.value.subcode, info.value.fbtrace_id) == (190, 463, "Atrace")
    assert_token_free(info.value)


def test_error_body_quoting_a_url_with_the_token_is_redacted(httpserver, outside):
    url = f"https://graph.facebook.com/v24.0/ig_hashtag_search?q=love&access_token={FAKE_TOKEN}"
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(
        {"error": {"message": f"(#100) Bad request {url}", "code": 100, "fbtrace_id": "Atrace"}}, status=400)
    with pytest.raises(FeedError) as info:
        make_feed(base(httpserver), outside).resolve_hashtag("love")
    assert info.value.code == 100
    assert_token_free(info.value)


def test_real_error_body_with_http_400_raises_with_code(httpserver, real_dir, outside):
    httpserver.expect_request(f"/v24.0/{HASHTAG_ID}/recent_media").respond_with_data(
        body(real_dir, "error_data.json"), status=400, content_type="application/json")
    with pytest.raises(FeedError) as info:
        list(make_feed(base(httpserver), outside).media_pages(HASHTAG_ID, "recent_media", NOW))
    assert (info.value.code, info.value.fbtrace_id) == (100, json.loads(body(real_dir, "error_data.json"))["error"]["fbtrace_id"])
    assert_token_free(info.value)


def test_http_500_with_a_json_body_that_is_no_error_raises(httpserver, outside):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json({"data": [{"id": "1"}]}, status=500)
    with pytest.raises(FeedError) as info:
        make_feed(base(httpserver), outside).resolve_hashtag("love")
    assert str(info.value) == "HTTP 500 calling ig_hashtag_search"


@pytest.fixture
def closing_server():
    """A loopback TCP server that accepts each connection and closes it unanswered."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stopping = threading.Event()

    def serve():
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v24.0"
    stopping.set()
    socket.create_connection(listener.getsockname()).close()  # wakes accept() so the thread ends
    thread.join(timeout=5)
    listener.close()


def test_server_closing_the_connection_raises_feed_error(closing_server, outside):
    with pytest.raises(FeedError) as info:
        make_feed(closing_server, outside).resolve_hashtag("love")
    assert str(info.value) == "network error calling ig_hashtag_search on 127.0.0.1: connection reset"
    assert_token_free(info.value)


@pytest.fixture
def dead_url():
    """A loopback URL whose port nobody listens on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/v24.0"


def test_refused_connection_raises_token_free_feed_error(dead_url, outside):
    with pytest.raises(FeedError) as info:
        make_feed(dead_url, outside).resolve_hashtag("love")
    assert str(info.value) == "cannot reach 127.0.0.1 (connection refused) calling ig_hashtag_search; Meta was not reached"
    assert_token_free(info.value)


def test_refused_connection_poll_keeps_the_token_out_of_db_and_line(dead_url, outside):
    db = store.open_db(":memory:")
    summary = poll_once(db, CONTEST, make_feed(dead_url, outside), NOW)
    assert summary.status == "failed"
    assert summary.error.startswith("cannot reach 127.0.0.1 (connection refused) calling ig_hashtag_search")
    assert FAKE_TOKEN not in summary.line()
    assert re.search(r"access_token=(?!\*\*\*)", summary.line()) is None
    assert FAKE_TOKEN not in dump(db)


def test_timeout_raises_feed_error_mentioning_timeout(httpserver, real_dir, outside):
    release = threading.Event()
    answer = body(real_dir, "hashtag_search.json")

    def slow(request):
        release.wait(2)  # answers after 2 s at most; the test releases it once the feed gave up
        return Response(answer, content_type="application/json")

    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_handler(slow)
    try:
        with pytest.raises(FeedError) as info:
            make_feed(base(httpserver), outside, timeout=0.2).resolve_hashtag("love")
    finally:
        release.set()
    assert str(info.value) == "timeout after 0.2 s calling ig_hashtag_search"
    assert_token_free(info.value)


# -- sources -------------------------------------------------------------------------------

def test_a_request_with_its_own_account_goes_to_its_base_url_with_its_token(httpserver, outside):
    """Owner-level accounts: each request may carry its own token, user id and base URL;
    the feed's one call path adds them and redacts that token too."""
    from derby.feeds.sources import Request

    other_token = "EAAOTHERTOKEN0123456789"
    httpserver.expect_request("/v99.0/4242/media").respond_with_json(
        {"error": {"message": f"bad token {other_token}", "type": "OAuthException", "code": 100}}, status=400)

    class OwnerMedia:
        label = "owner 4242 media"

        def request(self, after):
            account = GraphSettings(access_token=other_token, user_id="4242",
                                    base_url=httpserver.url_for("/v99.0").rstrip("/"))
            return Request("4242/media", {"fields": MEDIA_FIELDS}, account)

        def parse(self, payload, endpoint):  # pragma: no cover - the server refuses
            raise AssertionError("not reached")

    feed = make_feed(base(httpserver), outside)
    with pytest.raises(FeedError) as info:
        list(feed.read(OwnerMedia(), NOW))
    # an earlier test's abandoned request may still land in the shared server's log
    (request, _), = [(r, s) for r, s in httpserver.log if r.path.endswith("/media")]
    assert request.path == "/v99.0/4242/media"
    assert request.args.to_dict() == {"user_id": "4242", "fields": MEDIA_FIELDS, "access_token": other_token}
    assert other_token not in str(info.value) and FAKE_TOKEN not in feed.redact(f"{FAKE_TOKEN} {other_token}")
    assert other_token not in feed.redact(other_token)


ODD_TOKEN = "EAAtrialSECRET+/=x"


@pytest.mark.parametrize("echo", [
    "EAAtrialSECRET%2B%2F%3Dx", "EAAtrialSECRET%2b%2f%3dx", "EAAtrialSECRET%2B%2F%3Dx".replace("%2F", "/"),
    "EAAtrialSECRET%2B%2F%3Dx".replace("%2B", "+"), "EAAtrialSECRET%2B%2F%3Dx".replace("%3D", "="),
    "EAAtrialSECRET+/=x", "EAAtrialSECRET%2B/%3Dx"])
def test_an_error_echoing_the_token_in_any_encoding_is_redacted(httpserver, outside, echo):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(
        {"error": {"message": f"Bad request https://graph.facebook.com/x?token={echo} again {echo}", "code": 100,
                   "type": "OAuthException", "fbtrace_id": "Atrace"}}, status=400)
    session = requests.Session()
    session.mount("https://", outside)
    settings = GraphSettings(access_token=ODD_TOKEN, user_id=USER_ID, base_url=base(httpserver))
    db = store.open_db(":memory:")
    summary = poll_once(db, CONTEST, GraphFeed(settings, session=session, max_attempts=1), NOW)
    assert summary.status == "failed"
    assert "EAAtrialSECRET" not in summary.line()
    assert "EAAtrialSECRET" not in dump(db)
    assert summary.error.count("***") == 2


def serve_posts(httpserver, real_dir, posts: list[dict]):
    httpserver.clear()
    serve_search(httpserver, real_dir)
    for edge in ("recent_media", "top_media"):
        httpserver.expect_request(f"/v24.0/{HASHTAG_ID}/{edge}").respond_with_json({"data": posts})


def post(media_id: str, **counts) -> dict:
    return {"id": media_id, "caption": "#love", "timestamp": "2020-02-14T11:00:00+0000",
            "permalink": f"https://www.instagram.com/p/X{media_id}/", **counts}


@pytest.mark.parametrize("bad", ["9a", -1, 1.5, None, True, "", [3]])
def test_a_malformed_like_count_keeps_the_last_known_count_and_is_never_hidden_likes(httpserver, real_dir, outside, bad):
    """Only an omitted like_count means the owner hides the likes (graph-api.md); a
    present but malformed one keeps the last known count, with a recorded warning."""
    db = store.open_db(":memory:")
    serve_posts(httpserver, real_dir, [post("11", like_count=10, comments_count=1), post("12", comments_count=1)])
    assert poll_once(db, CONTEST, make_feed(base(httpserver), outside), NOW).status == "ok"
    serve_posts(httpserver, real_dir, [post("11", like_count=bad, comments_count=2), post("12", comments_count=2),
                                       post("13", like_count=bad, comments_count=3)])
    summary = poll_once(db, CONTEST, make_feed(base(httpserver), outside), LATER)
    latest = {r["media_id"]: (r["like_count"], r["comments_count"]) for r in db.query("SELECT * FROM latest_snapshots")}
    assert latest["11"] == (10, 2)  # the last known likes, the new comments
    assert latest["12"] == (None, 2)  # omitted: hidden likes
    assert "13" not in latest  # no known likes yet: no snapshot rather than hidden likes
    warnings = [m for (m,) in db.execute("SELECT message FROM poll_warnings WHERE poll_run_id = ?", [summary.run_id])]
    assert f"media 11: like_count={bad!r} is not a count; not hidden likes; the last known count is kept" in " | ".join(warnings)
    assert f"media 13: like_count={bad!r} is not a count; not hidden likes" in " | ".join(warnings)


def test_an_absurd_comments_count_is_refused_and_the_last_known_one_kept(httpserver, real_dir, outside):
    """A comments_count beyond SQLite's 64-bit integers is not a count: refused with a
    warning, the last known count kept, and the likes still score the post."""
    db = store.open_db(":memory:")
    serve_posts(httpserver, real_dir, [post("11", like_count=10, comments_count=4)])
    assert poll_once(db, CONTEST, make_feed(base(httpserver), outside), NOW).status == "ok"
    serve_posts(httpserver, real_dir, [post("11", like_count=12, comments_count=10**30),
                                       post("14", like_count=7, comments_count=10**30)])
    summary = poll_once(db, CONTEST, make_feed(base(httpserver), outside), LATER)
    latest = {r["media_id"]: (r["like_count"], r["comments_count"]) for r in db.query("SELECT * FROM latest_snapshots")}
    assert latest == {"11": (12, 4), "14": (7, None)}
    warnings = " | ".join(m for (m,) in db.execute("SELECT message FROM poll_warnings WHERE poll_run_id = ?",
                                                   [summary.run_id]))
    assert f"media 14: comments_count={10**30!r} is not a count; the last known count is kept" in warnings
    from derby import leaderboard
    store.save_contest(db, CONTEST, LATER)
    scores = {e.media_id: e.score for e in leaderboard.standings(db, LATER).entries}
    assert scores["14"] > 0 and scores["11"] > scores["14"], scores
