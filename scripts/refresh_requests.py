#!/usr/bin/env python3
"""Requests per poll with refreshes on: the bundled demo, and a synthetic 10,000-entry contest.

    python scripts/refresh_requests.py                 # both
    python scripts/refresh_requests.py --entries 10000 --every 30m --mention-share 1.0

The demo part replays the bundled demo (derby demo's own path, in a temporary database)
and prints each poll's requests and refreshes. The synthetic part plans each poll of a
nine-day contest with derby's own refresh plan (derby.refresh_plan.plan_refreshes) over
``--entries`` entries posted evenly through the window, a share of them mentioning the
organizer account, and counts the hashtag requests (both edges of each hashtag: one page
of 50 per 50 posts of the last 24 hours for recent_media, one page for top_media) and
the refresh requests of each poll. Standard library and derby only.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from derby.config import FeedConfig, RefreshConfig, default_refresh_requests  # noqa: E402
from derby.refresh_plan import Standing, plan_refreshes  # noqa: E402
from derby.store import RefreshCandidate  # noqa: E402
from derby.units import parse_duration  # noqa: E402

UTC = timezone.utc
START = datetime(2017, 4, 1, 4, tzinfo=UTC)
END = datetime(2017, 4, 10, 3, 59, 59, tzinfo=UTC)


def demo() -> None:
    from derby.demo.runner import demo_contest, run_demo

    rows = []
    contest = demo_contest()
    with tempfile.TemporaryDirectory() as tmp:
        run_demo(Path(tmp) / "demo.db", interval=0.2, on_poll=rows.append, contest=contest)
    print(f"demo: {len(rows)} polls, [refresh] mentions={contest.refresh.mentions}, "
          f"max_requests={contest.refresh.max_requests}")
    print("  poll  requests  of which refreshes")
    for s in rows:
        print(f"  #{s.run_id:<4} {s.requests:>8}  {s.refreshes:>8}")
    total = [s.requests for s in rows]
    refresh = [s.refreshes for s in rows]
    print(f"  mean {statistics.mean(total):.1f} requests per poll ({statistics.mean(refresh):.1f} refreshes), "
          f"max {max(total)} ({max(refresh)} refreshes)")


def synthetic(entries: int, every: float, share: float, hashtags: int, max_requests: int | None) -> None:
    refresh = RefreshConfig()
    budget = max_requests if max_requests is not None else default_refresh_requests(
        {"every": every}, hashtags, FeedConfig(kind="graph"))
    refresh = replace(refresh, max_requests=budget)
    span = (END - START).total_seconds()
    posted = [START + timedelta(seconds=span * (i + 0.5) / entries) for i in range(entries)]
    mentions = {i for i in range(entries) if (i * 7919) % 1000 < share * 1000}
    read_at: dict[int, datetime] = {}
    per_poll = []
    now = START
    sweep_done = False
    grace_end = END + timedelta(hours=24)
    while now <= grace_end:
        live = [i for i in range(entries) if posted[i] <= now]
        recent = [i for i in live if now - posted[i] < timedelta(hours=24)]
        recent_set = set(recent)
        for i in recent:
            read_at[i] = now  # the hashtag edges return it
        hashtag_requests = hashtags * (max(1, math.ceil(len(recent) / hashtags / 50)) + 1)
        # scores grow with age; rank by a stand-in score (older first) so the plan has contenders
        standings = {str(i): Standing(rank=n + 1, score=float(len(live) - n)) for n, i in enumerate(live)}
        candidates = [RefreshCandidate(str(i), "merci snq_officiel #socialderby" if i in mentions else "#socialderby",
                                       posted[i], read_at.get(i), frozenset(), i in recent_set) for i in live]
        final = now >= END and not sweep_done
        plan = plan_refreshes(candidates, standings, now=now, freeze=END, every=timedelta(seconds=refresh.every),
                              max_requests=refresh.max_requests, organizer="snq_officiel", mentions_on=True,
                              discovery_on=False, final_sweep=final)
        if final:
            sweep_done = True
        for read in plan.reads:
            read_at[int(read.key)] = now
        per_poll.append((now, hashtag_requests, len(plan.reads), len(plan.left), final))
        now += timedelta(seconds=every)
    refreshes = [r for _, _, r, _, _ in per_poll]
    totals = [h + r for _, h, r, _, _ in per_poll]
    sweep = next(p for p in per_poll if p[4])
    print(f"synthetic: {entries:,} entries, {share:.0%} mention the account, {hashtags} hashtags, a poll every "
          f"{every / 60:g} min, max_requests {refresh.max_requests} (refresh every {refresh.every / 3600:g} h)")
    print(f"  {len(per_poll)} polls; requests per poll: mean {statistics.mean(totals):.1f}, max {max(totals)} "
          f"(refreshes: mean {statistics.mean(refreshes):.1f}, max {max(refreshes)}); "
          f"per hour at most {max(totals) * 3600 / every:.0f}")
    print(f"  final sweep at {sweep[0]:%Y-%m-%d %H:%M} UTC: {sweep[2]} read, {sweep[3]} left over the budget")
    stale = sum(1 for i in range(entries) if i in mentions and END - read_at.get(i, START) > timedelta(hours=24))
    print(f"  mentioning entries whose last reading before the freeze is over 24 h old: {stale:,} "
          f"of {len(mentions):,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--every", default="30m", help="between polls of the synthetic contest")
    parser.add_argument("--mention-share", type=float, default=1.0)
    parser.add_argument("--hashtags", type=int, default=2)
    parser.add_argument("--max-requests", type=int, default=None, help="default: what the request budget leaves")
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    if not args.skip_demo:
        demo()
    synthetic(args.entries, parse_duration(args.every, "--every"), args.mention_share, args.hashtags,
              args.max_requests)


if __name__ == "__main__":
    main()
