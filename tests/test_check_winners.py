"""derby check-winners: each winner and alternate re-read where a read path exists, or
said to be unreadable with its permalink; drops, lost hashtags, gone posts and another
entrant are warnings; every check is in the audit log."""

from __future__ import annotations

import pytest

from derby import check, store
from contest_db import derby, fake_clock  # noqa: F401 - fixtures
from helpers import utc


def test_winners_are_read_again_by_mention_and_an_unanswered_one_says_so(derby):
    result = derby("check-winners", "--top", "2", "--alternates", "1", ok=False)
    out = result.output
    assert out.count("still online (read now)") == 2
    assert out.count("cannot be read:") == 1 and "open https://www.instagram.com/p/" in out
    assert "1 of 3 could not be read" in out
    assert "1. winner" in out and "3. alternate" in out
    (row,) = store.audit_log(store.open_db(derby.db), action="check_winners")
    assert sorted(r["read"] for r in row["data"]) == [False, True, True]


def test_without_a_read_path_each_winner_says_so_with_its_permalink(derby):
    db = store.open_db(derby.db)
    checks = check.check_winners(db, store.load_contest(db), utc(2017, 4, 12, 13), "Marie", top=2, alternates=1)[1]
    assert [c.read for c in checks] == [False, False, False]
    assert all(any(line.startswith("cannot be read:") and "open https://www.instagram.com/p/" in line
                   for line in c.lines) for c in checks)


def test_a_dropped_engagement_is_a_warning(derby):
    db = store.open_db(derby.db)
    contest = store.load_contest(db)
    _, (first, *_) = check.chosen(db, utc(2017, 4, 12, 13), 1, 0)
    db.execute("INSERT INTO poll_runs (started_at, finished_at, feed, status) VALUES "
               "('2017-04-12T12:30:00Z', '2017-04-12T12:31:00Z', 'fixture', 'ok')")
    run = db.execute("SELECT max(id) FROM poll_runs").fetchone()[0]
    db.execute("INSERT INTO snapshots (media_id, poll_run_id, observed_at, like_count, comments_count) "
               "VALUES (?, ?, '2017-04-12T12:30:00Z', 3, 0)", [first[1], run])
    db.conn.commit()
    _, results = check.check_winners(db, contest, utc(2017, 4, 12, 13), "Marie", top=1, alternates=0)
    assert any("likes and comments dropped" in w or "likes dropped" in w for w in results[0].warnings)


@pytest.fixture
def checked(derby):
    db = store.open_db(derby.db)
    contest = store.load_contest(db)

    def run(read):
        return check.check_winners(db, contest, utc(2017, 4, 12, 13), "Marie", top=2, alternates=1, read=read)[1]

    return run


def test_a_read_path_reports_gone_posts_lost_hashtags_and_another_entrant(checked):
    def read(state):
        if state["media_id"].endswith(("4", "5")) and not hasattr(read, "done"):
            read.done = True
            return None  # gone
        return {"caption": "plus de mot-clic ici", "like_count": 1, "comments_count": 0, "username": "someone_else"}

    results = checked(read)
    assert all(r.read for r in results)
    warnings = " | ".join(w for r in results for w in r.warnings)
    assert "no longer passes: no contest hashtag in the caption" in warnings
    assert "dropped" in warnings


def test_a_read_path_that_cannot_reach_a_post_says_so(checked):
    def read(state):
        raise check.CannotRead("Business Discovery needs the owner's username")

    results = checked(read)
    assert all(not r.read for r in results)
    assert "Business Discovery needs the owner's username" in results[0].lines[0]


def test_after_a_draw_the_draw_winners_are_checked(derby, tmp_path):
    derby("draw", "commit", "--beacon", "loto", "--pool", "top:5", "--winners", "1", "--alternates", "1",
          "--out", str(tmp_path))
    derby("draw", "run", "--value-text", "07 12 23", "--out", str(tmp_path))
    out = derby("check-winners", ok=False).output
    assert "from the draw" in out and "1. winner" in out and "2. alternate" in out and "3." not in out


def test_a_winner_reported_gone_is_named_so_and_a_judge_decides(derby, fake_clock, tmp_path):
    import csv

    db = store.open_db(derby.db)
    _, ((_, first), (_, second)) = check.chosen(db, utc(2017, 4, 12, 13), 2, 0)
    store.record_outcomes(db, None, [(first, "mentioned_media", "gone", "error 100, subcode 33")],
                          utc(2017, 4, 12, 12, 30))
    out = tmp_path / "w.csv"
    result = derby("export", str(out), "--top", "1", "--alternates", "1")
    assert "warning: rank 1 (" in result.stderr
    assert ("was reported gone by mentioned_media 2017-04-12 08:30 (UTC−4) (deleted, hidden or made private): it "
            f"stays at its rank until a judge decides: derby disqualify {first} --reason TEXT passes it over") in result.stderr
    assert "check that the post is still online" not in result.stderr and "check that it is still online" not in result.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert rows[0]["media_id"] == first and "gone" in rows[0]["flags"].split(";")
    checked = derby("check-winners", "--top", "1", "--alternates", "0").output  # the replay answers it
    assert ("still online (read now), though mentioned_media reported it gone 2017-04-12 08:30 (UTC−4): a judge may "
            f"keep it (derby reinstate {first} --reason TEXT)") in checked
    unread = check.check_winners(db, store.load_contest(db), utc(2017, 4, 12, 13), "Marie", top=1, alternates=0)[1]
    assert unread[0].warnings[0].startswith("reported gone by mentioned_media 2017-04-12 08:30 (UTC−4) (deleted, ")

    fake_clock.now = utc(2017, 4, 12, 13, 30)
    derby("reinstate", first, "--reason", "vue en ligne par la jury", "--by", "Marie")
    kept = derby("export", str(out), "--top", "1", "--alternates", "1").stderr
    assert "note: rank 1 (" in kept and "kept by Marie 2017-04-12 09:30 (UTC−4): vue en ligne par la jury" in kept
    assert "warning" not in kept

    derby("disqualify", first, "--reason", "publication supprimée", "--by", "Marie")
    passed = derby("export", str(out), "--top", "1", "--alternates", "1").stderr
    assert "reported gone" not in passed and "warning" not in passed
    assert [r["media_id"] for r in csv.DictReader(out.open(encoding="utf-8-sig"))][0] == second


def test_as_last_read_is_the_time_explain_gives_the_reading(tmp_path):
    """Snapshots are written only when the counts change: a second poll that finds the
    same counts is the newest reading, for check-winners as for explain."""
    from click.testing import CliRunner

    from derby.cli import cli
    from helpers import contest, media, page

    path = tmp_path / "x.db"
    db = store.open_db(path)
    store.save_contest(db, contest(), utc(2017, 4, 1))
    for when in (utc(2017, 4, 6, 12), utc(2017, 4, 8, 12)):
        run = store.start_poll_run(db, "fixture", when)
        store.save_page(db, run, "socialderby", "recent_media", page(media("17850000000000001", like_count=40)), when)
        store.finish_poll_run(db, run, when, status="ok", requests=1)
    (result,) = check.check_winners(db, store.load_contest(db), utc(2017, 4, 12, 13), "Marie", top=1, alternates=0)[1]
    line = next(x for x in result.lines if x.startswith("engagement since the close"))
    assert line == "engagement since the close (as last read 2017-04-08 08:00 (UTC−4)): likes 40 → 40, comments 2 → 2"
    explained = CliRunner().invoke(cli, ["--db", str(path), "explain", "17850000000000001", "--lang", "en"]).output
    assert "Engagement read: 2017-04-08 08:00 (UTC−4)" in explained


def test_a_reading_after_the_close_is_said_beside_the_one_the_score_used(derby):
    db = store.open_db(derby.db)
    _, ((_, first),) = check.chosen(db, utc(2017, 4, 12, 13), 1, 0)
    db.execute("INSERT INTO poll_runs (started_at, finished_at, feed, status) VALUES "
               "('2017-04-12T12:30:00Z', '2017-04-12T12:31:00Z', 'fixture', 'ok')")
    run = db.execute("SELECT max(id) FROM poll_runs").fetchone()[0]
    db.execute("INSERT INTO sightings (poll_run_id, media_id, hashtag, edge) VALUES (?, ?, 'socialderby', 'top_media')",
               [run, first])
    db.conn.commit()
    (result,) = check.check_winners(db, store.load_contest(db), utc(2017, 4, 12, 13), "Marie", top=1, alternates=0)[1]
    line = next(x for x in result.lines if x.startswith("engagement since the close"))
    assert line.startswith("engagement since the close (as last read 2017-04-12 08:30 (UTC−4); the close's counts "
                           "were read 2017-04-12 08:01 (UTC−4)): likes ")


def test_a_mention_read_respects_the_accounts_cool_down(tmp_path, httpserver):
    """Against a loopback Graph API: while the feed's account cools down after a
    throttle no mention read is asked, and each winner says so; once it ends, they are."""
    from test_refresh import CONTEST, USER_ID, Graph, mention_body

    from helpers import media, page

    graph = Graph(httpserver)
    graph.answers = {"1001": mention_body("1001", 95)}
    db = store.open_db(tmp_path / "c.db")
    store.save_contest(db, CONTEST, utc(2017, 3, 31))
    run = store.start_poll_run(db, "graph", utc(2017, 4, 2, 20))
    store.save_page(db, run, "socialderby", "recent_media",
                    page(media("1001", caption="Merci snq_officiel #socialderby", like_count=10)), utc(2017, 4, 2, 20))
    store.finish_poll_run(db, run, utc(2017, 4, 2, 20), status="ok", requests=2)
    now = utc(2017, 4, 12, 13)
    store.start_cooldown(db, USER_ID, utc(2017, 4, 12, 12), utc(2017, 4, 12, 14), "application request limit (4)", None)
    read = check.mention_reader(db, CONTEST, graph.feed(), USER_ID, now)
    (held,) = check.check_winners(db, CONTEST, now, "Marie", top=1, alternates=0, read=read, app=USER_ID)[1]
    assert graph.calls == [] and not held.read
    assert held.lines[0].startswith("cannot be read: the account cools down until 2017-04-12 10:00 (UTC−4) "
                                    "(application request limit (4)); no request made; open ")
    later = utc(2017, 4, 12, 15)
    (fresh,) = check.check_winners(db, CONTEST, later, "Marie", top=1, alternates=0,
                                   read=check.mention_reader(db, CONTEST, graph.feed(), USER_ID, later), app=USER_ID)[1]
    assert fresh.read and len(graph.calls) == 1


def _three_entries(tmp_path):
    from test_refresh import CONTEST

    from helpers import media, page

    db = store.open_db(tmp_path / "c.db")
    store.save_contest(db, CONTEST, utc(2017, 3, 31))
    run = store.start_poll_run(db, "graph", utc(2017, 4, 2, 20))
    store.save_page(db, run, "socialderby", "recent_media", page(
        media("1001", caption="Merci snq_officiel #socialderby", like_count=30),
        media("1002", caption="Merci snq_officiel #socialderby", like_count=20),
        media("1003", caption="Merci snq_officiel #socialderby", like_count=10)), utc(2017, 4, 2, 20))
    store.finish_poll_run(db, run, utc(2017, 4, 2, 20), status="ok", requests=2)
    return db


def test_a_throttle_in_the_middle_ends_the_mention_reads_and_records_the_cool_down(tmp_path, httpserver):
    """Against a loopback Graph API: the second winner's read is throttled (code 4,
    HTTP 429, Retry-After 30 minutes); the third is not asked and says so, and the cool-down
    is recorded for the account as a poll records it, so the next poll waits too."""
    from test_refresh import CONTEST, USER_ID, Graph, error, mention_body

    graph = Graph(httpserver)
    throttled = error(4, "Application request limit reached", status=429)
    throttled.headers["Retry-After"] = "1800"
    graph.answers = {"1001": mention_body("1001", 30), "1002": throttled,
                     "1003": mention_body("1003", 10)}
    db = _three_entries(tmp_path)
    now = utc(2017, 4, 12, 13)
    read = check.mention_reader(db, CONTEST, graph.feed(), USER_ID, now)
    first, second, third = check.check_winners(db, CONTEST, now, "Marie", top=2, alternates=1, read=read,
                                               app=USER_ID)[1]
    assert [c.media_id for c in (first, second, third)] == ["1001", "1002", "1003"]
    assert first.read and not second.read and not third.read
    assert len(graph.calls) == 2, graph.calls
    assert second.lines[0].startswith("cannot be read: the platform throttled the mention read (")
    assert "no request until 2017-04-12 09:30 (UTC−4)" in second.lines[0]
    assert third.lines[0].startswith("cannot be read: not asked: the platform throttled an earlier read; no request "
                                     "until 2017-04-12 09:30 (UTC−4)")
    held = store.active_cooldown(db, USER_ID, now)
    assert held is not None and held["until"] == utc(2017, 4, 12, 13, 30) and "request limit" in held["reason"]


def test_mention_reads_turned_off_for_a_missing_permission_are_not_asked(tmp_path, httpserver):
    from test_refresh import CONTEST, USER_ID, Graph, mention_body

    graph = Graph(httpserver)
    graph.answers = {"1001": mention_body("1001", 30)}
    db = _three_entries(tmp_path)
    store.disable_source(db, "mentioned_media", "the token lacks instagram_manage_comments", utc(2017, 4, 5), None)
    now = utc(2017, 4, 12, 13)
    checks = check.check_winners(db, CONTEST, now, "Marie", top=1, alternates=0, app=USER_ID,
                                 read=check.mention_reader(db, CONTEST, graph.feed(), USER_ID, now))[1]
    assert graph.calls == [] and not checks[0].read
    assert checks[0].lines[0].startswith("cannot be read: not asked: mention reads are off since 2017-04-04 "
                                         "20:00 (UTC−4) (the token lacks instagram_manage_comments)")


def _one_post_db(tmp_path, caption):
    from test_refresh import CONTEST

    from helpers import media, page

    db = store.open_db(tmp_path / "c.db")
    store.save_contest(db, CONTEST, utc(2017, 3, 31))
    run = store.start_poll_run(db, "graph", utc(2017, 4, 2, 20))
    store.save_page(db, run, "socialderby", "recent_media",
                    page(media("1001", caption=caption, like_count=10)), utc(2017, 4, 2, 20))
    store.finish_poll_run(db, run, utc(2017, 4, 2, 20), status="ok", requests=2)
    return db, CONTEST


@pytest.mark.parametrize("organizer, caption, gone, asked, said", [
    ("snq_officiel", "Belle journée #socialderby", False, 0,
     "cannot be read: its caption does not mention @snq_officiel, so it cannot be read by mention; open "),
    (None, "Belle journée #socialderby", False, 1,
     "cannot be read: the mention read answered "),
    ("snq_officiel", "Merci @snq_officiel #socialderby", True, 1, None),
])
def test_a_post_that_does_not_mention_the_organizer_is_unreadable_not_gone(tmp_path, httpserver, organizer, caption,
                                                                           gone, asked, said):
    """Against a loopback Graph API answering error 100/33: that answer proves a post gone
    only when its caption mentions the organizer account (the platform answers a post
    that does not mention it the same way)."""
    from test_refresh import USER_ID, Graph, error

    graph = Graph(httpserver)
    graph.answers = {"1001": error(100, "Object does not exist", 33)}
    db, contest = _one_post_db(tmp_path, caption)
    now = utc(2017, 4, 12, 13)
    if organizer:
        store.save_organizer(db, USER_ID, organizer, now)
    read = check.mention_reader(db, contest, graph.feed(), USER_ID, now, organizer)
    (checked,) = check.check_winners(db, contest, now, "Marie", top=1, alternates=0, read=read, app=USER_ID)[1]
    assert len(graph.calls) == asked
    assert ("the post is no longer online (deleted, hidden or made private)" in checked.warnings) is gone
    assert checked.read is gone
    if said:
        assert checked.lines[0].startswith(said), checked.lines
        assert "or its caption does not mention the organizer account" in checked.lines[0] or organizer


def test_engagement_is_not_said_since_the_close_while_the_contest_runs(tmp_path):
    db, contest = _one_post_db(tmp_path, "Belle journée #socialderby")
    (running,) = check.check_winners(db, contest, utc(2017, 4, 5, 13), "Marie", top=1, alternates=0)[1]
    (closed,) = check.check_winners(db, contest, utc(2017, 4, 12, 13), "Marie", top=1, alternates=0)[1]
    assert any(line.startswith("engagement since the standings' reading (the contest is still running)")
               for line in running.lines), running.lines
    assert not any("since the close" in line for line in running.lines)
    assert any(line.startswith("engagement since the close") for line in closed.lines), closed.lines


def test_a_stored_media_id_that_is_not_a_graph_id_cannot_be_read_and_says_so(httpserver):
    """A database from before the poller refused such ids may hold one: the mention read
    says in one line why the post cannot be read, and nothing is asked of the API."""
    from derby.config import GraphSettings
    from derby.feeds.graph import GraphFeed

    settings = GraphSettings(access_token="EAAtestTOKEN0123456789", user_id="17841405309211844",
                             base_url=httpserver.url_for("/v24.0").rstrip("/"))
    from test_refresh import CONTEST

    read = check.mention_reader(store.open_db(":memory:"), CONTEST, GraphFeed(settings, max_attempts=1),
                                "17841405309211844", utc(2017, 4, 12, 13))
    with pytest.raises(check.CannotRead) as info:
        read({"media_id": "notanumber", "permalink": None})
    assert str(info.value) == ("its stored media id 'notanumber' is not a Graph id (the API never gives one like it), "
                               "so it cannot be read again")
    assert httpserver.log == []
