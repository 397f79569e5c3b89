"""The draw: pool, commitment, HMAC ranking, weighted method, certificate, verify, and
every refusal (recorded in the audit log, nothing else stored)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from derby import draw, store
from derby.draws import _team_contest
from contest_db import derby, fake_clock  # noqa: F401 - fixtures
from helpers import utc

BEACON = "drand quicknet round 12345678"
VALUE = "a4d1b0c2e3f4a5b6c7d8e9f0011223344556677889900aabbccddeeff0011223"


def _pool(weighted=False, entries=None, winners=1, alternates=2):
    entries = entries or [("17851496082344044", 492_000_000), ("17850894456536925", 431_000_000), ("9", 1_000_000)]
    return draw.pool_document(contest_digest="c" * 64, rules_version=12, rules_digest="r" * 64,
                              as_of="2017-04-12T13:00:00Z", pool="eligible", weighted=weighted, beacon=BEACON,
                              winners=winners, alternates=alternates, entries=entries)


def test_pool_is_in_numeric_order_and_its_commitment_is_sha256_of_canonical_bytes():
    pool = _pool()
    assert [e["media_id"] for e in pool["entries"]] == ["9", "17850894456536925", "17851496082344044"]
    assert "weight" not in pool["entries"][0]
    text = json.dumps(pool, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert draw.commitment(pool) == hashlib.sha256(text.encode()).hexdigest()


def test_unweighted_rank_is_hmac_of_each_id_smallest_first():
    pool = _pool()
    key = bytes.fromhex(VALUE)
    expected = sorted((e["media_id"] for e in pool["entries"]),
                      key=lambda m: int(hmac.new(key, m.encode(), hashlib.sha256).hexdigest(), 16))
    assert draw.rank(pool, key) == expected
    assert draw.rank(pool, b"other key") != expected or len(expected) < 3  # the key decides


def test_weighted_first_draw_follows_the_documented_steps():
    pool = _pool(weighted=True)
    key = b"beacon"
    total = sum(e["weight"] for e in pool["entries"])
    x = int.from_bytes(hmac.new(key, b"draw 1 try 0", hashlib.sha256).digest(), "big")
    assert x < 2**256 - (2**256 % total)
    r = x % total
    running, first = 0, None
    for e in pool["entries"]:
        running += e["weight"]
        if running > r:
            first = e["media_id"]
            break
    order = draw.rank(pool, key)
    assert order[0] == first and sorted(order) == sorted(e["media_id"] for e in pool["entries"])


def test_weighted_chances_follow_the_weights():
    pool = _pool(weighted=True, entries=[("1", 3), ("2", 1)])
    firsts = [draw.rank(pool, str(i).encode())[0] for i in range(2000)]
    share = firsts.count("1") / len(firsts)
    assert 0.70 < share < 0.80  # 3 to 1


def test_weights_are_exact_integers_and_zero_is_left_out():
    assert draw.weight(0.3) == 300_000 and draw.weight(3 * 0.1) == 300_000 and draw.weight(492) == 492_000_000
    pool = _pool(weighted=True, entries=[("1", 0), ("2", 5)])
    assert pool["entries"] == [{"media_id": "2", "weight": 5}]
    with pytest.raises(draw.DrawError, match="empty"):
        _pool(weighted=True, entries=[("1", 0)])


@pytest.mark.parametrize("value, message", [("zz", "not hexadecimal"), ("abc", "odd number"), ("", "not hexadecimal")])
def test_a_beacon_value_that_is_not_hex_is_refused(value, message):
    with pytest.raises(draw.DrawError, match=message):
        draw.beacon_value(value)


def test_text_values_are_their_utf8_bytes_and_hex_values_their_bytes():
    assert draw.beacon_value(None, "07 12 23 31 44 48").key == b"07 12 23 31 44 48"
    assert draw.beacon_value("0xAB cd").key == b"\xab\xcd"
    with pytest.raises(draw.DrawError):
        draw.beacon_value("ab", "cd")


def _certificate():
    pool = _pool()
    return draw.certificate(pool, draw.beacon_value(VALUE), committed_at="2017-04-12T13:00:00Z",
                            ran_at="2017-04-13T13:00:00Z")


def test_verify_accepts_a_true_certificate_and_catches_tampering_and_forgery():
    cert = _certificate()
    published = cert["commitment"]
    assert draw.verify(cert, published).ok
    swapped = json.loads(json.dumps(cert))
    swapped["result"]["winners"] = [cert["result"]["alternates"][0]]
    assert not draw.verify(swapped).ok
    forged = json.loads(json.dumps(cert))  # a pool changed, commitment and result recomputed
    forged["pool"]["entries"] = forged["pool"]["entries"][:2]
    forged["commitment"] = draw.commitment(forged["pool"])
    forged["result"] = draw.result(forged["pool"], bytes.fromhex(VALUE))
    assert draw.verify(forged).ok  # consistent on its own ...
    report = draw.verify(forged, published)  # ... but not the commitment published beforehand
    assert not report.ok and any(what == "published commitment" and not ok for what, ok, _ in report.checks)
    assert not draw.verify({"format": "nope"}).ok and not draw.verify([1, 2]).ok


def test_a_team_contest_refuses_a_draw():
    class Teams:
        kind = "teams"

    assert _team_contest(Teams())


def _audit(db_path: Path, action: str) -> list[dict]:
    return store.audit_log(store.open_db(db_path), action=action)


def test_commit_run_verify_through_the_cli(derby, tmp_path):
    out = derby("draw", "commit", "--beacon", BEACON, "--pool", "top:5", "--winners", "1", "--alternates", "2",
                "--out", str(tmp_path)).output
    commitment = out.split("commitment: ")[1].split()[0]
    pool_file = next(tmp_path.glob("draw-pool-*.json"))
    assert hashlib.sha256(pool_file.read_bytes()).hexdigest() == commitment  # sha256sum checks it too
    assert len(json.loads(pool_file.read_bytes())["entries"]) == 5
    ran = derby("draw", "run", "--value", VALUE, "--out", str(tmp_path)).output
    assert "1. winner" in ran and "3. alternate" in ran
    cert_file = next(tmp_path.glob("draw-certificate-*.json"))
    html = next(tmp_path.glob("draw-certificate-*.html")).read_text(encoding="utf-8")
    assert "Certificat de tirage au sort" in html and "Draw certificate" in html and commitment in html
    result = derby("draw", "verify", str(cert_file), "--commitment", commitment)
    assert "match" in result.output
    (run_row,) = _audit(derby.db, "draw_run")
    cert = json.loads(cert_file.read_text(encoding="utf-8"))
    assert run_row["data"]["winners"] == cert["result"]["winners"]
    cert["result"]["winners"] = cert["result"]["alternates"][:1]
    cert_file.write_text(json.dumps(cert), encoding="utf-8")
    bad = derby("draw", "verify", str(cert_file), ok=False)
    assert bad.exit_code == 1 and "FAIL result" in bad.output
    wrong = derby("draw", "verify", str(cert_file), "--commitment", "0" * 64, ok=False)
    assert wrong.exit_code == 1 and "FAIL published commitment" in wrong.output


def test_second_commit_after_a_run_and_a_second_run_are_refused_and_recorded(derby, tmp_path):
    derby("draw", "commit", "--beacon", BEACON, "--out", str(tmp_path))
    derby("draw", "run", "--value-text", "07 12 23 31 44 48", "--out", str(tmp_path))
    again = derby("draw", "commit", "--beacon", BEACON, "--out", str(tmp_path), ok=False)
    assert again.exit_code == 2 and "already ran" in again.stderr
    rerun = derby("draw", "run", "--value", VALUE, "--out", str(tmp_path), ok=False)
    assert rerun.exit_code == 2 and "never run twice" in rerun.stderr
    db = store.open_db(derby.db)
    assert db["draw_commitments"].count == 1 and db["draw_runs"].count == 1
    assert len(_audit(derby.db, "draw_commit_refused")) == 1 and len(_audit(derby.db, "draw_run_refused")) == 1


def test_a_run_whose_pool_changed_is_refused_with_the_reason(derby, tmp_path, fake_clock):
    out = derby("draw", "commit", "--beacon", BEACON, "--pool", "top:3", "--out", str(tmp_path)).output
    pool = json.loads(next(tmp_path.glob("draw-pool-*.json")).read_bytes())
    first = pool["entries"][0]["media_id"]
    fake_clock.now = utc(2017, 4, 12, 14)
    derby("disqualify", first, "--reason", "photo d'un autre compte", "--by", "Marie")
    refused = derby("draw", "run", "--value", VALUE, ok=False)
    assert refused.exit_code == 2 and "no longer matches its commitment" in refused.stderr
    assert f"no longer in the pool: {first}" in refused.stderr
    assert store.open_db(derby.db)["draw_runs"].count == 0
    assert _audit(derby.db, "draw_run_refused")[0]["data"]["commitment"] in out


def test_bad_value_before_the_close_and_future_as_of_are_refused_and_recorded(derby, tmp_path, fake_clock):
    derby("draw", "commit", "--beacon", BEACON, "--out", str(tmp_path))
    bad = derby("draw", "run", "--value", "not-hex", ok=False)
    assert bad.exit_code == 2 and "not hexadecimal" in bad.stderr
    assert store.open_db(derby.db)["draw_runs"].count == 0
    fake_clock.now = utc(2017, 4, 5, 12)
    early = derby("draw", "commit", "--beacon", BEACON, ok=False)
    assert early.exit_code == 2 and "frozen once engagement stops counting" in early.stderr
    future = derby("draw", "commit", "--beacon", BEACON, "--as-of", "2017-04-06T12:00", ok=False)
    assert "in the future" in future.stderr
    blank = derby("draw", "commit", "--beacon", "  ", "--as-of", "2017-04-05T06:00", ok=False)
    assert "--beacon must name" in blank.stderr
    assert len(_audit(derby.db, "draw_commit_refused")) == 3
    assert len(_audit(derby.db, "draw_run_refused")) == 1


def test_verify_needs_no_database(tmp_path):
    from click.testing import CliRunner

    from derby.cli import cli

    path = tmp_path / "c.json"
    path.write_text(json.dumps(_certificate()), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "draw", "verify", str(path)])
    assert result.exit_code == 0 and "match" in result.output and not (tmp_path / "none.db").exists()
    path.write_text("<html>not json</html>", encoding="utf-8")
    broken = CliRunner().invoke(cli, ["draw", "verify", str(path)])
    assert broken.exit_code == 1 and "not JSON" in broken.stderr


def test_the_standalone_check_in_the_docs_agrees_with_derby(tmp_path):
    """docs/draw.md gives a few lines of Python that check a certificate without derby."""
    import re
    import subprocess
    import sys

    doc = (Path(__file__).resolve().parents[1] / "docs" / "draw.md").read_text(encoding="utf-8")
    script = tmp_path / "check.py"
    script.write_text(re.search(r"```python\n(.*?)```", doc, re.S).group(1), encoding="utf-8")
    for weighted in (False, True):
        pool = _pool(weighted=weighted)
        cert = draw.certificate(pool, draw.beacon_value(None, "07 12 23 31"), committed_at="x", ran_at="y")
        path = tmp_path / f"c{weighted}.json"
        path.write_text(json.dumps(cert), encoding="utf-8")
        done = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True)
        assert done.returncode == 0 and "match" in done.stdout and cert["commitment"] in done.stdout
        cert["result"]["winners"] = cert["result"]["order"][1:2]
        path.write_text(json.dumps(cert), encoding="utf-8")
        assert subprocess.run([sys.executable, str(script), str(path)], capture_output=True).returncode == 1


@pytest.mark.parametrize("mangle", [
    lambda c: c.update(result=[1, 2]),
    lambda c: c.update(value="zz"),
    lambda c: c["pool"].update(entries="nope"),
    lambda c: c["pool"].update(weighted=True),
    lambda c: c.update(method=None),
    lambda c: c.pop("commitment"),
    lambda c: c["value"].update(value="0xZZ"),
])
def test_a_malformed_certificate_fails_cleanly(mangle):
    cert = json.loads(json.dumps(_certificate()))
    mangle(cert)
    report = draw.verify(cert)
    assert not report.ok and all(isinstance(d, str) for _, _, d in report.checks)


def test_a_commit_before_any_run_is_superseded_by_the_next_and_both_are_recorded(derby, tmp_path):
    first = derby("draw", "commit", "--beacon", BEACON, "--pool", "top:3", "--out", str(tmp_path)).output
    second = derby("draw", "commit", "--beacon", BEACON, "--pool", "top:4", "--out", str(tmp_path)).output
    c1, c2 = (o.split("commitment: ")[1].split()[0] for o in (first, second))
    assert c1 != c2
    derby("draw", "run", "--value", VALUE, "--out", str(tmp_path))
    cert = next(tmp_path.glob(f"draw-certificate-{c2[:12]}.json"))
    assert derby("draw", "verify", str(cert), "--commitment", c2).exit_code == 0
    assert derby("draw", "verify", str(cert), "--commitment", c1, ok=False).exit_code == 1  # not the first one
    assert [r["subject"] for r in _audit(derby.db, "draw_commit")] == [c1, c2]


def _report_gone(db_path: Path, media_id: str, at) -> None:
    store.record_outcomes(store.open_db(db_path), None, [(media_id, "mentioned_media", "gone", None)], at)


def _top(derby, tmp_path, n=3):
    out = derby("draw", "commit", "--beacon", BEACON, "--pool", f"top:{n}", "--out", str(tmp_path)).output
    return out, json.loads(next(tmp_path.glob("draw-pool-*.json")).read_bytes())


def test_a_pool_holding_a_post_reported_gone_is_refused_until_a_judge_decides(derby, tmp_path, fake_clock):
    board = store.open_db(derby.db)
    from derby import leaderboard

    first = leaderboard.standings(board, fake_clock.now).ranked[0]
    _report_gone(derby.db, first.media_id, utc(2017, 4, 12, 12, 30))
    refused = derby("draw", "commit", "--beacon", BEACON, "--pool", "top:3", "--out", str(tmp_path), ok=False)
    assert refused.exit_code == 2 and "reported gone" in refused.stderr
    assert f"rank 1 (" in refused.stderr and first.media_id in refused.stderr and "mentioned_media" in refused.stderr
    assert "derby disqualify" in refused.stderr and "--include-gone" in refused.stderr
    assert not list(tmp_path.glob("draw-pool-*.json")) and store.open_db(derby.db)["draw_commitments"].count == 0
    (row,) = _audit(derby.db, "draw_commit_refused")
    assert row["data"][0]["media_id"] == first.media_id
    # --as-of: a disqualification made now would not leave the pool as of an earlier moment
    as_of = derby("draw", "commit", "--beacon", BEACON, "--as-of", "2017-04-12T08:10", "--out", str(tmp_path), ok=False)
    assert "does not remove a post from the pool" in as_of.stderr
    fake_clock.now = utc(2017, 4, 12, 13, 5)
    derby("disqualify", first.media_id, "--reason", "deleted", "--by", "Marie")
    late = derby("draw", "commit", "--beacon", BEACON, "--as-of", "2017-04-12T08:10", "--out", str(tmp_path), ok=False)
    assert "disqualified by Marie" in late.stderr and "the pool as of --as-of still holds it" in late.stderr
    derby("reinstate", first.media_id, "--reason", "a mistake", "--by", "Marie")
    fake_clock.now = utc(2017, 4, 12, 13, 10)
    _report_gone(derby.db, first.media_id, utc(2017, 4, 12, 13, 6))  # gone again, after the reinstatement
    # kept on purpose: the pool is the standings' (unchanged), the audit log names the post
    kept = derby("draw", "commit", "--beacon", BEACON, "--pool", "top:3", "--include-gone", "--out", str(tmp_path))
    pool = json.loads(next(tmp_path.glob("draw-pool-*.json")).read_bytes())
    assert first.media_id in [e["media_id"] for e in pool["entries"]] and "reported gone" in kept.stderr
    (done,) = _audit(derby.db, "draw_commit")
    assert "--include-gone" in done["summary"] and first.media_id in done["summary"]


def test_a_judges_decision_after_the_report_lets_the_commit_through(derby, tmp_path, fake_clock):
    from derby import leaderboard

    ranked = leaderboard.standings(store.open_db(derby.db), fake_clock.now).ranked
    _report_gone(derby.db, ranked[0].media_id, utc(2017, 4, 12, 12, 30))
    _report_gone(derby.db, ranked[1].media_id, utc(2017, 4, 12, 12, 30))
    assert derby("draw", "commit", "--beacon", BEACON, "--pool", "top:3", ok=False).stderr.count("reported gone by") == 2
    derby("reinstate", ranked[0].media_id, "--reason", "still online, checked by hand", "--by", "Marie")
    derby("disqualify", ranked[1].media_id, "--reason", "deleted", "--by", "Marie")
    _, pool = _top(derby, tmp_path)
    ids = [e["media_id"] for e in pool["entries"]]
    assert ranked[0].media_id in ids and ranked[1].media_id not in ids


def test_a_drawn_post_reported_gone_after_the_commit_is_warned_about(derby, tmp_path, fake_clock):
    _top(derby, tmp_path, 3)
    pool = json.loads(next(tmp_path.glob("draw-pool-*.json")).read_bytes())
    for entry in pool["entries"]:
        _report_gone(derby.db, entry["media_id"], utc(2017, 4, 12, 13, 30))
    fake_clock.now = utc(2017, 4, 12, 14)
    ran = derby("draw", "run", "--value", VALUE, "--out", str(tmp_path))
    assert ran.stderr.count("reported gone by mentioned_media") == 3 and "after the commit" in ran.stderr
    assert "reported gone" in _audit(derby.db, "draw_run")[0]["summary"]
