"""The Instagram Graph API hashtag feed, over requests.

Endpoints (Meta's Instagram Graph API reference, "IG Hashtag Search" and "IG Hashtag"):
``GET /ig_hashtag_search?user_id&q`` and ``GET /{hashtag-id}/recent_media|top_media``
with ``user_id``, ``fields`` and ``limit`` (at most 50). ``paging.next`` carries the
access token, so it is never followed as a URL: only its ``after`` cursor is used, and
the request is rebuilt against the configured base URL (redirects are not followed
either). The token goes out only to that base URL and every text that leaves this
module is passed through :func:`derby.secrets.redact`.

Failures are classified (see :func:`derby.feeds.parse.classify_error`): transient ones
are retried with exponential backoff and full jitter while the poll's deadline allows;
throttling, token and bad-request errors are raised at once. Every response's
``X-App-Usage`` and ``X-Business-Use-Case-Usage`` headers are read (Meta's "Rate
Limiting" page): above ``SLOW_DOWN_PCT`` the feed pauses between requests, at
``STOP_PCT`` it raises ThrottledError before the platform does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import requests
import urllib3
from urllib.parse import urlsplit

from derby.config import GraphSettings
from derby.errors import ConfigError
from derby.feeds.paging import paginate
from derby.feeds.parse import (
    BadRequestError,
    FeedError,
    HashtagLimitError,
    MediaPage,
    ThrottledError,
    TransientError,
    classify_error,
    load_body,
    parse_debug_token,
    parse_hashtag_search,
)
from derby.feeds.sources import MEDIA_FIELDS, PAGE_LIMIT, HashtagEdge, Request, Source, hashtag_search
from derby.secrets import install_log_redaction, redact

log = logging.getLogger("derby.feeds.graph")

__all__ = ["MEDIA_FIELDS", "PAGE_LIMIT", "GraphFeed", "appsecret_proof", "read_usage"]
SLOW_DOWN_PCT = 80.0
STOP_PCT = 95.0


SHORT_WAIT = 30.0
"""Seconds: a throttling answer asking to wait at most this long (``Retry-After``,
``estimated_time_to_regain_access``) is waited out inside the poll when its deadline
allows, then the request is made again; a longer wait ends the poll with a cool-down."""


class GraphFeed:
    """Reads hashtag media from the Graph API.

    ``timeout`` is the per-request timeout in seconds; ``page_cap`` the most pages per
    edge and hashtag in one poll; ``deadline`` the most seconds the whole poll may take,
    counted from the first request (retries and pauses included; no request starts
    after it). ``max_attempts`` bounds the tries of one request; ``backoff`` is the
    first retry's upper wait in seconds (doubled each time, full jitter);
    ``slow_down_pause`` the pause in seconds between requests while usage is above
    80 %. ``sleep``, ``monotonic`` and ``rand`` (default: the ``time`` and ``random``
    functions) are injected for tests.

    After use: ``requests_made``, ``retries``, ``notes`` (paging notes for the poll run)
    and ``usage`` (the latest usage reading, see :func:`read_usage`, None before any
    response carried a usage header). Raises FeedError subclasses, token-free.
    """

    name = "graph"

    def __init__(self, settings: GraphSettings, *, timeout: float = 20.0, page_cap: int = 10,
                 deadline: float = 600.0, max_attempts: int = 4, backoff: float = 2.0,
                 slow_down_pause: float = 10.0, session: requests.Session | None = None,
                 sleep: Callable[[float], None] | None = None, monotonic: Callable[[], float] | None = None,
                 rand: Callable[[], float] | None = None, wall: Callable[[], datetime] | None = None) -> None:
        self._settings = settings
        self._wall = wall or (lambda: datetime.now(timezone.utc))  # for Retry-After given as an HTTP-date
        self._timeout = timeout
        self._page_cap = page_cap
        self._deadline = deadline
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._slow_down_pause = slow_down_pause
        self._sleep = sleep or time.sleep
        self._monotonic = monotonic or time.monotonic
        self._rand = rand or random.random
        self._ends_at: float | None = None
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = "derby (Instagram hashtag contest)"
        self.requests_made = 0
        self.retries = 0
        self.notes: list[str] = []
        self.usage: dict | None = None
        self._account_usage: dict[str, dict] = {}
        self._secrets: list[str | None] = [settings.access_token, settings.app_secret]
        install_log_redaction(settings.access_token, settings.app_secret)

    @property
    def account(self) -> str:
        """The Instagram account the calls are made for (its hashtag budget is counted)."""
        return self._settings.user_id

    def redact(self, text: str) -> str:
        """Return ``text`` with the access tokens, app secrets and proofs removed (the
        feed's own and those of every account a request was made with)."""
        return redact(text, *self._secrets)

    def resolve_hashtag(self, name: str) -> str:
        """Return the id of hashtag ``name`` via ``ig_hashtag_search`` (counts toward
        the 30-hashtags-a-week limit). Raises FeedError."""
        return self._call(hashtag_search(name), lambda payload, endpoint: parse_hashtag_search(payload, name))

    def read(self, source: Source, now: datetime | None = None) -> Iterator[MediaPage]:
        """Yield the parsed pages of ``source`` (``now`` is unused: the API answers for
        the present). Raises FeedError."""
        yield from paginate(lambda after: self._call(source.request(after), source.parse), self._page_cap, self.notes,
                            source.label, getattr(source, "enough", None))

    def tokens_in_use(self) -> list[tuple[str, str]]:
        """``(label, token)`` of the tokens this feed polls with: its own, named by its
        variable. A poll checks the expiry of each (see :meth:`debug_token`)."""
        return [("INSTAGRAM_ACCESS_TOKEN", self._settings.access_token)]

    @property
    def can_debug_tokens(self) -> bool:
        """Whether ``debug_token`` can be asked: it needs the app token, so both
        ``INSTAGRAM_APP_ID`` and ``INSTAGRAM_APP_SECRET``."""
        return bool(self._settings.app_id and self._settings.app_secret)

    def debug_token(self, token: str) -> dict:
        """Ask ``GET /debug_token?input_token=<token>`` with the app token
        ``<app_id>|<app_secret>`` and return its ``data`` object (see
        :func:`~derby.feeds.parse.parse_debug_token`; Unix seconds, 0 meaning never).
        Through the feed's one call path: errors, retries, deadline and redaction (the
        token, the app token and the app secret never leave this module). Raises
        FeedError, and ConfigError when the app id or secret is not set."""
        if not self.can_debug_tokens:
            raise ConfigError("debug_token needs INSTAGRAM_APP_ID and INSTAGRAM_APP_SECRET")
        s = self._settings
        app = GraphSettings(access_token=f"{s.app_id}|{s.app_secret}", user_id="", base_url=s.base_url)
        if token not in self._secrets:
            self._secrets.append(token)
            install_log_redaction(token)
        return self._call(Request("debug_token", {"input_token": token}, app), parse_debug_token)

    def media_pages(self, hashtag_id: str, edge: str, now: datetime | None = None) -> Iterator[MediaPage]:
        """Yield parsed pages of ``edge`` for ``hashtag_id``: :meth:`read` of a
        :class:`~derby.feeds.sources.HashtagEdge`. Raises FeedError."""
        return self.read(HashtagEdge(hashtag_id, edge), now)

    # -- one call, with retries ---------------------------------------------------------

    def _remaining(self) -> float:
        if self._ends_at is None:
            self._ends_at = self._monotonic() + self._deadline
        return self._ends_at - self._monotonic()

    def _call(self, request: Request, parse: Callable[[object, str], object]):
        """GET ``request`` and parse it (``parse(payload, endpoint)``), retrying
        TransientError with backoff inside the deadline."""
        path = request.path
        attempt = 0
        reached = False  # whether any attempt connected to the platform
        while True:
            attempt += 1
            usage, scope = self._usage_for(request)
            if usage and usage["max_pct"] >= STOP_PCT:
                regain = usage["regain_minutes"]
                raise ThrottledError(f"usage at {usage['max_pct']:g} % of the platform's limit; stopped before "
                                     f"calling {path}, ahead of the platform's throttling",
                                     retry_after=regain * 60 if regain else None, endpoint=path, scope=scope)
            if usage and usage["max_pct"] >= SLOW_DOWN_PCT:
                self._pause(self._slow_down_pause, path, "usage above 80 %")
            remaining = self._remaining()
            if remaining <= 0:
                raise TransientError(f"the poll's deadline of {self._deadline:g} s passed before calling {path}", endpoint=path)
            try:
                return parse(self._get(request, min(self._timeout, remaining)), path)
            except ThrottledError as exc:
                wait = exc.retry_after
                if (isinstance(exc, HashtagLimitError) or wait is None or wait > SHORT_WAIT
                        or attempt >= self._max_attempts or wait >= self._remaining()):
                    raise
                log.warning("throttled; the platform asked to wait %.0f s, retrying then: %s", wait, exc)
                self.retries += 1
                self._sleep(wait)
                continue
            except TransientError as exc:
                reached = reached or exc.reached
                if attempt >= self._max_attempts:
                    if attempt == 1:
                        raise
                    raise _again(exc, f"{exc} (gave up after {attempt} attempts)", path, reached) from None
                wait = self._rand() * self._backoff * 2 ** (attempt - 1)
                if wait >= self._remaining():
                    raise _again(exc, f"{exc} (no time left for a retry within the poll's deadline of {self._deadline:g} s)",
                                 path, reached) from None
                log.warning("transient failure (attempt %d of %d), retrying in %.1f s: %s", attempt, self._max_attempts, wait, exc)
                self.retries += 1
                self._sleep(wait)

    def _usage_for(self, request: Request) -> tuple[dict | None, str]:
        """The usage reading that binds ``request`` and its scope: the app's
        (``X-App-Usage``, whichever account's answer carried it) binds every account; a
        business-use-case reading only the account whose answers carried it. A request
        on the feed's own account takes every reading as the app's, as it always did."""
        if request.account is None:
            return self.usage, "app"
        own = self._account_usage.get(request.account.user_id)
        app = self.usage["app_pct"] if self.usage else 0.0
        business = own["business_pct"] if own else 0.0
        if own is None and self.usage is None:
            return None, "app"
        if app >= business:
            return {"max_pct": app, "regain_minutes": (self.usage or {}).get("regain_minutes")}, "app"
        return {"max_pct": business, "regain_minutes": own["regain_minutes"]}, "account"  # type: ignore[index]

    def _read_body(self, response: requests.Response, path: str) -> bytes:
        """Read the whole body, a piece as it arrives, never past the poll's deadline:
        the request timeout bounds each wait for data, not a body that trickles in."""
        chunks: list[bytes] = []
        try:
            while True:
                if self._remaining() <= 0:
                    raise TransientError(f"the answer from {path} was still arriving at the poll's deadline of "
                                         f"{self._deadline:g} s; gave up on it", endpoint=path)
                chunk = response.raw.read1(65536, decode_content=True)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        except (urllib3.exceptions.ReadTimeoutError, socket.timeout):
            raise requests.Timeout() from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise requests.ConnectionError(type(exc).__name__) from None
        finally:
            response.close()

    def _pause(self, seconds: float, path: str, why: str) -> None:
        if seconds >= self._remaining():
            raise TransientError(f"{why}: no time left within the poll's deadline of {self._deadline:g} s before calling {path}",
                                 endpoint=path)
        log.info("%s: pausing %.1f s before calling %s", why, seconds, path)
        self._sleep(seconds)

    def _get(self, request: Request, timeout: float) -> object:
        account = request.account or self._settings
        if account is not self._settings and account.access_token not in self._secrets:
            self._secrets += [account.access_token, account.app_secret]
            install_log_redaction(account.access_token, account.app_secret)
        path = request.path
        # an owner-level read names its account in the path: no user_id then
        # an app-token call (debug_token) has no user_id either
        query = {**({} if request.owner or not account.user_id else {"user_id": account.user_id}), **request.params,
                 "access_token": account.access_token}
        if account.app_secret:
            query["appsecret_proof"] = appsecret_proof(account.access_token, account.app_secret)
        url = f"{account.base_url}/{path}"
        self.requests_made += 1
        failure: TransientError | None = None
        try:
            response = self._session.get(url, params=query, timeout=timeout, allow_redirects=False, stream=True)
            body = self._read_body(response, path)
        except requests.Timeout:
            failure = TransientError(f"timeout after {timeout:g} s calling {path}", endpoint=path)
        except requests.RequestException as exc:
            failure = _network_failure(exc, account.base_url, path)
        except TransientError as exc:
            failure = exc
        if failure is not None:
            # Raised outside the except block: requests' exception (whose text holds the
            # URL and so the token) must not ride along as __context__.
            raise failure
        reading = read_usage(response.headers)
        if reading is not None:
            self.usage = reading
            self._account_usage[account.user_id] = reading
        status = response.status_code
        if 300 <= status < 400:
            raise BadRequestError(f"HTTP {status} redirect from {path} not followed (the token would go elsewhere); "
                                  "check DERBY_GRAPH_URL", endpoint=path)
        retry_after = _retry_after(response.headers, reading, self._wall())
        try:
            payload = load_body(body, endpoint=path)
        except FeedError as exc:
            if status == 429:
                raise classify_error(None, status=status, endpoint=path, retry_after=retry_after) from None
            raise TransientError(f"HTTP {status}: {exc}", endpoint=path) from None
        payload = _redact_payload(payload, self)
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict) or status >= 400:
            raise classify_error(payload, status=status, endpoint=path, retry_after=retry_after)
        return payload


def _again(exc: TransientError, text: str, path: str, reached: bool) -> TransientError:
    """``exc`` with ``text``, its error ids, and whether any attempt reached the platform."""
    again = TransientError(text, code=exc.code, subcode=exc.subcode, fbtrace_id=exc.fbtrace_id, endpoint=path)
    again.reached = reached
    return again


_NEVER_REACHED = (("Connection refused", "connection refused"), ("Name or service not known", "the name does not resolve (DNS)"),
                  ("Failed to resolve", "the name does not resolve (DNS)"), ("nodename nor servname", "the name does not resolve (DNS)"),
                  ("No route to host", "no route to host"), ("Network is unreachable", "the network is unreachable"))


def _network_failure(exc: Exception, base_url: str, path: str) -> TransientError:
    """One short line for a request that failed below HTTP (urllib3's messages run to
    300 characters and carry the URL): what failed, and whether Meta was reached.
    ``reached`` is False when no connection was made (refused, DNS, no route): such a
    request cannot have counted against any platform limit."""
    host = urlsplit(base_url).hostname or base_url
    text = str(exc)
    for needle, why in _NEVER_REACHED:
        if needle in text:
            failure = TransientError(f"cannot reach {host} ({why}) calling {path}; Meta was not reached", endpoint=path)
            failure.reached = False
            return failure
    if isinstance(exc, requests.exceptions.SSLError):
        why = "TLS handshake failed"
    elif "reset" in text.lower() or "aborted" in text.lower():
        why = "connection reset"
    elif isinstance(exc, requests.exceptions.ConnectionError):
        why = "connection failed"
    else:
        why = type(exc).__name__
    return TransientError(f"network error calling {path} on {host}: {why}", endpoint=path)


def appsecret_proof(token: str, app_secret: str) -> str:
    """HMAC-SHA256 of the access token keyed by the app secret, hex (Meta's "Securing
    Requests": ``appsecret_proof``)."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def read_usage(headers) -> dict | None:
    """Read ``X-App-Usage`` and ``X-Business-Use-Case-Usage`` (JSON, percentages; Meta's
    "Rate Limiting" page) from response headers.

    Returns None when neither header is present or parseable (which is *not* zero
    usage), else ``{"app": {...} | None, "business": {...} | None, "max_pct": float,
    "app_pct": float, "business_pct": float, "regain_minutes": float | None}``:
    ``max_pct`` is the highest ``call_count``, ``total_cputime`` or ``total_time`` of
    either header, ``app_pct`` that of ``X-App-Usage`` alone and ``business_pct`` that of
    ``X-Business-Use-Case-Usage`` alone (0 without it); ``regain_minutes`` the largest
    ``estimated_time_to_regain_access`` (minutes) given.
    """
    app = _json_header(headers.get("X-App-Usage"))
    business = _json_header(headers.get("X-Business-Use-Case-Usage"))
    readings: list[dict] = []
    if isinstance(app, dict):
        readings.append(app)
    else:
        app = None
    if isinstance(business, dict):
        for entries in business.values():
            if isinstance(entries, list):
                readings.extend(e for e in entries if isinstance(e, dict))
            elif isinstance(entries, dict):
                readings.append(entries)
    else:
        business = None
    if app is None and business is None:
        return None
    pcts = [float(r[k]) for r in readings for k in ("call_count", "total_cputime", "total_time")
            if isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)]
    app_pcts = [float(app[k]) for k in ("call_count", "total_cputime", "total_time")
                if app is not None and isinstance(app.get(k), (int, float)) and not isinstance(app.get(k), bool)]
    business_pcts = pcts[len(app_pcts):] if app is not None else pcts
    regain = [float(r["estimated_time_to_regain_access"]) for r in readings
              if isinstance(r.get("estimated_time_to_regain_access"), (int, float)) and r["estimated_time_to_regain_access"] > 0]
    return {"app": app, "business": business, "max_pct": max(pcts, default=0.0), "app_pct": max(app_pcts, default=0.0),
            "business_pct": max(business_pcts, default=0.0), "regain_minutes": max(regain) if regain else None}


def _json_header(value: str | None) -> object:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _retry_after(headers, reading: dict | None, now: datetime) -> float | None:
    """Seconds the platform asked to wait: ``estimated_time_to_regain_access`` (minutes,
    usage header), else ``Retry-After`` as seconds or as an HTTP-date (RFC 9110
    10.2.3; a date already past is 0). None when it said nothing usable."""
    if reading is not None and reading["regain_minutes"]:
        return reading["regain_minutes"] * 60
    value = (headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max((when - now).total_seconds(), 0.0)
    return None


def _redact_payload(payload: object, feed: GraphFeed) -> object:
    """Drop ``paging.next`` URLs' secrets from a decoded body before it goes anywhere."""
    if isinstance(payload, dict):
        paging = payload.get("paging")
        if isinstance(paging, dict):
            for key in ("next", "previous"):
                if isinstance(paging.get(key), str):
                    paging[key] = feed.redact(paging[key])
        err = payload.get("error")
        if isinstance(err, dict):
            for key in ("message", "error_user_msg", "error_user_title"):
                if isinstance(err.get(key), str):
                    err[key] = feed.redact(err[key])
    return payload
