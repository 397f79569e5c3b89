"""Rule kinds: their names, types, defaults and validation. Standard library only.

A rule is data, never code: a name from :data:`RULE_KINDS` and a JSON value checked
against that kind. Rules are stored in SQLite (see ``store``) and read back into a plain
``dict`` that :mod:`derby.scoring` consumes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RuleKind:
    """One kind of rule.

    ``type`` is ``bool``, ``float`` or ``int``; ``check`` raises ValueError for a value of
    the right type that is still not allowed (a negative point value, say).
    """

    name: str
    type: type
    default: object
    description: str
    check: Callable[[object], None] | None = None


def _non_negative(value: object) -> None:
    if value < 0:  # type: ignore[operator]
        raise ValueError("must be zero or more")


RULE_KINDS: dict[str, RuleKind] = {
    kind.name: kind
    for kind in (
        RuleKind("points_per_like", float, 1.0, "points for each like (mention J'aime) at the score's snapshot", _non_negative),
        RuleKind("points_per_comment", float, 3.0, "points for each comment at the score's snapshot", _non_negative),
        RuleKind(
            "require_hashtag_in_caption",
            bool,
            True,
            "an entry is eligible only when its caption holds a contest hashtag as a whole tag",
        ),
    )
}


def validate_rule(name: str, value: object) -> object:
    """Return ``value`` checked and converted to the kind's type.

    Raises ValueError naming the rule and what is allowed. Integers are accepted for
    float kinds; strings are never converted here (see :func:`parse_rule_value`).
    """
    kind = RULE_KINDS.get(name)
    if kind is None:
        raise ValueError(f"unknown rule {name!r}; known rules: {', '.join(sorted(RULE_KINDS))}")
    if kind.type is bool:
        if not isinstance(value, bool):
            raise ValueError(f"rule {name} takes true or false, not {value!r}")
        result: object = value
    elif kind.type in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"rule {name} takes a number, not {value!r}")
        if kind.type is int and float(value) != int(value):
            raise ValueError(f"rule {name} takes a whole number, not {value!r}")
        result = kind.type(value)
        if result != result or result in (float("inf"), float("-inf")):
            raise ValueError(f"rule {name} takes a finite number")
    else:  # pragma: no cover - every kind above is bool or a number
        result = value
    if kind.check is not None:
        try:
            kind.check(result)
        except ValueError as exc:
            raise ValueError(f"rule {name} {exc}") from None
    return result


def validate_rules(values: Mapping[str, object]) -> dict[str, object]:
    """Validate a whole mapping of rules (as in a contest file's ``[rules]``)."""
    return {name: validate_rule(name, value) for name, value in values.items()}


def parse_rule_value(name: str, text: str) -> object:
    """Parse a rule value typed by a person (``3``, ``0.5``, ``true``) and validate it."""
    try:
        value = json.loads(text.strip().lower() if text.strip().lower() in ("true", "false") else text)
    except json.JSONDecodeError:
        raise ValueError(f"rule {name}: {text!r} is not a number or true/false") from None
    return validate_rule(name, value)


def effective_rules(stored: Mapping[str, object]) -> dict[str, object]:
    """Return every rule kind's value: the stored one, else the kind's default."""
    return {name: stored.get(name, kind.default) for name, kind in RULE_KINDS.items()}


def encode(value: object) -> str:
    """Return the JSON text a rule value is stored as."""
    return json.dumps(value)


def decode(text: str) -> object:
    """Return the rule value stored as JSON ``text``."""
    return json.loads(text)
