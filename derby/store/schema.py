"""The database: opening it (WAL, busy timeout, migrations) and write transactions.

Every table is created here, by sqlite-utils migrations applied in order on each open;
a migration, once released, is never edited: changes come as new migrations.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from derby.errors import ConfigError, StoreError


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
    """Rule history, moderation, entrants, media edits, the audit log and the
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
    """Why a poll run failed, its retries and usage reading; cool-downs; the
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



# The tables of derby.store.daemon (its docstring says what each holds).
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



@migrations()
def m_i7_latest_snapshots(db: sqlite_utils.Database) -> None:
    """The latest snapshot of each media, kept by triggers on ``snapshots``.

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
            # every page's transaction.
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


@migrations()
def m_i11_poll_clock(db: sqlite_utils.Database) -> None:
    """Which clock the database's polls were made on: ``real`` or ``rehearsal``
    (``derby --now``); see :mod:`derby.store.rehearsal`."""
    db.executescript(
        """
        CREATE TABLE poll_clock (
            kind TEXT PRIMARY KEY CHECK (kind IN ('real', 'rehearsal')),
            first_at TEXT NOT NULL           -- UTC, on that clock
        );
        """
    )


@migrations()
def m_i11_engagement_readings(db: sqlite_utils.Database) -> None:
    """Where and when each media's engagement was read (see :mod:`derby.store.readings`).

    ``snapshots.source`` names the source of the reading that wrote a snapshot
    (``recent_media``, ``top_media``, ``mentioned_media``, ``business_discovery``; NULL
    before sources were recorded: a hashtag edge). ``poll_runs.final_sweep`` marks the
    first poll after the freeze whose refresh readings count as the engagement at the
    freeze. ``latest_readings`` holds each media's newest reading (a sighting by any
    source), kept by a trigger on ``sightings``. ``media_outcomes`` (append-only)
    records what a source said of a media besides its engagement: ``gone`` (reported
    deleted or hidden), ``not_refreshable`` (the source refuses it: stop asking),
    ``missing`` (a source read successfully should have returned it and did not).
    """
    db["contest"].add_column("refresh", str)             # JSON of the [refresh] settings
    db["snapshots"].add_column("source", str)
    db.execute("ALTER TABLE poll_runs ADD COLUMN final_sweep INTEGER NOT NULL DEFAULT 0")
    db.executescript(
        """
        CREATE TABLE latest_readings (
            media_id TEXT PRIMARY KEY REFERENCES media(media_id),
            poll_run_id INTEGER NOT NULL,
            read_at TEXT NOT NULL,           -- UTC, the poll run's start
            source TEXT NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO latest_readings (media_id, poll_run_id, read_at, source)
            SELECT media_id, poll_run_id, started_at, edge FROM (
                SELECT s.media_id, s.poll_run_id, p.started_at, s.edge,
                       row_number() OVER (PARTITION BY s.media_id ORDER BY p.started_at DESC, s.poll_run_id DESC) AS n
                FROM sightings s JOIN poll_runs p ON p.id = s.poll_run_id) WHERE n = 1;
        CREATE TRIGGER latest_readings_insert AFTER INSERT ON sightings BEGIN
            INSERT INTO latest_readings (media_id, poll_run_id, read_at, source)
                SELECT NEW.media_id, NEW.poll_run_id, p.started_at, NEW.edge FROM poll_runs p WHERE p.id = NEW.poll_run_id
            ON CONFLICT (media_id) DO UPDATE SET
                poll_run_id = excluded.poll_run_id, read_at = excluded.read_at, source = excluded.source
            WHERE excluded.read_at > latest_readings.read_at
               OR (excluded.read_at = latest_readings.read_at AND excluded.poll_run_id > latest_readings.poll_run_id);
        END;
        CREATE TABLE media_outcomes (
            id INTEGER PRIMARY KEY,
            media_id TEXT NOT NULL REFERENCES media(media_id),
            source TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('gone', 'not_refreshable', 'missing')),
            poll_run_id INTEGER REFERENCES poll_runs(id),
            at TEXT NOT NULL,                -- UTC
            detail TEXT
        );
        CREATE INDEX media_outcomes_media ON media_outcomes (media_id, at);
        CREATE TRIGGER media_outcomes_no_update BEFORE UPDATE ON media_outcomes
            BEGIN SELECT RAISE(ABORT, 'media_outcomes is append-only'); END;
        CREATE TRIGGER media_outcomes_no_delete BEFORE DELETE ON media_outcomes
            BEGIN SELECT RAISE(ABORT, 'media_outcomes is append-only'); END;
        """
    )


@migrations()
def m_i11_refresh_state(db: sqlite_utils.Database) -> None:
    """What refreshes by id need to remember (see :mod:`derby.store.refresh`): the
    organizer account's username (read once from the API), refresh sources turned off
    by a permission refusal, the authors refreshes named (append-only), and entrants
    Business Discovery cannot read (append-only)."""
    db.executescript(
        """
        CREATE TABLE organizer_account (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            account TEXT NOT NULL,           -- the Instagram user id (feed name for fixtures)
            username TEXT NOT NULL,          -- validated, lower case
            read_at TEXT NOT NULL            -- UTC
        );
        CREATE TABLE refresh_sources (
            source TEXT PRIMARY KEY,         -- mentioned_media | business_discovery
            enabled INTEGER NOT NULL,
            reason TEXT,
            changed_at TEXT NOT NULL,        -- UTC
            poll_run_id INTEGER REFERENCES poll_runs(id)
        );
        CREATE TABLE media_authors (
            id INTEGER PRIMARY KEY,
            media_id TEXT NOT NULL REFERENCES media(media_id),
            username TEXT NOT NULL,          -- validated, lower case
            source TEXT NOT NULL,
            poll_run_id INTEGER REFERENCES poll_runs(id),
            at TEXT NOT NULL                 -- UTC
        );
        CREATE INDEX media_authors_media ON media_authors (media_id, at);
        CREATE TABLE entrant_refusals (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL,
            source TEXT NOT NULL,
            poll_run_id INTEGER REFERENCES poll_runs(id),
            at TEXT NOT NULL,                -- UTC
            detail TEXT
        );
        CREATE INDEX entrant_refusals_username ON entrant_refusals (username, source);
        """
    )
    for table in ("media_authors", "entrant_refusals"):
        for verb in ("UPDATE", "DELETE"):
            db.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
