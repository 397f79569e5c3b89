"""The ``derby`` command line. The only module that reads the environment and ``.env``,
prints, or exits.

Every command takes ``--db`` (env ``DERBY_DB``, default ``derby.db``). Failures print
one line on stderr, naming the cause and the fix, and exit non-zero: 2 for
configuration, 3 when the platform refused for now, 4 when a person must fix the token
or its permissions, 1 otherwise. No traceback reaches a user unless ``DERBY_DEBUG=1``;
no secret reaches any output.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sqlite3
import sys
from datetime import datetime
from functools import wraps
from pathlib import Path

import click

from derby import __version__
from derby.errors import ConfigError, DerbyError
from derby.text import display_text

DEFAULT_DB = "derby.db"


def _fail(message: str, code: int) -> None:
    click.echo(f"{'<3>' if _stderr_is_journal() else ''}derby: {message}", err=True)  # <3>: an error, for journald
    sys.exit(code)


def _secrets() -> list[str]:
    """The values of every token or secret variable (a team contest names its own, such
    as DERBY_TOKEN_3E_AVENUE)."""
    names = [n for n in os.environ if "TOKEN" in n.upper() or "SECRET" in n.upper()]
    return [v for v in (os.environ.get(n, "").strip() for n in ("INSTAGRAM_ACCESS_TOKEN", "INSTAGRAM_APP_SECRET", *names))
            if len(v) >= 8]


def _redact(text: str) -> str:
    from derby.secrets import redact

    return redact(text, *_secrets())


def _lang_option(help_text: str):
    """The ``--lang fr|en`` option; left out (None), the command speaks the contest's language."""
    return click.option("--lang", type=click.Choice(["fr", "en"]), default=None, help=help_text)


def friendly(func):
    """Turn derby's errors (and any other exception) into one line and an exit status."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DerbyError as exc:
            _fail(_redact(str(exc)), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:  # the reader (head, less) went away: nothing more to say
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
            sys.exit(0)
        except OSError as exc:
            _fail(_redact(f"{exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}"), 1)
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "readonly" in text or "read-only" in text:
                _fail(f"the database is read-only ({text}); copy it somewhere writable or fix its permissions, "
                      "then run the command again", 1)
            if "database is locked" in text:
                from derby.store import BUSY_TIMEOUT_MS

                _fail(f"the database is locked by another program (waited {BUSY_TIMEOUT_MS // 1000} s); "
                      "run the command again once it is done", 1)
            _fail(f"database error ({text}); if another program holds it, wait and run the command again", 1)
        except Exception as exc:  # noqa: BLE001 - the user gets one line, never a traceback
            if os.environ.get("DERBY_DEBUG") == "1":
                raise
            _fail(_redact(f"unexpected error ({type(exc).__name__}: {exc}); rerun with DERBY_DEBUG=1 for details"), 1)

    return wrapper


class _Context:
    def __init__(self, db_path: str, db_given: bool = False, now_text: str | None = None) -> None:
        self.db_path = db_path
        self.noted = False
        self.db_given = db_given  # --db on the command line (not DERBY_DB, not the default)
        self.now_text = now_text
        self.tz = None  # the contest's zone, when a command knows it before the database does
        self._clock = None

    def open(self, create: bool = False):
        """Open the database for a writing command (created or upgraded as needed);
        when no process polls it (its file lock is free), poll runs left running are a
        dead process's and are closed as interrupted."""
        from derby import lock, poller, store

        db = store.open_db(self.db_path, create=create, progress=lambda line: click.echo(line, err=True))
        probe = lock.FileLock(self.db_path)
        try:
            free = probe.acquire()
        except OSError:  # a read-only folder: nobody can tell, so nothing is closed
            free = False
        if free:
            try:
                poller.close_dead_runs(db, self.now())
            finally:
                probe.release()
        return db

    def read(self):
        """Open the database for a reading command: never migrated nor written (see
        ``store.open_reader``); what it noticed is printed once on stderr."""
        from derby import store

        if not Path(self.db_path).is_file():
            raise ConfigError(f"no database at {self.db_path}; run: derby init config/socialderby.toml (or pass --db)")
        from derby import lock

        db = store.open_reader(self.db_path, timeout=store.BUSY_TIMEOUT_MS / 1000)
        if lock.is_held(self.db_path) is False:  # nobody polls: a run left running is a dead process's
            store.note_no_poller(db)
        if not self.noted:
            for note in store.reading_notes(db):
                click.echo(f"note: {note}", err=True)
            self.noted = True
        return db

    @property
    def rehearsal(self) -> bool:
        """True when --now / DERBY_NOW set a rehearsal clock."""
        return self.now_text is not None

    def clock(self):
        """The command's clock: the system clock, or the rehearsal clock that started
        at --now and runs on at real speed."""
        from derby import clock

        if self._clock is None:
            if self.now_text is None:
                self._clock = clock.utcnow
            else:
                start = datetime.fromisoformat(self.now_text.strip())
                if start.tzinfo is None:
                    start = start.replace(tzinfo=self._zone())
                self._clock = clock.ScaledClock(start, 1.0)
        return self._clock

    def now(self):
        """Now on the command's clock (aware UTC)."""
        return self.clock()()

    def _zone(self):
        from derby import store

        if self.tz is None and Path(self.db_path).exists():
            contest = store.load_contest(store.open_db(self.db_path, create=False))
            self.tz = contest.tz if contest is not None else None
        if self.tz is None:
            raise ConfigError(f"--now {self.now_text} has no UTC offset and no contest is loaded to give its time "
                              "zone; write it with an offset, e.g. 2017-04-05T12:00-04:00")
        return self.tz


pass_ctx = click.make_pass_decorator(_Context)


def _check_now(click_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time such as 2017-04-05T12:00 or "
                                 "2017-04-05T12:00-04:00") from None
    return value.strip()


def _verbosity() -> int:
    """-1 with -q, 1 with -v, else 0 (given on the group or on the command)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get("derby.verbosity", 0) if ctx else 0


def _info(text: str, *, err: bool = False) -> None:
    """Print an informational line (stdout, or stderr with ``err``) unless -q."""
    if _verbosity() >= 0:
        click.echo(text, err=err)


def _set_verbosity(click_ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:  # meta is shared by the group's and the command's contexts
        click_ctx.meta["derby.verbosity"] = 1 if param.name == "verbose" else -1


_VERBOSITY_HELP = {"verbose": "Say more as it goes (each page and retry of a poll, debug lines of run).",
                   "quiet": "Print only results, warnings and errors."}


def _verbosity_params() -> list[click.Option]:
    """-v/--verbose and -q/--quiet, the same on the group and on every command."""
    return [click.Option([f"--{name}", f"-{name[0]}"], is_flag=True, expose_value=False, callback=_set_verbosity,
                         help=text) for name, text in _VERBOSITY_HELP.items()]


class _Format(click.Choice):
    """One vocabulary of output formats for every command that prints data:
    ``table|json|ndjson|csv`` (``text`` is accepted as ``table``)."""

    def __init__(self, *choices: str) -> None:
        super().__init__(list(choices))

    def convert(self, value, param, ctx):
        if value == "text" and "table" in self.choices:
            return "table"
        return super().convert(value, param, ctx)


def _format_option(*choices: str, default: str | None = "table", help: str | None = None):
    return click.option("--format", "fmt", type=_Format(*choices), default=default, show_default=default is not None,
                        help=help)


class _Duration(click.ParamType):
    """A duration as the contest file takes it (``90s``, ``10m``, ``6h``, ``2d``, a bare
    number of seconds); converted to seconds (float)."""

    name = "duration"

    def convert(self, value, param, ctx):
        from derby.units import parse_duration

        if isinstance(value, float):
            return value
        try:
            return parse_duration(value, param.opts[0] if param else "duration")
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DURATION = _Duration()


def _terminal_width(stream=None) -> int | None:
    """The width for rich output on ``stream`` (default stdout): the terminal's, else
    ``COLUMNS``, else 120 (never the 80 columns rich gives a pipe)."""
    if (stream or sys.stdout).isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else 120


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(width=_terminal_width(sys.stderr if stderr else sys.stdout), stderr=stderr)


def _stdout_bytes():
    """Standard output as a binary stream (text written before it is flushed first)."""
    sys.stdout.flush()
    return sys.stdout.buffer


def _version_message() -> str:
    return f"%(prog)s %(version)s (SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]})"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="derby", message=_version_message())
@click.option("--db", "db_path", default=DEFAULT_DB, envvar="DERBY_DB", show_default=True, show_envvar=True,
              type=click.Path(dir_okay=False), help="SQLite database of the contest.")
@click.option("--now", "now_text", default=None, envvar="DERBY_NOW", show_envvar=True, metavar="TIME",
              callback=_check_now,
              help="Rehearse: run as if it were TIME (ISO 8601; the contest's zone without an offset), the clock "
                   "running on from there.")
@click.pass_context
def cli(ctx: click.Context, db_path: str, now_text: str | None) -> None:
    """Run an Instagram hashtag contest: poll, score, rank and export the winners."""
    startup = ctx.obj if isinstance(ctx.obj, dict) else {}
    if now_text is not None:
        # First on stderr, never on stdout (JSON and CSV stay clean): nobody takes a rehearsal for the real thing.
        zone = "" if datetime.fromisoformat(now_text.strip()).tzinfo else " in the contest's time zone"
        click.echo(f"derby: REHEARSAL: the clock reads {now_text.strip()}{zone} (--now / DERBY_NOW) and runs on "
                   "from there; these are not real times", err=True)
    if startup.get("env_warning"):
        click.echo(f"derby: {startup['env_warning']}", err=True)
        startup["shown"] = True
    from click.core import ParameterSource

    ctx.obj = _Context(db_path, db_given=ctx.get_parameter_source("db_path") == ParameterSource.COMMANDLINE,
                       now_text=now_text)


_ENV_SOURCES: list = []
"""[the environment before ``.env`` was read, the ``.env`` path], while :func:`main` runs."""


def _environment() -> dict[str, str]:
    """The settings as they are now: ``.env`` read again (literally: no ``${VAR}``
    expansion), the process environment (as it was before ``.env`` was first read)
    winning over it, as at the start. Without :func:`main` (or when the file cannot be
    read now): ``os.environ``."""
    if not _ENV_SOURCES:
        return dict(os.environ)
    from dotenv import dotenv_values

    base, env_file = _ENV_SOURCES
    try:
        values = dotenv_values(env_file, encoding="utf-8", interpolate=False) if env_file.is_file() else {}
    except (OSError, UnicodeDecodeError):
        return dict(os.environ)
    return {**{k: v for k, v in values.items() if v is not None}, **base}


def _load_env(env_file: Path) -> None:
    """Load ``env_file`` into the environment (a variable already set wins), values read
    literally: ``${HOME}`` in a token stays ``${HOME}``; remember what was set before,
    for :func:`_environment` and :func:`_token_source_note`. Raises UnicodeDecodeError
    or OSError from reading the file."""
    from dotenv import load_dotenv

    _ENV_SOURCES[:] = [dict(os.environ), env_file]
    load_dotenv(env_file, override=False, encoding="utf-8", interpolate=False)


def _token_source_note(name: str = "INSTAGRAM_ACCESS_TOKEN") -> str:
    """One line saying where the refused ``name`` came from, so a stale value set in the
    shell is not mistaken for the one in ``.env``."""
    base = _ENV_SOURCES[0] if _ENV_SOURCES else os.environ
    if base.get(name, "").strip():
        return (f"the refused {name} came from the environment (a value set in the shell wins over .env; "
                f"run: unset {name}, to use the one in .env)")
    if _ENV_SOURCES and _environment().get(name, "").strip():
        return f"the refused {name} came from {_ENV_SOURCES[1]}"
    return f"{name} is not set"


def _env_line_warnings(env_file: Path) -> list[str]:
    """One warning per line of ``env_file`` python-dotenv could not read (it ignores
    them), naming the line and its variable but never its value."""
    from dotenv.parser import parse_stream

    try:
        text = env_file.read_text(encoding="utf-8") if env_file.is_file() else ""
    except (OSError, UnicodeDecodeError):
        return []  # main said so already
    found = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            name = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=", binding.original.string)
            what = f" ({name.group(1)}=…)" if name else ""
            found.append(f"warning: {env_file} line {binding.original.line} could not be read{what}: check its "
                         "quotes; the line was ignored")
    return found


def _token_space_warnings(env_file: Path) -> list[str]:
    """A warning for each token variable whose value holds whitespace inside it (a
    token never does: a line broken or pasted twice)."""
    names = sorted(n for n in os.environ if "TOKEN" in n.upper())
    return [f"warning: {n} holds a space or line break inside it; an access token has none (check {env_file})"
            for n in names if any(c.isspace() for c in os.environ[n].strip())]


def main() -> None:
    """Entry point: read ``.env`` from the working folder (the environment wins), then run."""
    from derby.secrets import env_file_warning

    env_file = Path.cwd() / ".env"
    try:
        _load_env(env_file)
    except UnicodeDecodeError:
        _fail(f"{env_file} is not UTF-8 text; save it as UTF-8 (derby init --example-env writes an example)", 2)
    except OSError as exc:
        _fail(f"cannot read {env_file}: {exc.strerror}", 2)
    # printed by the group, after the rehearsal line that must come first (or at the
    # end, when --help or --version answer before the group runs)
    notes = [env_file_warning(env_file), *_env_line_warnings(env_file), *_token_space_warnings(env_file)]
    startup = {"env_warning": "\nderby: ".join(n for n in notes if n) or None}
    try:
        cli(prog_name="derby", obj=startup)
    finally:
        _ENV_SOURCES.clear()
        if startup["env_warning"] and not startup.get("shown"):
            click.echo(f"derby: {startup['env_warning']}", err=True)


EXAMPLE_KINDS = ("hashtag", "teams")
EXAMPLE_ALIASES = {"team": "teams", "hashtags": "hashtag"}


def _by_option(func):
    return click.option("--by", "by", default=None, metavar="NAME", envvar="DERBY_JUDGE", show_envvar=True,
                        help="Who does this (default: the OS user).")(func)


@cli.command()
@click.argument("contest_file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--example", "example", is_flag=False, flag_value="hashtag", default=None, metavar="[hashtag|teams]",
              help="Write a commented example contest to CONTEST_FILE (default: stdout) instead of loading one.")
@click.option("--example-env", "example_env", is_flag=True,
              help="Write an example .env (the settings' keys) to CONTEST_FILE (default: stdout).")
@click.option("--force", is_flag=True,
              help="Load it even though the database holds posts of a contest with another title or fewer hashtags "
                   "(or, in a team contest, of a team dropped or moved to another account); with --example, "
                   "replace an existing file.")
@_lang_option("Language of what init says (default: the contest's).")
@_by_option
@pass_ctx
@friendly
def init(ctx: _Context, contest_file: str | None, example: str | None, example_env: bool, force: bool,
         lang: str | None, by: str | None) -> None:
    """Create or upgrade the database and load the contest and its rules (--example: write one to start from)."""
    if example is not None or example_env:
        _write_example(example, example_env, contest_file, force)
        return
    if contest_file is None:
        raise ConfigError("give the contest file to load: derby init contest.toml; to start from an example: "
                          "derby init --example contest.toml (and derby init --example-env .env)")
    _load_contest_file(ctx, contest_file, force, by, lang)


def _write_example(example: str | None, example_env: bool, target: str | None, force: bool) -> None:
    """Copy a bundled example (contest file or .env) to ``target`` (stdout for None or ``-``)."""
    from importlib.resources import files as resources

    from derby import files

    example = EXAMPLE_ALIASES.get(example, example) if example is not None else None
    if example is not None and example not in EXAMPLE_KINDS:  # --example FILE: the value is the file
        if target is not None or not ("." in example or "/" in example or example == "-"):
            raise ConfigError(f"unknown example {example!r}; examples: {', '.join(EXAMPLE_KINDS)} "
                              "(derby init --example teams FILE.toml; a file name alone, such as contest.toml, "
                              "gets the hashtag example)")
        example, target = "hashtag", example
    if example is not None and example_env:
        raise ConfigError("give --example or --example-env, one at a time")
    name = "env.example" if example_env else ("teams.toml" if example == "teams" else "contest.toml")
    data = resources("derby.examples").joinpath(name).read_bytes()
    target = target or files.STDOUT
    if not files.is_stdout(target) and Path(target).exists() and not force:
        raise ConfigError(f"{target} already exists; choose another name, or --force to replace it")
    with files.atomic_binary(target, _stdout_bytes(), mode=0o600 if example_env else None) as fh:
        fh.write(data)
    if not files.is_stdout(target):
        then = ("fill in the token and the user id, then keep it private (it is written 0600)" if example_env else
                f"edit it, then load it: derby init {target}")
        _info(f"wrote the example {'settings' if example_env else 'contest'} to {target}; {then}", err=True)


def _load_contest_file(ctx: _Context, contest_file: str, force: bool, by: str | None = None,
                       lang: str | None = None) -> None:
    from derby import lock
    from derby.config import load_contest

    try:
        contest = load_contest(contest_file)
    except ConfigError as exc:
        _record_refused_contest_file(ctx, contest_file, exc)
        raise
    ctx.tz = contest.tz  # a --now without offset is read in this contest's zone
    new = ctx.db_path != ":memory:" and not Path(ctx.db_path).exists()
    lock_file = lock.lock_path(ctx.db_path)
    lock_was_there = lock_file is None or lock_file.exists()
    db = ctx.open(create=True)
    try:
        _load_into(ctx, db, contest, contest_file, force, by, lang or contest.language)
    except DerbyError:
        db.close()
        if new:  # a refusal leaves nothing behind: not an empty database, not its lock file
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{ctx.db_path}{suffix}").unlink(missing_ok=True)
            if not lock_was_there:
                lock_file.unlink(missing_ok=True)
        raise


def _loaded_lines(contest, db_path: str, lang: str) -> None:
    """Say which contest ``derby init`` loaded, in ``lang`` (``fr``/``en``)."""
    from derby import clock
    from derby.units import format_duration, plural

    tz, fr = contest.tz, lang == "fr"
    team = plural(len(contest.teams), "équipe" if fr else "team", lang=lang)
    what = (team + (f" (#{', #'.join(contest.hashtags)})" if contest.hashtags else "")
            if contest.kind == "teams" else f"#{', #'.join(contest.hashtags)}")
    start, end = clock.format_local(contest.start, tz, lang), clock.format_local(contest.end, tz, lang)
    every, title = format_duration(contest.schedule.every), display_text(contest.title)
    if fr:
        _info(f"Concours « {title} » chargé dans {db_path} : {what}, du {start} au {end}, flux {contest.feed.kind}, "
              f"relevé toutes les {every}.")
    else:
        _info(f"Contest “{title}” loaded into {db_path}: {what}, {start} → {end}, {contest.feed.kind} feed, "
              f"polled every {every}.")
    if contest.count_engagement_until:
        until = clock.format_local(contest.count_engagement_until, tz, lang)
        _info(f"L'engagement compte jusqu'au {until}." if fr else f"Engagement counts until {until}.")


def _load_into(ctx: _Context, db, contest, contest_file: str, force: bool, by: str | None = None,
               lang: str = "en") -> None:
    """Load ``contest`` into the open database ``db`` and report it; ConfigError when refused."""
    from derby import poller, store
    from derby.units import plural, word

    stored = store.load_contest(db)
    posts = store.media_count(db)
    if stored is not None and posts and not force:
        dropped = [h for h in stored.hashtags if h not in contest.hashtags]
        if stored.title != contest.title or dropped:
            what = f"the title “{display_text(stored.title)}”" if stored.title != contest.title else \
                f"the {word(len(dropped), 'hashtag')} #{', #'.join(dropped)}"
            raise ConfigError(f"{ctx.db_path} holds {plural(posts, 'post')} of a contest with {what}; loading "
                              f"{contest_file} would judge them by another contest. Use another --db, or --force")
    if stored is not None and posts and not force and stored.kind != contest.kind:
        raise ConfigError(f"{ctx.db_path} holds {posts} posts of a {stored.kind} contest; {contest_file} is a "
                          f"{contest.kind} contest. Use another --db, or --force")
    if contest.kind == "teams":
        _check_teams(db, contest, force)
    ctx.tz = contest.tz
    now = ctx.now()
    budget = poller.check_contest_budget(db, contest, _budget_account(contest), now)
    seeded = not store.has_rule_history(db)
    changes = store.save_contest(db, contest, now, judge=_judge(by))
    store.enable_sources(db, ("mentioned_media", "business_discovery"), now)  # a permission granted since
    _loaded_lines(contest, ctx.db_path, lang)
    _report_rule_changes(changes, seeded)
    if budget is not None and contest.feed.kind == "graph":  # a replay's budget is only simulated
        needed = len(budget.needed(contest.hashtags))
        _info(f"Hashtag budget of account {budget.account}: {budget.used}/{budget.limit} used this week, "
              f"{needed} more needed by this contest.")


def _check_teams(db, contest, force: bool) -> None:
    """Refuse (ConfigError) a teams file that would drop or re-point a team whose posts
    are stored (unless ``force``), and one whose team token variable is missing (for
    the accounts feed; no request is made)."""
    from derby import store
    from derby.config import team_settings

    refused = store.team_changes(db, contest.teams).refused()
    if refused and not force:
        raise ConfigError(f"{'; '.join(refused)}: its posts would leave the standings. Rename a team by keeping its "
                          "account_id, or load with --force")
    if contest.feed.kind == "accounts":
        for team in contest.teams:
            team_settings(team, os.environ)


def _record_refused_contest_file(ctx: _Context, contest_file: str, exc: ConfigError) -> None:
    """Put a refused contest file in the audit log of an existing contest database
    (nothing else is stored; a missing database stays missing)."""
    from derby import store
    from derby.store import draws as draw_store

    if ctx.db_path == ":memory:" or not Path(ctx.db_path).exists():
        return
    try:
        db = store.open_db(ctx.db_path, create=False)
        draw_store.record_attempt(db, ctx.now(), _judge(None), "contest_file_refused",
                                  f"refused: {contest_file}: {exc}")
    except DerbyError:
        return


def _budget_account(contest) -> str | None:
    from derby.feeds.factory import budget_account

    return budget_account(contest.feed, os.environ)


def _report_rule_changes(changes: list[dict], seeded: bool) -> None:
    from derby import rules as rule_kinds
    from derby.units import plural

    if seeded:
        _info(f"{plural(len(changes), 'rule')} seeded (derby rules lists them).")
        return
    for change in changes:
        _info(f"rule {change['name']}: {rule_kinds.format_value(rule_kinds.decode(change['old_value']))} → "
                   f"{rule_kinds.format_value(rule_kinds.decode(change['new_value']))} (recorded)")


def _contest(db):
    from derby import store

    contest = store.load_contest(db)
    if contest is None:
        raise ConfigError("this database has no contest yet; load one: derby init contest.toml "
                          "(derby init --example contest.toml writes one to start from)")
    return contest


@cli.command()
@click.option("--force", is_flag=True,
              help="Poll even while a derby run holds this database (both then spend the same rate budget).")
@_lang_option("Language of the summary (default: the contest's).")
@pass_ctx
@friendly
def poll(ctx: _Context, force: bool, lang: str | None) -> None:
    """Run one collection cycle and print a summary; exit 0 done, 3 refused for now, 4 fix the token, 2 fix the config."""
    from derby import lock, poller, store
    from derby.feeds.factory import make_feed

    restore = _setup_logging(None, {-1: "ERROR", 0: "WARNING", 1: "DEBUG"}[_verbosity()])
    file_lock = lock.FileLock(ctx.db_path)
    try:
        db = ctx.open()
        contest = _contest(db)
        if not file_lock.acquire():
            if not force:
                raise lock.busy_error(store.lock_holder(db), poll=True)
            click.echo("warning: polling while another derby process holds this database (--force)", err=True)
        else:  # no live process polls: poll runs left running are a dead process's
            poller.close_dead_runs(db, ctx.now())
        store.claim_poll_clock(db, "rehearsal" if ctx.rehearsal else "real", ctx.now())
        summary = poller.poll_once(db, contest, make_feed(contest.feed, os.environ), ctx.now())
    finally:
        file_lock.release()
        restore()
    _info(_redact(summary.line(lang or contest.language)))
    for note in summary.notes:
        click.echo(_redact(f"note: {note}"), err=True)
    warnings = [message for message in store.poll_warnings(db, summary.run_id, limit=11)
                if message not in summary.notes]  # notes are stored as warnings too; shown once above
    for message in warnings[:10]:
        click.echo(_redact(f"warning: {message}"), err=True)
    if summary.warnings > 10:
        click.echo(f"warning: … and {summary.warnings - 10} more in the poll_warnings table of {ctx.db_path}", err=True)
    if summary.details:
        if "code " in summary.details or "fbtrace_id" in summary.details:  # only what Meta itself answered
            click.echo(_redact(f"derby: {summary.details} (quote these when asking Meta for help)"), err=True)
    if summary.error_kind == "auth":
        for name in summary.refused_token_envs or ["INSTAGRAM_ACCESS_TOKEN"]:
            click.echo(f"note: {_token_source_note(name)}", err=True)
    sys.exit(summary.exit_code)


@cli.command()
@click.option("--every", "every", default=None, type=DURATION,
              help="Override the contest file's [schedule] every, e.g. 30m, 2h, 90s.")
@click.option("--log-file", "log_file", default=None, type=click.Path(dir_okay=False),
              help="Also log to this file, rotated at 10 MB (5 kept).")
@pass_ctx
@friendly
def run(ctx: _Context, every: float | None, log_file: str | None) -> None:
    """Poll on the contest's schedule until the final poll, or SIGINT/SIGTERM."""
    restore = _setup_logging(log_file, {-1: "WARNING", 0: "INFO", 1: "DEBUG"}[_verbosity()])
    try:
        _run(ctx, every)
    finally:
        restore()


def _run(ctx: _Context, every: float | None) -> None:
    from derby import poller, store
    from derby.config import check_interval, refresh_requests
    from derby.errors import ConfigError
    from derby.feeds.factory import make_feed

    import threading

    # a database another program keeps locked is waited for, never a reason to stop
    db = poller.while_locked(ctx.open, threading.Event(), poller.LOCKED_RETRY, None)
    contest = _contest(db)
    interval = None
    if every is not None:
        try:
            interval = check_interval(every, feed_kind=contest.feed.kind,
                                      hashtags=len(contest.hashtags), page_cap=contest.feed.page_cap, key="--every",
                                      teams=len(contest.teams) if contest.kind == "teams" else None,
                                      refresh_requests=refresh_requests(contest.refresh))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    closed = _closed_line(db, contest)
    if not closed:
        poller.while_locked(lambda: store.claim_poll_clock(db, "rehearsal" if ctx.rehearsal else "real", ctx.now()),
                            threading.Event(), poller.LOCKED_RETRY, None)
    db.close()
    if closed:
        _info(closed)
        return
    make_feed(contest.feed, os.environ)  # fail now, not inside the scheduler, on bad settings
    outcome = poller.run(ctx.db_path, lambda: _feed_now(ctx, contest), ctx.clock(), interval=interval,
                         wall_clock=ctx.clock())
    if outcome == "already_closed":
        db = ctx.open()
        _info(_closed_line(db, contest))
        return
    failures = {
        "auth": ("stopped: the token or its permissions need a person (see the last poll above); fix them, then run again", 4),
        "lost_lock": ("stopped: another derby run took over this database", 1),
        "failing": ("stopped: polls keep failing (see the log above)", 1),
    }
    if outcome == "auth":  # a team contest stops so only when every team's token was refused
        names = sorted({t.token_env for t in contest.teams}) if contest.kind == "teams" else ["INSTAGRAM_ACCESS_TOKEN"]
        for name in names:
            click.echo(f"note: {_token_source_note(name)}", err=True)
    if outcome in failures:
        _fail(*failures[outcome])
    _info("derby run: " + {"closed": "final poll done: the contest is closed",
                           "abandoned": "stopped (a request in flight was abandoned; nothing half-stored)"}
          .get(outcome, "stopped"))
    if outcome == "abandoned":
        # The worker thread is stuck in a request; waiting for it would break the 10 s promise.
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(0)


def _feed_now(ctx: _Context, started_with):
    """The feed as the settings are now: the stored ``[feed]`` (a ``derby init`` while
    running takes effect at the next poll) and the environment with ``.env`` read again."""
    from derby import store
    from derby.feeds.factory import make_feed

    db = ctx.open()
    try:
        contest = store.load_contest(db) or started_with
    finally:
        db.close()
    return make_feed(contest.feed, _environment())


def _closed_line(db, contest) -> str | None:
    from derby import clock, store

    closed = store.contest_closed(db)
    if closed is None:
        return None
    return (f"the contest “{display_text(contest.title)}” is closed: its final poll (#{closed['final_poll_run_id']}) ran at "
            f"{clock.format_local(closed['closed_at'], contest.tz, 'en')}; nothing left to poll")


def _stderr_is_journal() -> bool:
    """Whether stderr is journald's stream: systemd sets ``JOURNAL_STREAM`` to the
    ``device:inode`` of the stream it connected (systemd.exec(5), "Environment variables
    in spawned processes"); a child whose stderr was redirected no longer matches."""
    dev, _, ino = os.environ.get("JOURNAL_STREAM", "").partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):  # no real file behind stderr
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


class _JournalFormatter(logging.Formatter):
    """``<4>derby.poller: message``: each line starts with its syslog priority (which
    journald reads and strips, sd-daemon(3)) and has no timestamp (journald adds one)."""

    PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = next((p for level, p in self.PRIORITIES if record.levelno >= level), 7)
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines() or [""])


def _setup_logging(log_file: str | None, level: str):
    """Log lines of ``level`` (a logging level name) and above to stderr (and
    ``log_file``, rotated) as ``2017-04-03T14:05:09Z INFO derby.poller: ...``: UTC
    timestamps and levels, one line each. When stderr is the journal (systemd), its lines
    are ``<6>derby.poller: ...`` instead (:class:`_JournalFormatter`), so ``journalctl
    -p warning`` finds the warnings. Returns a function that undoes it."""
    import logging.handlers
    import time

    from derby.secrets import install_log_redaction

    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    formatters = [_JournalFormatter() if _stderr_is_journal() else formatter]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(log_file, maxBytes=10_000_000, backupCount=5, encoding="utf-8"))
        formatters.append(formatter)
    root = logging.getLogger()
    quiet = [logging.getLogger(name) for name in ("apscheduler", "urllib3")]
    levels = [root.level] + [logger.level for logger in quiet]
    for handler, handler_formatter in zip(handlers, formatters):
        handler.setFormatter(handler_formatter)
        handler.setLevel(level)  # a library that sets its own logger's level stays within ours
        root.addHandler(handler)
    install_log_redaction(*_secrets())
    root.setLevel(level)
    for logger in quiet:  # their INFO lines (every job run, every request) are noise
        logger.setLevel(logging.DEBUG if level == "DEBUG" else max(logging.WARNING, logging.getLevelName(level)))

    def restore() -> None:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        for logger, level in zip([root, *quiet], levels):
            logger.setLevel(level)

    return restore


def _as_of_option(func):
    return click.option("--as-of", "as_of", default=None, metavar="TIME",
                        help="Standings at this ISO 8601 time (contest time zone when no offset).")(func)


def _moment(contest, as_of: str | None):
    """The aware UTC moment of ``--as-of`` (None without it). Raises ConfigError when
    it is blank, not ISO 8601, no single moment in the contest zone, out of range,
    before the contest starts or in the future; each message suggests a time inside
    this contest."""
    from derby import clock

    if as_of is None:
        return None
    now = clock.utcnow()
    example = _example_moment(contest, now)
    if not as_of.strip():
        raise ConfigError(f"--as-of is empty; give a time during the contest such as {example}, or drop --as-of")
    try:
        moment = clock.parse_local(as_of, contest.tz)
    except clock.LocalTimeError as exc:
        raise ConfigError(f"--as-of {as_of!r} {exc}") from None
    except ValueError:
        raise ConfigError(f"--as-of {as_of!r} is not an ISO 8601 time such as {example}") from None
    except OverflowError:  # the UTC time falls outside years 1-9999
        raise ConfigError(f"--as-of {as_of!r} is out of range; give a time during the contest such as {example}") from None
    if moment < contest.start:
        raise ConfigError(f"--as-of {as_of!r} is out of range: the contest starts "
                          f"{clock.format_local(contest.start, contest.tz, 'en')}; give a time during the contest "
                          f"such as {example}")
    if moment > now:
        raise ConfigError(f"--as-of {as_of!r} is in the future (now is {clock.format_local(now, contest.tz, 'en')}); "
                          "standings are known only up to now: drop --as-of for the current ones")
    return moment


def _example_moment(contest, now) -> str:
    """A local time inside the contest (noon of a day between its start and the earlier
    of its end and now), written as ``--as-of`` takes it."""
    last = min(contest.end, max(now, contest.start))
    middle = (contest.start + (last - contest.start) / 2).astimezone(contest.tz)
    noon = middle.replace(hour=12, minute=0, second=0, microsecond=0)
    if not contest.start <= noon <= last:
        noon = middle.replace(second=0, microsecond=0)
    return noon.strftime("%Y-%m-%dT%H:%M")


def _read_moment(ctx: _Context, db, contest, as_of: str | None, *, what: str = "showing what was known at --now, "
                 "as --as-of would"):
    """The moment a reading command ranks at: ``--as-of``; else, on a rehearsal clock
    (--now) before the database's latest poll, --now itself (said once on stderr),
    so the figures are those known then; else None (the live standings)."""
    from derby import clock, store

    if as_of is not None:
        return _moment(contest, as_of)
    if not ctx.rehearsal:
        return None
    now, last = ctx.now(), store.last_poll_run(db)
    started = clock.from_store(last["started_at"]) if last else None
    if started is None or started <= now:
        return None
    click.echo(f"note: this database holds polls made after --now (the latest started "
               f"{clock.format_local(started, contest.tz, 'en')}): {what}", err=True)
    return now


def _standings(ctx: _Context, as_of: str | None):
    from derby import leaderboard

    db = ctx.read()
    moment = _read_moment(ctx, db, _contest(db), as_of)
    return leaderboard.standings(db, ctx.now(), moment)


@cli.command(name="leaderboard")
@click.option("--top", type=click.IntRange(min=1), default=None, help="Show only the first N ranked entries.")
@click.option("--all", "show_all", is_flag=True, help="Also list stored posts that are not ranked, with the reason.")
@_format_option("table", "json", "ndjson", "csv")
@_lang_option("Labels' language (default: the contest's).")
@click.option("--live", is_flag=True, help="Keep the board on screen, refreshed (one frame when not a terminal).")
@click.option("--every", type=DURATION, default=10.0, show_default="10s",
              help="Time between refreshes of --live (at least 1s), e.g. 10s, 1m.")
@click.option("--save", "save_to", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              metavar="FILE.svg|FILE.html", help="Also write the board as a picture (SVG or HTML).")
@click.option("--public", is_flag=True,
              help="The venue screen: no operational warnings, flags or ids; entrants by name where known.")
@click.option("--trophy", default=None, metavar="NAME", help="Team contest: rank the teams for this trophy.")
@click.option("--posts", "posts", is_flag=True, help="Team contest: list the teams' posts ranked, with their team.")
@_as_of_option
@pass_ctx
@friendly
def leaderboard_cmd(ctx: _Context, top: int | None, show_all: bool, fmt: str, lang: str | None, live: bool,
                    every: float, save_to: str | None, trophy: str | None, posts: bool, as_of: str | None,
                    public: bool = False) -> None:
    """Print the leaderboard computed from the stored snapshots and rules."""
    from derby import leaderboard

    if public and (show_all or fmt != "table"):
        raise ConfigError("--public draws the ranked entries for a screen; drop --all and --format")
    if every < 1:
        raise ConfigError("--every must be at least 1s")
    if _kind(ctx) == "teams":
        _team_leaderboard(ctx, top=top, show_all=show_all, fmt=fmt, lang=lang, live=live, every=every,
                          save_to=save_to, trophy=trophy, posts=posts, as_of=as_of)
        return
    if trophy or posts:
        raise ConfigError("--trophy and --posts are for a team contest (kind = \"teams\")")
    if fmt != "table":
        if live or save_to:
            raise ConfigError(f"--live and --save draw the table; drop --format {fmt}")
        from derby import export

        board = _standings(ctx, as_of)
        records = (leaderboard.entry_record(e, board.contest, board.freshness.get(e.media_id))
                   for e in board.rows(top, show_all))
        if fmt == "json":  # streamed: one entry at a time, whatever the contest's size
            export.write_json(sys.stdout, leaderboard.contest_record(board), records)
            click.echo()
        elif fmt == "ndjson":
            export.write_ndjson(sys.stdout, records)
        else:
            export.write_csv(sys.stdout, records, export.LEADERBOARD_COLUMNS)
        return

    from derby import board as drawing, store

    db = ctx.read()
    contest = _contest(db)
    moment = _read_moment(ctx, db, contest, as_of)
    db.close()
    console = _console()

    def read(rows: int | None):
        from derby import lock

        reader = store.open_reader(ctx.db_path)
        if lock.is_held(ctx.db_path) is False:  # nobody polls: a run left running is a dead process's
            store.note_no_poller(reader)
        try:
            return leaderboard.board_view(reader, ctx.now(), moment, top=top, show_all=show_all, limit=rows)
        finally:
            reader.close()

    if save_to:
        view = read(None)
        _save_board(drawing, view, lang or view.board.contest.language, save_to, public)
    if live:
        drawing.run_live(console, drawing.LiveBoard(read, console, lang, every, ctx.clock(), public=public), every)
    else:
        view = read(None)
        console.print(drawing.render(view, lang or view.board.contest.language, console, public=public))
    if save_to and save_to != "-":
        _info(f"saved the board to {save_to}", err=True)


def _save_board(drawing, view, lang: str, target: str, public: bool = False) -> None:
    """Write the board picture to ``target`` atomically (``-``: stdout, as SVG)."""
    from derby import files

    kind = "svg" if target == "-" else Path(target).suffix.lower().lstrip(".")
    picture = drawing.picture(view, lang, kind, public=public)
    with files.atomic_binary(target, _stdout_bytes()) as fh:
        fh.write(picture.encode("utf-8"))


_EXPORT_SUFFIXES = {".csv": "csv", ".txt": "csv", "": "csv", ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson",
                    ".xlsx": "xlsx"}


@cli.command(name="export")
@click.argument("output", type=click.Path(dir_okay=False, writable=True, allow_dash=True))
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True, help="Number of winners.")
@click.option("--alternates", type=click.IntRange(min=0), default=2, show_default=True, help="Number of alternates after the winners.")
@click.option("--all", "every_entry", is_flag=True,
              help="Write every stored post instead: status, reason, moderation and each rule's points.")
@_format_option("csv", "json", "ndjson", "xlsx", default=None,
                help="Default: from the file's extension (.csv, .json, .ndjson, .xlsx); csv for -.")
@click.option("--encoding", type=click.Choice(["utf-8-sig", "utf-8"]), default="utf-8-sig", show_default=True,
              help="CSV only: utf-8-sig adds a BOM so Excel reads accents right.")
@_lang_option("Language of the .xlsx headers and of the warnings (default: the contest's); CSV keeps its column names.")
@_as_of_option
@pass_ctx
@friendly
def export_cmd(ctx: _Context, output: str, top: int, alternates: int, every_entry: bool, fmt: str | None, encoding: str,
               lang: str | None, as_of: str | None) -> None:
    """Write the winners and alternates (or, with --all, every stored post) to a CSV, JSON or XLSX file (- for stdout)."""
    from derby import check, export, files
    from derby.units import plural

    suffix = "" if files.is_stdout(output) else Path(output).suffix.lower()
    if fmt is None and suffix not in _EXPORT_SUFFIXES:
        raise ConfigError(f"{output}: derby writes CSV, JSON or XLSX; name the file .csv, .json, .ndjson or .xlsx "
                          "(or pass --format)")
    fmt = fmt or _EXPORT_SUFFIXES[suffix]
    if _kind(ctx) == "teams":
        _team_export(ctx, output, top=top, alternates=alternates, every_entry=every_entry, fmt=fmt,
                     encoding=encoding, lang=lang, as_of=as_of)
        return
    board = _standings(ctx, as_of)
    stdout = _stdout_bytes()
    where = "stdout" if files.is_stdout(output) else output
    if every_entry:
        written = export.export_entries(output, board, fmt=fmt, encoding=encoding, lang=lang, stdout=stdout)
        _info(f"wrote {plural(written, 'entry', 'entries')} ({board.counts()['eligible']} ranked) to {where}", err=True)
        return
    written = export.export_winners(output, board, top=top, alternates=alternates, fmt=fmt, encoding=encoding, lang=lang,
                                    stdout=stdout)
    ranked = board.counts()["eligible"]
    winners, alternates_written = min(top, ranked), max(min(alternates, ranked - top), 0)
    _info(f"wrote {plural(written, 'row')} ({plural(winners, 'winner')}, {plural(alternates_written, 'alternate')}) "
          f"to {where}", err=True)
    if not ranked:
        click.echo("avertissement : aucune participation n'est encore classée, le fichier n'a donc aucun·e gagnant·e"
                   if (lang or board.contest.language) == "fr" else
                   "warning: no entry is ranked yet, so the file has no winner", err=True)
    for line in check.announcement_warnings(ctx.read(), board, top + alternates, lang or board.contest.language):
        click.echo(line, err=True)


@cli.command()
@click.option("--db", "demo_db", default=None, type=click.Path(dir_okay=False),
              help="Keep the demo database here (also: derby --db FILE demo; default: a temporary one). Never DERBY_DB.")
@click.option("--interval", default=0.5, show_default="0.5s", type=DURATION,
              help="Wall-clock time between polls (each poll is 12 h of contest time), at least 0.05s.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="Rows of the final leaderboard.")
@click.option("--teams", "teams", is_flag=True,
              help="Replay the bundled team contest instead (seven teams, April 2017, made-up data).")
@pass_ctx
@friendly
def demo(ctx: _Context, demo_db: str | None, interval: float, top: int, teams: bool) -> None:
    """Run the whole job on the bundled demo contest; nothing to configure."""
    import tempfile

    from derby import board as drawing, check, clock, export, leaderboard, store
    from derby.demo.runner import demo_contest, run_demo, team_demo_contest
    from derby.units import plural

    if interval < 0.05:
        raise ConfigError("--interval must be at least 0.05s")
    if demo_db is None and ctx.db_given:  # derby --db FILE demo; never the DERBY_DB of a real contest
        demo_db = ctx.db_path
    console, messages = _console(), _console(stderr=True)
    contest = team_demo_contest() if teams else demo_contest()
    if demo_db and Path(demo_db).exists():
        existing = store.load_contest(store.open_db(demo_db, create=False))
        if existing is not None and existing.source != contest.source:
            other = team_demo_contest() if not teams else demo_contest()
            if existing.source == other.source:  # the other bundled demo
                ours, theirs = ("team demo (--teams)", "hashtag demo") if teams else ("hashtag demo", "team demo")
                raise ConfigError(f"{demo_db} holds the {theirs}; the {ours} needs its own database: pass another "
                                  f"--db, or {'drop' if teams else 'add'} --teams to see the {theirs} again")
            raise ConfigError(f"{demo_db} holds the contest “{display_text(existing.title)}”; "
                              "the demo needs an empty or demo database")

    quiet = _verbosity() < 0  # read here: the scheduler's thread that reports progress has no click context

    def say(text: str) -> None:
        if not quiet:
            messages.print(text, markup=False, highlight=False)

    with tempfile.TemporaryDirectory(prefix="derby-demo-") as tmp:
        db_path = Path(demo_db) if demo_db else Path(tmp) / "demo.db"
        where = db_path if demo_db else "a temporary database (keep it with --db demo.db)"
        say(f"Replaying “{contest.title}” from the bundled recorded polls into {where} …")

        def progress(summary) -> None:
            say(f"  {clock.format_local(summary.started_at, contest.tz, 'fr')}  {summary.line()}")

        outcome = run_demo(db_path, interval=interval, on_poll=progress, contest=contest)
        if outcome == "already_closed":  # a kept demo database run again: its results, not a second replay
            say(f"{db_path} already holds the finished replay; its results:")
        elif outcome != "closed":
            _fail("demo interrupted before the contest closed; winners.csv not written", 130 if outcome == "stopped" else 1)
        if teams:
            _team_demo_results(console, say, db_path, top)
            return
        db = store.open_db(db_path)
        last = store.last_poll_run(db, successful=True)
        # the board as the replay's last poll saw it, not as of today's date
        view = leaderboard.board_view(db, clock.from_store(last["finished_at"]) if last else clock.utcnow(), top=top)
        board = view.board
        console.print(drawing.render(view, contest.language, console))
        out = Path.cwd() / "winners.csv"
        written = export.export_winners(out, board, top=3, alternates=2)
        for line in check.announcement_warnings(db, board, 5):
            messages.print(line, markup=False, highlight=False)
        counts = board.counts()
        say(f"{plural(counts['eligible'], 'entry', 'entries')} ranked of {counts['entries']} stored; "
            f"wrote {plural(written, 'row')} (3 winners, 2 alternates) to {out}")
        closed_at = clock.from_store(last["finished_at"]) if last else clock.utcnow()
        _demo_draw_and_results(say, db, contest, closed_at, Path.cwd() / "derby-demo-results")
        db.close()


DEMO_BEACON = "drand quicknet round 9999999 (made up for the demo)"
DEMO_BEACON_VALUE = "5d1e8a7c0b3f49e6a2c4d8f01b7e3a9c6d2f5e8b1a4c7d0e3f6a9b2c5d8e1f40"
"""A made-up beacon value: a real draw uses the value the beacon publishes after the commit."""


def _demo_draw_and_results(say, db, contest, closed_at, out_dir: Path) -> None:
    """The end of the demo: commit to a draw, run it with a made-up beacon value, verify
    its certificate offline, certify the results and verify them."""
    from datetime import timedelta

    from derby import draw, draws, results
    from derby.store import draws as draw_store

    if draw_store.any_draw_run(db) is not None:
        say("a draw already ran in this database; the demo's draw is shown once (use a new --db)")
        return
    out_dir.mkdir(exist_ok=True)
    planned = contest.terms.draw or {}
    committed = draws.commit(db, contest, closed_at + timedelta(minutes=5), by="demo", pool=planned.get("pool", "eligible"),
                             weighted=bool(planned.get("weighted")), beacon=DEMO_BEACON,
                             winners=planned.get("winners", 1), alternates=planned.get("alternates", 2), as_of=None,
                             out_dir=out_dir, include_gone=True)
    if committed.kept_gone:  # the demo has no judge to ask; a real draw is refused until one decides
        say(f"The demo has no judge to decide on a post reported gone, so it commits with --include-gone, which keeps "
            f"it in the pool: {committed.kept_gone}. A real draw is refused until a judge decides on each such post "
            "(derby disqualify or derby reinstate), or the organizer passes --include-gone on purpose")
    say(f"Draw among the {committed.pool['pool']} entries: commitment {committed.commitment} "
        f"(published before the beacon: {DEMO_BEACON})")
    drawn = draws.run(db, contest, closed_at + timedelta(minutes=10), by="demo", hex_value=DEMO_BEACON_VALUE,
                      text_value=None, out_dir=out_dir, lang=contest.language)
    say(f"Drawn with a MADE-UP beacon value {DEMO_BEACON_VALUE[:16]}… (a real draw waits for the published one): "
        f"winners {', '.join(drawn.certificate['result']['winners'])}; certificate {drawn.html_path}")
    report = draw.verify(draws.read_certificate(drawn.json_path), committed.commitment)
    say(f"derby draw verify {drawn.json_path.name} --commitment {committed.commitment[:12]}…: "
        + ("match" if report.ok else "NO MATCH"))
    certified_at = closed_at + timedelta(minutes=15)
    path = out_dir / "results.json"
    _, digest = results.certify(db, certified_at, path, by="demo", top=planned.get("winners", 3),
                                alternates=planned.get("alternates", 2))
    check = results.verify(db, certified_at, path)
    say(f"Results certified into {path} (SHA-256 {digest[:16]}…); derby results verify: "
        + ("match" if check.ok else "differences found"))


def _team_demo_results(console, say, db_path: Path, top: int) -> None:
    from derby import board as drawing, clock, export, store, team_leaderboard as teams
    from derby.units import plural

    db = store.open_db(db_path)
    last = store.last_poll_run(db, successful=True)
    view = teams.team_board_view(db, clock.from_store(last["finished_at"]) if last else clock.utcnow(), top=top)
    board = view.board
    console.print(drawing.render(view, board.contest.language, console))
    for trophy in board.contest.trophies:
        rows = teams.trophy_records(board, trophy, limit=trophy.count)
        console.print(f"Trophée « {trophy.name} » : " + ", ".join(
            f"{r['team']} ({drawing.number(r['value'], board.contest.language)})" for r in rows),
            markup=False, highlight=False)
    out = Path.cwd() / "winners.csv"
    written = export.export_team_winners(out, board, top=3, alternates=2)
    db.close()
    say(f"{plural(len(board.ranked), 'team')} ranked; {plural(sum(len(t.counted) for t in board.teams), 'post')} "
        f"counted of {len(board.posts.entries)} stored; wrote {plural(written, 'row')} (3 winners, 2 alternates, "
        f"trophy winners) to {out}")


# -- rules, entrants, explain, moderation and audit ------------------------------------------

def _judge(by: str | None) -> str:
    """The name recorded for a judge's or organizer's action: --by, else DERBY_JUDGE,
    else the OS user."""
    import getpass

    if by and by.strip():
        return by.strip()
    env = os.environ.get("DERBY_JUDGE", "").strip()
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "unknown"


def _reason_option(help_text: str):
    """A required ``--reason``; missing, click's usage error says why one is required."""
    def required(click_ctx: click.Context, param: click.Parameter, value: str | None) -> str:
        if value is None:
            raise click.UsageError("Missing option '--reason': a judge's decision is recorded with why it was made "
                                   "(audit log, history, certified results); give --reason TEXT", click_ctx)
        return value

    return click.option("--reason", default=None, metavar="TEXT", callback=required, help=help_text)


def _safe(text: object) -> str:
    from derby.text import display_text

    return display_text(None if text is None else str(text))


def _tie_chain_text(chain, lang: str = "en") -> str:
    from derby.rules import tie_break_description

    teams = bool(chain) and chain[-1] == "name"  # a team contest's chain
    return " → ".join(f"{key} ({tie_break_description(key, lang, teams=teams)})" for key in chain)


@cli.group(name="rules", invoke_without_command=True)
@_format_option("table", "json", "ndjson", "csv")
@_lang_option("Language of the listing (default: the contest's).")
@_as_of_option
@click.pass_context
@friendly
def rules_group(click_ctx: click.Context, fmt: str, as_of: str | None, lang: str | None) -> None:
    """List the rules in force, with the declared tie-break order."""
    if click_ctx.invoked_subcommand is not None:
        return
    import json

    from derby import rules as rule_kinds, store

    ctx = click_ctx.find_object(_Context)
    db = ctx.read()
    contest = _contest(db)
    moment = _read_moment(ctx, db, contest, as_of)
    values = store.read_rules(db, moment)
    recorded = store.stored_rule_names(db)
    if fmt == "json":
        click.echo(json.dumps({"rules": values, "tie_break": values["tie_break"]}, ensure_ascii=False, indent=2))
        return
    lang = lang or contest.language
    if fmt in ("ndjson", "csv"):
        from derby import export

        records = [{"name": name, "value": value, "default": name not in recorded,
                    "description": rule_kinds.description(name, lang)} for name, value in values.items()]
        if fmt == "ndjson":
            export.write_ndjson(sys.stdout, records)
        else:  # the value as JSON text, as `derby rules set` takes it
            export.write_csv(sys.stdout, [{**r, "value": json.dumps(r["value"], ensure_ascii=False)} for r in records],
                             ("name", "value", "default", "description"))
        return
    width = max(len(name) for name in values)
    for name, value in values.items():
        marker = "" if name in recorded else ("  (par défaut)" if lang == "fr" else "  (default)")
        click.echo(f"{name:<{width}}  {rule_kinds.format_value(value)}{marker}")
        click.echo(f"{'':<{width}}  {rule_kinds.description(name, lang)}")
    click.echo(f"{'Départage :' if lang == 'fr' else 'Tie-break:'} {_tie_chain_text(values['tie_break'], lang)}")


@rules_group.command(name="set", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("value")
@_reason_option("Why the rule changes (required; kept in the history and the audit log).")
@_by_option
@pass_ctx
@friendly
def rules_set(ctx: _Context, name: str, value: str, reason: str, by: str | None) -> None:
    """Change one rule from now on (recorded with who, when and why)."""
    from derby import rules as rule_kinds, store

    if not reason.strip():
        raise ConfigError("a reason is required (--reason TEXT): a rule change is recorded with why it was made")
    db = ctx.open()
    kind = _contest(db).kind
    if name not in rule_kinds.RULE_KINDS:
        raise ConfigError(f"unknown rule {name!r}; known rules: {', '.join(_rule_names(kind))}")
    try:
        parsed = rule_kinds.parse_rule_value(name, value)
        _check_rule_kind(kind, name, parsed)
        change = store.set_rule(db, name, parsed, ctx.now(), by=_judge(by), reason=reason)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if change is None:
        _info(f"{name} is already {rule_kinds.format_value(parsed)}; nothing recorded")
        return
    old = rule_kinds.decode(change["old_value"]) if change["old_value"] is not None else None
    _info(f"{name}: {rule_kinds.format_value(old)} → {rule_kinds.format_value(parsed)} "
          f"(by {_safe(change['changed_by'])})")


@rules_group.command(name="history")
@click.argument("name", required=False)
@pass_ctx
@friendly
def rules_history(ctx: _Context, name: str | None) -> None:
    """Show every rule change: when, who, old and new value, why."""
    from derby import clock, rules as rule_kinds, store

    db = ctx.read()
    contest = _contest(db)
    if name and name not in rule_kinds.RULE_KINDS:
        raise DerbyError(f"unknown rule {name!r}; known rules: {', '.join(_rule_names(contest.kind))}")
    for row in store.rule_history(db, name):
        old = "unset" if row["first"] else rule_kinds.format_value(row["old_value"])
        why = f"  ({_safe(row['reason'])})" if row["reason"] else ""
        click.echo(f"{clock.format_local(row['changed_at'], contest.tz, 'en')}  {_safe(row['changed_by'])}  "
                   f"{row['name']}: {old} → {rule_kinds.format_value(row['new_value'])}{why}")


@cli.group(name="entrants")
def entrants_group() -> None:
    """Entrants: who posted which entry (the hashtag feed never says)."""


@entrants_group.command(name="import")
@click.argument("csv_file", type=click.Path(dir_okay=False))
@_by_option
@pass_ctx
@friendly
def entrants_import(ctx: _Context, csv_file: str, by: str | None) -> None:
    """Attach usernames from a registration CSV (username, permalink or shortcode, display_name); exit 1 if a row is refused."""
    from derby import entrants, store

    rows = entrants.read_csv(csv_file)
    db = ctx.open()
    _contest(db)
    result = store.import_entrants(db, rows, ctx.now(), by=_judge(by), source=Path(csv_file).name)
    from derby.units import plural

    _info(f"{len(result.matched)} of {plural(result.rows, 'row')} linked to stored entries "
          f"({plural(len({u for _, u, _ in result.matched}), 'entrant')})"
          + (f"; {len(result.problems)} refused (below)" if result.problems else ""))
    by_line = {row["line"]: row for row in rows}
    for line, message in result.problems:
        click.echo(f"line {line} ({_row_text(by_line.get(line))}): {_safe(message)}", err=True)
    for line, message in result.notes:
        click.echo(f"note: line {line}: {_safe(message)}", err=True)
    if result.problems:
        sys.exit(1)


def _row_text(row: dict | None) -> str:
    """What a registration row held, for a message: ``jean, https://…/p/X/``."""
    if row is None:
        return "?"
    where = row.get("permalink") or row.get("shortcode") or "no permalink"
    return _safe(f"{row.get('username') or 'no username'}, {where}")[:120]


def _resolve(db, ref: str) -> dict:
    from derby import store

    row = store.find_media(db, ref)
    if row is None:
        raise DerbyError(f"no stored entry matches {ref!r}; give a media id, a permalink or a shortcode")
    return row


@cli.command()
@click.argument("media")
@_lang_option("Language (default: the contest's).")
@_as_of_option
@pass_ctx
@friendly
def explain(ctx: _Context, media: str, as_of: str | None, lang: str | None) -> None:
    """Show how one entry's (or, in a team contest, one team's) score and rank were computed."""
    from derby import clock, leaderboard, store

    db = ctx.read()
    contest = _contest(db)
    moment = _read_moment(ctx, db, contest, as_of)
    if contest.kind == "teams":
        _team_explain(db, contest, media, moment, lang or contest.language, ctx.now())
        return
    row = _resolve(db, media)
    board = leaderboard.standings(db, ctx.now(), moment)
    for line in leaderboard.explain_lines(board, row["media_id"], store.moderation_history(db, row["media_id"], moment),
                                          lang or contest.language):
        click.echo(line)
    from derby.store import flags as flag_store

    from derby.explain_fr import FRAME, flag_detail

    lang = lang or contest.language
    t = FRAME[lang]
    for flag in flag_store.list_flags(db, include_decided=True, media_id=row["media_id"]):
        state = t["decided"].format(decision=t.get(flag["decision"], flag["decision"]), by=_safe(flag["by"]),
                                    note=_safe(flag["note"])) if flag["decision"] else t["open"]
        detail = flag_detail(flag["detail"]) if lang == "fr" else flag["detail"]
        click.echo(t["flag"].format(id=flag["id"], kind=t["kinds"].get(flag["kind"], flag["kind"]),
                                    when=clock.format_local(flag["detected_at"], contest.tz, lang),
                                    detail=_safe(detail), state=state))


def _moderate(ctx: _Context, media: str, action: str, reason: str, by: str | None, lang: str | None) -> None:
    from derby import store
    from derby.judging_text import LINES

    db = ctx.open()
    contest = _contest(db)
    row = _resolve(db, media)
    try:
        done = store.moderate(db, row["media_id"], action, reason, _judge(by), ctx.now())
    except ValueError as exc:
        raise DerbyError(str(exc)) from None
    _info(LINES[lang or contest.language][action].format(media=row["media_id"], by=_safe(done["by"]),
                                                         reason=_safe(done["reason"])))


_confirmation_lang = _lang_option("Language of the confirmation (default: the contest's).")
_team_option = click.option("--team", "team", default=None, metavar="NAME",
                            help="Team contest: the whole team (name, account id or @username) instead of one post.")


@cli.command()
@click.argument("media", required=False)
@_reason_option("Why (required; shown with the entry and kept in the audit log).")
@_team_option
@_by_option
@_confirmation_lang
@pass_ctx
@friendly
def disqualify(ctx: _Context, media: str | None, reason: str, team: str | None, by: str | None,
               lang: str | None) -> None:
    """Take an entry (or with --team a whole team) out of the ranking, with a reason (MEDIA: id, permalink or shortcode)."""
    if _moderation_target(media, team) == "team":
        _moderate_team(ctx, team, "disqualify", reason, by, lang)  # type: ignore[arg-type]
        return
    _moderate(ctx, media, "disqualify", reason, by, lang)  # type: ignore[arg-type]


@cli.command()
@click.argument("media", required=False)
@_reason_option("Why (required; kept in the audit log).")
@_team_option
@_by_option
@_confirmation_lang
@pass_ctx
@friendly
def reinstate(ctx: _Context, media: str | None, reason: str, team: str | None, by: str | None,
               lang: str | None) -> None:
    """Undo a disqualification (of an entry, or with --team of a team), or clear an entry held for review."""
    if _moderation_target(media, team) == "team":
        _moderate_team(ctx, team, "reinstate", reason, by, lang)  # type: ignore[arg-type]
        return
    _moderate(ctx, media, "reinstate", reason, by, lang)  # type: ignore[arg-type]


@cli.command()
@click.option("--action", type=click.Choice(["rule_seed", "rule_set", "disqualify", "reinstate", "entrants_import",
                                            "ack_gaps", "draw_commit", "draw_commit_refused", "draw_run",
                                            "draw_run_refused", "results_certify", "results_verify", "check_winners",
                                            "flag_clear", "flag_act", "purge", "purge_refused", "contest_file_refused", "contest_change", "team_disqualify",
                                            "team_reinstate", "team_rename", "team_drop"]),
              default=None, help="Only this kind of action.")
@_format_option("table", "json", "ndjson", "csv")
@_lang_option("Language of the listing's times and action names (default: the contest's); summaries as recorded.")
@pass_ctx
@friendly
def audit(ctx: _Context, action: str | None, fmt: str, lang: str | None) -> None:
    """Print the append-only audit log: rules, moderation, imports, draws, certifications, checks, flags, purges."""
    import json

    from derby import clock, export, store

    db = ctx.read()
    contest = _contest(db)
    rows = store.audit_log(db, action=action)
    if fmt != "table":
        for row in rows:
            row["at"] = clock.iso_local(row["at"], contest.tz)
        if fmt == "json":
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        elif fmt == "ndjson":
            export.write_ndjson(sys.stdout, rows)
        else:
            export.write_csv(sys.stdout, [{**r, "data": json.dumps(r["data"], ensure_ascii=False)} for r in rows],
                             ("id", "at", "actor", "action", "subject", "summary", "data"))
        return
    from derby import judging_text

    lang = lang or contest.language
    for row in rows:
        click.echo(judging_text.LINES[lang]["audit"].format(
            when=clock.format_local(row["at"], contest.tz, lang), actor=_safe(row["actor"]),
            action=judging_text.action(row["action"], lang), summary=_safe(row["summary"])))


@cli.command()
@_format_option("table", "json", "ndjson", help="ndjson: the same object as json, on one line.")
@click.option("--ack-gaps", "ack_gaps", is_flag=True,
              help="Acknowledge the coverage gaps known now (with --reason; audited): only new gaps alert again.")
@click.option("--reason", default=None, help="Why the gaps are acceptable (with --ack-gaps; kept in the audit log).")
@_lang_option("Language of the report (default: the contest's).")
@_by_option
@pass_ctx
@friendly
def status(ctx: _Context, fmt: str, ack_gaps: bool, reason: str | None, by: str | None, lang: str | None) -> None:
    """Report the daemon's health; exit 0 healthy, 1 degraded, 2 when a person must act."""
    import json

    from derby import health, store

    if ctx.db_path != ":memory:" and not Path(ctx.db_path).exists():
        raise ConfigError(f"database {ctx.db_path} not found; pass --db or set DERBY_DB")
    if reason is not None and not ack_gaps:
        raise ConfigError("--reason goes with --ack-gaps")
    if ack_gaps:
        writer = ctx.open()
        _contest(writer)
        try:
            count = store.acknowledge_gaps(writer, ctx.now(), by=_judge(by), reason=reason or "")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        writer.close()
        click.echo(f"acknowledged {count} coverage gap{'s' if count != 1 else ''} (recorded in the audit log); "
                   "gaps found later alert again" if count else "no coverage gap to acknowledge", err=True)
    db = ctx.read()
    contest = _contest(db)
    _read_moment(ctx, db, contest, None, what="status reports the latest stored polls, not what was known at --now")
    lang = lang or contest.language
    data = health.report(db, contest, ctx.now(), ctx.db_path, _budget_account(contest), lang)
    db.close()
    if fmt in ("json", "ndjson"):
        click.echo(json.dumps(data, ensure_ascii=False, indent=2 if fmt == "json" else None))
    else:
        for line in health.render_text(data, lang):
            click.echo(line)
    sys.exit(data["exit_code"])


@cli.group(name="token")
def token_group() -> None:
    """Record what the platform does not tell of a token (an Instagram Login token's expiry)."""


@token_group.command(name="issued")
@click.argument("variable")
@click.option("--at", "at", default=None, metavar="TIME",
              help="When the token was issued or refreshed (ISO 8601; contest time zone without an offset; default: now).")
@click.option("--expires-in", "expires_in", type=click.IntRange(min=1), default=None, metavar="SECONDS",
              help="The expires_in the platform answered (refresh_access_token, ig_exchange_token); default: 60 days.")
@_confirmation_lang
@_by_option
@pass_ctx
@friendly
def token_issued(ctx: _Context, variable: str, at: str | None, expires_in: int | None, lang: str | None,
                 by: str | None) -> None:
    """Record when the token now in VARIABLE was issued, so status, the board and the log warn before it expires."""
    from datetime import timedelta

    from derby import clock, store, tokens as expiry

    db = ctx.open()
    contest = _contest(db)
    names = sorted({t.token_env for t in contest.teams}) if contest.kind == "teams" else ["INSTAGRAM_ACCESS_TOKEN"]
    if variable not in names:
        raise ConfigError(f"{variable} is not a token variable of this contest; its token variables: {', '.join(names)}")
    token = _environment().get(variable, "").strip()
    if not token:
        raise ConfigError(f"{variable} is not set (environment or .env): put the token in it first")
    now = ctx.now()
    try:
        issued = clock.parse_local(at, contest.tz) if at else now
    except (ValueError, OverflowError):
        raise ConfigError(f"--at {at!r} is not an ISO 8601 time such as 2017-04-01T12:00") from None
    if issued > now:
        raise ConfigError(f"--at {at} is in the future (now is {clock.format_local(now, contest.tz, 'en')}); give "
                          "when the token was issued or refreshed")
    lasts = timedelta(seconds=expires_in) if expires_in else expiry.LONG_LIVED_INSTAGRAM
    ends, fp, tz = issued + lasts, expiry.fingerprint(token), contest.tz
    line = expiry.issued_line(variable, issued, lasts, expires_in, tz)
    store.record_token_issued(db, fp, variable, ends, now, _judge(by), f"recorded (fingerprint {fp}): {line}")
    db.close()
    lang = lang or contest.language
    said = expiry.issued_line(variable, issued, lasts, expires_in, tz, lang)
    _info(f"noté : {said}" if lang == "fr" else f"recorded: {said}")


# -- team contests -----------------------------------------------------------------------------

def _kind(ctx: _Context) -> str:
    """The stored contest's kind (``hashtag`` or ``teams``), read without writing."""
    db = ctx.read()
    try:
        return _contest(db).kind
    finally:
        db.close()


def _rule_names(kind: str) -> list[str]:
    """The rules a contest of ``kind`` takes, sorted (the team rules only in a team contest)."""
    from derby import rules as rule_kinds

    return sorted(n for n in rule_kinds.RULE_KINDS if kind == "teams" or n not in rule_kinds.TEAM_RULES)


def _check_rule_kind(kind: str, name: str, value: object) -> None:
    from derby import rules as rule_kinds

    if name in rule_kinds.TEAM_RULES and kind != "teams":
        raise ValueError(f"rule {name} is for a team contest; this database holds a hashtag contest")
    if name == "tie_break":
        rule_kinds.check_tie_break_kind(value, kind)  # type: ignore[arg-type]


def _team_leaderboard(ctx: _Context, *, top, show_all, fmt, lang, live, every, save_to, trophy, posts, as_of) -> None:
    from derby import clock, export, team_leaderboard as teams

    if posts and trophy:
        raise ConfigError("--posts ranks the teams' posts and --trophy ranks the teams: give one of them")

    db = ctx.read()
    contest = _contest(db)
    moment = _read_moment(ctx, db, contest, as_of)
    if fmt != "table":
        if live or save_to:
            raise ConfigError(f"--live and --save draw the table; drop --format {fmt}")
        board = teams.team_standings(db, ctx.now(), moment)
        if posts:
            chosen = board.posts.ranked[:top] if top else board.posts.ranked
            if show_all:
                chosen = chosen + [e for e in board.posts.entries if e.rank is None]
            records = [teams.post_record(e, board) for e in chosen]
            columns = export.TEAM_POST_COLUMNS
        elif trophy:
            records = teams.trophy_records(board, teams.find_trophy(contest, trophy), limit=top)
            columns = export.TEAM_WINNER_COLUMNS
        else:
            records = [teams.team_record(t, contest) for t in teams.select_teams(board, top, show_all)]
            columns = None
        if fmt == "json":
            click.echo(export.team_leaderboard_json(board, records))
        elif fmt == "ndjson":
            export.write_ndjson(sys.stdout, records)
        elif columns is None:
            export.team_rows_csv(sys.stdout, records)
        else:
            export.write_csv(sys.stdout, records, columns)
        return
    db.close()
    _draw_team_board(ctx, top=top, show_all=show_all, lang=lang, live=live, every=every, save_to=save_to,
                     trophy=trophy, posts=posts, moment=moment)


def _draw_team_board(ctx: _Context, *, top, show_all, lang, live, every, save_to, trophy, posts, moment) -> None:
    from derby import board as drawing, clock, store, team_leaderboard as teams

    console = _console()

    def read(rows: int | None):
        reader = store.open_reader(ctx.db_path)
        try:
            if posts:
                return teams.posts_board_view(reader, ctx.now(), moment, top=top, show_all=show_all, limit=rows)
            return teams.team_board_view(reader, ctx.now(), moment, top=top, show_all=show_all, limit=rows,
                                         trophy=trophy)
        finally:
            reader.close()

    view = read(None)  # an unknown trophy fails here, with one line
    if save_to:
        _save_board(drawing, view, lang or view.board.contest.language, save_to)
    if live:
        drawing.run_live(console, drawing.LiveBoard(read, console, lang, every), every)
    else:
        console.print(drawing.render(view, lang or view.board.contest.language, console))
    if save_to and save_to != "-":
        _info(f"saved the board to {save_to}", err=True)


def _team_export(ctx: _Context, output: str, *, top, alternates, every_entry, fmt, encoding, lang, as_of) -> None:
    from derby import clock, export, files, team_leaderboard as teams
    from derby.units import plural

    db = ctx.read()
    board = teams.team_standings(db, ctx.now(), _read_moment(ctx, db, _contest(db), as_of))
    stdout = _stdout_bytes()
    where = "stdout" if files.is_stdout(output) else output
    if every_entry:
        written = export.export_team_entries(output, board, fmt=fmt, encoding=encoding, lang=lang, stdout=stdout)
        _info(f"wrote {plural(written, 'team')} ({len(board.ranked)} ranked) to {where}", err=True)
        return
    written = export.export_team_winners(output, board, top=top, alternates=alternates, fmt=fmt, encoding=encoding,
                                         lang=lang, stdout=stdout)
    ranked = len(board.ranked)
    trophies = len(board.contest.trophies)
    _info(f"wrote {plural(written, 'row')} ({plural(min(top, ranked), 'winner')}, "
          f"{plural(max(min(alternates, ranked - top), 0), 'alternate')}"
          + (f", winners of {plural(trophies, 'trophy', 'trophies')}" if trophies else "") + f") to {where}", err=True)
    if not ranked:
        click.echo("warning: no team is ranked yet, so the file has no winner", err=True)


def _team_explain(db, contest, ref: str, moment, lang: str, now) -> None:
    from derby import leaderboard, store, team_leaderboard as teams

    board = teams.team_standings(db, now, moment)
    team = teams.resolve_team(board, ref)
    if team is not None:
        for line in teams.explain_team_lines(board, team, store.team_moderation_history(db, team.account_id, moment),
                                             lang):
            click.echo(line)
        return
    row = store.find_media(db, ref)
    if row is None or row["media_id"] not in board.team_of:
        names = ", ".join(f"“{_safe(t.name)}”" for t in contest.teams)
        raise DerbyError(f"no team or stored post matches {ref!r}; teams: {names} (or give a post's id, permalink "
                         "or shortcode)")
    for line in leaderboard.explain_lines(board.posts, row["media_id"], store.moderation_history(db, row["media_id"], moment),
                                          lang):
        click.echo(line)


def _moderation_target(media: str | None, team: str | None) -> str:
    if bool(media) == bool(team):
        raise ConfigError("give either a post (MEDIA) or --team NAME")
    return "team" if team else "media"


def _moderate_team(ctx: _Context, ref: str, action: str, reason: str, by: str | None, lang: str | None) -> None:
    from derby import clock, store, team_leaderboard as teams
    from derby.judging_text import LINES

    db = ctx.open()
    contest = _contest(db)
    if contest.kind != "teams":
        raise ConfigError("--team is for a team contest; this database holds a hashtag contest")
    found = teams.resolve_team(teams.team_standings(db, ctx.now()), ref)
    if found is None:
        raise DerbyError(f"no team matches {ref!r}; teams: {', '.join(f'“{_safe(t.name)}”' for t in contest.teams)}")
    try:
        done = store.moderate_team(db, found.account_id, action, reason, _judge(by), ctx.now())
    except ValueError as exc:
        raise DerbyError(f"team “{_safe(found.name)}”: {exc}") from None
    words = LINES[lang or contest.language]
    click.echo(words[action].format(media=words["team"].format(name=_safe(found.name)), by=_safe(done["by"]),
                                    reason=_safe(done["reason"])))


@cli.command()
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace TARGET when it exists.")
@pass_ctx
@friendly
def backup(ctx: _Context, target: str, force: bool) -> None:
    """Copy the database to TARGET while the daemon may run, and check the copy."""
    import time

    from derby import store

    if not Path(ctx.db_path).is_file():
        raise ConfigError(f"no database at {ctx.db_path}; pass --db or set DERBY_DB")
    started = time.monotonic()
    done = store.backup(ctx.db_path, target, overwrite=force)
    _info(f"backed up {ctx.db_path} to {done.path} ({done.size / 1e6:.1f} MB, {done.pages} pages, "
               f"integrity check ok) in {time.monotonic() - started:.1f} s")



# -- draws: commit, run, verify ---------------------------------------------------------------

@cli.group(name="draw")
def draw_group() -> None:
    """A random draw anyone can re-check: commit to the pool, run it with a public beacon, verify."""


@draw_group.command(name="commit")
@click.option("--pool", "pool", default=None, metavar="eligible|top:N",
              help="Draw among every eligible entry, or among the first N (default: the contest file's [draw], else eligible).")
@click.option("--weighted/--unweighted", "weighted", default=None,
              help="Weight each entry by its score (integer weight = score × 10⁶); default: the contest file's [draw].")
@click.option("--beacon", required=True, metavar="TEXT",
              help="The future public random value that will decide, e.g. \"drand quicknet round 12345678\".")
@click.option("--winners", type=click.IntRange(min=1), default=None, help="Number of winners (default: [draw], else 1).")
@click.option("--alternates", type=click.IntRange(min=0), default=None,
              help="Number of alternates (default: [draw], else 2).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, exists=True), default=".", show_default=True,
              help="Folder for the pool file.")
@click.option("--include-gone", "include_gone", is_flag=True,
              help="Keep posts reported gone that no judge decided on in the pool (the audit log names them); "
                   "without it the commit is refused until a judge disqualifies or reinstates each.")
@_as_of_option
@_by_option
@pass_ctx
@friendly
def draw_commit(ctx: _Context, pool: str | None, weighted: bool | None, beacon: str, winners: int | None,
                alternates: int | None, out_dir: str, include_gone: bool, as_of: str | None, by: str | None) -> None:
    """Freeze the pool and print the SHA-256 commitment to publish before the beacon's value exists."""
    from derby import draws, store

    db = ctx.open()
    contest = _contest(db)
    planned = contest.terms.draw or {}
    pool = pool or planned.get("pool") or "eligible"
    weighted = bool(planned.get("weighted")) if weighted is None else weighted
    winners = winners or planned.get("winners") or 1
    alternates = planned.get("alternates", 2) if alternates is None else alternates
    try:
        moment = _moment(contest, as_of)
    except ConfigError as exc:  # a refused draw is in the audit log, whatever refused it
        from derby.store import draws as draw_store

        draw_store.record_attempt(db, ctx.now(), _judge(by), "draw_commit_refused", f"refused: {exc}")
        raise
    done = draws.commit(db, contest, ctx.now(), by=_judge(by), pool=pool, weighted=weighted, beacon=beacon,
                        winners=winners, alternates=alternates, as_of=moment, out_dir=Path(out_dir),
                        include_gone=include_gone)
    if not planned:  # said once the commit is made: a refused one needs no advice on the question
        click.echo("warning: the contest file has no [draw] question: a random draw comes with a skill-testing "
                   "question that the rules must state (derby rules-text)", err=True)
    doc = done.pool
    if as_of is None and store.contest_closed(db) is None:
        click.echo("warning: the daemon has not recorded its final poll: a later poll that finds a late post changes "
                   "the pool, and the run is then refused; commit after the final poll, or pass --as-of", err=True)
    click.echo(f"pool: {len(doc['entries'])} entries ({doc['pool']}{', weighted by score' if weighted else ''}), "
               f"{winners} winner{'s' if winners > 1 else ''} and {alternates} alternate{'s' if alternates != 1 else ''}; "
               f"written to {done.path}")
    if done.kept_gone:
        click.echo(f"note: kept in the pool though reported gone (--include-gone): {_safe(done.kept_gone)}", err=True)
    click.echo(f"beacon: {_safe(doc['beacon'])}")
    click.echo(f"commitment: {done.commitment}")
    click.echo("Publish the commitment now, before the beacon's value exists; then: derby draw run --value HEX "
               "(or --value-text TEXT)")


@draw_group.command(name="run")
@click.option("--value", "hex_value", default=None, metavar="HEX", help="The beacon's value in hex, as drand publishes it.")
@click.option("--value-text", "text_value", default=None, metavar="TEXT",
              help="The beacon's value as text (numbers or words, e.g. a lottery draw), used as given.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, exists=True), default=".", show_default=True,
              help="Folder for the certificate files.")
@_lang_option("First language of the HTML certificate.")
@_by_option
@pass_ctx
@friendly
def draw_run(ctx: _Context, hex_value: str | None, text_value: str | None, out_dir: str, lang: str | None,
             by: str | None) -> None:
    """Rank the committed pool with the beacon's value; record winners and alternates; write the certificate."""
    from derby import draws

    db = ctx.open()
    contest = _contest(db)
    done = draws.run(db, contest, ctx.now(), by=_judge(by), hex_value=hex_value, text_value=text_value,
                     out_dir=Path(out_dir), lang=lang or contest.language)
    result = done.certificate["result"]
    links = done.certificate["permalinks"]
    for n, media_id in enumerate(result["winners"] + result["alternates"], start=1):
        role = "winner" if n <= len(result["winners"]) else "alternate"
        click.echo(f"{n}. {role:<9} {media_id}  {_safe(links.get(media_id)) or ''}".rstrip())
    for line in done.warnings:
        click.echo(_safe(line), err=True)
    click.echo(f"certificate: {done.json_path} and {done.html_path}")
    click.echo(f"anyone can check it: derby draw verify {done.json_path.name} --commitment "
               f"{done.certificate['commitment']}")


@draw_group.command(name="verify")
@click.argument("certificate", type=click.Path(dir_okay=False))
@click.option("--commitment", "expected", default=None, metavar="HEX",
              help="The commitment published before the draw; the certificate must carry it.")
@friendly
def draw_verify(certificate: str, expected: str | None) -> None:
    """Recompute a draw's commitment and result from its certificate alone, offline; exit 0 on a match."""
    from derby import draw, draws

    report = draw.verify(draws.read_certificate(Path(certificate)), expected)
    for what, passed, detail in report.checks:
        click.echo(f"{'ok  ' if passed else 'FAIL'} {what}: {_safe(detail)}")
    if not report.ok:
        _fail(f"{certificate} does not match: the draw cannot be trusted as certified", 1)
    click.echo("match: the certificate's result follows from its pool and the beacon's value")



# -- certified results -------------------------------------------------------------------------

@cli.group(name="results")
def results_group() -> None:
    """Certified results: freeze the official standings into a file, and check it later."""


@results_group.command(name="certify")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="Number of winners (default: the contest file's rank prizes, else 3).")
@click.option("--alternates", type=click.IntRange(min=0), default=2, show_default=True, help="Number of alternates.")
@click.option("--out", "output", type=click.Path(dir_okay=False), default=None,
              help="The results file (default: results-<time>.json in the working folder).")
@_confirmation_lang
@_by_option
@pass_ctx
@friendly
def results_certify(ctx: _Context, top: int | None, alternates: int, output: str | None, lang: str | None,
                    by: str | None) -> None:
    """Freeze winners, alternates, rules and readings into a results file; print and record its SHA-256."""
    from derby import clock, results
    from derby.results_text import LINES

    db = ctx.open()
    contest = _contest(db)
    lang = lang or contest.language
    t = LINES[lang]
    now = ctx.now()
    path = Path(output or f"results-{now.strftime('%Y%m%dT%H%M%SZ')}.json")
    document, digest = results.certify(db, now, path, by=_judge(by), top=top or _rank_prizes(contest) or 3,
                                       alternates=alternates)
    for role in ("winners", "alternates"):
        for row in document[role]:
            who = (t["team"].format(name=_safe(row["team"]), account=row["account_id"]) if "account_id" in row else
                   f"{row['media_id']}  {_safe(row['permalink']) or ''}")
            click.echo(t["row"].format(role=t[role[:-1]], rank=row["rank"], who=who).rstrip())
    for trophy in document["trophies"]:
        click.echo(t["trophy"].format(name=_safe(trophy["name"]), metric=trophy["metric"], winners=", ".join(
            f"{w['place']}. “{_safe(w['team'])}” {w['account_id']} ({w['value']})" for w in trophy["winners"])
            or t["no_team"]))
    click.echo(t["certified"].format(n=len(document["standings"]), what=t["teams" if contest.kind == "teams" else "entries"],
                                     when=clock.format_local(now, contest.tz, lang), path=path))
    click.echo(f"SHA-256: {digest}")


def _rank_prizes(contest) -> int:
    terms = getattr(contest, "terms", None)
    return len([p for p in (terms.prizes if terms else ()) if p.rank is not None])


@results_group.command(name="verify")
@click.argument("results_file", type=click.Path(dir_okay=False))
@_confirmation_lang
@pass_ctx
@friendly
def results_verify(ctx: _Context, results_file: str, lang: str | None) -> None:
    """Recompute certified results as of their certification and as of now; exit 1 when today's differ."""
    from derby import results
    from derby.results_text import LINES
    from derby.store import draws as draw_store
    from derby.units import plural

    db = ctx.open()
    lang = lang or _contest(db).language
    t = LINES[lang]
    now = ctx.now()
    report = results.verify(db, now, Path(results_file))
    click.echo(t["file"].format(tag=t["ok" if report.file_ok else "fail"], sha=report.sha256, note=_safe(report.file_note)))
    if report.edited:
        click.echo("       " + t["edited"].format(count=plural(len(report.edited), t["difference"], lang=lang)))
    for line in report.edited:
        click.echo(f"       {_safe(line)}")
    if report.at_certification and report.same_second:
        click.echo(t["same_second"].format(actions=_safe(", ".join(report.same_second))))
    else:
        click.echo(t["as_certified"].format(tag=t["fail" if report.at_certification else "ok"],
                                            what=t["tampered" if report.at_certification else "reproduced"]))
    for line in report.at_certification:
        click.echo(f"       {_safe(line)}")
    click.echo(t["today"].format(tag=t["diff" if report.since else "ok"], what=t["since"].format(
        count=plural(len(report.since), t["difference"], lang=lang)) if report.since else t["same"]))
    for line in report.since:
        click.echo(f"       {_safe(line)}")
    summary = "match" if report.ok else (f"file {'ok' if report.file_ok else 'not certified'}, "
                                         f"{len(report.at_certification)} differences as certified, "
                                         f"{len(report.since)} since")
    draw_store.record_attempt(db, now, _judge(None), "results_verify", f"results {report.sha256[:12]}: {summary}",
                              {"sha256": report.sha256, "file_ok": report.file_ok,
                               "at_certification": report.at_certification, "since": report.since})
    if not report.ok:
        _fail(t["mismatch"].format(file=results_file), 1)
    click.echo(t["match"])



# -- the contest rules, written ----------------------------------------------------------------

@cli.command(name="rules-text")
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True,
              help="Language of the rules (in Québec the French text is required).")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md", show_default=True)
@click.option("--out", "output", type=click.Path(dir_okay=False), default=None, help="Write to this file instead of stdout.")
@pass_ctx
@friendly
def rules_text_cmd(ctx: _Context, lang: str, fmt: str, output: str | None) -> None:
    """Write the contest rules from the contest file and the rules in force (Markdown or HTML)."""
    from derby import rules_text, store

    db = ctx.open()
    contest = _contest(db)
    try:
        blocks = rules_text.build(contest, store.read_rules(db), lang)
    except rules_text.RulesTextError as exc:
        raise ConfigError(str(exc)) from None
    body = rules_text.markdown(blocks) if fmt == "md" else rules_text.html(blocks, lang)
    if output:
        Path(output).write_text(body, encoding="utf-8")
        click.echo(f"wrote the rules ({lang}, {fmt}) to {output}", err=True)
    else:
        click.echo(body, nl=False)



@cli.command(name="purge")
@_by_option
@pass_ctx
@friendly
def purge_cmd(ctx: _Context, by: str | None) -> None:
    """Replace usernames, display names and registration rows by pseudonyms once the retention period has passed."""
    from derby import privacy

    db = ctx.open()
    contest = _contest(db)
    done = privacy.purge(db, contest, ctx.now(), _judge(by))
    click.echo(f"purged: {done['entrants']} entrants pseudonymised, {done['rows']} rows rewritten "
               "(the standings are unchanged; derby audit shows the purge)")



# -- flags for judges ---------------------------------------------------------------------------

@cli.group(name="flags", invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Also list flags a judge already cleared or acted on.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_lang_option("Language of the listing (default: the contest's).")
@click.pass_context
@friendly
def flags_group(click_ctx: click.Context, show_all: bool, fmt: str, lang: str | None) -> None:
    """List the flags the polls raised (bursts, like/comment ratios, lock-step gains) for judges to look at."""
    if click_ctx.invoked_subcommand is not None:
        return
    import json

    from derby import clock
    from derby.store import flags as flag_store

    ctx = click_ctx.find_object(_Context)
    db = ctx.open()
    contest = _contest(db)
    rows = flag_store.list_flags(db, include_decided=show_all)
    if fmt == "json":
        for row in rows:
            row["detected_at"] = clock.iso_local(row["detected_at"], contest.tz)
            row["decided_at"] = clock.iso_local(row["decided_at"], contest.tz)
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    from derby import judging_text

    lang = lang or contest.language
    words = judging_text.LINES[lang]
    if not rows:
        click.echo(words["none_open"] if not show_all else words["none"])
    for row in rows:
        decided = words["decided"].format(decision=words.get(row["decision"], row["decision"]), by=_safe(row["by"]),
                                          note=_safe(row["note"])) if row["decision"] else ""
        click.echo(words["flag"].format(id=row["id"], when=clock.format_local(row["detected_at"], contest.tz, lang),
                                        media=row["media_id"], kind=judging_text.flag_kind(row["kind"], lang),
                                        detail=_safe(judging_text.detail(row["detail"], lang)), decided=decided))
    if rows and not show_all:
        click.echo(words["next"])


def _decide_flag(ctx: _Context, flag_id: int, decision: str, note: str, by: str | None) -> None:
    from derby.store import flags as flag_store

    db = ctx.open()
    _contest(db)
    try:
        flag = flag_store.decide(db, flag_id, decision, note, _judge(by), ctx.now())
    except ValueError as exc:
        raise DerbyError(str(exc)) from None
    click.echo(f"flag #{flag_id} ({flag['kind']}, {flag['media_id']}) {'cleared' if decision == 'clear' else 'acted on'}")


@flags_group.command(name="clear")
@click.argument("flag_id", type=int)
@click.option("--note", required=True, help="What the judge saw (kept in the audit log).")
@_by_option
@pass_ctx
@friendly
def flags_clear(ctx: _Context, flag_id: int, note: str, by: str | None) -> None:
    """Clear a flag: the judge looked and found nothing wrong (recorded)."""
    _decide_flag(ctx, flag_id, "clear", note, by)


@flags_group.command(name="act")
@click.argument("flag_id", type=int)
@click.option("--note", required=True, help="What the judge did, e.g. disqualified (kept in the audit log).")
@_by_option
@pass_ctx
@friendly
def flags_act(ctx: _Context, flag_id: int, note: str, by: str | None) -> None:
    """Record that a judge acted on a flag (e.g. disqualified the entry)."""
    _decide_flag(ctx, flag_id, "act", note, by)



@cli.command(name="check-winners")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="Winners when no draw ran (default: the contest file's rank prizes, else 3).")
@click.option("--alternates", type=click.IntRange(min=0), default=2, show_default=True,
              help="Alternates when no draw ran.")
@_lang_option("Language of the report (default: the contest's).")
@_by_option
@pass_ctx
@friendly
def check_winners_cmd(ctx: _Context, top: int | None, alternates: int, lang: str | None, by: str | None) -> None:
    """Re-read each winner and alternate (in a team contest, each winning account) before announcing; exit 1 on a warning."""
    from derby import check, check_fr, store

    db = ctx.open()
    contest = _contest(db)
    lang = lang or contest.language
    t, say = check_fr.FRAME[lang], (check_fr.french if lang == "fr" else str)
    top = top or _rank_prizes(contest) or 3
    if contest.kind == "teams":
        source, results = _check_team_winners(ctx, db, contest, top, alternates, by)
    else:
        read, app = None, None
        if contest.refresh.mentions:
            from derby.poll import feed_account

            try:
                feed = _feed_now(ctx, contest)
            except ConfigError as exc:  # no token: the check still reports what the store holds
                click.echo(t["not_read"].format(error=exc), err=True)
            else:
                app = feed_account(feed)
                read = check.mention_reader(db, contest, feed, app, ctx.now(), store.organizer_username(db, app))
        source, results = check.check_winners(db, contest, ctx.now(), _judge(by), top=top, alternates=alternates,
                                              read=read, app=app)
    _say_checks(results, t, say, source)
    warnings = sum(len(r.warnings) for r in results)
    unread = [r for r in results if not r.read]
    if unread:
        click.echo(t["unread"].format(n=len(unread), total=len(results),
                                      what=t["profiles" if contest.kind == "teams" else "permalinks"]))
    if warnings:
        _fail(t["warnings"].format(n=warnings, s="s" if warnings > 1 else ""), 1)


def _say_checks(results, t: dict, say, source: str) -> None:
    """Print each winner's and alternate's check: ``t`` the frame's words, ``say`` the
    check lines' translation (``str`` keeps them as written)."""
    click.echo(t["from"].format(source=t.get(source, source)))
    for r in results:
        if r.team is not None:
            who = (t["trophy"].format(name=_safe(r.trophy)) if r.trophy else "") + t["team"].format(
                name=_safe(r.team), account=r.account_id)
        else:
            who = r.media_id
        click.echo(f"{r.place}. {t[r.role]:<9} {who}  {_safe(r.permalink) or ''}".rstrip())
        for line in r.lines:
            click.echo(f"     {_safe(say(line))}")
        for line in r.warnings:
            click.echo(f"     {t['warning']}{_safe(say(line))}")


def _check_team_winners(ctx: _Context, db, contest, top: int, alternates: int, by: str | None):
    """check-winners in a team contest: each winning account read again by its owner."""
    from derby import team_check

    from derby.poll import feed_account

    read, app = None, None
    try:
        feed = _feed_now(ctx, contest)
    except ConfigError as exc:
        click.echo(f"accounts are not read again: {exc}", err=True)
    else:
        app = feed_account(feed)
        read = team_check.owner_reader(db, feed, contest, ctx.now(), app)
    return team_check.check_team_winners(db, contest, ctx.now(), _judge(by), top=top, alternates=alternates,
                                         read=read, app=app)


def _add_verbosity(command: click.Command) -> None:
    command.params.extend(_verbosity_params())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_verbosity(sub)


_add_verbosity(cli)


if __name__ == "__main__":  # pragma: no cover
    main()
