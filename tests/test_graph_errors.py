"""The Graph feed against a real HTTP server on loopback: every error of the table in
docs/graph-api.md, non-JSON bodies, resets, a slow server, usage headers, paging,
appsecret_proof. Time is injected: no test really waits for a backoff."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from derby.config import GraphSettings
from derby.feeds.graph import GraphFeed, read_usage
from derby.feeds.parse import (
    AuthError,
    BadRequestError,
    FeedError,
    HashtagLimitError,
    ThrottledError,
    TransientError,
    classify_error,
)

from conftest import FAKE_TOKEN
from helpers import FakeTime

USER_ID = "17841405309211844"
TAG_ID = "17841562426109234"
EDGE = f"{TAG_ID}/recent_media"
SECRET = "appSECRETdoNotLog42"




def settings(base_url: str, secret: str | None = None) -> GraphSettings:
    return GraphSettings(access_token=FAKE_TOKEN, user_id=USER_ID, base_url=base_url.rstrip("/"), app_secret=secret)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime(1000.0)


@pytest.fixture
def feed_for(httpserver, fake_time):
    def make(**kwargs) -> GraphFeed:
        options = dict(timeout=5.0, deadline=600.0, max_attempts=4, backoff=2.0, slow_down_pause=10.0,
                       sleep=fake_time.sleep, monotonic=fake_time.monotonic, rand=lambda: 1.0)
        options.update(kwargs)
        secret = options.pop("secret", None)
        return GraphFeed(settings(httpserver.url_for("/v24.0"), secret), **options)

    return make


def media_page(ids, after=None, token=FAKE_TOKEN) -> dict:
    body: dict = {"data": [{"id": i, "like_count": 1, "comments_count": 0} for i in ids]}
    if after:
        body["paging"] = {"cursors": {"after": after},
                          "next": f"https://graph.facebook.com/v24.0/{EDGE}?access_token={token}&limit=50&after={after}"}
    return body


def error_body(code, message, subcode=None, transient=None, trace="AbCdEfTrace1") -> dict:
    err: dict = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": trace}
    if subcode is not None:
        err["error_subcode"] = subcode
    if transient is not None:
        err["is_transient"] = transient
    return {"error": err}


def pages_of(feed: GraphFeed) -> list:
    return list(feed.media_pages(TAG_ID, "recent_media"))


# -- the error table -------------------------------------------------------------------

TABLE = [
    # code, subcode, is_transient, HTTP status, message, class, kind detail
    (1, None, None, 500, "An unknown error occurred", TransientError),
    (2, None, True, 503, "Service temporarily unavailable", TransientError),
    (9999, None, True, 400, "Something odd but transient", TransientError),
    (4, None, True, 403, "(#4) Application request limit reached", ThrottledError),
    (17, None, None, 403, "(#17) User request limit reached", ThrottledError),
    (32, None, None, 403, "(#32) Page request limit reached", ThrottledError),
    (613, None, None, 400, "(#613) Calls to this api have exceeded the rate limit.", ThrottledError),
    (80002, None, None, 400, "There have been too many calls to this Instagram account.", ThrottledError),
    (190, 463, None, 400, "Error validating access token: Session has expired", AuthError),
    (190, 467, None, 400, "Invalid OAuth access token.", AuthError),
    (190, 460, None, 400, "The session has been invalidated because the user changed their password", AuthError),
    (10, None, None, 403, "(#10) Application does not have permission for this action", AuthError),
    (200, None, None, 403, "(#200) Permissions error", AuthError),
    (299, None, None, 403, "(#299) Requires a permission", AuthError),
    (100, None, None, 400, "(#100) Pages Public Content Access requires either app secret proof or an app token", BadRequestError),
    (100, 33, None, 400, "Unsupported get request. Object with ID '1789' does not exist", BadRequestError),
]


@pytest.mark.parametrize("code, subcode, transient, status, message, kind", TABLE)
def test_each_error_code_is_classified_and_retried_only_when_transient(httpserver, feed_for, fake_time,
                                                                       code, subcode, transient, status, message, kind):
    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_json(error_body(code, message, subcode, transient), status=status)
    feed = feed_for()
    with pytest.raises(FeedError) as info:
        pages_of(feed)
    exc = info.value
    assert type(exc) is kind
    assert (exc.code, exc.subcode, exc.fbtrace_id, exc.endpoint) == (code, subcode, "AbCdEfTrace1", EDGE)
    assert f"Graph API error {code} on {EDGE}: {message}" in str(exc)
    if kind is TransientError:
        assert len(httpserver.log) == 4 and feed.requests_made == 4 and feed.retries == 3
        assert fake_time.sleeps == [2.0, 4.0, 8.0]
        assert str(exc).endswith("(gave up after 4 attempts)")
    else:
        assert len(httpserver.log) == 1 and fake_time.sleeps == []
    assert exc.exit_code == {TransientError: 3, ThrottledError: 3, AuthError: 4, BadRequestError: 2}[kind]
    assert FAKE_TOKEN not in str(exc) and "access_token" not in str(exc)


@pytest.mark.parametrize("subcode, problem, advice", [
    (463, "expired", "the access token has expired; generate a new long-lived token and put it in INSTAGRAM_ACCESS_TOKEN"),
    (467, "invalid", "the access token is invalid (revoked or malformed); generate a new one and put it in INSTAGRAM_ACCESS_TOKEN"),
    (460, "expired", "the access token was invalidated by a password change; log in again, generate a new token and put it in INSTAGRAM_ACCESS_TOKEN"),
    (None, "invalid", "the access token was refused; generate a new one and put it in INSTAGRAM_ACCESS_TOKEN"),
])
def test_token_errors_say_plainly_what_happened_and_what_to_do(subcode, problem, advice):
    exc = classify_error(error_body(190, "Error validating access token", subcode), status=400, endpoint=EDGE)
    assert isinstance(exc, AuthError) and exc.problem == problem
    assert str(exc) == f"Graph API error 190 on {EDGE}: Error validating access token ({advice})"


def test_permission_error_names_the_permission_to_get():
    exc = classify_error(error_body(10, "(#10) Application does not have permission for this action"), endpoint=EDGE)
    assert exc.problem == "permission"
    assert str(exc) == (f"Graph API error 10 on {EDGE}: (#10) Application does not have permission for this action "
                        "(the token lacks a permission: it needs instagram_basic and the app needs Instagram Public "
                        "Content Access; fix the app or token, then poll again)")


def test_object_gone_says_so():
    exc = classify_error(error_body(100, "Object does not exist", 33), status=400, endpoint=EDGE)
    assert str(exc) == f"Graph API error 100 on {EDGE}: Object does not exist (the object is gone or hidden)"
    assert exc.details() == f"code 100, subcode 33, fbtrace_id AbCdEfTrace1, endpoint {EDGE}"


def test_hashtag_limit_on_hashtag_search_is_its_own_kind(httpserver, feed_for):
    body = error_body(24, "You have reached the limit of 30 unique hashtags in 7 days")
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(body, status=400)
    with pytest.raises(HashtagLimitError) as info:
        feed_for().resolve_hashtag("snq17")
    assert info.value.kind == "hashtag_limit" and info.value.exit_code == 3
    assert len(httpserver.log) == 1


def test_http_429_without_body_is_throttled_and_keeps_retry_after(httpserver, feed_for):
    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_data("", status=429, headers={"Retry-After": "120"})
    with pytest.raises(ThrottledError) as info:
        pages_of(feed_for())
    assert str(info.value) == f"HTTP 429 (too many requests) calling {EDGE}"
    assert info.value.retry_after == 120.0 and len(httpserver.log) == 1


def test_80002_uses_estimated_time_to_regain_access(httpserver, feed_for):
    usage = '{"%s": [{"type": "instagram", "call_count": 100, "total_cputime": 20, "total_time": 30, "estimated_time_to_regain_access": 17}]}' % USER_ID
    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_json(
        error_body(80002, "There have been too many calls to this Instagram account."), status=400,
        headers={"X-Business-Use-Case-Usage": usage})
    feed = feed_for()
    with pytest.raises(ThrottledError) as info:
        pages_of(feed)
    assert info.value.retry_after == 17 * 60
    assert feed.usage["max_pct"] == 100.0 and feed.usage["regain_minutes"] == 17.0


# -- bodies that are not JSON, resets, timeouts -------------------------------------------

@pytest.mark.parametrize("status, body, message", [
    (502, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
     f"HTTP 502: HTML page instead of JSON from {EDGE} (a proxy or server error)"),
    (200, "", f"HTTP 200: empty response from {EDGE}"),
    (200, '{"data": [{"id": "1"', f"HTTP 200: malformed JSON from {EDGE} (Expecting ',' delimiter at char 20)"),
    (503, "Service Unavailable", f"HTTP 503: malformed JSON from {EDGE} (Expecting value at char 0)"),
])
def test_non_json_bodies_are_transient_and_retried(httpserver, feed_for, fake_time, status, body, message):
    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_data(body, status=status, content_type="text/html")
    with pytest.raises(TransientError) as info:
        pages_of(feed_for())
    assert str(info.value) == f"{message} (gave up after 4 attempts)"
    assert len(httpserver.log) == 4 and fake_time.sleeps == [2.0, 4.0, 8.0]


def test_transient_failure_then_success_returns_the_page(httpserver, feed_for, fake_time):
    httpserver.expect_oneshot_request(f"/v24.0/{EDGE}").respond_with_data("<html>502</html>", status=502)
    httpserver.expect_oneshot_request(f"/v24.0/{EDGE}").respond_with_json(error_body(2, "Service temporarily unavailable", transient=True), status=503)
    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_json(media_page(["101", "102"]))
    feed = feed_for()
    pages = pages_of(feed)
    assert [m.media_id for m in pages[0].media] == ["101", "102"]
    assert (feed.requests_made, feed.retries, fake_time.sleeps) == (3, 2, [2.0, 4.0])


def test_backoff_uses_jitter_below_the_exponential_bound(httpserver, feed_for, fake_time):
    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_data("", status=500)
    values = iter([0.5, 0.25, 0.1])
    with pytest.raises(TransientError):
        pages_of(feed_for(rand=lambda: next(values)))
    assert fake_time.sleeps == [1.0, 1.0, 0.8]


def test_retries_stop_at_the_poll_deadline(httpserver, feed_for, fake_time):
    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_data("", status=500)
    with pytest.raises(TransientError) as info:
        pages_of(feed_for(deadline=5.0))
    assert str(info.value) == (f"HTTP 500: empty response from {EDGE} (no time left for a retry within the poll's deadline of 5 s)")
    assert fake_time.sleeps == [2.0] and len(httpserver.log) == 2


class _ResetServer:
    """A loopback TCP server that accepts each connection and resets it at once."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v24.0"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.recv(65536)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_connection_reset_is_transient_and_the_message_has_no_token(fake_time):
    server = _ResetServer()
    try:
        feed = GraphFeed(settings(server.url), sleep=fake_time.sleep, monotonic=fake_time.monotonic, rand=lambda: 1.0)
        with pytest.raises(TransientError) as info:
            pages_of(feed)
    finally:
        server.close()
    text = str(info.value)
    assert text == f"network error calling {EDGE} on 127.0.0.1: connection reset (gave up after 4 attempts)"
    assert FAKE_TOKEN not in text and feed.requests_made == 4 and server.accepted == 4
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_connection_refused_message_is_redacted(fake_time):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    feed = GraphFeed(settings(f"http://127.0.0.1:{port}/v24.0"), max_attempts=1, sleep=fake_time.sleep,
                     monotonic=fake_time.monotonic)
    with pytest.raises(TransientError) as info:
        pages_of(feed)
    assert str(info.value) == f"cannot reach 127.0.0.1 (connection refused) calling {EDGE}; Meta was not reached"
    assert info.value.reached is False


def test_slow_server_poll_ends_within_its_deadline():
    # its own threaded server, so the slow requests still in flight never reach another test
    server = HTTPServer(threaded=True)
    server.start()

    def slow(request):
        time.sleep(0.6)
        return Response('{"data": []}', content_type="application/json")

    server.expect_request(f"/v24.0/{EDGE}").respond_with_handler(slow)
    feed = GraphFeed(settings(server.url_for("/v24.0")), timeout=0.2, deadline=0.5, backoff=0.01, max_attempts=10)
    started = time.monotonic()
    try:
        with pytest.raises(TransientError) as info:
            pages_of(feed)
        elapsed = time.monotonic() - started
    finally:
        server.clear()
        server.stop()
    assert elapsed < 0.5 + 0.2 + 0.3  # the deadline, one request's timeout, and slack for a busy machine
    assert "deadline of 0.5 s" in str(info.value)


def test_redirect_is_not_followed(httpserver, feed_for):
    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_data("", status=302, headers={"Location": "http://evil.example/x"})
    with pytest.raises(BadRequestError) as info:
        pages_of(feed_for())
    assert str(info.value) == f"HTTP 302 redirect from {EDGE} not followed (the token would go elsewhere); check DERBY_GRAPH_URL"
    assert len(httpserver.log) == 1


# -- usage headers ------------------------------------------------------------------------

def test_read_usage_takes_the_highest_percentage_of_both_headers():
    headers = {"X-App-Usage": '{"call_count": 28, "total_cputime": 25, "total_time": 25}',
               "X-Business-Use-Case-Usage": '{"1784": [{"type": "instagram", "call_count": 1, "total_cputime": 81, '
                                            '"total_time": 1, "estimated_time_to_regain_access": 0}]}'}
    assert read_usage(headers) == {
        "app": {"call_count": 28, "total_cputime": 25, "total_time": 25},
        "business": {"1784": [{"type": "instagram", "call_count": 1, "total_cputime": 81, "total_time": 1,
                               "estimated_time_to_regain_access": 0}]},
        "max_pct": 81.0, "app_pct": 28.0, "business_pct": 81.0, "regain_minutes": None}


@pytest.mark.parametrize("headers", [{}, {"X-App-Usage": ""}, {"X-App-Usage": "not json"}])
def test_missing_or_broken_usage_header_is_not_zero(headers):
    assert read_usage(headers) is None


def test_usage_above_80_slows_down_and_above_95_stops_before_calling(httpserver, feed_for, fake_time):
    def page(after, pct):
        return {"response_json": media_page([f"10{after}"], after=f"c{after}"),
                "headers": {"X-App-Usage": f'{{"call_count": {pct}, "total_cputime": 5, "total_time": 5}}'}}

    served = iter([page(1, 50), page(2, 85), page(3, 96), page(4, 10)])

    def handler(request):
        spec = next(served)
        import json
        return Response(json.dumps(spec["response_json"]), headers=spec["headers"], content_type="application/json")

    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_handler(handler)
    feed = feed_for()
    got = []
    with pytest.raises(ThrottledError) as info:
        for p in feed.media_pages(TAG_ID, "recent_media"):
            got.append(p)
    assert [p.media[0].media_id for p in got] == ["101", "102", "103"]
    assert len(httpserver.log) == 3
    assert fake_time.sleeps == [10.0]  # one pause: before the request that followed the 85 % reading
    assert str(info.value) == (f"usage at 96 % of the platform's limit; stopped before calling {EDGE}, "
                               "ahead of the platform's throttling")
    assert feed.usage["max_pct"] == 96.0


def test_a_response_without_header_keeps_the_last_reading(httpserver, feed_for):
    httpserver.expect_oneshot_request(f"/v24.0/{EDGE}").respond_with_json(
        media_page(["401"], after="c1"), headers={"X-App-Usage": '{"call_count": 40, "total_cputime": 1, "total_time": 1}'})
    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_json(media_page(["b"]))
    feed = feed_for()
    assert len(pages_of(feed)) == 2
    assert feed.usage["max_pct"] == 40.0


# -- paging --------------------------------------------------------------------------------

def test_repeating_cursor_stops_paging_with_a_note(httpserver, feed_for):
    afters = []

    def handler(request):
        import json
        afters.append(request.args.get("after"))
        body = media_page([f"10{len(afters)}"], after="SAME")
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_handler(handler)
    feed = feed_for(page_cap=4)
    pages = pages_of(feed)
    # the cursor repeats but every page brings a new post: followed, bounded by the page cap
    assert len(pages) == 4 and afters == [None, "SAME", "SAME", "SAME"] and pages[-1].truncated
    assert feed.notes == [f"#{TAG_ID} recent_media: page cap of 4 reached; older media of this poll were not read"]


def test_page_cap_is_reported(httpserver, feed_for):
    counter = iter(range(100))

    def handler(request):
        import json
        n = next(counter)
        return Response(json.dumps(media_page([f"10{n}"], after=f"c{n}")), content_type="application/json")

    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_handler(handler)
    feed = feed_for(page_cap=3)
    assert len(pages_of(feed)) == 3 and feed.requests_made == 3
    assert feed.notes == [f"#{TAG_ID} recent_media: page cap of 3 reached; older media of this poll were not read"]


def test_unknown_media_are_not_a_reason_to_stop(httpserver, feed_for):
    httpserver.expect_oneshot_request(f"/v24.0/{EDGE}").respond_with_json(media_page(["201", "202"], after="c1"))
    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_json(media_page(["301"]))
    assert [m.media_id for p in pages_of(feed_for()) for m in p.media] == ["201", "202", "301"]


# -- what goes out ---------------------------------------------------------------------------

def test_every_call_carries_appsecret_proof_when_the_secret_is_set(httpserver, feed_for):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json({"data": [{"id": TAG_ID}]})
    assert feed_for(secret=SECRET).resolve_hashtag("snq17") == TAG_ID
    args = httpserver.log[0][0].args
    expected = hmac.new(SECRET.encode(), FAKE_TOKEN.encode(), hashlib.sha256).hexdigest()
    assert args["appsecret_proof"] == expected and len(expected) == 64
    assert (args["access_token"], args["user_id"], args["q"]) == (FAKE_TOKEN, USER_ID, "snq17")


def test_without_secret_no_proof_is_sent(httpserver, feed_for):
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json({"data": [{"id": TAG_ID}]})
    feed_for().resolve_hashtag("snq17")
    assert "appsecret_proof" not in httpserver.log[0][0].args


def test_next_url_is_never_followed_only_its_cursor(httpserver, feed_for):
    page = media_page(["401"], after="c1")
    page["paging"]["next"] = "http://127.0.0.1:9/elsewhere?access_token=" + FAKE_TOKEN + "&after=c1"
    httpserver.expect_oneshot_request(f"/v24.0/{EDGE}").respond_with_json(page)
    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_json(media_page(["b"]))
    feed = feed_for()
    assert len(pages_of(feed)) == 2
    assert [r.path for r, _ in httpserver.log] == [f"/v24.0/{EDGE}", f"/v24.0/{EDGE}"]
    assert httpserver.log[1][0].args["after"] == "c1"


def test_real_recorded_pages_over_loopback(httpserver, feed_for, real_dir):
    httpserver.expect_oneshot_request(f"/v24.0/{EDGE}").respond_with_data(
        (real_dir / "hashtag_recent_medias_p1.json").read_bytes(), content_type="application/json")
    httpserver.expect_oneshot_request(f"/v24.0/{EDGE}").respond_with_data(
        (real_dir / "hashtag_recent_medias_p2.json").read_bytes(), content_type="application/json")
    feed = feed_for()
    pages = pages_of(feed)
    assert [len(p.media) for p in pages] == [5, 5] and feed.requests_made == 2
    assert httpserver.log[1][0].args["after"] == "after"
    assert pages[0].media[0].media_id == "18088158883149835"


@pytest.mark.parametrize("name", ["error_oauth_100.json", "error_data.json"])
def test_real_error_bodies_over_loopback_are_bad_requests(httpserver, feed_for, real_dir, name):
    httpserver.expect_request(f"/v24.0/{EDGE}").respond_with_data((real_dir / name).read_bytes(), status=400,
                                                                  content_type="application/json")
    with pytest.raises(BadRequestError) as info:
        pages_of(feed_for())
    assert info.value.code == 100 and len(httpserver.log) == 1


@pytest.mark.parametrize("message, endpoint, hint", [
    ("(#100) Invalid user id", "ig_hashtag_search", "check INSTAGRAM_USER_ID: it must be the id of the Instagram Business"),
    ("(#100) Param user_id must be a valid id", f"{TAG_ID}/recent_media", "the hashtag id stored in the hashtags table"),
    ("(#100) Pages Public Content Access requires either app secret proof or an app token", "ig_hashtag_search",
     "set INSTAGRAM_APP_SECRET: this call needs appsecret_proof"),
])
def test_error_100_says_which_setting_is_likely_wrong(message, endpoint, hint):
    exc = classify_error({"error": {"message": message, "type": "OAuthException", "code": 100, "fbtrace_id": "A"}},
                         status=400, endpoint=endpoint)
    assert isinstance(exc, BadRequestError) and hint in str(exc)


class _TrickleServer:
    """A loopback server that answers every request with headers at once, then its body
    one byte every ``every`` seconds (as a failing proxy does)."""

    def __init__(self, every: float = 0.2) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.every = every
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v24.0"

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn) -> None:
        body = b'{"data": []}' + b" " * 200
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode())
            for byte in body:
                if self.stopping.wait(self.every):
                    return
                conn.sendall(bytes([byte]))
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()


def test_a_trickling_answer_is_cut_at_the_polls_deadline():
    server = _TrickleServer(every=0.2)  # one byte every 0.2 s: each wait is far below the timeout
    feed = GraphFeed(settings(server.url), timeout=1.0, deadline=1.5, backoff=0.01, max_attempts=3)
    started = time.monotonic()
    try:
        with pytest.raises(TransientError) as info:
            pages_of(feed)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert elapsed < 1.5 + 1.0  # the deadline and slack for a busy machine; the body alone would take 43 s
    assert "still arriving at the poll's deadline of 1.5 s" in str(info.value)
