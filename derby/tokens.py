"""Token expiry: fingerprints, when to check again, and what to warn of (FR/EN).

The facts come from the Graph API's ``debug_token`` endpoint (Meta's "Access Token
Debugger" / ``GET /debug_token``): ``expires_at`` and ``data_access_expires_at`` in Unix
seconds, 0 meaning never; or, for a token ``debug_token`` cannot be asked about (an
Instagram Login token), from the organizer (``derby token issued``: issued at, plus
:data:`LONG_LIVED_INSTAGRAM` or the refresh's ``expires_in``). They are stored by
fingerprint (:func:`fingerprint`), never the token. Standard library and
:mod:`derby.clock` only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from derby import clock

WARN_BEFORE = timedelta(days=7)
"""A token (or its data access) expiring within this is warned of."""
CHECK_EVERY = timedelta(days=1)
"""``debug_token`` is asked at most this often per token (and a recorded expiry is
warned of in the log at most this often)."""
LONG_LIVED_INSTAGRAM = timedelta(days=60)
"""How long an Instagram Login long-lived token lasts from its issue or refresh (Meta's
"Instagram API with Instagram Login: long-lived access tokens"; ``refresh_access_token``
answers ``expires_in`` in seconds). The platform never tells derby; the organizer
records it with ``derby token issued``."""


def fingerprint(token: str) -> str:
    """A short stable id of ``token`` (first 16 hex digits of its SHA-256), safe to store
    and show; the token cannot be recovered from it."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def unix_time(value: object) -> datetime | None:
    """Unix seconds (the platform's ``expires_at``) as aware UTC; 0 or missing: None (never)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return datetime.fromtimestamp(value, tz=timezone.utc)


def due(rows: list[dict], fp: str, now: datetime) -> bool:
    """Whether the token with fingerprint ``fp`` should be checked at ``now`` (never
    checked, or last checked :data:`CHECK_EVERY` ago or more)."""
    for row in rows:
        if row["fingerprint"] == fp:
            return row["checked_at"] is None or now - row["checked_at"] >= CHECK_EVERY
    return True


EXPIRED_SUBCODES = frozenset({460, 463})
"""Subcodes of error 190 that mean the token expired (Meta's "Access Token" error
handling: 463 expired, 460 invalidated by a password change)."""


def refused_as_expired(poll_run: dict) -> bool:
    """Whether a stored poll run was refused because its token expired."""
    return (poll_run.get("error_kind") == "auth" and poll_run.get("error_code") == 190
            and poll_run.get("error_subcode") in EXPIRED_SUBCODES)


@dataclass(frozen=True)
class Notice:
    """One thing to warn of: ``label`` names the token (its variable, or a team);
    ``what`` is ``token`` or ``data_access``; ``when`` its expiry (aware UTC), None
    for a token the platform calls invalid; ``expired`` whether ``when`` has passed;
    ``recorded`` whether the expiry is one the organizer recorded."""

    label: str
    what: str
    when: datetime | None
    expired: bool
    recorded: bool = False  # the expiry was recorded with derby token issued, not told by the platform


def notices(rows: list[dict], now: datetime) -> list[Notice]:
    """The notices of the stored rows at ``now``: invalid tokens, expiries passed and
    expiries within :data:`WARN_BEFORE`. Expired first."""
    found = []
    for row in rows:
        if row["is_valid"] is False and not any(row[k] and row[k] <= now for k in ("expires_at", "data_access_expires_at")):
            found.append(Notice(row["label"], "token", None, True))
            continue
        for key, what in (("expires_at", "token"), ("data_access_expires_at", "data_access")):
            when = row[key]
            if when is not None and when - now <= WARN_BEFORE:
                found.append(Notice(row["label"], what, when, when <= now, row.get("source") == "recorded"))
    return sorted(found, key=lambda n: (not n.expired, n.when or now))


_TEXT = {
    "en": {
        ("token", True): "the access token {label} has expired ({when}): polls are refused; generate a new long-lived token and put it in {label}",
        ("token", False): "the access token {label} expires {when}: generate a new long-lived token and put it in {label} before then",
        ("data_access", True): "the data access of token {label} has expired ({when}): log in again to renew it, then generate a new token",
        ("data_access", False): "the data access of token {label} expires {when}: log in again to renew it before then",
        "invalid": "the platform says the access token {label} is no longer valid: generate a new token and put it in {label}",
        ("recorded", True): "the access token {label} has expired ({when}, recorded with derby token issued): polls are "
                            "refused; generate a new long-lived token, put it in {label}, then run derby token issued {label}",
        ("recorded", False): "the access token {label} expires {when} (recorded with derby token issued): refresh it "
                             "(GET https://graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token"
                             "&access_token=…), put the new one in {label}, then run derby token issued {label}",
    },
    "fr": {
        ("token", True): "le jeton d'accès {label} a expiré ({when}) : les relèves sont refusées; générez un nouveau jeton longue durée et mettez-le dans {label}",
        ("token", False): "le jeton d'accès {label} expire le {when} : générez un nouveau jeton longue durée et mettez-le dans {label} d'ici là",
        ("data_access", True): "l'accès aux données du jeton {label} a expiré ({when}) : reconnectez-vous pour le renouveler, puis générez un nouveau jeton",
        ("data_access", False): "l'accès aux données du jeton {label} expire le {when} : reconnectez-vous pour le renouveler d'ici là",
        "invalid": "la plateforme dit que le jeton d'accès {label} n'est plus valide : générez un nouveau jeton et mettez-le dans {label}",
        ("recorded", True): "le jeton d'accès {label} a expiré ({when}, noté avec derby token issued) : les relèves sont "
                            "refusées; générez un nouveau jeton longue durée, mettez-le dans {label}, puis lancez "
                            "derby token issued {label}",
        ("recorded", False): "le jeton d'accès {label} expire le {when} (noté avec derby token issued) : renouvelez-le "
                             "(GET https://graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token"
                             "&access_token=…), mettez le nouveau dans {label}, puis lancez derby token issued {label}",
    },
}


_ISSUED = {
    "en": ("the token in {variable} expires {ends} ({how} after {issued}); derby status, the board and the daemon's "
           "log warn from {warn}", "{n} s", "{n} days"),
    "fr": ("le jeton de {variable} expire le {ends} ({how} après le {issued}); derby status, le tableau et le journal "
           "du service avertissent à partir du {warn}", "{n} s", "{n} jours"),
}


def issued_line(variable: str, issued: datetime, lasts: timedelta, expires_in: int | None, tz: ZoneInfo,
                lang: str = "en") -> str:
    """What ``derby token issued`` records and says, in ``lang`` (``fr``/``en``): the
    token in ``variable`` (issued at ``issued``, UTC) lasts ``lasts`` (``expires_in``
    seconds when the platform said, else the default); times in ``tz`` with offsets."""
    text, seconds, days = _ISSUED["fr" if lang == "fr" else "en"]
    how = seconds.format(n=expires_in) if expires_in else days.format(n=lasts.days)
    return text.format(variable=variable, ends=clock.format_local(issued + lasts, tz, lang), how=how,
                       issued=clock.format_local(issued, tz, lang),
                       warn=clock.format_local(issued + lasts - WARN_BEFORE, tz, lang))


def message(notice: Notice, lang: str = "en", tz: ZoneInfo | None = None) -> str:
    """The notice as one line in ``lang`` (``fr`` or ``en``), its time in ``tz`` (UTC
    when None) with its offset."""
    text = _TEXT["fr" if lang == "fr" else "en"]
    if notice.when is None:
        return text["invalid"].format(label=notice.label)
    when = clock.format_local(notice.when, tz or ZoneInfo("UTC"), lang)
    key = "recorded" if notice.recorded and notice.what == "token" else notice.what
    return text[(key, notice.expired)].format(label=notice.label, when=when)
