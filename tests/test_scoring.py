"""Eligibility, scores and ordering (pure functions)."""

from __future__ import annotations

import pytest

from derby import rules as rule_kinds
from derby.scoring import eligibility, rank_entries, score_entry
from derby.text import caption_hashtags, normalize_hashtag
from helpers import utc

START, END = utc(2017, 4, 1, 4), utc(2017, 4, 10, 3, 59, 59)
RULES = rule_kinds.effective_rules({})
TAGS = ("love", "snq17")


def entry(media_id="1", caption="#love", ts=utc(2017, 4, 3), likes=10, comments=1):
    return {"media_id": media_id, "caption": caption, "timestamp": ts, "like_count": likes,
            "comments_count": comments, "permalink": None, "media_type": "IMAGE", "observed_at": None}


@pytest.mark.parametrize("caption, eligible", [
    ("#love", True), ("#LOVE", True), ("J'adore #love#instagood", True), ("#Love.", True),
    ("#lovequotes", False), ("love", False), ("# love", False), ("#snq17🎉", True),
    ("＃love", False),  # a full-width number sign is not a hashtag
])
def test_whole_tag_matching(caption, eligible):
    assert (eligibility(entry(caption=caption), TAGS, START, END, RULES) == "eligible") is eligible


def test_matching_is_nfc_and_case_insensitive():
    decomposed = "#Que\u0301bec"  # e + combining acute
    assert caption_hashtags(decomposed) == [normalize_hashtag("québec")]
    assert eligibility(entry(caption="#QUÉBEC"), ("québec",), START, END, RULES) == "eligible"


@pytest.mark.parametrize("ts, status", [
    (None, "no_timestamp"),
    (utc(2017, 4, 1, 3, 59, 59), "before_start"),
    (utc(2017, 4, 1, 4), "eligible"),
    (utc(2017, 4, 10, 3, 59, 59), "eligible"),
    (utc(2017, 4, 10, 4), "after_end"),
])
def test_window_is_judged_on_the_posts_own_timestamp(ts, status):
    assert eligibility(entry(ts=ts), TAGS, START, END, RULES) == status


def test_caption_rules():
    assert eligibility(entry(caption=None), TAGS, START, END, RULES) == "no_caption"
    assert eligibility(entry(caption="nice"), TAGS, START, END, RULES) == "missing_hashtag"
    relaxed = {**RULES, "require_hashtag_in_caption": False}
    assert eligibility(entry(caption=None), TAGS, START, END, relaxed) == "eligible"


def test_score_and_hidden_likes():
    score, points, flags = score_entry(entry(likes=10, comments=2), RULES)
    assert (score, points, flags) == (16.0, {"points_per_like": 10.0, "points_per_comment": 6.0}, [])
    score, _, flags = score_entry(entry(likes=None, comments=2), RULES)
    assert (score, flags) == (6.0, ["hidden_likes"])
    custom = {**RULES, "points_per_like": 0.5, "points_per_comment": 0}
    assert score_entry(entry(likes=10, comments=2), custom)[0] == 5.0


def test_ordering_and_ties():
    entries = [
        entry("b", ts=utc(2017, 4, 3), likes=10, comments=0),
        entry("a", ts=utc(2017, 4, 3), likes=10, comments=0),   # same score and time: media id decides
        entry("c", ts=utc(2017, 4, 2), likes=10, comments=0),   # same score, earlier: first
        entry("d", ts=utc(2017, 4, 5), likes=100, comments=0),
        entry("x", caption="nothing", likes=999),
    ]
    ranked = rank_entries(entries, TAGS, START, END, RULES)
    assert [(e.media_id, e.rank) for e in ranked] == [("d", 1), ("c", 2), ("a", 3), ("b", 4), ("x", None)]
    assert [e.flags for e in ranked[:4]] == [[], ["tied"], ["tied"], ["tied"]]
    assert ranked[4].status == "missing_hashtag" and ranked[4].reason == "no contest hashtag in the caption"


def test_rule_validation():
    assert rule_kinds.validate_rule("points_per_like", 2) == 2.0
    assert rule_kinds.parse_rule_value("require_hashtag_in_caption", "FALSE") is False
    for name, value in [("points_per_like", -1), ("points_per_like", "3"), ("points_per_like", True),
                        ("require_hashtag_in_caption", 1), ("nope", 1), ("points_per_like", float("nan"))]:
        with pytest.raises(ValueError):
            rule_kinds.validate_rule(name, value)
