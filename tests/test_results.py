"""Certified results: certify writes the file and records its SHA-256; verify catches a
file edited by hand, data changed under the certification, and later changes."""

from __future__ import annotations

import hashlib
import json

from derby import store
from contest_db import derby, fake_clock  # noqa: F401 - fixtures
from helpers import utc


def _certify(derby, tmp_path):
    out = derby("results", "certify", "--top", "3", "--alternates", "2", "--out", str(tmp_path / "r.json")).output
    return out, tmp_path / "r.json"


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
    verified = derby("results", "verify", str(path))
    assert "match" in verified.output


def test_a_results_file_edited_by_hand_is_caught(derby, tmp_path, fake_clock):
    _, path = _certify(derby, tmp_path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["winners"][0], doc["winners"][1] = doc["winners"][1], doc["winners"][0]
    path.write_text(json.dumps(doc), encoding="utf-8")
    fake_clock.now = utc(2017, 4, 12, 14)
    result = derby("results", "verify", str(path), ok=False)
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
    result = derby("results", "verify", str(path), ok=False)
    assert result.exit_code == 1
    assert "ok   as certified" in result.output and "DIFF today" in result.output
    assert f"{winner}: certified rank 1" in result.output and "now not ranked" in result.output


def test_data_changed_under_the_certification_is_tampering(derby, tmp_path, fake_clock):
    _, path = _certify(derby, tmp_path)
    winner = json.loads(path.read_text(encoding="utf-8"))["winners"][0]["media_id"]
    db = store.open_db(derby.db)
    db.execute("UPDATE snapshots SET like_count = like_count + 1000 WHERE media_id = ?", [winner])
    db.conn.commit()
    fake_clock.now = utc(2017, 4, 12, 15)
    result = derby("results", "verify", str(path), ok=False)
    assert "FAIL as certified" in result.output and "the reading used changed" in result.output


def test_a_file_that_is_not_a_results_file_is_one_line(derby, tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{\"format\": \"other\"}", encoding="utf-8")
    result = derby("results", "verify", str(bad), ok=False)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "not a derby results file" in result.stderr
