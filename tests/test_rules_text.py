"""derby rules-text: the contest rules written from the contest file and the rules in
force, French first with Québec typography; the new contest-file keys are validated."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from derby import rules_text
from derby.cli import cli
from derby.config import load_contest
from derby.errors import ConfigError

DEMO = Path(__file__).resolve().parents[1] / "derby" / "demo" / "contest.toml"
NBSP = "\u00a0"


@pytest.fixture
def demo_db(tmp_path):
    db = tmp_path / "d.db"
    result = CliRunner().invoke(cli, ["--db", str(db), "init", str(DEMO)])
    assert result.exit_code == 0, result.output

    def run(*args):
        return CliRunner().invoke(cli, ["--db", str(db), *args])

    return run


def test_french_rules_say_what_the_contest_file_and_rules_say(demo_db):
    text = demo_db("rules-text").output
    assert text.startswith(f"# Règlement du concours «{NBSP}Social Derby")
    assert f"1er{NBSP}avril{NBSP}2017 à 0{NBSP}h{NBSP}00" in text and "UTC−4" in text and "America/Toronto" in text
    assert f"chaque commentaire{NBSP}: 3{NBSP}points" in text
    assert f"1er rang{NBSP}: un forfait découverte" in text and f"500{NBSP}$" in text and f"790{NBSP}$" in text
    assert "question d’habileté" in text and "(12 × 3) + 8 − 4 = ?" in text
    assert "ni commandité, ni appuyé, ni administré par Instagram" in text and "dégage Instagram" in text
    assert f"90{NBSP}jours après la fin du concours, soit le 8{NBSP}juillet{NBSP}2017" in text
    assert "Marie Exemple" in text and "14 jours" in text.replace(NBSP, " ")
    assert " ;" not in text and " :" not in text.replace(f"{NBSP}:", "")  # a no-break space before ':' only


def test_a_rule_change_is_in_the_text(demo_db):
    assert demo_db("rules", "set", "points_per_comment", "2", "--reason", "jury", "--by", "Marie").exit_code == 0
    assert demo_db("rules", "set", "cap_likes", "500", "--by", "Marie", "--reason", "jury").exit_code == 0
    text = demo_db("rules-text", "--lang", "en").output.replace(NBSP, " ")
    assert "each comment: 2 points" in text and "at most 500 likes counted per post" in text
    assert "released" not in text and "releases Instagram" in text


def test_html_escapes_and_names_its_language(demo_db, tmp_path):
    out = tmp_path / "r.html"
    result = demo_db("rules-text", "--format", "html", "--out", str(out))
    assert result.exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith('<!DOCTYPE html><html lang="fr">') and "<h2>5. Pointage</h2>" in page


def test_rules_text_without_the_organizer_is_one_clear_line(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(DEMO.read_text(encoding="utf-8").split("# What the contest rules say")[0]
                    .replace('path = "replay"', f'path = "{DEMO.parent / "replay"}"'), encoding="utf-8")
    db = tmp_path / "d.db"
    assert CliRunner().invoke(cli, ["--db", str(db), "init", str(toml)]).exit_code == 0
    result = CliRunner().invoke(cli, ["--db", str(db), "rules-text"])
    assert result.exit_code == 2 and "[organizer]" in result.stderr and result.stderr.count("\n") == 1


def _with(tmp_path, extra: str) -> Path:
    toml = tmp_path / "c.toml"
    toml.write_text(DEMO.read_text(encoding="utf-8").replace('path = "replay"', f'path = "{DEMO.parent / "replay"}"')
                    + extra, encoding="utf-8")
    return toml


@pytest.mark.parametrize("extra, message", [
    ('\n[[prizes]]\nrank = 1\ndescription = "encore"\n', "rank 1 is listed twice"),
    ('\n[[prizes]]\ndescription = "sans rang"\n', "needs a rank"),
    ('\n[[prizes]]\nrank = 9\ndescription = "x"\nvalue = -5\n', "prizes.value"),
])
def test_bad_prize_tables_are_refused_naming_the_key(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        load_contest(_with(tmp_path, extra))


def test_a_draw_needs_its_skill_testing_question(tmp_path):
    toml = _with(tmp_path, "")
    toml.write_text(toml.read_text(encoding="utf-8").replace('question = { fr = "(12 × 3) + 8 − 4 = ?", '
                                                             'en = "(12 × 3) + 8 − 4 = ?" }\n', ""), encoding="utf-8")
    with pytest.raises(ConfigError, match="draw.question is required"):
        load_contest(toml)


def test_amounts_and_dates_follow_french_typography():
    assert rules_text._money(1500, "fr") == f"1{NBSP}500{NBSP}$" and rules_text._money(1500, "en") == "$1,500"
    assert rules_text._number(2.5, "fr") == "2,50"


def test_a_refused_contest_file_is_in_the_audit_log_and_changes_nothing(demo_db, tmp_path):
    from derby import store

    bad = _with(tmp_path, '\n[[prizes]]\nrank = 2\ndescription = "encore"\n')
    db_path = tmp_path / "d.db"
    before = store.open_db(db_path)["contest"].rows_where().__next__()["terms"]
    result = demo_db("init", str(bad))
    assert result.exit_code == 2 and "rank 2 is listed twice" in result.stderr
    db = store.open_db(db_path)
    assert next(db["contest"].rows_where())["terms"] == before
    (row,) = store.audit_log(db, action="contest_file_refused")
    assert "rank 2 is listed twice" in row["summary"]


def test_a_team_contest_rules_give_the_team_tie_break_to_its_final_name_step(tmp_path):
    source = Path(__file__).resolve().parents[1] / "derby" / "demo" / "teams"
    text = (source / "contest.toml").read_text("utf-8").replace('path = "replay"', f'path = "{source / "replay"}"')
    contest_file = tmp_path / "teams.toml"
    contest_file.write_text(text + '\n[organizer]\nname = "Québec numérique"\ncontact = "concours@example.org"\n'
                                   'privacy_officer = "Marie Exemple"\n[privacy]\nretention_days = 90\n', "utf-8")
    db = tmp_path / "t.db"
    assert CliRunner().invoke(cli, ["--db", str(db), "init", str(contest_file)]).exit_code == 0
    fr = CliRunner().invoke(cli, ["--db", str(db), "rules-text"])
    assert fr.exit_code == 0, fr.output
    assert ("En cas d’égalité, l’emporte, dans l’ordre\u00a0: le plus d’abonnés gagnés; puis le plus de mentions "
            "J’aime sur les publications comptées; puis le nom de l’équipe, en ordre alphabétique.") in fr.stdout
    en = CliRunner().invoke(cli, ["--db", str(db), "rules-text", "--lang", "en"])
    assert ("Ties are broken, in order, by: the most followers gained; then the most likes on counted posts; "
            "then the team name, in alphabetical order.") in en.stdout


def _init_example(db: Path, contest_file: Path):
    tokens = {"DERBY_TOKEN_3E_AVENUE": "t" * 40, "INSTAGRAM_ACCESS_TOKEN": "u" * 40}
    return CliRunner().invoke(cli, ["--db", str(db), "init", str(contest_file)], env=tokens)


def test_the_team_example_rules_describe_the_team_contest_as_played(tmp_path):
    contest_file = tmp_path / "teams.toml"
    assert CliRunner().invoke(cli, ["init", "--example", "teams", str(contest_file)]).exit_code == 0
    db = tmp_path / "t.db"
    assert _init_example(db, contest_file).exit_code == 0
    fr = CliRunner().invoke(cli, ["--db", str(db), "rules-text"])
    assert fr.exit_code == 0, fr.output
    text = fr.stdout
    assert f"2{NBSP}équipes, inscrites par l’organisateur, participent{NBSP}: 3e Avenue, Faubourg Saint-Jean." in text
    assert "un seul compte Instagram" in text and "artère commerciale" in text
    assert f"chaque abonné gagné{NBSP}: 2{NBSP}points (chaque abonné perdu en retire autant)" in text
    assert f"chaque publication comptée{NBSP}: 5{NBSP}points" in text
    assert f"Au plus 3{NBSP}publications d’une équipe sont comptées par jour (heure de Québec){NBSP}: les 3 premières publiées" in text
    assert f"chaque commentaire{NBSP}: 3{NBSP}points" in text and "masquées au public" in text
    assert "le nom de l’équipe, en ordre alphabétique." in text
    assert f"«{NBSP}Engagement{NBSP}»{NBSP}: le plus de mentions J’aime et de commentaires par publication" in text
    assert "L’équipe la mieux classée à la fin du concours" in text and "substituts" in text
    assert f"trophée «{NBSP}Engagement{NBSP}»{NBSP}: le trophée de l’engagement" in text
    assert "publications les mieux classées" not in text and "Chaque publication admissible reçoit" not in text
    assert " ;" not in text and " :" not in text.replace(f"{NBSP}:", "")
    en = CliRunner().invoke(cli, ["--db", str(db), "rules-text", "--lang", "en"]).stdout.replace(NBSP, " ")
    assert "2 teams, registered by the organizer, take part: 3e Avenue, Faubourg Saint-Jean." in en
    assert "each follower gained: 2 points" in en and "At most 3 posts of a team count per day" in en
    assert "“Engagement”: the most likes and comments per counted post" in en and "The next teams are the alternates" in en
    assert "then the team name, in alphabetical order." in en


def test_a_team_rule_change_and_every_trophy_metric_are_in_the_text(tmp_path):
    from derby.teams import TROPHY_METRICS

    contest_file = tmp_path / "teams.toml"
    assert CliRunner().invoke(cli, ["init", "--example", "teams", str(contest_file)]).exit_code == 0
    trophies = "".join(f'\n[[trophies]]\nname = "T {m}"\nmetric = "{m}"\n' for m in TROPHY_METRICS if m != "engagement_per_post")
    contest_file.write_text(contest_file.read_text("utf-8") + trophies, "utf-8")
    db = tmp_path / "t.db"
    assert _init_example(db, contest_file).exit_code == 0
    assert CliRunner().invoke(cli, ["--db", str(db), "rules", "set", "points_per_follower", "4", "--by", "M",
                                    "--reason", "jury"]).exit_code == 0
    assert CliRunner().invoke(cli, ["--db", str(db), "rules", "set", "engagement_window_hours", "48", "--reason", "jury",
                                    "--by", "M"]).exit_code == 0
    en = CliRunner().invoke(cli, ["--db", str(db), "rules-text", "--lang", "en"]).stdout.replace(NBSP, " ")
    assert "each follower gained: 4 points" in en and "those of the 48 hours after the post" in en
    assert "“T engagement_per_follower”: the best ratio of the likes and comments" in en
    assert "“T followers_gained”: the most followers gained" in en and "“T posts”: the most posts counted" in en
