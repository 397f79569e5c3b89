"""Team contests: the contest file's [[teams]] and [[trophies]], init rules for
renamed, dropped and re-pointed teams, and the team tables of the store."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from derby import rules, store
from derby.cli import cli
from derby.config import load_contest, team_settings
from derby.errors import ConfigError
from derby.feeds.parse import AccountReading
from helpers import utc

TEAMS = """
[contest]
kind = "teams"
title = "Derby des artères"
timezone = "America/Toronto"
start = "2017-04-01T00:00:00"
end = "2017-04-28T23:59:59"

[schedule]
every = "12h"

[rules]
points_per_follower = 2
points_per_post = 5
cap_posts_per_day = 3

[[teams]]
name = "3e Avenue"
account_id = "17841400000000101"
token_env = "DERBY_TOKEN_3E_AVENUE"

[[teams]]
name = "Saint-Jean"
account_id = "17841400000000102"
login = "instagram"

[[trophies]]
name = "Engagement"
metric = "engagement_per_post"
count = 2
"""


def write(tmp_path, text, name="teams.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_team_contest_loads_with_its_teams_trophies_and_rules(tmp_path):
    contest = load_contest(write(tmp_path, TEAMS))
    assert contest.kind == "teams" and contest.hashtags == ()
    assert contest.feed.kind == "accounts"  # implied by kind = "teams"
    assert [(t.name, t.account_id, t.token_env, t.login) for t in contest.teams] == [
        ("3e Avenue", "17841400000000101", "DERBY_TOKEN_3E_AVENUE", "facebook"),
        ("Saint-Jean", "17841400000000102", "INSTAGRAM_ACCESS_TOKEN", "instagram")]
    assert [(t.name, t.metric, t.count) for t in contest.trophies] == [("Engagement", "engagement_per_post", 2)]
    assert contest.rules == {"points_per_follower": 2.0, "points_per_post": 5.0, "cap_posts_per_day": 3}


@pytest.mark.parametrize("old, new, message", [
    ('name = "Saint-Jean"', 'name = "3E  avenue"', "listed twice"),
    ('account_id = "17841400000000102"', 'account_id = "17841400000000101"', "already the account of team “3e Avenue”"),
    ('account_id = "17841400000000102"', 'account_id = "@saintjean"', "team “Saint-Jean”: account_id"),
    ('login = "instagram"', 'login = "myspace"', "team “Saint-Jean”: login"),
    ('token_env = "DERBY_TOKEN_3E_AVENUE"', 'token_env = "$(cat /etc/passwd)"', "team “3e Avenue”: token_env"),
    ('metric = "engagement_per_post"', 'metric = "vibes"', "trophy “Engagement”: metric"),
    ("count = 2", "count = 0", "count must be"),
    ('every = "12h"', 'every = "36h"', "at least once a day"),
    ('kind = "teams"', 'kind = "league"', "contest.kind"),
    ("cap_posts_per_day = 3", 'tie_break = ["score", "timestamp", "media_id"]', "must end with name"),
    ('[schedule]', '[feed]\nkind = "graph"\n[schedule]', "a team contest reads its accounts"),
])
def test_bad_team_files_get_one_clear_line(tmp_path, old, new, message):
    assert old in TEAMS
    with pytest.raises(ConfigError) as info:
        load_contest(write(tmp_path, TEAMS.replace(old, new, 1)))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_team_tables_and_team_rules_are_refused_in_a_hashtag_contest(tmp_path):
    hashtag = TEAMS.replace('kind = "teams"', 'hashtags = ["socialderby"]')
    with pytest.raises(ConfigError, match="add kind = \"teams\""):
        load_contest(write(tmp_path, hashtag))
    only_rules = hashtag.split("[[teams]]")[0]
    with pytest.raises(ConfigError, match="rule cap_posts_per_day is for a team contest"):
        load_contest(write(tmp_path, only_rules))
    accounts = only_rules.split("[rules]")[0] + '[feed]\nkind = "accounts"\n'
    with pytest.raises(ConfigError, match="reads team accounts; add kind"):
        load_contest(write(tmp_path, accounts))


def test_a_daily_poll_is_allowed_but_the_request_budget_counts_teams_and_pages(tmp_path):
    daily = load_contest(write(tmp_path, TEAMS.replace('every = "12h"', 'every = "24h"')))
    assert daily.schedule.every == 86400
    with pytest.raises(ConfigError, match=r"2 teams × \(1 \+ 10 pages\)"):
        load_contest(write(tmp_path, TEAMS.replace('every = "12h"', 'every = "5m"')))


def test_team_settings_read_each_teams_own_token_and_base_url(tmp_path):
    first, second = load_contest(write(tmp_path, TEAMS)).teams
    env = {"DERBY_TOKEN_3E_AVENUE": "tok-a", "INSTAGRAM_ACCESS_TOKEN": "tok-b",
           "DERBY_GRAPH_URL": "http://127.0.0.1:9/v24.0", "INSTAGRAM_APP_SECRET": "s3"}
    a, b = team_settings(first, env), team_settings(second, env)
    assert (a.access_token, a.base_url, a.app_secret) == ("tok-a", "http://127.0.0.1:9/v24.0", "s3")
    assert (b.access_token, b.base_url, b.app_secret) == ("tok-b", "https://graph.instagram.com/v24.0", None)
    assert "tok-a" not in repr(a)
    with pytest.raises(ConfigError, match="team “3e Avenue”: DERBY_TOKEN_3E_AVENUE is not set"):
        team_settings(first, {})
    with pytest.raises(ConfigError, match="DERBY_INSTAGRAM_URL must be an https"):
        team_settings(second, {"INSTAGRAM_ACCESS_TOKEN": "t", "DERBY_INSTAGRAM_URL": "http://evil.example"})


def test_team_tie_break_chains_are_their_own_keys():
    assert rules.validate_rule("tie_break", ["score", "followers_gained", "posts", "name"])
    with pytest.raises(ValueError, match="knows keys"):
        rules.validate_rule("tie_break", ["score", "timestamp", "name"])
    assert rules.effective_rules({}, "teams")["tie_break"] == list(rules.DEFAULT_TEAM_TIE_BREAK)
    assert "points_per_follower" not in rules.effective_rules({})


# -- init ------------------------------------------------------------------------------

def _init(db, path, *extra, env=None):
    return CliRunner().invoke(cli, ["--db", str(db), "init", str(path), *extra],
                              env={"DERBY_TOKEN_3E_AVENUE": "a", "INSTAGRAM_ACCESS_TOKEN": "b", **(env or {})})


def _with_a_post(db_path, account_id):
    db = store.open_db(db_path)
    run = store.start_poll_run(db, "fixture", utc(2017, 4, 2))
    from helpers import media, page

    store.save_page(db, run, account_id, "media", page(media("101")), utc(2017, 4, 2))
    store.link_team_media(db, run, account_id, ["101"])
    db.close()


def test_init_names_the_team_whose_token_variable_is_missing(tmp_path):
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "d.db"), "init", str(write(tmp_path, TEAMS))],
                                env={"INSTAGRAM_ACCESS_TOKEN": "b"})
    assert result.exit_code == 2
    assert "team “3e Avenue”: DERBY_TOKEN_3E_AVENUE is not set" in result.output


def test_init_keeps_a_renamed_teams_history_and_refuses_dropping_one_with_posts(tmp_path):
    db_path = tmp_path / "d.db"
    assert _init(db_path, write(tmp_path, TEAMS)).exit_code == 0
    _with_a_post(db_path, "17841400000000101")
    renamed = write(tmp_path, TEAMS.replace('name = "3e Avenue"', 'name = "La 3e"'), "renamed.toml")
    assert _init(db_path, renamed).exit_code == 0
    db = store.open_db(db_path)
    assert [t.name for t in store.load_teams(db)] == ["La 3e", "Saint-Jean"]
    assert store.team_media(db) == {"101": "17841400000000101"}
    assert [r["summary"] for r in store.audit_log(db, action="team_rename")] == ["team “3e Avenue” renamed “La 3e”"]
    db.close()

    dropped = write(tmp_path, TEAMS.replace('name = "3e Avenue"', 'name = "La 3e"').split("[[teams]]", 1)[0]
                    + "[[teams]]" + TEAMS.split("[[teams]]")[2], "dropped.toml")
    result = _init(db_path, dropped)
    assert result.exit_code == 2
    assert "team “La 3e” (account 17841400000000101, 1 posts stored) is no longer in the contest file" in result.output
    repointed = write(tmp_path, TEAMS.replace('name = "3e Avenue"', 'name = "La 3e"')
                      .replace("17841400000000101", "17841400000000999"), "repointed.toml")
    result = _init(db_path, repointed)
    assert result.exit_code == 2 and "would move from account 17841400000000101" in result.output
    assert _init(db_path, dropped, "--force").exit_code == 0
    db = store.open_db(db_path)
    assert [t.name for t in store.load_teams(db)] == ["Saint-Jean"]
    assert [t.name for t in store.load_teams(db, dropped=True)] == ["Saint-Jean", "La 3e"]
    assert store.team_media(db) == {"101": "17841400000000101"}  # nothing stored is lost


def test_init_seeds_the_team_rules_and_the_team_tie_break(tmp_path):
    db_path = tmp_path / "d.db"
    assert _init(db_path, write(tmp_path, TEAMS)).exit_code == 0
    db = store.open_db(db_path)
    values = store.read_rules(db)
    assert values["points_per_follower"] == 2 and values["cap_posts_per_day"] == 3
    assert values["tie_break"] == list(rules.DEFAULT_TEAM_TIE_BREAK)
    contest = store.load_contest(db)
    assert contest.kind == "teams" and [t.name for t in contest.teams] == ["3e Avenue", "Saint-Jean"]
    assert contest.trophies[0].metric == "engagement_per_post"


def test_account_snapshots_are_append_only_and_written_only_on_change(tmp_path):
    db = store.open_db(tmp_path / "d.db")
    store.save_contest(db, load_contest(write(tmp_path, TEAMS)), utc(2017, 3, 30))
    reading = AccountReading("17841400000000101", "troisieme", 10, 3, 1)
    runs = [store.start_poll_run(db, "fixture", utc(2017, 4, day)) for day in (1, 2, 3)]
    assert store.save_account_snapshot(db, runs[0], reading, utc(2017, 4, 1))
    assert not store.save_account_snapshot(db, runs[1], reading, utc(2017, 4, 2))
    assert store.save_account_snapshot(db, runs[2], AccountReading("17841400000000101", "troisieme", 9, 3, 2),
                                       utc(2017, 4, 3))
    series = store.account_series(db)["17841400000000101"]
    assert [(s["observed_at"], s["followers_count"]) for s in series] == [(utc(2017, 4, 1), 10), (utc(2017, 4, 3), 9)]
    import sqlite3

    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE account_snapshots SET followers_count = 99")


def test_a_token_env_without_token_in_its_name_is_refused_so_its_value_is_kept_out_of_messages(tmp_path):
    # the command line keeps the value of every variable named *TOKEN* or *SECRET* out of
    # what it prints; a team's token in DERBY_3E_AVENUE would not be
    text = TEAMS.replace('token_env = "DERBY_TOKEN_3E_AVENUE"', 'token_env = "DERBY_3E_AVENUE"')
    with pytest.raises(ConfigError, match="TOKEN in its name"):
        load_contest(write(tmp_path, text))
    assert load_contest(write(tmp_path, TEAMS.replace("DERBY_TOKEN_3E_AVENUE", "derby_token_b"))).teams[0].token_env == "derby_token_b"
