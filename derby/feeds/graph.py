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
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import requests

from derby.config import GraphSettings
from derby.feeds.paging import paginate
from derby.feeds.parse import (
    BadRequestError,
    FeedError,
    MediaPage,
    ThrottledError,
    TransientError,
    classify_error,
    load_body,
    parse_hashtag_search,
)
from derby.feeds.sources import MEDIA_FIELDS, PAGE_LIMIT, HashtagEdge, Request, Source, hashtag_search
from derby.secrets import install_log_redaction, redact

log = logging.getLogger("derby.feeds.graph")

__all__ = ["MEDIA_FIELDS", "PAGE_LIMIT", "GraphFeed", "appsecret_proof", "read_usage"]
SLOW_DOWN_PCT = 80.0
STOP_PCT = 95.0


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
                 rand: Callable[[], float] | None = None) -> None:
        self._settings = settings
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
                            source.label)

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
        while True:
            attempt += 1
            if self.usage and self.usage["max_pct"] >= STOP_PCT:
                regain = self.usage["regain_minutes"]
                raise ThrottledError(f"usage at {self.usage['max_pct']:g} % of the platform's limit; stopped before "
                                     f"calling {path}, ahead of the platform's throttling",
                                     retry_after=regain * 60 if regain else None, endpoint=path)
            if self.usage and self.usage["max_pct"] >= SLOW_DOWN_PCT:
                self._pause(self._slow_down_pause, path, "usage above 80 %")
            remaining = self._remaining()
            if remaining <= 0:
                raise TransientError(f"the poll's deadline of {self._deadline:g} s passed before calling {path}", endpoint=path)
            try:
                return parse(self._get(request, min(self._timeout, remaining)), path)
            except TransientError as exc:
                if attempt >= self._max_attempts:
                    if attempt == 1:
                        raise
                    raise TransientError(f"{exc} (gave up after {attempt} attempts)", code=exc.code, subcode=exc.subcode,
                                         fbtrace_id=exc.fbtrace_id, endpoint=path) from None
                wait = self._rand() * self._backoff * 2 ** (attempt - 1)
                if wait >= self._remaining():
                    raise TransientError(f"{exc} (no time left for a retry within the poll's deadline of {self._deadline:g} s)",
                                         code=exc.code, subcode=exc.subcode, fbtrace_id=exc.fbtrace_id, endpoint=path) from None
                log.warning("transient failure (attempt %d of %d), retrying in %.1f s: %s", attempt, self._max_attempts, wait, exc)
                self.retries += 1
                self._sleep(wait)

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
        query = {"user_id": account.user_id, **request.params, "access_token": account.access_token}
        if account.app_secret:
            query["appsecret_proof"] = appsecret_proof(account.access_token, account.app_secret)
        url = f"{account.base_url}/{path}"
        self.requests_made += 1
        failure: TransientError | None = None
        try:
            response = self._session.get(url, params=query, timeout=timeout, allow_redirects=False)
        except requests.Timeout:
            failure = TransientError(f"timeout after {timeout:g} s calling {path}", endpoint=path)
        except requests.RequestException as exc:
            failure = TransientError(f"network error calling {path}: {type(exc).__name__}: {self.redact(str(exc))}",
                                     endpoint=path)
        if failure is not None:
            # Raised outside the except block: requests' exception (whose text holds the
            # URL and so the token) must not ride along as __context__.
            raise failure
        reading = read_usage(response.headers)
        if reading is not None:
            self.usage = reading
        status = response.status_code
        if 300 <= status < 400:
            raise BadRequestError(f"HTTP {status} redirect from {path} not followed (the token would go elsewhere); "
                                  "check DERBY_GRAPH_URL", endpoint=path)
        retry_after = _retry_after(response.headers, reading)
        try:
            payload = load_body(response.content, endpoint=path)
        except FeedError as exc:
            if status == 429:
                raise classify_error(None, status=status, endpoint=path, retry_after=retry_after) from None
            raise TransientError(f"HTTP {status}: {exc}", endpoint=path) from None
        payload = _redact_payload(payload, self)
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict) or status >= 400:
            raise classify_error(payload, status=status, endpoint=path, retry_after=retry_after)
        return payload


def appsecret_proof(token: str, app_secret: str) -> str:
    """HMAC-SHA256 of the access token keyed by the app secret, hex (Meta's "Securing
    Requests": ``appsecret_proof``)."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def read_usage(headers) -> dict | None:
    """Read ``X-App-Usage`` and ``X-Business-Use-Case-Usage`` (JSON, percentages; Meta's
    "Rate Limiting" page) from response headers.

    Returns None when neither header is present or parseable (which is *not* zero
    usage), else ``{"app": {...} | None, "business": {...} | None, "max_pct": float,
    "regain_minutes": float | None}``: ``max_pct`` is the highest ``call_count``,
    ``total_cputime`` or ``total_time`` of either header; ``regain_minutes`` the largest
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
    regain = [float(r["estimated_time_to_regain_access"]) for r in readings
              if isinstance(r.get("estimated_time_to_regain_access"), (int, float)) and r["estimated_time_to_regain_access"] > 0]
    return {"app": app, "business": business, "max_pct": max(pcts, default=0.0),
            "regain_minutes": max(regain) if regain else None}


def _json_header(value: str | None) -> object:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _retry_after(headers, reading: dict | None) -> float | None:
    if reading is not None and reading["regain_minutes"]:
        return reading["regain_minutes"] * 60
    value = headers.get("Retry-After")
    if value and value.strip().isdigit():
        return float(value.strip())
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
