"""Scoring: pure functions from stored entries and rules to scores, explanations and a
ranking. Standard library only. Nothing here reads the database or the clock: the
store hands over each entry with the snapshot to use (already frozen at the deadline),
its entrant and its latest moderation action.

The score of an entry (every term is listed, with its basis, in ``contributions``)::

    likes    = min(like_count, cap_likes)          (hidden likes: see hidden_likes)
    comments = min(comments_count, cap_comments)
    score    = points_per_like × likes
             + points_per_comment × comments
             + media_type_bonus[media_type]
             + extra_hashtag_bonus × (distinct contest hashtags in the caption − 1)
             + early_entry_bonus.points   if timestamp < start + early_entry_bonus.hours

rounded to 6 decimals. ``hidden_likes``: ``zero`` counts a missing like_count as 0;
``comments_only`` drops the likes term from *every* entry as soon as one candidate
entry hides its likes (likes are then not comparable); ``review`` holds entries with
hidden likes out of the ranking (status ``review``) until a judge reinstates them,
after which their likes count as 0.

Eligibility is checked in this order, the first failure giving the status:
disqualified by a judge, no timestamp, before the start, after the end, no caption /
no contest hashtag (``require_hashtag_in_caption``), no mention (``require_mention``, with or
without the ``@``: see :func:`derby.text.caption_handles`),
held for review (``hidden_likes = review``), over the entrant's cap
(``max_entries_per_entrant``: only the best N entries of one entrant, in ranking
order, are ranked). Ranking follows the ``tie_break`` chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from derby.rules import DEFAULT_TIE_BREAK, format_value
from derby.text import caption_hashtags, mentions

ELIGIBLE = "eligible"
REASONS = {
    "disqualified": "disqualified by a judge",
    "no_timestamp": "the feed gave no timestamp for this post",
    "before_start": "posted before the contest started",
    "after_end": "posted after the contest closed",
    "no_caption": "no caption, so no contest hashtag in it",
    "missing_hashtag": "no contest hashtag in the caption",
    "missing_mention": "the caption does not mention the required account (with or without @)",
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
                rules: Mapping[str, object]) -> str:
    """Return ``eligible`` or the status key saying why ``entry`` is not, from the
    entry alone (judges' moderation, the review hold and the entrant cap are applied
    by :func:`rank_entries`). The window is [start, end], inclusive, on the post's
    own ``timestamp``."""
    return _checks(entry, list(hashtags), start, end, rules)[0]


def _checks(entry: Mapping, tags: list[str], start: datetime, end: datetime,
            rules: Mapping[str, object]) -> tuple[str, list[tuple[str, bool, str]]]:
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
    if rules.get("require_hashtag_in_caption", True):
        found = contest_tags(caption, tags)
        if not caption:
            check("require_hashtag_in_caption", False, "no caption", "no_caption")
        else:
            check("require_hashtag_in_caption", bool(found),
                  f"caption holds #{', #'.join(found)}" if found else "no contest hashtag in the caption",
                  "missing_hashtag")
    mention = rules.get("require_mention")
    if mention:
        present = mentions(caption, mention)
        check("require_mention", present, f"caption {'mentions' if present else 'does not mention'} @{mention}",
              "missing_mention")
    return status, checks


def score_entry(entry: Mapping, rules: Mapping[str, object], hashtags: Iterable[str] = (),
                start: datetime | None = None, *,
                count_likes: bool = True) -> tuple[float, dict[str, float], list[str]]:
    """Return (score, points per rule, flags) of one entry's snapshot.

    ``hashtags`` and ``start`` are needed only by the hashtag and early-entry bonuses.
    ``count_likes`` False drops the likes term (``hidden_likes = comments_only``).
    """
    score, contributions, flags, _, _ = _score(entry, rules, list(hashtags), start, count_likes)
    return score, {c.rule: c.points for c in contributions}, flags


def _score(entry: Mapping, rules: Mapping[str, object], tags: list[str], start: datetime | None,
           count_likes: bool) -> tuple[float, list[Contribution], list[str], float, float]:
    flags: list[str] = []
    contributions: list[Contribution] = []
    if entry.get("observed_at") is None:
        flags.append("no_snapshot")
    elif entry.get("observed_late"):
        flags.append("observed_late")
    likes = entry.get("like_count")
    comments = entry.get("comments_count") or 0
    per_like = float(rules["points_per_like"])  # type: ignore[arg-type]
    per_comment = float(rules["points_per_comment"])  # type: ignore[arg-type]
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
        likes_counted, basis = _capped(likes, rules.get("cap_likes"), "likes")
        if likes_counted != likes:
            flags.append("capped")
        contributions.append(Contribution("points_per_like", f"{basis} × {format_value(per_like)}",
                                          per_like * likes_counted))
    comments_counted, basis = _capped(comments, rules.get("cap_comments"), "comments")
    if comments_counted != comments and "capped" not in flags:
        flags.append("capped")
    contributions.append(Contribution("points_per_comment", f"{basis} × {format_value(per_comment)}",
                                      per_comment * comments_counted))
    bonus = rules.get("media_type_bonus") or {}
    media_type = entry.get("media_type")
    if bonus and media_type in bonus:  # type: ignore[operator]
        contributions.append(Contribution("media_type_bonus", f"media type {media_type}",
                                          float(bonus[media_type])))  # type: ignore[index]
    per_tag = float(rules.get("extra_hashtag_bonus") or 0)  # type: ignore[arg-type]
    if per_tag:
        found = contest_tags(entry.get("caption"), tags)
        extra = max(len(found) - 1, 0)
        contributions.append(Contribution("extra_hashtag_bonus",
                                          f"{extra} extra contest hashtag{'s' if extra != 1 else ''} × "
                                          f"{format_value(per_tag)}", per_tag * extra))
    early = rules.get("early_entry_bonus")
    timestamp = entry.get("timestamp")
    if early and start is not None and timestamp is not None:
        limit = start + timedelta(hours=early["hours"])  # type: ignore[index]
        within = start <= timestamp < limit
        contributions.append(Contribution(
            "early_entry_bonus",
            f"posted {'within' if within else 'after'} the first {format_value(early['hours'])} h",  # type: ignore[index]
            float(early["points"]) if within else 0.0))  # type: ignore[index]
    score = round(sum(c.points for c in contributions), 6) + 0.0
    return score, contributions, flags, likes_counted, comments_counted


def _capped(count: int, cap: object, noun: str) -> tuple[int, str]:
    if cap is not None and count > cap:  # type: ignore[operator]
        return cap, f"{count} {noun}, capped at {cap}"  # type: ignore[return-value]
    return count, f"{count} {noun}"


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

    def __init__(self, rules: Mapping[str, object], tags: list[str], start: datetime, end: datetime) -> None:
        self.rules, self.tags, self.tag_set, self.start, self.end = rules, tags, set(tags), start, end
        self.count_likes = True
        self.per_like = float(rules["points_per_like"])  # type: ignore[arg-type]
        self.per_comment = float(rules["points_per_comment"])  # type: ignore[arg-type]
        self.cap_likes = rules.get("cap_likes")
        self.cap_comments = rules.get("cap_comments")
        self.bonus = rules.get("media_type_bonus") or {}
        self.per_tag = float(rules.get("extra_hashtag_bonus") or 0)  # type: ignore[arg-type]
        early = rules.get("early_entry_bonus")
        self.early = bool(early) and start is not None
        self.early_limit = start + timedelta(hours=early["hours"]) if self.early else None  # type: ignore[index]
        self.early_points = float(early["points"]) if self.early else 0.0  # type: ignore[index]
        self.require_hashtag = bool(rules.get("require_hashtag_in_caption", True))
        self.mention = rules.get("require_mention")
        self.policy = rules.get("hidden_likes", "zero")

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
        if self.mention and not mentions(caption, self.mention):
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
            if cap is not None and likes > cap:  # type: ignore[operator]
                likes_counted = cap  # type: ignore[assignment]
                flags.append("capped")
            else:
                likes_counted = likes
            points = [self.per_like * likes_counted]
        cap = self.cap_comments
        comments_counted = comments
        if cap is not None and comments > cap:  # type: ignore[operator]
            comments_counted = cap
            if "capped" not in flags:
                flags.append("capped")
        points.append(self.per_comment * comments_counted)
        bonus = self.bonus
        if bonus:
            media_type = entry.get("media_type")
            if media_type in bonus:  # type: ignore[operator]
                points.append(float(bonus[media_type]))  # type: ignore[index]
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
                 rules: Mapping[str, object]) -> list[ScoredEntry]:
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
    chain = list(rules.get("tie_break") or DEFAULT_TIE_BREAK)  # type: ignore[call-overload]
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
    cap = rules.get("max_entries_per_entrant")
    ranked: list[ScoredEntry] = []
    keys: list[tuple] = []
    per_entrant: dict[str, int] = {}
    for key, _, entry in keyed:
        if cap is not None and entry.username:
            per_entrant[entry.username] = per_entrant.get(entry.username, 0) + 1
            if entry._later_checks is None:
                entry._later_checks = []
            if per_entrant[entry.username] > cap:  # type: ignore[operator]
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
