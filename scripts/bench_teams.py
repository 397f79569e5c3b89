#!/usr/bin/env python3
"""Benchmark a team contest's standings against the per-post ranking they build on.

Makes a team contest of ``--teams`` teams (default 7) with ``--posts`` posts each
(default 300, ten times a month of the Social Derby) over 30 daily polls (every post's
engagement grows, so ten or more snapshots each; the account counts change every poll),
then measures, interleaved in one process, the median of ``--runs`` runs of:

- ``baseline``: ``leaderboard.standings(...).entries``, the per-post ranking of the same
  posts (what a hashtag contest of that size costs);
- ``standings``: ``team_leaderboard.team_standings`` (the same, plus the account
  snapshots, the daily cap and the team aggregation);
- ``board``: ``team_leaderboard.team_board_view`` (standings now and at the previous
  poll for the movement, and the polling health).

Prints each median in milliseconds and its ratio to the baseline.
Usage: python scripts/bench_teams.py [--teams 7] [--posts 300] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from derby import leaderboard, store, team_leaderboard
from derby.config import Contest, FeedConfig
from derby.feeds.parse import AccountReading, Media, MediaPage
from derby.teams import Team

UTC = timezone.utc
START = datetime(2017, 4, 1, 4, tzinfo=UTC)
END = datetime(2017, 4, 29, 3, 59, 59, tzinfo=UTC)


def build(path: Path, teams: int, posts: int) -> Contest:
    roster = tuple(Team(name=f"Équipe {i}", account_id=str(17841400000000100 + i)) for i in range(1, teams + 1))
    contest = Contest(title="bench", hashtags=(), timezone="America/Toronto", start=START, end=END,
                      feed=FeedConfig(kind="fixture"), kind="teams", teams=roster,
                      rules={"points_per_follower": 2.0, "points_per_post": 5.0, "cap_posts_per_day": 20})
    db = store.open_db(path)
    store.save_contest(db, contest, START - timedelta(days=2))
    for poll in range(30):
        now = START + timedelta(days=poll, hours=12)
        run = store.start_poll_run(db, "fixture", now)
        for t, team in enumerate(roster):
            store.save_account_snapshot(db, run, AccountReading(team.account_id, f"team{t}", 10 * poll * (t + 1), 5, 1),
                                        now)
            items = []
            for i in range(posts):
                at = START + timedelta(minutes=i * 28 * 24 * 60 // posts)
                if at <= now:
                    age = (now - at).total_seconds() / 3600
                    items.append(Media(media_id=str(17900000000000000 + t * 100000 + i), caption="#bench",
                                       media_type="IMAGE", timestamp=at, like_count=int(age) % 500,
                                       comments_count=int(age) % 40))
            for chunk in range(0, len(items), 50):
                page = MediaPage(media=items[chunk:chunk + 50])
                store.save_page(db, run, team.account_id, "media", page, now)
                store.link_team_media(db, run, team.account_id, [m.media_id for m in page.media])
        store.finish_poll_run(db, run, now, status="ok", requests=teams * 2)
    db.close()
    return contest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=7)
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "teams.db"
        started = time.perf_counter()
        build(path, args.teams, args.posts)
        print(f"built {args.teams} teams × {args.posts} posts, 30 polls in {time.perf_counter() - started:.1f} s")
        db = store.open_db(path)
        now = END + timedelta(days=2)

        def baseline():
            leaderboard.standings(db, now).entries

        cases = {"baseline": baseline,
                 "standings": lambda: team_leaderboard.team_standings(db, now),
                 "board": lambda: team_leaderboard.team_board_view(db, now)}
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):  # interleaved: each run measures every case once
            for name, case in cases.items():
                t0 = time.perf_counter()
                case()
                times[name].append(time.perf_counter() - t0)
        base = statistics.median(times["baseline"])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"{name:<10} {median * 1000:8.1f} ms   ×{median / base:.2f} of baseline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
