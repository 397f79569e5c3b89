"""Team standings: follower points, post points and the posts' own points, the daily
cap, trophies, the tie-break ending with name, and every command on a team contest."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from rich.console import Console

from derby import board as drawing, store, team_leaderboard as teams
from derby.cli import cli
from derby.config import load_contest
from derby.feeds.parse import AccountReading
from helpers import media, page, utc
from test_teams_config import TEAMS

A, B = "17841400000000101", "17841400000000102"


def seed(tmp_path, text=TEAMS):
    """A team contest polled three times: baseline before the start, a mid-contest
    poll (B loses followers), and a poll after the end."""
    path = tmp_path / "teams.toml"
    path.write_text(text, encoding="utf-8")
    db_path = tmp_path / "d.db"
    db = store.open_db(db_path)
    store.save_contest(db, load_contest(path), utc(2017, 3, 30))
    polls = [
        (utc(2017, 3, 31, 12), {A: 100, B: 50}, {A: [], B: []}),
        (utc(2017, 4, 10, 12), {A: 120, B: 45}, {
            A: [media("201", caption="Café 3e", timestamp=utc(2017, 4, 5, 14), like_count=10, comments_count=1),
                media("202", caption="Boutique", timestamp=utc(2017, 4, 5, 15), like_count=4, comments_count=0),
                media("203", caption="Avant", timestamp=utc(2017, 3, 30, 15), like_count=99, comments_count=9)],
            B: [media("301", caption="Saint-Jean", timestamp=utc(2017, 4, 6, 14), like_count=30, comments_count=2)]}),
        (utc(2017, 4, 30, 12), {A: 125, B: 47}, {A: [], B: []}),
    ]
    for when, followers, pages in polls:
        run = store.start_poll_run(db, "fixture", when)
        for account in (A, B):
            store.save_account_snapshot(db, run, AccountReading(account, f"team{account[-3:]}", followers[account], 1, 1),
                                        when)
            if pages[account]:
                store.save_page(db, run, account, "media", page(*pages[account]), when)
                store.link_team_media(db, run, account, [m.media_id for m in pages[account]])
        store.finish_poll_run(db, run, when, status="ok", requests=4)
    db.close()
    return db_path


def test_team_score_is_follower_points_plus_post_points_plus_the_posts_points(tmp_path):
    db = store.open_db(seed(tmp_path))
    board = teams.team_standings(db, utc(2017, 5, 1))
    a, b = board.team(A), board.team(B)
    # freeze = end (2017-04-29 03:59:59Z): A 100 -> 120 (the reading after the end is not used)
    assert (a.followers_baseline, a.followers_count, a.followers_gained) == (100, 120, 20)
    assert (b.followers_baseline, b.followers_count, b.followers_gained) == (50, 45, -5)
    # per-post formula: 1 per like, 3 per comment (defaults); post 203 is before the start
    assert [e.media_id for e in a.counted] == ["201", "202"] and a.posts_score == 13 + 4
    assert a.score == 2 * 20 + 5 * 2 + 17
    assert b.score == 2 * -5 + 5 * 1 + 36
    assert [t.name for t in board.ranked] == ["3e Avenue", "Saint-Jean"]
    assert "followers_lost" in b.flags
    assert a.points == {"points_per_follower": 40, "points_per_post": 10, "points_per_like": 14,
                        "points_per_comment": 3}


def test_daily_cap_keeps_the_earliest_posts_of_a_day(tmp_path):
    db_path = seed(tmp_path, TEAMS.replace("cap_posts_per_day = 3", "cap_posts_per_day = 1"))
    board = teams.team_standings(store.open_db(db_path), utc(2017, 5, 1))
    a = board.team(A)
    assert [e.media_id for e in a.counted] == ["201"]
    capped = next(e for e in a.posts if e.media_id == "202")
    assert capped.status == "over_daily_cap" and "cap_posts_per_day" in capped.reason


def test_ties_go_down_the_team_chain_and_end_with_the_name(tmp_path):
    db = store.open_db(seed(tmp_path, TEAMS.replace("points_per_follower = 2", "points_per_follower = 0")
                            .replace("points_per_post = 5", "points_per_post = 0")))
    store.set_rule(db, "points_per_like", 0, utc(2017, 3, 30, 1))
    store.set_rule(db, "points_per_comment", 0, utc(2017, 3, 30, 1))
    store.set_rule(db, "tie_break", ["score", "name"], utc(2017, 3, 30, 1))
    board = teams.team_standings(db, utc(2017, 5, 1))
    assert [(t.name, t.rank, t.tie_break) for t in board.ranked] == [("3e Avenue", 1, "name"), ("Saint-Jean", 2, "name")]
    store.set_rule(db, "tie_break", ["score", "followers_gained", "name"], utc(2017, 3, 30, 2))
    board = teams.team_standings(db, utc(2017, 5, 1))
    assert board.ranked[0].tie_break == "followers_gained"


def test_trophies_rank_by_their_metric(tmp_path):
    db = store.open_db(seed(tmp_path))
    board = teams.team_standings(db, utc(2017, 5, 1))
    rows = teams.trophy_records(board, board.contest.trophies[0])
    # engagement per post: A (14 + 1) / 2 = 7.5, B 32 / 1 = 32
    assert [(r["team"], r["place"], r["value"], r["role"]) for r in rows] == [
        ("Saint-Jean", 1, 32, "winner"), ("3e Avenue", 2, 7.5, "winner")]


def test_as_of_uses_only_what_was_stored_then(tmp_path):
    db = store.open_db(seed(tmp_path))
    board = teams.team_standings(db, utc(2017, 5, 1), utc(2017, 4, 1))
    a = board.team(A)
    assert (a.followers_gained, a.posts, a.score) == (0, [], 0)
    assert "no_post" in a.flags


def test_a_disqualified_team_is_not_ranked_and_keeps_its_posts(tmp_path):
    db = store.open_db(seed(tmp_path))
    store.moderate_team(db, A, "disqualify", "bought followers", "Marie", utc(2017, 4, 20))
    board = teams.team_standings(db, utc(2017, 5, 1))
    assert [t.name for t in board.ranked] == ["Saint-Jean"]
    assert board.team(A).status == "disqualified" and len(board.team(A).posts) == 3
    assert "bought followers" in board.team(A).reason


# -- commands ------------------------------------------------------------------------

def run(db, *args):
    return CliRunner().invoke(cli, ["--db", str(db), *args], env={"COLUMNS": "160"})


def test_leaderboard_json_entries_are_teams(tmp_path):
    db = seed(tmp_path)
    result = run(db, "leaderboard", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    first = data["entries"][0]
    for key in ("rank", "team", "username", "score", "followers_count", "followers_gained", "posts", "like_count",
                "comments_count", "points", "flags"):
        assert key in first
    assert (first["team"], first["followers_gained"], first["posts"], first["like_count"]) == ("3e Avenue", 20, 2, 14)
    assert data["contest"]["kind"] == "teams"


def test_leaderboard_csv_trophy_and_posts(tmp_path):
    db = seed(tmp_path)
    rows = list(csv.DictReader(io.StringIO(run(db, "leaderboard", "--format", "csv").stdout)))
    assert [r["team"] for r in rows] == ["3e Avenue", "Saint-Jean"] and rows[0]["points.points_per_follower"] == "40"
    trophy = json.loads(run(db, "leaderboard", "--format", "json", "--trophy", "engagement").stdout)
    assert [e["team"] for e in trophy["entries"]] == ["Saint-Jean", "3e Avenue"]
    posts = list(csv.DictReader(io.StringIO(run(db, "leaderboard", "--posts", "--format", "csv").stdout)))
    assert [(p["media_id"], p["team"]) for p in posts] == [("301", "Saint-Jean"), ("201", "3e Avenue"),
                                                           ("202", "3e Avenue")]
    bad = run(db, "leaderboard", "--trophy", "nope")
    assert bad.exit_code != 0 and "no trophy 'nope'" in bad.output and "Traceback" not in bad.output


def test_leaderboard_table_reads_like_a_big_screen_board(tmp_path):
    db = seed(tmp_path)
    result = run(db, "leaderboard", "--lang", "fr")
    assert result.exit_code == 0, result.output
    assert "Équipe" in result.stdout and "Abonnés" in result.stdout and "3e Avenue" in result.stdout
    english = run(db, "leaderboard", "--lang", "en", "--as-of", "2017-04-20T12:00")
    assert "Followers" in english.stdout and "Gained" in english.stdout and "+20" in english.stdout
    assert run(db, "leaderboard", "--save", str(tmp_path / "b.svg")).exit_code == 0
    assert (tmp_path / "b.svg").read_text().startswith("<svg")
    assert run(db, "leaderboard", "--posts").exit_code == 0
    live = run(db, "leaderboard", "--live", "--lang", "en")  # not a terminal: one frame
    assert live.exit_code == 0 and "3e Avenue" in live.stdout and "Followers" in live.stdout


def test_the_team_board_fits_a_narrow_screen_and_shows_trophy_values(tmp_path):
    db = store.open_db(seed(tmp_path))
    view = teams.team_board_view(db, utc(2017, 5, 1), trophy="Engagement")
    console = Console(file=io.StringIO(), width=60, force_terminal=False)
    console.print(drawing.render(view, "en", console, width=60))
    text = console.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 60
    assert "Trophy “Engagement”" in text and "32" in text


def test_export_writes_winners_and_trophy_winners_in_one_table(tmp_path):
    db = seed(tmp_path)
    out = tmp_path / "winners.csv"
    result = run(db, "export", str(out), "--top", "1", "--alternates", "1")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert [(r["trophy"], r["role"], r["team"]) for r in rows] == [
        ("", "winner", "3e Avenue"), ("", "alternate", "Saint-Jean"),
        ("Engagement", "winner", "Saint-Jean"), ("Engagement", "winner", "3e Avenue")]
    assert run(db, "export", str(tmp_path / "all.json"), "--all").exit_code == 0
    data = json.loads((tmp_path / "all.json").read_text())
    assert len(data["entries"]) == 2 and {p["team"] for p in data["posts"]} == {"3e Avenue", "Saint-Jean"}


def test_explain_a_team_by_name_or_username_and_a_post(tmp_path):
    db = seed(tmp_path)
    result = run(db, "explain", "3e avenue", "--lang", "en")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "+20 followers × 2" in text and "2 posts × 5" in text and "Rank: 1 of 2" in text
    assert "203" in text and "not counted" in text
    assert run(db, "explain", "@team102", "--lang", "en").stdout.startswith("Team “Saint-Jean”")
    french = run(db, "explain", "3e avenue").stdout  # the contest's language
    assert french.startswith("Équipe « 3e Avenue »") and "+20 abonnés × 2" in french and "Rang : 1 sur 2" in french
    assert "Entry 301" in run(db, "explain", "301", "--lang", "en").stdout
    missing = run(db, "explain", "Limoilou")
    assert missing.exit_code != 0 and "no team or stored post matches" in missing.output


def test_disqualify_and_reinstate_a_post_or_a_whole_team(tmp_path):
    db = seed(tmp_path)
    assert run(db, "disqualify", "201", "--reason", "not a member business").exit_code == 0
    data = json.loads(run(db, "leaderboard", "--format", "json").stdout)
    assert data["entries"][0]["posts"] == 1  # the team keeps its other posts
    result = run(db, "disqualify", "--team", "Saint-Jean", "--reason", "rules broken", "--by", "Jury", "--lang", "en")
    assert result.exit_code == 0 and "team “Saint-Jean” disqualified by Jury" in result.output
    data = json.loads(run(db, "leaderboard", "--format", "json", "--all").stdout)
    assert [(e["team"], e["status"]) for e in data["entries"]] == [("3e Avenue", "eligible"),
                                                                  ("Saint-Jean", "disqualified")]
    again = run(db, "disqualify", "--team", "Saint-Jean", "--reason", "x")
    assert again.exit_code != 0 and "already disqualified" in again.output
    back = run(db, "reinstate", "--team", "@team102", "--reason", "appel", "--by", "Jury")
    assert back.exit_code == 0 and "l'équipe « Saint-Jean » rétablie par Jury : appel" in back.output
    assert len(json.loads(run(db, "leaderboard", "--format", "json").stdout)["entries"]) == 2
    both = run(db, "disqualify", "201", "--team", "Saint-Jean", "--reason", "x")
    assert both.exit_code == 2 and "either a post" in both.output
    actions = [r["action"] for r in json.loads(run(db, "audit", "--format", "json").stdout)]
    assert "team_disqualify" in actions and "team_reinstate" in actions


def test_team_rules_are_refused_by_rules_set_in_a_hashtag_contest(tmp_path):
    db = seed(tmp_path)
    bad = run(db, "rules", "set", "tie_break", "score,timestamp,media_id", "--reason", "test")
    assert bad.exit_code == 2 and "must end with name" in bad.output
    assert run(db, "rules", "set", "points_per_post", "2", "--reason", "test").exit_code == 0


def test_rules_lists_the_team_tie_break(tmp_path):
    db = seed(tmp_path)
    result = run(db, "rules", "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "name (team name in alphabetical order)" in result.output and "points_per_follower" in result.output
    french = run(db, "rules")  # the contest's language
    assert french.exit_code == 0, french.output
    assert "name (nom de l'équipe, en ordre alphabétique)" in french.output and "abonné gagné" in french.output


def test_hostile_team_names_are_safe_on_the_board_and_in_spreadsheets(tmp_path):
    hostile = '=HYPERLINK(\\"http://evil\\")[bold red]\\u202e\\u001b[2J'
    db = seed(tmp_path, TEAMS.replace('name = "3e Avenue"', f'name = "{hostile}"'))
    board = run(db, "leaderboard")
    assert board.exit_code == 0, board.output
    assert "\x1b" not in board.stdout and "\u202e" not in board.stdout
    assert '=HYPERLINK("http' in board.stdout  # shown as text, cut to the team column's width
    out = tmp_path / "w.csv"
    assert run(db, "export", str(out)).exit_code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert rows[0]["team"].startswith("'=HYPERLINK")


def test_the_follower_trend_is_daily_so_a_stall_reads_flat():
    from datetime import timedelta

    from derby.team_scoring import follower_readings

    day = utc(2017, 4, 1, 12)
    series = [{"observed_at": day + timedelta(days=d), "followers_count": c}
              for d, c in ((0, 0), (1, 10), (2, 20), (3, 15), (4, 30))]  # then no change: snapshots stop
    baseline, final, trend, lost = follower_readings(series, utc(2017, 4, 1, 4), utc(2017, 4, 10))
    assert (baseline, final, lost) == (0, 30, True)
    assert trend == [0, 10, 20, 15, 30]  # to the last reading used
    quiet = series[:3]  # stalls at 20 after day 2, read again only on day 8
    quiet.append({"observed_at": day + timedelta(days=8), "followers_count": 21})
    assert follower_readings(quiet, utc(2017, 4, 1, 4), utc(2017, 4, 10))[2] == [0, 10, 20, 20, 20, 20, 20, 20, 21]
    stalled = series[:3]  # no reading after day 2; the standings describe day 5: flat to then
    assert follower_readings(stalled, utc(2017, 4, 1, 4), utc(2017, 4, 10), day + timedelta(days=5))[2] == \
        [0, 10, 20, 20, 20, 20]


def test_trophy_and_posts_boards_show_movement_since_the_previous_poll(tmp_path):
    db = store.open_db(seed(tmp_path))
    trophy = teams.team_board_view(db, utc(2017, 5, 1), trophy="Engagement")
    assert [(r.team.name, r.place, r.movement) for r in trophy.rows] == [("Saint-Jean", 1, 0), ("3e Avenue", 2, 0)]
    posts = teams.posts_board_view(db, utc(2017, 5, 1))
    assert [(r.entry.media_id, r.movement) for r in posts.rows] == [("301", 0), ("201", 0), ("202", 0)]
    assert all(r.trend for r in posts.rows) and posts.previous_poll == utc(2017, 4, 10, 12)
    first = teams.posts_board_view(db, utc(2017, 4, 11), utc(2017, 4, 11))  # one poll with posts: all new
    assert [r.movement for r in first.rows] == [None, None, None]


def test_the_posts_board_has_a_team_column_and_refuses_a_trophy(tmp_path):
    db = seed(tmp_path)
    board = run(db, "leaderboard", "--posts", "--lang", "en")
    assert board.exit_code == 0, board.output
    header = next(line for line in board.stdout.splitlines() if "Rank" in line)
    assert "Team" in header and "Trend" in header
    assert "Saint-Jean" in board.stdout and "3e Avenue" in board.stdout
    both = run(db, "leaderboard", "--posts", "--trophy", "Engagement")
    assert both.exit_code == 2
    assert "--posts ranks the teams' posts and --trophy ranks the teams: give one of them" in both.stderr


def test_a_trophy_says_its_metric_in_the_boards_language(tmp_path):
    db = seed(tmp_path)
    french = run(db, "leaderboard", "--trophy", "Engagement")
    assert "Trophée « Engagement » : (J'aime + commentaires) / publications comptées (0 sans publication)" in french.stdout
    english = run(db, "leaderboard", "--trophy", "Engagement", "--lang", "en")
    assert "Trophy “Engagement”: (likes + comments) / counted posts (0 with no post)" in english.stdout


def test_check_winners_in_a_french_team_contest_speaks_french(tmp_path):
    out = run(seed(tmp_path), "check-winners", "--top", "1", "--alternates", "1").output
    assert "1. gagnant·e équipe « 3e Avenue » 17841400000000101  https://www.instagram.com/team101/" in out
    assert out.count("lecture impossible : la relecture par le ou la propriétaire a été refusée") == 4
    assert "lu pour la dernière fois par une relève le 30 avril 2017, 8 h 00 (UTC−4) (125 abonné·es)" in out
    assert "4 sur 4 impossibles à relire : ouvrez leurs profils avant d'annoncer" in out


def test_check_winners_without_team_tokens_says_each_account_cannot_be_read(tmp_path):
    result = run(seed(tmp_path), "check-winners", "--top", "1", "--alternates", "1", "--lang", "en")
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "1. winner    team “3e Avenue” 17841400000000101  https://www.instagram.com/team101/" in result.output
    assert result.output.count("cannot be read: the owner read was refused") == 4  # two places, two trophy winners
    assert "DERBY_TOKEN_3E_AVENUE is not set" in result.output
    assert "last read by a poll 2017-04-30 08:00 (UTC−4) (125 followers)" in result.output
    assert "4 of 4 could not be read: open their profiles before announcing" in result.output


def test_draw_commit_in_a_team_contest_is_refused_first_without_advice_on_the_draw_question(tmp_path):
    db = seed(tmp_path)
    result = run(db, "draw", "commit", "--beacon", "loto", "--as-of", "2017-04-05T12:00", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.startswith("derby: a draw picks among entries; this is a team contest")
    assert "[draw] question" not in result.stderr and result.stderr.count("\n") == 1


def test_explain_a_team_writes_counts_in_the_languages_way(tmp_path):
    from dataclasses import replace

    from derby.team_leaderboard import explain_team_lines

    db = store.open_db(seed(tmp_path))
    board = teams.team_standings(db, utc(2017, 5, 1))
    team = replace(board.ranked[0], followers_baseline=1000, followers_count=2349, followers_gained=1349)
    french = "\n".join(explain_team_lines(board, team, lang="fr"))
    assert "1\u202f000 au départ → 2\u202f349 à la clôture : +1\u202f349 gagnés" in french
    assert "+1\u202f349 abonnés × 2" in french
    english = "\n".join(explain_team_lines(board, team, lang="en"))
    assert "1,000 at the baseline → 2,349 at the freeze: +1,349 gained" in english
