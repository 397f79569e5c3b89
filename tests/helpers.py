"""Builders shared by tests: contests and pages made in code."""

from __future__ import annotations

from datetime import datetime, timezone

from derby.config import Contest, FeedConfig
from derby.feeds.parse import Media, MediaPage


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def contest(**overrides) -> Contest:
    values = dict(
        title="Test Derby", hashtags=("socialderby", "snq17"), timezone="America/Toronto",
        start=utc(2017, 4, 1, 4), end=utc(2017, 4, 10, 3, 59, 59), feed=FeedConfig(kind="fixture"),
        language="fr", rules={},
    )
    values.update(overrides)
    return Contest(**values)


def media(media_id: str, **fields) -> Media:
    values = dict(caption="Bravo #socialderby", media_type="IMAGE", permalink=f"https://www.instagram.com/p/C{media_id}/",
                  timestamp=utc(2017, 4, 3, 12), like_count=10, comments_count=2)
    values.update(fields)
    return Media(media_id=media_id, **values)


def page(*items: Media, warnings: list[str] | None = None) -> MediaPage:
    return MediaPage(media=list(items), warnings=list(warnings or []))


class FakeTime:
    """A monotonic clock that moves only when the code under test sleeps."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
