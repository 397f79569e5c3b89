"""The fixture-backed feed: recorded Graph API page bodies, replayed by poll time.

Layout of a replay folder (the README documents it for users)::

    hashtags/<name>.json                                  body of ig_hashtag_search?q=<name>
    polls/<YYYYMMDDTHHMMSSZ>/<hashtag-id>/<edge>-<n>.json  page n (1, 2, ...) of an edge

and for a team contest (owner-level reads of each team account)::

    polls/<YYYYMMDDTHHMMSSZ>/<account-id>-1.json         GET /{account-id}?fields=...
    polls/<YYYYMMDDTHHMMSSZ>/<account-id>/media-<n>.json  page n of GET /{account-id}/media

A poll at time ``now`` (UTC) reads the latest poll folder not after ``now``, so a clock
that moves through the contest replays it: posts appear and counts grow. Bodies go
through the same parser as the live feed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from derby.feeds.paging import older_than, paginate
from derby.feeds.parse import (
    AccountReading,
    FeedError,
    MediaPage,
    load_body,
    parse_account,
    parse_hashtag_search,
    parse_media_page,
)
from derby.teams import Team

_FOLDER_FORMAT = "%Y%m%dT%H%M%SZ"


class FixtureFeed:
    """Replays a folder of recorded pages. Raises FeedError for a missing or bad file."""

    name = "fixture"

    def __init__(self, folder: Path, *, page_cap: int = 10) -> None:
        self.folder = Path(folder)
        self._page_cap = page_cap
        self.requests_made = 0
        self.notes: list[str] = []
        self._times: list[datetime] | None = None
        if not (self.folder / "polls").is_dir():
            raise FeedError(f"fixture folder {self.folder} has no polls/ folder")

    def poll_times(self) -> list[datetime]:
        """Return the recorded poll times (aware UTC), oldest first (the folder is
        listed once per feed: a poll asks for every hashtag and edge)."""
        if self._times is None:
            times = []
            for child in (self.folder / "polls").iterdir():
                try:
                    times.append(datetime.strptime(child.name, _FOLDER_FORMAT).replace(tzinfo=timezone.utc))
                except ValueError:
                    continue
            self._times = sorted(times)
        return list(self._times)

    def resolve_hashtag(self, name: str) -> str:
        """Return the hashtag id recorded in ``hashtags/<name>.json``."""
        return parse_hashtag_search(self._read(Path("hashtags") / f"{name}.json"), name)

    def media_pages(self, hashtag_id: str, edge: str, now: datetime) -> Iterator[MediaPage]:
        """Yield the pages recorded for ``edge`` at the latest poll not after ``now``.

        Nothing is yielded before the first recorded poll.
        """
        current = [t for t in self.poll_times() if t <= now]
        if not current:
            return
        base = Path("polls") / current[-1].strftime(_FOLDER_FORMAT) / hashtag_id
        number = 0

        def fetch(after: str | None) -> MediaPage:
            nonlocal number
            number += 1
            relative = base / f"{edge}-{number}.json"
            if not (self.folder / relative).exists():
                if number == 1:
                    return MediaPage(media=[])
                raise FeedError(f"fixture page {relative} is missing (the previous page has paging.next)")
            return parse_media_page(self._read(relative), endpoint=str(relative))

        yield from paginate(fetch, self._page_cap, self.notes, f"#{hashtag_id} {edge}")

    # -- team accounts ----------------------------------------------------------------

    def _account_folder(self, team: Team, now: datetime) -> Path | None:
        current = [t for t in self.poll_times() if t <= now]
        return Path("polls") / current[-1].strftime(_FOLDER_FORMAT) / team.account_id if current else None

    def read_account(self, team: Team, now: datetime) -> tuple[AccountReading, list[str]]:
        """Return the account reading recorded at the latest poll not after ``now``
        (``<account-id>-1.json``) and its warnings. Raises FeedError when there is none."""
        folder = self._account_folder(team, now)
        if folder is None:
            raise FeedError(f"no recorded poll at or before {now:%Y-%m-%dT%H:%M:%SZ} in {self.folder}")
        relative = folder.parent / f"{team.account_id}-1.json"
        warnings: list[str] = []
        return parse_account(self._read(relative), team.account_id, warnings, endpoint=str(relative)), warnings

    def account_media_pages(self, team: Team, since: datetime, now: datetime) -> Iterator[MediaPage]:
        """Yield the recorded pages of the account's media (``media-<n>.json``), newest
        first, until one reaches posts older than ``since``."""
        folder = self._account_folder(team, now)
        if folder is None:
            return
        number = 0

        def fetch(after: str | None) -> MediaPage:
            nonlocal number
            number += 1
            relative = folder / f"media-{number}.json"  # the pages of GET /{account-id}/media
            if not (self.folder / relative).exists():
                if number == 1:
                    return MediaPage(media=[])
                raise FeedError(f"fixture page {relative} is missing (the previous page has paging.next)")
            return parse_media_page(self._read(relative), endpoint=str(relative))

        yield from paginate(fetch, self._page_cap, self.notes, f"team {team.name} media", older_than(since))

    def _read(self, relative: Path) -> object:
        path = self.folder / relative
        self.requests_made += 1
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            raise FeedError(f"fixture file {relative} not found in {self.folder}") from None
        return load_body(body, endpoint=str(relative))
