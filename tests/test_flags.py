"""Flags for judges: computed at the end of each poll from the snapshots, stored, listed,
marked on the board, cleared or acted on (recorded); never a disqualification."""

from __future__ import annotations

from datetime import timedelta

import pytest

from derby import flags, leaderboard, poller, store
from derby.feeds.fixture import FixtureFeed
from conftest import DEMO_REPLAY
from helpers import contest as make_contest, media, page, utc


class ScriptedFeed:
    """A feed whose every poll returns the media counts the test sets."""

    name, requests_made, notes = "fixture", 0, []

    def __init__(self):
        self.counts: dict[str, tuple[int, int]] = {}

    def resolve_hashtag(self, name):
        return {"socialderby": "1", "snq17": "2"}[name]

    def read(self, source, now):
        if source.hashtag_id == "1" and source.edge == "recent_media":
            yield page(*(media(m, like_count=likes, comments_count=comments)
                         for m, (likes, comments) in self.counts.items()))


@pytest.fixture
def polled(tmp_path):
    db = store.open_db(tmp_path / "d.db")
    contest = make_contest()
    store.save_contest(db, contest, utc(2017, 3, 30))
    feed = ScriptedFeed()

    def poll(when, counts):
        feed.counts = counts
        return poller.poll_once(db, contest, feed, when)

    return db, poll


def _field(step: int) -> dict[str, tuple[int, int]]:
    # 24 ordinary entries growing a little each poll, at different paces
    return {f"{100 + i}": (20 + step * (3 + i % 5), 2 + step * (i % 3)) for i in range(24)}


def _kinds(db):
    return [(row["media_id"], row["kind"]) for row in store.flags.list_flags(db)]


def test_a_burst_inside_a_one_minute_poll_interval_is_caught(polled):
    db, poll = polled
    start = utc(2017, 4, 2, 12)
    for step in range(6):
        poll(start + timedelta(hours=2 * step), _field(step))
    assert [k for k in _kinds(db) if k[1] == "burst"] == []  # ordinary growth raises nothing
    last = start + timedelta(hours=10)
    counts = _field(5)
    counts["105"] = (counts["105"][0] + 500, counts["105"][1])
    summary = poll(last + timedelta(minutes=1), counts)
    assert summary.status == "ok"
    (row,) = [r for r in store.flags.list_flags(db) if r["kind"] == "burst"]
    assert row["media_id"] == "105" and row["data"]["gain"] == 500 and row["data"]["minutes"] == 1.0
    assert "+500 likes and comments in 1 min" in row["detail"]


def test_entries_gaining_in_lock_step_are_flagged(polled):
    db, poll = polled
    start = utc(2017, 4, 2, 12)
    for step in range(5):
        counts = _field(step)
        counts["900"] = (300 + 40 * step, 10)
        counts["901"] = (280 + 40 * step, 12)
        poll(start + timedelta(hours=2 * step), counts)
    pairs = {m for m, kind in _kinds(db) if kind == "lockstep"}
    assert pairs == {"900", "901"}
    detail = next(r["detail"] for r in store.flags.list_flags(db) if r["media_id"] == "900" and r["kind"] == "lockstep")
    assert "lock-step with 901" in detail and "+40/+40" in detail


def test_ratio_far_outside_the_field_is_flagged_once(polled):
    db, poll = polled
    for step in range(3):
        counts = _field(step + 10)
        counts["777"] = (900 + step, 0)
        poll(utc(2017, 4, 3, 2 * step), counts)
    ratio = [r for r in store.flags.list_flags(db) if r["kind"] == "ratio"]
    assert [r["media_id"] for r in ratio] == ["777"] and "900 likes for 0 comments" in ratio[0]["detail"]


def test_decisions_are_recorded_and_the_board_mark_goes(polled):
    db, poll = polled
    for step in range(3):
        counts = _field(step + 10)
        counts["777"] = (900 + step, 0)
        poll(utc(2017, 4, 3, 2 * step), counts)
    (flag,) = store.flags.list_flags(db)
    view = leaderboard.board_view(db, utc(2017, 4, 3, 5))
    assert next(r for r in view.rows if r.entry.media_id == "777").judge_flags == ["ratio"]
    store.flags.decide(db, flag["id"], "clear", "le compte ne reçoit jamais de commentaires", "Marie", utc(2017, 4, 3, 6))
    with pytest.raises(ValueError, match="already decided"):
        store.flags.decide(db, flag["id"], "act", "x", "Marie", utc(2017, 4, 3, 7))
    view = leaderboard.board_view(db, utc(2017, 4, 3, 6))
    assert next(r for r in view.rows if r.entry.media_id == "777").judge_flags == []
    assert next(r for r in view.rows if r.entry.media_id == "777").entry.status == "eligible"  # never disqualifies
    (audit,) = store.audit_log(db, action="flag_clear")
    assert audit["subject"] == "777" and store.flags.list_flags(db) == []


def test_a_failure_in_the_flags_never_stops_the_poll(polled, monkeypatch):
    db, poll = polled

    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(flags, "flag_poll", broken)
    summary = poll(utc(2017, 4, 3), _field(1))
    assert summary.status == "ok"
    warnings = [r["message"] for r in db.query("SELECT message FROM poll_warnings")]
    assert any("flags not computed: RuntimeError: boom" in w for w in warnings)


def test_the_bundled_replay_raises_the_documented_flags(tmp_path):
    """The module docstring says what the thresholds raise on the replay: one burst and
    three ratios."""
    from derby.demo.runner import demo_contest

    db = store.open_db(tmp_path / "d.db")
    contest = demo_contest()
    store.save_contest(db, contest, utc(2017, 3, 30))
    feed = FixtureFeed(DEMO_REPLAY)
    for when in feed.poll_times():
        poller.poll_once(db, contest, feed, when + timedelta(seconds=60))
    kinds = sorted(kind for _, kind in _kinds(db))
    assert kinds == ["burst", "ratio", "ratio", "ratio"]


def test_the_interval_runs_from_the_last_poll_that_saw_the_entry_not_its_last_change(polled):
    """An entry that grew fast, then sat still for a day (no snapshot is stored while it
    does not change), then jumps a minute after a poll: the jump is a minute's."""
    db, poll = polled
    start = utc(2017, 4, 2, 12)
    for step in range(14):
        counts = _field(step)
        counts["555"] = (100 + 40 * min(step, 2), 10)  # +40 per 2 h, then still from step 2 on
        poll(start + timedelta(hours=2 * step), counts)
    counts = _field(13)
    counts["555"] = (180 + 200, 10)
    poll(start + timedelta(hours=26, minutes=1), counts)
    bursts = [r for r in store.flags.list_flags(db) if r["kind"] == "burst"]
    assert [r["media_id"] for r in bursts] == ["555"] and bursts[0]["data"]["minutes"] == 1.0


def test_the_field_leaves_the_entry_itself_out():
    from derby.flags import _without

    ordered = [1.0, 2.0, 3.0, 10.0]
    assert _without(ordered, 10.0).median() == 2.0 and _without(ordered, 1.0).median() == 3.0
    assert _without(ordered, None).median() == 2.5 and _without([5.0], 5.0).median() == 0.0
    assert _without(ordered, 2.0).quantile(0.95) == 10.0 and len(_without(ordered, 3.0)) == 3


def test_flags_and_explain_show_what_was_seen_through_the_cli(polled, tmp_path):
    from click.testing import CliRunner

    from derby.cli import cli

    db, poll = polled
    for step in range(3):
        counts = _field(step + 10)
        counts["777"] = (900 + step, 0)
        poll(utc(2017, 4, 3, 2 * step), counts)
    path = str(tmp_path / "d.db")
    listed = CliRunner().invoke(cli, ["--db", path, "flags", "--lang", "en"])
    assert listed.exit_code == 0 and "777  ratio: 900 likes for 0 comments" in listed.output
    assert listed.output.splitlines()[-1].startswith("a flag never disqualifies")
    listed_fr = CliRunner().invoke(cli, ["--db", path, "flags"]).output.splitlines()  # the contest's language
    assert listed_fr[0].startswith("n° 1  2 avril 2017, 20 h 00 (UTC−4)  777  ratio J'aime/comm. : 900 J'aime pour 0 "
                                   "commentaire : ratio 901,0, la médiane des participations est de 5,5")
    assert listed_fr[-1].startswith("un signalement ne disqualifie jamais") and "likes" not in listed_fr[0]
    explained = CliRunner().invoke(cli, ["--db", path, "explain", "777", "--lang", "en"])
    assert "Flag #1 (ratio" in explained.output and "[open]" in explained.output
    french = CliRunner().invoke(cli, ["--db", path, "explain", "777"]).output  # the contest's language
    line = next(line for line in french.splitlines() if line.startswith("Signalement"))
    assert line.startswith("Signalement n° 1 (ratio J'aime/comm., 2 avril 2017, 20 h 00 (UTC−4)) : ")
    assert ": 900 J'aime pour 0 commentaire : ratio 901,0, la médiane des participations est de 5,5 " in line
    assert line.endswith("[à examiner]") and "likes" not in line
    acted = CliRunner().invoke(cli, ["--db", path, "flags", "act", "1", "--note", "disqualifiée", "--by", "Marie"])
    assert acted.exit_code == 0 and "acted on" in acted.output
    again = CliRunner().invoke(cli, ["--db", path, "flags", "clear", "1", "--note", "x"])
    assert again.exit_code == 1 and "already decided" in again.stderr
    assert "aucun signalement à examiner" in CliRunner().invoke(cli, ["--db", path, "flags"]).output
    decided = CliRunner().invoke(cli, ["--db", path, "flags", "--all"]).output
    assert "[suivi d'une action par Marie : disqualifiée]" in decided
    assert "[act by Marie: disqualifiée]" in CliRunner().invoke(cli, ["--db", path, "flags", "--all", "--lang", "en"]).output
    assert "no flag to look at" in CliRunner().invoke(cli, ["--db", path, "flags", "--lang", "en"]).output
