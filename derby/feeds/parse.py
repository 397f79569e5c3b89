"""The one parser of Graph API hashtag bodies, shared by every feed. Standard library only.

Shapes follow Meta's reference for ``ig_hashtag_search``, ``/{hashtag-id}/recent_media``
and ``/{hashtag-id}/top_media`` (see ``docs/graph-api.md`` of the shared folder): a page
is ``{"data": [media...], "paging": {"cursors": {"after": ...}, "next": url}}``; a media
object carries only the fields requested and omits ``like_count`` when the owner hides
it, and never carries an author.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from derby.clock import parse_graph_timestamp
from derby.errors import DerbyError

_MEDIA_ID = re.compile(r"[0-9]{1,40}")  # the shape feeds.refresh.is_graph_id accepts
MEDIA_TYPES = ("IMAGE", "VIDEO", "CAROUSEL_ALBUM")


class FeedError(DerbyError):
    """The feed could not give a usable answer.

    ``code``/``subcode``/``fbtrace_id`` come from a Graph API error body when there was
    one; ``endpoint`` is the path called, without its query string (no token);
    ``kind`` names the class of failure (``transient``, ``throttled``, ``auth``,
    ``bad_request``, ``budget``) or is ``error`` for anything else.
    """

    exit_code = 3
    kind = "error"
    reached = True
    """False when the request never reached the platform (refused, DNS): it counts
    against no limit or budget."""

    def __init__(self, message: str, *, code: int | None = None, subcode: int | None = None,
                 fbtrace_id: str | None = None, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.fbtrace_id = fbtrace_id
        self.endpoint = endpoint

    def details(self) -> str:
        """Return ``code 4, subcode 1349210, fbtrace_id Ab12, endpoint x/recent_media``
        (the parts that are known), for a support request to Meta."""
        parts = []
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.subcode is not None:
            parts.append(f"subcode {self.subcode}")
        if self.fbtrace_id:
            parts.append(f"fbtrace_id {self.fbtrace_id}")
        if self.endpoint:
            parts.append(f"endpoint {self.endpoint}")
        return ", ".join(parts)


class TransientError(FeedError):
    """A failure that may pass by itself: codes 1 and 2, ``is_transient: true``, HTTP
    5xx, a body that is not JSON (HTML error page, empty, truncated), a connection
    reset or a timeout. Retried with backoff inside the poll's deadline."""

    kind = "transient"


class ThrottledError(FeedError):
    """The platform's rate limits: codes 4, 17, 32, 613, 80002 or HTTP 429, or a usage
    header near the limit. Never retried inside a poll. ``retry_after`` is the wait in
    seconds the platform announced (``estimated_time_to_regain_access``, given in
    minutes, or ``Retry-After``), None when it said nothing. ``scope`` is ``app`` (the
    app's platform limits: codes 4, 17, 32, 613, HTTP 429, ``X-App-Usage``: every
    account waits) or ``account`` (one Instagram account's business-use-case limit:
    code 80002, ``X-Business-Use-Case-Usage``: only that account waits)."""

    kind = "throttled"

    def __init__(self, message: str, *, retry_after: float | None = None, scope: str = "app", **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.scope = scope


class HashtagLimitError(ThrottledError):
    """``ig_hashtag_search`` refused a hashtag because the account used its 30 unique
    hashtags of the rolling 7 days (the code is undocumented; the message names the limit)."""

    kind = "hashtag_limit"


class AuthError(FeedError):
    """The token or its permissions are unusable (code 190 and its subcodes, 102, 10,
    200-299). A person must fix it; ``problem`` is ``expired``, ``invalid`` or
    ``permission``."""

    exit_code = 4
    kind = "auth"

    def __init__(self, message: str, *, problem: str = "invalid", **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.problem = problem


class BadRequestError(FeedError):
    """The platform refused the request itself (code 100, subcode 33 when the object is
    gone or hidden, an unknown 4xx, a redirect): retrying will not help; the request
    (endpoint, code, fbtrace_id) is reported. Usually a configuration problem such as
    a wrong ``INSTAGRAM_USER_ID`` or ``DERBY_GRAPH_URL``."""

    exit_code = 2
    kind = "bad_request"


class BudgetError(FeedError):
    """derby's own count says the account has no free hashtag slot this week (30 unique
    hashtags per account per rolling 7 days, Graph API "IG Hashtag Search" reference)."""

    kind = "budget"


THROTTLE_CODES = frozenset({4, 17, 32, 613, 80002})
TRANSIENT_CODES = frozenset({1, 2})
TOKEN_CODES = frozenset({102, 190})
_TOKEN_SUBCODES = {
    463: ("expired", "the access token has expired; generate a new long-lived token and put it in INSTAGRAM_ACCESS_TOKEN"),
    460: ("expired", "the access token was invalidated by a password change; log in again, generate a new token and put it in INSTAGRAM_ACCESS_TOKEN"),
    458: ("invalid", "the user removed the app; log in again through the app, then put the new token in INSTAGRAM_ACCESS_TOKEN"),
    464: ("invalid", "the Facebook user is not confirmed; confirm the account, then generate a new token"),
    467: ("invalid", "the access token is invalid (revoked or malformed); generate a new one and put it in INSTAGRAM_ACCESS_TOKEN"),
    492: ("invalid", "the access token's session is invalid; log in again and generate a new token"),
}


def classify_error(payload: object, *, status: int | None = None, endpoint: str = "",
                   retry_after: float | None = None) -> FeedError:
    """Return the FeedError subclass instance for a Graph API error body (or for an HTTP
    error status without a usable body).

    Classes follow the error table of Meta's "Handling errors" page (see the shared
    ``docs/graph-api.md``): 1, 2 and ``is_transient`` transient; 4, 17, 32, 613, 80002
    throttled (and HTTP 429); 190/102 token, 10 and 200-299 permission; 100 bad request
    (subcode 33: object gone). Unknown codes are transient on HTTP 5xx, bad requests
    otherwise. The message never carries the query string of the request.
    """
    err = payload.get("error") if isinstance(payload, dict) else None
    where = endpoint or "the feed"
    if not isinstance(err, dict):
        if status == 429:
            return ThrottledError(f"HTTP 429 (too many requests) calling {where}", retry_after=retry_after, endpoint=endpoint)
        if status is not None and status >= 500:
            return TransientError(f"HTTP {status} calling {where}", endpoint=endpoint)
        return BadRequestError(f"HTTP {status} calling {where}", endpoint=endpoint)
    code = err.get("code") if isinstance(err.get("code"), int) and not isinstance(err.get("code"), bool) else None
    sub = err.get("error_subcode") if isinstance(err.get("error_subcode"), int) else None
    trace = err.get("fbtrace_id") if isinstance(err.get("fbtrace_id"), str) else None
    message = " ".join(str(err.get("message") or "no message").split())
    text = f"Graph API error {code} on {where}: {message}"
    ids = dict(code=code, subcode=sub, fbtrace_id=trace, endpoint=endpoint)
    if code in TOKEN_CODES:
        problem, advice = _TOKEN_SUBCODES.get(sub, ("invalid", "the access token was refused; generate a new one and put it in INSTAGRAM_ACCESS_TOKEN"))
        return AuthError(f"{text} ({advice})", problem=problem, **ids)
    if code == 10 or (code is not None and 200 <= code <= 299):
        return AuthError(f"{text} (the token lacks a permission: it needs instagram_basic and the app needs "
                         "Instagram Public Content Access; fix the app or token, then poll again)", problem="permission", **ids)
    if code in THROTTLE_CODES or status == 429:
        return ThrottledError(text, retry_after=retry_after, scope="account" if code == 80002 else "app", **ids)
    if "ig_hashtag_search" in endpoint and re.search(r"\b(limit|30)\b", message, re.I) and code != 100:
        return HashtagLimitError(text, retry_after=retry_after, **ids)
    if code in TRANSIENT_CODES or err.get("is_transient") is True:
        return TransientError(text, **ids)
    if code == 100 and sub == 33:
        return BadRequestError(f"{text} (the object is gone or hidden)", **ids)
    if code == 100:
        return BadRequestError(f"{text} ({_hint_100(message, endpoint)})", **ids)
    if code != 100 and status is not None and status >= 500:
        return TransientError(text, **ids)
    return BadRequestError(text, **ids)


def _hint_100(message: str, endpoint: str) -> str:
    """Which setting an error 100 (invalid parameter) most likely points at."""
    if "app secret proof" in message.lower() or "appsecret_proof" in message.lower():
        return "set INSTAGRAM_APP_SECRET: this call needs appsecret_proof"
    if "ig_hashtag_search" in endpoint:
        return ("check INSTAGRAM_USER_ID: it must be the id of the Instagram Business or Creator account the token "
                "manages; also check the hashtag itself")
    if endpoint.endswith(("recent_media", "top_media")):
        return ("check INSTAGRAM_USER_ID (the account the token manages) and the hashtag id stored in the hashtags "
                "table; delete that row so the next poll looks the hashtag up again")
    return "check INSTAGRAM_USER_ID and DERBY_GRAPH_URL"


@dataclass(frozen=True)
class Media:
    """One hashtag media as the feed gave it; ``None`` means the field was absent.

    ``timestamp`` is aware UTC. ``like_count`` None means hidden or not requested: never
    read it as zero. ``likes_unreadable`` is True when the API sent a ``like_count`` that
    is not a count (``"9a"``, ``-1``, ``1.5``, null): only an omitted key means the owner
    hides the likes (graph-api.md), so the store keeps the last known count instead.
    A post new to derby with an unreadable ``like_count`` gets no snapshot, not even of
    a readable ``comments_count``: a stored reading's only "likes unknown" is NULL,
    which is hidden likes (scored by the ``hidden_likes`` rule), so it waits for a
    readable count; the recorded warning keeps what was sent.
    ``children`` is the number of carousel children given, if any.
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
    likes_unreadable: bool = False


@dataclass
class MediaPage:
    """One parsed page: its media, its ``after`` cursor, whether a next page exists,
    warnings about records that were skipped or fields that were unusable, and
    ``truncated`` when paging stopped after it although the feed had more; ``authors``
    the usernames a source named (refreshes by id: ``{media_id: username}``; the
    organizer account's read: ``{account id: username}``), validated. A read of a team
    account's own counts gives a page without media whose ``reading`` holds them."""

    media: list[Media]
    after: str | None = None
    has_next: bool = False
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False
    reading: AccountReading | None = None
    authors: dict[str, str] = field(default_factory=dict)


def load_body(body: bytes | str, *, endpoint: str = "") -> object:
    """Decode a response body as JSON; raises TransientError (a FeedError) for an empty,
    HTML or malformed body (proxies and 502s answer so; a retry may get a real one)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    text = body.strip()
    if not text:
        raise TransientError(f"empty response from {endpoint or 'the feed'}", endpoint=endpoint)
    if text.startswith("<"):
        raise TransientError(f"HTML page instead of JSON from {endpoint or 'the feed'} (a proxy or server error)", endpoint=endpoint)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TransientError(f"malformed JSON from {endpoint or 'the feed'} ({exc.msg.removesuffix(' at')} at char {exc.pos})", endpoint=endpoint) from None


def raise_for_error(payload: object, *, endpoint: str = "") -> None:
    """Raise the classified FeedError (see :func:`classify_error`) when ``payload`` is a
    Graph API error body."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        raise classify_error(payload, endpoint=endpoint)


def parse_hashtag_search(payload: object, name: str, *, endpoint: str = "ig_hashtag_search") -> str:
    """Return the hashtag id from an ``ig_hashtag_search`` body ``{"data": [{"id": ...}]}``.

    Raises FeedError for an error body, or when no id is given (Meta answers with an
    empty list for an unknown or banned tag).
    """
    raise_for_error(payload, endpoint=endpoint)
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or not data or not isinstance(data[0], dict) or not data[0].get("id"):
        raise BadRequestError(f"hashtag #{name} was not found by ig_hashtag_search", endpoint=endpoint)
    return str(data[0]["id"])


def parse_debug_token(payload: object, endpoint: str = "debug_token") -> dict:
    """Return the ``data`` object of a ``debug_token`` body (Meta's ``GET /debug_token``:
    ``{"data": {"app_id", "type", "expires_at", "data_access_expires_at", "is_valid",
    "scopes", "user_id", ...}}``, times in Unix seconds, 0 meaning never). Raises
    FeedError for an error body or a body without ``data``."""
    raise_for_error(payload, endpoint=endpoint)
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise BadRequestError("debug_token answered without a data object", endpoint=endpoint)
    return data


def parse_media_page(payload: object, *, endpoint: str = "") -> MediaPage:
    """Parse a ``recent_media``/``top_media`` page body (already decoded JSON).

    Records without an id are skipped with a warning; unusable fields become None with
    a warning; the rest of the page is kept. Raises FeedError for an error body or a
    body that is not a page at all.
    """
    raise_for_error(payload, endpoint=endpoint)
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise TransientError(f"unexpected body from {endpoint or 'the feed'}: no data list", endpoint=endpoint)
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
    if not _MEDIA_ID.fullmatch(media_id):  # Graph ids are digits; anything else must not reach a terminal
        warnings.append(f"item {position}: media id {media_id[:40]!r} is not a Graph id; skipped")
        return None

    def text(key: str) -> str | None:
        value = item.get(key)
        if value is None or isinstance(value, str):
            return value
        warnings.append(f"media {media_id}: {key} is not text; ignored")
        return None

    def count(key: str) -> int | None:
        value = item.get(key)
        if value is None and (key != "like_count" or key not in item):
            return None
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value.strip())  # "9": a whole number sent as text is still the count
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            unusable.append(key)
            return None
        return value

    unusable: list[str] = []

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
    media = Media(
        media_id=media_id,
        caption=text("caption"),
        media_type=media_type,
        permalink=_permalink(text("permalink"), media_id, warnings),
        timestamp=timestamp,
        like_count=count("like_count"),
        comments_count=count("comments_count"),
        media_url=text("media_url"),
        children=n_children,
        likes_unreadable="like_count" in unusable,
    )
    for key in unusable:  # like_count first, as counted
        kept = ("not hidden likes; the last known count is kept (a post new to derby waits for a readable one)"
                if key == "like_count" else "the last known count is kept")
        warnings.append(f"media {media_id}: {key}={item.get(key)!r} is not a count; {kept}")
    return media


_PERMALINK = re.compile(r"https://(www\.)?instagram\.com/[A-Za-z0-9\-._~/?#\[\]@!$&'()*+,;=%]*")


def _permalink(value: str | None, media_id: str, warnings: list[str]) -> str | None:
    """``value`` when it is an https address on instagram.com made of URL characters
    only (no space, control or escape code, which would reach a terminal, a CSV or a
    board); else None, with a warning."""
    if value is None or _PERMALINK.fullmatch(value):
        return value
    warnings.append(f"media {media_id}: permalink {value[:80]!r} is not an https://www.instagram.com/ address; ignored")
    return None


# -- owner-level reads of team accounts ------------------------------------------------

@dataclass(frozen=True)
class AccountReading:
    """One reading of a team account, as its owner sees it (``GET /{ig-user-id}?fields=
    id,username,followers_count,follows_count,media_count``; Meta's IG User reference).
    ``None`` means the field was absent or unusable."""

    account_id: str
    username: str | None = None
    followers_count: int | None = None
    follows_count: int | None = None
    media_count: int | None = None


def parse_account(payload: object, account_id: str, warnings: list[str], *, endpoint: str = "") -> AccountReading:
    """Parse an IG User body for ``account_id``.

    Raises FeedError for an error body, a body that is not an object, or one whose
    ``id`` is another account's (a token that belongs to another account answers with
    its own user when asked for ``me``). Unusable counts become None with a warning;
    a missing ``followers_count`` is a warning too (a personal account has none).
    """
    raise_for_error(payload, endpoint=endpoint)
    if not isinstance(payload, dict):
        raise TransientError(f"unexpected body from {endpoint or 'the feed'}: not an object", endpoint=endpoint)
    given = payload.get("id")
    if given is not None and str(given) != account_id:
        raise BadRequestError(f"account {account_id} answered as account {str(given)[:40]!r}: the token belongs to "
                              "another account; give this team a token that manages its own account", endpoint=endpoint)

    def count(key: str) -> int | None:
        value = payload.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            warnings.append(f"account {account_id}: {key}={value!r} is not a count; ignored")
            return None
        return value

    username = payload.get("username")
    if username is not None and (not isinstance(username, str) or not _USERNAME.fullmatch(username)):
        warnings.append(f"account {account_id}: username is not an Instagram username; ignored")
        username = None
    reading = AccountReading(account_id=account_id, username=username, followers_count=count("followers_count"),
                             follows_count=count("follows_count"), media_count=count("media_count"))
    if reading.followers_count is None:
        warnings.append(f"account {account_id}: no followers_count (is it a Business or Creator account?)")
    return reading


_USERNAME = re.compile(r"[A-Za-z0-9._]{1,30}")
