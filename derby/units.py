"""The words around numbers: durations typed by a person, numbers as shown, and plurals in
French and English.

One duration syntax everywhere a duration is taken (contest file, ``run --every``,
``leaderboard --every``, ``demo --interval``): a number and a unit, ``90s``, ``10m``,
``6h``, ``2d``, combined as ``1h30m``; a bare number is seconds (``1800``, ``0.5``).

Plurals follow each language's rule: in French 0 and 1 take the singular ("0 requête",
"1 disqualifiée"), in English only 1 does ("0 requests", "1 request").
"""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
EXAMPLES = '"90s", "10m", "6h", "2d" or "1h30m"'


def parse_duration(text: object, key: str) -> float:
    """Return the seconds (float, > 0) of a duration: ``"90s"``, ``"10m"``, ``"6h"``,
    ``"2d"``, combinations such as ``"1h30m"`` (units in decreasing order, each once),
    or a bare number of seconds (``1800``, ``"0.5"``).

    Raises ValueError naming ``key`` (a contest-file key or a command-line option) when
    the text is not a duration or is not longer than zero.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    elif isinstance(text, str) and _NUMBER.fullmatch(text.strip()):
        seconds = float(text.strip())
    elif isinstance(text, str) and text.strip():
        compact = text.strip().lower().replace(" ", "")
        parts = _PART.findall(compact)
        units = [unit for _, unit in parts]
        ordered = units == sorted(set(units), key="dhms".index)
        if not parts or "".join(n + u for n, u in parts) != compact or not ordered:
            raise ValueError(f"{key} = {text!r} is not a duration such as {EXAMPLES}")
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ValueError(f"{key} must be a duration such as {EXAMPLES}")
    if not seconds > 0 or not math.isfinite(seconds):
        raise ValueError(f"{key} must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """Return seconds in the syntax :func:`parse_duration` reads, rounded to whole
    seconds: ``2d``, ``1d6h``, ``1h30m``, ``12m``, ``1m30s``, ``0s``."""
    rest = int(round(seconds))
    text = ""
    for unit, size in _UNIT_SECONDS.items():
        amount, rest = divmod(rest, size)
        if amount:
            text += f"{amount}{unit}"
    return text or "0s"


def is_singular(count: float, lang: str = "en") -> bool:
    """Whether ``count`` takes the singular: French for |count| < 2, English for 1."""
    return abs(count) < 2 if lang == "fr" else count == 1


def plural(count: float, one: str, many: str | None = None, lang: str = "en") -> str:
    """Return ``count`` and the word agreeing with it: ``plural(1, "request")`` is
    ``"1 request"``, ``plural(0, "disqualifiée", lang="fr")`` is ``"0 disqualifiée"``.
    ``many`` defaults to ``one + "s"``. The number is written as given (``str``); pass
    a pre-formatted count with :func:`word` instead when it needs grouping."""
    return f"{count} {word(count, one, many, lang)}"


def word(count: float, one: str, many: str | None = None, lang: str = "en") -> str:
    """Return the form of a word that agrees with ``count``: ``one``, or ``many``
    (default ``one + "s"``)."""
    return one if is_singular(count, lang) else (many if many is not None else one + "s")


def number(value: float | int, lang: str) -> str:
    """Return a count or score as shown: ``1 234`` (narrow no-break space) and ``2,5``
    in French, ``1,234`` and ``2.5`` in English."""
    value = int(value) if float(value).is_integer() else round(float(value), 2)
    text = f"{value:,}"
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def signed(value: float | int, lang: str) -> str:
    """:func:`number` with a ``+`` before a gain: ``+1 349``, ``-3``, ``0``."""
    return ("+" if value > 0 else "") + number(value, lang)
