"""Rule kinds: their names, value shapes, defaults and validation. Standard library only.

A rule is data, never code: a name from :data:`RULE_KINDS` and a JSON value checked
against that kind's shape. Nothing here (or anywhere in derby) evaluates rule text or
builds SQL from it. Rules are stored in SQLite with their history (see ``store``) and
read back into a plain ``dict`` that :mod:`derby.scoring` consumes.

Value shapes:

- ``number``: a finite number ≥ 0 (integers accepted);
- ``count``: a whole number ≥ 0 (or ≥ 1 where said), or ``None`` for "no limit";
- ``bool``: ``true``/``false``;
- ``choice``: one of a fixed list of words;
- ``username``: an Instagram username (a leading ``@`` is dropped, compared in lower
  case), or ``None`` for "no requirement";
- ``media_points``: a mapping of ``IMAGE``/``VIDEO``/``CAROUSEL_ALBUM`` to a number;
- ``early``: ``{"hours": H, "points": P}`` (both numbers, hours > 0) or ``None``;
- ``tie_break``: a list of tie-break keys, starting with ``score``, no key twice;
  in a hashtag contest the keys of :data:`TIE_BREAK_KEYS`, ending with ``media_id``;
  in a team contest those of :data:`TEAM_TIE_BREAK_KEYS`, ending with ``name``.

The team rules (:data:`TEAM_RULES`) exist only in a team contest.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MEDIA_TYPES = ("IMAGE", "VIDEO", "CAROUSEL_ALBUM")
HIDDEN_LIKES_POLICIES = ("zero", "comments_only", "review")

TIE_BREAK_KEYS: dict[str, str] = {
    "score": "higher score first",
    "comments": "more comments counted first",
    "likes": "more likes counted first (hidden likes count as 0)",
    "timestamp": "earlier post first",
    "first_seen": "first seen by a poll earlier first",
    "media_id": "smaller media id first, numerically when both are numbers",
}
DEFAULT_TIE_BREAK = ("score", "timestamp", "media_id")
TEAM_TIE_BREAK_KEYS: dict[str, str] = {
    "score": "higher score first",
    "followers_gained": "more followers gained first",
    "likes": "more likes on counted posts first",
    "comments": "more comments on counted posts first",
    "posts": "more counted posts first",
    "name": "team name in alphabetical order",
}
DEFAULT_TEAM_TIE_BREAK = ("score", "followers_gained", "likes", "name")
TEAM_RULES = ("points_per_follower", "points_per_post", "cap_posts_per_day")
CONTEST_KINDS = ("hashtag", "teams")

# Instagram usernames: letters, digits, periods and underscores, at most 30 characters,
# never ending with a period nor holding two periods in a row.
_USERNAME = re.compile(r"^(?!.*\.\.)(?!.*\.$)[a-z0-9._]{1,30}$")


def normalize_username(text: str) -> str:
    """Return an Instagram username in comparable form: stripped, no leading ``@``,
    lower case. Raises ValueError when it cannot be an Instagram username."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not an Instagram username")
    name = text.strip().removeprefix("@").lower()
    if not _USERNAME.match(name):
        raise ValueError(f"{text!r} is not an Instagram username (letters, digits, . and _, at most 30)")
    return name


MAX_POINTS = 1_000_000
"""The largest point value a rule may give: beyond it, scores of popular posts could
overflow to infinity and every entry would tie."""


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"takes a number, not {value!r}")
    if not math.isfinite(value):
        raise ValueError("takes a finite number")
    if value < 0:
        raise ValueError("must be zero or more")
    if value > MAX_POINTS:
        raise ValueError(f"must be at most {MAX_POINTS:,} (a larger value makes scores overflow)")
    return float(value)


def _count(minimum: int) -> Callable[[object], int | None]:
    def check(value: object) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or float(value) != int(value):
            raise ValueError(f"takes a whole number or none, not {value!r}")
        if value < minimum:
            raise ValueError(f"must be {minimum} or more (or none for no limit)")
        return int(value)
    return check


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"takes true or false, not {value!r}")
    return value


def _choice(*allowed: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if value not in allowed:
            raise ValueError(f"takes one of {', '.join(allowed)}, not {value!r}")
        return value  # type: ignore[return-value]
    return check


def _username(value: object) -> str | None:
    if value is None:
        return None
    return normalize_username(value)  # type: ignore[arg-type]


def _media_points(value: object) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ValueError(f"takes a table such as {{VIDEO = 5}}, not {value!r}")
    result = {}
    for key, points in value.items():
        kind = str(key).upper()
        if kind not in MEDIA_TYPES:
            raise ValueError(f"knows media types {', '.join(MEDIA_TYPES)}, not {key!r}")
        result[kind] = _number(points)
    return {k: result[k] for k in MEDIA_TYPES if k in result}


def _early(value: object) -> dict[str, float] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"hours", "points"}:
        raise ValueError(f"takes a table {{hours = H, points = P}} or none, not {value!r}")
    hours, points = _number(value["hours"]), _number(value["points"])
    if hours == 0:
        raise ValueError("hours must be more than 0")
    return {"hours": hours, "points": points}


def _tie_break(value: object) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"takes a list of keys such as [\"score\", \"timestamp\", \"media_id\"], not {value!r}")
    keys = list(value)
    team = bool(keys) and keys[-1] == "name"
    known = TEAM_TIE_BREAK_KEYS if team else TIE_BREAK_KEYS
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(f"knows keys {', '.join(known)}, not {unknown[0]!r}")
    if len(set(keys)) != len(keys):
        raise ValueError("names a key twice")
    if not keys or keys[0] != "score" or keys[-1] not in ("media_id", "name"):
        raise ValueError("must start with score and end with media_id (name in a team contest) so the order is total")
    return keys


def check_tie_break_kind(chain: list[str], kind: str) -> list[str]:
    """Return ``chain`` when it fits a contest of ``kind`` (``hashtag``: ends with
    ``media_id``; ``teams``: ends with ``name``). Raises ValueError saying which."""
    want = "name" if kind == "teams" else "media_id"
    if chain[-1] != want:
        keys = TEAM_TIE_BREAK_KEYS if kind == "teams" else TIE_BREAK_KEYS
        raise ValueError(f"rule tie_break must end with {want} in a {kind} contest (keys: {', '.join(keys)})")
    return chain


@dataclass(frozen=True)
class RuleKind:
    """One kind of rule: ``check`` returns the value converted to its stored shape or
    raises ValueError saying what is allowed; ``shape`` names the shape (see module)."""

    name: str
    shape: str
    default: object
    description: str
    check: Callable[[object], object]


RULE_KINDS: dict[str, RuleKind] = {
    kind.name: kind
    for kind in (
        RuleKind("points_per_like", "number", 1.0, "points for each counted like (mention J'aime)", _number),
        RuleKind("points_per_comment", "number", 3.0, "points for each counted comment", _number),
        RuleKind("cap_likes", "count", None, "most likes counted for one entry (none: no cap)", _count(0)),
        RuleKind("cap_comments", "count", None, "most comments counted for one entry (none: no cap)", _count(0)),
        RuleKind("media_type_bonus", "media_points", {}, "bonus points by media_type (IMAGE, VIDEO, CAROUSEL_ALBUM)",
                 _media_points),
        RuleKind("extra_hashtag_bonus", "number", 0.0,
                 "points for each distinct contest hashtag in the caption beyond the first", _number),
        RuleKind("early_entry_bonus", "early", None,
                 "points for a post published within the first N hours of the contest (none: no bonus)", _early),
        RuleKind("require_hashtag_in_caption", "bool", True,
                 "an entry is eligible only when its caption holds a contest hashtag as a whole tag", _bool),
        RuleKind("require_mention", "username", None,
                 "an account the caption must @mention to be eligible (none: no requirement)", _username),
        RuleKind("max_entries_per_entrant", "count", None,
                 "only the best N entries of one imported entrant are ranked (none: no limit)", _count(1)),
        RuleKind("hidden_likes", "choice", "zero",
                 "what a missing like_count means: zero, comments_only or review",
                 _choice(*HIDDEN_LIKES_POLICIES)),
        RuleKind("tie_break", "tie_break", list(DEFAULT_TIE_BREAK),
                 "the ranking order: keys compared in turn until two entries differ", _tie_break),
        RuleKind("points_per_follower", "number", 1.0,
                 "team contest: points for each follower gained (a loss gives negative points)", _number),
        RuleKind("points_per_post", "number", 0.0, "team contest: points for each post published in the window",
                 _number),
        RuleKind("cap_posts_per_day", "count", None,
                 "team contest: most posts of one team counted per day, contest time zone (none: no cap)", _count(1)),
    )
}


DESCRIPTIONS_FR: dict[str, str] = {
    "points_per_like": "points pour chaque J'aime compté",
    "points_per_comment": "points pour chaque commentaire compté",
    "cap_likes": "nombre maximal de J'aime comptés pour une participation (none : pas de plafond)",
    "cap_comments": "nombre maximal de commentaires comptés pour une participation (none : pas de plafond)",
    "media_type_bonus": "points en prime selon le media_type (IMAGE, VIDEO, CAROUSEL_ALBUM)",
    "extra_hashtag_bonus": "points pour chaque mot-clic distinct du concours dans la légende au-delà du premier",
    "early_entry_bonus": "points pour une publication faite dans les N premières heures du concours (none : aucune prime)",
    "require_hashtag_in_caption": "une participation n'est admissible que si sa légende porte un mot-clic du concours, "
                                  "comme mot-clic entier",
    "require_mention": "un compte que la légende doit @mentionner pour être admissible (none : aucune exigence)",
    "max_entries_per_entrant": "seules les N meilleures participations d'un·e participant·e importé·e sont classées "
                               "(none : pas de limite)",
    "hidden_likes": "ce que veut dire un like_count absent : zero, comments_only ou review",
    "tie_break": "l'ordre du classement : clés comparées tour à tour jusqu'à ce que deux participations diffèrent",
    "points_per_follower": "concours d'équipes : points pour chaque abonné gagné (une perte retire des points)",
    "points_per_post": "concours d'équipes : points pour chaque publication faite pendant le concours",
    "cap_posts_per_day": "concours d'équipes : publications d'une équipe comptées par jour au plus, "
                         "fuseau du concours (none : pas de plafond)",
}
"""French text of each rule kind's ``description`` (the contest's language by default)."""

TIE_BREAK_KEYS_FR: dict[str, str] = {
    "score": "pointage le plus élevé d'abord",
    "comments": "plus de commentaires comptés d'abord",
    "likes": "plus de J'aime comptés d'abord (J'aime masqués : 0)",
    "timestamp": "publication la plus ancienne d'abord",
    "first_seen": "vue la première par une relève d'abord",
    "media_id": "plus petit identifiant de média d'abord, numériquement quand les deux sont des nombres",
}
TEAM_TIE_BREAK_KEYS_FR: dict[str, str] = {
    "score": "pointage le plus élevé d'abord",
    "followers_gained": "plus d'abonnés gagnés d'abord",
    "likes": "plus de J'aime sur les publications comptées d'abord",
    "comments": "plus de commentaires sur les publications comptées d'abord",
    "posts": "plus de publications comptées d'abord",
    "name": "nom de l'équipe, en ordre alphabétique",
}


def description(name: str, lang: str = "en") -> str:
    """Return what rule ``name`` does, in ``lang`` (``fr`` or ``en``)."""
    return DESCRIPTIONS_FR[name] if lang == "fr" else RULE_KINDS[name].description


def tie_break_description(key: str, lang: str = "en", *, teams: bool = False) -> str:
    """Return what tie-break ``key`` compares, in ``lang`` (``fr`` or ``en``); with
    ``teams``, as a key of a team contest's chain."""
    if teams:
        return TEAM_TIE_BREAK_KEYS_FR[key] if lang == "fr" else TEAM_TIE_BREAK_KEYS[key]
    return TIE_BREAK_KEYS_FR[key] if lang == "fr" else TIE_BREAK_KEYS[key]


def validate_rule(name: str, value: object) -> object:
    """Return ``value`` checked and converted to the kind's stored shape.

    Raises ValueError naming the rule and what is allowed. Strings are never parsed
    here (see :func:`parse_rule_value`).
    """
    kind = RULE_KINDS.get(name)
    if kind is None:
        raise ValueError(f"unknown rule {name!r}; known rules: {', '.join(sorted(RULE_KINDS))}")
    try:
        return kind.check(value)
    except ValueError as exc:
        raise ValueError(f"rule {name} {exc}") from None


def validate_rules(values: Mapping[str, object]) -> dict[str, object]:
    """Validate a whole mapping of rules (as in a contest file's ``[rules]``)."""
    return {name: validate_rule(name, value) for name, value in values.items()}


def parse_rule_value(name: str, text: str) -> object:
    """Parse a rule value typed by a person and validate it.

    Accepts JSON (``3``, ``0.5``, ``true``, ``{"VIDEO": 5}``, ``["score", "media_id"]``),
    ``none``/``off`` for no value, ``true``/``false`` in any case, ``@name`` or a bare
    word (``review``, an account) for text rules, and ``score,timestamp,media_id`` for
    the tie-break list. Raises ValueError.
    """
    if name not in RULE_KINDS:
        raise ValueError(f"unknown rule {name!r}; known rules: {', '.join(sorted(RULE_KINDS))}")
    shape = RULE_KINDS[name].shape
    raw = text.strip()
    lowered = raw.lower()
    if lowered in ("none", "off", "null"):
        value: object = None
    elif lowered in ("true", "false"):
        value = lowered == "true"
    elif shape in ("choice", "username"):
        value = raw[1:-1] if len(raw) > 1 and raw[0] == raw[-1] == '"' else raw
    elif shape == "tie_break" and not raw.startswith("["):
        value = [part.strip() for part in raw.split(",") if part.strip()]
    else:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"rule {name}: {text!r} is not a value it takes "
                             f"({RULE_KINDS[name].shape}; e.g. 3, true, none, {{\"VIDEO\": 5}})") from None
    return validate_rule(name, value)


def effective_rules(stored: Mapping[str, object], kind: str = "hashtag") -> dict[str, object]:
    """Return every rule kind's value for a contest of ``kind`` (``hashtag`` or
    ``teams``): the stored one, else the kind's default. The team rules are left out
    of a hashtag contest; a team contest's default tie-break is
    :data:`DEFAULT_TEAM_TIE_BREAK`."""
    values = {}
    for name, rule in RULE_KINDS.items():
        if name in TEAM_RULES and kind != "teams":
            continue
        default = list(DEFAULT_TEAM_TIE_BREAK) if name == "tie_break" and kind == "teams" else rule.default
        values[name] = stored.get(name, default)
    return values


def team_post_values(values: Mapping[str, object], has_hashtags: bool) -> dict[str, object]:
    """Return the rule values the per-entry formula gets for a team contest's posts:
    an owner reads the true ``like_count``, so a missing one counts as 0 (never held
    for review); without contest hashtags no caption needs one; and the posts' own
    order (``leaderboard --posts``) is :data:`DEFAULT_TIE_BREAK`, the ``tie_break`` rule
    holding the teams' chain."""
    post = {**values, "hidden_likes": "zero", "tie_break": list(DEFAULT_TIE_BREAK)}
    if not has_hashtags:
        post["require_hashtag_in_caption"] = False
    return post


def format_value(value: object) -> str:
    """Return a rule value as a person reads it: ``1``, ``0.5``, ``true``, ``none``,
    ``VIDEO=5, IMAGE=0``, ``hours=24, points=10``, ``score > timestamp > media_id``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        return " > ".join(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items()) or "{}"
    return str(value)


def encode(value: object) -> str:
    """Return the JSON text a rule value is stored as."""
    return json.dumps(value, sort_keys=True)


def decode(text: str | None) -> object:
    """Return the rule value stored as JSON ``text`` (None stays None)."""
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class EarlyBonus:
    """``early_entry_bonus``: ``points`` for a post published within the first
    ``hours`` (> 0) of the contest."""

    hours: float
    points: float


@dataclass(frozen=True)
class Rules:
    """The rules in force, one typed and validated value per rule kind (see
    :data:`RULE_KINDS` for each one's meaning). Build it with :meth:`from_values`.

    ``media_type_bonus`` is a tuple of ``(media_type, points)`` pairs in
    :data:`MEDIA_TYPES` order; ``tie_break`` the chain of :data:`TIE_BREAK_KEYS`.
    """

    points_per_like: float = 1.0
    points_per_comment: float = 3.0
    cap_likes: int | None = None
    cap_comments: int | None = None
    media_type_bonus: tuple[tuple[str, float], ...] = ()
    extra_hashtag_bonus: float = 0.0
    early_entry_bonus: EarlyBonus | None = None
    require_hashtag_in_caption: bool = True
    require_mention: str | None = None
    max_entries_per_entrant: int | None = None
    hidden_likes: str = "zero"
    tie_break: tuple[str, ...] = DEFAULT_TIE_BREAK

    @classmethod
    def from_values(cls, values: Mapping[str, object]) -> Rules:
        """Return the rules from stored values (``{name: value}``; a missing kind takes
        its default). Raises ValueError naming the first invalid rule; unknown names
        are ignored (a rule kind a newer derby wrote)."""
        checked = {name: validate_rule(name, values.get(name, kind.default)) for name, kind in RULE_KINDS.items()}
        bonus = checked["media_type_bonus"]
        early = checked["early_entry_bonus"]
        return cls(
            points_per_like=_as_float(checked["points_per_like"]),
            points_per_comment=_as_float(checked["points_per_comment"]),
            cap_likes=_as_count(checked["cap_likes"]),
            cap_comments=_as_count(checked["cap_comments"]),
            media_type_bonus=tuple((k, _as_float(v)) for k, v in bonus.items())
            if isinstance(bonus, dict) else (),
            extra_hashtag_bonus=_as_float(checked["extra_hashtag_bonus"]),
            early_entry_bonus=EarlyBonus(_as_float(early["hours"]), _as_float(early["points"]))
            if isinstance(early, dict) else None,
            require_hashtag_in_caption=checked["require_hashtag_in_caption"] is True,
            require_mention=_as_text(checked["require_mention"]),
            max_entries_per_entrant=_as_count(checked["max_entries_per_entrant"]),
            hidden_likes=str(checked["hidden_likes"]),
            tie_break=tuple(str(k) for k in checked["tie_break"]) if isinstance(checked["tie_break"], list)
            else DEFAULT_TIE_BREAK,
        )

    def values(self) -> dict[str, object]:
        """Return the rules as ``{name: value}`` in the stored shapes (JSON-ready)."""
        early = self.early_entry_bonus
        return {
            "points_per_like": self.points_per_like, "points_per_comment": self.points_per_comment,
            "cap_likes": self.cap_likes, "cap_comments": self.cap_comments,
            "media_type_bonus": dict(self.media_type_bonus), "extra_hashtag_bonus": self.extra_hashtag_bonus,
            "early_entry_bonus": None if early is None else {"hours": early.hours, "points": early.points},
            "require_hashtag_in_caption": self.require_hashtag_in_caption,
            "require_mention": self.require_mention, "max_entries_per_entrant": self.max_entries_per_entrant,
            "hidden_likes": self.hidden_likes, "tie_break": list(self.tie_break),
        }


def _as_float(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _as_count(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None


def _as_text(value: object) -> str | None:
    return value if isinstance(value, str) else None
