"""The SQLite store: schema, migrations and every read and write derby makes.

``open_db(path)`` opens (and creates or upgrades) a derby database with sqlite-utils:
WAL journal, a busy timeout, foreign keys, and the migrations below applied. Functions
take the database first (``save_page(db, ...)``). Times are stored as UTC text (see
:mod:`derby.clock`). This module knows nothing of HTTP or rich.

Tables: ``contest`` (one row), ``hashtags`` (name -> Graph id), ``media`` (keyed by the
Graph media id), ``snapshots`` (append-only engagement readings), ``sightings`` (which
poll run saw which media on which edge), ``poll_runs``, ``poll_warnings``, ``rules``;
``cooldowns`` (no request before ``until``) and ``hashtag_queries`` (the hashtag budget:
unique hashtags each account queried, and when last).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from derby import clock, rules as rule_kinds
from derby.config import Contest, FeedConfig
from derby.errors import StoreError
from derby.feeds.parse import MediaPage

BUSY_TIMEOUT_MS = 15_000

migrations = Migrations("derby")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE contest (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            title TEXT NOT NULL,
            hashtags TEXT NOT NULL,          -- JSON list of normalized hashtags
            timezone TEXT NOT NULL,
            start_at TEXT NOT NULL,          -- UTC
            end_at TEXT NOT NULL,            -- UTC
            language TEXT NOT NULL,
            feed TEXT NOT NULL,              -- JSON: kind, path, page_cap, timeout
            source TEXT,
            loaded_at TEXT NOT NULL
        );
        CREATE TABLE hashtags (
            name TEXT PRIMARY KEY,
            hashtag_id TEXT NOT NULL,
            resolved_at TEXT NOT NULL
        );
        CREATE TABLE poll_runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            feed TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'running',   -- running | ok | partial | failed
            pages INTEGER NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0,
            media_seen INTEGER NOT NULL DEFAULT 0,
            new_media INTEGER NOT NULL DEFAULT 0,
            updated_media INTEGER NOT NULL DEFAULT 0,
            error TEXT
        );
        CREATE TABLE media (
            media_id TEXT PRIMARY KEY,
            caption TEXT,
            media_type TEXT,
            permalink TEXT,
            timestamp TEXT,                  -- UTC, the post's own time
            media_url TEXT,
            children INTEGER,
            first_seen_at TEXT NOT NULL,
            first_poll_run_id INTEGER REFERENCES poll_runs(id)
        );
        CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY,
            media_id TEXT NOT NULL REFERENCES media(media_id),
            poll_run_id INTEGER NOT NULL REFERENCES poll_runs(id),
            observed_at TEXT NOT NULL,       -- UTC
            like_count INTEGER,              -- NULL: the key was missing (hidden likes)
            comments_count INTEGER,
            UNIQUE (media_id, poll_run_id)
        );
        CREATE INDEX snapshots_media_observed ON snapshots (media_id, observed_at);
        CREATE TABLE sightings (
            poll_run_id INTEGER NOT NULL REFERENCES poll_runs(id),
            media_id TEXT NOT NULL REFERENCES media(media_id),
            hashtag TEXT NOT NULL,
            edge TEXT NOT NULL,
            PRIMARY KEY (poll_run_id, media_id, hashtag, edge)
        ) WITHOUT ROWID;
        CREATE INDEX sightings_media ON sightings (media_id);
        CREATE TABLE poll_warnings (
            id INTEGER PRIMARY KEY,
            poll_run_id INTEGER REFERENCES poll_runs(id),
            at TEXT NOT NULL,
            message TEXT NOT NULL
        );
        CREATE TABLE rules (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL,             -- JSON
            updated_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m_i3_platform_limits(db: sqlite_utils.Database) -> None:
    """Issue 3: why a poll run failed, its retries and usage reading; cool-downs; the
    hashtag budget (unique hashtags queried per account)."""
    for column, kind in (("error_kind", str), ("error_code", int), ("error_subcode", int), ("fbtrace_id", str),
                         ("error_endpoint", str), ("retries", int), ("usage", str), ("usage_pct", float),
                         ("cooldown_until", str)):
        db["poll_runs"].add_column(column, kind)
    db.executescript(
        """
        CREATE TABLE cooldowns (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,           -- the Instagram account id (feed name for fixtures)
            started_at TEXT NOT NULL,        -- UTC
            until TEXT NOT NULL,             -- UTC: no request before this
            reason TEXT NOT NULL,
            poll_run_id INTEGER REFERENCES poll_runs(id)
        );
        CREATE INDEX cooldowns_account_until ON cooldowns (account, until);
        CREATE TABLE hashtag_queries (
            account TEXT NOT NULL,
            hashtag TEXT NOT NULL,           -- normalized name: case and accents make another hashtag
            first_queried_at TEXT NOT NULL,  -- UTC
            last_queried_at TEXT NOT NULL,   -- UTC: the slot frees 7 days after this
            PRIMARY KEY (account, hashtag)
        ) WITHOUT ROWID;
        """
    )


def open_db(path: str | Path, *, create: bool = True) -> sqlite_utils.Database:
    """Open the derby database at ``path`` and migrate it.

    With ``create`` a missing file (not a missing folder) is created; without it a
    missing file is an error, so read-only commands never leave an empty database
    behind. Raises StoreError when the file is missing (without ``create``), is not a
    SQLite database, cannot be opened, or stays locked past the busy timeout (15 s)
    during the upgrade.
    """
    memory = str(path) == ":memory:"
    if not memory:
        folder = Path(path).parent
        if not folder.is_dir():
            raise StoreError(f"cannot open database {path}: folder {folder} does not exist")
        if not create and not Path(path).exists():
            raise StoreError(f"no database at {path}; run: derby init config/socialderby.toml (or pass --db)")
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        db = sqlite_utils.Database(conn)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if str(path) != ":memory:":
            db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA foreign_keys = ON")
        migrations.apply(db)
    except sqlite3.OperationalError as exc:
        raise StoreError(f"cannot use database {path}: {exc} (is the file or its folder read-only, or locked by another program?)") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot use database {path}: {exc} (is it a derby database? pass another --db)") from None
    except OSError as exc:
        raise StoreError(f"cannot open database {path}: {exc.strerror}") from None
    return db


@contextlib.contextmanager
def write(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A write transaction that takes SQLite's write lock at once (``BEGIN IMMEDIATE``).

    A deferred transaction that reads and then writes fails at once with "database is
    locked" when another process wrote meanwhile; an immediate one waits for the busy
    timeout instead. Nested use becomes a savepoint. Rolls back on any exception.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.conn.rollback()
        raise
    db.conn.execute("COMMIT")


# -- contest and rules -----------------------------------------------------------------

def save_contest(db: sqlite_utils.Database, contest: Contest, now: datetime) -> None:
    """Store ``contest`` as the database's contest and write its ``[rules]`` values."""
    feed = {"kind": contest.feed.kind, "path": str(contest.feed.path) if contest.feed.path else None,
            "page_cap": contest.feed.page_cap, "timeout": contest.feed.timeout,
            "deadline": contest.feed.deadline}
    with write(db):
        db["contest"].upsert({
            "id": 1, "title": contest.title, "hashtags": json.dumps(list(contest.hashtags)),
            "timezone": contest.timezone, "start_at": clock.to_store(contest.start),
            "end_at": clock.to_store(contest.end), "language": contest.language,
            "feed": json.dumps(feed), "source": str(contest.source) if contest.source else None,
            "loaded_at": clock.to_store(now),
        }, pk="id")
        for name, value in contest.rules.items():
            set_rule(db, name, value, now)


def load_contest(db: sqlite_utils.Database) -> Contest | None:
    """Return the stored contest (rules included), or None before ``derby init``."""
    row = next(db.query("SELECT * FROM contest WHERE id = 1"), None)
    if row is None:
        return None
    feed = json.loads(row["feed"])
    return Contest(
        title=row["title"], hashtags=tuple(json.loads(row["hashtags"])), timezone=row["timezone"],
        start=clock.from_store(row["start_at"]), end=clock.from_store(row["end_at"]),  # type: ignore[arg-type]
        feed=FeedConfig(kind=feed["kind"], path=Path(feed["path"]) if feed.get("path") else None,
                        page_cap=feed["page_cap"], timeout=feed["timeout"],
                        deadline=feed.get("deadline", 600.0)),
        language=row["language"], rules=read_rules(db),
        source=Path(row["source"]) if row["source"] else None,
    )


def set_rule(db: sqlite_utils.Database, name: str, value: object, now: datetime) -> None:
    """Store rule ``name`` = ``value`` (validated first; raises ValueError)."""
    value = rule_kinds.validate_rule(name, value)
    db["rules"].upsert({"name": name, "value": rule_kinds.encode(value), "updated_at": clock.to_store(now)}, pk="name")


def read_rules(db: sqlite_utils.Database) -> dict[str, object]:
    """Return every rule in force: stored values, defaults for the others."""
    stored = {row["name"]: rule_kinds.decode(row["value"]) for row in db.query("SELECT name, value FROM rules")}
    return rule_kinds.effective_rules(stored)


# -- hashtags --------------------------------------------------------------------------

def hashtag_id(db: sqlite_utils.Database, name: str) -> str | None:
    """Return the stored Graph id of hashtag ``name``, or None when not resolved yet."""
    row = next(db.query("SELECT hashtag_id FROM hashtags WHERE name = ?", [name]), None)
    return row["hashtag_id"] if row else None


def save_hashtag_id(db: sqlite_utils.Database, name: str, graph_id: str, now: datetime) -> None:
    """Store the Graph id of hashtag ``name`` (ids never change, so once is enough)."""
    with write(db):
        db["hashtags"].upsert({"name": name, "hashtag_id": graph_id, "resolved_at": clock.to_store(now)}, pk="name")


# -- poll runs -------------------------------------------------------------------------

def start_poll_run(db: sqlite_utils.Database, feed: str, now: datetime) -> int:
    """Record the start of a poll run and return its id."""
    with write(db):
        cursor = db.execute("INSERT INTO poll_runs (started_at, feed) VALUES (?, ?)", [clock.to_store(now), feed])
    return int(cursor.lastrowid)  # type: ignore[arg-type]


def finish_poll_run(db: sqlite_utils.Database, run_id: int, now: datetime, *, status: str,
                    requests: int, error: str | None = None) -> None:
    """Record the end of poll run ``run_id``: status (ok, partial, failed), request
    count and error text; page and media counts are already kept by :func:`save_page`."""
    with write(db):
        db.execute("UPDATE poll_runs SET finished_at = ?, status = ?, requests = ?, error = ? WHERE id = ?",
                   [clock.to_store(now), status, requests, error, run_id])


def record_warnings(db: sqlite_utils.Database, run_id: int | None, messages: Iterable[str], now: datetime) -> None:
    """Append warnings (bad records, paging notes) to the poll run's log."""
    rows = [(run_id, clock.to_store(now), m) for m in messages]
    if rows:
        with write(db):
            db.conn.executemany("INSERT INTO poll_warnings (poll_run_id, at, message) VALUES (?, ?, ?)", rows)


def poll_run(db: sqlite_utils.Database, run_id: int) -> dict:
    """Return the poll run row ``run_id`` as a dict."""
    return db["poll_runs"].get(run_id)


def last_poll_run(db: sqlite_utils.Database, *, successful: bool = False) -> dict | None:
    """Return the newest poll run (only ``ok`` ones when ``successful``), or None."""
    where = "WHERE status = 'ok'" if successful else ""
    return next(db.query(f"SELECT * FROM poll_runs {where} ORDER BY id DESC LIMIT 1"), None)


# -- media and snapshots ---------------------------------------------------------------

@dataclass
class PageResult:
    """What saving one page changed: media new to the database, media whose fields or
    engagement changed, and snapshots written."""

    new: set[str]
    updated: set[str]
    snapshots: int


_MEDIA_FIELDS = ("caption", "media_type", "permalink", "timestamp", "media_url", "children")


def save_page(db: sqlite_utils.Database, run_id: int, hashtag: str, edge: str, page: MediaPage,
              observed_at: datetime) -> PageResult:
    """Store one parsed page in one transaction: media, snapshots, sightings, warnings
    and the poll run's page count.

    Media are upserted by id; a field absent from this page never erases a stored
    value. A snapshot is appended when the engagement differs from the media's latest
    one (at most one per media per poll run), so re-polling unchanged data writes only
    to the poll-run log.
    """
    when = clock.to_store(observed_at)
    by_id = {m.media_id: m for m in page.media}  # duplicates within a page collapse
    ids = list(by_id)
    result = PageResult(new=set(), updated=set(), snapshots=0)
    with write(db):
        existing = _rows_by_id(db, "SELECT * FROM media WHERE media_id IN ({})", ids)
        latest = _rows_by_id(db, """
            SELECT s.media_id, s.like_count, s.comments_count, s.poll_run_id FROM snapshots s
            WHERE s.id = (SELECT id FROM snapshots WHERE media_id = s.media_id ORDER BY observed_at DESC, id DESC LIMIT 1)
              AND s.media_id IN ({})""", ids)
        media_rows, snapshot_rows = [], []
        for media_id, media in by_id.items():
            values = {
                "caption": media.caption, "media_type": media.media_type, "permalink": media.permalink,
                "timestamp": clock.to_store(media.timestamp) if media.timestamp else None,
                "media_url": media.media_url, "children": media.children,
            }
            old = existing.get(media_id)
            if old is None:
                result.new.add(media_id)
            elif any(v is not None and v != old[k] for k, v in values.items()):
                result.updated.add(media_id)
            media_rows.append((media_id, *values.values(), when, run_id))
            if media.like_count is None and media.comments_count is None:
                continue
            previous = latest.get(media_id)
            reading = (media.like_count, media.comments_count)
            if previous is None or (previous["like_count"], previous["comments_count"]) != reading:
                snapshot_rows.append((media_id, run_id, when, *reading))
                if old is not None:
                    result.updated.add(media_id)
        db.conn.executemany(
            """INSERT INTO media (media_id, caption, media_type, permalink, timestamp, media_url, children,
                                  first_seen_at, first_poll_run_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (media_id) DO UPDATE SET
                 caption = coalesce(excluded.caption, caption),
                 media_type = coalesce(excluded.media_type, media_type),
                 permalink = coalesce(excluded.permalink, permalink),
                 timestamp = coalesce(excluded.timestamp, timestamp),
                 media_url = coalesce(excluded.media_url, media_url),
                 children = coalesce(excluded.children, children)""",
            media_rows,
        )
        db.conn.executemany(
            """INSERT INTO snapshots (media_id, poll_run_id, observed_at, like_count, comments_count)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (media_id, poll_run_id) DO UPDATE SET
                 like_count = excluded.like_count, comments_count = excluded.comments_count""",
            snapshot_rows,
        )
        result.snapshots = len(snapshot_rows)
        db.conn.executemany("INSERT OR IGNORE INTO sightings (poll_run_id, media_id, hashtag, edge) VALUES (?, ?, ?, ?)",
                       [(run_id, media_id, hashtag, edge) for media_id in ids])
        db.conn.executemany("INSERT INTO poll_warnings (poll_run_id, at, message) VALUES (?, ?, ?)",
                       [(run_id, when, f"#{hashtag} {edge}: {w}") for w in page.warnings])
        db.execute("UPDATE poll_runs SET pages = pages + 1, media_seen = media_seen + ? WHERE id = ?", [len(ids), run_id])
    return result


def add_media_counts(db: sqlite_utils.Database, run_id: int, new: int, updated: int) -> None:
    """Store the number of distinct new and updated media of a poll run."""
    with write(db):
        db.execute("UPDATE poll_runs SET new_media = ?, updated_media = ? WHERE id = ?", [new, updated, run_id])


def _rows_by_id(db: sqlite_utils.Database, sql: str, ids: list[str]) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for row in db.query(sql.format(", ".join("?" * len(chunk))), chunk):
            rows[row["media_id"]] = row
    return rows


def read_entries(db: sqlite_utils.Database, as_of: datetime | None = None) -> list[dict]:
    """Return every stored media with its latest snapshot, as dicts.

    Keys: ``media_id, caption, media_type, permalink, timestamp`` (aware UTC or None),
    ``like_count, comments_count, observed_at`` (of the snapshot used; None when the
    media has none), ``first_seen_at``. With ``as_of`` (aware), only media first seen at
    or before it and snapshots observed at or before it are used.
    """
    cutoff = clock.to_store(as_of) if as_of else "9999"
    sql = """
        SELECT m.media_id, m.caption, m.media_type, m.permalink, m.timestamp, m.first_seen_at,
               s.like_count, s.comments_count, s.observed_at
        FROM media m
        LEFT JOIN snapshots s ON s.id = (
            SELECT id FROM snapshots WHERE media_id = m.media_id AND observed_at <= :cutoff
            ORDER BY observed_at DESC, id DESC LIMIT 1)
        WHERE m.first_seen_at <= :cutoff
    """
    entries = []
    for row in db.query(sql, {"cutoff": cutoff}):
        row["timestamp"] = clock.from_store(row["timestamp"])
        row["observed_at"] = clock.from_store(row["observed_at"])
        row["first_seen_at"] = clock.from_store(row["first_seen_at"])
        entries.append(row)
    return entries


def counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Return row counts of the main tables."""
    return {t: db[t].count for t in ("media", "snapshots", "poll_runs", "hashtags")}


# -- issue 3: platform limits (cool-downs, usage readings, hashtag budget) -----------------

HASHTAG_LIMIT = 30
"""Unique hashtags an Instagram account may query in a rolling 7 days (Graph API, "IG
Hashtag Search" reference)."""
HASHTAG_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class HashtagBudget:
    """The hashtag budget of one account at a moment: ``used`` of ``limit`` unique
    hashtags in the rolling window, which ones (``hashtags``, normalized names), and
    ``next_free`` (aware UTC), when the oldest counted one frees its slot (None when
    none is counted)."""

    account: str
    used: int
    limit: int
    hashtags: tuple[str, ...]
    next_free: datetime | None

    @property
    def free(self) -> int:
        return max(self.limit - self.used, 0)

    def counts(self, hashtag: str) -> bool:
        """Whether querying ``hashtag`` now costs nothing more (already counted)."""
        return hashtag in self.hashtags


def hashtag_budget(db: sqlite_utils.Database, account: str, now: datetime) -> HashtagBudget:
    """Return the hashtag budget of ``account`` at ``now`` (aware): every hashtag whose
    last query lies within the 7 days before ``now`` counts."""
    since = clock.to_store(now - HASHTAG_WINDOW)
    rows = list(db.query("SELECT hashtag, last_queried_at FROM hashtag_queries WHERE account = ? AND last_queried_at > ? "
                         "ORDER BY last_queried_at, hashtag", [account, since]))
    next_free = clock.from_store(rows[0]["last_queried_at"]) + HASHTAG_WINDOW if rows else None
    return HashtagBudget(account=account, used=len(rows), limit=HASHTAG_LIMIT,
                         hashtags=tuple(r["hashtag"] for r in rows), next_free=next_free)


def record_hashtag_query(db: sqlite_utils.Database, account: str, hashtag: str, now: datetime) -> None:
    """Record that ``account`` queried ``hashtag`` at ``now`` (the platform counts a
    hashtag whose id is already known as soon as its media are read)."""
    when = clock.to_store(now)
    with write(db):
        db.execute("""INSERT INTO hashtag_queries (account, hashtag, first_queried_at, last_queried_at) VALUES (?, ?, ?, ?)
                      ON CONFLICT (account, hashtag) DO UPDATE SET
                        last_queried_at = max(last_queried_at, excluded.last_queried_at)""",
                   [account, hashtag, when, when])


def start_cooldown(db: sqlite_utils.Database, account: str, now: datetime, until: datetime, reason: str,
                   run_id: int | None = None) -> None:
    """Record that no request may be made for ``account`` before ``until`` (aware)."""
    with write(db):
        db.execute("INSERT INTO cooldowns (account, started_at, until, reason, poll_run_id) VALUES (?, ?, ?, ?, ?)",
                   [account, clock.to_store(now), clock.to_store(until), reason, run_id])


def active_cooldown(db: sqlite_utils.Database, account: str, now: datetime) -> dict | None:
    """Return the cool-down of ``account`` in force at ``now`` that ends last, as a dict
    (``until`` and ``started_at`` aware UTC, ``reason``, ``poll_run_id``), or None."""
    row = next(db.query("SELECT * FROM cooldowns WHERE account = ? AND until > ? ORDER BY until DESC, id DESC LIMIT 1",
                        [account, clock.to_store(now)]), None)
    if row is not None:
        row["until"], row["started_at"] = clock.from_store(row["until"]), clock.from_store(row["started_at"])
    return row


def record_poll_outcome(db: sqlite_utils.Database, run_id: int, *, error_kind: str | None = None,
                        error_code: int | None = None, error_subcode: int | None = None, fbtrace_id: str | None = None,
                        error_endpoint: str | None = None, retries: int = 0, usage: dict | None = None,
                        cooldown_until: datetime | None = None) -> None:
    """Store what a poll run met: the error's kind, code, subcode, fbtrace_id and
    endpoint (no query string), the retries made, the latest usage reading (JSON, its
    ``max_pct`` also in ``usage_pct``; NULL when no header was seen) and the cool-down set."""
    with write(db):
        db.execute("""UPDATE poll_runs SET error_kind = ?, error_code = ?, error_subcode = ?, fbtrace_id = ?,
                      error_endpoint = ?, retries = ?, usage = ?, usage_pct = ?, cooldown_until = ? WHERE id = ?""",
                   [error_kind, error_code, error_subcode, fbtrace_id, error_endpoint, retries,
                    json.dumps(usage, sort_keys=True) if usage is not None else None,
                    usage["max_pct"] if usage is not None else None,
                    clock.to_store(cooldown_until) if cooldown_until else None, run_id])
