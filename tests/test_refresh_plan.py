"""The refresh plan: who is read again by id, in what order, inside the budget."""

from __future__ import annotations

from datetime import timedelta

from derby.refresh_plan import CONTENDER_RANK, Standing, could_reach, plan_refreshes
from derby.store import RefreshCandidate

from helpers import utc

NOW = utc(2017, 4, 6, 12)
FREEZE = utc(2017, 4, 10, 4)


def cand(media_id, *, caption="Merci snq_officiel #socialderby", read_at=utc(2017, 4, 5), seen=False, closed=(),
         timestamp=utc(2017, 4, 4)):
    return RefreshCandidate(media_id, caption, timestamp, read_at, frozenset(closed), seen)


def plan(candidates, standings, **kw):
    args = dict(now=NOW, freeze=FREEZE, every=timedelta(hours=6), max_requests=100, organizer="snq_officiel",
                mentions_on=True, discovery_on=False)
    args.update(kw)
    return plan_refreshes(candidates, standings, **args)


def test_contenders_first_then_those_that_may_reach_then_the_rest_oldest_first():
    standings = {str(i): Standing(rank=i, score=1000.0 - i) for i in range(1, 16)}
    standings["14"] = Standing(rank=14, score=900.0)  # fast grower: 900 in one day, read 5 days ago
    candidates = [cand(str(i), read_at=utc(2017, 4, 5, i)) for i in range(1, 16)]
    candidates[13] = cand("14", read_at=utc(2017, 4, 1, 12), timestamp=utc(2017, 4, 1))
    candidates[14] = cand("15", read_at=utc(2017, 4, 2))
    result = plan(candidates, standings)
    keys = [r.key for r in result.reads]
    assert keys[:CONTENDER_RANK] == [str(i) for i in range(1, 11)]
    assert keys[CONTENDER_RANK] == "14" and result.reads[CONTENDER_RANK].priority == "may_reach"
    assert keys[CONTENDER_RANK + 1:] == ["15", "11", "12", "13"]  # the rest, oldest reading first
    small = plan(candidates, standings, max_requests=3)
    assert [r.key for r in small.reads] == ["1", "2", "3"] and len(small.left) == 12


def test_only_due_mentioning_ranked_open_entries():
    standings = {k: Standing(rank=i, score=10.0) for i, k in enumerate("abcdefg", start=1)}
    standings["h"] = Standing(rank=None, score=50.0)
    candidates = [
        cand("a"),                                   # due
        cand("b", seen=True),                        # the hashtag edges returned it this poll
        cand("c", read_at=NOW - timedelta(hours=2)),  # read 2 h ago
        cand("d", caption="#socialderby sans mention"),
        cand("e", caption="#socialderby snq_officiel2"),
        cand("f", closed={"mentioned_media"}),
        cand("g", closed={"all"}),
        cand("h"),                                   # not ranked
    ]
    assert [r.key for r in plan(candidates, standings).reads] == ["a"]
    assert plan(candidates, standings, organizer=None).reads == []
    assert plan(candidates, standings, mentions_on=False).reads == []


def test_the_final_sweep_reads_every_refreshable_eligible_entry_and_later_polls_nothing():
    standings = {"a": Standing(1, 10.0), "b": Standing(2, 9.0), "c": Standing(3, 8.0)}
    candidates = [cand("a", seen=True), cand("b", read_at=FREEZE - timedelta(minutes=5)), cand("c", closed={"all"})]
    after = FREEZE + timedelta(hours=1)
    sweep = plan(candidates, standings, now=after, final_sweep=True)
    assert sweep.final_sweep and [r.key for r in sweep.reads] == ["a", "b"]
    assert plan(candidates, standings, now=after).reads == []


def test_business_discovery_reads_an_entrant_once_for_all_their_entries():
    standings = {"a": Standing(1, 10.0, "ami"), "b": Standing(2, 9.0, "ami"), "c": Standing(3, 8.0, "perso"),
                 "d": Standing(4, 7.0)}
    candidates = [cand(k, caption="#socialderby") for k in "abcd"]
    result = plan(candidates, standings, discovery_on=True, refused_entrants={"perso"})
    assert [(r.source, r.key, r.media_ids) for r in result.reads] == [("business_discovery", "ami", ("a", "b"))]


def test_could_reach():
    assert could_reach(Standing(5, 100.0), utc(2017, 4, 2), utc(2017, 4, 1), utc(2017, 4, 5), 400.0)
    assert not could_reach(Standing(5, 100.0), utc(2017, 4, 2), utc(2017, 4, 1), utc(2017, 4, 3), 400.0)
    assert could_reach(Standing(5, 100.0), None, utc(2017, 4, 1), utc(2017, 4, 3), 400.0)
