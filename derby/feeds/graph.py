"""The Instagram Graph API hashtag feed, over requests.

Endpoints (Meta's Instagram Graph API reference, "IG Hashtag Search" and "IG Hashtag"):
``GET /ig_hashtag_search?user_id&q`` and ``GET /{hashtag-id}/recent_media|top_media``
with ``user_id``, ``fields`` and ``limit`` (at most 50). ``paging.next`` carries the
access token, so it is never followed as a URL: only its ``after`` cursor is used, and
the request is rebuilt against the configured base URL. The token goes out only to
that base URL and every text that leaves this module is passed through :func:`redact`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Iterator
from datetime import datetime

import requests

from derby.config import GraphSettings
from derby.feeds.paging import paginate
from derby.feeds.parse import FeedError, MediaPage, load_body, parse_hashtag_search, parse_media_page

MEDIA_FIELDS = "id,caption,media_type,permalink,timestamp,like_count,comments_count,children{id,media_type}"
PAGE_LIMIT = 50  # the most the hashtag edges accept per page (Graph API reference)

_SECRET_PARAMS = re.compile(r"((?:access_token|appsecret_proof|client_secret)=)[^&\s'\"]+", re.I)


class GraphFeed:
    """Reads hashtag media from the Graph API.

    ``timeout`` is the per-request timeout in seconds; ``page_cap`` the most pages per
    edge and hashtag in one poll. ``notes`` collects paging notes (cap reached, cursor
    repeated) for the poll run. Raises FeedError (token-free) on any failure.
    """

    name = "graph"

    def __init__(self, settings: GraphSettings, *, timeout: float = 20.0, page_cap: int = 10,
                 session: requests.Session | None = None) -> None:
        self._settings = settings
        self._timeout = timeout
        self._page_cap = page_cap
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = "derby (Instagram hashtag contest)"
        self.requests_made = 0
        self.notes: list[str] = []
        _install_log_redaction(settings.access_token)

    def redact(self, text: str) -> str:
        """Return ``text`` with the access token, app secret and proof removed."""
        return redact(text, self._settings.access_token, self._settings.app_secret)

    def resolve_hashtag(self, name: str) -> str:
        """Return the id of hashtag ``name`` via ``ig_hashtag_search`` (counts toward
        the 30-hashtags-a-week limit). Raises FeedError."""
        payload = self._get("ig_hashtag_search", {"q": name})
        return parse_hashtag_search(payload, name)

    def media_pages(self, hashtag_id: str, edge: str, now: datetime | None = None) -> Iterator[MediaPage]:
        """Yield parsed pages of ``edge`` for ``hashtag_id`` (``now`` is unused: the API
        answers for the present). Raises FeedError."""
        path = f"{hashtag_id}/{edge}"

        def fetch(after: str | None) -> MediaPage:
            params: dict[str, object] = {"fields": MEDIA_FIELDS, "limit": PAGE_LIMIT}
            if after:
                params["after"] = after
            return parse_media_page(self._get(path, params), endpoint=path)

        yield from paginate(fetch, self._page_cap, self.notes, f"#{hashtag_id} {edge}")

    def _get(self, path: str, params: dict[str, object]) -> object:
        query = {"user_id": self._settings.user_id, **params, "access_token": self._settings.access_token}
        if self._settings.app_secret:
            query["appsecret_proof"] = hmac.new(self._settings.app_secret.encode(),
                                                self._settings.access_token.encode(), hashlib.sha256).hexdigest()
        url = f"{self._settings.base_url}/{path}"
        self.requests_made += 1
        try:
            response = self._session.get(url, params=query, timeout=self._timeout)
        except requests.Timeout:
            raise FeedError(f"timeout after {self._timeout:g} s calling {path}", endpoint=path) from None
        except requests.RequestException as exc:
            raise FeedError(f"network error calling {path}: {type(exc).__name__}: {self.redact(str(exc))}", endpoint=path) from None
        try:
            payload = load_body(response.content, endpoint=path)
        except FeedError as exc:
            raise FeedError(f"HTTP {response.status_code}: {exc}", endpoint=path) from None
        if response.status_code >= 400 and not (isinstance(payload, dict) and "error" in payload):
            raise FeedError(f"HTTP {response.status_code} calling {path}", endpoint=path)
        return _redact_payload(payload, self)


def redact(text: str, *secrets: str | None) -> str:
    """Remove every secret value and every ``access_token=``-style parameter from text."""
    text = _SECRET_PARAMS.sub(r"\1***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _redact_payload(payload: object, feed: GraphFeed) -> object:
    """Drop ``paging.next`` URLs' secrets from a decoded body before it goes anywhere."""
    if isinstance(payload, dict):
        paging = payload.get("paging")
        if isinstance(paging, dict):
            for key in ("next", "previous"):
                if isinstance(paging.get(key), str):
                    paging[key] = feed.redact(paging[key])
        err = payload.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            err["message"] = feed.redact(err["message"])
    return payload


class _RedactingFilter(logging.Filter):
    """Redacts secrets from urllib3/requests log records (they log request URLs)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message, *self.secrets)
        record.args = ()
        return True


_FILTER = _RedactingFilter()


def _install_log_redaction(token: str) -> None:
    _FILTER.secrets.add(token)
    for name in ("urllib3.connectionpool", "urllib3", "requests"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
