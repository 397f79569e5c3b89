"""The draw commands' work on a database: freeze the pool from the standings and commit
to it, run it with the beacon's value, write the certificate. The method itself (pool
document, commitment, ranking, verification) is :mod:`derby.draw`'s, which needs no
database; this module adds the standings, the refusals and the audit trail.

Every refusal is written to the audit log (``draw_commit_refused``,
``draw_run_refused``) and changes nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlite_utils

from derby import check, clock, draw, leaderboard
from derby.config import Contest, contest_kind
from derby.digests import contest_digest
from derby.errors import DerbyError
from derby.store import draws as draw_store
from derby.text import display_text


class DrawRefused(DerbyError):
    """A draw command was refused; the refusal is in the audit log."""

    exit_code = 2


@dataclass
class Committed:
    """A commitment made: its hex, the pool document, the pool file written, and
    ``kept_gone``: the posts reported gone that ``include_gone`` kept in the pool,
    named in one line ("" when none)."""

    commitment: str
    pool: dict
    path: Path
    kept_gone: str = ""


@dataclass
class Drawn:
    """A draw run: the certificate, the files written (JSON and HTML), and
    ``warnings``: one line per winner or alternate reported gone since the commit."""

    certificate: dict
    json_path: Path
    html_path: Path
    warnings: list[str] = field(default_factory=list)


def _refuse(db: sqlite_utils.Database, now: datetime, by: str, action: str, message: str, data: object = None):
    draw_store.record_attempt(db, now, by, action, f"refused: {message}", data)
    raise DrawRefused(message)


def build_pool(db: sqlite_utils.Database, contest: Contest, now: datetime, *, pool: str, weighted: bool, beacon: str,
               winners: int, alternates: int, as_of: datetime | None, described: datetime) -> dict:
    """Return the pool document from the standings (as of ``as_of``, live when None);
    ``described`` is the moment written into it as ``as_of``. Raises draw.DrawError."""
    return _pool_of(db, contest, now, pool=pool, weighted=weighted, beacon=beacon, winners=winners,
                    alternates=alternates, as_of=as_of, described=described)[0]


def _pool_of(db: sqlite_utils.Database, contest: Contest, now: datetime, *, pool: str, weighted: bool, beacon: str,
             winners: int, alternates: int, as_of: datetime | None, described: datetime) -> tuple[dict, list]:
    """:func:`build_pool`'s document and the ranked entries it was made of."""
    kind, top = draw.parse_pool_kind(pool)
    board = leaderboard.standings(db, now, as_of)
    ranked = board.ranked[:top] if top else board.ranked
    changes, digest = draw_store.rules_version(db, as_of)
    return draw.pool_document(
        contest_digest=contest_digest(contest), rules_version=changes, rules_digest=digest,
        as_of=clock.to_store(described), pool=f"top:{top}" if top else kind, weighted=weighted, beacon=beacon,
        winners=winners, alternates=alternates, entries=[(e.media_id, draw.weight(e.score)) for e in ranked]), ranked


def _team_contest(contest: Contest) -> bool:
    return contest_kind(contest) == "teams"


def commit(db: sqlite_utils.Database, contest: Contest, now: datetime, *, by: str, pool: str, weighted: bool,
           beacon: str, winners: int, alternates: int, as_of: datetime | None, out_dir: Path,
           include_gone: bool = False) -> Committed:
    """Freeze the pool and record its commitment; write the canonical pool file (its
    SHA-256 is the commitment) into ``out_dir``. Raises DrawRefused (recorded) for a
    team contest, a draw that already ran, a live pool before engagement stops counting,
    an ``as_of`` in the future, a bad pool, beacon or count, or a pool holding a post
    reported gone that no judge decided on (see :func:`gone_in_pool`; with
    ``include_gone`` such posts stay in the pool and the audit message names them)."""
    action = "draw_commit_refused"
    if _team_contest(contest):
        _refuse(db, now, by, action, "a draw picks among entries; this is a team contest, whose trophies are "
                "won on the standings: no draw is held")
    done = draw_store.any_draw_run(db)
    if done is not None:
        _refuse(db, now, by, action, f"the draw already ran at "
                f"{clock.format_local(clock.from_store(done['ran_at']), contest.tz, 'en')} (commitment "
                f"{draw_store.commitment_of(db, done['commitment_id'])}); a draw is committed and run once")
    if as_of is None and now < contest.freeze:
        _refuse(db, now, by, action, "the pool is frozen once engagement stops counting, at "
                f"{clock.format_local(contest.freeze, contest.tz, 'en')}; wait, or pass --as-of")
    if as_of is not None and as_of > now:
        _refuse(db, now, by, action, "--as-of is in the future: the pool must exist when it is committed")
    try:
        doc, ranked = _pool_of(db, contest, now, pool=pool, weighted=weighted, beacon=beacon, winners=winners,
                               alternates=alternates, as_of=as_of, described=as_of or now)
    except draw.DrawError as exc:
        _refuse(db, now, by, action, str(exc))
    kept = gone_in_pool(db, contest, now, by, doc, ranked, as_of, include_gone)
    data = draw.canonical_bytes(doc)
    digest = draw.sha256_hex(data)
    path = out_dir / f"draw-pool-{digest[:12]}.json"
    path.write_bytes(data)
    try:
        draw_store.save_commitment(db, digest, data, as_of, now, by,
                                   f"draw committed: {len(doc['entries'])} entries ({doc['pool']}"
                                   f"{', weighted' if weighted else ''}), beacon {beacon!r}, commitment {digest}"
                                   + (f"; kept in the pool though reported gone (--include-gone): {kept}" if kept else ""))
    except ValueError as exc:
        path.unlink(missing_ok=True)
        _refuse(db, now, by, action, str(exc))
    return Committed(commitment=digest, pool=doc, path=path, kept_gone=kept)


def gone_in_pool(db: sqlite_utils.Database, contest: Contest, now: datetime, by: str, doc: dict, ranked: list,
                 as_of: datetime | None, include_gone: bool) -> str:
    """Look for posts of the pool ``doc`` (made of the ``ranked`` entries) that a source
    reported gone after their newest reading, from every report recorded (those after
    ``as_of`` too), and that no judge reinstated since the report. Without
    ``include_gone`` raises DrawRefused (recorded) naming each; with it returns one
    line naming the posts kept ("" when none). The pool document is
    never changed: the commitment stays what the standings give."""
    in_pool = {e["media_id"] for e in doc["entries"]}
    gone = check.gone_undecided(db, [e for e in ranked if e.media_id in in_pool])
    if not gone:
        return ""
    tz = contest.tz
    names = [f"{r.name()}, media {r.media_id}, {display_text(r.permalink) or 'no permalink'}, reported gone by {r.source} "
             f"{clock.format_local(r.at, tz, 'en')}"
             + (f" (disqualified by {r.decision['by']} {clock.format_local(r.decision['at'], tz, 'en')}, after "
                "--as-of: the pool as of --as-of still holds it)" if r.decision else "") for r in gone]
    listed = "; ".join(names[:10]) + (f"; and {len(names) - 10} more" if len(names) > 10 else "")
    if include_gone:
        return listed
    if as_of is None:
        how = ("A judge decides each first: derby disqualify MEDIA_ID --reason TEXT leaves it out of the pool, "
               "derby reinstate MEDIA_ID --reason TEXT keeps it")
    else:
        how = ("With --as-of the pool is the standings as of that moment, and a disqualification made after it does "
               "not remove a post from the pool: commit with a later --as-of after derby disqualify MEDIA_ID --reason "
               "TEXT, or keep the post with derby reinstate MEDIA_ID --reason TEXT")
    _refuse(db, now, by, "draw_commit_refused",
            f"the pool holds {len(gone)} post{'s' if len(gone) != 1 else ''} reported gone (deleted, hidden or made "
            f"private) that no judge decided on: {listed}. {how}; or pass --include-gone to keep "
            f"{'them' if len(gone) != 1 else 'it'} in the pool as reported (the audit log names "
            f"{'them' if len(gone) != 1 else 'it'})",
            [{"media_id": r.media_id, "rank": r.rank, "source": r.source, "at": clock.to_store(r.at)} for r in gone])
    return ""  # not reached: _refuse raises


def pool_differences(committed: dict, now_pool: dict) -> list[str]:
    """Say how a pool recomputed now differs from the committed one (empty: same)."""
    lines = []
    for key in ("contest_digest", "rules_version", "rules_digest"):
        if committed.get(key) != now_pool.get(key):
            lines.append(f"{key} was {committed.get(key)}, is {now_pool.get(key)}")
    before = {e["media_id"]: e.get("weight") for e in committed["entries"]}
    after = {e["media_id"]: e.get("weight") for e in now_pool["entries"]}
    gone = sorted(set(before) - set(after), key=draw.media_order)
    added = sorted(set(after) - set(before), key=draw.media_order)
    if gone:
        lines.append(f"no longer in the pool: {', '.join(gone[:10])}" + (" …" if len(gone) > 10 else ""))
    if added:
        lines.append(f"new in the pool: {', '.join(added[:10])}" + (" …" if len(added) > 10 else ""))
    moved = [m for m in before if m in after and before[m] != after[m]]
    if moved:
        lines.append("weight changed: " + ", ".join(f"{m} {before[m]} → {after[m]}" for m in moved[:10]))
    return lines


def run(db: sqlite_utils.Database, contest: Contest, now: datetime, *, by: str, hex_value: str | None,
        text_value: str | None, out_dir: Path, lang: str) -> Drawn:
    """Run the committed draw with the beacon's value: recompute the pool, refuse when it
    differs from the commitment, rank it, record winners and alternates in the audit log
    and write the certificate (JSON and HTML) into ``out_dir``. Raises DrawRefused
    (recorded) for no commitment, a draw already run, a bad value or a changed pool."""
    action = "draw_run_refused"
    latest = draw_store.latest_commitment(db)
    if latest is None:
        _refuse(db, now, by, action, "nothing is committed yet; run: derby draw commit --beacon TEXT first")
    if latest["run"] is not None:
        _refuse(db, now, by, action, f"the draw of commitment {latest['commitment']} already ran at "
                f"{clock.format_local(clock.from_store(latest['run']['ran_at']), contest.tz, 'en')}; a draw is never "
                "run twice (its certificate is in draw_runs)")
    try:
        value = draw.beacon_value(hex_value, text_value)
    except draw.DrawError as exc:
        _refuse(db, now, by, action, str(exc))
    committed = json.loads(latest["pool"])
    try:
        current = build_pool(db, contest, now, pool=committed["pool"], weighted=committed["weighted"],
                             beacon=committed["beacon"], winners=committed["winners"],
                             alternates=committed["alternates"], as_of=latest["as_of"],
                             described=clock.from_store(committed["as_of"]))
    except draw.DrawError as exc:
        _refuse(db, now, by, action, f"the pool can no longer be built: {exc}")
    if draw.commitment(current) != latest["commitment"]:
        _refuse(db, now, by, action, "the pool no longer matches its commitment: "
                + "; ".join(pool_differences(committed, current) or ["its bytes differ"]),
                {"commitment": latest["commitment"], "now": draw.commitment(current)})
    entries = {e.media_id: e for e in leaderboard.standings(db, now, latest["as_of"]).entries}
    cert = draw.certificate(committed, value, committed_at=clock.to_store(latest["committed_at"]),
                            ran_at=clock.to_store(now), permalinks={m: e.permalink for m, e in entries.items()})
    drawn = cert["result"]
    warnings = gone_since_commit(db, contest, [entries[m] for m in drawn["winners"] + drawn["alternates"]
                                               if m in entries], latest["committed_at"])
    from derby.certificates import draw_html

    # The files first: a run recorded without its certificate could never be run again.
    stem = out_dir / f"draw-certificate-{latest['commitment'][:12]}"
    json_path, html_path = stem.with_suffix(".json"), stem.with_suffix(".html")
    json_path.write_text(json.dumps(cert, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    html_path.write_text(draw_html(cert, contest, lang), encoding="utf-8")
    draw_store.save_run(db, latest["id"], value.record(), cert, now, by,
                        f"draw run with beacon value {value.value!r}: winners {', '.join(drawn['winners'])}; "
                        f"alternates {', '.join(drawn['alternates']) or 'none'}"
                        + "".join(f"; {w}" for w in warnings))
    return Drawn(certificate=cert, json_path=json_path, html_path=html_path, warnings=warnings)


def gone_since_commit(db: sqlite_utils.Database, contest: Contest, drawn: list, committed_at: datetime) -> list[str]:
    """One ``warning: …`` line per drawn entry (winners and alternates, as scored
    entries) a source reported gone after ``committed_at`` (aware UTC) and after its
    newest reading, that no judge reinstated since: the draw stands (its pool is the
    committed one), but the post must be looked at before it is announced."""
    tz = contest.tz
    return [f"warning: {r.name()} (media {r.media_id}) was drawn but reported gone by {r.source} "
            f"{clock.format_local(r.at, tz, 'en')}, after the commit (deleted, hidden or made private): check it "
            f"(derby check-winners) before announcing it; a judge decides: derby disqualify {r.media_id} --reason "
            f"TEXT or derby reinstate {r.media_id} --reason TEXT"
            for r in check.gone_undecided(db, drawn, since=committed_at)]


def read_certificate(path: Path) -> object:
    """Read a certificate file as JSON. Raises DerbyError (one line) when it is not
    readable UTF-8 JSON."""
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise DerbyError(f"certificate {path} not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DerbyError(f"{path} is not a derby certificate: not JSON ({exc})") from None
