"""Refreshes: reading known media again by id, past the 24 hours of ``recent_media``.
The one parser of their bodies, shared by every feed. Standard library only.

Two Graph API reads (Meta's "IG User" reference, ``mentioned_media`` and
``business_discovery`` fields; shapes as in the recorded ``mentioned_media.json``,
``business_discovery_user.json`` and ``medias_p1.json``):

- **by mention**: ``GET /{user-id}?fields=mentioned_media.media_id({media-id}){...}``
  answers ``{"mentioned_media": {media}, "id": "<user-id>"}`` for a media whose caption
  mentions the caller's account, at any age; needs ``instagram_manage_comments``. A
  media that is gone answers error 100 with subcode 33; one that does not (or no
  longer) mention the account answers another error;
- **by Business Discovery**: ``GET /{user-id}?fields=business_discovery.username({name})
  {media.limit(50){...}}`` answers ``{"business_discovery": {"media": {"data": [...]}},
  "id": ...}`` for a Business or Creator account; a personal account answers an error
  (code 110 reported).

What a refusal means for derby is decided here, once, for every feed
(:func:`refusal`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from derby.feeds.parse import (
    AuthError,
    BadRequestError,
    FeedError,
    Media,
    MediaPage,
    TransientError,
    parse_media,
    raise_for_error,
)
from derby.feeds.sources import Request
from derby.text import USERNAME

MENTION_FIELDS = "id,caption,like_count,comments_count,media_type,timestamp,username"
DISCOVERY_FIELDS = "id,like_count,comments_count,timestamp"
DISCOVERY_LIMIT = 50
SOURCES = ("mentioned_media", "business_discovery")
PERMISSIONS = {"mentioned_media": "instagram_manage_comments",
               "business_discovery": "instagram_basic with Business Discovery (instagram_business_basic)"}
_GRAPH_ID = re.compile(r"[0-9]{1,40}")


def is_graph_id(media_id: str) -> bool:
    """True when ``media_id`` is a Graph media id (digits) and so may go into a URL."""
    return bool(_GRAPH_ID.fullmatch(media_id or ""))


def valid_username(value: object) -> str | None:
    """Return an Instagram username from the API in comparable form (lower case), or
    None when it is not one (it is then neither stored nor shown)."""
    if not isinstance(value, str):
        return None
    name = value.strip().lower()
    return name if USERNAME.match(name) else None


def mention_fields(media_id: str) -> str:
    """The ``fields`` parameter of a mention refresh of ``media_id``; raises ValueError
    for an id that is not a Graph id (it must never reach a URL)."""
    if not is_graph_id(media_id):
        raise ValueError(f"media id {media_id[:40]!r} is not a Graph id")
    return f"mentioned_media.media_id({media_id}){{{MENTION_FIELDS}}}"


def discovery_fields(username: str) -> str:
    """The ``fields`` parameter of a Business Discovery read of ``username``; raises
    ValueError for a name that is not an Instagram username."""
    name = valid_username(username)
    if name is None:
        raise ValueError(f"{username[:40]!r} is not an Instagram username")
    return f"business_discovery.username({name}){{media.limit({DISCOVERY_LIMIT}){{{DISCOVERY_FIELDS}}}}}"


@dataclass
class MentionReading:
    """A mention refresh's answer: the media (None when the body did not hold it),
    its author's validated ``username`` (None when absent or not a username), and
    ``warnings`` about unusable fields."""

    media: Media | None
    username: str | None
    warnings: list[str] = field(default_factory=list)


def parse_mentioned_media(payload: object, media_id: str, *, endpoint: str = "") -> MentionReading:
    """Parse a mention refresh body. Raises the classified FeedError for an error body
    and TransientError for a body that is not an object. A media whose id is not the one
    asked for is dropped with a warning (``media`` None)."""
    raise_for_error(payload, endpoint=endpoint)
    if not isinstance(payload, dict):
        raise TransientError(f"unexpected body from {endpoint or 'the feed'}: not an object", endpoint=endpoint)
    warnings: list[str] = []
    item = payload.get("mentioned_media")
    media = parse_media(item, warnings) if isinstance(item, dict) else None
    if media is not None and media.media_id != media_id:
        warnings.append(f"mentioned_media answered media {media.media_id} for {media_id}; ignored")
        media = None
    username = None
    if isinstance(item, dict) and item.get("username") is not None:
        username = valid_username(item.get("username"))
        if username is None:
            warnings.append(f"media {media_id}: username {str(item.get('username'))[:40]!r} is not an Instagram "
                            "username; ignored")
    return MentionReading(media=media, username=username, warnings=warnings)


def parse_business_discovery(payload: object, *, endpoint: str = "") -> tuple[list[Media], list[str]]:
    """Parse a Business Discovery media body into (media, warnings). Raises the
    classified FeedError for an error body, TransientError for one without the media."""
    raise_for_error(payload, endpoint=endpoint)
    found = payload.get("business_discovery") if isinstance(payload, dict) else None
    media = found.get("media") if isinstance(found, dict) else None
    data = media.get("data") if isinstance(media, dict) else None
    if not isinstance(data, list):
        raise TransientError(f"unexpected body from {endpoint or 'the feed'}: no business_discovery media",
                             endpoint=endpoint)
    warnings: list[str] = []
    items = [parse_media(item, warnings, i) for i, item in enumerate(data)]
    return [m for m in items if m is not None], warnings


def parse_account_username(payload: object, *, endpoint: str = "") -> str:
    """Return the validated username from ``GET /{user-id}?fields=username``; raises
    FeedError for an error body or a missing or invalid username."""
    raise_for_error(payload, endpoint=endpoint)
    name = valid_username(payload.get("username") if isinstance(payload, dict) else None)
    if name is None:
        raise BadRequestError(f"{endpoint or 'the account'} gave no usable username", endpoint=endpoint)
    return name


def refusal(exc: FeedError) -> str | None:
    """What a refresh's failure means: ``gone`` (error 100, subcode 33: the media is
    deleted or hidden; record it, never ask again), ``not_refreshable`` (any other
    refusal of the request: the media does not, or no longer, mention the account, or
    the account is personal; stop asking), ``permission`` (the token lacks the source's
    permission: turn the source off), or None (throttling, token or transient
    failures: handled like the hashtag feed's)."""
    if isinstance(exc, AuthError):
        return "permission" if exc.problem == "permission" else None
    if isinstance(exc, BadRequestError):
        return "gone" if exc.code == 100 and exc.subcode == 33 else "not_refreshable"
    return None


# -- sources (see derby.feeds.sources and docs/sources.md) --------------------------------

@dataclass(frozen=True)
class MentionRefresh:
    """``GET /{user-id}?fields=mentioned_media.media_id({media-id}){...}``: one known
    media that mentions the account, at any age. One request, no paging; the page holds
    the media (none when the answer did not) and its author in ``authors``."""

    user_id: str
    media_id: str

    @property
    def label(self) -> str:
        return f"mentioned_media {self.media_id}"

    @property
    def fixture_path(self) -> str:
        return f"mentioned_media/{self.media_id}"

    def request(self, after: str | None) -> Request:
        return Request(self.user_id, {"fields": mention_fields(self.media_id)})

    def parse(self, payload: object, endpoint: str) -> MediaPage:
        reading = parse_mentioned_media(payload, self.media_id, endpoint=endpoint)
        media = [reading.media] if reading.media is not None else []
        authors = {self.media_id: reading.username} if reading.username and media else {}
        return MediaPage(media=media, warnings=reading.warnings, authors=authors)


@dataclass(frozen=True)
class DiscoveryRefresh:
    """``GET /{user-id}?fields=business_discovery.username({name}){media.limit(50){...}}``:
    the latest 50 media of a Business or Creator account (``username`` validated)."""

    user_id: str
    username: str

    @property
    def label(self) -> str:
        return f"business_discovery @{self.username}"

    @property
    def fixture_path(self) -> str:
        return f"business_discovery/{self.username}"

    def request(self, after: str | None) -> Request:
        return Request(self.user_id, {"fields": discovery_fields(self.username)})

    def parse(self, payload: object, endpoint: str) -> MediaPage:
        media, warnings = parse_business_discovery(payload, endpoint=endpoint)
        return MediaPage(media=media, warnings=warnings, authors={m.media_id: self.username for m in media})


@dataclass(frozen=True)
class AccountUsername:
    """``GET /{user-id}?fields=username``: the organizer account's username, read once
    (the page holds no media; ``authors`` maps the account id to the username)."""

    user_id: str
    label: str = "account username"
    fixture_path: str = "account"

    def request(self, after: str | None) -> Request:
        return Request(self.user_id, {"fields": "username"})

    def parse(self, payload: object, endpoint: str) -> MediaPage:
        return MediaPage(media=[], authors={self.user_id: parse_account_username(payload, endpoint=endpoint)})
