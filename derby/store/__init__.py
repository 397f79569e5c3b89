"""The SQLite store: every read and write derby makes, one module per concern.

``open_db(path)`` opens (and creates or upgrades) a derby database with sqlite-utils:
WAL journal, a busy timeout, foreign keys, and the migrations applied. Functions take
the database first (``save_page(db, ...)``). Times are stored as UTC text (see
:mod:`derby.clock`). Nothing here knows of HTTP or rich.

- :mod:`~derby.store.schema`: opening the database, migrations, write transactions;
- :mod:`~derby.store.contest`: the contest, its rules and their history, hashtag ids;
- :mod:`~derby.store.polls`: poll runs, media, snapshots, sightings, and their reads;
- :mod:`~derby.store.ranking`: running the ranking queries built by scoring;
- :mod:`~derby.store.standings`: the live per-entry standings columns kept current;
- :mod:`~derby.store.judging`: moderation, entrants and the audit log;
- :mod:`~derby.store.limits`: cool-downs, usage readings, the hashtag budget;
- :mod:`~derby.store.daemon`: schedule, single-instance lock, coverage, closing;
- :mod:`~derby.store.versions`: the data version the board caches on;
- :mod:`~derby.store.backup`: consistent copies of a live database.

Callers use ``from derby import store`` and ``store.<function>``.
"""

from derby.store.schema import (
    BUSY_TIMEOUT_MS,
    RENAMED_MIGRATIONS,
    m001_contest_polls_media,
    m002_rules_judging_audit,
    m003_platform_limits,
    m004_daemon_state,
    m005_latest_snapshots,
    migrations,
    open_db,
    open_reader,
    reading_notes,
    write,
)
from derby.store.backup import BackupResult, backup
from derby.store.contest import (
    has_rule_history,
    hashtag_id,
    load_contest,
    read_rules,
    rules_in_force,
    rule_history,
    save_contest,
    save_hashtag_id,
    set_rule,
    stored_rule_names,
)
from derby.store.polls import (
    PageResult,
    add_media_counts,
    note_no_poller,
    counts,
    dead_poll_runs,
    coverage_at,
    finish_poll_run,
    last_poll_run,
    last_poll_run_until,
    last_seen,
    poll_run,
    record_warnings,
    save_page,
    snapshot_series,
    start_poll_run,
    successful_polls,
)
from derby.store.ranking import history_present, query_rows
from derby.store.standings import (
    STANDINGS_EVENTS,
    entry_scores_current,
    rebuild_entry_scores,
    refresh_entry_scores,
)
from derby.store.judging import (
    EntrantImport,
    audit_log,
    find_media,
    import_entrants,
    moderate,
    moderation_history,
)
from derby.store.limits import (
    HASHTAG_LIMIT,
    HASHTAG_WINDOW,
    HashtagBudget,
    active_cooldown,
    hashtag_budget,
    record_hashtag_query,
    record_poll_outcome,
    start_cooldown,
)
from derby.store.versions import data_version, database_file
from derby.store.flags import open_flags as open_judge_flags
from derby.store.tokens import save_token_expiry, token_expiries
from derby.store.daemon import (
    AlreadyRunning,
    COVERAGE_SPAN_SECONDS,
    acknowledge_gaps,
    CoverageGap,
    LockHolder,
    acquire_lock,
    close_contest,
    contest_closed,
    coverage_gaps,
    heartbeat,
    last_coverage,
    load_schedule,
    lock_holder,
    mark_interrupted_runs,
    record_coverage,
    release_lock,
    save_schedule,
)

__all__ = [
    "BUSY_TIMEOUT_MS",
    "RENAMED_MIGRATIONS",
    "m001_contest_polls_media",
    "m002_rules_judging_audit",
    "m003_platform_limits",
    "m004_daemon_state",
    "m005_latest_snapshots",
    "migrations",
    "open_db",
    "open_reader",
    "reading_notes",
    "write",
    "BackupResult",
    "backup",
    "has_rule_history",
    "hashtag_id",
    "load_contest",
    "read_rules",
    "rules_in_force",
    "rule_history",
    "save_contest",
    "save_hashtag_id",
    "set_rule",
    "stored_rule_names",
    "PageResult",
    "add_media_counts",
    "note_no_poller",
    "counts",
    "dead_poll_runs",
    "coverage_at",
    "finish_poll_run",
    "last_poll_run",
    "last_poll_run_until",
    "last_seen",
    "poll_run",
    "record_warnings",
    "save_page",
    "snapshot_series",
    "start_poll_run",
    "successful_polls",
    "history_present",
    "STANDINGS_EVENTS",
    "entry_scores_current",
    "rebuild_entry_scores",
    "refresh_entry_scores",
    "query_rows",
    "EntrantImport",
    "audit_log",
    "find_media",
    "import_entrants",
    "moderate",
    "moderation_history",
    "HASHTAG_LIMIT",
    "HASHTAG_WINDOW",
    "HashtagBudget",
    "active_cooldown",
    "hashtag_budget",
    "record_hashtag_query",
    "record_poll_outcome",
    "start_cooldown",
    "AlreadyRunning",
    "acknowledge_gaps",
    "COVERAGE_SPAN_SECONDS",
    "CoverageGap",
    "LockHolder",
    "acquire_lock",
    "close_contest",
    "contest_closed",
    "coverage_gaps",
    "heartbeat",
    "last_coverage",
    "load_schedule",
    "lock_holder",
    "mark_interrupted_runs",
    "record_coverage",
    "release_lock",
    "save_schedule",
    "data_version",
    "database_file",
    "open_judge_flags",
    "save_token_expiry",
    "token_expiries",
]
