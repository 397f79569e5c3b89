"""Certified results: the official standings frozen into a file with its SHA-256, and
their verification against the database.

``certify`` computes the standings as of the certification moment (the same as-of
path ``--as-of`` uses, so they can be recomputed exactly later), takes the winners and
alternates (the draw's, when a draw ran; else the first of the standings), and writes
a JSON file holding them, the whole ranked list with the digest of the reading each
entry's score used, the rules in force, the digest of the rule history and the contest
digest. In a team contest the winners, alternates and ranked list are teams (the
reading digest covers the follower readings and the counted posts' readings) and
``trophies`` holds each ``[[trophies]]`` trophy's winners with their metric's value;
a hashtag contest has no trophies. The file's SHA-256 is recorded
(``results_certifications`` and the audit log).

``verify`` recomputes the standings twice: as of the certification time (a difference
means the stored data changed under the certified results: tampering) and as of now
(what changed since: a later rule change, moderation or late reading), and reports
every difference entry by entry (team by team) and trophy by trophy. A file this
database never certified (edited by hand) is compared with the standings as of its
``certified_at``, and the data with what the database recorded certifying then (the
file's SHA-256 and its winners): an edited file never makes the data look tampered with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import sqlite_utils

from derby import clock, draw, leaderboard, store
from derby.config import contest_kind
from derby.digests import contest_definition, contest_digest, reading_digest, team_reading_digest
from derby.errors import DerbyError
from derby.store import draws as draw_store
from derby.team_leaderboard import team_standings
from derby.team_scoring import rank_trophy

RESULTS_FORMAT = "derby-results/1"


def official(db: sqlite_utils.Database, now: datetime, moment: datetime, *, top: int, alternates: int) -> dict:
    """Return the official results as of ``moment`` (aware UTC): the document written
    by :func:`certify` without its certification time. In a team contest the winners,
    alternates and standings are teams (``account_id``, ``team``) and ``trophies``
    holds each trophy's winners; a hashtag contest has no trophies (``[]``)."""
    contest = store.load_contest(db)
    if contest is not None and contest_kind(contest) == "teams":
        return _team_official(db, now, moment, top=top, alternates=alternates)
    board = leaderboard.standings(db, now, moment)
    contest = board.contest
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

    return _document(db, contest, moment, "draw" if drawn else "standings", drawn["commitment"] if drawn else None,
                     role(winner_ids), role(alternate_ids), [], ranked, "media_id")


def _team_official(db: sqlite_utils.Database, now: datetime, moment: datetime, *, top: int, alternates: int) -> dict:
    """:func:`official` of a team contest: teams ranked by score, then each trophy's
    winners (``{"name", "metric", "count", "winners": [{"account_id", "team",
    "place", "value"}]}``, the ranking of :func:`derby.team_scoring.rank_trophy`)."""
    board = team_standings(db, now, moment)
    ranked = [{"rank": t.rank, "account_id": t.account_id, "team": t.name, "score": t.score,
               "reading": team_reading_digest(t)} for t in board.ranked]

    def role(teams) -> list[dict]:
        return [{"account_id": t.account_id, "team": t.name, "rank": t.rank} for t in teams]

    trophies = [{"name": trophy.name, "metric": trophy.metric, "count": trophy.count,
                 "winners": [{"account_id": t.account_id, "team": t.name, "place": place,
                              "value": int(value) if float(value).is_integer() else value}
                             for place, t, value in rank_trophy(board.teams, trophy.metric, board.rules)[:trophy.count]]}
                for trophy in board.contest.trophies]
    return _document(db, board.contest, moment, "standings", None, role(board.ranked[:top]),
                     role(board.ranked[top:top + alternates]), trophies, ranked, "account_id")


def _document(db, contest, moment: datetime, selection: str, commitment: str | None, winners: list[dict],
              alternates: list[dict], trophies: list[dict], ranked: list[dict], key: str) -> dict:
    changes, digest = draw_store.rules_version(db, moment)
    return {
        "format": RESULTS_FORMAT, "contest": contest_definition(contest), "contest_digest": contest_digest(contest),
        "as_of": clock.to_store(moment), "selection": selection, "draw_commitment": commitment,
        "winners": winners, "alternates": alternates, "trophies": trophies,
        "rules": store.read_rules(db, moment), "rules_history": {"changes": changes, "digest": digest},
        "standings": ranked,
        "readings_digest": draw.sha256_hex(draw.canonical_bytes([[r[key], r["reading"]] for r in ranked])),
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
        f"{len(document['trophies'])} trophies, {len(document['standings'])} ranked; SHA-256 {digest}",
        {"winners": [w.get("media_id") or w.get("account_id") for w in document["winners"]],
         "alternates": [a.get("media_id") or a.get("account_id") for a in document["alternates"]],
         "trophies": {t["name"]: [w["account_id"] for w in t["winners"]] for t in document["trophies"]},
         "sha256": digest})
    return document, digest


@dataclass
class Report:
    """What ``verify`` found. ``file_ok``: the file is one this database certified,
    byte for byte; ``at_certification``: differences with the standings recomputed as of
    the certification time (any is tampering, unless ``same_second`` explains it);
    ``since``: differences with today's; ``edited``: when the file is not one this
    database certified, how it differs from the standings this database certified at
    its ``certified_at`` (then ``at_certification`` compares that stored certification's
    winners, alternates and trophies with the data, and ``since`` the standings then
    with today's, so an edited file never accuses the data); ``same_second``: the audited actions recorded
    after the certification within its second (times are stored to the second, so the
    as-of recompute cannot tell them from earlier ones), as ``action subject`` texts."""

    sha256: str
    file_ok: bool
    file_note: str
    at_certification: list[str] = field(default_factory=list)
    since: list[str] = field(default_factory=list)
    same_second: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.file_ok and not self.at_certification and not self.since


def differences(certified: dict, recomputed: dict) -> list[str]:
    """Say, entry by entry (team by team in a team contest), and trophy by trophy, how
    ``recomputed`` results differ from ``certified``."""
    key = "account_id" if recomputed["contest"].get("kind") == "teams" else "media_id"
    lines = []
    for field_name, what in (("contest_digest", "the contest definition"), ("rules", "the rules in force")):
        if certified.get(field_name) != recomputed.get(field_name):
            lines.append(f"{what} changed")
    if certified.get("rules_history") != recomputed.get("rules_history"):
        lines.append(f"the rule history changed ({(certified.get('rules_history') or {}).get('changes')} → "
                     f"{recomputed['rules_history']['changes']} changes)")
    for role in ("winners", "alternates"):
        old = [str(w.get(key)) for w in _rows(certified.get(role))]
        new = [w[key] for w in recomputed[role]]
        if old != new:
            names = {str(w.get(key)): w.get("team") for w in _rows(certified.get(role)) + recomputed[role]}

            def shown_as(ident: str) -> str:
                return f"“{names[ident]}” ({ident})" if key == "account_id" and names.get(ident) else ident
            lines.append(f"{role}: certified {', '.join(map(shown_as, old)) or 'none'}; "
                         f"now {', '.join(map(shown_as, new)) or 'none'}")
    lines += _trophy_differences(certified.get("trophies"), recomputed["trophies"])
    shown = {w[key] for role in ("winners", "alternates") for w in recomputed[role]}
    shown |= {w.get(key) for role in ("winners", "alternates") for w in _rows(certified.get(role))}
    return lines + _standing_differences(certified.get("standings"), recomputed["standings"], key, shown)


def _rows(value: object) -> list[dict]:
    """The rows of a hand-edited file's list, keeping only objects."""
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def _trophy_differences(certified: object, recomputed: list[dict]) -> list[str]:
    def winners(trophy: dict) -> str:
        return ", ".join(f"“{w.get('team')}” {w.get('account_id')} ({w.get('value')})" if w.get("team") else
                         f"{w.get('account_id')} ({w.get('value')})" for w in _rows(trophy.get("winners"))) or "none"

    before = {t.get("name"): t for t in _rows(certified)}
    after = {t["name"]: t for t in recomputed}
    lines = []
    for name in list(before) + [n for n in after if n not in before]:
        b, a = before.get(name), after.get(name)
        if b is None:
            lines.append(f"trophy “{name}”: not certified; now {winners(a)}")  # type: ignore[arg-type]
        elif a is None:
            lines.append(f"trophy “{name}”: certified {winners(b)}; now no such trophy")
        elif (b.get("metric"), winners(b)) != (a["metric"], winners(a)):
            lines.append(f"trophy “{name}”: certified {winners(b)} ({b.get('metric')}); now {winners(a)} ({a['metric']})")
    return lines


def _standing_differences(certified: object, recomputed: list[dict], key: str, shown: set) -> list[str]:
    before = {r.get(key): r for r in _rows(certified)}
    after = {r[key]: r for r in recomputed}
    lines, moved_only = [], 0
    for ident in sorted(set(before) | set(after), key=lambda m: draw.media_order(str(m))):
        b, a = before.get(ident), after.get(ident)
        name = (a or {}).get("team") or (b or {}).get("team")
        label = f"team “{name}” ({ident})" if key == "account_id" and name else ident
        if b is None:
            lines.append(f"{label}: not ranked when certified, now rank {a['rank']} (score {a['score']})")  # type: ignore[index]
        elif a is None:
            lines.append(f"{label}: certified rank {b.get('rank')} (score {b.get('score')}), now not ranked")
        elif (b.get("score"), b.get("reading")) != (a["score"], a["reading"]) or \
                (b.get("rank") != a["rank"] and ident in shown):
            what = []
            if b.get("rank") != a["rank"]:
                what.append(f"rank {b.get('rank')} → {a['rank']}")
            if b.get("score") != a["score"]:
                what.append(f"score {b.get('score')} → {a['score']}")
            if b.get("reading") != a["reading"]:
                what.append("the reading used changed")
            lines.append(f"{label}: {', '.join(what)}")
        elif b.get("rank") != a["rank"]:
            moved_only += 1
    if moved_only:
        what = ("team", "teams") if key == "account_id" else ("entry", "entries")
        lines.append(f"{moved_only} other {what[0] if moved_only == 1 else what[1]} moved in rank only")
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
    top, alternates = len(_rows(certified.get("winners"))), len(_rows(certified.get("alternates")))
    then = official(db, now, moment, top=top, alternates=alternates)
    if not file_ok:
        return _edited(db, now, digest, moment, then, differences(certified, then), note)
    at_certification = differences(certified, then)
    same_second = _same_second_actions(db, digest, moment) if at_certification and file_ok else []
    if same_second:  # the second before holds none of them: when it reproduces the file, nothing was changed
        before = official(db, now, moment - timedelta(seconds=1), top=top, alternates=alternates)
        if not differences(certified, before):
            at_certification = []
    today = official(db, now, now, top=top, alternates=alternates)
    return Report(sha256=digest, file_ok=file_ok, file_note=note, at_certification=at_certification,
                  since=differences(certified, today), same_second=same_second)


def _edited(db: sqlite_utils.Database, now: datetime, digest: str, moment: datetime, then: dict,
            edited: list[str], note: str) -> Report:
    """The report on a file this database never certified: its differences with the
    standings as of its ``certified_at`` (``edited``); the data checked against what this
    database recorded certifying at that second (winners, alternates, trophies), if it did."""
    stored = [row["data"] for row in store.audit_log(db, action="results_certify")
              if row["data"] and row["at"] == moment]
    at_certification = []
    if stored:
        held = stored[-1]
        recomputed = {"winners": [w.get("media_id") or w.get("account_id") for w in then["winners"]],
                      "alternates": [a.get("media_id") or a.get("account_id") for a in then["alternates"]],
                      "trophies": {t["name"]: [w["account_id"] for w in t["winners"]] for t in then["trophies"]}}
        at_certification = [f"{what}: certified {held.get(what)}; recomputed {recomputed[what]}"
                            for what in ("winners", "alternates", "trophies") if held.get(what) != recomputed[what]]
        rebuilt = official(db, moment, moment, top=len(held.get("winners") or []),
                           alternates=len(held.get("alternates") or []))
        rebuilt["certified_at"] = clock.to_store(moment)
        if not at_certification and draw.sha256_hex(file_bytes(rebuilt)) != held.get("sha256"):
            at_certification = ["the stored data recomputes the certified winners, alternates and trophies, but not "
                                "the certified file byte for byte (its scores, ranks or readings changed)"]
        note += (f"; it differs from the results this database certified at {clock.iso_local(moment, _contest_tz(db))}"
                 f" (SHA-256 {held.get('sha256')})")
    else:
        note += "; this database recorded no certification at its certified_at time either"
    today = official(db, now, now, top=len(then["winners"]), alternates=len(then["alternates"]))
    return Report(sha256=digest, file_ok=False, file_note=note, at_certification=at_certification,
                  since=differences(then, today), edited=edited)


_RECORDS_ONLY = ("results_certify", "results_verify", "check_winners", "draw_commit_refused", "draw_run_refused",
                 "purge_refused", "contest_file_refused")


def _same_second_actions(db: sqlite_utils.Database, sha256: str, moment: datetime) -> list[str]:
    """The audited actions that may change standings, recorded after the certification
    of ``sha256`` (by audit order) but stamped at or before ``moment``, its second."""
    cert = db.execute("SELECT min(id) FROM audit_log WHERE action = 'results_certify' AND subject = ?",
                      [sha256]).fetchone()[0]
    if cert is None:
        return []
    marks = ", ".join("?" for _ in _RECORDS_ONLY)
    rows = db.execute(f"SELECT action, subject FROM audit_log WHERE id > ? AND at <= ? AND action NOT IN ({marks}) "
                      "ORDER BY id", [cert, clock.to_store(moment), *_RECORDS_ONLY]).fetchall()
    return [f"{action} {subject}" if subject else action for action, subject in rows]
