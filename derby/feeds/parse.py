"""The one parser of Graph API hashtag bodies, shared by every feed. Standard library only.

Shapes follow Meta's reference for ``ig_hashtag_search``, ``/{hashtag-id}/recent_media``
and ``/{hashtag-id}/top_media`` (see ``docs/graph-api.md`` of the shared folder): a page
is ``{"data": [media...], "paging": {"cursors": {"after": ...}, "next": url}}``; a media
object carries only the fields requested and omits ``like_count`` when the owner hides
it, and never carries an author.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from derby.clock import parse_graph_timestamp
from derby.errors import DerbyError

MEDIA_TYPES = ("IMAGE", "VIDEO", "CAROUSEL_ALBUM")


class FeedError(DerbyError):
    """The feed could not give a usable answer.

    ``code``/``subcode``/``fbtrace_id`` come from a Graph API error body when there was
    one; ``endpoint`` is the path called, without its query string (no token).
    """

    exit_code = 3

    def __init__(self, message: str, *, code: int | None = None, subcode: int | None = None,
                 fbtrace_id: str | None = None, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.fbtrace_id = fbtrace_id
        self.endpoint = endpoint


@dataclass(frozen=True)
class Media:
    """One hashtag media as the feed gave it; ``None`` means the field was absent.

    ``timestamp`` is aware UTC. ``like_count`` None means hidden or not requested: never
    read it as zero. ``children`` is the number of carousel children given, if any.
    """

    media_id: str
    caption: str | None = None
    media_type: str | None = None
    permalink: str | None = None
    timestamp: datetime | None = None
    like_count: int | None = None
    comments_count: int | None = None
    media_url: str | None = None
    children: int | None = None


@dataclass
class MediaPage:
    """One parsed page: its media, its ``after`` cursor, whether a next page exists,
    and warnings about records that were skipped or fields that were unusable."""

    media: list[Media]
    after: str | None = None
    has_next: bool = False
    warnings: list[str] = field(default_factory=list)


def load_body(body: bytes | str, *, endpoint: str = "") -> object:
    """Decode a response body as JSON; raises FeedError for empty, HTML or bad JSON."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    text = body.strip()
    if not text:
        raise FeedError(f"empty response from {endpoint or 'the feed'}", endpoint=endpoint)
    if text.startswith("<"):
        raise FeedError(f"HTML page instead of JSON from {endpoint or 'the feed'} (a proxy or server error)", endpoint=endpoint)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeedError(f"malformed JSON from {endpoint or 'the feed'} ({exc.msg} at char {exc.pos})", endpoint=endpoint) from None


def raise_for_error(payload: object, *, endpoint: str = "") -> None:
    """Raise FeedError when ``payload`` is a Graph API error body."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        err = payload["error"]
        code = err.get("code") if isinstance(err.get("code"), int) else None
        sub = err.get("error_subcode") if isinstance(err.get("error_subcode"), int) else None
        message = str(err.get("message") or "no message")
        raise FeedError(f"Graph API error {code} on {endpoint or 'the feed'}: {message}",
                        code=code, subcode=sub, fbtrace_id=err.get("fbtrace_id"), endpoint=endpoint)


def parse_hashtag_search(payload: object, name: str, *, endpoint: str = "ig_hashtag_search") -> str:
    """Return the hashtag id from an ``ig_hashtag_search`` body ``{"data": [{"id": ...}]}``.

    Raises FeedError for an error body, or when no id is given (Meta answers with an
    empty list for an unknown or banned tag).
    """
    raise_for_error(payload, endpoint=endpoint)
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or not data or not isinstance(data[0], dict) or not data[0].get("id"):
        raise FeedError(f"hashtag #{name} was not found by ig_hashtag_search", endpoint=endpoint)
    return str(data[0]["id"])


def parse_media_page(payload: object, *, endpoint: str = "") -> MediaPage:
    """Parse a ``recent_media``/``top_media`` page body (already decoded JSON).

    Records without an id are skipped with a warning; unusable fields become None with
    a warning; the rest of the page is kept. Raises FeedError for an error body or a
    body that is not a page at all.
    """
    raise_for_error(payload, endpoint=endpoint)
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise FeedError(f"unexpected body from {endpoint or 'the feed'}: no data list", endpoint=endpoint)
    page = MediaPage(media=[])
    for position, item in enumerate(payload.get("data", [])):
        media = parse_media(item, page.warnings, position)
        if media is not None:
            page.media.append(media)
    paging = payload.get("paging")
    if isinstance(paging, dict):
        cursors = paging.get("cursors")
        after = cursors.get("after") if isinstance(cursors, dict) else None
        nxt = paging.get("next")
        if isinstance(nxt, str) and nxt:
            page.has_next = True
            if not after:
                after = (parse_qs(urlsplit(nxt).query).get("after") or [None])[0]
        page.after = after if isinstance(after, str) and after else None
        if page.has_next and page.after is None:
            page.has_next = False
            page.warnings.append("paging.next without an after cursor; paging stopped")
    return page


def parse_media(item: object, warnings: list[str], position: int = 0) -> Media | None:
    """Parse one media object; append to ``warnings`` what was unusable."""
    if not isinstance(item, dict):
        warnings.append(f"item {position}: not an object; skipped")
        return None
    media_id = item.get("id")
    if isinstance(media_id, int) and not isinstance(media_id, bool):
        media_id = str(media_id)
    if not isinstance(media_id, str) or not media_id.strip():
        warnings.append(f"item {position}: no media id; skipped")
        return None
    media_id = media_id.strip()

    def text(key: str) -> str | None:
        value = item.get(key)
        if value is None or isinstance(value, str):
            return value
        warnings.append(f"media {media_id}: {key} is not text; ignored")
        return None

    def count(key: str) -> int | None:
        value = item.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            warnings.append(f"media {media_id}: {key}={value!r} is not a count; ignored")
            return None
        return value

    try:
        timestamp = parse_graph_timestamp(item.get("timestamp"))
    except (ValueError, OverflowError, OSError):
        warnings.append(f"media {media_id}: timestamp {item.get('timestamp')!r} does not parse; ignored")
        timestamp = None
    media_type = text("media_type")
    if media_type is not None and media_type not in MEDIA_TYPES:
        warnings.append(f"media {media_id}: unknown media_type {media_type!r}")
    children = item.get("children")
    n_children = len(children["data"]) if isinstance(children, dict) and isinstance(children.get("data"), list) else None
    return Media(
        media_id=media_id,
        caption=text("caption"),
        media_type=media_type,
        permalink=text("permalink"),
        timestamp=timestamp,
        like_count=count("like_count"),
        comments_count=count("comments_count"),
        media_url=text("media_url"),
        children=n_children,
    )
