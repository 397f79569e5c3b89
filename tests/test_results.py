"""Certified results: certify writes the file and records its SHA-256; verify catches a
file edited by hand, data changed under the certification, and later changes."""

from __future__ import annotations

import hashlib
import json

from derby import store
from contest_db import derby, fake_clock  # noqa: F401 - fixtures
from helpers import utc


def _certify(derby, tmp_path):
    out = derby("results", "certify", "--lang", "en", "--top", "3", "--alternates", "2", "--out", str(tmp_path / "r.json")).output
    return out, tmp_path / "r.json"


def test_certify_and_verify_speak_the_contests_french(derby, fake_clock, tmp_path):
    path = tmp_path / "r.json"
    out = derby("results", "certify", "--top", "1", "--alternates", "1", "--out", str(path)).output
    assert "gagnant·e rang 1  " in out and "substitut rang 2  " in out
    assert "participations classées certifiées au 12 avril 2017" in out and f"dans {path}" in out
    assert "SHA-256: " in out and "winner" not in out and "certified" not in out
    verified = derby("results", "verify", str(path)).output
    assert "ok   fichier : SHA-256 " in verified and "ok   tel que certifié : les données enregistrées les reproduisent" in verified
    assert "ok   aujourd'hui : le même classement" in verified
    assert "concordance : les résultats certifiés tiennent toujours" in verified
    (row,) = store.audit_log(store.open_db(derby.db), action="results_verify")
    assert row["summary"].endswith(": match")


def test_certify_writes_the_standings_and_records_the_sha256(derby, tmp_path):
    out, path = _certify(derby, tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert f"SHA-256: {digest}" in out
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert [w["rank"] for w in doc["winners"]] == [1, 2, 3] and [a["rank"] for a in doc["alternates"]] == [4, 5]
    assert doc["selection"] == "standings" and doc["rules"]["points_per_comment"] == 3
    assert doc["rules_history"]["changes"] > 0 and len(doc["standings"]) > 10
    assert all(len(r["reading"]) == 64 for r in doc["standings"])
    (row,) = store.audit_log(store.open_db(derby.db), action="results_certify")
    assert row["subject"] == digest
    verified = derby("results", "verify", "--lang", "en", str(path))
    assert "match" in verified.output


def test_a_results_file_edited_by_hand_is_caught(derby, tmp_path, fake_clock):
    _, path = _certify(derby, tmp_path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["winners"][0], doc["winners"][1] = doc["winners"][1], doc["winners"][0]
    path.write_text(json.dumps(doc), encoding="utf-8")
    fake_clock.now = utc(2017, 4, 12, 14)
    result = derby("results", "verify", "--lang", "en", str(path), ok=False)
    assert result.exit_code == 1
    assert "FAIL file" in result.output and "never certified" in result.output
    assert "winners: certified" in result.output
    (row,) = store.audit_log(store.open_db(derby.db), action="results_verify")
    assert row["data"]["file_ok"] is False


def test_a_later_disqualification_shows_as_a_change_since_not_as_tampering(derby, tmp_path, fake_clock):
    _, path = _certify(derby, tmp_path)
    winner = json.loads(path.read_text(encoding="utf-8"))["winners"][0]["media_id"]
    fake_clock.now = utc(2017, 4, 12, 15)
    derby("disqualify", winner, "--reason", "compte acheté", "--by", "Marie")
    result = derby("results", "verify", "--lang", "en", str(path), ok=False)
    assert result.exit_code == 1
    assert "ok   as certified" in result.output and "DIFF today" in result.output
    assert f"{winner}: certified rank 1" in result.output and "now not ranked" in result.output


def test_a_disqualification_in_the_certifications_second_is_not_tampering(derby, tmp_path, fake_clock):
    _, path = _certify(derby, tmp_path)  # the clock does not move: the same second
    winner = json.loads(path.read_text(encoding="utf-8"))["winners"][0]["media_id"]
    derby("disqualify", winner, "--reason", "compte acheté", "--by", "Marie")
    result = derby("results", "verify", "--lang", "en", str(path), ok=False)
    assert result.exit_code == 1
    assert "ok   as certified" in result.output and "tampering" not in result.output
    assert "DIFF today" in result.output and f"{winner}: certified rank 1" in result.output


def test_a_change_under_the_certification_in_its_second_is_still_caught(derby, tmp_path, fake_clock):
    _, path = _certify(derby, tmp_path)
    winner = json.loads(path.read_text(encoding="utf-8"))["winners"][0]["media_id"]
    derby("disqualify", winner, "--reason", "compte acheté", "--by", "Marie")
    db = store.open_db(derby.db)
    db.execute("UPDATE snapshots SET like_count = like_count + 1000")
    db.conn.commit()
    result = derby("results", "verify", "--lang", "en", str(path), ok=False)
    assert "FAIL as certified" in result.output or "DIFF as certified" in result.output
    assert "ok   as certified" not in result.output


def test_data_changed_under_the_certification_is_tampering(derby, tmp_path, fake_clock):
    _, path = _certify(derby, tmp_path)
    winner = json.loads(path.read_text(encoding="utf-8"))["winners"][0]["media_id"]
    db = store.open_db(derby.db)
    db.execute("UPDATE snapshots SET like_count = like_count + 1000 WHERE media_id = ?", [winner])
    db.conn.commit()
    fake_clock.now = utc(2017, 4, 12, 15)
    result = derby("results", "verify", "--lang", "en", str(path), ok=False)
    assert "FAIL as certified" in result.output and "the reading used changed" in result.output


def test_a_file_that_is_not_a_results_file_is_one_line(derby, tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{\"format\": \"other\"}", encoding="utf-8")
    result = derby("results", "verify", "--lang", "en", str(bad), ok=False)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "not a derby results file" in result.stderr


def test_a_hashtag_contest_has_no_trophy_and_one_added_by_hand_is_caught(derby, tmp_path):
    _, path = _certify(derby, tmp_path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["trophies"] == []
    doc["trophies"] = [{"name": "Coup de cœur", "metric": "score", "count": 1,
                        "winners": [{"account_id": "x", "team": "x", "place": 1, "value": 1}]}]
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = derby("results", "verify", "--lang", "en", str(path), ok=False)
    assert "trophy “Coup de cœur”: certified “x” x (1); now no such trophy" in result.output


def _team_db(tmp_path):
    from test_team_standings import seed

    return seed(tmp_path)


def test_team_results_certify_teams_and_each_trophy_and_verify_them(tmp_path, fake_clock):
    from click.testing import CliRunner

    from derby.cli import cli

    db = _team_db(tmp_path)
    fake_clock.now = utc(2017, 5, 2, 12)

    def run(*args, code=0):
        result = CliRunner().invoke(cli, ["--db", str(db), *args])
        assert result.exit_code == code, (result.output, result.stderr)
        return result

    out = run("results", "certify", "--lang", "en", "--top", "1", "--alternates", "1", "--out", str(tmp_path / "r.json")).output
    assert "winner    rank 1  team “3e Avenue” 17841400000000101" in out
    assert "alternate rank 2  team “Saint-Jean” 17841400000000102" in out
    assert "trophy “Engagement” (engagement_per_post): 1. “Saint-Jean” 17841400000000102 (32)" in out
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [w["account_id"] for w in doc["winners"]] == ["17841400000000101"]
    assert doc["trophies"] == [{"name": "Engagement", "metric": "engagement_per_post", "count": 2, "winners": [
        {"account_id": "17841400000000102", "team": "Saint-Jean", "place": 1, "value": 32},
        {"account_id": "17841400000000101", "team": "3e Avenue", "place": 2, "value": 7.5}]}]
    assert [s["team"] for s in doc["standings"]] == ["3e Avenue", "Saint-Jean"]
    assert all(len(s["reading"]) == 64 for s in doc["standings"])
    (row,) = store.audit_log(store.open_db(db), action="results_certify")
    assert row["data"]["trophies"] == {"Engagement": ["17841400000000102", "17841400000000101"]}
    assert "match" in run("results", "verify", "--lang", "en", str(tmp_path / "r.json")).output

    fake_clock.now = utc(2017, 5, 2, 13)
    run("disqualify", "--team", "Saint-Jean", "--reason", "abonnés achetés", "--by", "Marie")
    result = run("results", "verify", "--lang", "en", str(tmp_path / "r.json"), code=1)
    assert "ok   as certified" in result.output and "DIFF today" in result.output
    assert ("trophy “Engagement”: certified “Saint-Jean” 17841400000000102 (32), “3e Avenue” 17841400000000101 (7.5) "
            "(engagement_per_post); now “3e Avenue” 17841400000000101 (7.5) (engagement_per_post)") in result.output
    assert "alternates: certified “Saint-Jean” (17841400000000102); now none" in result.output
    assert "team “Saint-Jean” (17841400000000102): certified rank 2" in result.output, result.output
    assert "3 differences since the certification" in result.output, result.output


def test_an_edited_file_is_said_to_differ_from_what_was_certified_without_accusing_the_data(derby, tmp_path,
                                                                                             fake_clock):
    _, path = _certify(derby, tmp_path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["winners"][0], doc["winners"][1] = doc["winners"][1], doc["winners"][0]
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = derby("results", "verify", "--lang", "en", str(path), ok=False)
    out = result.output
    assert "tampering" not in out and "FAIL as certified" not in out, out
    assert "the file differs from what was certified: 1 difference\n" in out, out
    assert "ok   as certified" in out and "ok   today: the same standings" in out, out
    db = store.open_db(derby.db)
    db.execute("UPDATE snapshots SET like_count = like_count + 1000 WHERE media_id = ?", [doc["winners"][1]["media_id"]])
    db.conn.commit()
    out = derby("results", "verify", "--lang", "en", str(path), ok=False).output
    assert "FAIL as certified" in out and "winners: certified" in out, out
