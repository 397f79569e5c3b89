"""The issue-4 commands through click's CliRunner: rules, entrants, explain,
disqualify/reinstate, audit and --as-of, on the bundled replay (no network)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from derby import clock
from derby.cli import cli
from helpers import utc

ROOT = Path(__file__).resolve().parents[1]
REPLAY_TOML = ROOT / "config" / "socialderby-replay.toml"
TOP = "BSV13mQ0BzK"          # media 17851496082344044: 402 likes, 30 comments in the last recorded poll
SECOND = "BSOMK02FNQn"       # media 17850894456536925: 431 likes, 0 comments


class FakeClock:
    """derby.clock.utcnow for the tests: returns the time the test sets."""

    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now

    def at(self, hour, minute):
        self.now = utc(2017, 4, 12, hour, minute)


@pytest.fixture
def fake_clock(monkeypatch):
    fake = FakeClock(utc(2017, 4, 12, 12))
    monkeypatch.setattr(clock, "utcnow", fake)
    return fake


@pytest.fixture
def derby(tmp_path, fake_clock):
    runner = CliRunner()
    db = tmp_path / "d.db"

    def run(*args, ok=True):
        result = runner.invoke(cli, ["--db", str(db), *args])
        if ok:
            assert result.exit_code == 0, (result.output, result.stderr)
        return result

    fake_clock.at(12, 0)  # 08:00 in Québec
    run("init", str(REPLAY_TOML))
    fake_clock.at(12, 1)
    run("poll")
    fake_clock.at(12, 2)
    return run


def board(derby, *args):
    return json.loads(derby("leaderboard", "--format", "json", *args).stdout)


def test_rules_listing_follows_the_contests_language_or_lang(derby):
    out = derby("rules").stdout.splitlines()  # the replay contest is in French
    assert out[1].strip() == "points pour chaque J'aime compté"
    assert out[-1] == ("Départage : score (pointage le plus élevé d'abord) → timestamp (publication la plus ancienne "
                       "d'abord) → media_id (plus petit identifiant de média d'abord, numériquement quand les deux "
                       "sont des nombres)")
    assert not any("(default)" in line or "points for" in line for line in out)


def test_rules_lists_every_rule_and_the_tie_break(derby):
    out = derby("rules", "--lang", "en").stdout.splitlines()
    assert out[0].split() == ["points_per_like", "1"]
    assert "hidden_likes                zero" in out
    assert out[-1] == ("Tie-break: score (higher score first) → timestamp (earlier post first) → "
                       "media_id (smaller media id first, numerically when both are numbers)")
    data = json.loads(derby("rules", "--format", "json").stdout)
    assert data["tie_break"] == ["score", "timestamp", "media_id"] and data["rules"]["cap_likes"] is None


def test_rules_set_history_and_effect(derby, fake_clock):
    before = board(derby, "--top", "1")["entries"][0]
    assert (before["media_id"], before["score"]) == ("17851496082344044", 492)
    out = derby("rules", "set", "points_per_comment", "0", "--reason", "décision du jury", "--by", "Marie").stdout
    assert out == "points_per_comment: 3 → 0 (by Marie)\n"
    after = board(derby, "--top", "1")["entries"][0]
    assert (after["media_id"], after["score"]) == ("17850894456536925", 431)
    fake_clock.at(12, 6)
    assert derby("rules", "set", "points_per_comment", "0", "--reason", "again").stdout == "points_per_comment is already 0; nothing recorded\n"
    derby("rules", "set", "media_type_bonus", '{"VIDEO": 5}', "--by", "Marie", "--reason", "vidéos")
    history = derby("rules", "history").stdout.splitlines()
    assert len(history) == 15
    assert history[13] == "2017-04-12 08:02 (UTC−4)  Marie  points_per_comment: 3 → 0  (décision du jury)"
    assert history[14] == "2017-04-12 08:06 (UTC−4)  Marie  media_type_bonus: {} → VIDEO=5  (vidéos)"
    assert derby("rules", "history", "media_type_bonus").stdout.count("\n") == 2


@pytest.mark.parametrize("args, message", [
    (("points_per_like", "-1"), "derby: rule points_per_like must be zero or more"),
    (("points_per_like", "lots"), "derby: rule points_per_like: 'lots' is not a value it takes"),
    (("hidden_likes", "maybe"), "derby: rule hidden_likes takes one of zero, comments_only, review, not 'maybe'"),
    (("luck", "1"), "derby: unknown rule 'luck'"),
])
def test_rules_set_refuses_bad_values_in_one_line(derby, args, message):
    result = derby("rules", "set", *args, "--reason", "test", ok=False)
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1


def test_entrants_import(derby, tmp_path):
    path = tmp_path / "inscriptions.csv"
    path.write_text("\ufeffUsername;Permalink;Display_Name\n"
                    f"@Marie.Q;https://www.instagram.com/p/{TOP}/;Marie Quintal\n"
                    "pas valide!;https://www.instagram.com/p/BSOMK02FNQn/;\n"
                    "jean;https://www.instagram.com/p/INCONNU/;\n", encoding="utf-8")
    result = derby("entrants", "import", str(path), "--by", "Léa", ok=False)
    assert result.exit_code == 1  # a row was refused
    assert result.stdout == "1 of 3 rows linked to stored entries (1 entrant); 2 refused (below)\n"
    assert result.stderr.splitlines() == [
        "line 3 (pas valide!, https://www.instagram.com/p/BSOMK02FNQn/): 'pas valide!' is not an Instagram username "
        "(letters, digits, . and _, at most 30)",
        "line 4 (jean, https://www.instagram.com/p/INCONNU/): no stored entry has shortcode INCONNU"]
    entry = next(e for e in board(derby)["entries"] if e["media_id"] == "17851496082344044")
    assert (entry["username"], entry["display_name"]) == ("marie.q", "Marie Quintal")
    assert "imported inscriptions.csv: 3 rows, 1 linked, 2 refused" in derby("audit").stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("name,link\nx,y\n")
    refused = derby("entrants", "import", str(bad), ok=False)
    assert refused.exit_code == 2 and "must name username and permalink or shortcode" in refused.stderr


def test_entrants_import_reads_bare_shortcodes_names_conflicts_and_says_what_each_bad_row_was(derby, tmp_path):
    path = tmp_path / "inscriptions.csv"
    path.write_text("username,permalink\n"
                    f"marie,{TOP}\n"                                   # a bare shortcode in the permalink column
                    f"paul,https://www.instagram.com/p/{TOP}/\n"       # claims Marie's entry
                    f"marie,instagram.com/p/{TOP}\n"                   # the same entry again for Marie
                    "zoe,https://exemple.com/p/BSOMK02FNQn/\n", encoding="utf-8")
    result = derby("entrants", "import", str(path), ok=False)
    assert result.exit_code == 1
    assert result.stdout == "1 of 4 rows linked to stored entries (1 entrant); 2 refused (below)\n"
    assert result.stderr.splitlines() == [
        f"line 3 (paul, https://www.instagram.com/p/{TOP}/): conflict: entry {TOP} is claimed by @paul here and by "
        "@marie on line 2; kept @marie (line 2): fix the file and import it again",
        "line 5 (zoe, https://exemple.com/p/BSOMK02FNQn/): 'https://exemple.com/p/BSOMK02FNQn/' is a link on "
        "exemple.com, not an Instagram permalink (https://www.instagram.com/p/…)",
        f"note: line 4: entry {TOP} is listed twice for @marie (line 2); kept once"]
    clean = tmp_path / "ok.csv"
    clean.write_text(f"username,shortcode\nmarie,{TOP}\n", encoding="utf-8")
    assert derby("entrants", "import", str(clean)).exit_code == 0


def test_explain(derby):
    lines = derby("explain", TOP, "--lang", "en").stdout.splitlines()
    assert lines[0] == f"Entry 17851496082344044  https://www.instagram.com/p/{TOP}/"
    assert lines[1] == "  entrant unknown (no entrant import matched)"
    assert lines[5].startswith("Snapshot used: observed 2017-04-12 08:01 (UTC−4): 402 likes, 30 comments  (observed late")
    assert lines[6] == "Engagement read: 2017-04-12 08:01 (UTC−4), its first reading (after the freeze)"
    assert lines[7:11] == [
        "Points:",
        "  points_per_like     402 likes × 1                                  402",
        "  points_per_comment  30 comments × 3                                 90",
        "  score                                                              492",
    ]
    assert "  ok  window: posted between the start and the end" in lines
    assert "Moderation: none" in lines
    assert lines[-2:] == ["Rank: 1 of 16", "Tie-break order: score > timestamp > media_id"]
    by_id = derby("explain", "17851496082344044").stdout
    assert by_id == derby("explain", f"https://www.instagram.com/p/{TOP}/").stdout
    missing = derby("explain", "nothing-like-this", ok=False)
    assert missing.exit_code == 1 and "no stored entry matches 'nothing-like-this'" in missing.stderr


def test_explain_follows_the_contests_language(derby):
    lines = derby("explain", TOP).stdout.splitlines()
    assert lines[0] == f"Participation 17851496082344044  https://www.instagram.com/p/{TOP}/"
    assert lines[1] == "  participant·e inconnu·e (aucune inscription importée ne correspond)"
    assert lines[5].startswith("Relevé utilisé : relevé le 12 avril 2017, 8 h 01 (UTC−4) : 402 J'aime, 30 commentaires")
    assert lines[6] == "Engagement relevé : 12 avril 2017, 8 h 01 (UTC−4), son premier relevé (après le gel)"
    assert lines[7:11] == [
        "Points :",
        "  points_per_like     402 J'aime × 1                                 402",
        "  points_per_comment  30 commentaires × 3                             90",
        "  pointage                                                           492",
    ]
    assert "  oui période : publiée entre le début et la clôture" in lines
    assert "Modération : aucune" in lines
    assert lines[-2:] == ["Rang : 1 sur 16", "Ordre de départage : score > timestamp > media_id"]
    english = "\n".join(lines)
    for word in ("Entry", "Snapshot", "likes", "posted", "Rank", "Moderation", "Eligibility"):
        assert word not in english, word


def test_reinstating_an_entry_never_disqualified_is_refused_in_one_line(derby):
    before = derby("audit", "--format", "json").stdout
    result = derby("reinstate", TOP, "--reason", "just in case", "--by", "Marie", ok=False)
    assert result.exit_code == 1
    assert result.stderr == ("derby: media 17851496082344044 is not disqualified, nor held for review (hidden likes) nor reported "
                             "gone: there is nothing to reinstate\n")
    assert "reinstated" not in result.stdout and derby("audit", "--format", "json").stdout == before


@pytest.mark.parametrize("args", [("reinstate", TOP), ("disqualify", TOP), ("rules", "set", "points_per_like", "2")])
def test_a_missing_reason_says_why_one_is_required(derby, args):
    before = derby("audit", "--format", "json").stdout
    result = derby(*args, "--by", "Marie", ok=False)
    assert result.exit_code == 2
    assert "Missing option '--reason': a judge's decision is recorded with why it was made" in result.stderr
    assert derby("audit", "--format", "json").stdout == before


def test_an_unknown_rule_lists_only_the_rules_of_this_kind_of_contest(derby):
    from derby import rules as rule_kinds

    result = derby("rules", "set", "nope", "1", "--reason", "test", ok=False)
    assert result.exit_code == 2 and result.stderr.startswith("derby: unknown rule 'nope'; known rules: ")
    assert "points_per_comment" in result.stderr
    assert not any(name in result.stderr.split(": ", 2)[2].split(", ") for name in rule_kinds.TEAM_RULES)
    history = derby("rules", "history", "nope", ok=False)
    assert history.exit_code == 1 and not any(name in history.stderr for name in rule_kinds.TEAM_RULES)


def test_a_rule_change_keeps_its_reason_in_the_audit_log(derby):
    assert derby("rules", "set", "points_per_like", "2", "--reason", "  ", ok=False).exit_code == 2
    derby("rules", "set", "points_per_like", "2", "--reason", "vote du jury", "--by", "Marie")
    logged = json.loads(derby("audit", "--action", "rule_set", "--format", "json").stdout)
    assert [(e["actor"], e["data"]["reason"]) for e in logged] == [("Marie", "vote du jury")]


def test_disqualify_reinstate_audit_and_as_of(derby, monkeypatch, tmp_path, fake_clock):
    monkeypatch.setenv("DERBY_JUDGE", "Jury SNQ")
    hostile = "photo volée \x1b[31m\u202eABC"
    out = derby("disqualify", TOP, "--reason", hostile).stdout
    assert out == "17851496082344044 disqualified by Jury SNQ: photo volée ABC\n"
    again = derby("disqualify", TOP, "--reason", "x", ok=False)
    assert again.exit_code == 1 and "already disqualified" in again.stderr
    assert derby("disqualify", TOP, ok=False).exit_code == 2  # --reason is required
    data = board(derby, "--all")
    assert data["entries"][0]["media_id"] == "17852165059412646"
    dq = next(e for e in data["entries"] if e["media_id"] == "17851496082344044")
    assert (dq["rank"], dq["status"], dq["reason"]) == (None, "disqualified", f"disqualified by Jury SNQ: {hostile}")
    table = derby("leaderboard", "--all", "--lang", "fr").stdout
    assert "disqualifiée" in table and "\x1b[31m" not in table
    explained = derby("explain", TOP, "--lang", "en").stdout
    assert "Rank: not ranked, disqualified by Jury SNQ: photo volée ABC [disqualified]" in explained
    french = derby("explain", TOP).stdout  # the contest's language
    assert "Rang : non classée, disqualifiée par Jury SNQ : photo volée ABC [disqualified]" in french
    fake_clock.at(12, 10)
    derby("reinstate", TOP, "--reason", "auteur confirmé", "--by", "Marie")
    assert board(derby, "--top", "1")["entries"][0]["media_id"] == "17851496082344044"
    # as of before the disqualification (08:02), between it and the reinstatement, and after
    ranked_then = [e["media_id"] for e in board(derby, "--as-of", "2017-04-12T08:01:30", "--top", "1")["entries"]]
    assert ranked_then == ["17851496082344044"]
    assert board(derby, "--as-of", "2017-04-12T08:09", "--top", "1")["entries"][0]["media_id"] == "17852165059412646"
    out = tmp_path / "w.csv"
    derby("export", str(out), "--as-of", "2017-04-12T08:09", "--top", "1", "--alternates", "0")
    assert [r["media_id"] for r in csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines())] == [
        "17852165059412646"]
    audit = derby("audit", "--action", "disqualify", "--lang", "en").stdout.splitlines()
    assert audit == ["2017-04-12 08:02 (UTC−4)  Jury SNQ  disqualify  disqualify 17851496082344044: photo volée ABC"]
    french = derby("audit", "--action", "disqualify").stdout.splitlines()  # the contest's language
    assert french == ["12 avril 2017, 8 h 02 (UTC−4)  Jury SNQ  disqualification  disqualify 17851496082344044: "
                      "photo volée ABC"]
    logged = json.loads(derby("audit", "--format", "json").stdout)
    assert [e["action"] for e in logged[-2:]] == ["disqualify", "reinstate"]
    assert (logged[-1]["at"], logged[-1]["actor"]) == ("2017-04-12T08:10:00-04:00", "Marie")


def test_demo_freezes_engagement_at_the_deadline(tmp_path):
    db = tmp_path / "demo.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["demo", "--db", str(db), "--interval", "0.3"]).exit_code == 0
    data = json.loads(runner.invoke(cli, ["--db", str(db), "leaderboard", "--format", "json", "--all"]).stdout)
    end = data["contest"]["engagement_counted_until"]
    assert end == "2017-04-09T23:59:59-04:00"
    used = [e for e in data["entries"] if e["rank"] and "observed_late" not in e["flags"]]
    # every reading used is from before the freeze, but the final sweep's mention refreshes
    # (the first poll after it), which count as the engagement at the freeze
    late = [e for e in used if e["observed_at"] > end]
    assert used and len(late) < len(used) and all(e["engagement_source"] == "mentioned_media" for e in late)
    assert len({e["observed_at"] for e in late}) <= 1


def test_init_seeds_once_then_records_edits_of_the_file(tmp_path, fake_clock):
    runner = CliRunner()
    db = tmp_path / "d.db"
    contest_file = tmp_path / "contest.toml"
    text = REPLAY_TOML.read_text(encoding="utf-8").replace('path = "../derby/demo/replay"',
                                                            f'path = "{ROOT / "derby" / "demo" / "replay"}"')
    contest_file.write_text(text, encoding="utf-8")
    first = runner.invoke(cli, ["--db", str(db), "init", str(contest_file)])
    assert first.stdout.splitlines()[-1] == "13 rules seeded (derby rules lists them)."
    fake_clock.at(13, 0)
    assert runner.invoke(cli, ["--db", str(db), "rules", "set", "cap_likes", "300", "--by", "Marie", "--reason", "jury"]).exit_code == 0
    assert runner.invoke(cli, ["--db", str(db), "rules", "set", "points_per_like", "2", "--by", "Marie", "--reason", "jury"]).exit_code == 0
    same = runner.invoke(cli, ["--db", str(db), "init", str(contest_file)])
    assert same.stdout.splitlines()[1:] == []  # the file did not change: Marie's edits stay
    contest_file.write_text(text.replace("points_per_comment = 3", "points_per_comment = 5"), encoding="utf-8")
    again = runner.invoke(cli, ["--db", str(db), "init", str(contest_file)])
    assert again.stdout.splitlines()[-1] == "rule points_per_comment: 3 → 5 (recorded)"
    history = runner.invoke(cli, ["--db", str(db), "rules", "history"]).stdout.splitlines()
    assert history[-3:] == ["2017-04-12 09:00 (UTC−4)  Marie  cap_likes: none → 300  (jury)",
                            "2017-04-12 09:00 (UTC−4)  Marie  points_per_like: 1 → 2  (jury)",
                            "2017-04-12 09:00 (UTC−4)  contest file  points_per_comment: 3 → 5  (edited in contest.toml)"]
    rules = json.loads(runner.invoke(cli, ["--db", str(db), "rules", "--format", "json"]).stdout)["rules"]
    assert (rules["cap_likes"], rules["points_per_comment"], rules["points_per_like"]) == (300, 5.0, 2.0)
    then = json.loads(runner.invoke(cli, ["--db", str(db), "rules", "--format", "json", "--as-of",
                                          "2017-04-12T08:30"]).stdout)["rules"]
    assert (then["cap_likes"], then["points_per_comment"]) == (None, 3.0)


def test_entrants_file_errors_are_one_line(derby, tmp_path):
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("username,shortcode\nhélène,BSV13mQ0BzK\n".encode("latin-1"))
    result = derby("entrants", "import", str(latin), ok=False)
    assert (result.exit_code, result.stderr) == (2, f"derby: {latin} is not UTF-8 text; save it as CSV UTF-8\n")
    missing = derby("entrants", "import", str(tmp_path / "nope.csv"), ok=False)
    assert missing.exit_code == 2 and "not found" in missing.stderr
    by_code = tmp_path / "codes.csv"
    by_code.write_text("username,shortcode\nana,BSV13mQ0BzK\n", encoding="utf-8")
    assert derby("entrants", "import", str(by_code)).stdout == "1 of 1 row linked to stored entries (1 entrant)\n"
