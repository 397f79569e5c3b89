"""The reference ranking for the equivalence test: the Python formula derby ranked
with before the ranking moved into SQL (``derby.scoring``), and the store read it
ranked, kept unchanged as the oracle. Not used by derby."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from derby.rules import Rules, format_value
from derby.text import caption_hashtags, caption_mentions
from derby import clock
from derby.units import plural
import sqlite_utils
from derby.store.polls import _chunks

ELIGIBLE = "eligible"
REASONS = {
    "disqualified": "disqualified by a judge",
    "no_timestamp": "the feed gave no timestamp for this post",
    "before_start": "posted before the contest started",
    "after_end": "posted after the contest closed",
    "no_caption": "no caption, so no contest hashtag in it",
    "missing_hashtag": "no contest hashtag in the caption",
    "missing_mention": "the caption does not @mention the required account",
    "review": "likes are hidden and the rules hold such entries for a judge",
    "over_entrant_cap": "the entrant already has the most ranked entries the rules allow",
}
NOT_RANKED = tuple(REASONS)



@dataclass(frozen=True)
class Contribution:
    """One term of a score: the rule, what it counted (``basis``, for a person) and
    the points it gave."""

    rule: str
    basis: str
    points: float


@dataclass
class ScoredEntry:
    """One media with its score and standing.

    ``status`` is ``eligible`` or a key of :data:`REASONS`; ``rank`` is None unless
    eligible; ``flags`` holds ``hidden_likes``, ``likes_not_counted``,
    ``observed_late``, ``no_snapshot``, ``capped`` and ``tied``; ``tie_break`` is the
    chain key that separated a tied entry from its neighbour (None when not tied);
    ``points`` maps each rule to its points; ``contributions`` explains them;
    ``checks`` lists the eligibility checks made as (check, passed, note). Times are
    aware UTC.
    """

    media_id: str
    permalink: str | None
    caption: str | None
    media_type: str | None
    timestamp: datetime | None
    like_count: int | None
    comments_count: int | None
    observed_at: datetime | None
    username: str | None = None
    display_name: str | None = None
    first_seen_at: datetime | None = None
    score: float = 0.0
    status: str = ELIGIBLE
    rank: int | None = None
    flags: list[str] = field(default_factory=list)
    tie_break: str | None = None
    moderation: Mapping | None = None
    detail: str | None = None
    likes_counted: float = 0
    comments_counted: float = 0
    # What the explanation is rebuilt from, on first use: the stored entry, the
    # ranking's _Rules, and the checks ranking added after the entry's own.
    _source: Mapping | None = field(default=None, repr=False, compare=False)
    _rules: _Rules | None = field(default=None, repr=False, compare=False)
    _later_checks: list | None = field(default=None, repr=False, compare=False)
    _contributions: list | None = field(default=None, repr=False, compare=False)
    _check_list: list | None = field(default=None, repr=False, compare=False)

    @property
    def contributions(self) -> list[Contribution]:
        """Each term of the score with its basis, in rule order (built on first use)."""
        if self._contributions is None:
            r = self._rules
            self._contributions = [] if r is None or self._source is None else \
                _score(self._source, r.rules, r.tags, r.start, r.count_likes)[1]
        return self._contributions

    @property
    def points(self) -> dict[str, float]:
        """Points per rule, ``{rule: points}``, in rule order."""
        return {c.rule: c.points for c in self.contributions}

    @property
    def checks(self) -> list[tuple[str, bool, str]]:
        """The eligibility checks made, as (check, passed, note), in the order made
        (built on first use)."""
        if self._check_list is None:
            checks: list[tuple[str, bool, str]] = []
            r = self._rules
            if r is not None and self._source is not None:
                if self.status == "disqualified" and self.moderation is not None:
                    checks.append(("moderation", False, self.detail or ""))
                checks.extend(_checks(self._source, r.tags, r.start, r.end, r.rules)[1])
            checks.extend(self._later_checks or ())
            self._check_list = checks
        return self._check_list

    @property
    def reason(self) -> str | None:
        """A sentence saying why the entry is not ranked, or None when eligible."""
        if self.status == ELIGIBLE:
            return None
        return self.detail or REASONS.get(self.status)


def eligibility(entry: Mapping, hashtags: Iterable[str], start: datetime, end: datetime,
                rules: Rules) -> str:
    """Return ``eligible`` or the status key saying why ``entry`` is not, from the
    entry alone (judges' moderation, the review hold and the entrant cap are applied
    by :func:`rank_entries`). The window is [start, end], inclusive, on the post's
    own ``timestamp``."""
    return _checks(entry, list(hashtags), start, end, rules)[0]


def _checks(entry: Mapping, tags: list[str], start: datetime, end: datetime,
            rules: Rules) -> tuple[str, list[tuple[str, bool, str]]]:
    checks: list[tuple[str, bool, str]] = []
    status = ELIGIBLE

    def check(name: str, passed: bool, note: str, failure: str) -> None:
        nonlocal status
        checks.append((name, passed, note))
        if not passed and status == ELIGIBLE:
            status = failure

    timestamp = entry.get("timestamp")
    if timestamp is None:
        check("window", False, "the feed gave no timestamp", "no_timestamp")
    elif timestamp < start:
        check("window", False, "posted before the start", "before_start")
    elif timestamp > end:
        check("window", False, "posted after the end", "after_end")
    else:
        check("window", True, "posted between the start and the end", ELIGIBLE)
    caption = entry.get("caption")
    if rules.require_hashtag_in_caption:
        found = contest_tags(caption, tags)
        if not caption:
            check("require_hashtag_in_caption", False, "no caption", "no_caption")
        else:
            check("require_hashtag_in_caption", bool(found),
                  f"caption holds #{', #'.join(found)}" if found else "no contest hashtag in the caption",
                  "missing_hashtag")
    mention = rules.require_mention
    if mention:
        present = mention in caption_mentions(caption)
        check("require_mention", present, f"caption {'mentions' if present else 'does not mention'} @{mention}",
              "missing_mention")
    return status, checks


def score_entry(entry: Mapping, rules: Rules, hashtags: Iterable[str] = (),
                start: datetime | None = None, *,
                count_likes: bool = True) -> tuple[float, dict[str, float], list[str]]:
    """Return (score, points per rule, flags) of one entry's snapshot.

    ``hashtags`` and ``start`` are needed only by the hashtag and early-entry bonuses.
    ``count_likes`` False drops the likes term (``hidden_likes = comments_only``).
    """
    score, contributions, flags, _, _ = _score(entry, rules, list(hashtags), start, count_likes)
    return score, {c.rule: c.points for c in contributions}, flags


def _score(entry: Mapping, rules: Rules, tags: list[str], start: datetime | None,
           count_likes: bool) -> tuple[float, list[Contribution], list[str], float, float]:
    flags: list[str] = []
    contributions: list[Contribution] = []
    if entry.get("observed_at") is None:
        flags.append("no_snapshot")
    elif entry.get("observed_late"):
        flags.append("observed_late")
    likes = entry.get("like_count")
    comments = entry.get("comments_count") or 0
    per_like = rules.points_per_like
    per_comment = rules.points_per_comment
    if likes is None and entry.get("observed_at") is not None:
        flags.append("hidden_likes")
    likes_counted: float = 0
    if not count_likes:
        flags.append("likes_not_counted")
        contributions.append(Contribution("points_per_like", "likes not counted: some entries hide theirs "
                                          "(hidden_likes = comments_only)", 0.0))
    elif likes is None:
        contributions.append(Contribution("points_per_like", "likes hidden: counted as 0 likes", 0.0))
    else:
        likes_counted, basis = _capped(likes, rules.cap_likes, "likes")
        if likes_counted != likes:
            flags.append("capped")
        contributions.append(Contribution("points_per_like", f"{basis} × {format_value(per_like)}",
                                          per_like * likes_counted))
    comments_counted, basis = _capped(comments, rules.cap_comments, "comments")
    if comments_counted != comments and "capped" not in flags:
        flags.append("capped")
    contributions.append(Contribution("points_per_comment", f"{basis} × {format_value(per_comment)}",
                                      per_comment * comments_counted))
    bonus = dict(rules.media_type_bonus)
    media_type = entry.get("media_type")
    if bonus and media_type in bonus:
        contributions.append(Contribution("media_type_bonus", f"media type {media_type}", bonus[media_type]))
    per_tag = rules.extra_hashtag_bonus
    if per_tag:
        found = contest_tags(entry.get("caption"), tags)
        extra = max(len(found) - 1, 0)
        contributions.append(Contribution("extra_hashtag_bonus",
                                          f"{extra} extra contest hashtag{'s' if extra != 1 else ''} × "
                                          f"{format_value(per_tag)}", per_tag * extra))
    early = rules.early_entry_bonus
    timestamp = entry.get("timestamp")
    if early and start is not None and timestamp is not None:
        limit = start + timedelta(hours=early.hours)
        within = start <= timestamp < limit
        contributions.append(Contribution(
            "early_entry_bonus", f"posted {'within' if within else 'after'} the first {format_value(early.hours)} h",
            early.points if within else 0.0))
    score = round(sum(c.points for c in contributions), 6) + 0.0
    return score, contributions, flags, likes_counted, comments_counted


def _capped(count: int, cap: int | None, noun: str) -> tuple[int, str]:
    counted = plural(count, noun[:-1], noun)  # "1 like", "402 likes"
    if cap is not None and count > cap:
        return cap, f"{counted}, capped at {cap}"
    return count, counted


def contest_tags(caption: str | None, tags) -> list[str]:
    """Return the contest hashtags (``tags``: normalized, any container) a caption
    holds as whole tags, each once, in caption order."""
    return [t for t in dict.fromkeys(caption_hashtags(caption)) if t in tags]


def _media_order(media_id: str) -> tuple:
    return (0, int(media_id), media_id) if media_id.isascii() and media_id.isdigit() else (1, 0, media_id)


class _Rules:
    """Rule-derived constants of one ranking, computed once instead of per entry."""

    __slots__ = ("rules", "tags", "tag_set", "start", "end", "count_likes", "per_like", "per_comment",
                 "cap_likes", "cap_comments", "bonus", "per_tag", "early", "early_limit", "early_points",
                 "require_hashtag", "mention", "policy")

    def __init__(self, rules: Rules, tags: list[str], start: datetime, end: datetime) -> None:
        self.rules, self.tags, self.tag_set, self.start, self.end = rules, tags, set(tags), start, end
        self.count_likes = True
        self.per_like = rules.points_per_like
        self.per_comment = rules.points_per_comment
        self.cap_likes = rules.cap_likes
        self.cap_comments = rules.cap_comments
        self.bonus = dict(rules.media_type_bonus)
        self.per_tag = rules.extra_hashtag_bonus
        early = rules.early_entry_bonus
        self.early = early is not None and start is not None
        self.early_limit = start + timedelta(hours=early.hours) if early is not None else start
        self.early_points = early.points if early is not None else 0.0
        self.require_hashtag = rules.require_hashtag_in_caption
        self.mention = rules.require_mention
        self.policy = rules.hidden_likes

    def found_tags(self, caption: str | None) -> list[str]:
        return contest_tags(caption, self.tag_set)

    def status(self, entry: Mapping) -> tuple[str, list[str] | None]:
        """The status :func:`_checks` gives (its first failure), and the contest
        hashtags found in the caption when they were looked for."""
        timestamp = entry.get("timestamp")
        if timestamp is None:
            return "no_timestamp", None
        if timestamp < self.start:
            return "before_start", None
        if timestamp > self.end:
            return "after_end", None
        caption = entry.get("caption")
        found = None
        if self.require_hashtag:
            if not caption:
                return "no_caption", None
            found = self.found_tags(caption)
            if not found:
                return "missing_hashtag", found
        if self.mention and self.mention not in caption_mentions(caption):
            return "missing_mention", found
        return ELIGIBLE, found

    def score(self, entry: Mapping, found: list[str] | None) -> tuple[float, list[str], float, float]:
        """(score, flags, likes counted, comments counted), exactly as :func:`_score`
        computes them, without building its explanation."""
        flags: list[str] = []
        observed = entry.get("observed_at")
        if observed is None:
            flags.append("no_snapshot")
        elif entry.get("observed_late"):
            flags.append("observed_late")
        likes = entry.get("like_count")
        comments = entry.get("comments_count") or 0
        if likes is None and observed is not None:
            flags.append("hidden_likes")
        likes_counted: float = 0
        if not self.count_likes:
            flags.append("likes_not_counted")
            points = [0.0]
        elif likes is None:
            points = [0.0]
        else:
            cap = self.cap_likes
            if cap is not None and likes > cap:
                likes_counted = cap
                flags.append("capped")
            else:
                likes_counted = likes
            points = [self.per_like * likes_counted]
        cap = self.cap_comments
        comments_counted = comments
        if cap is not None and comments > cap:
            comments_counted = cap
            if "capped" not in flags:
                flags.append("capped")
        points.append(self.per_comment * comments_counted)
        bonus = self.bonus
        if bonus:
            media_type = entry.get("media_type")
            if media_type in bonus:
                points.append(bonus[media_type])
        if self.per_tag:
            if found is None:
                found = self.found_tags(entry.get("caption"))
            points.append(self.per_tag * max(len(found) - 1, 0))
        if self.early:
            timestamp = entry.get("timestamp")
            if timestamp is not None:
                points.append(self.early_points if self.start <= timestamp < self.early_limit else 0.0)
        return round(sum(points), 6) + 0.0, flags, likes_counted, comments_counted


def _sort_key(chain: list[str]):
    def getter(key: str):
        if key == "score":
            return lambda e: -e.score
        if key == "comments":
            return lambda e: -e.comments_counted
        if key == "likes":
            return lambda e: -e.likes_counted
        if key == "timestamp":
            return lambda e: e.timestamp.timestamp() if e.timestamp else float("inf")
        if key == "first_seen":
            return lambda e: e.first_seen_at.timestamp() if e.first_seen_at else float("inf")
        return lambda e: _media_order(e.media_id)
    getters = [getter(k) for k in chain]
    if len(getters) == 3:
        a, b, c = getters
        return lambda e: (a(e), b(e), c(e))
    return lambda e: tuple([g(e) for g in getters])


def rank_entries(entries: Iterable[Mapping], hashtags: Iterable[str], start: datetime, end: datetime,
                 rules: Rules) -> list[ScoredEntry]:
    """Score, judge and rank ``entries`` (dicts as given by ``store.read_entries``:
    media fields, the snapshot to use with ``observed_late``, ``username``,
    ``display_name``, ``first_seen_at`` and ``moderation``, the latest judge's action
    as ``{"action", "reason", "by", "at"}`` or None).

    Returns every entry: ranked ones first in rank order, then the others ordered by
    media id. Consecutive ranked entries with equal scores are flagged ``tied`` and
    carry the tie-break key that separated them. Each entry's ``contributions`` and
    ``checks`` are built when first read (the ranking needs only the numbers).
    """
    r = _Rules(rules, list(hashtags), start, end)
    chain = list(rules.tie_break)
    policy = r.policy
    judged = []
    for entry in entries:
        status, found = r.status(entry)
        moderation = entry.get("moderation")
        if moderation and moderation.get("action") == "disqualify":
            status = "disqualified"
        judged.append((entry, status, found, moderation))
    if policy == "comments_only":
        r.count_likes = not any(e.get("like_count") is None and e.get("observed_at") is not None
                                for e, status, _, _ in judged if status == ELIGIBLE)
    review = policy == "review"
    scored = []
    append = scored.append
    for entry, status, found, moderation in judged:
        score, flags, likes_counted, comments_counted = r.score(entry, found)
        later = None
        if review and "hidden_likes" in flags:
            if bool(moderation) and moderation.get("action") == "reinstate":  # type: ignore[union-attr]
                later = [("hidden_likes", True, f"likes hidden; cleared by {moderation.get('by')}")]  # type: ignore[union-attr]
            else:
                later = [("hidden_likes", False, "likes hidden: held for a judge (hidden_likes = review)")]
                if status == ELIGIBLE:
                    status = "review"
        detail = None
        if status == "disqualified":
            detail = f"disqualified by {moderation.get('by')}: {moderation.get('reason')}"  # type: ignore[union-attr]
        get = entry.get
        append(ScoredEntry(
            entry["media_id"], get("permalink"), get("caption"), get("media_type"), get("timestamp"),
            get("like_count"), get("comments_count"), get("observed_at"), get("username"),
            get("display_name"), get("first_seen_at"), score, status, None, flags, None, moderation, detail,
            likes_counted, comments_counted, entry, r, later,
        ))
    sort_key = _sort_key(chain)
    # (key, input position, entry): positions are distinct, so entries are never
    # compared and equal keys keep the input order, as a stable sort would
    keyed = sorted([(sort_key(e), i, e) for i, e in enumerate(scored) if e.status == ELIGIBLE])
    cap = rules.max_entries_per_entrant
    ranked: list[ScoredEntry] = []
    keys: list[tuple] = []
    per_entrant: dict[str, int] = {}
    for key, _, entry in keyed:
        if cap is not None and entry.username:
            per_entrant[entry.username] = per_entrant.get(entry.username, 0) + 1
            if entry._later_checks is None:
                entry._later_checks = []
            if per_entrant[entry.username] > cap:
                entry.status = "over_entrant_cap"
                entry.detail = f"@{entry.username} already has {cap} better-ranked entr{'y' if cap == 1 else 'ies'}"
                entry._later_checks.append(("max_entries_per_entrant", False, entry.detail))
                continue
            entry._later_checks.append(("max_entries_per_entrant", True,
                                        f"entry {per_entrant[entry.username]} of at most {cap} for @{entry.username}"))
        ranked.append(entry)
        keys.append(key)
    for position, entry in enumerate(ranked, start=1):
        entry.rank = position
    last = len(chain) - 1
    for i in range(1, len(ranked)):
        before, after = ranked[i - 1], ranked[i]
        if before.score == after.score:
            # the key tuples hold each chain key's sort value, in chain order
            a, b = keys[i - 1], keys[i]
            key = next((chain[j] for j in range(1, len(chain)) if a[j] != b[j]), chain[last])
            for e in (before, after):
                if "tied" not in e.flags:
                    e.flags.append("tied")
            before.tie_break = key
            if after.tie_break is None:
                after.tie_break = key
    others = sorted([e for e in scored if e.status != ELIGIBLE], key=lambda e: _media_order(e.media_id))
    return ranked + others


# -- the read it ranked (formerly derby.store.read_entries) --

_ENTRIES_SQL = """
WITH visible_runs AS (
    SELECT id, started_at FROM poll_runs
    WHERE :as_of IS NULL OR (finished_at IS NOT NULL AND finished_at <= :as_of)
),
chosen AS (
    SELECT m.media_id,
        coalesce(
            -- without as_of, the newest snapshot when it is not after the freeze
            (SELECT l.snapshot_id FROM latest_snapshots l
             WHERE :as_of IS NULL AND l.media_id = m.media_id AND l.observed_at <= :freeze),
            (SELECT s.id FROM snapshots s JOIN visible_runs r ON r.id = s.poll_run_id
             WHERE s.media_id = m.media_id AND s.observed_at <= :freeze
             ORDER BY s.observed_at DESC, s.id DESC LIMIT 1),
            (SELECT s.id FROM snapshots s JOIN visible_runs r ON r.id = s.poll_run_id
             WHERE s.media_id = m.media_id ORDER BY s.observed_at, s.id LIMIT 1)) AS snapshot_id,
        (SELECT e.id FROM media_edits e
         WHERE e.media_id = m.media_id AND e.poll_run_id NOT IN (SELECT id FROM visible_runs)
         ORDER BY e.id LIMIT 1) AS edit_id
    FROM media m
    WHERE m.first_poll_run_id IS NULL OR m.first_poll_run_id IN (SELECT id FROM visible_runs)
)
SELECT m.media_id, m.first_seen_at,
       CASE WHEN e.id IS NULL THEN m.caption ELSE e.caption END AS caption,
       CASE WHEN e.id IS NULL THEN m.media_type ELSE e.media_type END AS media_type,
       CASE WHEN e.id IS NULL THEN m.permalink ELSE e.permalink END AS permalink,
       CASE WHEN e.id IS NULL THEN m.timestamp ELSE e.timestamp END AS timestamp,
       s.like_count, s.comments_count, s.observed_at,
       (SELECT username FROM entrant_links WHERE media_id = m.media_id AND linked_at <= :cutoff
        ORDER BY linked_at DESC, id DESC LIMIT 1) AS username,
       (SELECT display_name FROM entrant_links WHERE media_id = m.media_id AND linked_at <= :cutoff
        ORDER BY linked_at DESC, id DESC LIMIT 1) AS display_name,
       (SELECT id FROM moderation WHERE media_id = m.media_id AND at <= :cutoff
        ORDER BY at DESC, id DESC LIMIT 1) AS moderation_id
FROM chosen c
JOIN media m ON m.media_id = c.media_id
LEFT JOIN snapshots s ON s.id = c.snapshot_id
LEFT JOIN media_edits e ON e.id = c.edit_id
ORDER BY m.media_id
"""


def read_entries(db: sqlite_utils.Database, as_of: datetime | None = None,
                 freeze: datetime | None = None) -> list[dict]:
    """Return every stored media with the snapshot its score uses, as dicts.

    Keys: ``media_id, caption, media_type, permalink, timestamp`` (aware UTC or None),
    ``like_count, comments_count, observed_at`` (of the snapshot used; None when the
    media has none), ``observed_late`` (bool), ``first_seen_at``, ``username`` and
    ``display_name`` (of the imported entrant, else None) and ``moderation`` (the
    latest judge's action ``{"action", "reason", "by", "at"}``, or None).

    The snapshot used is the last one observed at or before ``freeze`` (the contest's
    end plus any grace; no limit when None); a media first observed after ``freeze``
    uses its first snapshot and is ``observed_late``.

    With ``as_of`` (aware) the result is what the database held then: only poll runs
    finished at or before it (media, snapshots and caption edits they brought), and
    entrant links and moderation recorded at or before it. A poll run that never
    finished (a crash) counts only when ``as_of`` is None.
    """
    cutoff = clock.to_store(as_of) if as_of else "9999"
    limit = min(t for t in (freeze, as_of) if t is not None) if (freeze or as_of) else None
    params = {"as_of": clock.to_store(as_of) if as_of else None, "cutoff": cutoff,
              "freeze": clock.to_store(limit) if limit else "9999"}
    # An empty history table needs no search per media (most contests import no
    # entrants, and moderation touches a handful of media).
    links = _any(db, "SELECT 1 FROM entrant_links WHERE linked_at <= ? LIMIT 1", cutoff)
    judged = _any(db, "SELECT 1 FROM moderation WHERE at <= ? LIMIT 1", cutoff)
    rows = db.conn.execute(_entries_sql(_ENTRIES_SQL, links, judged), params).fetchall()
    actions = _rows_by_key(db, "SELECT id, action, reason, by, at FROM moderation WHERE id IN ({})",
                           [r[11] for r in rows if r[11] is not None], "id") if judged else {}
    entries = []
    times: dict[str | None, datetime | None] = {None: None}  # poll times repeat across media
    parse = clock.from_store
    for (media_id, first_seen_at, caption, media_type, permalink, timestamp, like_count, comments_count,
         observed_at, username, display_name, moderation_id) in rows:
        observed = times.get(observed_at, _UNSEEN)
        if observed is _UNSEEN:
            observed = times[observed_at] = parse(observed_at)
        first_seen = times.get(first_seen_at, _UNSEEN)
        if first_seen is _UNSEEN:
            first_seen = times[first_seen_at] = parse(first_seen_at)
        action = actions.get(moderation_id) if moderation_id is not None else None
        entries.append({
            "media_id": media_id, "first_seen_at": first_seen, "caption": caption, "media_type": media_type,
            "permalink": permalink, "timestamp": parse(timestamp), "like_count": like_count,
            "comments_count": comments_count, "observed_at": observed,
            "username": username, "display_name": display_name,
            "observed_late": bool(freeze and observed and observed > freeze),
            "moderation": None if action is None else {
                "action": action["action"], "reason": action["reason"], "by": action["by"],
                "at": parse(action["at"])},
        })
    return entries


_UNSEEN = object()

def _entries_sql(sql: str, links: bool, judged: bool) -> str:
    if not links:
        start = sql.index("(SELECT username FROM entrant_links")
        end = sql.index("AS display_name")
        sql = sql[:start] + "NULL AS username,\n       NULL " + sql[end:]
    if not judged:
        start = sql.index("(SELECT id FROM moderation")
        end = sql.index("AS moderation_id")
        sql = sql[:start] + "NULL " + sql[end:]
    return sql


def _any(db: sqlite_utils.Database, sql: str, *params: object) -> bool:
    return db.conn.execute(sql, params).fetchone() is not None


def _rows_by_key(db: sqlite_utils.Database, sql: str, keys: list, key: str) -> dict:
    rows: dict = {}
    for chunk in _chunks(keys):
        for row in db.query(sql.format(", ".join("?" * len(chunk))), chunk):
            rows[row[key]] = row
    return rows


