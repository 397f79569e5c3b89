"""A random draw anyone can re-check offline: the pool, its commitment, the ranking by a
public beacon value, and the certificate's verification. Standard library only: this
module reads no database, no clock and no network, so a certificate can be checked with
it (or with a few lines of any language) on any machine.

The method, exactly (``docs/draw.md`` says the same for people):

1. **Pool.** A JSON object (``pool_document``) holding the contest digest, the rules
   version and digest, the moment the standings describe, the pool kind (``eligible``
   or ``top:N``), whether the draw is weighted, the beacon text, the numbers of winners
   and alternates, and the entries: media ids in ascending numeric order (with their
   integer weight when weighted). Its **canonical bytes** are
   ``json.dumps(pool, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``
   encoded as ASCII; the **commitment** is the SHA-256 of those bytes, in lower-case hex.
2. **Key.** The beacon value: ``--value HEX`` gives the bytes of the hex string
   (``bytes.fromhex``), ``--value-text TEXT`` the UTF-8 bytes of the text as given.
3. **Unweighted ranking.** Each entry's digest is HMAC-SHA256(key, media id in ASCII),
   read as a big-endian unsigned number; entries are ranked by it, smallest first.
4. **Weighted ranking** (integer weights ``round(score × 10⁶)``; weight 0 is never in
   the pool). Entries are drawn one at a time without replacement. For draw *k* (1, 2,
   …), with *W* the total weight of the entries not yet drawn, kept in pool order: take
   *x* = HMAC-SHA256(key, ASCII ``"draw {k} try {t}"``) as a big-endian number for
   *t* = 0, 1, … until *x* < 2²⁵⁶ − (2²⁵⁶ mod *W*) (rejection: no modulo bias); *r* = *x*
   mod *W*; the entry drawn is the first whose running sum of weights exceeds *r*.
5. **Result.** The ranked order; the first ``winners`` are the winners, the next
   ``alternates`` the alternates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

POOL_FORMAT = "derby-draw-pool/1"
CERTIFICATE_FORMAT = "derby-draw-certificate/1"
ORDER = "media_id ascending, compared as numbers"
METHODS = {
    False: ("hmac-sha256-rank/1",
            "each entry's HMAC-SHA256(key = beacon value bytes, message = media id in ASCII), read as a "
            "big-endian number; smallest first"),
    True: ("hmac-sha256-weighted-sequential/1",
           "draw k (1, 2, ...): W = total weight left (pool order); x = HMAC-SHA256(key, ASCII "
           "\"draw {k} try {t}\") as a big-endian number for t = 0, 1, ... until x < 2^256 - (2^256 mod W); "
           "the entry drawn is the first whose running weight sum exceeds x mod W"),
}
WEIGHT_SCALE = 1_000_000
"""Weights are integers: the score × 10⁶ (scores are rounded to 6 decimals), so a draw
weighted by score is computed exactly, with no floating point."""

_SPACE = 1 << 256
_HEX = re.compile(r"[0-9a-fA-F]+")


class DrawError(ValueError):
    """A draw's input is refused: the message is one line saying why."""


def canonical_bytes(document: object) -> bytes:
    """Return the canonical bytes of a JSON document: sorted keys, no spaces, ASCII
    (``\\u`` escapes for anything else). Equal documents give equal bytes."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def commitment(pool: dict) -> str:
    """Return the commitment of a pool document: SHA-256 of its canonical bytes, hex."""
    return sha256_hex(canonical_bytes(pool))


def weight(score: float) -> int:
    """Return the integer weight of a score: ``round(score × 10⁶)``, half to even, computed
    in decimal from the score's shortest representation (so 0.3 gives 300000 exactly)."""
    return int((Decimal(repr(float(score))) * WEIGHT_SCALE).to_integral_value(ROUND_HALF_EVEN))


def media_order(media_id: str) -> tuple:
    """The pool's order: numeric ids by value, any other id after them, by text."""
    return (0, len(media_id), media_id) if media_id.isdigit() else (1, 0, media_id)


def parse_pool_kind(text: str) -> tuple[str, int | None]:
    """Return ``("eligible", None)`` or ``("top", N)`` from ``eligible`` / ``top:N``.
    Raises DrawError otherwise."""
    text = (text or "").strip().lower()
    if text == "eligible":
        return "eligible", None
    match = re.fullmatch(r"top:(\d+)", text)
    if match and int(match.group(1)) >= 1:
        return "top", int(match.group(1))
    raise DrawError(f"--pool {text!r} is not eligible or top:N (N a whole number from 1), e.g. top:10")


def pool_document(*, contest_digest: str, rules_version: int, rules_digest: str, as_of: str, pool: str,
                  weighted: bool, beacon: str, winners: int, alternates: int,
                  entries: list[tuple[str, int]]) -> dict:
    """Return the pool document to commit to.

    ``entries`` are ``(media_id, weight)`` in any order; they are put in pool order,
    and weights are kept only when ``weighted`` (weight-0 entries are then left out).
    ``as_of`` is the ISO 8601 UTC time the standings describe. Raises DrawError for an
    empty pool, a blank beacon text, a repeated media id or a non-ASCII id.
    """
    beacon = (beacon or "").strip()
    if not beacon:
        raise DrawError("--beacon must name a future public random value, e.g. \"drand quicknet round 12345678\"")
    ids = [m for m, _ in entries]
    if len(set(ids)) != len(ids):
        raise DrawError("the pool lists a media id twice")
    if any(not m.isascii() for m in ids):
        raise DrawError("a media id of the pool is not ASCII")
    chosen = sorted(((m, int(w)) for m, w in entries if not weighted or int(w) > 0), key=lambda e: media_order(e[0]))
    if not chosen:
        raise DrawError("the pool is empty: no ranked entry" + (" with a score above 0" if weighted else ""))
    if winners < 1 or alternates < 0:
        raise DrawError("a draw needs at least 1 winner and 0 or more alternates")
    return {
        "format": POOL_FORMAT, "contest_digest": contest_digest, "rules_version": rules_version,
        "rules_digest": rules_digest, "as_of": as_of, "pool": pool, "weighted": bool(weighted),
        "beacon": beacon, "winners": winners, "alternates": alternates, "order": ORDER,
        "method": METHODS[bool(weighted)][0],
        "entries": [{"media_id": m, "weight": w} if weighted else {"media_id": m} for m, w in chosen],
    }


@dataclass(frozen=True)
class BeaconValue:
    """The beacon's published value: ``kind`` ``hex`` or ``text``, ``value`` as given
    (hex lower-cased), ``key`` the HMAC key bytes."""

    kind: str
    value: str
    key: bytes = field(repr=False)

    def record(self) -> dict:
        return {"kind": self.kind, "value": self.value}


def beacon_value(hex_value: str | None = None, text: str | None = None) -> BeaconValue:
    """Return the key from ``--value HEX`` (whitespace and a ``0x`` prefix ignored) or
    ``--value-text TEXT`` (UTF-8 bytes as given); exactly one must be given. Raises
    DrawError for neither or both, an empty value, or a hex value that is not hex or has
    an odd number of digits."""
    if (hex_value is None) == (text is None):
        raise DrawError("give the beacon's value once published: --value HEX, or --value-text TEXT for a beacon "
                        "that publishes numbers or words")
    if text is not None:
        if not text:
            raise DrawError("--value-text is empty")
        return BeaconValue("text", text, text.encode("utf-8"))
    compact = re.sub(r"\s+", "", hex_value or "")
    if compact[:2].lower() == "0x":
        compact = compact[2:]
    if not compact or not _HEX.fullmatch(compact):
        raise DrawError("--value is not hexadecimal (digits 0-9 and a-f, as drand publishes its randomness); "
                        "for numbers or words use --value-text")
    if len(compact) % 2:
        raise DrawError(f"--value has an odd number of hex digits ({len(compact)}): a byte is two digits")
    compact = compact.lower()
    return BeaconValue("hex", compact, bytes.fromhex(compact))


def entry_digest(key: bytes, media_id: str) -> int:
    """HMAC-SHA256(key, media id in ASCII) read as a big-endian number."""
    return int.from_bytes(hmac.new(key, media_id.encode("ascii"), hashlib.sha256).digest(), "big")


def rank(pool: dict, key: bytes) -> list[str]:
    """Return the pool's media ids in drawn order (see the module docstring)."""
    entries = pool["entries"]
    if not pool.get("weighted"):
        return [e["media_id"] for e in sorted(entries, key=lambda e: (entry_digest(key, e["media_id"]), e["media_id"]))]
    left = [(e["media_id"], int(e["weight"])) for e in entries]
    order: list[str] = []
    k = 0
    while left:
        k += 1
        total = sum(w for _, w in left)
        r = _uniform_below(key, total, k)
        running = 0
        for i, (media_id, w) in enumerate(left):
            running += w
            if running > r:
                order.append(media_id)
                del left[i]
                break
    return order


def _uniform_below(key: bytes, total: int, k: int) -> int:
    limit = _SPACE - (_SPACE % total)
    t = 0
    while True:
        x = int.from_bytes(hmac.new(key, f"draw {k} try {t}".encode("ascii"), hashlib.sha256).digest(), "big")
        if x < limit:
            return x % total
        t += 1


def result(pool: dict, key: bytes) -> dict:
    """Return ``{"order", "winners", "alternates"}`` (media ids) of the pool under ``key``."""
    order = rank(pool, key)
    w, a = int(pool["winners"]), int(pool["alternates"])
    return {"order": order, "winners": order[:w], "alternates": order[w:w + a]}


def certificate(pool: dict, value: BeaconValue, *, committed_at: str, ran_at: str,
                permalinks: dict[str, str | None] | None = None) -> dict:
    """Return the certificate of a draw: the pool, its commitment, the beacon text and
    value, the method and the result (plus permalinks of the winners and alternates,
    for people; not part of what is verified). Times are ISO 8601 UTC."""
    drawn = result(pool, value.key)
    name, description = METHODS[bool(pool.get("weighted"))]
    return {
        "format": CERTIFICATE_FORMAT, "pool": pool, "commitment": commitment(pool), "committed_at": committed_at,
        "beacon": pool["beacon"], "value": value.record(), "ran_at": ran_at,
        "method": {"name": name, "description": description, "canonical": "SHA-256 of json.dumps(pool, "
                   "sort_keys=True, separators=(',', ':'), ensure_ascii=True)"},
        "result": drawn,
        "permalinks": {m: (permalinks or {}).get(m) for m in drawn["winners"] + drawn["alternates"]},
    }


@dataclass
class Verification:
    """What ``verify`` found: ``ok`` when everything matched; ``checks`` as (what,
    passed, detail) lines for a person."""

    ok: bool
    checks: list[tuple[str, bool, str]]


def verify(cert: object, expected_commitment: str | None = None) -> Verification:
    """Recompute a certificate's commitment and result from the certificate alone.

    Checks: the format; the commitment is the SHA-256 of the pool's canonical bytes;
    the beacon text is the pool's; the method is the pool's; the result (order, winners,
    alternates) is what the value gives; and, with ``expected_commitment`` (the value
    published before the draw), that the certificate carries it. Never raises for a
    malformed certificate: that is a failed check.
    """
    checks: list[tuple[str, bool, str]] = []
    if not isinstance(cert, dict) or cert.get("format") != CERTIFICATE_FORMAT or not isinstance(cert.get("pool"), dict):
        return Verification(False, [("format", False, f"not a derby draw certificate ({CERTIFICATE_FORMAT})")])
    pool = cert["pool"]
    try:
        recomputed = commitment(pool)
    except (TypeError, ValueError) as exc:
        return Verification(False, [("pool", False, f"the pool cannot be read: {exc}")])
    carried = str(cert.get("commitment", ""))
    checks.append(("commitment", recomputed == carried,
                   f"SHA-256 of the pool is {recomputed}" + ("" if recomputed == carried else f", the certificate says {carried}")))
    if expected_commitment is not None:
        published = expected_commitment.strip().lower()
        checks.append(("published commitment", published == carried and published == recomputed,
                       "the certificate carries the commitment published before the draw" if published == carried == recomputed
                       else f"published {published}, certificate {carried}, pool {recomputed}"))
    checks.append(("beacon", cert.get("beacon") == pool.get("beacon"),
                   f"beacon named at the commit: {pool.get('beacon')!r}"))
    method = (cert.get("method") or {}).get("name") if isinstance(cert.get("method"), dict) else None
    checks.append(("method", method == pool.get("method") == METHODS[bool(pool.get("weighted"))][0],
                   f"{pool.get('method')}"))
    try:
        raw = cert.get("value") or {}
        value = beacon_value(raw.get("value"), None) if raw.get("kind") == "hex" else beacon_value(None, raw.get("value"))
        drawn = result(pool, value.key)
    except (DrawError, TypeError, KeyError, ValueError, AttributeError) as exc:
        checks.append(("result", False, f"cannot recompute the result: {exc}"))
        return Verification(False, checks)
    claimed = cert.get("result") if isinstance(cert.get("result"), dict) else {}
    same = all(drawn[k] == claimed.get(k) for k in ("order", "winners", "alternates"))
    detail = f"winners {', '.join(drawn['winners'])}; alternates {', '.join(drawn['alternates']) or 'none'}"
    if not same:
        detail = f"the value gives {detail}; the certificate says winners {', '.join(map(str, claimed.get('winners') or []))}"
    checks.append(("result", same, detail))
    return Verification(all(passed for _, passed, _ in checks), checks)
