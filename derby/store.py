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
from derby.config import Contest, FeedConfig, Schedule
from derby.errors import ConfigError, StoreError
from derby.feeds.parse import MediaPage
from derby.text import shortcode

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


_APPEND_ONLY = ("rule_changes", "moderation", "entrant_links", "audit_log", "media_edits")


@migrations()
def m_i4_rules_judging_audit(db: sqlite_utils.Database) -> None:
    """Issue 4: rule history, moderation, entrants, media edits, the audit log and the
    engagement grace. History tables are append-only (triggers refuse UPDATE/DELETE)."""
    db.executescript(
        """
        ALTER TABLE contest ADD COLUMN count_engagement_until TEXT;   -- UTC, NULL: the contest's end
        CREATE TABLE rule_changes (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            old_value TEXT,                  -- JSON; NULL for the first value
            new_value TEXT NOT NULL,         -- JSON
            changed_at TEXT NOT NULL,        -- UTC
            changed_by TEXT NOT NULL,
            reason TEXT
        );
        CREATE INDEX rule_changes_name ON rule_changes (name, changed_at);
        CREATE TABLE moderation (
            id INTEGER PRIMARY KEY,
            media_id TEXT NOT NULL REFERENCES media(media_id),
            action TEXT NOT NULL CHECK (action IN ('disqualify', 'reinstate')),
            reason TEXT NOT NULL,
            by TEXT NOT NULL,
            at TEXT NOT NULL                 -- UTC
        );
        CREATE INDEX moderation_media ON moderation (media_id, at);
        CREATE TABLE entrant_imports (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            by TEXT NOT NULL,
            source TEXT,
            rows INTEGER NOT NULL,
            matched INTEGER NOT NULL
        );
        CREATE TABLE entrant_links (
            id INTEGER PRIMARY KEY,
            media_id TEXT NOT NULL REFERENCES media(media_id),
            username TEXT NOT NULL,
            display_name TEXT,
            import_id INTEGER NOT NULL REFERENCES entrant_imports(id),
            linked_at TEXT NOT NULL          -- UTC
        );
        CREATE INDEX entrant_links_media ON entrant_links (media_id, linked_at);
        CREATE TABLE media_edits (           -- the values a media had before a poll changed them
            id INTEGER PRIMARY KEY,
            media_id TEXT NOT NULL REFERENCES media(media_id),
            poll_run_id INTEGER REFERENCES poll_runs(id),
            changed_at TEXT NOT NULL,        -- UTC, the poll's observation time
            caption TEXT, media_type TEXT, permalink TEXT, timestamp TEXT, media_url TEXT, children INTEGER
        );
        CREATE INDEX media_edits_media ON media_edits (media_id, changed_at);
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,                -- UTC
            actor TEXT NOT NULL,
            action TEXT NOT NULL,            -- rule_seed | rule_set | disqualify | reinstate | entrants_import
            subject TEXT,
            summary TEXT NOT NULL,
            data TEXT                        -- JSON
        );
        INSERT INTO rule_changes (name, old_value, new_value, changed_at, changed_by, reason)
            SELECT name, NULL, value, updated_at, 'derby upgrade', 'value found when rule history began'
            FROM rules ORDER BY name;
        """
    )
    for table in _APPEND_ONLY:
        for verb in ("UPDATE", "DELETE"):
            db.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


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
            raise ConfigError(f"no database at {path}; run: derby init config/socialderby.toml (or pass --db)")
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        db = sqlite_utils.Database(conn)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if str(path) != ":memory:":
            db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL never corrupts the database; a power cut may lose the
            # last pages stored, which the next poll reads again. FULL would fsync
            # every page's transaction (issue 7: ingest speed).
            db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA cache_size = -65536")  # 64 MiB instead of 2 MiB: 100k+ media per contest
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

def save_contest(db: sqlite_utils.Database, contest: Contest, now: datetime, by: str = "contest file") -> list[dict]:
    """Store ``contest`` as the database's contest and apply its ``[rules]``.

    A database without rules is seeded with every rule kind (the file's value, else
    the kind's default); afterwards a value the file *changed* since the file was last
    applied is put in force as a recorded change (by ``by``). A rule changed with
    ``derby rules set`` therefore survives loading the same file again; rules the file
    does not list are left as they are. Returns the rule changes recorded (see :func:`set_rule`).
    """
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
            "count_engagement_until": clock.to_store(contest.count_engagement_until)
            if contest.count_engagement_until else None,
        }, pk="id")
        source = contest.source.name if contest.source else "the contest file"
        if not has_rule_history(db):
            changes = [set_rule(db, name, value, now, by=by, reason=f"seeded from {source}", action="rule_seed")
                       for name, value in rule_kinds.effective_rules(contest.rules).items()]
        else:
            applied = _rules_from(db, by)
            changes = [set_rule(db, name, value, now, by=by, reason=f"edited in {source}")
                       for name, value in contest.rules.items()
                       if name not in applied
                       or rule_kinds.encode(applied[name]) != rule_kinds.encode(rule_kinds.validate_rule(name, value))]
        save_schedule(db, contest.schedule.every, contest.schedule.grace)
    return [c for c in changes if c is not None]


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
        schedule=Schedule(*(load_schedule(db) or (Schedule().every, Schedule().grace))),
        count_engagement_until=clock.from_store(row.get("count_engagement_until")),
    )


def set_rule(db: sqlite_utils.Database, name: str, value: object, now: datetime, *, by: str = "unknown",
             reason: str | None = None, action: str = "rule_set") -> dict | None:
    """Put rule ``name`` = ``value`` in force from ``now``, recording the change (who,
    when, why, old and new value) in the rule history and the audit log.

    The value is validated first (raises ValueError naming the rule). Setting the value
    already in force records nothing and returns None; otherwise returns the change as
    a dict (``name, old_value, new_value, changed_at, changed_by, reason``).
    """
    value = rule_kinds.validate_rule(name, value)
    with write(db):
        old = _rules_at(db, None).get(name, _MISSING)
        if old is not _MISSING and rule_kinds.encode(old) == rule_kinds.encode(value):
            return None
        when = clock.to_store(now)
        change = {"name": name, "old_value": None if old is _MISSING else rule_kinds.encode(old),
                  "new_value": rule_kinds.encode(value), "changed_at": when, "changed_by": by, "reason": reason}
        db["rule_changes"].insert(change)
        db["rules"].upsert({"name": name, "value": rule_kinds.encode(value), "updated_at": when}, pk="name")
        was = "unset" if old is _MISSING else rule_kinds.format_value(old)
        _audit(db, now, by, action, name,
               f"{name}: {was} → {rule_kinds.format_value(value)}" + (f" ({reason})" if reason else ""),
               {"old": None if old is _MISSING else old, "new": value, "reason": reason})
    return change


_MISSING = object()


def _rules_from(db: sqlite_utils.Database, by: str) -> dict[str, object]:
    """Return the last value each rule got from ``by`` (the contest file)."""
    sql = """SELECT name, new_value FROM rule_changes c
             WHERE id = (SELECT max(id) FROM rule_changes WHERE name = c.name AND changed_by = :by)"""
    return {row["name"]: rule_kinds.decode(row["new_value"]) for row in db.query(sql, {"by": by})}


def has_rule_history(db: sqlite_utils.Database) -> bool:
    """Return True once any rule was recorded (seeded or set)."""
    return next(db.query("SELECT 1 AS one FROM rule_changes LIMIT 1"), None) is not None


def _rules_at(db: sqlite_utils.Database, as_of: datetime | None) -> dict[str, object]:
    sql = """SELECT name, new_value FROM rule_changes c
             WHERE id = (SELECT id FROM rule_changes WHERE name = c.name AND changed_at <= :cutoff
                         ORDER BY changed_at DESC, id DESC LIMIT 1)"""
    cutoff = clock.to_store(as_of) if as_of else "9999"
    return {row["name"]: rule_kinds.decode(row["new_value"]) for row in db.query(sql, {"cutoff": cutoff})
            if row["name"] in rule_kinds.RULE_KINDS}


def read_rules(db: sqlite_utils.Database, as_of: datetime | None = None) -> dict[str, object]:
    """Return every rule in force (at ``as_of``, aware, when given): recorded values,
    the kind's default for the others."""
    return rule_kinds.effective_rules(_rules_at(db, as_of))


def stored_rule_names(db: sqlite_utils.Database) -> set[str]:
    """Return the names of rules that have a recorded value (the others are defaults)."""
    return set(_rules_at(db, None))


def rule_history(db: sqlite_utils.Database, name: str | None = None) -> list[dict]:
    """Return every recorded rule change, oldest first (only rule ``name`` when given).

    Keys: ``id, name, old_value, new_value`` (decoded), ``first`` (True when the rule
    had no value before), ``changed_at`` (aware UTC), ``changed_by, reason``.
    """
    sql = "SELECT * FROM rule_changes" + (" WHERE name = :name" if name else "") + " ORDER BY id"
    rows = []
    for row in db.query(sql, {"name": name}):
        row["first"] = row["old_value"] is None
        row["old_value"] = rule_kinds.decode(row["old_value"])
        row["new_value"] = rule_kinds.decode(row["new_value"])
        row["changed_at"] = clock.from_store(row["changed_at"])
        rows.append(row)
    return rows


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
        existing = _tuples_by_id(db, f"SELECT media_id, {', '.join(_MEDIA_FIELDS)} FROM media WHERE media_id IN ({{}})", ids)
        latest = _tuples_by_id(db, "SELECT media_id, like_count, comments_count FROM latest_snapshots WHERE media_id IN ({})", ids)
        media_rows, snapshot_rows, edit_rows = [], [], []
        for media_id, media in by_id.items():
            values = {
                "caption": media.caption, "media_type": media.media_type, "permalink": media.permalink,
                "timestamp": clock.to_store(media.timestamp) if media.timestamp else None,
                "media_url": media.media_url, "children": media.children,
            }
            old = existing.get(media_id)
            if old is None:
                result.new.add(media_id)
                media_rows.append((media_id, *values.values(), when, run_id))
            elif any(v is not None and v != stored for v, stored in zip(values.values(), old[1:])):
                result.updated.add(media_id)
                edit_rows.append((media_id, run_id, when, *old[1:]))
                media_rows.append((media_id, *values.values(), when, run_id))
            # else: the upsert would leave the row as it is, so it is skipped (issue 7).
            if media.like_count is None and media.comments_count is None:
                continue
            previous = latest.get(media_id)
            reading = (media.like_count, media.comments_count)
            if previous is None or previous[1:] != reading:
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
        db.conn.executemany(
            f"""INSERT INTO media_edits (media_id, poll_run_id, changed_at, {', '.join(_MEDIA_FIELDS)})
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""", edit_rows)
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


def _tuples_by_id(db: sqlite_utils.Database, sql: str, ids: list[str]) -> dict[str, tuple]:
    # Plain tuples, media_id first: this runs for every page stored (issue 7).
    rows: dict[str, tuple] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for row in db.conn.execute(sql.format(", ".join("?" * len(chunk))), chunk):
            rows[row[0]] = row
    return rows


_ENTRIES_SQL = """
WITH visible_runs AS (
    SELECT id, started_at FROM poll_runs
    WHERE :as_of IS NULL OR (finished_at IS NOT NULL AND finished_at <= :as_of)
),
chosen AS (
    SELECT m.media_id,
        coalesce(
            -- issue 7: without as_of, the newest snapshot when it is not after the freeze
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
    rows = list(db.query(_ENTRIES_SQL, params))
    actions = _rows_by_key(db, "SELECT id, action, reason, by, at FROM moderation WHERE id IN ({})",
                           [r["moderation_id"] for r in rows if r["moderation_id"] is not None], "id")
    entries = []
    times: dict[str | None, datetime | None] = {None: None}  # poll times repeat across media (issue 7)
    for row in rows:
        row["timestamp"] = clock.from_store(row["timestamp"])
        for key in ("observed_at", "first_seen_at"):
            text = row[key]
            if text not in times:
                times[text] = clock.from_store(text)
            row[key] = times[text]
        row["observed_late"] = bool(freeze and row["observed_at"] and row["observed_at"] > freeze)
        action = actions.get(row.pop("moderation_id"))
        row["moderation"] = None if action is None else {
            "action": action["action"], "reason": action["reason"], "by": action["by"],
            "at": clock.from_store(action["at"])}
        entries.append(row)
    return entries


def _rows_by_key(db: sqlite_utils.Database, sql: str, keys: list, key: str) -> dict:
    rows: dict = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        for row in db.query(sql.format(", ".join("?" * len(chunk))), chunk):
            rows[row[key]] = row
    return rows


def counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Return row counts of the main tables."""
    return {t: db[t].count for t in ("media", "snapshots", "poll_runs", "hashtags")}


# -- issue 4: judging, entrants and the audit log ----------------------------------------

def _audit(db: sqlite_utils.Database, now: datetime, actor: str, action: str, subject: str | None,
           summary: str, data: object = None) -> None:
    db["audit_log"].insert({"at": clock.to_store(now), "actor": actor, "action": action, "subject": subject,
                            "summary": summary, "data": json.dumps(data, ensure_ascii=False, sort_keys=True)})


def audit_log(db: sqlite_utils.Database, *, action: str | None = None, subject: str | None = None) -> list[dict]:
    """Return the audit log, oldest first, optionally only one ``action`` or ``subject``.

    Keys: ``id, at`` (aware UTC), ``actor, action`` (``rule_seed``, ``rule_set``,
    ``disqualify``, ``reinstate``, ``entrants_import``), ``subject`` (a rule name or a
    media id), ``summary`` (one line for a person), ``data`` (decoded JSON).
    """
    sql = ("SELECT * FROM audit_log WHERE (:action IS NULL OR action = :action)"
           " AND (:subject IS NULL OR subject = :subject) ORDER BY id")
    rows = []
    for row in db.query(sql, {"action": action, "subject": subject}):
        row["at"] = clock.from_store(row["at"])
        row["data"] = json.loads(row["data"]) if row["data"] else None
        rows.append(row)
    return rows


def find_media(db: sqlite_utils.Database, ref: str) -> dict | None:
    """Return the stored media row that ``ref`` names, or None.

    ``ref`` is a media id, a permalink (``https://www.instagram.com/p/SHORTCODE/``, any
    query string ignored) or a bare shortcode.
    """
    ref = ref.strip()
    row = next(db.query("SELECT * FROM media WHERE media_id = ?", [ref]), None)
    if row is not None:
        return row
    code = shortcode(ref) or (ref if ref.replace("_", "").replace("-", "").isalnum() else None)
    if not code:
        return None
    for row in db.query("SELECT * FROM media WHERE permalink LIKE ?", [f"%/{code}%"]):
        if shortcode(row["permalink"]) == code:
            return row
    return None


def moderate(db: sqlite_utils.Database, media_id: str, action: str, reason: str, by: str, now: datetime) -> dict:
    """Record a judge's ``disqualify`` or ``reinstate`` of ``media_id`` with ``reason``
    (and the audit entry) in one transaction; return the action as a dict.

    Raises ValueError for an empty reason or judge, an unknown action or media, a
    disqualification of an entry already disqualified, or a second reinstatement.
    """
    if action not in ("disqualify", "reinstate"):
        raise ValueError(f"unknown moderation action {action!r}")
    reason, by = (reason or "").strip(), (by or "").strip()
    if not reason:
        raise ValueError("a reason is required (--reason TEXT)")
    if not by:
        raise ValueError("the judge's name is required (--by NAME or DERBY_JUDGE)")
    row = {"media_id": media_id, "action": action, "reason": reason, "by": by, "at": clock.to_store(now)}
    with write(db):
        if db["media"].count_where("media_id = ?", [media_id]) == 0:
            raise ValueError(f"no stored media {media_id}")
        last = next(db.query("SELECT action FROM moderation WHERE media_id = ? ORDER BY at DESC, id DESC LIMIT 1",
                             [media_id]), None)
        if action == "disqualify" and last and last["action"] == "disqualify":
            raise ValueError(f"media {media_id} is already disqualified; reinstate it first")
        if action == "reinstate" and last and last["action"] == "reinstate":
            raise ValueError(f"media {media_id} is already reinstated")
        db["moderation"].insert(row)
        _audit(db, now, by, action, media_id, f"{action} {media_id}: {reason}", {"reason": reason})
    return row


def moderation_history(db: sqlite_utils.Database, media_id: str, as_of: datetime | None = None) -> list[dict]:
    """Return the judges' actions on ``media_id``, oldest first (up to ``as_of``).
    Keys: ``action, reason, by, at`` (aware UTC)."""
    cutoff = clock.to_store(as_of) if as_of else "9999"
    rows = list(db.query("SELECT action, reason, by, at FROM moderation WHERE media_id = ? AND at <= ? ORDER BY at, id",
                         [media_id, cutoff]))
    for row in rows:
        row["at"] = clock.from_store(row["at"])
    return rows


@dataclass
class EntrantImport:
    """What an entrant import did: rows read, links made (``matched``: list of (line,
    username, media id)) and rows refused (``problems``: list of (line, message))."""

    rows: int
    matched: list[tuple[int, str, str]]
    problems: list[tuple[int, str]]


def import_entrants(db: sqlite_utils.Database, rows: Iterable[dict], now: datetime, *, by: str,
                    source: str | None = None) -> EntrantImport:
    """Attach entrants' usernames to stored media, in one transaction.

    ``rows`` are dicts with ``line`` (for messages), ``username`` and ``shortcode``
    (from a permalink or given), optional ``display_name``, as read by
    :func:`derby.entrants.read_csv`. Every row is either linked or reported: an
    invalid username, no shortcode, a shortcode matching no stored media, or a media
    already given to another username earlier in the same file. A later import links a
    media anew (the latest link wins); the history is kept.
    """
    by_code: dict[str, str] = {}
    for row in db.query("SELECT media_id, permalink FROM media WHERE permalink IS NOT NULL"):
        code = shortcode(row["permalink"])
        if code:
            by_code.setdefault(code, row["media_id"])
    result = EntrantImport(rows=0, matched=[], problems=[])
    seen: dict[str, str] = {}
    links = []
    for row in rows:
        result.rows += 1
        line = row["line"]
        try:
            username = rule_kinds.normalize_username(row.get("username") or "")
        except ValueError as exc:
            result.problems.append((line, str(exc)))
            continue
        code = row.get("shortcode")
        if not code:
            result.problems.append((line, "no permalink or shortcode"))
            continue
        media_id = by_code.get(code)
        if media_id is None:
            result.problems.append((line, f"no stored entry has shortcode {code}"))
            continue
        if media_id in seen and seen[media_id] != username:
            result.problems.append((line, f"entry {code} is already given to @{seen[media_id]} in this file"))
            continue
        if media_id in seen:
            result.problems.append((line, f"entry {code} is listed twice for @{username}; kept once"))
            continue
        seen[media_id] = username
        display = (row.get("display_name") or "").strip() or None
        links.append((media_id, username, display))
        result.matched.append((line, username, media_id))
    when = clock.to_store(now)
    with write(db):
        import_id = db["entrant_imports"].insert({"at": when, "by": by, "source": source, "rows": result.rows,
                                                  "matched": len(links)}).last_pk
        db.conn.executemany("INSERT INTO entrant_links (media_id, username, display_name, import_id, linked_at)"
                            " VALUES (?, ?, ?, ?, ?)", [(*link, import_id, when) for link in links])
        _audit(db, now, by, "entrants_import", source,
               f"imported {source or 'entrants'}: {result.rows} rows, {len(links)} linked, "
               f"{len(result.problems)} refused",
               {"rows": result.rows, "linked": len(links), "problems": [list(p) for p in result.problems]})
    return result


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


# -- issue 5: the daemon: schedule, single-instance lock, coverage, closing ----------------
#
# ``daemon_lock`` holds at most one row: the ``derby run`` polling this database (process
# id, host, boot id, since, heartbeat, next poll). ``coverage`` records, per successful
# read of a hashtag's recent_media, the span of post times it covered (the edge reaches
# back 24 hours); ``coverage_gaps`` records spans no poll covered. ``contest_state``
# records that the final poll ran and the contest is closed.

@migrations()
def m_i5_daemon(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE schedule (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            every REAL NOT NULL,             -- seconds between polls
            grace REAL NOT NULL              -- seconds after the end that engagement counts
        );
        CREATE TABLE daemon_lock (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            instance TEXT NOT NULL,          -- random id of the holding process
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            boot_id TEXT,                    -- Linux boot id: a lock from before a reboot is stale
            since TEXT NOT NULL,             -- UTC
            heartbeat_at TEXT NOT NULL,      -- UTC
            next_poll_at TEXT,               -- UTC, contest clock
            resume_at TEXT                   -- UTC: a cool-down asked by the feed ends then
        );
        CREATE TABLE coverage (
            poll_run_id INTEGER NOT NULL REFERENCES poll_runs(id),
            hashtag TEXT NOT NULL,
            covered_from TEXT NOT NULL,      -- UTC: posts from here ...
            covered_to TEXT NOT NULL,        -- ... to here were reachable
            PRIMARY KEY (poll_run_id, hashtag)
        );
        CREATE INDEX coverage_hashtag_to ON coverage (hashtag, covered_to);
        CREATE TABLE coverage_gaps (
            id INTEGER PRIMARY KEY,
            hashtag TEXT NOT NULL,
            gap_from TEXT NOT NULL,          -- UTC
            gap_to TEXT NOT NULL,            -- UTC
            poll_run_id INTEGER REFERENCES poll_runs(id),
            detected_at TEXT NOT NULL
        );
        CREATE TABLE contest_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            closed_at TEXT NOT NULL,         -- UTC, contest clock
            final_poll_run_id INTEGER REFERENCES poll_runs(id)
        );
        """
    )


COVERAGE_SPAN_SECONDS = 24 * 3600
"""How far back ``recent_media`` reaches: media published in the last 24 hours (Graph
API reference, IG Hashtag > recent_media)."""


def save_schedule(db: sqlite_utils.Database, every: float, grace: float) -> None:
    """Store the contest's schedule: ``every`` and ``grace`` in seconds."""
    with write(db):
        db["schedule"].upsert({"id": 1, "every": float(every), "grace": float(grace)}, pk="id")


def load_schedule(db: sqlite_utils.Database) -> tuple[float, float] | None:
    """Return the stored ``(every, grace)`` in seconds, or None before ``derby init``."""
    row = next(db.query("SELECT every, grace FROM schedule WHERE id = 1"), None)
    return (row["every"], row["grace"]) if row else None


@dataclass
class LockHolder:
    """The process that holds (or held) the daemon lock. Times are aware UTC."""

    instance: str
    pid: int
    host: str
    boot_id: str | None
    since: datetime
    heartbeat_at: datetime
    next_poll_at: datetime | None = None
    resume_at: datetime | None = None

    def describe(self) -> str:
        """``pid 4242 on host vps1, since 2017-04-01T03:55:00Z``."""
        return f"pid {self.pid} on host {self.host}, since {clock.to_store(self.since)}"


class AlreadyRunning(StoreError):
    """Another live ``derby run`` holds this database's daemon lock."""


def lock_holder(db: sqlite_utils.Database) -> LockHolder | None:
    """Return the row of the daemon lock, or None when nobody holds it."""
    row = next(db.query("SELECT * FROM daemon_lock WHERE id = 1"), None)
    if row is None:
        return None
    return LockHolder(instance=row["instance"], pid=row["pid"], host=row["host"], boot_id=row["boot_id"],
                      since=clock.from_store(row["since"]), heartbeat_at=clock.from_store(row["heartbeat_at"]),  # type: ignore[arg-type]
                      next_poll_at=clock.from_store(row["next_poll_at"]), resume_at=clock.from_store(row["resume_at"]))


def acquire_lock(db: sqlite_utils.Database, me: LockHolder, is_alive) -> LockHolder | None:
    """Take the daemon lock for ``me``, in one immediate transaction.

    ``is_alive(holder) -> bool`` says whether a present holder still runs. Returns the
    stale holder that was taken over (None when the lock was free). Raises
    AlreadyRunning naming the live holder.
    """
    with write(db):
        current = lock_holder(db)
        if current is not None and current.instance != me.instance and is_alive(current):
            raise AlreadyRunning(f"another derby run is already polling this database: {current.describe()}; "
                                 f"stop it first (kill {current.pid}, or systemctl stop derby)")
        db.execute("""INSERT OR REPLACE INTO daemon_lock (id, instance, pid, host, boot_id, since, heartbeat_at)
                      VALUES (1, ?, ?, ?, ?, ?, ?)""",
                   [me.instance, me.pid, me.host, me.boot_id, clock.to_store(me.since), clock.to_store(me.heartbeat_at)])
    return current


def heartbeat(db: sqlite_utils.Database, instance: str, now: datetime, *, next_poll_at: datetime | None = None,
              resume_at: datetime | None = None, set_next: bool = False) -> bool:
    """Refresh the lock's heartbeat (and, with ``set_next``, the next poll and the end
    of a cool-down). Returns False when ``instance`` no longer holds the lock."""
    with write(db):
        if set_next:
            cursor = db.execute("UPDATE daemon_lock SET heartbeat_at = ?, next_poll_at = ?, resume_at = ? WHERE instance = ?",
                                [clock.to_store(now), clock.to_store(next_poll_at) if next_poll_at else None,
                                 clock.to_store(resume_at) if resume_at else None, instance])
        else:
            cursor = db.execute("UPDATE daemon_lock SET heartbeat_at = ? WHERE instance = ?", [clock.to_store(now), instance])
    return cursor.rowcount == 1


def release_lock(db: sqlite_utils.Database, instance: str) -> None:
    """Give up the daemon lock if ``instance`` holds it."""
    with write(db):
        db.execute("DELETE FROM daemon_lock WHERE instance = ?", [instance])


def mark_interrupted_runs(db: sqlite_utils.Database, now: datetime) -> list[int]:
    """Close poll runs still marked ``running`` (their process died: kill -9, power
    loss) as ``interrupted``; pages they stored are kept. Call only while holding the
    daemon lock. Returns their ids."""
    with write(db):
        ids = [row["id"] for row in db.query("SELECT id FROM poll_runs WHERE status = 'running' ORDER BY id")]
        db.execute("""UPDATE poll_runs SET status = 'interrupted', finished_at = ?,
                      error = coalesce(error, 'the process ended during this poll; stored pages are kept')
                      WHERE status = 'running'""", [clock.to_store(now)])
    return ids


@dataclass
class CoverageGap:
    """A span of post times (aware UTC) that no poll of ``hashtag`` could reach."""

    hashtag: str
    gap_from: datetime
    gap_to: datetime

    @property
    def hours(self) -> float:
        return (self.gap_to - self.gap_from).total_seconds() / 3600


def record_coverage(db: sqlite_utils.Database, run_id: int, hashtag: str, now: datetime,
                    window: tuple[datetime, datetime] | None = None) -> CoverageGap | None:
    """Record that run ``run_id`` read ``hashtag``'s recent_media in full at ``now``,
    covering posts from ``now - 24 h`` to ``now``.

    When the previous coverage of that hashtag (or, for the first one, the start of the
    contest ``window`` (start, end)) ends before this one begins, the span between,
    clipped to the window, is stored as a coverage gap and returned: posts published
    then may be lost for good.
    """
    covered_from = now - timedelta(seconds=COVERAGE_SPAN_SECONDS)
    with write(db):
        row = next(db.query("SELECT max(covered_to) AS last FROM coverage WHERE hashtag = ?", [hashtag]))
        previous = clock.from_store(row["last"]) if row["last"] else (window[0] if window else None)
        db.execute("INSERT OR REPLACE INTO coverage (poll_run_id, hashtag, covered_from, covered_to) VALUES (?, ?, ?, ?)",
                   [run_id, hashtag, clock.to_store(covered_from), clock.to_store(now)])
        if previous is None:
            return None
        gap_from, gap_to = previous, covered_from
        if window is not None:
            gap_from, gap_to = max(gap_from, window[0]), min(gap_to, window[1])
        if gap_from >= gap_to:
            return None
        gap = CoverageGap(hashtag, gap_from, gap_to)
        db.execute("INSERT INTO coverage_gaps (hashtag, gap_from, gap_to, poll_run_id, detected_at) VALUES (?, ?, ?, ?, ?)",
                   [hashtag, clock.to_store(gap.gap_from), clock.to_store(gap.gap_to), run_id, clock.to_store(now)])
    return gap


def coverage_gaps(db: sqlite_utils.Database) -> list[CoverageGap]:
    """Return every recorded coverage gap, oldest first."""
    return [CoverageGap(r["hashtag"], clock.from_store(r["gap_from"]), clock.from_store(r["gap_to"]))  # type: ignore[arg-type]
            for r in db.query("SELECT hashtag, gap_from, gap_to FROM coverage_gaps ORDER BY gap_from, hashtag")]


def last_coverage(db: sqlite_utils.Database) -> dict[str, datetime]:
    """Return, per hashtag, the time (aware UTC) of its latest full recent_media read."""
    return {r["hashtag"]: clock.from_store(r["last"])  # type: ignore[misc]
            for r in db.query("SELECT hashtag, max(covered_to) AS last FROM coverage GROUP BY hashtag")}


def close_contest(db: sqlite_utils.Database, now: datetime, final_poll_run_id: int | None) -> None:
    """Record that the final poll ran and the contest is closed."""
    with write(db):
        db["contest_state"].upsert({"id": 1, "closed_at": clock.to_store(now), "final_poll_run_id": final_poll_run_id}, pk="id")


def contest_closed(db: sqlite_utils.Database) -> dict | None:
    """Return ``{"closed_at": aware UTC, "final_poll_run_id": int}`` once the contest
    is closed, else None."""
    row = next(db.query("SELECT closed_at, final_poll_run_id FROM contest_state WHERE id = 1"), None)
    if row is None:
        return None
    return {"closed_at": clock.from_store(row["closed_at"]), "final_poll_run_id": row["final_poll_run_id"]}


# -- issue 6: read-only access and history for the live board -------------------------

def open_reader(path: str | Path, *, timeout: float = 2.0) -> sqlite_utils.Database:
    """Open the derby database at ``path`` read-only, for a board that must never block
    the poller: no migration, no write lock (in WAL mode readers and the writer never
    wait for each other). ``timeout`` is the busy timeout in seconds.

    Raises StoreError when the file is missing or is not a SQLite database; a read on
    a busy database raises ``sqlite3.OperationalError`` ("database is locked") later.
    """
    if str(path) == ":memory:" or not Path(path).is_file():
        raise StoreError(f"database {path} not found; pass --db or run: derby init config/socialderby.toml")
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=timeout,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot read database {path}: {exc}") from None
    return sqlite_utils.Database(conn)


def successful_polls(db: sqlite_utils.Database, until: datetime | None = None) -> list[tuple[datetime, datetime]]:
    """Return ``(started_at, finished_at)`` (aware UTC) of every ``ok`` poll run finished
    at or before ``until`` (all when None), oldest first."""
    cutoff = clock.to_store(until) if until else "9999"
    return [(clock.from_store(row["started_at"]), clock.from_store(row["finished_at"]))  # type: ignore[misc]
            for row in db.query("SELECT started_at, finished_at FROM poll_runs WHERE status = 'ok' "
                                "AND finished_at <= ? ORDER BY started_at, id", [cutoff])]


def last_poll_run_until(db: sqlite_utils.Database, until: datetime | None = None) -> dict | None:
    """Return the newest poll run (any status) started at or before ``until``, or None."""
    cutoff = clock.to_store(until) if until else "9999"
    return next(db.query("SELECT * FROM poll_runs WHERE started_at <= ? ORDER BY started_at DESC, id DESC LIMIT 1",
                         [cutoff]), None)


def snapshot_series(db: sqlite_utils.Database, media_ids: Iterable[str],
                    until: datetime | None = None) -> dict[str, list[dict]]:
    """Return each media's snapshots, oldest first, as
    ``{media_id: [{"observed_at": aware UTC, "like_count", "comments_count"}, ...]}``.
    With ``until`` only snapshots of poll runs finished at or before it are given, as
    :func:`read_entries` does for ``as_of``."""
    ids = list(media_ids)
    cutoff = clock.to_store(until) if until else "9999"
    series: dict[str, list[dict]] = {media_id: [] for media_id in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        visible = "" if until is None else "AND poll_run_id IN (SELECT id FROM poll_runs WHERE finished_at <= :cutoff)"
        sql = (f"SELECT media_id, observed_at, like_count, comments_count FROM snapshots "
               f"WHERE observed_at <= ? {visible} AND media_id IN ({', '.join('?' * len(chunk))}) "
               f"ORDER BY observed_at, id")
        for row in db.query(sql.replace(":cutoff", "?"), [cutoff, *([cutoff] if until else []), *chunk]):
            row["observed_at"] = clock.from_store(row["observed_at"])
            series[row.pop("media_id")].append(row)
    return series


def coverage_at(db: sqlite_utils.Database, until: datetime) -> tuple[dict[str, datetime], list[tuple[str, datetime, datetime]]]:
    """Return what the daemon recorded of its coverage (see :func:`record_coverage`) as
    known at ``until``: per hashtag the end of its latest full ``recent_media`` read, and
    the coverage gaps detected so far as ``(hashtag, from, to)``, oldest first. Both are
    empty for a database whose polls recorded no coverage."""
    cutoff = clock.to_store(until)
    last = {r["hashtag"]: clock.from_store(r["last"])
            for r in db.query("SELECT hashtag, max(covered_to) AS last FROM coverage WHERE covered_to <= ? "
                              "GROUP BY hashtag", [cutoff])}
    gaps = [(r["hashtag"], clock.from_store(r["gap_from"]), clock.from_store(r["gap_to"]))
            for r in db.query("SELECT hashtag, gap_from, gap_to FROM coverage_gaps WHERE detected_at <= ? "
                              "ORDER BY gap_from, hashtag", [cutoff])]
    return last, gaps  # type: ignore[return-value]


# -- issue 7: speed at a hundred times the Social Derby --------------------------------

@migrations()
def m_i7_latest_snapshots(db: sqlite_utils.Database) -> None:
    """Issue 7: the latest snapshot of each media, kept by triggers on ``snapshots``.

    The live leaderboard and ``save_page`` read one row per media here instead of
    searching ``snapshots`` (ten or more rows per media) for the newest one. Triggers,
    not application code, keep it equal to "the snapshot with the greatest
    (observed_at, id)" of each media, whoever writes ``snapshots``.
    """
    db.executescript(
        """
        CREATE TABLE latest_snapshots (
            media_id TEXT PRIMARY KEY REFERENCES media(media_id),
            snapshot_id INTEGER NOT NULL,
            observed_at TEXT NOT NULL,       -- UTC
            like_count INTEGER,
            comments_count INTEGER
        ) WITHOUT ROWID;
        INSERT INTO latest_snapshots (media_id, snapshot_id, observed_at, like_count, comments_count)
            SELECT media_id, id, observed_at, like_count, comments_count FROM (
                SELECT *, row_number() OVER (PARTITION BY media_id ORDER BY observed_at DESC, id DESC) AS n
                FROM snapshots) WHERE n = 1;
        CREATE TRIGGER latest_snapshots_insert AFTER INSERT ON snapshots BEGIN
            INSERT INTO latest_snapshots (media_id, snapshot_id, observed_at, like_count, comments_count)
                VALUES (NEW.media_id, NEW.id, NEW.observed_at, NEW.like_count, NEW.comments_count)
            ON CONFLICT (media_id) DO UPDATE SET
                snapshot_id = excluded.snapshot_id, observed_at = excluded.observed_at,
                like_count = excluded.like_count, comments_count = excluded.comments_count
            WHERE (excluded.observed_at, excluded.snapshot_id)
                  > (latest_snapshots.observed_at, latest_snapshots.snapshot_id);
        END;
        CREATE TRIGGER latest_snapshots_update AFTER UPDATE ON snapshots BEGIN
            DELETE FROM latest_snapshots WHERE media_id IN (OLD.media_id, NEW.media_id);
            INSERT INTO latest_snapshots (media_id, snapshot_id, observed_at, like_count, comments_count)
                SELECT media_id, id, observed_at, like_count, comments_count FROM snapshots s
                WHERE s.media_id IN (OLD.media_id, NEW.media_id) AND s.id = (
                    SELECT id FROM snapshots WHERE media_id = s.media_id ORDER BY observed_at DESC, id DESC LIMIT 1);
        END;
        CREATE TRIGGER latest_snapshots_delete AFTER DELETE ON snapshots BEGIN
            DELETE FROM latest_snapshots WHERE media_id = OLD.media_id;
            INSERT INTO latest_snapshots (media_id, snapshot_id, observed_at, like_count, comments_count)
                SELECT media_id, id, observed_at, like_count, comments_count FROM snapshots
                WHERE media_id = OLD.media_id ORDER BY observed_at DESC, id DESC LIMIT 1;
        END;
        """
    )
