"""derby.feeds.parse and derby.clock.parse_graph_timestamp, on real recorded bodies
(read from the shared folder, never copied here) and on small hand-built bodies."""

from __future__ import annotations

import copy
import json
from datetime import timedelta, timezone

import pytest

from derby.clock import parse_graph_timestamp
from derby.feeds.parse import FeedError, load_body, parse_hashtag_search, parse_media_page
from conftest import utc

MEDIA_PAGES = (
    "hashtag_recent_medias_default_p1.json",
    "hashtag_recent_medias_default_p2.json",
    "hashtag_recent_medias_fields_p1.json",
    "hashtag_recent_medias_fields_p2.json",
    "hashtag_recent_medias_p1.json",
    "hashtag_recent_medias_p2.json",
    "hashtag_top_medias_default_p1.json",
    "hashtag_top_medias_default_p2.json",
    "hashtag_top_medias_fields_p1.json",
    "hashtag_top_medias_fields_p2.json",
    "hashtag_top_medias_p1.json",
    "hashtag_top_medias_p2.json",
)
ENDPOINT = "17841562426109234/recent_media"
T = utc(2017, 4, 3, 14, 5, 9)


def raw(real_dir, name):
    return json.loads((real_dir / name).read_text(encoding="utf-8"))


def one(item):
    """Parse a page holding the single media ``item``; return (media list, warnings)."""
    page = parse_media_page({"data": [item]}, endpoint=ENDPOINT)
    return page.media, page.warnings


# -- real recorded pages -----------------------------------------------------------------

def test_the_real_folder_holds_exactly_the_listed_media_pages(real_dir):
    found = sorted(p.name for p in real_dir.glob("hashtag_*_medias_*.json"))
    assert found == sorted(MEDIA_PAGES)


@pytest.mark.parametrize("name", MEDIA_PAGES)
def test_real_page_parses_every_media_with_its_ids_and_no_warning(real_dir, name):
    body = raw(real_dir, name)
    page = parse_media_page(load_body((real_dir / name).read_bytes(), endpoint=name), endpoint=name)
    assert [m.media_id for m in page.media] == [item["id"] for item in body["data"]]
    assert len(page.media) == len(body["data"])
    assert page.warnings == []


@pytest.mark.parametrize("name", MEDIA_PAGES)
def test_real_page_fields_match_the_raw_json(real_dir, name):
    body = raw(real_dir, name)
    page = parse_media_page(body, endpoint=name)
    for media, item in zip(page.media, body["data"], strict=True):
        assert media.like_count == item["like_count"]
        assert media.comments_count == item["comments_count"]
        assert media.media_type == item["media_type"]
        assert media.caption == item.get("caption")
        assert media.permalink == item.get("permalink")
        assert media.media_url == item.get("media_url")
        assert media.children == (len(item["children"]["data"]) if "children" in item else None)
        assert media.timestamp is None  # no timestamp was requested in these recordings


@pytest.mark.parametrize("name", [n for n in MEDIA_PAGES if n.endswith("_p1.json")])
def test_real_first_page_has_next_with_the_bodys_after_cursor(real_dir, name):
    body = raw(real_dir, name)
    page = parse_media_page(body, endpoint=name)
    assert page.has_next is True
    assert page.after == body["paging"]["cursors"]["after"]


@pytest.mark.parametrize("name", [n for n in MEDIA_PAGES if n.endswith("_p2.json")])
def test_real_second_page_has_no_paging_so_no_next(real_dir, name):
    body = raw(real_dir, name)
    assert "paging" not in body
    page = parse_media_page(body, endpoint=name)
    assert page.has_next is False
    assert page.after is None


def test_glued_hashtags_come_through_unchanged(real_dir):
    item = next(i for i in raw(real_dir, "hashtag_top_medias_default_p1.json")["data"] if i["id"] == "17856001312766999")
    media = parse_media_page({"data": [item]}).media[0]
    assert "#onam#wayanad" in media.caption
    assert media.caption == item["caption"]


def test_cyrillic_glued_hashtags_come_through_unchanged(real_dir):
    item = next(i for i in raw(real_dir, "hashtag_recent_medias_default_p2.json")["data"] if i["id"] == "17848825069887283")
    media = parse_media_page({"data": [item]}).media[0]
    assert "#питер#спб" in media.caption
    assert media.caption == item["caption"]


def test_emoji_zwj_caption_comes_through_unchanged(real_dir):
    item = next(i for i in raw(real_dir, "hashtag_top_medias_default_p1.json")["data"] if i["id"] == "17846072587933764")
    media = parse_media_page({"data": [item]}).media[0]
    assert media.caption.startswith("Tag someone ❤️🧛🏻\u200d♀️🥰")
    assert media.caption == item["caption"]


# -- counts --------------------------------------------------------------------------------

def test_missing_like_count_is_none_not_zero(real_dir):
    body = copy.deepcopy(raw(real_dir, "hashtag_recent_medias_p1.json"))
    del body["data"][2]["like_count"]
    page = parse_media_page(body, endpoint=ENDPOINT)
    assert page.media[2].like_count is None
    assert page.media[2].comments_count == 6
    assert page.media[1].like_count == 1430
    assert page.warnings == []


def test_comments_count_zero_stays_zero(real_dir):
    body = raw(real_dir, "hashtag_recent_medias_p2.json")
    media = {m.media_id: m for m in parse_media_page(body).media}
    assert media["17867664274619039"].comments_count == 0
    assert media["17867664274619039"].like_count == 125


def test_like_count_zero_stays_zero():
    media, warnings = one({"id": "1", "like_count": 0, "comments_count": 0})
    assert (media[0].like_count, media[0].comments_count) == (0, 0)
    assert warnings == []


@pytest.mark.parametrize("value", [-1, "12a", "-1", "1.5", "", "١٢", True, False, 3.0, [1], 2**63, None])
def test_bad_like_count_is_unreadable_not_hidden_with_a_warning_and_record_kept(value):
    media, warnings = one({"id": "7", "like_count": value, "comments_count": 2})
    assert media[0].media_id == "7"
    assert media[0].like_count is None and media[0].likes_unreadable
    assert media[0].comments_count == 2
    assert warnings == [f"media 7: like_count={value!r} is not a count; not hidden likes; the last known count is kept "
                        "(a post new to derby waits for a readable one)"]


def test_only_an_omitted_like_count_means_hidden_likes():
    media, warnings = one({"id": "7", "comments_count": 2})
    assert media[0].like_count is None and not media[0].likes_unreadable
    assert warnings == []


@pytest.mark.parametrize("value", [-3, "zero", True])
def test_bad_comments_count_becomes_none_with_a_warning(value):
    media, warnings = one({"id": "7", "like_count": 5, "comments_count": value})
    assert (media[0].like_count, media[0].comments_count) == (5, None)
    assert warnings == [f"media 7: comments_count={value!r} is not a count; the last known count is kept"]


@pytest.mark.parametrize("value, count", [("9", 9), (" 12 ", 12), ("0", 0)])
def test_a_count_sent_as_a_whole_number_in_text_is_the_count(value, count):
    media, warnings = one({"id": "7", "like_count": value, "comments_count": value})
    assert (media[0].like_count, media[0].comments_count) == (count, count)
    assert warnings == []


# -- timestamps -------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "2017-04-03T14:05:09+0000",
    "2017-04-03T14:05:09Z",
    "2017-04-03T14:05:09+00:00",
    "2017-04-03T10:05:09-0400",
    " 2017-04-03T14:05:09+0000 ",
    1491228309,
    "1491228309",
])
def test_graph_timestamp_forms_parse_to_the_same_utc_instant(value):
    parsed = parse_graph_timestamp(value)
    assert parsed == T
    assert parsed.tzinfo is timezone.utc
    assert parsed.utcoffset() == timedelta(0)


def test_graph_timestamp_none_is_none():
    assert parse_graph_timestamp(None) is None


@pytest.mark.parametrize("value", ["yesterday", "", "2017-04-03T14:05:09", "2017-13-03T14:05:09+0000", True, [1], {}])
def test_graph_timestamp_that_does_not_parse_raises_value_error(value):
    with pytest.raises(ValueError):
        parse_graph_timestamp(value)


def test_media_timestamp_in_graph_form_parses():
    media, warnings = one({"id": "5", "timestamp": "2017-04-03T14:05:09+0000"})
    assert media[0].timestamp == T
    assert warnings == []


@pytest.mark.parametrize("value", ["yesterday", "2017-04-03T14:05:09", True, 10**20])
def test_bad_media_timestamp_is_none_with_a_warning_and_record_kept(value):
    media, warnings = one({"id": "5", "timestamp": value, "like_count": 3, "caption": "ok"})
    assert len(media) == 1
    assert (media[0].media_id, media[0].timestamp, media[0].like_count, media[0].caption) == ("5", None, 3, "ok")
    assert warnings == [f"media 5: timestamp {value!r} does not parse; ignored"]


# -- skipped records ----------------------------------------------------------------------

@pytest.mark.parametrize("item", [{"caption": "no id"}, {"id": ""}, {"id": "   "}, {"id": None}, {"id": True}, {"id": ["1"]}])
def test_record_without_id_is_skipped_with_a_warning_rest_kept(item):
    page = parse_media_page({"data": [{"id": "1"}, item, {"id": "3"}]}, endpoint=ENDPOINT)
    assert [m.media_id for m in page.media] == ["1", "3"]
    assert page.warnings == ["item 1: no media id; skipped"]


def test_integer_id_becomes_text():
    media, warnings = one({"id": 17856001312766999})
    assert media[0].media_id == "17856001312766999"
    assert warnings == []


@pytest.mark.parametrize("item", ["17856001312766999", 5, None, ["id"]])
def test_non_object_item_is_skipped_with_a_warning_rest_kept(item):
    page = parse_media_page({"data": [item, {"id": "2"}]}, endpoint=ENDPOINT)
    assert [m.media_id for m in page.media] == ["2"]
    assert page.warnings == ["item 0: not an object; skipped"]


def test_non_text_caption_is_ignored_with_a_warning():
    media, warnings = one({"id": "9", "caption": 12})
    assert media[0].caption is None
    assert warnings == ["media 9: caption is not text; ignored"]


def test_unknown_media_type_is_kept_with_a_warning():
    media, warnings = one({"id": "9", "media_type": "REEL"})
    assert media[0].media_type == "REEL"
    assert warnings == ["media 9: unknown media_type 'REEL'"]


# -- paging -----------------------------------------------------------------------------

def test_after_cursor_is_taken_from_next_when_cursors_are_missing():
    page = parse_media_page({"data": [{"id": "1"}], "paging": {"next": "https://graph.facebook.com/v24.0/1/recent_media?access_token=x&after=QVFI"}})
    assert (page.has_next, page.after) == (True, "QVFI")


def test_next_without_any_cursor_stops_paging_with_a_warning():
    page = parse_media_page({"data": [{"id": "1"}], "paging": {"next": "https://graph.facebook.com/v24.0/1/recent_media"}})
    assert (page.has_next, page.after) == (False, None)
    assert page.warnings == ["paging.next without an after cursor; paging stopped"]


def test_cursor_without_next_is_not_a_next_page():
    page = parse_media_page({"data": [{"id": "1"}], "paging": {"cursors": {"after": "QVFI"}}})
    assert (page.has_next, page.after) == (False, "QVFI")


@pytest.mark.parametrize("body", [[], "data", None, {"data": "x"}, {"data": {"id": "1"}}, {}, {"id": "1784"}])
def test_body_that_is_not_a_page_raises(body):
    with pytest.raises(FeedError) as info:
        parse_media_page(body, endpoint=ENDPOINT)
    assert str(info.value) == f"unexpected body from {ENDPOINT}: no data list"


# -- error bodies ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["error_oauth_100.json", "error_data.json"])
def test_real_error_body_raises_feed_error_with_code_and_trace(real_dir, name):
    err = raw(real_dir, name)["error"]
    with pytest.raises(FeedError) as info:
        parse_media_page(load_body((real_dir / name).read_bytes()), endpoint=ENDPOINT)
    assert info.value.code == 100
    assert info.value.fbtrace_id == err["fbtrace_id"]
    assert info.value.subcode is None
    assert info.value.endpoint == ENDPOINT
    assert str(info.value).startswith(f"Graph API error 100 on {ENDPOINT}: {err['message']} (")  # then a hint
    if "app secret proof" in err["message"]:
        assert str(info.value).endswith("(set INSTAGRAM_APP_SECRET: this call needs appsecret_proof)")


def test_real_error_body_on_hashtag_search_raises_with_code(real_dir):
    with pytest.raises(FeedError) as info:
        parse_hashtag_search(raw(real_dir, "error_data.json"), "love")
    assert (info.value.code, info.value.fbtrace_id) == (100, "AQt_hJ68vFybS4TnupatNtX")


def test_error_body_with_subcode_keeps_it():
    body = {"error": {"message": "expired", "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": "Ax"}}
    with pytest.raises(FeedError) as info:
        parse_media_page(body)
    assert (info.value.code, info.value.subcode, info.value.fbtrace_id) == (190, 463, "Ax")


# -- load_body -----------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"", b"  \r\n ", ""])
def test_load_body_empty_raises_clear_message(body):
    with pytest.raises(FeedError) as info:
        load_body(body, endpoint=ENDPOINT)
    assert str(info.value) == f"empty response from {ENDPOINT}"
    assert info.value.endpoint == ENDPOINT


def test_load_body_html_page_raises_clear_message():
    html = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
    with pytest.raises(FeedError) as info:
        load_body(html, endpoint=ENDPOINT)
    assert str(info.value) == f"HTML page instead of JSON from {ENDPOINT} (a proxy or server error)"


def test_load_body_truncated_json_raises_clear_message():
    with pytest.raises(FeedError) as info:
        load_body(b'{"data": [', endpoint=ENDPOINT)
    assert str(info.value) == f"malformed JSON from {ENDPOINT} (Expecting value at char 10)"


def test_load_body_truncated_real_page_raises_malformed_json(real_dir):
    body = (real_dir / "hashtag_recent_medias_default_p1.json").read_bytes()
    with pytest.raises(FeedError) as info:
        load_body(body[: len(body) // 2], endpoint=ENDPOINT)
    assert str(info.value).startswith(f"malformed JSON from {ENDPOINT} (")


def test_load_body_without_endpoint_names_the_feed():
    with pytest.raises(FeedError) as info:
        load_body(b"")
    assert str(info.value) == "empty response from the feed"


def test_load_body_decodes_utf8_bytes():
    assert load_body('{"data": [{"id": "1", "caption": "❤️ #a#b"}]}'.encode()) == {"data": [{"id": "1", "caption": "❤️ #a#b"}]}


# -- hashtag search --------------------------------------------------------------------------

def test_hashtag_search_returns_the_real_id(real_dir):
    assert parse_hashtag_search(raw(real_dir, "hashtag_search.json"), "developers") == "17841562426109234"


@pytest.mark.parametrize("body", [{"data": []}, {}, {"data": [{}]}, {"data": ["17841562426109234"]}, []])
def test_hashtag_search_without_an_id_raises(body):
    with pytest.raises(FeedError) as info:
        parse_hashtag_search(body, "love")
    assert str(info.value) == "hashtag #love was not found by ig_hashtag_search"


@pytest.mark.parametrize("media_id", ["²", "1\x1b]8;;http://x\x07", "17\u202e99", "a b", "x" * 65, "notanumber", "1" * 41])
def test_a_media_id_that_is_not_a_graph_id_is_skipped_with_a_warning(media_id):
    media, warnings = one({"id": media_id, "like_count": 1})
    assert media == []
    assert warnings == [f"item 0: media id {media_id[:40]!r} is not a Graph id; skipped"]


def test_load_body_unterminated_string_says_where_once():
    with pytest.raises(FeedError) as info:
        load_body(b'{"data": [{"id": "1", "caption": "abc', endpoint=ENDPOINT)
    assert str(info.value) == f"malformed JSON from {ENDPOINT} (Unterminated string starting at char 33)"


def test_a_hashtag_edge_is_named_by_its_hashtag_in_notes():
    from derby.feeds.sources import HashtagEdge

    assert HashtagEdge("17841500002754424", "recent_media", "monconcours").label == "#monconcours recent_media"
    assert HashtagEdge("17841500002754424", "top_media").label == "#17841500002754424 top_media"


@pytest.mark.parametrize("permalink", ["https://www.instagram.com/p/BSV13mQ0BzK/\x1b[31mCLICK", "javascript:alert(1)",
                                       "http://www.instagram.com/p/BSV13mQ0BzK/", "https://evil.example/p/x/",
                                       "https://www.instagram.com/p/x y/"])
def test_a_permalink_that_is_not_an_instagram_address_is_ignored_with_a_warning(permalink):
    media, warnings = one({"id": "17900000000000001", "permalink": permalink, "caption": "#socialderby"})
    assert media[0].permalink is None and media[0].caption == "#socialderby"
    assert len(warnings) == 1 and "is not an https://www.instagram.com/ address; ignored" in warnings[0]
    assert "\x1b" not in warnings[0]


def test_an_instagram_permalink_is_kept():
    for permalink in ("https://www.instagram.com/p/BSV13mQ0BzK/", "https://www.instagram.com/reel/C-9m61FIPQ8/?igsh=a%3D"):
        media, warnings = one({"id": "17900000000000001", "permalink": permalink})
        assert media[0].permalink == permalink and warnings == []
