"""The paging loop shared by every feed. Standard library only."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from derby.feeds.parse import MediaPage


def paginate(fetch: Callable[[str | None], MediaPage], page_cap: int, notes: list[str], label: str,
             enough: Callable[[MediaPage], bool] | None = None) -> Iterator[MediaPage]:
    """Yield pages from ``fetch(after_cursor)``, starting with ``fetch(None)``.

    ``enough(page)``, when given, ends paging after a page for which it is true (an
    account's own media come newest first: once a page reaches posts older than the
    contest's start, older pages hold nothing that counts).

    ``recent_media`` is not in time order and its cursor can repeat (Graph API docs),
    so paging follows the platform faithfully: it never stops at the first known
    media, an empty page that still has a next page is followed, and a repeated
    cursor is followed again while its page brought media not seen in this read. It
    stops when a page has no next page, when a cursor repeats on a page with nothing
    new, or after ``page_cap`` pages; the last two are reported in ``notes`` (prefixed
    with ``label``) and mark the last page yielded ``truncated``: media older than it
    were not read, so the read must not count as full coverage.
    """
    cursors: set[str] = set()
    media: set[str] = set()
    after: str | None = None
    for number in range(1, page_cap + 1):
        page = fetch(after)
        ids = {m.media_id for m in page.media}
        brought_new = bool(ids - media)
        media |= ids
        more = page.has_next
        if more and page.after in cursors and not brought_new:
            notes.append(f"{label}: cursor repeated after page {number} with nothing new; paging stopped")
            page.truncated = True
        elif more and number == page_cap:
            notes.append(f"{label}: page cap of {page_cap} reached; older media of this poll were not read")
            page.truncated = True
        yield page
        if not more or page.truncated or (enough is not None and enough(page)):
            return
        cursors.add(page.after)  # type: ignore[arg-type]
        after = page.after

