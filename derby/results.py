"""Certified results: the official standings frozen into a file with its SHA-256, and
their verification against the database.

``certify`` computes the standings as of the certification moment (the same as-of
path ``--as-of`` uses, so they can be recomputed exactly later), takes the winners and
alternates (the draw's, when a draw ran; else the first of the standings), and writes
a JSON file holding them, the whole ranked list with the digest of the reading each
entry's score used, the rules in force, the digest of the rule history and the contest
digest. The file's SHA-256 is recorded (``results_certifications`` and the audit log).

``verify`` recomputes the standings twice: as of the certification time (a difference
means the stored data changed under the certified results: tampering) and as of now
(what changed since: a later rule change, moderation or late reading), and reports
every difference entry by entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlite_utils

from derby import clock, draw, leaderboard, store
from derby.digests import contest_definition, contest_digest, reading_digest
from derby.errors import DerbyError
from derby.store import draws as draw_store

RESULTS_FORMAT = "derby-results/1"


def official(db: sqlite_utils.Database, now: datetime, moment: datetime, *, top: int, alternates: int) -> dict:
    """Return the official results as of ``moment`` (aware UTC): the document written
    by :func:`certify` without its certification time."""
    board = leaderboard.standings(db, now, moment)
    contest = board.contest
    changes, digest = draw_store.rules_version(db, moment)
    ranked = [{"rank": e.rank, "media_id": e.media_id, "score": e.score, "reading": reading_digest(e)}
              for e in board.ranked]
    by_id = {e.media_id: e for e in board.ranked}
    drawn = _draw_result(db, moment)
    if drawn is not None:
        winner_ids, alternate_ids = drawn["winners"], drawn["alternates"]
    else:
        winner_ids = [e.media_id for e in board.ranked[:top]]
        alternate_ids = [e.media_id for e in board.ranked[top:top + alternates]]

    def role(ids: list[str]) -> list[dict]:
        return [{"media_id": m, "permalink": by_id[m].permalink if m in by_id else None,
                 "rank": by_id[m].rank if m in by_id else None} for m in ids]

    return {
        "format": RESULTS_FORMAT, "contest": contest_definition(contest), "contest_digest": contest_digest(contest),
        "as_of": clock.to_store(moment), "selection": "draw" if drawn else "standings",
        "draw_commitment": drawn["commitment"] if drawn else None,
        "winners": role(winner_ids), "alternates": role(alternate_ids), "trophies": [],
        "rules": store.read_rules(db, moment), "rules_history": {"changes": changes, "digest": digest},
        "standings": ranked,
        "readings_digest": draw.sha256_hex(draw.canonical_bytes([[r["media_id"], r["reading"]] for r in ranked])),
    }


def _draw_result(db: sqlite_utils.Database, moment: datetime) -> dict | None:
    row = draw_store.any_draw_run(db)
    if row is None or row["ran_at"] > clock.to_store(moment):
        return None
    cert = json.loads(row["certificate"])
    return {"commitment": cert["commitment"], **cert["result"]}


def file_bytes(document: dict) -> bytes:
    """The results file's bytes: indented JSON with sorted keys, UTF-8, a final newline."""
    return (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def certify(db: sqlite_utils.Database, now: datetime, path: Path, *, by: str, top: int, alternates: int) -> tuple[dict, str]:
    """Write the official results as of ``now`` to ``path`` and record its SHA-256.
    Returns ``(document, sha256 hex)``. Raises DerbyError when nothing is ranked."""
    document = official(db, now, now, top=top, alternates=alternates)
    if not document["standings"]:
        raise DerbyError("no entry is ranked yet: there are no results to certify")
    document["certified_at"] = clock.to_store(now)
    data = file_bytes(document)
    digest = draw.sha256_hex(data)
    path.write_bytes(data)
    draw_store.save_certification(
        db, digest, now, by, str(path),
        f"results certified: {len(document['winners'])} winners, {len(document['alternates'])} alternates, "
        f"{len(document['standings'])} ranked; SHA-256 {digest}",
        {"winners": [w["media_id"] for w in document["winners"]],
         "alternates": [a["media_id"] for a in document["alternates"]], "sha256": digest})
    return document, digest


@dataclass
class Report:
    """What ``verify`` found. ``file_ok``: the file is one this database certified,
    byte for byte; ``at_certification``: differences with the standings recomputed as of
    the certification time (any is tampering); ``since``: differences with today's."""

    sha256: str
    file_ok: bool
    file_note: str
    at_certification: list[str] = field(default_factory=list)
    since: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.file_ok and not self.at_certification and not self.since


def differences(certified: dict, recomputed: dict) -> list[str]:
    """Say, entry by entry, how ``recomputed`` results differ from ``certified``."""
    lines = []
    for key, what in (("contest_digest", "the contest definition"), ("rules", "the rules in force")):
        if certified.get(key) != recomputed.get(key):
            lines.append(f"{what} changed")
    if certified.get("rules_history") != recomputed.get("rules_history"):
        lines.append(f"the rule history changed ({(certified.get('rules_history') or {}).get('changes')} → "
                     f"{recomputed['rules_history']['changes']} changes)")
    for role in ("winners", "alternates"):
        old = [w.get("media_id") for w in certified.get(role) or []]
        new = [w["media_id"] for w in recomputed[role]]
        if old != new:
            lines.append(f"{role}: certified {', '.join(old) or 'none'}; now {', '.join(new) or 'none'}")
    before = {r.get("media_id"): r for r in certified.get("standings") or []}
    after = {r["media_id"]: r for r in recomputed["standings"]}
    shown = {w["media_id"] for role in ("winners", "alternates") for w in recomputed[role]}
    shown |= {w.get("media_id") for role in ("winners", "alternates") for w in certified.get(role) or []}
    moved_only = 0
    for media_id in sorted(set(before) | set(after), key=lambda m: draw.media_order(str(m))):
        b, a = before.get(media_id), after.get(media_id)
        if b is None:
            lines.append(f"{media_id}: not ranked when certified, now rank {a['rank']} (score {a['score']})")
        elif a is None:
            lines.append(f"{media_id}: certified rank {b.get('rank')} (score {b.get('score')}), now not ranked")
        elif (b.get("score"), b.get("reading")) != (a["score"], a["reading"]) or \
                (b.get("rank") != a["rank"] and media_id in shown):
            what = []
            if b.get("rank") != a["rank"]:
                what.append(f"rank {b.get('rank')} → {a['rank']}")
            if b.get("score") != a["score"]:
                what.append(f"score {b.get('score')} → {a['score']}")
            if b.get("reading") != a["reading"]:
                what.append("the reading used changed")
            lines.append(f"{media_id}: {', '.join(what)}")
        elif b.get("rank") != a["rank"]:
            moved_only += 1
    if moved_only:
        lines.append(f"{moved_only} other entr{'y' if moved_only == 1 else 'ies'} moved in rank only")
    return lines


def _contest_tz(db: sqlite_utils.Database):
    contest = store.load_contest(db)
    if contest is None:
        raise DerbyError("this database has no contest yet; run: derby init config/socialderby.toml")
    return contest.tz


def _time(text: object) -> datetime | None:
    try:
        return clock.from_store(text) if isinstance(text, str) else None
    except ValueError:
        return None


def verify(db: sqlite_utils.Database, now: datetime, path: Path) -> Report:
    """Check a results file against this database (see the module docstring). Raises
    DerbyError when the file cannot be read as a results file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DerbyError(f"results file {path} not found") from None
    digest = draw.sha256_hex(data)
    try:
        certified = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DerbyError(f"{path} is not a derby results file: not JSON ({exc})") from None
    if not isinstance(certified, dict) or certified.get("format") != RESULTS_FORMAT:
        raise DerbyError(f"{path} is not a derby results file ({RESULTS_FORMAT})")
    record = draw_store.certification(db, digest)
    file_ok = record is not None
    tz = _contest_tz(db)
    note = (f"certified by {record['certified_by']} at {clock.iso_local(record['certified_at'], tz)}" if file_ok else
            "this database never certified a file with this SHA-256: the file was edited, or comes from elsewhere")
    moment = record["certified_at"] if file_ok else _time(certified.get("certified_at"))
    if moment is None:
        raise DerbyError(f"{path} has no readable certified_at time and this database never certified it")
    top, alternates = len(certified.get("winners") or []), len(certified.get("alternates") or [])
    then = official(db, now, moment, top=top, alternates=alternates)
    today = official(db, now, now, top=top, alternates=alternates)
    return Report(sha256=digest, file_ok=file_ok, file_note=note,
                  at_certification=differences(certified, then), since=differences(certified, today))
