"""`derby status`: each exit code (0 healthy, 1 degraded, 2 a person must act), text
and JSON, through click's CliRunner."""

from __future__ import annotations

import json
import os
import socket
from datetime import timedelta

import pytest
from click.testing import CliRunner

from derby import clock, poller, store
from derby.cli import cli
from derby.config import FeedConfig
from helpers import contest as make_contest, media, page


USER_ID = "17841400000000000"


class OneMediaFeed:
    name = "graph"
    account = USER_ID

    def __init__(self):
        self.requests_made = 0
        self.notes = []

    def resolve_hashtag(self, name):
        self.requests_made += 1
        return {"socialderby": "1", "snq17": "2"}[name]

    def read(self, source, now):
        hashtag_id, edge = source.hashtag_id, source.edge
        self.requests_made += 1
        yield page(media(f"{hashtag_id}{edge[0]}", timestamp=now - timedelta(hours=1)))


@pytest.fixture
def live(tmp_path, monkeypatch):
    """A contest that started a day ago and ends tomorrow, polled just now, with this
    process holding the daemon lock: healthy."""
    monkeypatch.setenv("INSTAGRAM_USER_ID", USER_ID)  # whose hashtag budget and cool-downs count
    now = clock.utcnow()
    path = tmp_path / "d.db"
    contest = make_contest(start=now - timedelta(days=1), end=now + timedelta(days=1, minutes=1),
                           feed=FeedConfig(kind="graph"))
    db = store.open_db(path)
    store.save_contest(db, contest, now - timedelta(days=2))
    holder = poller.process_identity(now - timedelta(hours=2))
    store.acquire_lock(db, holder, lambda h: False)
    # The first poll came at the start; the second just now.
    poller.poll_once(db, contest, OneMediaFeed(), now - timedelta(days=1))
    poller.poll_once(db, contest, OneMediaFeed(), now)
    store.heartbeat(db, holder.instance, now, next_poll_at=now + timedelta(minutes=30), set_next=True)
    db.close()
    from derby.lock import FileLock

    held = FileLock(path)  # as derby run holds it
    assert held.acquire()
    yield path, contest, holder, now
    held.release()


def status(path, *args, lang: str | None = "en"):
    return CliRunner().invoke(cli, ["--db", str(path), "status", *(["--lang", lang] if lang else []), *args])


def test_healthy_is_exit_0(live):
    path, contest, holder, now = live
    result = status(path)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("contest: Test Derby: running, 1 d 0 h 0") and lines[0].endswith("left until the end")
    assert lines[1] == (f"daemon: running, pid {os.getpid()} on {socket.gethostname()} since "
                        f"{clock.format_local(holder.since, contest.tz, 'en')}; next poll "
                        f"{clock.format_local(now + timedelta(minutes=30), contest.tz, 'en')}")
    assert lines[2] == f"last poll: #2 ok at {clock.format_local(now, contest.tz, 'en')}, 0 new and 4 updated media"
    assert lines[4:8] == ["cool-down: none", "token: ok",
                          f"hashtag budget: 2 of 30 used in the last 7 days by account {USER_ID}, next slot frees "
                          f"{clock.format_local(now + timedelta(days=7), contest.tz, 'en')}",
                          f"coverage: #socialderby read {clock.format_local(now, contest.tz, 'en')}, "
                          f"#snq17 read {clock.format_local(now, contest.tz, 'en')}"]
    assert lines[8] == "coverage gaps: none"
    assert lines[-1] == "health: ok"


def test_json_shape(live):
    path, contest, holder, now = live
    result = status(path, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert sorted(data) == sorted(["action", "contest", "coverage", "coverage_gaps", "cooldown_until", "daemon",
                                   "database", "exit_code", "hashtag_budget", "health", "last_poll",
                                   "last_successful_poll", "now", "problems", "token"])
    assert (data["health"], data["exit_code"], data["problems"], data["token"]) == ("ok", 0, [], "ok")
    assert data["daemon"] == {"running": True, "pid": os.getpid(), "host": socket.gethostname(),
                              "since": clock.to_store(holder.since), "heartbeat_at": clock.to_store(now),
                              "next_poll_at": clock.to_store(now + timedelta(minutes=30))}
    assert data["last_poll"] == {"id": 2, "started_at": clock.to_store(now), "finished_at": clock.to_store(now),
                                 "status": "ok", "new_media": 0, "updated_media": 4, "error": None}
    assert data["contest"]["phase"] == "running"
    assert data["database"]["counts"] == {"media": 4, "snapshots": 4, "poll_runs": 2, "hashtags": 2}
    assert data["database"]["bytes"] > 0
    assert data["hashtag_budget"] == {"account": "17841400000000000", "used": 2, "limit": 30,
                                      "hashtags": ["snq17", "socialderby"],
                                      "next_free": clock.to_store(now + timedelta(days=7))}


def test_a_coverage_gap_is_degraded_exit_1(live):
    path, contest, holder, now = live
    db = store.open_db(path)
    run_id = store.start_poll_run(db, "graph", now)
    store.finish_poll_run(db, run_id, now, status="ok", requests=0)
    db.execute("DELETE FROM coverage")  # pretend the only earlier read was 30 h ago
    store.record_coverage(db, 1, "snq17", now - timedelta(hours=30))
    store.record_coverage(db, run_id, "snq17", now, (now - timedelta(days=3), contest.end))
    db.close()
    result = status(path, "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["health"] == "degraded"
    gap_from, gap_to = now - timedelta(hours=30), now - timedelta(hours=24)
    assert data["coverage_gaps"] == [{"hashtag": "snq17", "from": clock.to_store(gap_from), "to": clock.to_store(gap_to),
                                      "hours": 6.0, "acknowledged": False}]
    local = lambda t: clock.format_local(t, contest.tz, "en")  # noqa: E731 - the problems' text: contest zone
    assert {"level": "degraded", "message": f"coverage gap on #snq17: posts from {local(gap_from)} to "
                                            f"{local(gap_to)} (6.0 h) may be lost"} in data["problems"]


def test_acknowledged_gaps_no_longer_alert_and_new_ones_do(live):
    path, contest, holder, now = live
    db = store.open_db(path)
    run_id = store.start_poll_run(db, "graph", now)
    store.finish_poll_run(db, run_id, now, status="ok", requests=0)
    db.execute("DELETE FROM coverage WHERE hashtag = 'snq17'")
    store.record_coverage(db, 1, "snq17", now - timedelta(hours=30))
    store.record_coverage(db, run_id, "snq17", now, (now - timedelta(days=3), contest.end))
    db.close()
    assert status(path).exit_code == 1
    refused = status(path, "--ack-gaps")
    assert refused.exit_code == 2 and "--reason is required" in refused.output
    acked = status(path, "--ack-gaps", "--reason", "panne Meta du 2 avril, connue", "--by", "Marie")
    assert acked.exit_code == 0, acked.output
    assert "acknowledged 1 coverage gap (recorded in the audit log); gaps found later alert again" in acked.output
    assert "(6.0 h, acknowledged)" in acked.output and "health: ok" in acked.output
    assert status(path).exit_code == 0
    audit = CliRunner().invoke(cli, ["--db", str(path), "audit", "--action", "ack_gaps", "--lang", "en"])
    assert "Marie  ack_gaps  acknowledged 1 coverage gap (6.0 h): panne Meta du 2 avril, connue" in audit.output
    db = store.open_db(path)  # a new gap, found later, alerts again
    later = store.start_poll_run(db, "graph", now)
    store.finish_poll_run(db, later, now, status="ok", requests=0)
    db.execute("DELETE FROM coverage WHERE hashtag = 'socialderby'")
    store.record_coverage(db, 1, "socialderby", now - timedelta(hours=28))
    store.record_coverage(db, later, "socialderby", now, (now - timedelta(days=3), contest.end))
    db.close()
    data = json.loads(status(path, "--format", "json").output)
    assert [g["acknowledged"] for g in data["coverage_gaps"]][-1] is False
    assert data["exit_code"] == 1 and data["health"] == "degraded"


def test_a_stale_poll_and_a_stopped_daemon_are_degraded_exit_1(live):
    path, contest, holder, now = live
    db = store.open_db(path)
    store.release_lock(db, holder.instance)
    db.execute("UPDATE coverage SET covered_to = ? WHERE covered_to = ?",
               [clock.to_store(now - timedelta(hours=13)), clock.to_store(now)])
    db.conn.commit()
    db.close()
    result = status(path)
    assert result.exit_code == 1
    assert "daemon: not running" in result.output
    assert ("warning: no derby run is polling this database during the contest: start it (systemctl start derby)"
            in result.output)
    assert (f"warning: no successful poll of #socialderby since {clock.format_local(now - timedelta(hours=13), contest.tz, 'en')}: "
            f"posts are lost for good unless a poll succeeds before "
            f"{clock.format_local(now + timedelta(hours=11), contest.tz, 'en')}") in result.output
    problems = json.loads(status(path, "--format", "json").output)["problems"]
    stale = next(p["message"] for p in problems if "no successful poll" in p["message"])
    assert f"since {clock.format_local(now - timedelta(hours=13), contest.tz, 'en')}:" in stale
    assert result.output.splitlines()[-1] == "health: degraded"


def test_a_cool_down_is_degraded_exit_1(live):
    path, contest, holder, now = live
    db = store.open_db(path)
    store.heartbeat(db, holder.instance, now, next_poll_at=now + timedelta(minutes=40),
                    resume_at=now + timedelta(minutes=40), set_next=True)
    db.close()
    result = status(path, "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["cooldown_until"] == clock.to_store(now + timedelta(minutes=40))
    assert data["problems"] == [{"level": "degraded", "message": "the feed asked to cool down: no poll before "
                                 f"{clock.format_local(now + timedelta(minutes=40), contest.tz, 'en')}"}]


def test_a_token_problem_needs_a_person_exit_2(live):
    path, contest, holder, now = live
    db = store.open_db(path)
    run_id = store.start_poll_run(db, "graph", now)
    store.finish_poll_run(db, run_id, now, status="failed", requests=1, error="Graph API error 190: token expired")
    store.record_poll_outcome(db, run_id, error_kind="auth", error_code=190)
    db.close()
    result = status(path)
    assert result.exit_code == 2
    assert "token: action_needed (Graph API error 190: token expired)" in result.output
    assert "ACTION: Graph API error 190: token expired" in result.output
    assert result.output.splitlines()[-1] == "health: action_needed"


def test_status_without_a_database_needs_a_person(tmp_path):
    result = status(tmp_path / "missing.db")
    assert result.exit_code == 2
    assert result.output == f"derby: database {tmp_path / 'missing.db'} not found; pass --db or set DERBY_DB\n"
    assert not (tmp_path / "missing.db").exists()


def test_status_follows_the_contests_language_and_lang(live):
    path, contest, holder, now = live
    assert contest.language == "fr"
    db = store.open_db(path)
    store.release_lock(db, holder.instance)
    db.close()
    result = status(path, lang=None)  # the contest's language, as the board and explain
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("concours : Test Derby : en cours, 1 j 0 h 0") and lines[0].endswith("restants avant la fin")
    assert "derby run : arrêté" in lines
    assert f"dernière relève : n° 2 réussie le {clock.format_local(now, contest.tz, 'fr')} : 0 nouveau média, " \
           "4 mis à jour" in lines
    assert "pause imposée : aucune" in lines and "jeton : ok" in lines and "trous de couverture : aucun" in lines
    assert ("avertissement : aucun derby run ne relève cette base pendant le concours : démarrez-le "
            "(systemctl start derby)") in lines
    assert lines[-1] == "état : dégradé"
    data = json.loads(status(path, "--format", "json", lang="fr").output)
    assert data["health"] == "degraded" and data["problems"][0]["message"].startswith("aucun derby run ne relève")
    english = status(path, lang="en").output.splitlines()
    assert "daemon: not running" in english and english[-1] == "health: degraded"


def test_while_the_first_poll_runs_the_next_poll_is_not_never(live):
    path, contest, holder, now = live
    db = store.open_db(path)
    store.heartbeat(db, holder.instance, now, next_poll_at=None, set_next=True)
    store.start_poll_run(db, "graph", now)
    db.close()
    english = status(path).output
    assert "next poll once the poll running now ends" in english and "next poll never" not in english
    assert "prochaine relève à la fin de la relève en cours" in status(path, lang="fr").output
