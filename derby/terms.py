"""What the contest rules promise beyond scoring: organizer, eligibility, prizes, the
draw's skill-testing question, how winners are notified and may claim, and how long
personal data is kept. Read from the contest file's ``[organizer]``, ``[eligibility]``,
``[[prizes]]``, ``[draw]``, ``[winners]`` and ``[privacy]`` tables; used by
``derby rules-text``, ``derby purge`` and the results. Standard library only.

A text value is a string, or a table ``{ fr = "…", en = "…" }`` giving each language.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

TABLES = {
    "organizer": {"name", "contact", "privacy_officer", "address"},
    "eligibility": {"who", "minimum_age"},
    "draw": {"question", "pool", "weighted", "winners", "alternates"},
    "winners": {"notification", "claim_days"},
    "privacy": {"retention_days", "data_location"},
}
PRIZE_KEYS = {"rank", "trophy", "description", "value"}


@dataclass(frozen=True)
class Prize:
    """A prize: for ``rank`` (1, 2, …) or a ``trophy`` (team contests); ``description``
    (text by language); ``value`` its approximate value in Canadian dollars, or None."""

    description: dict[str, str]
    rank: int | None = None
    trophy: str | None = None
    value: float | None = None


@dataclass(frozen=True)
class Terms:
    """The contest's terms. Text fields are ``{lang: text}`` dicts (one or both of
    ``fr``, ``en``); ``draw`` is None when winners are not drawn at random; days are
    whole days after the contest's end (``retention_days``) or after notification
    (``claim_days``)."""

    organizer: dict[str, dict[str, str]] | None = None
    eligibility: dict[str, str] | None = None
    minimum_age: int | None = None
    prizes: tuple[Prize, ...] = ()
    draw: dict | None = None
    notification: dict[str, str] | None = None
    claim_days: int | None = None
    retention_days: int | None = None
    data_location: dict[str, str] | None = None

    def record(self) -> dict:
        """A JSON-ready dict of the terms (see :func:`from_record`)."""
        data = asdict(self)
        data["prizes"] = [asdict(p) for p in self.prizes]
        return data


def from_record(data: dict | None) -> Terms:
    """Rebuild :class:`Terms` from :meth:`Terms.record` output (None: no terms)."""
    if not data:
        return Terms()
    values = dict(data)
    values["prizes"] = tuple(Prize(**p) for p in values.get("prizes") or ())
    return Terms(**values)


def text(value: dict[str, str] | None, lang: str) -> str | None:
    """The text in ``lang``, else in the other language, else None."""
    if not value:
        return None
    return value.get(lang) or value.get("fr") or value.get("en")


def _text(value: object, key: str) -> dict[str, str]:
    if isinstance(value, str) and value.strip():
        return {"fr": value.strip(), "en": value.strip()}
    if isinstance(value, dict) and value and set(value) <= {"fr", "en"} and all(
            isinstance(v, str) and v.strip() for v in value.values()):
        return {k: v.strip() for k, v in value.items()}
    raise ValueError(f"{key} must be text, or a table such as {{ fr = \"…\", en = \"…\" }}")


def _whole(value: object, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key} must be a whole number from {low} to {high}")
    return value


def _prizes(items: object) -> tuple[Prize, ...]:
    if not isinstance(items, list) or not all(isinstance(p, dict) for p in items):
        raise ValueError("prizes must be written as [[prizes]] tables")
    prizes, ranks, trophies = [], set(), set()
    for n, item in enumerate(items, start=1):
        unknown = set(item) - PRIZE_KEYS
        if unknown:
            raise ValueError(f"unknown key prizes.{sorted(unknown)[0]} in prize {n}; allowed: {', '.join(sorted(PRIZE_KEYS))}")
        if ("rank" in item) == ("trophy" in item):
            raise ValueError(f"prize {n} needs a rank (1, 2, …) or, in a team contest, a trophy — one of them")
        if "description" not in item:
            raise ValueError(f"prize {n} needs a description")
        rank = _whole(item["rank"], f"prizes.rank (prize {n})", 1, 10_000) if "rank" in item else None
        trophy = item.get("trophy")
        if trophy is not None and (not isinstance(trophy, str) or not trophy.strip()):
            raise ValueError(f"prizes.trophy (prize {n}) must be the trophy's name")
        if rank in ranks:
            raise ValueError(f"prizes: rank {rank} is listed twice; give each rank one prize")
        if trophy in trophies:
            raise ValueError(f"prizes: trophy {trophy!r} is listed twice; give each trophy one prize")
        value = item.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise ValueError(f"prizes.value (prize {n}) must be an amount in dollars, 0 or more")
        ranks.add(rank) if rank is not None else trophies.add(trophy)
        prizes.append(Prize(description=_text(item["description"], f"prizes.description (prize {n})"), rank=rank,
                            trophy=trophy.strip() if trophy else None, value=float(value) if value is not None else None))
    return tuple(sorted(prizes, key=lambda p: (p.rank is None, p.rank or 0)))


def _draw(section: dict) -> dict:
    if "question" not in section:
        raise ValueError("draw.question is required: a random draw comes with a skill-testing question")
    pool = section.get("pool", "eligible")
    if not isinstance(pool, str) or not (pool == "eligible" or (pool.startswith("top:") and pool[4:].isdigit()
                                                                  and int(pool[4:]) >= 1)):
        raise ValueError("draw.pool must be \"eligible\" or \"top:N\"")
    weighted = section.get("weighted", False)
    if not isinstance(weighted, bool):
        raise ValueError("draw.weighted must be true or false")
    return {"question": _text(section["question"], "draw.question"), "pool": pool, "weighted": weighted,
            "winners": _whole(section.get("winners", 1), "draw.winners", 1, 1000),
            "alternates": _whole(section.get("alternates", 2), "draw.alternates", 0, 1000)}


def parse(data: dict) -> Terms:
    """Return the terms from the contest file's parsed TOML (the whole document).
    Raises ValueError naming the key for a bad value, an unknown key, a prize without
    rank or trophy, or a rank or trophy listed twice."""
    for table, allowed in TABLES.items():
        section = data.get(table, {})
        if not isinstance(section, dict):
            raise ValueError(f"{table} must be a table ([{table}])")
        unknown = set(section) - allowed
        if unknown:
            raise ValueError(f"unknown key {table}.{sorted(unknown)[0]}; allowed in [{table}]: {', '.join(sorted(allowed))}")
    org = data.get("organizer")
    organizer = None
    if org:
        for key in ("name", "contact", "privacy_officer"):
            if key not in org:
                raise ValueError(f"organizer.{key} is required (the rules name the organizer, a contact and the "
                                 "person in charge of personal information)")
        organizer = {key: _text(value, f"organizer.{key}") for key, value in org.items()}
    elig = data.get("eligibility", {})
    win = data.get("winners", {})
    priv = data.get("privacy", {})
    return Terms(
        organizer=organizer,
        eligibility=_text(elig["who"], "eligibility.who") if "who" in elig else None,
        minimum_age=_whole(elig["minimum_age"], "eligibility.minimum_age", 0, 120) if "minimum_age" in elig else None,
        prizes=_prizes(data["prizes"]) if "prizes" in data else (),
        draw=_draw(data["draw"]) if "draw" in data else None,
        notification=_text(win["notification"], "winners.notification") if "notification" in win else None,
        claim_days=_whole(win["claim_days"], "winners.claim_days", 1, 365) if "claim_days" in win else None,
        retention_days=_whole(priv["retention_days"], "privacy.retention_days", 0, 3650)
        if "retention_days" in priv else None,
        data_location=_text(priv["data_location"], "privacy.data_location") if "data_location" in priv else None,
    )
