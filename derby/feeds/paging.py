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
    so paging never stops at the first known media. It stops when a page has no next
    page, when a page is empty, when a cursor repeats, or after ``page_cap`` pages;
    the last two are reported in ``notes`` (prefixed with ``label``) and mark the last
    page yielded ``truncated``: media older than it were not read.
    """
    seen: set[str] = set()
    after: str | None = None
    for number in range(1, page_cap + 1):
        page = fetch(after)
        more = page.has_next and bool(page.media)
        if more and page.after in seen:
            notes.append(f"{label}: cursor repeated after page {number}; paging stopped")
            page.truncated = True
        elif more and number == page_cap:
            notes.append(f"{label}: page cap of {page_cap} reached; older media of this poll were not read")
            page.truncated = True
        yield page
        if not more or page.truncated or (enough is not None and enough(page)):
            return
        seen.add(page.after)  # type: ignore[arg-type]
        after = page.after

