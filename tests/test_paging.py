"""The paging loop shared by the feeds: where it stops, and when it says a read was cut short."""

from __future__ import annotations

from derby.feeds.paging import paginate
from derby.feeds.parse import Media, MediaPage


def pages(cursors: list[str | None]):
    """fetch() serving one page per cursor in turn; None means the last page."""
    served = iter(cursors)

    def fetch(after):
        cursor = next(served)
        return MediaPage(media=[Media(media_id=str(len(cursor or "")))], after=cursor, has_next=cursor is not None)

    return fetch


def test_the_last_page_ends_paging_and_is_not_truncated():
    notes: list[str] = []
    got = list(paginate(pages(["a", "b", None]), 10, notes, "#x recent_media"))
    assert [p.truncated for p in got] == [False, False, False] and notes == []


def test_the_page_cap_marks_the_last_page_read():
    notes: list[str] = []
    got = list(paginate(pages(["a", "b", "c", None]), 2, notes, "#x recent_media"))
    assert [p.after for p in got] == ["a", "b"]
    assert [p.truncated for p in got] == [False, True]
    assert notes == ["#x recent_media: page cap of 2 reached; older media of this poll were not read"]


def test_a_repeated_cursor_stops_and_marks_the_page():
    notes: list[str] = []
    got = list(paginate(pages(["a", "b", "a", "c"]), 10, notes, "#x recent_media"))
    assert [p.after for p in got] == ["a", "b", "a"]
    assert [p.truncated for p in got] == [False, False, True]
    assert notes == ["#x recent_media: cursor repeated after page 3; paging stopped"]


def test_an_empty_page_ends_paging_even_with_a_next_cursor():
    notes: list[str] = []
    fetch = lambda after: MediaPage(media=[], after="z", has_next=True)  # noqa: E731
    got = list(paginate(fetch, 10, notes, "#x top_media"))
    assert len(got) == 1 and not got[0].truncated and notes == []
