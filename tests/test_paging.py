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
    assert notes == ["#x recent_media: cursor repeated after page 3 with nothing new; paging stopped"]


def test_an_empty_page_with_a_next_link_is_followed():
    notes: list[str] = []
    served = iter([MediaPage(media=[], after="c1", has_next=True),
                   MediaPage(media=[Media(media_id="7")], after=None, has_next=False)])
    got = list(paginate(lambda after: next(served), 10, notes, "#x recent_media"))
    assert [[m.media_id for m in p.media] for p in got] == [[], ["7"]]
    assert not any(p.truncated for p in got) and notes == []


def test_endless_empty_pages_stop_at_the_cap_and_are_not_full_coverage():
    notes: list[str] = []
    fetch = lambda after: MediaPage(media=[], after="z", has_next=True)  # noqa: E731
    got = list(paginate(fetch, 3, notes, "#x top_media"))
    assert len(got) <= 3 and got[-1].truncated and notes  # the repeated cursor brought nothing: stopped, not full


def test_a_repeated_cursor_whose_page_brought_new_posts_is_followed():
    notes: list[str] = []
    served = iter([MediaPage(media=[Media(media_id="1")], after="a", has_next=True),
                   MediaPage(media=[Media(media_id="2")], after="a", has_next=True),  # same cursor, new post
                   MediaPage(media=[Media(media_id="3")], after=None, has_next=False)])
    got = list(paginate(lambda after: next(served), 10, notes, "#x recent_media"))
    assert [p.media[0].media_id for p in got] == ["1", "2", "3"]
    assert not any(p.truncated for p in got) and notes == []
