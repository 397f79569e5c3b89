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

from derby.feeds.paging import paginate
from derby.feeds.parse import FeedError, MediaPage, load_body, parse_hashtag_search
from derby.feeds.sources import HashtagEdge, Source
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

    def read(self, source: Source, now: datetime) -> Iterator[MediaPage]:
        """Yield the pages recorded for ``source`` at the latest poll not after ``now``:
        page n of a request for ``<path>`` is ``polls/<time>/<path>-<n>.json``.

        Nothing is yielded before the first recorded poll.
        """
        current = [t for t in self.poll_times() if t <= now]
        if not current:
            return
        base = Path("polls") / current[-1].strftime(_FOLDER_FORMAT)
        number = 0

        def fetch(after: str | None) -> MediaPage:
            nonlocal number
            number += 1
            relative = base / f"{source.request(after).path}-{number}.json"
            if not (self.folder / relative).exists():
                if number == 1:
                    return MediaPage(media=[])
                raise FeedError(f"fixture page {relative} is missing (the previous page has paging.next)")
            return source.parse(self._read(relative), str(relative))

        yield from paginate(fetch, self._page_cap, self.notes, source.label, getattr(source, "enough", None))

    def media_pages(self, hashtag_id: str, edge: str, now: datetime) -> Iterator[MediaPage]:
        """Yield the pages recorded for ``edge`` of ``hashtag_id``: :meth:`read` of a
        :class:`~derby.feeds.sources.HashtagEdge`."""
        return self.read(HashtagEdge(hashtag_id, edge), now)

    def team_account(self, team: Team) -> None:
        """A replay needs no token: team reads are answered from the recorded files."""
        return None

    def _read(self, relative: Path) -> object:
        path = self.folder / relative
        self.requests_made += 1
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            raise FeedError(f"fixture file {relative} not found in {self.folder}") from None
        return load_body(body, endpoint=str(relative))
