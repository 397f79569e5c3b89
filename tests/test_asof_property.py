"""Property: whatever happens later (rule edits, polls, caption edits, moderation,
entrant imports), an earlier as-of leaderboard never changes, and it equals the live
leaderboard shown at that moment."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from derby import leaderboard, store
from helpers import contest, media, page, utc

BASE = utc(2017, 4, 1, 6)
IDS = ["1", "2", "3", "4", "5"]
CAPTIONS = ["Bravo #socialderby", "#snq17 #socialderby @snq", "rien", None, "@snq #SNQ17"]
TIMESTAMPS = [utc(2017, 4, 1, 5), utc(2017, 4, 1, 5), utc(2017, 4, 2), utc(2017, 4, 12), None]

RULE_VALUES = st.one_of(
    st.tuples(st.just("points_per_like"), st.sampled_from([0, 0.5, 1, 2])),
    st.tuples(st.just("points_per_comment"), st.sampled_from([0, 1, 3])),
    st.tuples(st.just("cap_likes"), st.sampled_from([None, 5, 50])),
    st.tuples(st.just("cap_comments"), st.sampled_from([None, 2])),
    st.tuples(st.just("media_type_bonus"), st.sampled_from([{}, {"VIDEO": 5}, {"IMAGE": 1, "CAROUSEL_ALBUM": 2}])),
    st.tuples(st.just("extra_hashtag_bonus"), st.sampled_from([0, 1])),
    st.tuples(st.just("early_entry_bonus"), st.sampled_from([None, {"hours": 24, "points": 7}])),
    st.tuples(st.just("require_hashtag_in_caption"), st.booleans()),
    st.tuples(st.just("require_mention"), st.sampled_from([None, "snq"])),
    st.tuples(st.just("max_entries_per_entrant"), st.sampled_from([None, 1, 2])),
    st.tuples(st.just("hidden_likes"), st.sampled_from(["zero", "comments_only", "review"])),
    st.tuples(st.just("tie_break"), st.sampled_from([["score", "timestamp", "media_id"],
                                                     ["score", "comments", "first_seen", "media_id"]])),
)
POST = st.tuples(st.sampled_from(IDS), st.one_of(st.none(), st.integers(0, 60)), st.integers(0, 8),
                 st.integers(0, len(CAPTIONS) - 1), st.sampled_from(["IMAGE", "VIDEO", "CAROUSEL_ALBUM"]))
OPERATION = st.one_of(
    st.tuples(st.just("rule"), RULE_VALUES),
    st.tuples(st.just("poll"), st.lists(POST, min_size=1, max_size=4)),
    st.tuples(st.just("moderate"), st.tuples(st.sampled_from(IDS), st.sampled_from(["disqualify", "reinstate"]))),
    st.tuples(st.just("import"), st.tuples(st.sampled_from(IDS), st.sampled_from(["ana", "bo"]))),
)


def apply(db, operation, when):
    kind, args = operation
    if kind == "rule":
        store.set_rule(db, args[0], args[1], when, by="prop")
    elif kind == "poll":
        run = store.start_poll_run(db, "fixture", when)
        items = [media(i, like_count=likes, comments_count=comments, caption=CAPTIONS[c], timestamp=TIMESTAMPS[c],
                       media_type=kind_) for i, likes, comments, c, kind_ in args]
        store.save_page(db, run, "socialderby", "recent_media", page(*items), when)
        store.finish_poll_run(db, run, when + timedelta(minutes=1), status="ok", requests=1)
    elif kind == "moderate":
        if db["media"].count_where("media_id = ?", [args[0]]):
            try:
                store.moderate(db, args[0], args[1], "property test", "prop", when)
            except ValueError:
                pass
    else:
        store.import_entrants(db, [{"line": 2, "username": args[1], "shortcode": f"C{args[0]}"}], when, by="prop")


def snapshot(board):
    return ([(e.media_id, e.rank, e.score, e.status, tuple(e.flags), e.tie_break, e.username, e.like_count,
              e.observed_at) for e in board.entries], board.rules)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.lists(OPERATION, max_size=8), after=st.lists(OPERATION, min_size=1, max_size=8),
       grace=st.booleans())
def test_later_data_never_changes_an_earlier_as_of_leaderboard(before, after, grace):
    db = store.open_db(":memory:")
    end = utc(2017, 4, 1, 6) + timedelta(hours=len(before) + 2)  # some later polls fall after the end
    store.save_contest(db, contest(start=utc(2017, 4, 1, 4), end=end,
                                   count_engagement_until=end + timedelta(hours=2) if grace else None), BASE)
    hour = 0
    for operation in before:
        hour += 1
        apply(db, operation, BASE + timedelta(hours=hour))
    as_of = BASE + timedelta(hours=hour, minutes=30)
    live = snapshot(leaderboard.standings(db, as_of))
    first = snapshot(leaderboard.standings(db, as_of, as_of))
    assert first == live
    for operation in after:
        hour += 1
        apply(db, operation, BASE + timedelta(hours=hour))
    assert snapshot(leaderboard.standings(db, as_of, as_of)) == first
