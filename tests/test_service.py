"""`derby run` as a real process: SIGTERM ends it within 10 seconds with a consistent
database, and `kill -9` in the middle of a slow poll against a loopback Graph API
loses nothing committed; the next start takes the dead process's lock over.

These are the only subprocess tests; each is bounded by explicit timeouts.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from werkzeug import Response

from conftest import DEMO_REPLAY, FAKE_TOKEN
from derby import clock, poller, store
from derby.feeds.factory import make_feed

HASHTAG_ID = "17841562426109234"
USER_ID = "17841400000000000"


def contest_file(tmp_path: Path, feed: str, schedule: str, hashtags: str = '["socialderby", "snq17"]') -> Path:
    now = clock.utcnow()
    path = tmp_path / "contest.toml"
    path.write_text(
        f'[contest]\ntitle = "Live"\nhashtags = {hashtags}\ntimezone = "America/Toronto"\n'
        f'start = "{clock.iso_local(now - timedelta(days=1), clock.zone("UTC"))}"\n'
        f'end = "{clock.iso_local(now + timedelta(days=1), clock.zone("UTC"))}"\n'
        f"[feed]\n{feed}\n[schedule]\n{schedule}\n", encoding="utf-8")
    return path


def derby(tmp_path: Path, *args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "derby", *args], cwd=tmp_path, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def query(db_path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db_path, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except sqlite3.OperationalError:  # tables not created yet
            pass
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the daemon")


def test_sigterm_stops_within_10_seconds_with_a_consistent_database(tmp_path):
    db = tmp_path / "d.db"
    toml = contest_file(tmp_path, f'kind = "fixture"\npath = "{DEMO_REPLAY}"', 'every = "1s"')
    subprocess.run([sys.executable, "-m", "derby", "--db", str(db), "init", str(toml)], cwd=tmp_path, check=True,
                   capture_output=True, timeout=30)
    log = tmp_path / "logs" / "derby.log"
    proc = derby(tmp_path, "--db", str(db), "run", "--log-file", str(log))
    try:
        wait_for(lambda: query(db, "SELECT count(*) FROM poll_runs WHERE status = 'ok'")[0][0] >= 2)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert time.monotonic() - sent < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == "derby run: stopped\n"
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "SELECT count(*) FROM poll_runs WHERE status NOT IN ('ok', 'partial')") == [(0,)]
    assert query(db, "SELECT count(*) FROM daemon_lock") == [(0,)]
    lines = log.read_text(encoding="utf-8").splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO derby\.poller: poll #1 ok: 4 pages, 6 requests, "
                        r"22 new and 0 updated media, 22 snapshots; hashtags 2/30 this week, next slot frees "
                        r"\d{4}-\d\d-\d\d \d\d:\d\d \(UTC[−+]\d+\)", lines[1])
    # A poll under way when the signal lands still logs its end after this line.
    assert any(line.endswith("INFO derby.poller: signal SIGTERM received: stopping after the current page")
               for line in lines[-3:])
    assert err.splitlines() == lines  # the same lines on stderr, for journald


def graph_server(httpserver, release: threading.Event, slow_requested: threading.Event):
    def item(n: int) -> dict:
        return {"id": f"1790000000000000{n}", "caption": f"Photo {n} #socialderby", "media_type": "IMAGE",
                "permalink": f"https://www.instagram.com/p/C{n}/", "timestamp": "2017-04-03T14:05:09+0000",
                "like_count": 10 + n, "comments_count": n}

    def recent(request):
        if request.args.get("after") is None:
            base = httpserver.url_for(f"/v24.0/{HASHTAG_ID}/recent_media")
            body = {"data": [item(1), item(2)],
                    "paging": {"cursors": {"after": "P2"}, "next": f"{base}?access_token={FAKE_TOKEN}&after=P2"}}
        else:
            slow_requested.set()
            release.wait(15)  # a slow page: the daemon is killed while waiting for it
            body = {"data": [item(3)]}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json({"data": [{"id": HASHTAG_ID}]})
    httpserver.expect_request(f"/v24.0/{HASHTAG_ID}/recent_media").respond_with_handler(recent)
    httpserver.expect_request(f"/v24.0/{HASHTAG_ID}/top_media").respond_with_json({"data": []})


def test_kill_9_during_a_slow_poll_loses_nothing_and_the_next_start_continues(tmp_path, httpserver):
    release, slow_requested = threading.Event(), threading.Event()
    graph_server(httpserver, release, slow_requested)
    env = {"INSTAGRAM_ACCESS_TOKEN": FAKE_TOKEN, "INSTAGRAM_USER_ID": USER_ID,
           "DERBY_GRAPH_URL": httpserver.url_for("/v24.0")}
    db = tmp_path / "d.db"
    toml = contest_file(tmp_path, 'kind = "graph"\npage_cap = 2\ntimeout = 20', 'every = "2m"', '["socialderby"]')
    subprocess.run([sys.executable, "-m", "derby", "--db", str(db), "init", str(toml)], cwd=tmp_path, check=True,
                   capture_output=True, timeout=30)
    proc = derby(tmp_path, "--db", str(db), "run", env=env)
    try:
        assert slow_requested.wait(20), "the daemon never asked for the slow page"
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=10)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert FAKE_TOKEN not in err
    # What was committed before the kill is there, and the file is sound.
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "SELECT id, status, pages FROM poll_runs") == [(1, "running", 1)]
    assert query(db, "SELECT media_id FROM media ORDER BY media_id") == [("17900000000000001",), ("17900000000000002",)]
    assert query(db, "SELECT pid FROM daemon_lock") == [(proc.pid,)]

    # A clean restart takes the dead process's lock over and carries on.
    handle = store.open_db(db)
    contest = store.load_contest(handle)
    handle.close()
    stop = threading.Event()
    polls = []

    def on_poll(summary):
        polls.append(summary)
        stop.set()

    outcome = poller.run(db, lambda: make_feed(contest.feed, env), clock.utcnow, on_poll=on_poll, stop=stop)
    assert outcome == "stopped"
    assert polls[0].status == "ok" and polls[0].new_media == 1
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "SELECT id, status, pages FROM poll_runs") == [(1, "interrupted", 1), (2, "ok", 3)]
    assert query(db, "SELECT count(*) FROM media") == [(3,)]
    assert query(db, "SELECT count(*) FROM daemon_lock") == [(0,)]
    for name in ("d.db", "d.db-wal"):
        if (tmp_path / name).exists():
            assert FAKE_TOKEN.encode() not in (tmp_path / name).read_bytes()
