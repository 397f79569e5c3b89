"""The database: opening it (WAL, busy timeout, migrations) and write transactions.

Every table is created here, by sqlite-utils migrations applied in order on each open;
a migration, once released, is never edited: changes come as new migrations at the end of
the list, each named for what it holds (``m006_…``).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from derby.errors import ConfigError, DatabaseMissing, NotADerbyDatabase, StoreError
from derby.text import caption_words


BUSY_TIMEOUT_MS = 15_000  # every writer, the flags' and the backup's readers; the board's reads wait 2 s and retry

migrations = Migrations("derby")

RENAMED_MIGRATIONS = {
    "m001_initial": "m001_contest_polls_media",
    "m_i4_rules_judging_audit": "m002_rules_judging_audit",
    "m_i3_platform_limits": "m003_platform_limits",
    "m_i5_daemon": "m004_daemon_state",
    "m_i7_latest_snapshots": "m005_latest_snapshots",
}
"""Old migration name -> the name it has now. sqlite-utils records applied migrations
by name, so a database made before the rename has its records renamed before the
migrations are applied (see :func:`_rename_applied`), and nothing runs twice."""


@migrations()
def m001_contest_polls_media(db: sqlite_utils.Database) -> None:
    """The contest, hashtag ids, poll runs, media, snapshots, sightings, poll warnings
    and rules."""
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
def m002_rules_judging_audit(db: sqlite_utils.Database) -> None:
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
def m003_platform_limits(db: sqlite_utils.Database) -> None:
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



@migrations()
def m004_daemon_state(db: sqlite_utils.Database) -> None:
    """The tables of :mod:`derby.store.daemon` (its docstring says what each holds):
    schedule, daemon lock, coverage, coverage gaps, contest state."""
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
def m005_latest_snapshots(db: sqlite_utils.Database) -> None:
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


CAPTION_BATCH = 20_000
PROGRESS_FROM = 10_000
"""Captions the caption-words migration fills per statement, and the number of
captions from which it reports its progress."""

_progress: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar("progress", default=None)


def _fill_caption_words(db: sqlite_utils.Database, what: str) -> None:
    """Compute ``caption_hashtags`` and ``caption_mentions`` of every stored caption
    (``media`` and ``media_edits``) in batches, reporting progress from
    :data:`PROGRESS_FROM` captions on; ``what`` names them in the report. The
    append-only trigger of ``media_edits`` is lifted for the fill only."""
    report = _progress.get()
    total = sum(db.execute(f"SELECT count(*) FROM {t} WHERE caption IS NOT NULL").fetchone()[0]
                for t in ("media", "media_edits"))
    loud = report is not None and total >= PROGRESS_FROM
    began, done = time.monotonic(), 0
    if loud:
        report(f"upgrading the database: {what} of {total:,} stored captions")
    db.execute("DROP TRIGGER media_edits_no_update")
    for table in ("media", "media_edits"):
        last = -1
        while True:
            rows = db.execute(f"SELECT rowid, caption FROM {table} WHERE rowid > ? AND caption IS NOT NULL "
                              f"ORDER BY rowid LIMIT {CAPTION_BATCH}", [last]).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            db.conn.executemany(f"UPDATE {table} SET caption_hashtags = ?, caption_mentions = ? WHERE rowid = ?",
                                [(*caption_words(caption), rowid) for rowid, caption in rows])
            done += len(rows)
            if loud:
                report(f"  {done:,} of {total:,} captions ({done / total:.0%}, {time.monotonic() - began:.0f} s)")
    db.execute("CREATE TRIGGER media_edits_no_update BEFORE UPDATE ON media_edits "
               "BEGIN SELECT RAISE(ABORT, 'media_edits is append-only'); END")
    if loud:
        report(f"upgraded {total:,} captions in {time.monotonic() - began:.1f} s")


@migrations()
def m006_caption_hashtags_mentions(db: sqlite_utils.Database) -> None:
    """Each caption version's normalized hashtags and @mentions (see
    :func:`derby.text.caption_words`), on ``media`` (the current caption) and
    ``media_edits`` (the captions a poll replaced), filled here for stored media.
    Ranking decides in SQL from these whether a caption carries a contest hashtag or
    the required mention."""
    for table in ("media", "media_edits"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN caption_hashtags TEXT")
        db.execute(f"ALTER TABLE {table} ADD COLUMN caption_mentions TEXT")
    _fill_caption_words(db, "hashtags and mentions")


@migrations()
def m007_entry_scores(db: sqlite_utils.Database) -> None:
    """The live per-entry standings columns (``entry_scores``, see
    :mod:`derby.store.standings`), which rules they were computed for, and the
    ``standings`` view; filled by the first write after the upgrade."""
    db.executescript(
        """
        CREATE TABLE entry_scores (
            media_id TEXT PRIMARY KEY REFERENCES media(media_id),
            first_seen_at, media_type, timestamp, caption_hashtags, caption_empty, like_count, comments_count,
            observed_at, observed_late, username, display_name, moderation_id, action, moderation_reason,
            moderation_by, moderation_at, st_window, found_tags, mention_ok, base_status, hidden, reinstated,
            likes_counted, capped_likes, comments_counted, capped_comments, pts_like, pts_comment, pts_media_type,
            extra_tags, pts_extra, pts_early, early_within, score_likes, score_no_likes, media_key
        ) WITHOUT ROWID;
        CREATE TABLE entry_scores_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version TEXT NOT NULL            -- JSON: the rules and contest the columns were computed for
        );
        """
    )


@migrations()
def m008_poll_run_progress(db: sqlite_utils.Database) -> None:
    """``progress_at``: when each poll run last stored a page (UTC); a run whose process
    died ends there."""
    db["poll_runs"].add_column("progress_at", str)


@migrations()
def m009_draws_and_certified_results(db: sqlite_utils.Database) -> None:
    """Draw commitments and runs, and results certifications (all append-only): see
    :mod:`derby.store.draws`."""
    db.executescript(
        """
        CREATE TABLE draw_commitments (
            id INTEGER PRIMARY KEY,
            commitment TEXT NOT NULL,        -- SHA-256 hex of the canonical pool
            pool TEXT NOT NULL,              -- the canonical pool document (exact bytes hashed)
            as_of TEXT,                      -- UTC: standings as of then; NULL: the live standings
            committed_at TEXT NOT NULL,      -- UTC
            committed_by TEXT NOT NULL
        );
        CREATE TABLE draw_runs (
            id INTEGER PRIMARY KEY,
            commitment_id INTEGER NOT NULL UNIQUE REFERENCES draw_commitments(id),
            value_kind TEXT NOT NULL CHECK (value_kind IN ('hex', 'text')),
            value TEXT NOT NULL,
            certificate TEXT NOT NULL,       -- JSON, as written to the certificate file
            ran_at TEXT NOT NULL,            -- UTC
            ran_by TEXT NOT NULL
        );
        CREATE TABLE results_certifications (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL,            -- of the results file's bytes
            certified_at TEXT NOT NULL,      -- UTC
            certified_by TEXT NOT NULL,
            path TEXT
        );
        """
    )
    for table in ("draw_commitments", "draw_runs", "results_certifications"):
        for verb in ("UPDATE", "DELETE"):
            db.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


@migrations()
def m010_judge_flags(db: sqlite_utils.Database) -> None:
    """Flags computed at the end of each poll (see :mod:`derby.store.flags`) and the
    judges' decisions on them (append-only)."""
    db.executescript(
        """
        CREATE TABLE judge_flags (
            id INTEGER PRIMARY KEY,
            media_id TEXT NOT NULL REFERENCES media(media_id),
            kind TEXT NOT NULL,              -- burst | ratio | lockstep
            poll_run_id INTEGER REFERENCES poll_runs(id),
            detected_at TEXT NOT NULL,       -- UTC, the poll's observation time
            detail TEXT NOT NULL,            -- what was seen, with numbers
            data TEXT,                       -- JSON numbers behind the detail
            UNIQUE (media_id, kind, poll_run_id)
        );
        CREATE INDEX judge_flags_media ON judge_flags (media_id);
        CREATE TABLE flag_decisions (
            id INTEGER PRIMARY KEY,
            flag_id INTEGER NOT NULL REFERENCES judge_flags(id),
            decision TEXT NOT NULL CHECK (decision IN ('clear', 'act')),
            note TEXT NOT NULL,
            by TEXT NOT NULL,
            at TEXT NOT NULL                 -- UTC
        );
        CREATE INDEX flag_decisions_flag ON flag_decisions (flag_id, id);
        """
    )
    for verb in ("UPDATE", "DELETE"):
        db.execute(f"CREATE TRIGGER flag_decisions_no_{verb.lower()} BEFORE {verb} ON flag_decisions "
                   "BEGIN SELECT RAISE(ABORT, 'flag_decisions is append-only'); END")


@migrations()
def m011_purges(db: sqlite_utils.Database) -> None:
    """The purge of personal data: ``purges`` records each one; while a purge row is
    open (``finished_at`` NULL) and only then, the triggers let ``entrant_links`` and
    ``entrant_imports`` rows have their personal columns replaced, and ``moderation``
    reasons, ``flag_decisions`` notes and ``audit_log`` rows their text. Nothing else may ever change those tables (see
    :mod:`derby.store.purge`)."""
    db.executescript(
        """
        CREATE TABLE purges (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,        -- UTC
            finished_at TEXT,
            by TEXT NOT NULL,
            entrants INTEGER,
            rows INTEGER
        );
        CREATE TRIGGER purges_no_delete BEFORE DELETE ON purges BEGIN SELECT RAISE(ABORT, 'purges is append-only'); END;
        CREATE TRIGGER purges_close_once BEFORE UPDATE ON purges WHEN OLD.finished_at IS NOT NULL
            BEGIN SELECT RAISE(ABORT, 'purges is append-only'); END;
        DROP TRIGGER entrant_links_no_update;
        CREATE TRIGGER entrant_links_no_update BEFORE UPDATE ON entrant_links
            WHEN NOT (EXISTS (SELECT 1 FROM purges WHERE finished_at IS NULL)
                      AND NEW.id = OLD.id AND NEW.media_id = OLD.media_id AND NEW.import_id = OLD.import_id
                      AND NEW.linked_at = OLD.linked_at)
            BEGIN SELECT RAISE(ABORT, 'entrant_links is append-only'); END;
        CREATE TRIGGER entrant_imports_no_update BEFORE UPDATE ON entrant_imports
            WHEN NOT (EXISTS (SELECT 1 FROM purges WHERE finished_at IS NULL)
                      AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.rows = OLD.rows AND NEW.matched = OLD.matched)
            BEGIN SELECT RAISE(ABORT, 'entrant_imports is append-only'); END;
        CREATE TRIGGER entrant_imports_no_delete BEFORE DELETE ON entrant_imports
            BEGIN SELECT RAISE(ABORT, 'entrant_imports is append-only'); END;
        DROP TRIGGER moderation_no_update;
        CREATE TRIGGER moderation_no_update BEFORE UPDATE ON moderation
            WHEN NOT (EXISTS (SELECT 1 FROM purges WHERE finished_at IS NULL)
                      AND NEW.id = OLD.id AND NEW.media_id = OLD.media_id AND NEW.action = OLD.action
                      AND NEW.by = OLD.by AND NEW.at = OLD.at)
            BEGIN SELECT RAISE(ABORT, 'moderation is append-only'); END;
        DROP TRIGGER flag_decisions_no_update;
        CREATE TRIGGER flag_decisions_no_update BEFORE UPDATE ON flag_decisions
            WHEN NOT (EXISTS (SELECT 1 FROM purges WHERE finished_at IS NULL)
                      AND NEW.id = OLD.id AND NEW.flag_id = OLD.flag_id AND NEW.decision = OLD.decision
                      AND NEW.by = OLD.by AND NEW.at = OLD.at)
            BEGIN SELECT RAISE(ABORT, 'flag_decisions is append-only'); END;
        DROP TRIGGER audit_log_no_update;
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            WHEN NOT (EXISTS (SELECT 1 FROM purges WHERE finished_at IS NULL)
                      AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.action = OLD.action)
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        """
    )


@migrations()
def m012_contest_terms(db: sqlite_utils.Database) -> None:
    """The contest's terms (organizer, eligibility, prizes, draw, winners, privacy) as
    JSON: see :mod:`derby.terms`."""
    db.execute("ALTER TABLE contest ADD COLUMN terms TEXT")


@migrations()
def m013_team_contests(db: sqlite_utils.Database) -> None:
    """Team contests: the contest's kind and trophies, its teams (keyed by account id,
    so a renamed team keeps its history), append-only account snapshots, the team of
    each media, judges' actions on whole teams, and each poll run's read of each team."""
    db.executescript(
        """
        ALTER TABLE contest ADD COLUMN kind TEXT NOT NULL DEFAULT 'hashtag';   -- hashtag | teams
        ALTER TABLE contest ADD COLUMN trophies TEXT;                          -- JSON list of {name, metric, count}
        CREATE TABLE teams (
            account_id TEXT PRIMARY KEY,     -- the team account's Instagram user id
            name TEXT NOT NULL,
            token_env TEXT NOT NULL,         -- the variable holding its token (never the token)
            login TEXT NOT NULL,             -- facebook | instagram
            position INTEGER NOT NULL,       -- order in the contest file
            added_at TEXT NOT NULL,          -- UTC
            dropped_at TEXT                  -- UTC: no longer in the contest file (loaded with --force)
        );
        CREATE TABLE account_snapshots (
            id INTEGER PRIMARY KEY,
            account_id TEXT NOT NULL REFERENCES teams(account_id),
            poll_run_id INTEGER NOT NULL REFERENCES poll_runs(id),
            observed_at TEXT NOT NULL,       -- UTC
            username TEXT,
            followers_count INTEGER,
            follows_count INTEGER,
            media_count INTEGER,
            UNIQUE (account_id, poll_run_id)
        );
        CREATE INDEX account_snapshots_account_observed ON account_snapshots (account_id, observed_at);
        CREATE TABLE team_media (
            media_id TEXT PRIMARY KEY REFERENCES media(media_id),
            account_id TEXT NOT NULL REFERENCES teams(account_id),
            poll_run_id INTEGER REFERENCES poll_runs(id)
        ) WITHOUT ROWID;
        CREATE INDEX team_media_account ON team_media (account_id);
        CREATE TABLE team_moderation (
            id INTEGER PRIMARY KEY,
            account_id TEXT NOT NULL REFERENCES teams(account_id),
            action TEXT NOT NULL CHECK (action IN ('disqualify', 'reinstate')),
            reason TEXT NOT NULL,
            by TEXT NOT NULL,
            at TEXT NOT NULL                 -- UTC
        );
        CREATE TABLE team_reads (
            poll_run_id INTEGER NOT NULL REFERENCES poll_runs(id),
            account_id TEXT NOT NULL REFERENCES teams(account_id),
            at TEXT NOT NULL,                -- UTC
            status TEXT NOT NULL,            -- ok | failed | skipped
            pages INTEGER NOT NULL DEFAULT 0,
            error_kind TEXT,
            error TEXT,                      -- redacted
            PRIMARY KEY (poll_run_id, account_id)
        );
        """
    )
    for table in ("account_snapshots", "team_moderation"):
        for verb in ("UPDATE", "DELETE"):
            db.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


@migrations()
def m014_poll_clock(db: sqlite_utils.Database) -> None:
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
def m015_engagement_readings(db: sqlite_utils.Database) -> None:
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
def m016_refresh_state(db: sqlite_utils.Database) -> None:
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


@migrations()
def m017_bare_mentions(db: sqlite_utils.Database) -> None:
    """Stored captions' mentions again, now with the bare handle as a whole word (the
    hashtag feed strips the ``@``; see :func:`derby.text.caption_mentions`); the live
    standings are scored again by the next write."""
    _fill_caption_words(db, "mentions")
    db.execute("DELETE FROM entry_scores_state")


@migrations()
def m018_token_expiry(db: sqlite_utils.Database) -> None:
    """What the platform's ``debug_token`` said of each token in use, keyed by the
    token's fingerprint (see :func:`derby.tokens.fingerprint`; never the token):
    ``expires_at`` and ``data_access_expires_at`` (UTC text, NULL: never), whether it
    was valid, and when it was checked (UTC text)."""
    db.execute(
        """CREATE TABLE token_expiry (
            fingerprint TEXT PRIMARY KEY,
            label TEXT NOT NULL,
            expires_at TEXT,
            data_access_expires_at TEXT,
            is_valid INTEGER,
            checked_at TEXT NOT NULL
        )"""
    )


@migrations()
def m019_poll_ranks(db: sqlite_utils.Database) -> None:
    """Each successful poll run's ranks as the poll left them (``poll_ranks``: the
    ranked entries' media ids, or a team contest's team account ids, and their rank),
    and what they were computed for (``poll_ranks_state``: kind ``entries`` or
    ``teams``, a fingerprint of the stored contest, the newest id of each history
    table, when stored, UTC). The board's
    movement column reads them (see :mod:`derby.store.poll_ranks`); a database polled
    before has none, and the board ranks those polls again as of their end."""
    db.executescript(
        """
        CREATE TABLE poll_ranks (
            poll_run_id INTEGER NOT NULL REFERENCES poll_runs(id),
            ranked_id TEXT NOT NULL,         -- media id, or a team's account id
            rank INTEGER NOT NULL,
            PRIMARY KEY (poll_run_id, ranked_id)
        ) WITHOUT ROWID;
        CREATE TABLE poll_ranks_state (
            poll_run_id INTEGER PRIMARY KEY REFERENCES poll_runs(id),
            kind TEXT NOT NULL,              -- entries | teams
            contest TEXT NOT NULL,           -- fingerprint of the stored contest the ranks were computed for
            history TEXT NOT NULL,           -- JSON: the newest id of each history table when stored
            stored_at TEXT NOT NULL          -- UTC
        );
        """
    )


@migrations()
def m020_entry_scores_by_status(db: sqlite_utils.Database) -> None:
    """An index of the kept per-entry standings by stored status, hidden likes and
    reinstatement: the board's counts read it instead of every kept row."""
    db.execute("CREATE INDEX entry_scores_status ON entry_scores (base_status, hidden, reinstated)")


@migrations()
def m021_token_expiry_source(db: sqlite_utils.Database) -> None:
    """Where each stored token expiry came from: ``debug_token`` (the platform said) or
    ``recorded`` (``derby token issued``: an Instagram Login token's issue date, or the
    ``expires_in`` of its refresh, as the organizer recorded it)."""
    db.execute("ALTER TABLE token_expiry ADD COLUMN source TEXT NOT NULL DEFAULT 'debug_token'")


def open_db(path: str | Path, *, create: bool = True,
            progress: Callable[[str], None] | None = None) -> sqlite_utils.Database:
    """Open the derby database at ``path`` and migrate it.

    ``progress`` receives one line at a time from a long upgrade (a migration over
    many stored media says how far it got and how long it took).

    With ``create`` a missing file (not a missing folder) is created; without it a
    missing file is an error, so read-only commands never leave an empty database
    behind. A file that is not a derby database (another program's tables; an empty
    one unless ``create``) is refused untouched. Raises StoreError when the file is
    missing (without ``create``), is not a (derby) SQLite database, cannot be opened,
    or stays locked past the busy timeout (15 s) during the upgrade.
    """
    memory = str(path) == ":memory:"
    if not memory:
        folder = Path(path).parent
        if not folder.is_dir():
            raise StoreError(f"cannot open database {path}: folder {folder} does not exist")
        if not create and not Path(path).exists():
            raise ConfigError(f"no database at {path}; run: derby init contest.toml (or pass --db; derby init --example contest.toml writes one)")
    pending: list[str] = []
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        db = sqlite_utils.Database(conn)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not memory:
            _check_derby(db, path, empty_ok=create)  # before anything writes to the file
            db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL never corrupts the database; a power cut may lose the
            # last pages stored, which the next poll reads again. FULL would fsync
            # every page's transaction.
            db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA cache_size = -65536")  # 64 MiB instead of 2 MiB: 100k+ media per contest
        db.execute("PRAGMA foreign_keys = ON")
        pending = _pending(db)
        if pending and not memory and not os.access(path, os.W_OK):
            raise StoreError(_OLD_READ_ONLY.format(path=path))
        _rename_applied(db)
        token = _progress.set(progress)
        try:
            migrations.apply(db)
            if "m007_entry_scores" in pending:
                from derby.store.standings import rebuild_entry_scores

                rebuild_entry_scores(db)
        finally:
            _progress.reset(token)
    except sqlite3.OperationalError as exc:
        if "readonly" in str(exc) and pending:
            raise StoreError(_OLD_READ_ONLY.format(path=path)) from None
        raise StoreError(f"cannot use database {path}: {exc} (is the file or its folder read-only, or locked by another program?)") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot use database {path}: {exc} (is it a derby database? pass another --db)") from None
    except OSError as exc:
        raise StoreError(f"cannot open database {path}: {exc.strerror}") from None
    return db


_OLD_READ_ONLY = ("database {path} was made by an older derby and must be upgraded, which writes to it, "
                  "but it is read-only: copy it to writable storage and open the copy")


def _pending(db: sqlite_utils.Database) -> list[str]:
    """Names of the migrations not applied yet (records under an old name count as
    applied), without writing."""
    if not db[Migrations.migrations_table].exists():
        return [m.name for m in migrations.pending(db)]
    applied = {RENAMED_MIGRATIONS.get(m.name, m.name) for m in migrations.applied(db)}
    return [m.name for m in migrations.pending(db) if m.name not in applied]


def _rename_applied(db: sqlite_utils.Database) -> None:
    """Rename the applied-migration records of a database made before the migrations
    got the names of what they hold (:data:`RENAMED_MIGRATIONS`)."""
    table = db[Migrations.migrations_table]
    if not table.exists():
        return
    applied = {m.name for m in migrations.applied(db)}
    old = [name for name in RENAMED_MIGRATIONS if name in applied]
    if not old:
        return
    with write(db):
        for name in old:
            db.execute(f"UPDATE [{Migrations.migrations_table}] SET name = ? WHERE migration_set = ? AND name = ?",
                       [RENAMED_MIGRATIONS[name], migrations.name, name])


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
    """Open the derby database at ``path`` for reading only: no migration, no write, no
    write lock (in WAL mode readers and the writer never wait for each other), so it
    works on a read-only medium and never changes the file. ``timeout`` is the busy
    timeout in seconds.

    A database whose folder cannot be written and that lacks its ``-shm`` file (a WAL
    database on a USB key or CD, or copied without its ``-wal``/``-shm`` files) is opened
    as immutable. A database made by an older derby is read through an upgraded copy in
    memory; the file is left as it is. What the reader should know of either is in
    :func:`reading_notes`.

    Raises StoreError when the file is missing, is not a SQLite database or is not a
    derby database (an empty file, another program's database); a
    read on a busy database raises ``sqlite3.OperationalError`` ("database is locked")
    later.
    """
    if str(path) == ":memory:" or not Path(path).is_file():
        raise DatabaseMissing(f"database {path} not found; pass --db or run: derby init config/socialderby.toml")
    uri = Path(path).resolve().as_uri()
    notes: list[str] = []
    try:
        try:
            conn = _connect_read_only(f"{uri}?mode=ro", timeout)
        except sqlite3.OperationalError as exc:
            if "unable to open" not in str(exc):
                raise
            conn = _connect_read_only(f"{uri}?immutable=1", timeout)
            notes.append(f"{path} is on a read-only medium without its -shm file: read as a fixed copy "
                         "(changes made elsewhere meanwhile are not seen)")
        db = sqlite_utils.Database(conn)
        _check_derby(db, path)
        pending = _pending(db)
        if pending:
            memory = sqlite3.connect(":memory:", check_same_thread=False)
            conn.backup(memory)
            conn.close()
            db = sqlite_utils.Database(memory)
            _rename_applied(db)
            migrations.apply(db)
            if "m007_entry_scores" in pending:
                from derby.store.standings import rebuild_entry_scores

                rebuild_entry_scores(db)
            notes.append(f"{path} was made by an older derby (its schema lacks {pending[0]}); read through an "
                         "upgraded copy in memory, the file is unchanged (derby init on a writable copy upgrades it)")
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise  # busy: the caller may wait and read again
        raise StoreError(f"cannot read database {path}: {exc} (is it a derby database? pass another --db)") from None
    db.derby_notes = notes  # type: ignore[attr-defined]
    return db


def reading_notes(db: sqlite_utils.Database) -> list[str]:
    """Return what :func:`open_reader` noticed of how it opened ``db`` (read as an
    immutable copy, older schema), one line each; empty for a plain read."""
    return list(getattr(db, "derby_notes", []))


def _connect_read_only(uri: str, timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opening is lazy: read once now
    except BaseException:
        conn.close()
        raise
    return conn


def _check_derby(db: sqlite_utils.Database, path: str | Path, *, empty_ok: bool = False) -> None:
    """Raise StoreError unless ``db`` is a derby database (or an empty SQLite file
    when ``empty_ok``: ``derby init`` may fill it)."""
    tables = [r[0] for r in db.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    applied = migrations.applied(db) if Migrations.migrations_table in tables else []
    if applied:
        return
    if not tables:
        if empty_ok:
            return
        raise NotADerbyDatabase(f"{path} is an empty database, not a derby one; run: derby init config/socialderby.toml "
                         f"--db {path}, or pass the contest's --db")
    shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
    raise NotADerbyDatabase(f"{path} is not a derby database (it holds the tables {shown}); pass the contest's --db")
