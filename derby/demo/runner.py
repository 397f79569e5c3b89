"""The demo: the whole job of ``derby run`` on the bundled Social Derby replay.

A :class:`ScaledClock` moves contest time fast (12 hours of contest per half second of
wall time by default) so the real scheduler path of ``derby run`` replays nine days of
polls in seconds: posts appear, counts grow, the contest closes, the final poll runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

from derby import poller, store
from derby.config import Contest, load_contest
from derby.feeds.fixture import FixtureFeed


def demo_contest() -> Contest:
    """Return the bundled demo contest (its replay folder lies inside the package)."""
    return load_contest(Path(str(resources.files("derby.demo") / "contest.toml")))


def team_demo_contest() -> Contest:
    """Return the bundled team demo contest: seven teams, four weeks of April 2017, made
    up by ``scripts/make_team_replay.py`` (its replay lies inside the package)."""
    return load_contest(Path(str(resources.files("derby.demo") / "teams" / "contest.toml")))


class ScaledClock:
    """Contest time that runs ``speed`` times faster than wall time from ``start``."""

    def __init__(self, start: datetime, speed: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._start = start
        self._speed = speed
        self._monotonic = monotonic
        self._origin = monotonic()

    @property
    def speed(self) -> float:
        """Contest seconds per wall-clock second."""
        return self._speed

    def __call__(self) -> datetime:
        elapsed = (self._monotonic() - self._origin) * self._speed
        return (self._start + timedelta(seconds=elapsed)).replace(microsecond=0)


def run_demo(db_path: Path, *, interval: float = 0.5, on_poll: Callable[[poller.PollSummary], None] | None = None,
             contest: Contest | None = None) -> str:
    """Initialise ``db_path`` with the demo contest and run the scheduler over the
    replay until the contest closes. Returns what :func:`derby.poller.run` returns."""
    contest = contest or demo_contest()
    feed_folder = contest.feed.path
    times = FixtureFeed(feed_folder).poll_times()  # type: ignore[arg-type]
    db = store.open_db(db_path)
    try:
        # Loaded "before" the replayed polls, in replay time: standings as of any replayed
        # moment (movement, --as-of) then find the contest's rules in force.
        store.save_contest(db, contest, min(times[0], contest.start) - timedelta(days=1))
    finally:
        db.close()
    step = (times[1] - times[0]).total_seconds() if len(times) > 1 else 43200.0
    # A few seconds of contest time past each recorded poll, so scheduler jitter never
    # lands a poll just before its folder's time.
    replay_clock = ScaledClock(times[0] + timedelta(seconds=60), speed=step / interval)
    if contest.kind == "teams":
        # one recorded poll a day; the last one, the day after the end, is the final poll
        return poller.run(db_path, lambda: FixtureFeed(feed_folder, page_cap=contest.feed.page_cap),  # type: ignore[arg-type]
                          replay_clock, interval=interval, on_poll=on_poll,
                          final_grace=times[-1] - contest.end + timedelta(seconds=60), lead=contest.start - times[0],
                          max_failures=3)
    return poller.run(
        db_path,
        lambda: FixtureFeed(feed_folder, page_cap=contest.feed.page_cap),  # type: ignore[arg-type]
        replay_clock,
        interval=interval,
        on_poll=on_poll,
        # The replay's last poll lies a day after the end; the demo clock runs a minute
        # past each recorded poll, and the first one comes 12 hours before the start.
        final_grace=timedelta(hours=24, minutes=1),
        lead=timedelta(hours=12),
        max_failures=3,
        warn_after=timedelta(hours=18),  # the replay's polls are 12 hours apart by design
    )
