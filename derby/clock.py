"""Time: parsing, the one storage format (UTC), and display in the contest's zone.

Everything stored is UTC text in one format, ``2017-04-03T14:05:09Z`` (whole seconds),
so that text order is time order in SQL. Code that needs "now" takes it as an argument
or a ``Clock`` callable; only :func:`utcnow` reads the system clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = timezone.utc
Clock = Callable[[], datetime]

_STORE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_FR_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC, whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)


class ScaledClock:
    """Time that starts at ``start`` (aware) and runs ``speed`` times as fast as the
    wall clock: the demo's fast replay (``speed`` > 1) and the rehearsal clock of
    ``derby --now`` (``speed`` 1). Calls return aware UTC datetimes, whole seconds."""

    def __init__(self, start: datetime, speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        if start.tzinfo is None:
            raise ValueError("naive datetime: a clock starts at a timezone-aware time")
        self._start = start.astimezone(UTC)
        self._speed = speed
        self._monotonic = monotonic
        self._origin = monotonic()

    @property
    def speed(self) -> float:
        """Clock seconds per wall-clock second."""
        return self._speed

    @property
    def start(self) -> datetime:
        """The time the clock started at (aware UTC)."""
        return self._start

    def __call__(self) -> datetime:
        elapsed = (self._monotonic() - self._origin) * self._speed
        return (self._start + timedelta(seconds=elapsed)).replace(microsecond=0)


def to_store(dt: datetime) -> str:
    """Return the storage text of an aware datetime: UTC, ``YYYY-MM-DDTHH:MM:SSZ``.

    Raises ValueError for a naive datetime.
    """
    if dt.tzinfo is None:
        raise ValueError("naive datetime: derby stores only timezone-aware times")
    utc = dt.astimezone(UTC)
    if utc.year >= 1000:  # isoformat is ~3x faster than strftime and gives the same text here
        return utc.replace(tzinfo=None, microsecond=0).isoformat() + "Z"
    return utc.strftime(_STORE_FORMAT)


def from_store(text: str | None) -> datetime | None:
    """Parse storage text back into an aware UTC datetime (None stays None)."""
    if text is None:
        return None
    if len(text) == 20 and text[10] == "T" and text[19] == "Z" and text[:4].isdigit():
        # fromisoformat is ~30x faster than strptime (a leaderboard parses one per media)
        # and reads the final Z as UTC.
        return datetime.fromisoformat(text)
    return datetime.strptime(text, _STORE_FORMAT).replace(tzinfo=UTC)


def parse_graph_timestamp(value: object) -> datetime | None:
    """Parse a Graph API media ``timestamp`` into an aware UTC datetime.

    The IG Media reference shows ISO 8601 with an offset without a colon
    (``2017-04-03T14:05:09+0000``); one table of the same docs calls it a Unix
    timestamp, so integer seconds are accepted too. Returns None for None; raises
    ValueError for anything else that does not parse.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"timestamp {value!r} is not a time")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC).replace(microsecond=0)
    if not isinstance(value, str):
        raise ValueError(f"timestamp {value!r} is not a time")
    text = value.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)  # 3.11 accepts +0000 as well as +00:00
    if dt.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no UTC offset")
    return dt.astimezone(UTC).replace(microsecond=0)


def zone(name: str) -> ZoneInfo:
    """Return the tz database zone ``name``; raises ValueError when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use a tz database name such as America/Toronto)") from None


def parse_local(text: str, tz: ZoneInfo) -> datetime:
    """Parse ISO 8601 ``text``; without an offset it is local time in ``tz``.

    Returns an aware UTC datetime. Raises ValueError when it does not parse, and
    :class:`LocalTimeError` (a ValueError) when a local time does not exist in ``tz``
    (clocks go forward) or happens twice (clocks go back; the message names both
    offsets); OverflowError when the UTC time falls outside years 1-9999."""
    dt = datetime.fromisoformat(text.strip())
    if dt.tzinfo is None:
        earlier, later = (dt.replace(tzinfo=tz, fold=fold) for fold in (0, 1))
        if earlier.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != dt:
            raise LocalTimeError(f"does not exist in {tz.key} (clocks go forward); pick another time")
        if earlier.utcoffset() != later.utcoffset():
            raise LocalTimeError(
                f"happens twice in {tz.key} (clocks go back): {format_offset(earlier)} or {format_offset(later)}; "
                f"add the offset, e.g. {dt.isoformat(timespec='minutes')}{_iso_offset(earlier)} or "
                f"{dt.isoformat(timespec='minutes')}{_iso_offset(later)}")
        dt = earlier
    return dt.astimezone(UTC)


class LocalTimeError(ValueError):
    """A local time without offset that names no single moment in its zone; the
    message says why (without the time itself)."""


def _iso_offset(dt: datetime) -> str:
    minutes = int((dt.utcoffset() or timedelta(0)).total_seconds() // 60)
    hours, mins = divmod(abs(minutes), 60)
    return f"{'-' if minutes < 0 else '+'}{hours:02d}:{mins:02d}"


def format_offset(dt: datetime) -> str:
    """Return the UTC offset of an aware datetime as ``UTC−4`` or ``UTC+5:30``."""
    offset = dt.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "−" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{mins:02d}" if mins else "")


def format_local(dt: datetime | None, tz: ZoneInfo, lang: str = "fr", *, offset: bool = True) -> str:
    """Return ``dt`` shown in the contest zone: ``3 avril 2017, 14 h 05 (UTC−4)`` in
    French, ``2017-04-03 14:05 (UTC−4)`` in English. None gives ""."""
    if dt is None:
        return ""
    local = dt.astimezone(tz)
    if lang == "fr":
        text = f"{local.day} {_FR_MONTHS[local.month - 1]} {local.year}, {local.hour} h {local.minute:02d}"
    else:
        text = local.strftime("%Y-%m-%d %H:%M")
    return f"{text} ({format_offset(local)})" if offset else text


_FR_SHORT_MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin",
                    "juil.", "août", "sept.", "oct.", "nov.", "déc.")
_EN_SHORT_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_short(dt: datetime | None, tz: ZoneInfo, lang: str = "fr") -> str:
    """Return ``dt`` in the contest zone without year or offset, for a table cell:
    ``3 avr. 14 h 05`` in French, ``Apr 3 14:05`` in English. None gives ""."""
    if dt is None:
        return ""
    local = dt.astimezone(tz)
    if lang == "fr":
        return f"{local.day} {_FR_SHORT_MONTHS[local.month - 1]} {local.hour} h {local.minute:02d}"
    return f"{_EN_SHORT_MONTHS[local.month - 1]} {local.day} {local.hour:02d}:{local.minute:02d}"


def format_duration(delta: timedelta, lang: str = "fr") -> str:
    """Return a duration for a person, most significant units only: ``45 s``,
    ``12 min``, ``3 h 05``, ``2 j 4 h`` (English ``2 d 4 h``), ``40 j`` past 30 days."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    day = "j" if lang == "fr" else "d"
    if days >= 30:
        return f"{days} {day}"
    if days:
        return f"{days} {day} {hours} h" if hours else f"{days} {day}"
    if hours:
        return f"{hours} h {minutes:02d}"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def format_relative(dt: datetime, now: datetime, lang: str = "fr") -> str:
    """Return ``dt`` relative to ``now``: ``il y a 12 min`` / ``12 min ago`` in the
    past, ``dans 2 j 4 h`` / ``in 2 d 4 h`` in the future, ``à l'instant`` / ``just now``
    within a minute."""
    delta = dt - now
    if abs(delta) < timedelta(minutes=1):
        return "à l'instant" if lang == "fr" else "just now"
    text = format_duration(delta, lang)
    if delta < timedelta(0):
        return f"il y a {text}" if lang == "fr" else f"{text} ago"
    return f"dans {text}" if lang == "fr" else f"in {text}"


def iso_local(dt: datetime | None, tz: ZoneInfo) -> str | None:
    """Return ISO 8601 in the contest zone with its offset, e.g. ``2017-04-03T10:05:09-04:00``."""
    return None if dt is None else dt.astimezone(tz).isoformat()
