"""Scoring: the ranking formula as SQL built from the typed rules, and the explanation
of its columns. Standard library only; nothing here executes SQL (``store`` does) or
reads the clock.

The score of an entry (each term is a column of the ranking query, and a line of
``contributions``)::

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
no contest hashtag (``require_hashtag_in_caption``), no @mention (``require_mention``),
held for review (``hidden_likes = review``), over the entrant's cap
(``max_entries_per_entrant``: only the best N entries of one entrant, in ranking
order, are ranked). Ranking follows the ``tie_break`` chain. A caption's hashtags and
mentions are normalized once, when it is stored (:func:`derby.text.caption_words`);
whether they hold a contest hashtag or the required account is decided in SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from derby.rules import Rules, format_value
from derby.units import plural

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
    """One media with its score and standing, decoded from a row of the ranking query.

    ``status`` is ``eligible`` or a key of :data:`REASONS`; ``rank`` is None unless
    eligible; ``flags`` holds ``hidden_likes``, ``likes_not_counted``,
    ``observed_late``, ``no_snapshot``, ``capped`` and ``tied``; ``tie_break`` is the
    chain key that separated a tied entry from its neighbour (None when not tied);
    ``points`` maps each rule to its points; ``contributions`` explains them;
    ``checks`` lists the eligibility checks made as (check, passed, note); both are
    built from the row's per-rule columns. ``moderation`` is the judges' latest action
    ``{"action", "reason", "by", "at"}`` or None. Times are aware UTC.
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
    # the ranking row, its rules and contest, for the explanation
    _row: Mapping | None = field(default=None, repr=False, compare=False)
    _rules: Rules | None = field(default=None, repr=False, compare=False)
    _terms: ContestTerms | None = field(default=None, repr=False, compare=False)
    fresh: object = field(default=None, repr=False, compare=False)
    """The entry's engagement freshness (a :class:`derby.freshness.Freshness`), set
    by the standings that read it."""

    @property
    def contributions(self) -> list[Contribution]:
        """Each term of the score with its basis, in rule order."""
        if self._row is None or self._rules is None:
            return []
        return contributions(self._row, self._rules)

    @property
    def points(self) -> dict[str, float]:
        """Points per rule, ``{rule: points}``, in rule order."""
        return {c.rule: c.points for c in self.contributions}

    @property
    def checks(self) -> list[tuple[str, bool, str]]:
        """The eligibility checks made, as (check, passed, note), in the order made."""
        if self._row is None or self._rules is None or self._terms is None:
            return []
        return checks(self._row, self._rules, self._terms, self.moderation, self.detail)

    @property
    def reason(self) -> str | None:
        """A sentence saying why the entry is not ranked, or None when eligible."""
        if self.status == ELIGIBLE:
            return None
        return self.detail or REASONS.get(self.status)


class RowColumns(Mapping):
    """One ranking row read by column name (``row[name]``), for the explanation: the
    row (a sequence) and the shared ``{column: position}`` of its query."""

    __slots__ = ("_values", "_index")

    def __init__(self, values, index: Mapping[str, int]) -> None:
        self._values, self._index = values, index

    def __getitem__(self, name: str):
        return self._values[self._index[name]]

    def __iter__(self):
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


def entry_decoder(columns: Iterable[str], rules: Rules, terms: ContestTerms,
                  parse: Callable) -> Callable[[object], ScoredEntry]:
    """Return the function that makes the :class:`ScoredEntry` of one row of a ranking
    query (:func:`ranking_query`, :func:`live_ranking_query`) whose columns are
    ``columns``, in order (the row: a sequence of their values); ``parse`` turns stored
    time text into aware UTC."""
    index = {name: i for i, name in enumerate(columns)}
    (media_id, permalink, caption, media_type, timestamp, like_count, comments_count, observed_at, username,
     display_name, first_seen_at, score, status_at, rank, flags_text, tie_break, action, reason, by, at, likes_eff,
     comments_counted) = (index[c] for c in (
        "media_id", "permalink", "caption", "media_type", "timestamp", "like_count", "comments_count", "observed_at",
        "username", "display_name", "first_seen_at", "score", "status", "rank", "flags_text", "tie_break", "action",
        "moderation_reason", "moderation_by", "moderation_at", "likes_eff", "comments_counted"))
    cap = rules.max_entries_per_entrant

    def decode(row) -> ScoredEntry:
        status = row[status_at]
        moderation = detail = None
        if row[action] is not None:
            moderation = {"action": row[action], "reason": row[reason], "by": row[by], "at": parse(row[at])}
            if status == "disqualified":
                detail = f"disqualified by {moderation.get('by')}: {moderation.get('reason')}"
        if status == "over_entrant_cap":
            detail = f"@{row[username]} already has {cap} better-ranked entr{'y' if cap == 1 else 'ies'}"
        flags = row[flags_text]
        return ScoredEntry(
            row[media_id], row[permalink], row[caption], row[media_type], parse(row[timestamp]), row[like_count],
            row[comments_count], parse(row[observed_at]), row[username], row[display_name], parse(row[first_seen_at]),
            row[score], status, row[rank], flags.split() if flags else [], row[tie_break], moderation, detail,
            row[likes_eff], row[comments_counted], RowColumns(row, index), rules, terms)
    return decode


def scored_entry(row: Mapping, rules: Rules, terms: ContestTerms, parse: Callable) -> ScoredEntry:
    """Return the :class:`ScoredEntry` of one row of :func:`ranking_query` given as a
    mapping of its columns (see :func:`entry_decoder` to decode many rows)."""
    columns = list(row.keys())
    return entry_decoder(columns, rules, terms, parse)([row[c] for c in columns])


def contributions(row: Mapping, rules: Rules) -> list[Contribution]:
    """Return the terms of a ranking row's score, each with its basis, in rule order."""
    terms: list[Contribution] = []
    per_like, per_comment = format_value(rules.points_per_like), format_value(rules.points_per_comment)
    likes, comments = row["like_count"], row["comments_count"] or 0
    if not row["count_likes"]:
        terms.append(Contribution("points_per_like", "likes not counted: some entries hide theirs "
                                  "(hidden_likes = comments_only)", 0.0))
    elif likes is None:
        terms.append(Contribution("points_per_like", "likes hidden: counted as 0 likes", 0.0))
    else:
        capped = f", capped at {rules.cap_likes}" if row["capped_likes"] else ""
        terms.append(Contribution("points_per_like", f"{plural(likes, 'like', 'likes')}{capped} × {per_like}",
                                  row["pts_like"]))
    capped = f", capped at {rules.cap_comments}" if row["capped_comments"] else ""
    terms.append(Contribution("points_per_comment", f"{plural(comments, 'comment', 'comments')}{capped} × "
                              f"{per_comment}", row["pts_comment"]))
    if row["pts_media_type"] is not None:
        terms.append(Contribution("media_type_bonus", f"media type {row['media_type']}", row["pts_media_type"]))
    if row["pts_extra"] is not None:
        extra = row["extra_tags"]
        terms.append(Contribution("extra_hashtag_bonus", f"{extra} extra contest hashtag{'s' if extra != 1 else ''} "
                                  f"× {format_value(rules.extra_hashtag_bonus)}", row["pts_extra"]))
    early = rules.early_entry_bonus
    if row["pts_early"] is not None and early is not None:
        terms.append(Contribution("early_entry_bonus", f"posted {'within' if row['early_within'] else 'after'} "
                                  f"the first {format_value(early.hours)} h", row["pts_early"]))
    return terms


def checks(row: Mapping, rules: Rules, terms: ContestTerms, moderation: Mapping | None,
           detail: str | None) -> list[tuple[str, bool, str]]:
    """Return the eligibility checks of a ranking row as (check, passed, note), in the
    order they are made."""
    made: list[tuple[str, bool, str]] = []
    if row["status"] == "disqualified" and moderation is not None:
        made.append(("moderation", False, detail or ""))
    window = row["st_window"]
    notes = {"no_timestamp": "the feed gave no timestamp", "before_start": "posted before the start",
             "after_end": "posted after the end"}
    made.append(("window", window is None, notes.get(window, "posted between the start and the end")))
    if rules.require_hashtag_in_caption:
        if row["caption_empty"]:
            made.append(("require_hashtag_in_caption", False, "no caption"))
        else:
            found = [t for t in (row["caption_hashtags"] or "").split() if t in terms.hashtags]
            made.append(("require_hashtag_in_caption", bool(found),
                         f"caption holds #{', #'.join(found)}" if found else "no contest hashtag in the caption"))
    if rules.require_mention:
        present = bool(row["mention_ok"])
        made.append(("require_mention", present,
                     f"caption {'mentions' if present else 'does not mention'} @{rules.require_mention}"))
    if row["review_check"]:
        if row["reinstated"]:
            made.append(("hidden_likes", True, f"likes hidden; cleared by {(moderation or {}).get('by')}"))
        else:
            made.append(("hidden_likes", False, "likes hidden: held for a judge (hidden_likes = review)"))
    if row["entrant_n"] is not None:
        cap = rules.max_entries_per_entrant
        if row["status"] == "over_entrant_cap":
            made.append(("max_entries_per_entrant", False, detail or ""))
        else:
            made.append(("max_entries_per_entrant", True, f"entry {row['entrant_n']} of at most {cap} "
                         f"for @{row['username']}"))
    return made
# -- the ranking, in SQL ---------------------------------------------------------------
#
# The ranking is one SQL query built here from the typed rules: rule values are bound
# parameters, and the SQL text depends only on which rule kinds are in use. It runs
# in three stages, each a named relation:
#
#   entry   one row per media: the caption version, the snapshot and the entrant and
#           moderation to use (live, or as of a moment);
#   scored  per-entry columns: each rule's status check and points, the score with and
#           without the likes term (see entry_columns; team rankings aggregate these);
#   ranked  what depends on other entries: hidden_likes = comments_only, the review
#           hold, the entrant cap, rank, ties and the tie-break key (see rank_columns).
#
# The explanation (ScoredEntry.contributions and .checks) is built from the scored
# columns of the same row, so the ranking and its explanation cannot disagree.

@dataclass(frozen=True)
class Query:
    """SQL text and its named parameters, for the store to execute."""

    sql: str
    params: dict[str, object]


@dataclass(frozen=True)
class ContestTerms:
    """What the ranking needs of the contest: normalized ``hashtags``, the window
    ``start``..``end`` and ``freeze`` (when engagement stops counting), aware UTC."""

    hashtags: tuple[str, ...]
    start: datetime
    end: datetime
    freeze: datetime


STORED_COLUMNS = (
    "media_id", "first_seen_at", "media_type", "timestamp", "caption_hashtags", "caption_empty", "like_count",
    "comments_count", "observed_at", "observed_late", "username", "display_name", "moderation_id", "action",
    "moderation_reason", "moderation_by", "moderation_at", "st_window",
    "found_tags", "mention_ok", "base_status", "hidden", "reinstated", "likes_counted", "capped_likes",
    "comments_counted", "capped_comments", "pts_like", "pts_comment", "pts_media_type", "extra_tags", "pts_extra",
    "pts_early", "early_within", "score_likes", "score_no_likes", "media_key",
)
"""The per-entry columns (the ``scored`` stage) kept in ``entry_scores`` for the live
board, in table order."""


def _store_time(moment: datetime) -> str:
    from derby.clock import to_store

    return to_store(moment)


def entry_sql(*, as_of: datetime | None, freeze: datetime, links: bool, judged: bool,
              only_ids: bool = False, window_hours: float | None = None) -> tuple[str, dict[str, object]]:
    """Return the ``entry`` stage: SQL text of CTEs ending in ``entry`` and its
    parameters. Live (``as_of`` None) every stored row counts; with ``as_of`` only poll
    runs finished by then, caption versions, entrant links and moderation recorded by
    then. The snapshot used is the last one observed at or before ``freeze`` (and
    ``as_of``), else the first one (the entry is then ``observed_late``). ``links`` /
    ``judged`` False skip the entrant / moderation searches (none recorded);
    ``only_ids`` restricts to the media ids of the JSON list ``:ids``. The entrant is
    the entrant list's, else the author a refresh named. A refresh of the final sweep
    (the first poll after the freeze) counts as the engagement at the freeze; with
    ``window_hours`` (the rule ``engagement_window_hours``) each media's limit is its
    timestamp plus that many hours when earlier (see :func:`window_limit`)."""
    limit = min(freeze, as_of) if as_of is not None else freeze
    params: dict[str, object] = {"as_of": _store_time(as_of) if as_of else None,
                                 "cutoff": _store_time(as_of) if as_of else "9999",
                                 "limit": _store_time(limit), "freeze": _store_time(freeze),
                                 "dead": "{}"}  # poll runs whose process died: {id: end}, filled by the store
    restrict = "AND m.media_id IN (SELECT value FROM json_each(:ids))" if only_ids else ""
    username = ("coalesce((SELECT username FROM entrant_links WHERE media_id = m.media_id AND linked_at <= :cutoff "
                "ORDER BY linked_at DESC, id DESC LIMIT 1), (SELECT username FROM media_authors "
                "WHERE media_id = m.media_id AND at <= :cutoff ORDER BY at DESC, id DESC LIMIT 1))") if links else "NULL"
    display = ("(SELECT display_name FROM entrant_links WHERE media_id = m.media_id AND linked_at <= :cutoff "
               "ORDER BY linked_at DESC, id DESC LIMIT 1)") if links else "NULL"
    moderation = ("(SELECT id FROM moderation WHERE media_id = m.media_id AND at <= :cutoff "
                  "ORDER BY at DESC, id DESC LIMIT 1)") if judged else "NULL"
    sql = f"""
visible_runs AS (
    SELECT id, final_sweep FROM poll_runs WHERE :as_of IS NULL OR (finished_at IS NOT NULL AND finished_at <= :as_of)
        OR id IN (SELECT key FROM json_each(:dead) WHERE value <= :as_of)
),
chosen AS (
    SELECT m.media_id,
        coalesce(
            (SELECT l.snapshot_id FROM latest_snapshots l
             WHERE :as_of IS NULL AND l.media_id = m.media_id AND l.observed_at <= :limit),
            -- a final sweep's refresh counts as the engagement at the freeze
            (SELECT s.id FROM snapshots s
             WHERE s.media_id = m.media_id AND s.source IN ('mentioned_media', 'business_discovery')
               AND s.poll_run_id IN (SELECT id FROM visible_runs WHERE final_sweep = 1) AND :freeze >= :freeze
             ORDER BY s.observed_at DESC, s.id DESC LIMIT 1),
            (SELECT s.id FROM snapshots s JOIN visible_runs r ON r.id = s.poll_run_id
             WHERE s.media_id = m.media_id AND s.observed_at <= :limit
             ORDER BY s.observed_at DESC, s.id DESC LIMIT 1),
            (SELECT s.id FROM snapshots s JOIN visible_runs r ON r.id = s.poll_run_id
             WHERE s.media_id = m.media_id ORDER BY s.observed_at, s.id LIMIT 1)) AS snapshot_id,
        CASE WHEN :as_of IS NOT NULL THEN (SELECT e.id FROM media_edits e
             WHERE e.media_id = m.media_id AND e.poll_run_id NOT IN (SELECT id FROM visible_runs)
             ORDER BY e.id LIMIT 1) END AS edit_id,
        {username} AS username, {display} AS display_name, {moderation} AS moderation_id
    FROM media m
    WHERE (m.first_poll_run_id IS NULL OR m.first_poll_run_id IN (SELECT id FROM visible_runs)) {restrict}
),
entry AS (
    SELECT m.media_id, m.first_seen_at,
        CASE WHEN e.id IS NULL THEN m.caption ELSE e.caption END AS caption,
        CASE WHEN e.id IS NULL THEN m.caption_hashtags ELSE e.caption_hashtags END AS caption_hashtags,
        CASE WHEN e.id IS NULL THEN m.caption_mentions ELSE e.caption_mentions END AS caption_mentions,
        CASE WHEN e.id IS NULL THEN m.media_type ELSE e.media_type END AS media_type,
        CASE WHEN e.id IS NULL THEN m.permalink ELSE e.permalink END AS permalink,
        CASE WHEN e.id IS NULL THEN m.timestamp ELSE e.timestamp END AS timestamp,
        s.like_count, s.comments_count, s.observed_at,
        coalesce(s.observed_at > :freeze AND NOT (s.source IN ('mentioned_media', 'business_discovery')
            AND s.poll_run_id IN (SELECT id FROM visible_runs WHERE final_sweep = 1)), 0) AS observed_late,
        c.username, c.display_name, c.moderation_id, mo.action,
        mo.reason AS moderation_reason, mo.by AS moderation_by, mo.at AS moderation_at
    FROM chosen c
    JOIN media m ON m.media_id = c.media_id
    LEFT JOIN snapshots s ON s.id = c.snapshot_id
    LEFT JOIN media_edits e ON e.id = c.edit_id
    LEFT JOIN moderation mo ON mo.id = c.moderation_id
)"""
    if window_hours is not None:
        sql = window_limit(sql, "m.timestamp")
        params["window"] = f"+{int(round(window_hours * 3600))} seconds"
    return sql, params


def window_limit(sql: str, timestamp: str) -> str:
    """Return the ``entry`` stage ``sql`` under the rule ``engagement_window_hours``:
    each limit (``:limit``, ``:freeze``) becomes the media's own, its ``timestamp`` (a
    stored UTC text column) plus ``:window`` (an SQLite modifier such as ``'+172800
    seconds'``) when that is earlier; a final sweep's readings count only for media whose
    window reaches the freeze. A media without a timestamp keeps the limits as they are."""
    def own(limit: str) -> str:
        return (f"(CASE WHEN {timestamp} IS NULL THEN {limit} ELSE "
                f"min({limit}, strftime('%Y-%m-%dT%H:%M:%SZ', {timestamp}, :window)) END)")
    return (sql.replace(":freeze >= :freeze", f"{own(':freeze')} >= :freeze")
               .replace("<= :limit", f"<= {own(':limit')}")
               .replace("s.observed_at > :freeze", f"s.observed_at > {own(':freeze')}"))


# Per-entry columns, one function per rule kind (or group of kinds that share a
# column). Each returns ([(column, SQL expression)], parameters); expressions read the
# columns of the stage before (``entry``, then ``checked``).

Columns = tuple[list[tuple[str, str]], dict[str, object]]


def _window_status(terms: ContestTerms) -> Columns:
    return ([("st_window", "CASE WHEN timestamp IS NULL THEN 'no_timestamp' WHEN timestamp < :start "
                           "THEN 'before_start' WHEN timestamp > :end THEN 'after_end' END")],
            {"start": _store_time(terms.start), "end": _store_time(terms.end)})


def _contest_hashtags(terms: ContestTerms) -> Columns:
    # the number of distinct contest hashtags the caption holds as whole tags
    tags = list(dict.fromkeys(terms.hashtags))
    params = {f"tag{i}": f" {tag} " for i, tag in enumerate(tags)}
    count = " + ".join(f"(instr(coalesce(caption_hashtags, ''), :tag{i}) > 0)" for i in range(len(tags))) or "0"
    return [("found_tags", count), ("caption_empty", "coalesce(caption, '') = ''")], params


def _require_hashtag(rules: Rules) -> Columns:
    if not rules.require_hashtag_in_caption:
        return [("st_hashtag", "NULL")], {}
    return [("st_hashtag", "CASE WHEN caption_empty THEN 'no_caption' WHEN found_tags = 0 "
                           "THEN 'missing_hashtag' END")], {}


def _require_mention(rules: Rules) -> Columns:
    if rules.require_mention is None:
        return [("mention_ok", "NULL"), ("st_mention", "NULL")], {}
    return ([("mention_ok", "instr(coalesce(caption_mentions, ''), :mention) > 0"),
             ("st_mention", "CASE WHEN instr(coalesce(caption_mentions, ''), :mention) = 0 "
                            "THEN 'missing_mention' END")],
            {"mention": f" {rules.require_mention} "})


def _likes(rules: Rules) -> Columns:
    if rules.cap_likes is None:
        counted, capped = "coalesce(like_count, 0)", "0"
    else:
        counted = "CASE WHEN like_count > :cap_likes THEN :cap_likes ELSE coalesce(like_count, 0) END"
        capped = "coalesce(like_count > :cap_likes, 0)"
    return ([("hidden", "like_count IS NULL AND observed_at IS NOT NULL"), ("likes_counted", counted),
             ("capped_likes", capped), ("pts_like", f":per_like * ({counted})")],
            {"per_like": rules.points_per_like, "cap_likes": rules.cap_likes})


def _comments(rules: Rules) -> Columns:
    if rules.cap_comments is None:
        counted, capped = "coalesce(comments_count, 0)", "0"
    else:
        counted = ("CASE WHEN coalesce(comments_count, 0) > :cap_comments THEN :cap_comments "
                   "ELSE coalesce(comments_count, 0) END")
        capped = "coalesce(comments_count, 0) > :cap_comments"
    return ([("comments_counted", counted), ("capped_comments", capped),
             ("pts_comment", f":per_comment * ({counted})")],
            {"per_comment": rules.points_per_comment, "cap_comments": rules.cap_comments})


def _media_type_bonus(rules: Rules) -> Columns:
    if not rules.media_type_bonus:
        return [("pts_media_type", "NULL")], {}
    cases = " ".join(f"WHEN :bonus_type{i} THEN :bonus_points{i}" for i in range(len(rules.media_type_bonus)))
    params: dict[str, object] = {}
    for i, (kind, points) in enumerate(rules.media_type_bonus):
        params[f"bonus_type{i}"], params[f"bonus_points{i}"] = kind, points
    return [("pts_media_type", f"CASE media_type {cases} END")], params


def _extra_hashtag_bonus(rules: Rules) -> Columns:
    extra = "max(found_tags - 1, 0)"
    if not rules.extra_hashtag_bonus:
        return [("extra_tags", extra), ("pts_extra", "NULL")], {}
    return [("extra_tags", extra), ("pts_extra", f":per_tag * {extra}")], {"per_tag": rules.extra_hashtag_bonus}


def _early_entry_bonus(rules: Rules, terms: ContestTerms) -> Columns:
    early = rules.early_entry_bonus
    if early is None:
        return [("early_within", "NULL"), ("pts_early", "NULL")], {}
    within = "timestamp >= :start AND timestamp < :early_until"
    return ([("early_within", f"CASE WHEN timestamp IS NOT NULL THEN {within} END"),
             ("pts_early", f"CASE WHEN timestamp IS NULL THEN NULL WHEN {within} THEN :early_points ELSE 0.0 END")],
            {"early_until": _store_time(terms.start + timedelta(hours=early.hours)), "early_points": early.points,
             "start": _store_time(terms.start)})


def _moderation() -> Columns:
    return [("reinstated", "coalesce(action = 'reinstate', 0)")], {}


def _media_key() -> Columns:
    # one text that sorts as the media id order: all-digit ids first, numerically
    # (length of the number without leading zeros, then its digits), then the id
    digits = "media_id <> '' AND media_id NOT GLOB '*[^0-9]*'"
    return [("media_key", f"CASE WHEN {digits} THEN '0' || substr('00000' || length(ltrim(media_id, '0')), -5) "
                          f"|| ltrim(media_id, '0') || ' ' || media_id ELSE '1' || media_id END")], {}


def _merge(parts: Iterable[Columns]) -> Columns:
    columns: list[tuple[str, str]] = []
    params: dict[str, object] = {}
    for cols, values in parts:
        columns.extend(cols)
        params.update(values)
    return columns, params


def entry_columns(rules: Rules, terms: ContestTerms, source: str = "entry") -> tuple[str, dict[str, object]]:
    """Return CTEs ``checked`` and ``scored`` (over ``source``, a relation with the
    columns of the ``entry`` stage) and their parameters:
    the per-entry columns of :data:`STORED_COLUMNS` (each rule's status check and
    points, ``base_status`` before the rules that compare entries, ``score_likes`` and
    ``score_no_likes`` rounded to 6 decimals)."""
    first, params = _merge([_window_status(terms), _contest_hashtags(terms), _likes(rules), _comments(rules),
                            _media_type_bonus(rules), _early_entry_bonus(rules, terms), _moderation(),
                            _media_key()])
    second, more = _merge([_require_hashtag(rules), _require_mention(rules), _extra_hashtag_bonus(rules)])
    params.update(more)
    bonuses = "coalesce(pts_media_type, 0.0) + coalesce(pts_extra, 0.0) + coalesce(pts_early, 0.0)"
    status = ("CASE WHEN action = 'disqualify' THEN 'disqualified' "
              "ELSE coalesce(st_window, st_hashtag, st_mention, 'eligible') END")
    sql = f"""
checked AS (
    SELECT *, {', '.join(f'{expr} AS {name}' for name, expr in first)} FROM {source}
),
checked2 AS (
    SELECT *, {', '.join(f'{expr} AS {name}' for name, expr in second)} FROM checked
),
scored AS MATERIALIZED (
    SELECT *, {status} AS base_status,
        round(pts_like + pts_comment + {bonuses}, 6) + 0.0 AS score_likes,
        round(0.0 + pts_comment + {bonuses}, 6) + 0.0 AS score_no_likes
    FROM checked2
)"""
    return sql, params


_TIE_KEY_COLUMNS = {"score": "score", "comments": "comments_counted", "likes": "likes_eff",
                    "timestamp": "timestamp", "first_seen": "first_seen_at"}


def _order_by(chain: tuple[str, ...]) -> str:
    terms = []
    for key in chain:
        if key == "media_id":
            terms.append("media_key")
        elif key in ("score", "comments", "likes"):
            terms.append(f"{_TIE_KEY_COLUMNS[key]} DESC")
        else:
            terms.append(_TIE_KEY_COLUMNS[key])
    return ", ".join(terms)


def _tie_key(chain: tuple[str, ...], other: str) -> str:
    # the first chain key after score whose values differ from the neighbour's
    cases = " ".join(f"WHEN {_TIE_KEY_COLUMNS[k]} IS NOT {other}_{k} THEN '{k}'" for k in chain[1:-1])
    return f"CASE {cases} ELSE '{chain[-1]}' END" if cases else f"'{chain[-1]}'"


def _carried(source: str) -> tuple[str, str]:
    """(the columns the windows sort, the select of ``ranked``). A table is joined
    back by its primary key after the windows; a relation of the same query (no index
    to join on) is carried whole through them instead."""
    narrow = source == "entry_scores"
    a, b = ("sc.", "t.") if narrow else ("", "")
    flags = " || ".join([
        f"CASE WHEN {a}observed_at IS NULL THEN ' no_snapshot' WHEN {a}observed_late THEN ' observed_late' ELSE '' END",
        f"CASE WHEN {a}hidden THEN ' hidden_likes' ELSE '' END",
        f"CASE WHEN {b}count_likes THEN '' ELSE ' likes_not_counted' END",
        f"CASE WHEN ({b}count_likes AND {a}capped_likes) OR {a}capped_comments THEN ' capped' ELSE '' END",
        f"CASE WHEN {b}tie_break IS NOT NULL THEN ' tied' ELSE '' END",
    ])
    if not narrow:
        return "sc.*", f"*, ltrim({flags}) AS flags_text FROM tied"
    return ("sc.media_id, sc.media_key, sc.comments_counted, sc.timestamp, sc.first_seen_at, sc.username, sc.hidden",
            f"sc.*, t.count_likes, t.score, t.likes_eff, t.review_check, t.entrant_n, t.status, t.rank, "
            f"t.tie_break, ltrim({flags}) AS flags_text FROM tied t JOIN {source} AS sc ON sc.media_id = t.media_id")


def _held_status(policy: str, row: str) -> str:
    # the review hold: an eligible entry hiding its likes waits for a judge
    return (f"CASE WHEN {policy} = 'review' AND {row}.hidden AND NOT {row}.reinstated AND {row}.base_status = 'eligible' "
            f"THEN 'review' ELSE {row}.base_status END")


def rank_columns(rules: Rules, source: str, *, policy: str = ":policy", cap: str = ":cap",
                 top: int | None = None) -> tuple[str, dict[str, object]]:
    """Return the CTEs of the ``ranked`` stage over the per-entry relation ``source``
    (``scored`` or the ``entry_scores`` table), and their parameters. ``policy`` and
    ``cap`` are the SQL giving ``hidden_likes`` and ``max_entries_per_entrant`` (bound
    parameters, or a read of the rules table for the ``standings`` view). ``ranked``
    holds ``source``'s columns plus ``count_likes``, ``score``, ``likes_eff``,
    ``review_check``, ``entrant_n``, ``status``, ``rank``, ``tie_break`` and
    ``flags_text`` (space-separated flags). The windows sort narrow rows (the keys
    only); the full rows are joined back at the end. With ``top`` only the first
    ``top`` ranked entries are given (none of the others)."""
    chain = rules.tie_break
    order = _order_by(chain)
    keys = list(chain[1:-1])
    neighbours = "".join(f", lag({_TIE_KEY_COLUMNS[k]}) OVER w AS prev_{k}, lead({_TIE_KEY_COLUMNS[k]}) OVER w AS next_{k}"
                         for k in keys)
    if rules.max_entries_per_entrant is None:
        entrant = "NULL"
    else:
        entrant = (f"CASE WHEN held_status = 'eligible' AND username IS NOT NULL AND entrant_cap IS NOT NULL "
                   f"THEN row_number() OVER (PARTITION BY held_status = 'eligible' AND username IS NOT NULL, username "
                   f"ORDER BY {order}) END")
    if top is None:
        head, ranked_from = "", "placed"
    else:
        # the first top + 1 ranked rows only (the last one says whether the top-th is
        # tied): no sort of every entry, a scan keeping the best rows
        head = f"head AS (SELECT * FROM placed WHERE status = 'eligible' ORDER BY {order} LIMIT :top_rows),"
        ranked_from = "head"
    carried, ranked_select = _carried(source)
    sql = f"""
policy AS (
    SELECT {policy} AS hidden_likes, {cap} AS entrant_cap,
        {policy} <> 'comments_only'
        OR NOT EXISTS (SELECT 1 FROM {source} WHERE base_status = 'eligible' AND hidden) AS count_likes
),
keyed AS (
    SELECT {carried}, p.count_likes, p.entrant_cap,
        CASE WHEN p.count_likes THEN sc.score_likes ELSE sc.score_no_likes END AS score,
        CASE WHEN p.count_likes THEN sc.likes_counted ELSE 0 END AS likes_eff,
        {_held_status("p.hidden_likes", "sc")} AS held_status,
        p.hidden_likes = 'review' AND sc.hidden AS review_check
    FROM {source} AS sc, policy p
),
capped AS (
    SELECT *, {entrant} AS entrant_n FROM keyed
),
placed AS (
    SELECT *, CASE WHEN entrant_n > entrant_cap THEN 'over_entrant_cap' ELSE held_status END AS status FROM capped
),
{head}
neighbours AS (
    SELECT *, CASE WHEN status = 'eligible' THEN row_number() OVER w END AS rank,
        lag(score) OVER w AS prev_score, lead(score) OVER w AS next_score{neighbours}
    FROM {ranked_from} WINDOW w AS (PARTITION BY status = 'eligible' ORDER BY {order})
),
tied AS (
    SELECT *, CASE WHEN status <> 'eligible' THEN NULL
        WHEN score = next_score THEN {_tie_key(chain, 'next')}
        WHEN score = prev_score THEN {_tie_key(chain, 'prev')} END AS tie_break
    FROM neighbours
),
ranked AS (
    SELECT {ranked_select}
)"""
    params: dict[str, object] = {"policy": rules.hidden_likes, "cap": rules.max_entries_per_entrant}
    if top is not None:
        params["top_rows"], params["top"] = top + 1, top
        sql += ",\ntop_ranked AS (SELECT * FROM ranked WHERE rank <= :top)"
    return sql, params


def ranking_order() -> str:
    """ORDER BY of a ranking's rows: ranked ones by rank, then the others by media id."""
    return "rank IS NULL, rank, media_key"


def ranking_query(rules: Rules, terms: ContestTerms, *, as_of: datetime | None, links: bool = True,
                  judged: bool = True) -> Query:
    """Return the whole ranking as one query: every entry (ranked ones first in rank
    order, then the others by media id) with the columns of the ``ranked`` stage and
    ``caption``, ``permalink``. See :func:`entry_sql` for ``as_of``, ``links`` and
    ``judged``."""
    base, params = entry_sql(as_of=as_of, freeze=terms.freeze, links=links, judged=judged,
                             window_hours=rules.engagement_window_hours)
    scored, more = entry_columns(rules, terms)
    ranked, rank_params = rank_columns(rules, "scored")
    sql = f"WITH {base},{scored},{ranked}\nSELECT * FROM ranked ORDER BY {ranking_order()}"
    return Query(sql, {**params, **more, **rank_params})


def trend_query(rules: Rules, terms: ContestTerms, *, as_of: datetime | None, media_ids: list[str],
                count_likes: bool) -> Query:
    """Return the score of each of ``media_ids``' snapshots under ``rules``, as rows
    ``(media_id, observed_at, score)`` ordered by media and observation; the entry's
    caption version as of ``as_of`` (live when None), and only the snapshots of poll
    runs finished by then. ``count_likes`` False drops the likes term
    (``hidden_likes = comments_only`` in force). ``:ids`` is bound to the JSON list
    of ids by the caller's params."""
    import json

    base, params = entry_sql(as_of=as_of, freeze=terms.freeze, links=False, judged=False, only_ids=True)
    scored, more = entry_columns(rules, terms, source="series")
    series = """
series AS (
    SELECT e.media_id, e.first_seen_at, e.caption, e.caption_hashtags, e.caption_mentions, e.media_type,
        e.permalink, e.timestamp, s.like_count, s.comments_count, s.observed_at, s.id AS snapshot_id,
        0 AS observed_late, NULL AS username, NULL AS display_name, NULL AS moderation_id, NULL AS action,
        NULL AS moderation_reason, NULL AS moderation_by, NULL AS moderation_at
    FROM entry e JOIN snapshots s ON s.media_id = e.media_id JOIN visible_runs r ON r.id = s.poll_run_id
    WHERE s.observed_at <= :cutoff
)"""
    score = "score_likes" if count_likes else "score_no_likes"
    sql = (f"WITH {base},{series},{scored}\nSELECT media_id, observed_at, {score} AS score FROM scored "
           "ORDER BY media_id, observed_at, snapshot_id")
    return Query(sql, {**params, **more, "ids": json.dumps(media_ids)})


def scores_version(rules: Rules, terms: ContestTerms) -> str:
    """Return the text saying which rules and contest the stored per-entry columns
    (``entry_scores``) were computed for: a new value means they must be rebuilt."""
    import json

    return json.dumps({"rules": rules.values(), "hashtags": list(terms.hashtags), "start": _store_time(terms.start),
                       "end": _store_time(terms.end), "freeze": _store_time(terms.freeze)}, sort_keys=True)


def entry_scores_upsert(rules: Rules, terms: ContestTerms, *, only_ids: bool) -> Query:
    """Return the statement that stores the live per-entry columns
    (:data:`STORED_COLUMNS`) in ``entry_scores``: of every media, or with ``only_ids``
    of the media ids in the JSON list ``:ids`` (bound by the caller)."""
    base, params = entry_sql(as_of=None, freeze=terms.freeze, links=True, judged=True, only_ids=only_ids,
                             window_hours=rules.engagement_window_hours)
    scored, more = entry_columns(rules, terms)
    columns = ", ".join(STORED_COLUMNS)
    return Query(f"INSERT OR REPLACE INTO entry_scores ({columns})\nWITH {base},{scored}\n"
                 f"SELECT {columns} FROM scored", {**params, **more})


_LIVE_COLUMNS = (
    "media_id", "first_seen_at", "media_type", "timestamp", "caption_hashtags", "caption_empty", "like_count",
    "comments_count", "observed_at", "observed_late", "username", "display_name", "action", "moderation_reason",
    "moderation_by", "moderation_at", "st_window", "mention_ok", "reinstated", "capped_comments", "comments_counted",
    "capped_likes", "pts_like", "pts_comment", "pts_media_type", "extra_tags", "pts_extra", "pts_early",
    "early_within",
)
"""The stored per-entry columns a live ranking row carries (what the entry and its
explanation are built from)."""


def _neighbour_tie(chain: tuple[str, ...], keys: Mapping[str, str]) -> str:
    # the tie-break key of a ranked row, from the window ``w``'s neighbours
    def separated(side: str) -> str:
        cases = " ".join(f"WHEN {keys[k]} IS NOT {side}({keys[k]}) OVER w THEN '{k}'" for k in chain[1:-1])
        return f"CASE {cases} ELSE '{chain[-1]}' END" if cases else f"'{chain[-1]}'"
    score = keys["score"]
    return (f"CASE WHEN {score} = lead({score}) OVER w THEN {separated('lead')} "
            f"WHEN {score} = lag({score}) OVER w THEN {separated('lag')} END")


def live_ranking_query(rules: Rules, *, count_likes: bool, top: int | None = None,
                       extra: tuple[list[tuple[str, str]], dict[str, object]] | None = None) -> Query:
    """Return the live ranking over the stored per-entry columns (``entry_scores``,
    kept current by the store), with each media's ``caption`` and ``permalink``:
    every entry, ranked ones first in rank order then the others by media id, or with
    ``top`` the first ``top`` ranked ones only. ``count_likes`` False drops the likes
    term (``hidden_likes = comments_only`` while an eligible entry hides its likes:
    see :func:`derby.store.live_likes_counted`).

    The ranked rows are numbered by one window over narrow rows (the tie-break keys
    only: the sort carries no wide row); each row's stored columns, caption and
    permalink are joined as it is given out, in rank order (no second sort). (An
    index in the default tie-break order would spare that sort, about 8 % of a full
    read at 100k media, but every stored page then dirties one index page per media,
    which measured about 45 % slower ingest.) ``extra`` adds
    ``([(column, SQL over the entry's row sc)], parameters)`` to every row."""
    more = "".join(f", {sql} AS {name}" for name, sql in (extra[0] if extra else []))
    keys = {"score": "score_likes" if count_likes else "score_no_likes",
            "likes": "likes_counted" if count_likes else "0", "comments": "comments_counted",
            "timestamp": "timestamp", "first_seen": "first_seen_at", "media_id": "media_key"}
    chain = rules.tie_break
    order = ", ".join(f"{keys[k]} DESC" if k in ("score", "comments", "likes") else keys[k] for k in chain)
    review = rules.hidden_likes == "review"

    def held(t: str = "") -> str:  # held eligible: before the entrant cap
        return f"{t}base_status = 'eligible'" + (f" AND NOT ({t}hidden AND NOT {t}reinstated)" if review else "")
    cap = rules.max_entries_per_entrant
    limit = "" if top is None else "LIMIT :top_rows"
    window = f"row_number() OVER w AS rank, {_neighbour_tie(chain, keys)} AS tie_break"
    if cap is None:
        ctes = (f"n AS (SELECT media_id, NULL AS entrant_n, {window} FROM entry_scores WHERE {held()} "
                f"WINDOW w AS (ORDER BY {order}) {limit})")
        over, over_join = "", ""
    else:
        carried = ", ".join(dict.fromkeys(c for c in keys.values() if c != "0"))
        ctes = (f"c AS (SELECT media_id, username, {carried}, CASE WHEN username IS NOT NULL THEN row_number() "
                f"OVER (PARTITION BY username ORDER BY {order}) END AS entrant_n FROM entry_scores WHERE {held()}),\n"
                f"n AS (SELECT media_id, entrant_n, {window} FROM c WHERE entrant_n IS NULL OR entrant_n <= :cap "
                f"WINDOW w AS (ORDER BY {order}) {limit})")
        over, over_join = " OR c.entrant_n > :cap", " LEFT JOIN c ON c.media_id = sc.media_id"

    def out(rank: str, status: str, entrant: str, tie: str) -> str:
        flags = " || ".join([
            "CASE WHEN sc.observed_at IS NULL THEN ' no_snapshot' WHEN sc.observed_late THEN ' observed_late' "
            "ELSE '' END",
            "CASE WHEN sc.hidden THEN ' hidden_likes' ELSE '' END",
            "''" if count_likes else "' likes_not_counted'",
            f"CASE WHEN {'sc.capped_likes OR ' if count_likes else ''}sc.capped_comments THEN ' capped' ELSE '' END",
            f"CASE WHEN {tie} IS NOT NULL THEN ' tied' ELSE '' END",
        ])
        return (f"SELECT {', '.join('sc.' + c for c in _LIVE_COLUMNS)}, {int(count_likes)} AS count_likes, "
                f"sc.{keys['score']} AS score, {'sc.likes_counted' if count_likes else '0'} AS likes_eff, "
                f"{'sc.hidden' if review else '0'} AS review_check, {entrant} AS entrant_n, {status} AS status, "
                f"{rank} AS rank, {tie} AS tie_break, ltrim({flags}) AS flags_text, m.caption, m.permalink{more}")

    ranked = (f"{out('n.rank', chr(39) + ELIGIBLE + chr(39), 'n.entrant_n', 'n.tie_break')} FROM n "
              f"CROSS JOIN entry_scores sc ON sc.media_id = n.media_id CROSS JOIN media m ON m.media_id = n.media_id")
    params: dict[str, object] = {"cap": cap, **(extra[1] if extra else {})}
    if top is not None:
        params["top_rows"], params["top"] = top + 1, top
        return Query(f"WITH {ctes}\n{ranked} WHERE n.rank <= :top", params)
    status = (f"CASE WHEN sc.base_status <> 'eligible' THEN sc.base_status "
              f"WHEN {'sc.hidden AND NOT sc.reinstated' if review else '0'} THEN 'review' ELSE 'over_entrant_cap' END")
    # rows come out in the order of n, then u (each materialized in order; CROSS JOIN
    # keeps it the outer loop). The others by media id: the sort carries the ids only
    # (the LIMIT keeps SQLite from dropping the ORDER BY of a subquery)
    unranked = (f"u AS MATERIALIZED (SELECT sc.media_id{', c.entrant_n' if cap is not None else ''} "
                f"FROM entry_scores sc{over_join} WHERE NOT ({held('sc.')}){over} ORDER BY sc.media_key LIMIT -1)")
    others = (f"{out('NULL', status, 'u.entrant_n' if cap is not None else 'NULL', 'NULL')} FROM u "
              f"CROSS JOIN entry_scores sc ON sc.media_id = u.media_id CROSS JOIN media m ON m.media_id = u.media_id")
    return Query(f"WITH {ctes},\n{unranked}\n{ranked}\nUNION ALL\n{others}", params)


def live_ranks_query(rules: Rules) -> Query:
    """Return ``(media_id, rank)`` of every ranked live entry, from the stored
    per-entry columns (``entry_scores``): the ranks a finished poll keeps."""
    ranked, params = rank_columns(rules, "entry_scores")
    return Query(f"WITH {ranked}\nSELECT media_id, rank FROM ranked WHERE rank IS NOT NULL", params)


def live_counts_query(rules: Rules) -> Query:
    """Return ``(status, entries, hidden)`` rows: how many live entries have each
    status, and how many of them hide their likes."""
    if rules.max_entries_per_entrant is None:
        # no entrant cap: a status needs no window over the entries, and entries alike
        # in stored status, hidden likes and reinstatement share it: count those
        # groups (read in order from the index entry_scores_status), then their status
        return Query(f"""WITH grouped AS (
    SELECT base_status, hidden, reinstated, count(*) AS n FROM entry_scores GROUP BY base_status, hidden, reinstated
)
SELECT {_held_status(":policy", "g")} AS held_status, sum(g.n), sum(g.hidden * g.n) FROM grouped g
GROUP BY held_status""", {"policy": rules.hidden_likes})
    ranked, params = rank_columns(rules, "entry_scores")
    return Query(f"WITH {ranked}\nSELECT status, count(*), sum(hidden) FROM ranked GROUP BY status", params)


_VIEW_COLUMNS = {"points_per_like": "pts_like", "points_per_comment": "pts_comment",
                 "media_type_bonus": "pts_media_type", "extra_hashtag_bonus": "pts_extra",
                 "early_entry_bonus": "pts_early"}


def standings_view(rules: Rules) -> str:
    """Return the ``CREATE VIEW standings`` statement: the live standings for anyone
    opening the database (Datasette, the sqlite3 shell): rank, media_id, permalink,
    score, status, tie_break, flags and each rule's points (NULL where the rule gave
    none), ranked first. It reads the stored per-entry columns and the current
    ``hidden_likes`` and ``max_entries_per_entrant`` from the rules table; its tie-break
    order is that of ``rules`` (the store makes the view again whenever rules change).
    """
    from derby.rules import RULE_KINDS

    def rule(name: str) -> str:
        default = RULE_KINDS[name].default
        fallback = "NULL" if default is None else f"'{default}'"
        return f"coalesce((SELECT json_extract(value, '$') FROM rules WHERE name = '{name}'), {fallback})"

    ranked, _ = rank_columns(rules, "entry_scores", policy=rule("hidden_likes"), cap=rule("max_entries_per_entrant"))
    points = ", ".join(f"r.{column} AS {name}" for name, column in _VIEW_COLUMNS.items())
    return (f"CREATE VIEW standings AS WITH {ranked}\n"
            f"SELECT r.rank, r.media_id, m.permalink, r.username, r.score, r.status, r.tie_break, "
            f"r.flags_text AS flags, r.like_count, r.comments_count, r.observed_at, {points} "
            f"FROM ranked r JOIN media m ON m.media_id = r.media_id ORDER BY {ranking_order()}")
