"""Rule kinds: validation of every kind, parsing of typed values, display."""

from __future__ import annotations

import pytest

from derby import rules as r


@pytest.mark.parametrize("name, value, expected", [
    ("points_per_like", 2, 2.0), ("points_per_comment", 0.5, 0.5),
    ("cap_likes", 100, 100), ("cap_likes", None, None), ("cap_comments", 10.0, 10),
    ("media_type_bonus", {"video": 5, "IMAGE": 0}, {"IMAGE": 0.0, "VIDEO": 5.0}),
    ("extra_hashtag_bonus", 1, 1.0),
    ("early_entry_bonus", {"hours": 24, "points": 10}, {"hours": 24.0, "points": 10.0}),
    ("early_entry_bonus", None, None),
    ("require_hashtag_in_caption", False, False),
    ("require_mention", "@SNQ_Officiel", "snq_officiel"), ("require_mention", None, None),
    ("max_entries_per_entrant", 3, 3), ("max_entries_per_entrant", None, None),
    ("hidden_likes", "review", "review"),
    ("tie_break", ["score", "comments", "media_id"], ["score", "comments", "media_id"]),
])
def test_valid_values(name, value, expected):
    assert r.validate_rule(name, value) == expected


@pytest.mark.parametrize("name, value, message", [
    ("points_per_like", -1, "must be zero or more"),
    ("points_per_like", 1e308, "must be at most 1,000,000"),
    ("points_per_like", "3", "takes a number"),
    ("points_per_like", True, "takes a number"),
    ("points_per_like", float("nan"), "finite"),
    ("cap_likes", 2.5, "whole number"),
    ("cap_likes", -1, "0 or more"),
    ("media_type_bonus", {"REEL": 5}, "not 'REEL'"),
    ("media_type_bonus", {"VIDEO": -5}, "zero or more"),
    ("media_type_bonus", 5, "takes a table"),
    ("early_entry_bonus", {"hours": 24}, "takes a table"),
    ("early_entry_bonus", {"hours": 0, "points": 3}, "more than 0"),
    ("require_hashtag_in_caption", 1, "true or false"),
    ("require_mention", "not a name!", "not an Instagram username"),
    ("require_mention", "a" * 31, "not an Instagram username"),
    ("require_mention", "ends.", "not an Instagram username"),
    ("max_entries_per_entrant", 0, "1 or more"),
    ("hidden_likes", "maybe", "zero, comments_only, review"),
    ("tie_break", ["timestamp", "media_id"], "start with score"),
    ("tie_break", ["score", "timestamp"], "end with media_id"),
    ("tie_break", ["score", "score", "media_id"], "twice"),
    ("tie_break", ["score", "luck", "media_id"], "not 'luck'"),
    ("nope", 1, "unknown rule"),
])
def test_invalid_values_name_the_rule(name, value, message):
    with pytest.raises(ValueError, match=message) as info:
        r.validate_rule(name, value)
    assert name in str(info.value)


@pytest.mark.parametrize("name, text, expected", [
    ("points_per_like", "3", 3.0), ("require_hashtag_in_caption", "FALSE", False),
    ("cap_likes", "none", None), ("cap_likes", "off", None),
    ("media_type_bonus", '{"VIDEO": 5}', {"VIDEO": 5.0}),
    ("early_entry_bonus", '{"hours": 12, "points": 2}', {"hours": 12.0, "points": 2.0}),
    ("require_mention", "@snq", "snq"), ("hidden_likes", "comments_only", "comments_only"),
    ("tie_break", "score, first_seen, media_id", ["score", "first_seen", "media_id"]),
    ("tie_break", '["score", "media_id"]', ["score", "media_id"]),
])
def test_parse_typed_values(name, text, expected):
    assert r.parse_rule_value(name, text) == expected


def test_parse_refuses_what_is_not_a_value():
    with pytest.raises(ValueError, match="points_per_like"):
        r.parse_rule_value("points_per_like", "__import__('os')")
    with pytest.raises(ValueError, match="unknown rule"):
        r.parse_rule_value("points", "1")


def test_every_kind_has_a_valid_default():
    for name, kind in r.RULE_KINDS.items():
        assert r.validate_rule(name, kind.default) == kind.default


def test_format_value():
    assert [r.format_value(v) for v in (1.0, 0.5, True, None, {"VIDEO": 5.0}, ["score", "media_id"])] == [
        "1", "0.5", "true", "none", "VIDEO=5", "score > media_id"]
