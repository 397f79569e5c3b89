#!/usr/bin/env python3
"""Benchmark derby at up to a hundred times the Social Derby.

Generates synthetic contests (10 thousand, 100 thousand and 1 million media, about ten
engagement snapshots each) and measures, in this one process (the writer of the live
refresh and the startup commands are child processes):

- ingest: media + snapshots stored per second through derby's own path
  (``poller.poll_once`` -> ``store.save_page``, one transaction per page of 50), against
  plain ``sqlite3`` ``executemany`` of the same media, snapshot and sighting rows in one
  transaction into the original tables (no upsert, no reads, no trigger, so neither
  ``latest_snapshots``, ``latest_readings`` nor the kept standings ``entry_scores``,
  which derby's ingest maintains, nor the ranks each successful poll keeps for the
  board's movement), and a second baseline that keeps the trigger-maintained tables and
  the kept standings (the same rows with executemany in one transaction into derby's
  own schema, its triggers on, and ``entry_scores`` filled once at the end), the three
  alternated run by run;
- leaderboard: ``leaderboard.standings`` (the full ranking, and the top 20 as
  ``derby leaderboard --top 20`` makes it: derby ranks every entry, because entrant
  caps and the hidden-likes rules depend on all of them), against one hand-written SQL
  query over the tables derby reads (the base formula, likes and comments only, with
  ``LIMIT 20`` for the top); and the full ranking ``--as-of`` the contest's midpoint
  against its hand-written query over ``snapshots``;
- live refresh: one refresh of the live board (``leaderboard.board_view``: the top rows
  and counts of the kept standings, movement since the previous poll read from that
  poll's kept ranks, trends, health; drawn by ``derby.board`` into a buffer) while
  another process stores a page of 50 media every 50 ms in a new poll run
  (re-reading the contest's media with grown engagement);
- startup: ``derby --help`` and ``derby leaderboard --top 20`` as whole processes,
  against ``python -c pass``;
- memory: peak RSS of this process while ingesting the largest contest (pages are
  generated and stored one at a time, never held whole).

Every figure is the median of several runs. Results: a table on stdout and JSON
(``--json``, default ``bench-results.json``). ``--quick`` runs the 10 thousand case only
(under a minute). Standard library plus derby's own dependencies.

Usage: python scripts/bench.py [--quick] [--sizes 10000,100000] [--json out.json] [--workdir DIR]
       python scripts/bench.py --memory-only 1000000 --json mem.json   (peak RSS in a fresh process)
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from derby import clock, leaderboard, poller, store
from derby.config import Contest, FeedConfig
from derby.feeds.parse import Media, MediaPage

UTC = timezone.utc
START = datetime(2017, 4, 1, 4, tzinfo=UTC)
END = datetime(2017, 4, 10, 3, 59, 59, tzinfo=UTC)
POLLS = 14                  # one every 12 hours from the start
POLL_EVERY = timedelta(hours=12)
PAGE_SIZE = 50              # the Graph API's hashtag edges give at most 50 media a page
FIRST_POLLS = 5             # media i first shows up at poll i % 5, so it is seen 10..14 times
HASHTAGS = ("socialderby", "snq17")
NOW = START + POLLS * POLL_EVERY

# ---------------------------------------------------------------------------------------
# The synthetic contest: every value is a function of (media index, poll), so pages can be
# generated one at a time and the baseline gets exactly the rows derby stores.
# ---------------------------------------------------------------------------------------

# _MOVES[r][p]: polls q in 1..p at which a media with i % 5 == r gains engagement
# (one poll in five it does not move, so no snapshot is written then).
_MOVES = [[sum(1 for q in range(1, p + 1) if (r + q) % 5 != 0) for p in range(POLLS)] for r in range(FIRST_POLLS)]
_CAPTIONS = (
    "Ma photo pour le #SocialDerby 🎉 #SNQ17 à Québec",
    "Concours #socialderby\nmerci @snq!",
    "Sans mot-clic du concours, #quebec seulement",
    "=HYPERLINK(\"http://x\") #socialderby \u202eevil",
    "Vidéo de la soirée #snq17 #montcalm",
    "#SocialDerby#snq17 collés",
    "Un café au Vieux-Port, #socialderby2017",
)


def media_id(i: int) -> str:
    return str(17841400000000000 + i)


def media_at(i: int, poll: int) -> Media:
    """Media ``i`` as poll ``poll`` sees it (only called when i % 5 <= poll)."""
    r = i % FIRST_POLLS
    moved = _MOVES[r][poll] - _MOVES[r][r]
    hidden = i % 20 == 7
    seconds = (i * 7919) % int((END - START).total_seconds())
    if i % 50 == 1:
        posted = START - timedelta(seconds=seconds % 86400 + 1)      # before the start
    elif i % 97 == 3:
        posted = END + timedelta(seconds=seconds % 86400 + 1)        # after the end
    else:
        posted = START + timedelta(seconds=seconds)
    return Media(
        media_id=media_id(i), caption=_CAPTIONS[i % len(_CAPTIONS)] + f" n°{i}",
        media_type=("IMAGE", "VIDEO", "CAROUSEL_ALBUM")[i % 3],
        permalink=f"https://www.instagram.com/p/B{i:09d}x/", timestamp=posted,
        like_count=None if hidden else (i * 2654435761) % 1000 + moved * (i % 7 + 1),
        comments_count=(i * 40503) % 40 + moved * (i % 3 if not hidden else 1),
    )


def poll_media(n: int, poll: int):
    """Indexes of the media a poll sees, newest first like ``recent_media``."""
    return (i for i in range(n - 1, -1, -1) if i % FIRST_POLLS <= poll)


def poll_time(poll: int) -> datetime:
    return START + poll * POLL_EVERY


class SyntheticFeed:
    """A derby Feed (see ``derby.feeds.Feed``) that makes pages on the fly."""

    name = "synthetic"

    def __init__(self, n: int, poll: int) -> None:
        self.n, self.poll, self.requests_made, self.notes = n, poll, 0, []

    def resolve_hashtag(self, name: str) -> str:
        self.requests_made += 1
        return {"socialderby": "17841563201587473", "snq17": "17843815927740216"}[name]

    def read(self, source, now: datetime):
        """Pages of ``source`` (a ``derby.feeds.HashtagEdge``): only #socialderby's
        recent_media has media."""
        if getattr(source, "hashtag_id", None) != "17841563201587473" or getattr(source, "edge", None) != "recent_media":
            return
        batch = []
        for i in poll_media(self.n, self.poll):
            batch.append(media_at(i, self.poll))
            if len(batch) == PAGE_SIZE:
                self.requests_made += 1
                yield MediaPage(media=batch, after=f"c{i}", has_next=True)
                batch = []
        self.requests_made += 1
        yield MediaPage(media=batch)


def bench_contest() -> Contest:
    return Contest(title="Bench Derby", hashtags=HASHTAGS, timezone="America/Toronto", start=START, end=END,
                   feed=FeedConfig(kind="fixture"), language="fr", rules={})


def derby_ingest(path: Path, n: int) -> None:
    """Store the whole contest through derby's own path: one poll_once per poll."""
    db = store.open_db(path)
    contest = bench_contest()
    store.save_contest(db, contest, START - timedelta(days=1))
    for poll in range(POLLS):
        summary = poller.poll_once(db, contest, SyntheticFeed(n, poll), poll_time(poll))
        if summary.status != "ok":
            raise SystemExit(f"bench: poll {poll} failed: {summary.error}")
    db.close()


def baseline_rows(n: int):
    """The rows derby stores, computed directly: (media, snapshots, sightings) per poll."""
    for poll in range(POLLS):
        when = clock.to_store(poll_time(poll))
        media, snaps, sights = [], [], []
        for i in poll_media(n, poll):
            m = media_at(i, poll)
            if i % FIRST_POLLS == poll:
                media.append((m.media_id, m.caption, m.media_type, m.permalink, clock.to_store(m.timestamp),
                               None, None, when, poll + 1))
            if i % FIRST_POLLS == poll or (i % FIRST_POLLS + poll) % 5 != 0:
                snaps.append((m.media_id, poll + 1, when, m.like_count, m.comments_count))
            sights.append((poll + 1, m.media_id, "socialderby", "recent_media"))
        yield poll, when, media, snaps, sights


def baseline_ingest(path: Path, n: int) -> None:
    """Plain sqlite3: the same rows, executemany, one transaction, the original tables."""
    import sqlite_utils

    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    store.m001_contest_polls_media(sqlite_utils.Database(conn))
    conn.execute("BEGIN")
    for poll, when, media, snaps, sights in baseline_rows(n):
        conn.execute("INSERT INTO poll_runs (id, started_at, feed, status) VALUES (?, ?, 'baseline', 'ok')", (poll + 1, when))
        conn.executemany("INSERT INTO media VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", media)
        conn.executemany("INSERT INTO snapshots (media_id, poll_run_id, observed_at, like_count, comments_count)"
                         " VALUES (?, ?, ?, ?, ?)", snaps)
        conn.executemany("INSERT INTO sightings VALUES (?, ?, ?, ?)", sights)
    conn.execute("COMMIT")
    conn.close()


def kept_baseline_ingest(path: Path, n: int) -> None:
    """Plain sqlite3 into derby's own schema: the same rows (with each caption's
    hashtags and mentions, which derby stores), executemany, one transaction; its
    triggers keep ``latest_snapshots`` and ``latest_readings``, and the kept standings
    ``entry_scores`` are filled once at the end by derby's own statement."""
    from derby.text import caption_words

    db = store.open_db(path)
    store.save_contest(db, bench_contest(), START - timedelta(days=1))
    conn = db.conn
    conn.execute("BEGIN")
    for poll, when, media, snaps, sights in baseline_rows(n):
        conn.execute("INSERT INTO poll_runs (id, started_at, finished_at, feed, status) VALUES (?, ?, ?, 'baseline', 'ok')",
                     (poll + 1, when, when))
        conn.executemany("INSERT INTO media (media_id, caption, media_type, permalink, timestamp, media_url, children, "
                         "first_seen_at, first_poll_run_id, caption_hashtags, caption_mentions) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [(*m, *caption_words(m[1])) for m in media])
        conn.executemany("INSERT INTO snapshots (media_id, poll_run_id, observed_at, like_count, comments_count, source)"
                         " VALUES (?, ?, ?, ?, ?, 'recent_media')", snaps)
        conn.executemany("INSERT INTO sightings (poll_run_id, media_id, hashtag, edge) VALUES (?, ?, ?, ?)", sights)
    store.rebuild_entry_scores(db)
    conn.execute("COMMIT")
    db.close()


# ---------------------------------------------------------------------------------------
# Hand-written SQL baselines: the whole ranking in one query.
# ---------------------------------------------------------------------------------------

_ELIGIBLE_SQL = """
    m.timestamp BETWEEN :start AND :end
    AND (lower(m.caption) LIKE '%#socialderby%' OR lower(m.caption) LIKE '%#snq17%')"""
_SCORE_SQL = ":ppl * coalesce(s.like_count, 0) + :ppc * coalesce(s.comments_count, 0)"


def baseline_query(live: bool, limit: int | None) -> str:
    if live:
        source = "JOIN latest_snapshots s ON s.media_id = m.media_id"
    else:
        source = """JOIN snapshots s ON s.id = (SELECT id FROM snapshots WHERE media_id = m.media_id
                    AND observed_at <= :cutoff ORDER BY observed_at DESC, id DESC LIMIT 1)"""
    return f"""
        SELECT m.media_id, m.permalink, m.caption, m.timestamp, s.like_count, s.comments_count,
               {_SCORE_SQL} AS score
        FROM media m {source}
        WHERE m.first_seen_at <= :cutoff AND {_ELIGIBLE_SQL}
        ORDER BY score DESC, m.timestamp, m.media_id {f'LIMIT {limit}' if limit else ''}"""


def has_latest_table(path: Path) -> bool:
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'latest_snapshots'").fetchone() is not None
    finally:
        conn.close()


def run_baseline_query(path: Path, live: bool, limit: int | None, cutoff: str) -> int:
    conn = sqlite3.connect(str(path))
    try:
        params = {"start": clock.to_store(START), "end": clock.to_store(END), "ppl": 1.0, "ppc": 3.0, "cutoff": cutoff}
        return len(conn.execute(baseline_query(live, limit), params).fetchall())
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------
# Measurement helpers
# ---------------------------------------------------------------------------------------

def interleaved(first, second, runs: int) -> tuple[float, float]:
    """Median seconds of ``first`` and ``second`` run alternately (A B A B ...)."""
    a, b = [], []
    for _ in range(runs):
        for func, times in ((first, a), (second, b)):
            t0 = time.perf_counter()
            func()
            times.append(time.perf_counter() - t0)
    return statistics.median(a), statistics.median(b)


def timed(func, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


WRITER_PAGE_EVERY = 0.05  # s: 20 pages (1000 media) a second, faster than the Graph API answers


def _writer(path: str, n: int, stop, ready, pages) -> None:
    """Child process: a poll run that re-reads the contest's media, one page of 50 every
    50 ms with grown engagement (a snapshot each), until told to stop."""
    parent = os.getppid()
    db = store.open_db(path)
    now = NOW + timedelta(hours=1)
    run_id = store.start_poll_run(db, "bench-writer", now)
    ready.set()
    start = 0
    while not stop.is_set() and os.getppid() == parent:  # never outlive an interrupted benchmark
        batch = []
        for i in range(start, start + PAGE_SIZE):
            m = media_at(i % n, POLLS - 1)
            batch.append(Media(media_id=m.media_id, caption=m.caption, media_type=m.media_type, permalink=m.permalink,
                               timestamp=m.timestamp, like_count=(m.like_count or 0) + 1 + i // n,
                               comments_count=m.comments_count))
        store.save_page(db, run_id, "socialderby", "recent_media", MediaPage(media=batch), now)
        pages.value += 1
        start += PAGE_SIZE
        stop.wait(WRITER_PAGE_EVERY)
    db.close()


def live_refresh(path: Path, top: int) -> str:
    """One refresh of ``derby leaderboard --live --top N``: the board view (standings,
    movement since the previous poll, trends, health) drawn by derby.board."""
    from rich.console import Console

    from derby import board

    db = store.open_reader(path)  # as the live board opens it for each refresh (the writer stands for the poller)
    try:
        view = leaderboard.board_view(db, NOW, top=top, limit=top)
        out = io.StringIO()
        console = Console(file=out, width=120, height=40)
        console.print(board.render(view, "fr", console, width=120, height=40))
        return out.getvalue()
    finally:
        db.close()


def leaderboard_run(path: Path, as_of: datetime | None = None, top: int | None = None) -> int:
    """The ranked entries as derby hands them over (``ScoredEntry`` objects, streamed):
    all of them, or the first ``top`` and the counts the board shows with them."""
    db = store.open_db(path)
    try:
        board = leaderboard.standings(db, NOW, as_of)
        if top:
            board.counts()
        return sum(1 for _ in board.rows(top))
    finally:
        db.close()


def ranking_sql_only(path: Path) -> int:
    """Only the live ranking query derby runs, every row fetched as tuples: the SQL
    part of ``leaderboard full``."""
    from derby import scoring

    db = store.open_db(path)
    try:
        contest = store.load_contest(db)
        rules = store.rules_in_force(db)
        if not store.entry_scores_current(db, rules, leaderboard.contest_terms(contest)):
            raise SystemExit("bench: the kept standings are not current")
        query = scoring.live_ranking_query(rules, count_likes=store.live_likes_counted(db, rules))
        return len(db.conn.execute(query.sql, query.params).fetchall())
    finally:
        db.close()


def child_peak(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd`` (output thrown away); return (seconds, its peak RSS in MB).

    The peak is the child's own ``VmHWM`` (its memory after ``exec``), read from
    ``/proc`` every 5 ms while it runs: ``ru_maxrss`` would report this benchmark
    process's size, which a forked child inherits."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status, peak = Path(f"/proc/{proc.pid}/status"), 0.0
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.005)
    if proc.returncode:
        raise SystemExit(f"bench: {' '.join(cmd)} failed ({proc.returncode})")
    return time.perf_counter() - t0, peak


def whole_commands(path: Path, n: int, work: Path, runs: int, log) -> dict:
    """``derby leaderboard --top 20``, ``--all --format json`` and ``export --all`` on
    the database at ``path`` as whole processes: median seconds and peak RSS."""
    derby_exe = shutil.which("derby", path=str(Path(sys.executable).parent)) or "derby"
    commands = {"leaderboard_top20": [derby_exe, "--db", str(path), "leaderboard", "--top", "20"],
                "leaderboard_json": [derby_exe, "--db", str(path), "leaderboard", "--all", "--format", "json"],
                "export_all": [derby_exe, "--db", str(path), "export", "--all", str(work / f"all-{n}.csv")]}
    procs: dict = {}
    for label, cmd in commands.items():
        big = n >= 1_000_000  # one whole-contest export takes minutes there
        if not big or label == "leaderboard_top20":
            child_peak(cmd)  # warm the page cache
        times = max(runs, 5) if label == "leaderboard_top20" else (1 if big else 3)
        measured = [child_peak(cmd) for _ in range(times)]
        procs[label] = {"s": round(statistics.median(m[0] for m in measured), 3),
                        "peak_rss_mb": round(max(m[1] for m in measured), 1), "runs": times}
        log(f"  {label}: {procs[label]['s']:.3f} s, peak RSS {procs[label]['peak_rss_mb']} MB")
    return procs


def startup(cmd: list[str], runs: int) -> float:
    def go():
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    go()  # warm the page cache
    return timed(go, runs)[0]


# ---------------------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------------------

def bench_size(n: int, work: Path, runs: int, ingest_runs: int, log) -> dict:
    result: dict = {"media": n}
    log(f"[{n:,} media] ingest: derby, then the executemany baseline, alternately ({ingest_runs} run(s) each) …")
    derby_times, base_times, kept_times, peak = [], [], [], None
    path = work / f"derby-{n}.db"
    bpath = work / f"baseline-{n}.db"
    kpath = work / f"kept-baseline-{n}.db"
    for run in range(ingest_runs):
        for p in [*work.glob(f"derby-{n}.db*"), *work.glob(f"baseline-{n}.db*"), *work.glob(f"kept-baseline-{n}.db*")]:
            p.unlink()
        can_reset = reset_peak_rss()
        t0 = time.perf_counter()
        derby_ingest(path, n)
        derby_times.append(time.perf_counter() - t0)
        if run == 0:
            peak = {"peak_rss_mb": round(peak_rss_mb(), 1),
                    "method": "VmHWM reset before ingest" if can_reset else "ru_maxrss of the whole process"}
        t0 = time.perf_counter()
        baseline_ingest(bpath, n)
        base_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        kept_baseline_ingest(kpath, n)
        kept_times.append(time.perf_counter() - t0)
        log(f"  run {run + 1}: derby {derby_times[-1]:.2f} s, baseline {base_times[-1]:.2f} s, "
            f"baseline keeping derby's tables {kept_times[-1]:.2f} s")
    for p in [*work.glob(f"baseline-{n}.db*"), *work.glob(f"kept-baseline-{n}.db*")]:
        p.unlink()
    conn = sqlite3.connect(str(path))
    media_rows = conn.execute("SELECT count(*) FROM media").fetchone()[0]
    snapshot_rows = conn.execute("SELECT count(*) FROM snapshots").fetchone()[0]
    conn.close()
    rows = media_rows + snapshot_rows
    d, b, k = statistics.median(derby_times), statistics.median(base_times), statistics.median(kept_times)
    result["ingest"] = {
        "media_rows": media_rows, "snapshot_rows": snapshot_rows, "snapshots_per_media": round(snapshot_rows / n, 2),
        "derby_s": round(d, 3), "baseline_s": round(b, 3), "kept_baseline_s": round(k, 3),
        "kept_ratio": round(k / d, 3), "load": os.getloadavg(),
        "derby_rows_per_s": round(rows / d), "baseline_rows_per_s": round(rows / b),
        "ratio": round(b / d, 3), "target": ">= 0.5", "runs": ingest_runs, **(peak or {}),
    }

    log(f"[{n:,} media] leaderboard …")
    live = has_latest_table(path)
    mid = START + (END - START) / 2
    board = {}
    for label, as_of, top in (("full", None, None), ("top20", None, 20), ("as_of_mid", mid, None)):
        cutoff = clock.to_store(as_of) if as_of else "9999"
        derby_s, base_s = interleaved(lambda: leaderboard_run(path, as_of, top),
                                      lambda: run_baseline_query(path, live and as_of is None, top, cutoff), runs)
        board[label] = {"derby_s": round(derby_s, 4), "baseline_sql_s": round(base_s, 4),
                        "ratio": round(derby_s / base_s, 2),
                        "target": "<= 1.3x, < 0.4 s at 100k, < 5 s at 1M" if label == "full" else ""}
        log(f"  {label}: derby {derby_s * 1000:.1f} ms, SQL {base_s * 1000:.1f} ms")
    sql_s, _ = timed(lambda: ranking_sql_only(path), runs)
    board["full"]["derby_sql_only_s"] = round(sql_s, 4)
    board["full"]["sql_only_ratio"] = round(sql_s / board["full"]["baseline_sql_s"], 2)
    log(f"  full, derby's ranking query alone: {sql_s * 1000:.1f} ms")
    result["leaderboard"] = board

    log(f"[{n:,} media] whole commands …")
    procs = whole_commands(path, n, work, runs, log)
    result["commands"] = procs

    log(f"[{n:,} media] live refresh while a writer inserts …")
    result["live_refresh"] = live_refresh_case(path, n, max(runs, 5), log)
    return result


def live_refresh_case(path: Path, n: int, runs: int, log) -> dict:
    """Median seconds of one live board refresh while a child process stores a page
    every 50 ms (its poll run is left running in the database)."""
    ctx = multiprocessing.get_context("fork")
    stop, ready, pages = ctx.Event(), ctx.Event(), ctx.Value("i", 0)
    writer = ctx.Process(target=_writer, args=(str(path), n, stop, ready, pages), daemon=True)
    writer.start()
    ready.wait(30)
    try:
        live_refresh(path, 20)
        before = pages.value
        refresh_s, times = timed(lambda: live_refresh(path, 20), runs)
        written = pages.value - before
    finally:
        stop.set()
        writer.join(30)
        if writer.is_alive():
            writer.terminate()
    log(f"  refresh: {refresh_s * 1000:.1f} ms (the writer stored {written} pages meanwhile)")
    return {"derby_s": round(refresh_s, 4), "target": "< 0.1 s at 100k", "runs": runs,
            "min_s": round(min(times), 4), "max_s": round(max(times), 4), "writer_pages_meanwhile": written}


def machine() -> dict:
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "memory": mem, "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "platform": platform.platform()}


def table(results: dict) -> str:
    lines = [f"machine: {results['machine']}",
             f"load average before / after: {results.get('load_before')} / {results.get('load_after')}", ""]
    head = f"{'media':>9} | {'measure':<28} | {'derby':>11} | {'baseline':>11} | {'ratio':>7} | target"
    lines += [head, "-" * len(head)]
    for case in results["cases"]:
        n, ing = f"{case['media']:,}", case["ingest"]
        lines.append(f"{n:>9} | {'ingest rows/s':<28} | {ing['derby_rows_per_s']:>11,} | {ing['baseline_rows_per_s']:>11,} | "
                     f"{ing['ratio']:>7.2f} | {ing['target']}")
        lines.append(f"{n:>9} | {'  baseline keeping tables':<28} | {ing['derby_rows_per_s']:>11,} | "
                     f"{round((ing['media_rows'] + ing['snapshot_rows']) / ing['kept_baseline_s']):>11,} | "
                     f"{ing['kept_ratio']:>7.2f} |")
        lines.append(f"{n:>9} | {'ingest peak RSS (MB)':<28} | {ing['peak_rss_mb']:>11} | {'':>11} | {'':>7} | < 300 at 1M")
        for label, row in case["leaderboard"].items():
            lines.append(f"{n:>9} | {'leaderboard ' + label + ' (ms)':<28} | {row['derby_s'] * 1000:>11.1f} | "
                         f"{row['baseline_sql_s'] * 1000:>11.1f} | {row['ratio']:>6.2f}x | {row['target']}")
        full = case["leaderboard"]["full"]
        lines.append(f"{n:>9} | {'  its ranking query alone':<28} | {full['derby_sql_only_s'] * 1000:>11.1f} | "
                     f"{full['baseline_sql_s'] * 1000:>11.1f} | {full['sql_only_ratio']:>6.2f}x |")
        lines.append(f"{n:>9} | {'live refresh (ms)':<28} | {case['live_refresh']['derby_s'] * 1000:>11.1f} | {'':>11} | "
                     f"{'':>7} | {case['live_refresh']['target']}")
        for label, row in case["commands"].items():
            lines.append(f"{n:>9} | {label + ' (s, MB)':<28} | {row['s']:>11.3f} | {row['peak_rss_mb']:>11} | {'':>7} | "
                         + ("< 0.6 s at 100k" if label == "leaderboard_top20" else "< 300 MB at 1M"))
    st = results["startup"]
    lines.append(f"{'':>9} | {'derby --help (s)':<28} | {st['derby_help_s']:>11.3f} | {st['python_pass_s']:>11.3f} | "
                 f"{st['help_overhead_s']:>+7.3f} | <= +0.3 s")
    lines.append(f"{'':>9} | {'derby leaderboard --top 20':<28} | {st['derby_top20_s']:>11.3f} | {st['python_pass_s']:>11.3f} | "
                 f"{st['top20_overhead_s']:>+7.3f} | ({st['top20_db_media']:,} media)")
    return "\n".join(lines)


def memory_only(n: int, workdir: str | None, json_path: str) -> int:
    with tempfile.TemporaryDirectory(prefix="derby-bench-mem-", dir=workdir) as tmp:
        path = Path(tmp) / f"derby-{n}.db"
        before = peak_rss_mb()
        t0 = time.perf_counter()
        derby_ingest(path, n)
        elapsed = time.perf_counter() - t0
        result = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), "media": n,
                  "rss_before_mb": round(before, 1), "peak_rss_mb": round(peak_rss_mb(), 1),
                  "ingest_s": round(elapsed, 1), "db_mb": round(path.stat().st_size / 2**20)}
    print(f"{n:,} media through derby in {result['ingest_s']} s: peak RSS {result['peak_rss_mb']} MB "
          f"(after imports: {result['rss_before_mb']} MB), database {result['db_mb']} MB")
    Path(json_path).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the 10 thousand media case only (under a minute)")
    parser.add_argument("--sizes", default=None, help="comma-separated media counts (default 10000,100000,1000000)")
    parser.add_argument("--runs", type=int, default=None, help="runs per read measure (default 5, 3 at 1M)")
    parser.add_argument("--keep", action="store_true", help="keep the databases in --workdir")
    parser.add_argument("--ingest-runs", type=int, default=None, help="ingest runs per size (default 3, 1 at 1M)")
    parser.add_argument("--json", default="bench-results.json", help="where to write the JSON results")
    parser.add_argument("--workdir", default=None, help="folder for the databases (default: a temporary one)")
    parser.add_argument("--memory-only", type=int, default=None, metavar="MEDIA",
                        help="only ingest a contest of MEDIA media through derby in this fresh process and "
                             "report its peak RSS (nothing else ran before it)")
    parser.add_argument("--commands-only", default=None, metavar="DB",
                        help="only time the whole commands (and their peak RSS) on an existing bench database")
    parser.add_argument("--live-only", default=None, metavar="DB",
                        help="only time the live refresh on an existing bench database, while a writer stores "
                             "pages into it (it gains a poll run left running: use a copy)")
    args = parser.parse_args(argv)
    if args.live_only:
        db_path = Path(args.live_only)
        media = sqlite3.connect(db_path).execute("SELECT count(*) FROM media").fetchone()[0]
        load = os.getloadavg()
        live = live_refresh_case(db_path, media, args.runs or 9, lambda m: print(m, file=sys.stderr))
        result = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                  "load_before": load, "load_after": os.getloadavg(), "media": media, "live_refresh": live}
        print(json.dumps(result, indent=2))
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return 0
    if args.commands_only:
        db_path = Path(args.commands_only)
        media = sqlite3.connect(db_path).execute("SELECT count(*) FROM media").fetchone()[0]
        procs = whole_commands(db_path, media, db_path.parent, args.runs or 5, lambda m: print(m, file=sys.stderr))
        result = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                  "load": os.getloadavg(), "media": media, "commands": procs}
        print(json.dumps(result, indent=2))
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return 0
    if args.memory_only:
        return memory_only(args.memory_only, args.workdir, args.json)
    sizes = [10_000] if args.quick else [int(s) for s in (args.sizes or "10000,100000,1000000").split(",")]
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    work_ctx = tempfile.TemporaryDirectory(prefix="derby-bench-", dir=args.workdir)
    if args.keep and args.workdir:
        from contextlib import nullcontext
        work_ctx = nullcontext(args.workdir)  # type: ignore[assignment]
    with work_ctx as tmp:
        work = Path(tmp)
        results = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "quick": args.quick,
                   "machine": machine(), "load_before": os.getloadavg(), "cases": []}
        for n in sizes:
            runs = args.runs or (3 if n >= 1_000_000 else 5)
            ingest_runs = args.ingest_runs or (1 if n >= 1_000_000 else 3)
            results["cases"].append(bench_size(n, work, runs, ingest_runs, log))
        biggest = max(sizes)
        log("startup …")
        derby_exe = shutil.which("derby", path=str(Path(sys.executable).parent)) or "derby"
        db_path = str(work / f"derby-{biggest}.db")
        py = startup([sys.executable, "-c", "pass"], 7)
        helps = startup([derby_exe, "--help"], 7)
        top20 = startup([derby_exe, "--db", db_path, "leaderboard", "--top", "20"], 5)
        results["startup"] = {"python_pass_s": round(py, 3), "derby_help_s": round(helps, 3),
                              "derby_top20_s": round(top20, 3), "help_overhead_s": round(helps - py, 3),
                              "top20_overhead_s": round(top20 - py, 3), "top20_db_media": biggest}
        results["elapsed_s"] = round(time.perf_counter() - started, 1)
        results["load_after"] = os.getloadavg()
    print(table(results))
    print(f"\n(total {results['elapsed_s']} s; JSON in {args.json})")
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
