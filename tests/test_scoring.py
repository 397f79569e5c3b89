"""Eligibility, scores, explanations and ordering: the SQL ranking on small stored
contests."""

from __future__ import annotations

from datetime import timedelta

import pytest

from derby import leaderboard, rules as rule_kinds, store
from derby.text import caption_hashtags, caption_mentions, normalize_hashtag
from helpers import contest, media, page, utc

START, END = utc(2017, 4, 1, 4), utc(2017, 4, 10, 3, 59, 59)
RULES = rule_kinds.Rules()
TAGS = ("love", "snq17")
SEEN = utc(2017, 4, 9, 12)


def entry(media_id="1", caption="#love", ts=utc(2017, 4, 3), likes=10, comments=1, media_type="IMAGE",
          observed_at=SEEN, **extra):
    return {"media_id": media_id, "caption": caption, "timestamp": ts, "like_count": likes,
            "comments_count": comments, "permalink": None, "media_type": media_type, "observed_at": observed_at,
            **extra}


def rules(**overrides):
    return rule_kinds.Rules.from_values(overrides)


def ranked_in_sql(entries, tags, rule_set):
    """Store ``entries`` (as :func:`entry` makes them) in a new database and rank them."""
    db = store.open_db(":memory:")
    store.save_contest(db, contest(hashtags=tuple(tags), start=START, end=END), START - timedelta(days=1))
    for name, value in rule_set.values().items():
        store.set_rule(db, name, value, START - timedelta(hours=1), by="test")
    for e in entries:
        when = e.get("first_seen_at") or (END + timedelta(hours=1) if e.get("observed_late") else e["observed_at"]) \
            or SEEN
        run = store.start_poll_run(db, "fixture", when)
        hidden_snapshot = e["observed_at"] is None
        item = media(e["media_id"], caption=e["caption"], timestamp=e["timestamp"], media_type=e["media_type"],
                     like_count=None if hidden_snapshot else e["like_count"],
                     comments_count=None if hidden_snapshot else e["comments_count"])
        store.save_page(db, run, tags[0], "recent_media", page(item), when)
        store.finish_poll_run(db, run, when, status="ok", requests=1)
        if e.get("username"):
            store.import_entrants(db, [{"line": 2, "username": e["username"], "shortcode": f"C{e['media_id']}"}],
                                  when, by="test")
        if e.get("moderation"):
            action = e["moderation"]
            if action["action"] == "reinstate" and e["like_count"] is not None:  # not held for review: undo a disqualification
                store.moderate(db, e["media_id"], "disqualify", "to be undone", action["by"], when)
            store.moderate(db, e["media_id"], action["action"], action["reason"], action["by"], when)
    return leaderboard.standings(db, END + timedelta(days=1)).entries


def eligibility(one, tags, start, end, rule_set):
    assert (start, end) == (START, END)
    [scored] = ranked_in_sql([one], tags, rule_set)
    return scored.status


def score_entry(one, rule_set, tags=TAGS, start=START):
    [scored] = ranked_in_sql([one], tags or TAGS, rule_set)
    return scored.score, scored.points, scored.flags


def rank(entries, **overrides):
    return ranked_in_sql(entries, TAGS, rules(**overrides))


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
    relaxed = rules(require_hashtag_in_caption=False)
    assert eligibility(entry(caption=None), TAGS, START, END, relaxed) == "eligible"


def test_points_per_like_and_comment():
    score, points, flags = score_entry(entry(likes=10, comments=2), RULES)
    assert (score, points, flags) == (16.0, {"points_per_like": 10.0, "points_per_comment": 6.0}, [])
    assert score_entry(entry(likes=10, comments=2), rules(points_per_like=0.5, points_per_comment=0))[0] == 5.0
    assert score_entry(entry(likes=3, comments=0), rules(points_per_like=0.1))[0] == 0.3  # rounded, not 0.30000000000000004


def test_caps_per_metric():
    score, points, flags = score_entry(entry(likes=500, comments=40), rules(cap_likes=100, cap_comments=10))
    assert (score, points["points_per_like"], points["points_per_comment"], flags) == (130.0, 100.0, 30.0, ["capped"])
    assert score_entry(entry(likes=50, comments=4), rules(cap_likes=100, cap_comments=10))[2] == []
    [scored] = rank([entry(likes=500, comments=0)], cap_likes=100)
    assert scored.contributions[0].basis == "500 likes, capped at 100 × 1"


def test_media_type_bonus():
    bonus = rules(media_type_bonus={"VIDEO": 5.0, "CAROUSEL_ALBUM": 2.5})
    assert score_entry(entry(likes=1, comments=0, media_type="VIDEO"), bonus)[1]["media_type_bonus"] == 5.0
    assert score_entry(entry(likes=1, comments=0, media_type="CAROUSEL_ALBUM"), bonus)[0] == 3.5
    assert "media_type_bonus" not in score_entry(entry(likes=1, comments=0, media_type="IMAGE"), bonus)[1]


def test_extra_hashtag_bonus_counts_distinct_contest_tags_beyond_the_first():
    bonus = rules(extra_hashtag_bonus=2)
    assert score_entry(entry(caption="#love", likes=0, comments=0), bonus, TAGS)[0] == 0.0
    assert score_entry(entry(caption="#love #SNQ17 #love #other", likes=0, comments=0), bonus, TAGS)[0] == 2.0


def test_early_entry_bonus():
    bonus = rules(early_entry_bonus={"hours": 24, "points": 10})
    early = entry(ts=utc(2017, 4, 2, 3, 59, 59), likes=0, comments=0)
    late = entry(ts=utc(2017, 4, 2, 4), likes=0, comments=0)
    assert score_entry(early, bonus, TAGS, START)[0] == 10.0
    assert score_entry(late, bonus, TAGS, START)[0] == 0.0
    [scored] = rank([late], early_entry_bonus={"hours": 24, "points": 10})
    assert scored.contributions[-1].basis == "posted after the first 24 h"


def test_require_mention():
    mention = rules(require_mention="snq_officiel")
    assert eligibility(entry(caption="#love @SNQ_officiel"), TAGS, START, END, mention) == "eligible"
    assert eligibility(entry(caption="#love @snq_officiel2"), TAGS, START, END, mention) == "missing_mention"
    assert eligibility(entry(caption="#love moi@snq_officiel"), TAGS, START, END, mention) == "missing_mention"
    # the hashtag feed strips the @ from other people's captions
    assert eligibility(entry(caption="#love merci snq_officiel!"), TAGS, START, END, mention) == "eligible"
    assert eligibility(entry(caption="#love #snq_officiel"), TAGS, START, END, mention) == "missing_mention"


def test_hidden_likes_zero():
    [scored] = rank([entry(likes=None, comments=2)])
    assert (scored.score, scored.flags, scored.status) == (6.0, ["hidden_likes"], "eligible")
    assert scored.contributions[0].basis == "likes hidden: counted as 0 likes"


def test_hidden_likes_comments_only_drops_likes_for_everyone():
    entries = [entry("1", likes=None, comments=2), entry("2", likes=100, comments=1)]
    ranked = rank(entries, hidden_likes="comments_only")
    assert [(e.media_id, e.score) for e in ranked] == [("1", 6.0), ("2", 3.0)]
    assert all("likes_not_counted" in e.flags for e in ranked)
    # nobody hides likes: likes count as usual
    assert [e.score for e in rank([entry("2", likes=100, comments=1)], hidden_likes="comments_only")] == [103.0]
    # a hidden-likes post that is not a candidate (outside the window) changes nothing
    outside = entry("3", likes=None, ts=utc(2017, 5, 1))
    assert rank([entry("2", likes=100, comments=1), outside], hidden_likes="comments_only")[0].score == 103.0


def test_hidden_likes_review_holds_until_a_judge_clears():
    held = rank([entry("1", likes=None, comments=2), entry("2")], hidden_likes="review")
    assert [(e.media_id, e.status, e.rank) for e in held] == [("2", "eligible", 1), ("1", "review", None)]
    cleared = {"action": "reinstate", "reason": "checked on the phone: 40 likes", "by": "Marie", "at": SEEN}
    ranked = rank([entry("1", likes=None, comments=2, moderation=cleared), entry("2")], hidden_likes="review")
    assert [(e.media_id, e.rank, e.score) for e in ranked] == [("2", 1, 13.0), ("1", 2, 6.0)]


def test_disqualified_leaves_the_ranking_with_the_judges_reason():
    dq = {"action": "disqualify", "reason": "stolen photo", "by": "Marie", "at": SEEN}
    ranked = rank([entry("1", likes=100, moderation=dq), entry("2")])
    assert [(e.media_id, e.rank, e.status) for e in ranked] == [("2", 1, "eligible"), ("1", None, "disqualified")]
    assert ranked[1].reason == "disqualified by Marie: stolen photo"
    back = {"action": "reinstate", "reason": "owner proved it", "by": "Marie", "at": SEEN}
    assert rank([entry("1", likes=100, moderation=back), entry("2")])[0].media_id == "1"


def test_late_and_missing_snapshots_are_flagged():
    [late] = rank([entry(observed_late=True)])
    assert late.flags == ["observed_late"] and late.rank == 1
    [none] = rank([entry(likes=None, comments=None, observed_at=None)])
    assert (none.flags, none.score) == (["no_snapshot"], 0.0)


def test_default_ordering_and_ties_name_the_separating_key():
    entries = [
        entry("b", ts=utc(2017, 4, 3), likes=10, comments=0),
        entry("a", ts=utc(2017, 4, 3), likes=10, comments=0),   # same score and time: media id decides
        entry("c", ts=utc(2017, 4, 2), likes=10, comments=0),   # same score, earlier: first
        entry("d", ts=utc(2017, 4, 5), likes=100, comments=0),
        entry("x", caption="nothing", likes=999),
    ]
    ranked = rank(entries)
    assert [(e.media_id, e.rank) for e in ranked] == [("d", 1), ("c", 2), ("a", 3), ("b", 4), ("x", None)]
    assert [e.flags for e in ranked[:4]] == [[], ["tied"], ["tied"], ["tied"]]
    assert [e.tie_break for e in ranked[:4]] == [None, "timestamp", "media_id", "media_id"]
    assert ranked[4].status == "missing_hashtag" and ranked[4].reason == "no contest hashtag in the caption"


def test_media_ids_compare_as_numbers():
    ranked = rank([entry("10", likes=1, comments=0), entry("9", likes=1, comments=0)])
    assert [e.media_id for e in ranked] == ["9", "10"]


def test_declared_tie_break_chain():
    entries = [entry("1", likes=10, comments=0, ts=utc(2017, 4, 2)), entry("2", likes=7, comments=1, ts=utc(2017, 4, 3))]
    default = rank(entries)
    assert [(e.media_id, e.tie_break) for e in default] == [("1", "timestamp"), ("2", "timestamp")]
    by_comments = rank(entries, tie_break=["score", "comments", "timestamp", "media_id"])
    assert [(e.media_id, e.tie_break) for e in by_comments] == [("2", "comments"), ("1", "comments")]
    seen = [entry("1", first_seen_at=utc(2017, 4, 5)), entry("2", first_seen_at=utc(2017, 4, 4))]
    assert [e.media_id for e in rank(seen, tie_break=["score", "first_seen", "media_id"])] == ["2", "1"]
    more_likes = [entry("1", likes=1, comments=3), entry("2", likes=4, comments=2)]  # 10 and 10
    assert [e.media_id for e in rank(more_likes, tie_break=["score", "likes", "media_id"])] == ["2", "1"]


def test_max_entries_per_entrant_keeps_the_best_n():
    entries = [entry("1", likes=5, username="ana"), entry("2", likes=50, username="ana"),
               entry("3", likes=20, username="ana"), entry("4", likes=1, username=None),
               entry("5", likes=2, username=None), entry("6", likes=3, username="bo")]
    ranked = rank(entries, max_entries_per_entrant=2)
    assert [(e.media_id, e.rank, e.status) for e in ranked] == [
        ("2", 1, "eligible"), ("3", 2, "eligible"), ("6", 3, "eligible"), ("5", 4, "eligible"),
        ("4", 5, "eligible"), ("1", None, "over_entrant_cap")]
    assert ranked[-1].reason == "@ana already has 2 better-ranked entries"
    assert len([e for e in rank(entries) if e.rank]) == 6  # no cap by default


def test_explanation_lists_every_rule_and_check():
    [scored] = rank([entry(likes=4, comments=1, caption="#love #snq17 @snq", media_type="VIDEO",
                           ts=utc(2017, 4, 1, 5))],
                    media_type_bonus={"VIDEO": 5.0}, extra_hashtag_bonus=1, require_mention="snq",
                    early_entry_bonus={"hours": 2, "points": 3})
    assert [(c.rule, c.basis, c.points) for c in scored.contributions] == [
        ("points_per_like", "4 likes × 1", 4.0), ("points_per_comment", "1 comment × 3", 3.0),
        ("media_type_bonus", "media type VIDEO", 5.0), ("extra_hashtag_bonus", "1 extra contest hashtag × 1", 1.0),
        ("early_entry_bonus", "posted within the first 2 h", 3.0)]
    assert scored.score == 16.0
    assert scored.checks == [("window", True, "posted between the start and the end"),
                             ("require_hashtag_in_caption", True, "caption holds #love, #snq17"),
                             ("require_mention", True, "caption mentions @snq")]


def test_every_reason_and_check_note_has_its_french():
    from derby.explain_fr import french
    from derby.scoring import REASONS

    sentences = list(REASONS.values()) + [
        "the feed gave no timestamp", "posted before the start", "posted after the end",
        "posted between the start and the end", "no caption", "caption holds #a, #b",
        "no contest hashtag in the caption", "caption mentions @x", "caption does not mention @x",
        "likes hidden; cleared by Marie", "likes hidden: held for a judge (hidden_likes = review)",
        "@ana already has 2 better-ranked entries", "entry 1 of at most 2 for @ana", "disqualified by M: r",
        "likes not counted: some entries hide theirs (hidden_likes = comments_only)",
        "likes hidden: counted as 0 likes", "12 likes, capped at 10 × 1", "12 likes × 1", "3 comments × 3",
        "30 comments, capped at 5 × 0.5", "media type VIDEO", "1 extra contest hashtag × 2",
        "posted within the first 24 h", "posted after the first 24 h"]
    assert [s for s in sentences if french(s) == s] == []
