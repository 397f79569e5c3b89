"""derby.feeds.fixture.FixtureFeed on a small replay folder built here, and on the
bundled demo replay."""

from __future__ import annotations

import json

import pytest

from conftest import DEMO_REPLAY, utc
from derby.feeds import EDGES
from derby.feeds.fixture import FixtureFeed
from derby.feeds.parse import FeedError, load_body, parse_hashtag_search, parse_media_page

TAG_ID = "17800000000000001"
FIRST, SECOND = "20170401T120000Z", "20170402T120000Z"
NEXT = "https://graph.facebook.com/v24.0/17800000000000001/recent_media?access_token=x&after={}"


def media(media_id, likes, comments):
    return {"id": media_id, "media_type": "IMAGE", "timestamp": "2017-04-01T10:00:00+0000",
            "like_count": likes, "comments_count": comments, "caption": f"#x#y {media_id} 🏳️‍🌈"}


def write(path, payload):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload), encoding="utf-8")


@pytest.fixture
def replay(tmp_path):
    """Two polls of #x: the first has two recent_media pages, the second one page with grown counts."""
    folder = tmp_path / "replay"
    write(folder / "hashtags" / "x.json", {"data": [{"id": TAG_ID}]})
    first = folder / "polls" / FIRST / TAG_ID
    write(first / "recent_media-1.json", {"data": [media("101", 1, 0), media("102", 0, 0)],
                                          "paging": {"cursors": {"after": "c1"}, "next": NEXT.format("c1")}})
    write(first / "recent_media-2.json", {"data": [media("103", 2, 1)]})
    write(folder / "polls" / SECOND / TAG_ID / "recent_media-1.json",
          {"data": [media("101", 5, 2), media("102", 3, 0), media("103", 4, 1)]})
    (folder / "polls" / "notes").mkdir()  # not a poll time: ignored
    return folder


def read(feed, now, edge="recent_media"):
    return [[(m.media_id, m.like_count, m.comments_count) for m in page.media]
            for page in feed.media_pages(TAG_ID, edge, now)]


# -- poll times and the folder chosen by now ---------------------------------------------------

def test_poll_times_are_the_folder_times_oldest_first(replay):
    assert FixtureFeed(replay).poll_times() == [utc(2017, 4, 1, 12), utc(2017, 4, 2, 12)]


def test_before_the_first_poll_there_are_no_pages(replay):
    feed = FixtureFeed(replay)
    assert read(feed, utc(2017, 4, 1, 11, 59, 59)) == []
    assert feed.requests_made == 0


def test_at_the_first_poll_time_the_first_poll_is_read(replay):
    assert read(FixtureFeed(replay), utc(2017, 4, 1, 12)) == [[("101", 1, 0), ("102", 0, 0)], [("103", 2, 1)]]


def test_between_polls_the_earlier_poll_is_read(replay):
    assert read(FixtureFeed(replay), utc(2017, 4, 2, 11, 59, 59)) == [[("101", 1, 0), ("102", 0, 0)], [("103", 2, 1)]]


def test_after_the_last_poll_the_latest_poll_is_read_with_grown_counts(replay):
    assert read(FixtureFeed(replay), utc(2017, 4, 30)) == [[("101", 5, 2), ("102", 3, 0), ("103", 4, 1)]]


# -- paging across files --------------------------------------------------------------------

def test_paging_reads_the_next_numbered_file(replay):
    feed = FixtureFeed(replay)
    pages = list(feed.media_pages(TAG_ID, "recent_media", utc(2017, 4, 1, 12)))
    assert [(p.has_next, p.after) for p in pages] == [(True, "c1"), (False, None)]
    assert feed.requests_made == 2
    assert feed.notes == []


def test_missing_page_after_paging_next_raises(replay):
    (replay / "polls" / FIRST / TAG_ID / "recent_media-2.json").unlink()
    pages = FixtureFeed(replay).media_pages(TAG_ID, "recent_media", utc(2017, 4, 1, 12))
    assert [m.media_id for m in next(pages).media] == ["101", "102"]
    with pytest.raises(FeedError) as info:
        next(pages)
    assert str(info.value) == f"fixture page polls/{FIRST}/{TAG_ID}/recent_media-2.json is missing (the previous page has paging.next)"


def test_edge_without_a_recorded_file_gives_one_empty_page(replay):
    pages = list(FixtureFeed(replay).media_pages(TAG_ID, "top_media", utc(2017, 4, 1, 12)))
    assert [(p.media, p.has_next) for p in pages] == [([], False)]


def test_page_cap_stops_fixture_paging_with_a_note(replay):
    feed = FixtureFeed(replay, page_cap=1)
    assert read(feed, utc(2017, 4, 1, 12)) == [[("101", 1, 0), ("102", 0, 0)]]
    assert feed.notes == [f"#{TAG_ID} recent_media: page cap of 1 reached; older media of this poll were not read"]


def test_malformed_page_file_raises(replay):
    write(replay / "polls" / SECOND / TAG_ID / "recent_media-1.json", '{"data": [')
    with pytest.raises(FeedError) as info:
        list(FixtureFeed(replay).media_pages(TAG_ID, "recent_media", utc(2017, 4, 30)))
    assert str(info.value) == f"malformed JSON from polls/{SECOND}/{TAG_ID}/recent_media-1.json (Expecting value at char 10)"


# -- hashtags and the folder -----------------------------------------------------------------

def test_resolve_hashtag_reads_the_recorded_search(replay):
    feed = FixtureFeed(replay)
    assert feed.resolve_hashtag("x") == TAG_ID
    assert feed.requests_made == 1


def test_unknown_hashtag_raises(replay):
    with pytest.raises(FeedError) as info:
        FixtureFeed(replay).resolve_hashtag("y")
    assert str(info.value) == f"fixture file hashtags/y.json not found in {replay}"


def test_folder_without_polls_raises(tmp_path):
    with pytest.raises(FeedError) as info:
        FixtureFeed(tmp_path)
    assert str(info.value) == f"fixture folder {tmp_path} has no polls/ folder"


# -- the bundled demo replay -------------------------------------------------------------------

DEMO_PAGES = sorted(p for p in (DEMO_REPLAY / "polls").rglob("*.json") if p.name.startswith(EDGES))


def test_demo_replay_has_pages():
    assert len(DEMO_PAGES) >= 2 * len(EDGES) * len(FixtureFeed(DEMO_REPLAY).poll_times()) > 0


@pytest.mark.parametrize("path", DEMO_PAGES, ids=lambda p: str(p.relative_to(DEMO_REPLAY / "polls")))
def test_demo_page_parses_without_warnings(path):
    page = parse_media_page(load_body(path.read_bytes(), endpoint=path.name), endpoint=path.name)
    assert page.warnings == []
    assert all(m.timestamp is not None and m.comments_count is not None for m in page.media)


def test_demo_mention_answers_parse_and_the_deleted_post_answers_gone():
    from derby.feeds.parse import BadRequestError
    from derby.feeds.refresh import parse_mentioned_media, refusal

    gone, read, authors = set(), 0, set()
    for path in sorted((DEMO_REPLAY / "polls").glob("*/mentioned_media/*-1.json")):
        media_id = path.name.removesuffix("-1.json")
        body = load_body(path.read_bytes(), endpoint=path.name)
        try:
            reading = parse_mentioned_media(body, media_id, endpoint=path.name)
        except BadRequestError as exc:
            assert refusal(exc) == "gone"
            gone.add(media_id)
            continue
        assert reading.warnings == [] and reading.media is not None and reading.username
        assert "@" not in (reading.media.caption or "")  # mentions written as the hashtag feed writes them
        read += 1
        authors.add(reading.username)
    assert read > 100 and len(authors) > 20 and len(gone) == 1


def test_demo_hashtags_resolve_to_ids_recorded_in_every_poll():
    feed = FixtureFeed(DEMO_REPLAY)
    names = sorted(p.stem for p in (DEMO_REPLAY / "hashtags").glob("*.json"))
    assert names == ["snq17", "socialderby"]
    for name in names:
        raw = json.loads((DEMO_REPLAY / "hashtags" / f"{name}.json").read_text(encoding="utf-8"))
        tag_id = feed.resolve_hashtag(name)
        assert tag_id == parse_hashtag_search(raw, name) == raw["data"][0]["id"]
        for poll in feed.poll_times():
            assert (DEMO_REPLAY / "polls" / poll.strftime("%Y%m%dT%H%M%SZ") / tag_id).is_dir()


def test_demo_replay_pages_all_read_at_every_poll_without_notes():
    feed = FixtureFeed(DEMO_REPLAY)
    ids = [feed.resolve_hashtag(name) for name in ("socialderby", "snq17")]
    read_pages = 0
    for now in feed.poll_times():
        for tag_id in ids:
            for edge in EDGES:
                read_pages += len(list(feed.media_pages(tag_id, edge, now)))
    assert read_pages == len(DEMO_PAGES)
    assert feed.notes == []
