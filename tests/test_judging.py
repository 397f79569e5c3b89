"""Store side of issue 4: rule history, the deadline freeze, entrants, moderation,
the append-only audit log and as-of reads."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta

import pytest

from derby import leaderboard, store
from derby.rules import RULE_KINDS, TEAM_RULES
from helpers import contest, media, page, utc

END = utc(2017, 4, 10, 3, 59, 59)


@pytest.fixture
def db():
    database = store.open_db(":memory:")
    store.save_contest(database, contest(rules={"points_per_comment": 2}), utc(2017, 3, 30))
    return database


def poll(db, when, *items, finish=True):
    run = store.start_poll_run(db, "fixture", when)
    store.save_page(db, run, "socialderby", "recent_media", page(*items), when)
    if finish:
        store.finish_poll_run(db, run, when + timedelta(minutes=1), status="ok", requests=1)
    return run


def board(db, as_of=None):
    return leaderboard.standings(db, utc(2030, 1, 1), as_of)


# -- rules ---------------------------------------------------------------------------------

def test_init_seeds_every_rule_once_then_records_file_edits(db):
    history = store.rule_history(db)
    assert len(history) == len(RULE_KINDS) - len(TEAM_RULES) and {h["changed_by"] for h in history} == {"contest file"}
    assert {h["name"]: h["new_value"] for h in history}["points_per_comment"] == 2.0
    assert all(h["first"] and h["reason"] == "seeded from the contest file" for h in history)
    store.set_rule(db, "points_per_like", 4, utc(2017, 4, 2), by="Marie", reason="jury")
    # init again with an edited file: only the changed value is recorded; Marie's edit stays
    store.save_contest(db, contest(rules={"points_per_comment": 5, "points_per_like": 1}), utc(2017, 4, 3))
    assert [(h["name"], h["old_value"], h["new_value"], h["changed_by"]) for h in store.rule_history(db)[len(RULE_KINDS) - len(TEAM_RULES):]] == [
        ("points_per_like", 1.0, 4.0, "Marie"), ("points_per_comment", 2.0, 5.0, "contest file")]
    assert store.read_rules(db)["points_per_like"] == 4.0
    store.save_contest(db, contest(rules={"points_per_comment": 5}), utc(2017, 4, 4))
    assert len(store.rule_history(db)) == len(RULE_KINDS) - len(TEAM_RULES) + 2  # the same file again records nothing


def test_set_rule_validates_and_skips_no_op(db):
    with pytest.raises(ValueError, match="points_per_like"):
        store.set_rule(db, "points_per_like", -1, utc(2017, 4, 1))
    assert store.set_rule(db, "points_per_comment", 2, utc(2017, 4, 1), by="x") is None
    change = store.set_rule(db, "hidden_likes", "review", utc(2017, 4, 1), by="Marie", reason="fairness")
    assert change["old_value"] == '"zero"' and change["new_value"] == '"review"'
    assert store.audit_log(db, action="rule_set")[0]["summary"] == "hidden_likes: zero → review (fairness)"


def test_rules_as_of(db):
    store.set_rule(db, "points_per_like", 4, utc(2017, 4, 5), by="Marie")
    assert store.read_rules(db, utc(2017, 4, 4))["points_per_like"] == 1.0
    assert store.read_rules(db, utc(2017, 4, 5))["points_per_like"] == 4.0
    assert store.read_rules(db, utc(2017, 3, 1))["points_per_comment"] == 3.0  # before init: the defaults


def test_an_old_database_keeps_its_rules_as_history(tmp_path):
    import sqlite_utils

    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    store.migrations.apply(old, stop_before="m002_rules_judging_audit")
    old["rules"].insert({"name": "points_per_like", "value": "2.0", "updated_at": "2017-03-30T00:00:00Z"})
    old.close()
    db = store.open_db(path)
    assert store.read_rules(db)["points_per_like"] == 2.0
    assert store.rule_history(db)[0]["changed_by"] == "derby upgrade"


# -- the deadline ------------------------------------------------------------------------------

def test_score_uses_the_last_snapshot_at_or_before_the_end(db):
    poll(db, END - timedelta(hours=1), media("1", like_count=10))
    poll(db, END, media("1", like_count=20))
    poll(db, END + timedelta(hours=3), media("1", like_count=90), media("2", like_count=50))
    entries = {e.media_id: e for e in board(db).entries}
    assert (entries["1"].like_count, entries["1"].observed_at, entries["1"].flags) == (20, END, [])
    # a post first observed after the end is scored on its first snapshot, flagged late
    assert (entries["2"].like_count, entries["2"].flags, entries["2"].rank) == (50, ["observed_late"], 1)


def test_count_engagement_until_extends_the_freeze(db):
    store.save_contest(db, contest(count_engagement_until=END + timedelta(hours=12)), utc(2017, 3, 31))
    poll(db, END, media("1", like_count=20))
    poll(db, END + timedelta(hours=12), media("1", like_count=30))
    poll(db, END + timedelta(hours=13), media("1", like_count=99))
    assert store.load_contest(db).freeze == END + timedelta(hours=12)
    [entry] = board(db).entries
    assert (entry.like_count, entry.flags) == (30, [])


# -- entrants --------------------------------------------------------------------------------

def test_import_entrants_links_and_reports(db):
    poll(db, utc(2017, 4, 3), media("1"), media("2"), media("3"))
    rows = [
        {"line": 2, "username": "@Ana.B", "shortcode": "C1", "display_name": "Ana B"},
        {"line": 3, "username": "ana.b", "shortcode": "C2", "display_name": None},
        {"line": 4, "username": "bad name", "shortcode": "C3", "display_name": None},
        {"line": 5, "username": "bo", "shortcode": "ZZZ", "display_name": None},
        {"line": 6, "username": "bo", "shortcode": None, "display_name": None},
        {"line": 7, "username": "bo", "shortcode": "C1", "display_name": None},
    ]
    result = store.import_entrants(db, rows, utc(2017, 4, 4), by="Léa", source="inscriptions.csv")
    assert result.matched == [(2, "ana.b", "1"), (3, "ana.b", "2")]
    assert result.problems == [
        (4, "'bad name' is not an Instagram username (letters, digits, . and _, at most 30)"),
        (5, "no stored entry has shortcode ZZZ"), (6, "no permalink or shortcode"),
        (7, "conflict: entry C1 is claimed by @bo here and by @ana.b on line 2; kept @ana.b (line 2): fix the file "
            "and import it again")]
    entries = {e.media_id: e for e in leaderboard.standings(db, utc(2017, 4, 5)).entries}
    assert [(entries[m].username, entries[m].display_name) for m in "123"] == [
        ("ana.b", "Ana B"), ("ana.b", None), (None, None)]
    [logged] = store.audit_log(db, action="entrants_import")
    assert logged["summary"] == "imported inscriptions.csv: 6 rows, 2 linked, 4 refused" and logged["actor"] == "Léa"
    assert leaderboard.standings(db, utc(2017, 4, 5), utc(2017, 4, 3, 12)).entries[0].username is None  # before


def test_entrant_cap_applies_to_matched_entrants(db):
    store.set_rule(db, "max_entries_per_entrant", 1, utc(2017, 4, 1), by="x")
    poll(db, utc(2017, 4, 3), media("1", like_count=5), media("2", like_count=50), media("3", like_count=1))
    store.import_entrants(db, [{"line": 2, "username": "ana", "shortcode": "C1"},
                               {"line": 3, "username": "ana", "shortcode": "C2"}], utc(2017, 4, 4), by="x")
    assert [(e.media_id, e.rank, e.status) for e in board(db).entries] == [
        ("2", 1, "eligible"), ("3", 2, "eligible"), ("1", None, "over_entrant_cap")]


# -- moderation and the audit log ------------------------------------------------------------

def test_disqualify_and_reinstate(db):
    poll(db, utc(2017, 4, 3), media("1", like_count=50), media("2"))
    store.moderate(db, "1", "disqualify", "stolen photo", "Marie", utc(2017, 4, 4))
    with pytest.raises(ValueError, match="already disqualified"):
        store.moderate(db, "1", "disqualify", "again", "Marie", utc(2017, 4, 4))
    with pytest.raises(ValueError, match="reason is required"):
        store.moderate(db, "2", "disqualify", "  ", "Marie", utc(2017, 4, 4))
    with pytest.raises(ValueError, match="no stored media"):
        store.moderate(db, "404", "disqualify", "x", "Marie", utc(2017, 4, 4))
    entries = board(db).entries
    assert [(e.media_id, e.status) for e in entries] == [("2", "eligible"), ("1", "disqualified")]
    store.moderate(db, "1", "reinstate", "owner proved authorship", "Jean", utc(2017, 4, 5))
    assert [e.media_id for e in board(db).ranked] == ["1", "2"]
    assert [e.media_id for e in board(db, utc(2017, 4, 4, 12)).ranked] == ["2"]
    assert [(a["action"], a["by"]) for a in store.moderation_history(db, "1")] == [
        ("disqualify", "Marie"), ("reinstate", "Jean")]
    assert [a["action"] for a in store.audit_log(db, subject="1")] == ["disqualify", "reinstate"]


@pytest.mark.parametrize("table", ["audit_log", "rule_changes", "moderation", "entrant_links", "media_edits"])
def test_history_tables_are_append_only(db, table):
    poll(db, utc(2017, 4, 3), media("1"))
    poll(db, utc(2017, 4, 4), media("1", caption="edited #socialderby"))
    store.moderate(db, "1", "disqualify", "x", "Marie", utc(2017, 4, 4))
    store.import_entrants(db, [{"line": 2, "username": "ana", "shortcode": "C1"}], utc(2017, 4, 4), by="x")
    assert db[table].count >= 1
    for sql in (f"UPDATE {table} SET id = id + 1000", f"DELETE FROM {table}"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(sql)


def test_find_media_by_id_permalink_or_shortcode(db):
    poll(db, utc(2017, 4, 3), media("17841", permalink="https://www.instagram.com/p/BSV13mQ0BzK/"))
    for ref in ("17841", "https://www.instagram.com/p/BSV13mQ0BzK/?igshid=x", "BSV13mQ0BzK", " BSV13mQ0BzK "):
        assert store.find_media(db, ref)["media_id"] == "17841"
    assert store.find_media(db, "BSV13") is None and store.find_media(db, "%") is None


# -- as of -----------------------------------------------------------------------------------

def test_as_of_ignores_caption_edits_and_unfinished_polls_made_later(db):
    poll(db, utc(2017, 4, 3), media("1", caption="Bravo #socialderby"))
    poll(db, utc(2017, 4, 5), media("1", caption="Bravo (no tag now)"))
    assert board(db).entries[0].status == "missing_hashtag"
    assert board(db, utc(2017, 4, 4)).entries[0].status == "eligible"
    poll(db, utc(2017, 4, 6), media("9"), finish=False)  # a poll still running (or crashed)
    assert "9" not in {e.media_id for e in board(db, utc(2017, 4, 7)).entries}
    assert "9" in {e.media_id for e in board(db).entries}


def test_contest_without_grace_freezes_at_end(db):
    assert store.load_contest(db).count_engagement_until is None
    assert store.load_contest(db).freeze == END
    assert replace(store.load_contest(db), count_engagement_until=END + timedelta(1)).freeze == END + timedelta(1)


def test_review_hold_is_cleared_by_a_judge(db):
    store.set_rule(db, "hidden_likes", "review", utc(2017, 4, 1), by="Marie")
    poll(db, utc(2017, 4, 3), media("1", like_count=None, comments_count=9), media("2", like_count=5))
    assert [(e.media_id, e.status) for e in board(db).entries] == [("2", "eligible"), ("1", "review")]
    store.moderate(db, "1", "reinstate", "likes checked in the app: 80", "Marie", utc(2017, 4, 4))
    assert [(e.media_id, e.rank, e.score) for e in board(db).entries] == [("1", 1, 18.0), ("2", 2, 9.0)]
