"""The ``derby`` command line. The only module that reads the environment and ``.env``,
prints, or exits.

Every command takes ``--db`` (env ``DERBY_DB``, default ``derby.db``). Failures print
one line on stderr, naming the cause and the fix, and exit non-zero: 2 for
configuration, 3 when the platform refused for now, 1 otherwise. No traceback reaches a
user unless ``DERBY_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from functools import wraps
from pathlib import Path

import click

from derby import __version__
from derby.errors import DerbyError

DEFAULT_DB = "derby.db"


def _fail(message: str, code: int) -> None:
    click.echo(f"derby: {message}", err=True)
    sys.exit(code)


def _redact(text: str) -> str:
    for name in ("INSTAGRAM_ACCESS_TOKEN", "INSTAGRAM_APP_SECRET"):
        secret = os.environ.get(name)
        if secret:
            text = text.replace(secret, "***")
    return text


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
        except OSError as exc:
            _fail(_redact(f"{exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}"), 1)
        except Exception as exc:  # noqa: BLE001 - the user gets one line, never a traceback
            if os.environ.get("DERBY_DEBUG") == "1":
                raise
            _fail(_redact(f"unexpected error ({type(exc).__name__}: {exc}); rerun with DERBY_DEBUG=1 for details"), 1)

    return wrapper


class _Context:
    def __init__(self, db_path: str) -> None:
        self.db_path = db_path

    def open(self):
        from derby import store

        return store.open_db(self.db_path)


pass_ctx = click.make_pass_decorator(_Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="derby")
@click.option("--db", "db_path", default=DEFAULT_DB, envvar="DERBY_DB", show_default=True,
              type=click.Path(dir_okay=False), help="SQLite database of the contest (env DERBY_DB).")
@click.pass_context
def cli(ctx: click.Context, db_path: str) -> None:
    """Run an Instagram hashtag contest: poll, score, rank and export the winners."""
    ctx.obj = _Context(db_path)


def main() -> None:
    """Entry point: read ``.env`` from the working folder (the environment wins), then run."""
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)
    cli(prog_name="derby")


@cli.command()
@click.argument("contest_file", type=click.Path(dir_okay=False))
@pass_ctx
@friendly
def init(ctx: _Context, contest_file: str) -> None:
    """Create or upgrade the database and load the contest and its rules."""
    from derby import clock, store
    from derby.config import load_contest

    contest = load_contest(contest_file)
    db = ctx.open()
    store.save_contest(db, contest, clock.utcnow())
    tz = contest.tz
    click.echo(f"Contest “{contest.title}” loaded into {ctx.db_path}: "
               f"#{', #'.join(contest.hashtags)}, {clock.format_local(contest.start, tz, 'en')} → "
               f"{clock.format_local(contest.end, tz, 'en')}, {contest.feed.kind} feed.")


def _contest(db):
    from derby import store

    contest = store.load_contest(db)
    if contest is None:
        raise DerbyError("this database has no contest yet; run: derby init config/socialderby.toml")
    return contest


@cli.command()
@pass_ctx
@friendly
def poll(ctx: _Context) -> None:
    """Run one collection cycle on the contest's feed and print a one-line summary."""
    from derby import clock, poller
    from derby.feeds.factory import make_feed

    db = ctx.open()
    contest = _contest(db)
    summary = poller.poll_once(db, contest, make_feed(contest.feed, os.environ), clock.utcnow())
    click.echo(summary.line())
    for note in summary.notes:
        click.echo(f"note: {note}", err=True)
    if summary.status != "ok":
        sys.exit(3)


@cli.command()
@click.option("--every", "every", default=1800.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds between polls.")
@pass_ctx
@friendly
def run(ctx: _Context, every: float) -> None:
    """Poll on a schedule, in the foreground, until the contest ends or SIGINT/SIGTERM."""
    import logging

    from derby import clock, poller
    from derby.feeds.factory import make_feed

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = ctx.open()
    contest = _contest(db)
    make_feed(contest.feed, os.environ)  # fail now, not inside the scheduler, on bad settings
    db.close()
    outcome = poller.run(ctx.db_path, lambda: make_feed(contest.feed, os.environ), clock.utcnow,
                         interval=every, on_poll=lambda s: click.echo(s.line()))
    click.echo("contest closed: final poll done" if outcome == "closed" else "stopped")


def _as_of_option(func):
    return click.option("--as-of", "as_of", default=None, metavar="TIME",
                        help="Standings at this ISO 8601 time (contest time zone when no offset).")(func)


def _standings(ctx: _Context, as_of: str | None):
    from derby import clock, leaderboard

    db = ctx.open()
    return leaderboard.standings(db, clock.utcnow(), _parse_as_of(db, as_of))


def _parse_as_of(db, as_of: str | None):
    from derby import clock

    if not as_of:
        return None
    contest = _contest(db)
    try:
        return clock.parse_local(as_of, contest.tz)
    except ValueError:
        raise DerbyError(f"--as-of {as_of!r} is not an ISO 8601 time such as 2017-04-05T12:00") from None


@cli.command(name="leaderboard")
@click.option("--top", type=click.IntRange(min=1), default=None, help="Show only the first N ranked entries.")
@click.option("--all", "show_all", is_flag=True, help="Also list stored posts that are not ranked, with the reason.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--lang", type=click.Choice(["fr", "en"]), default=None, help="Labels' language (default: the contest's).")
@click.option("--live", is_flag=True, help="Keep the board on screen, refreshed (one frame when not a terminal).")
@click.option("--every", type=click.FloatRange(min=1), default=10.0, show_default=True,
              help="Seconds between refreshes of --live.")
@click.option("--save", "save_to", type=click.Path(dir_okay=False), default=None, metavar="FILE.svg|FILE.html",
              help="Also write the board as a picture (SVG or HTML).")
@_as_of_option
@pass_ctx
@friendly
def leaderboard_cmd(ctx: _Context, top: int | None, show_all: bool, fmt: str, lang: str | None, live: bool,
                    every: float, save_to: str | None, as_of: str | None) -> None:
    """Print the leaderboard computed from the stored snapshots and rules."""
    from derby import export, leaderboard

    if fmt != "table":
        board = _standings(ctx, as_of)
        if fmt == "json":
            click.echo(export.leaderboard_json(board, top, show_all))
        else:
            export.write_csv(sys.stdout, [leaderboard.entry_record(e, board.contest)
                                          for e in leaderboard.select(board, top, show_all)],
                             export.LEADERBOARD_COLUMNS)
        return
    from rich.console import Console

    from derby import board as drawing, clock, store

    db = ctx.open()  # creates or upgrades the schema once; every frame then reads read-only
    moment = _parse_as_of(db, as_of)
    _contest(db)
    db.close()
    console = Console()

    def read(rows: int | None):
        reader = store.open_reader(ctx.db_path)
        try:
            return leaderboard.board_view(reader, clock.utcnow(), moment, top=top, show_all=show_all, limit=rows)
        finally:
            reader.close()

    if save_to:
        view = read(None)
        drawing.save(view, lang or view.board.contest.language, Path(save_to))
    if live:
        drawing.run_live(console, drawing.LiveBoard(read, console, lang, every), every)
    else:
        view = read(None)
        console.print(drawing.render(view, lang or view.board.contest.language, console))
    if save_to:
        click.echo(f"saved the board to {save_to}", err=True)


@cli.command(name="export")
@click.argument("output", type=click.Path(dir_okay=False, writable=True))
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True, help="Number of winners.")
@click.option("--alternates", type=click.IntRange(min=0), default=2, show_default=True, help="Number of alternates after the winners.")
@click.option("--all", "every_entry", is_flag=True,
              help="Write every stored post instead: status, reason, moderation and each rule's points.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default=None, help="Default: from the file's extension.")
@click.option("--encoding", type=click.Choice(["utf-8-sig", "utf-8"]), default="utf-8-sig", show_default=True,
              help="utf-8-sig adds a BOM so Excel reads accents right.")
@_as_of_option
@pass_ctx
@friendly
def export_cmd(ctx: _Context, output: str, top: int, alternates: int, every_entry: bool, fmt: str | None, encoding: str,
               as_of: str | None) -> None:
    """Write the winners and alternates (or, with --all, every stored post) to a CSV or JSON file."""
    from derby import export

    board = _standings(ctx, as_of)
    fmt = fmt or ("json" if output.lower().endswith(".json") else "csv")
    if every_entry:
        written = export.export_entries(Path(output), board, fmt=fmt, encoding=encoding)
        click.echo(f"wrote {written} entries ({len(board.ranked)} ranked) to {output}")
        return
    written = export.export_winners(Path(output), board, top=top, alternates=alternates, fmt=fmt, encoding=encoding)
    ranked = len(board.ranked)
    click.echo(f"wrote {written} rows ({min(top, ranked)} winners, {max(min(alternates, ranked - top), 0)} alternates) to {output}")


@cli.command()
@click.option("--db", "demo_db", default=None, type=click.Path(dir_okay=False),
              help="Keep the demo database here (default: a temporary one).")
@click.option("--interval", default=0.5, show_default=True, type=click.FloatRange(min=0.05),
              help="Wall-clock seconds between polls (each poll is 12 h of contest time).")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="Rows of the final leaderboard.")
@click.pass_context
@friendly
def demo(click_ctx: click.Context, demo_db: str | None, interval: float, top: int) -> None:
    """Run the whole job on the bundled demo contest; nothing to configure."""
    import tempfile

    from rich.console import Console

    from derby import board as drawing, clock, export, leaderboard, store
    from derby.demo.runner import demo_contest, run_demo

    console = Console()
    contest = demo_contest()
    with tempfile.TemporaryDirectory(prefix="derby-demo-") as tmp:
        db_path = Path(demo_db or (click_ctx.obj.db_path if click_ctx.parent and
                                   click_ctx.parent.get_parameter_source("db_path").name != "DEFAULT" else Path(tmp) / "demo.db"))
        console.print(f"Replaying “{contest.title}” from the bundled recorded polls into {db_path} …")

        def progress(summary) -> None:
            console.print(f"  {clock.format_local(summary.started_at, contest.tz, 'fr')}  {summary.line()}",
                          markup=False, highlight=False)

        run_demo(db_path, interval=interval, on_poll=progress, contest=contest)
        db = store.open_db(db_path)
        view = leaderboard.board_view(db, clock.utcnow(), top=top)
        board = view.board
        console.print(drawing.render(view, contest.language, console))
        out = Path.cwd() / "winners.csv"
        written = export.export_winners(out, board, top=3, alternates=2)
        db.close()
        console.print(f"{len(board.ranked)} entries ranked of {len(board.entries)} stored; "
                      f"wrote {written} rows (3 winners, 2 alternates) to {out}", markup=False, highlight=False)


if __name__ == "__main__":  # pragma: no cover
    main()
