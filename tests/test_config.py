"""The contest file: valid files load, every mistake gets a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from derby.config import graph_settings, load_contest
from derby.errors import ConfigError
from helpers import utc

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
[contest]
title = "T"
hashtags = ["#SocialDerby", "snq17", "socialderby"]
timezone = "America/Toronto"
start = "2017-04-01T00:00:00"
end = "2017-04-09T23:59:59"
[feed]
kind = "graph"
[rules]
points_per_like = 2
"""


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_contest_files_load():
    contest = load_contest(ROOT / "config" / "socialderby.toml")
    assert contest.hashtags == ("socialderby", "snq17")
    assert contest.start == utc(2017, 4, 1, 4)  # EDT, UTC-4
    assert contest.end == utc(2017, 4, 10, 3, 59, 59)
    replay = load_contest(ROOT / "config" / "socialderby-replay.toml")
    assert replay.feed.kind == "fixture" and (replay.feed.path / "polls").is_dir()


def test_hashtags_are_normalized_and_deduplicated(tmp_path):
    contest = load_contest(write(tmp_path, GOOD))
    assert contest.hashtags == ("socialderby", "snq17")
    assert contest.rules == {"points_per_like": 2.0}


@pytest.mark.parametrize("old, new, message", [
    ('timezone = "America/Toronto"', 'timezone = "Mars/Olympus"', "unknown time zone"),
    ('end = "2017-04-09T23:59:59"', 'end = "2017-03-01T00:00:00"', "end must be after"),
    ('hashtags = ["#SocialDerby", "snq17", "socialderby"]', "hashtags = []", "non-empty list"),
    ('hashtags = ["#SocialDerby", "snq17", "socialderby"]', 'hashtags = ["two words"]', "not a hashtag"),
    ('hashtags = ["#SocialDerby", "snq17", "socialderby"]', 'hashtags = ["🎉"]', "not a hashtag"),
    ('title = "T"', 'title = "T"\ncolour = "red"', "unknown key contest.colour"),
    ("[rules]", "[rulez]", "unknown table"),
    ("points_per_like = 2", "points_per_like = -2", "must be zero or more"),
    ("points_per_like = 2", "points_per_fave = 2", "unknown key rules.points_per_fave"),
    ('kind = "graph"', 'kind = "carrier-pigeon"', "feed.kind"),
    ('kind = "graph"', 'kind = "fixture"', "feed.path is required"),
    ('start = "2017-04-01T00:00:00"', 'start = "1er avril"', "not an ISO 8601 time"),
    ('end = "2017-04-09T23:59:59"', 'end = "2017-04-09T23:59:59"\ncount_engagement_until = "2017-04-09T12:00:00"',
     "count_engagement_until must be at or after contest.end"),
    ("points_per_like = 2", 'media_type_bonus = { REEL = 5 }', "knows media types"),
    ("points_per_like = 2", 'tie_break = ["media_id", "score"]', "must start with score"),
    ('start = "2017-04-01T00:00:00"', 'start = "2017-03-12T02:30:00"', "does not exist in America/Toronto"),
    ('end = "2017-04-09T23:59:59"', 'end = "2017-11-05T01:30:00"', "happens twice"),
    ('kind = "graph"', 'kind = "graph"\npath = "x"', "only for feed.kind"),
])
def test_mistakes_are_named(tmp_path, old, new, message):
    assert old in GOOD
    with pytest.raises(ConfigError, match=message):
        load_contest(write(tmp_path, GOOD.replace(old, new)))


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_contest(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_contest(write(tmp_path, "[contest\n"))


def test_graph_settings():
    with pytest.raises(ConfigError, match="INSTAGRAM_ACCESS_TOKEN"):
        graph_settings({})
    with pytest.raises(ConfigError, match="INSTAGRAM_USER_ID"):
        graph_settings({"INSTAGRAM_ACCESS_TOKEN": "t", "INSTAGRAM_USER_ID": "me"})
    for url in ("http://graph.example.com/v24.0", "ftp://127.0.0.1/", "graph.facebook.com/v24.0"):
        with pytest.raises(ConfigError, match="must be an https:// URL"):
            graph_settings({"INSTAGRAM_ACCESS_TOKEN": "t", "INSTAGRAM_USER_ID": "1", "DERBY_GRAPH_URL": url})
    settings = graph_settings({"INSTAGRAM_ACCESS_TOKEN": "sekrit", "INSTAGRAM_USER_ID": "123",
                               "DERBY_GRAPH_URL": "http://127.0.0.1:9/v24.0/"})
    assert settings.base_url == "http://127.0.0.1:9/v24.0"
    assert "sekrit" not in repr(settings)


def test_every_rule_kind_and_the_grace_load_from_toml(tmp_path):
    text = GOOD.replace('end = "2017-04-09T23:59:59"',
                        'end = "2017-04-09T23:59:59"\ncount_engagement_until = "2017-04-10T23:59:59"')
    text += """cap_likes = 500
cap_comments = 100
media_type_bonus = { VIDEO = 5, CAROUSEL_ALBUM = 2 }
extra_hashtag_bonus = 1
early_entry_bonus = { hours = 24, points = 10 }
require_hashtag_in_caption = true
require_mention = "@snq_officiel"
max_entries_per_entrant = 3
hidden_likes = "review"
tie_break = ["score", "comments", "timestamp", "media_id"]
"""
    contest = load_contest(write(tmp_path, text))
    assert contest.count_engagement_until == utc(2017, 4, 11, 3, 59, 59)
    assert contest.rules == {
        "points_per_like": 2.0, "cap_likes": 500, "cap_comments": 100,
        "media_type_bonus": {"VIDEO": 5.0, "CAROUSEL_ALBUM": 2.0}, "extra_hashtag_bonus": 1.0,
        "early_entry_bonus": {"hours": 24.0, "points": 10.0}, "require_hashtag_in_caption": True,
        "require_mention": "snq_officiel", "max_entries_per_entrant": 3, "hidden_likes": "review",
        "tie_break": ["score", "comments", "timestamp", "media_id"]}


@pytest.mark.parametrize("end", ['"2017-04-09"', "2017-04-09"])
def test_an_end_date_without_a_time_is_the_end_of_that_day(tmp_path, end):
    text = GOOD.replace('end = "2017-04-09T23:59:59"', f"end = {end}").replace(
        'start = "2017-04-01T00:00:00"', "start = 2017-04-01")
    contest = load_contest(write(tmp_path, text))
    assert contest.end == utc(2017, 4, 10, 3, 59, 59)  # 23:59:59 in Toronto (UTC−4)
    assert contest.start == utc(2017, 4, 1, 4)


def test_forty_hashtags_are_refused_for_the_30_tag_limit_before_any_schedule_advice(tmp_path):
    tags = ", ".join(f'"tag{i}"' for i in range(40))
    text = GOOD.replace('hashtags = ["#SocialDerby", "snq17", "socialderby"]', f"hashtags = [{tags}]")
    with pytest.raises(ConfigError) as info:
        load_contest(write(tmp_path, text))
    message = str(info.value)
    assert "contest.hashtags lists 40 hashtags; an Instagram account may query only 30 unique hashtags in 7 days" in message
    assert "poll every" not in message


def test_refresh_settings_and_their_requests_count_in_the_budget(tmp_path):
    from derby.config import load_contest

    base = ('[contest]\ntitle = "x"\nhashtags = ["a"]\ntimezone = "America/Toronto"\n'
            'start = "2017-04-01T00:00:00"\nend = "2017-04-09T23:59:59"\n[feed]\nkind = "graph"\n')
    path = tmp_path / "c.toml"
    path.write_text(base + '[schedule]\nevery = "30m"\n', encoding="utf-8")
    # without [refresh]: what the budget leaves (100 an hour at 30 min, less 20 hashtag requests)
    refresh = load_contest(path).refresh
    assert (refresh.mentions, refresh.business_discovery, refresh.every, refresh.max_requests, refresh.stale_after) == \
        (True, False, 6 * 3600.0, 80, 24 * 3600.0)
    path.write_text(base + '[schedule]\nevery = "6h"\n', encoding="utf-8")
    assert load_contest(path).refresh.max_requests == 100
    path.write_text(base + '[schedule]\nevery = "30m"\n[refresh]\nmax_requests = 100\nevery = "3h"\n'
                    'stale_after = "12h"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"240 requests an hour \(1 hashtag × 2 edges × 10 pages \+ 100 refresh "
                                          r"requests\).*or lower feed.page_cap or refresh.max_requests"):
        load_contest(path)
    path.write_text(base + '[schedule]\nevery = "6h"\n[refresh]\nmentions = false\nbusiness_discovery = true\n'
                    'every = "3h"\nstale_after = "12h"\nmax_requests = 10\n', encoding="utf-8")
    refresh = load_contest(path).refresh
    assert (refresh.mentions, refresh.business_discovery, refresh.every, refresh.max_requests, refresh.stale_after) == \
        (False, True, 3 * 3600.0, 10, 12 * 3600.0)
    path.write_text(base + '[refresh]\nmentions = "oui"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="refresh.mentions must be true or false"):
        load_contest(path)
