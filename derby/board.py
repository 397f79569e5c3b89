"""The leaderboard as judges see it: drawn with rich, fitted to the screen, live.

:func:`render` turns a :class:`derby.leaderboard.BoardView` into a rich renderable:
a header (title, phase and time left, last successful poll and its age with a warning
when stale, failing or when a coverage gap exists, counts) above a table (rank,
movement, entrant, media type, likes, comments, score, posted at, flags, trend,
caption). Every label, phase, relative time and date comes in French or English.

It fits the console: never more lines than its height (when one is given), columns
dropped by priority when narrow, long text cut with an ellipsis. User text (captions,
usernames, the contest title) goes in as ``rich.text.Text`` after
:func:`derby.text.terminal_text`, so it is never read as markup, escape codes or
direction changes and cannot move the table's borders.

:class:`LiveBoard` and :func:`run_live` refresh it in a ``rich.live.Live`` view, keeping
the last good board on screen while the database is busy.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from derby import clock
from derby import tokens as expiry
from derby.errors import ConfigError, DatabaseMissing, DerbyError, NotADerbyDatabase
from derby.leaderboard import BoardRow, BoardView
from derby.team_leaderboard import TeamBoardView, TeamRow
from derby.teams import metric_description
from derby.text import shortcode, terminal_text
from derby.units import number, word

SPARK = "▁▂▃▄▅▆▇█"
TREND_WIDTH = 8
ENTRANT_WIDTH = 22
CAPTION_MIN, CAPTION_MAX = 12, 60
MEDIA_TYPES = ("IMAGE", "VIDEO", "CAROUSEL_ALBUM", "REELS")
TABLE_OVERHEAD = 4
"""Lines a table takes besides its rows: top border, header, header rule, bottom border."""

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "rank": "Rang", "move": "±", "entrant": "Participant·e", "type": "Type", "likes": "J'aime",
        "comments": "Comm.", "score": "Pointage", "posted": "Publiée", "flags": "Notes", "trend": "Tendance",
        "caption": "Légende",
        "as_of": "Classement au {when}", "not_started": "à venir", "running": "en cours", "closed": "terminé",
        "starts": "début {rel}", "closes": "clôture {rel}", "closed_since": "clôture {rel}",
        "last_poll": "Dernière relève réussie : {when}, {rel}", "no_poll": "Aucune relève réussie pour l'instant",
        "stale": "⚠ données périmées : aucune relève réussie depuis {age}",
        "gap": "⚠ trou de couverture{tag} : publications du {start} au {end} peut-être manquées ({length})",
        "more_gaps": " et {n} {other_w}",
        "token_expired": "⚠ le jeton d'accès a expiré : les relèves sont refusées; générez-en un nouveau (voir derby status)",
        "team_token_expired": "⚠ le jeton d'accès de l'équipe « {team} » ({env}) a expiré : son compte n'est pas relevé; "
                              "générez-en un nouveau (voir derby status)",
        "last_failed": "⚠ dernière relève : {status}", "failed": "échec", "partial": "partielle",
        "skipped": "sautée (pause imposée par la plateforme)", "interrupted": "interrompue",
        "busy": "⚠ base de données occupée : classement lu {rel}, nouvel essai dans {every} s",
        "unreadable": "⚠ lecture impossible ({error}) : classement lu {rel}",
        "db_missing": "base de données introuvable : vérifiez --db", "not_derby": "ce fichier n'est pas une base derby",
        "db_error": "base de données inutilisable : lancez la commande hors du tableau pour le détail",
        "counts": "{entries} {entries_w} · {eligible} {eligible_w} · {disqualified} {disqualified_w} · "
                  "J'aime masqués : {hidden_likes}",
        "hidden": "masqué", "new": "nouv.", "none": "Aucune participation classée pour l'instant.",
        "more": "… et {n} {other_w} (--top, ou --format csv pour tout voir)",
        "waiting": "En attente de la base de données…",
        "IMAGE": "photo", "VIDEO": "vidéo", "CAROUSEL_ALBUM": "carrousel", "REELS": "réel",
        "tied": "égalité", "observed_late": "tardive", "hidden_likes": "J'aime masqués",
        "likes_not_counted": "J'aime non comptés", "no_snapshot": "sans relevé", "capped": "plafonné",
        "no_timestamp": "sans date", "before_start": "avant le début", "after_end": "après la clôture",
        "no_caption": "sans légende", "missing_hashtag": "mot-clic absent", "disqualified": "disqualifiée",
        "missing_mention": "mention absente", "review": "à vérifier", "over_entrant_cap": "maximum atteint",
        "team": "Équipe", "account": "Compte", "followers": "Abonnés", "gained": "Gagnés", "posts": "Publications",
        "team_counts": "{teams} {teams_w} · {ranked} {ranked_w} · {posts} {posts_w} sur {posts_stored} · "
                       "{disqualified} {disqualified_w}",
        "no_team": "Aucune équipe classée pour l'instant.", "place": "Place", "value": "Valeur",
        "trophy": "Trophée « {name} » : {metric}",
        "followers_lost": "abonnés perdus", "no_post": "aucune publication", "no_reading": "compte non lu",
        "missing_like_count": "J'aime manquants", "over_daily_cap": "plafond quotidien",
        "neutral": "Participation n°\u00a0{rank}", "flag_burst": "⚑ rafale", "flag_ratio": "⚑ ratio J'aime/comm.",
        "flag_lockstep": "⚑ en phase",
    },
    "en": {
        "rank": "Rank", "move": "±", "entrant": "Entrant", "type": "Type", "likes": "Likes",
        "comments": "Comm.", "score": "Score", "posted": "Posted", "flags": "Flags", "trend": "Trend",
        "caption": "Caption",
        "as_of": "Leaderboard as of {when}", "not_started": "not started", "running": "running",
        "closed": "closed",
        "starts": "starts {rel}", "closes": "closes {rel}", "closed_since": "closed {rel}",
        "last_poll": "Last successful poll: {when}, {rel}", "no_poll": "No successful poll yet",
        "stale": "⚠ stale: no successful poll for {age}",
        "gap": "⚠ coverage gap{tag}: posts from {start} to {end} may be missing ({length})",
        "more_gaps": " and {n} more",
        "token_expired": "⚠ the access token has expired: polls are refused; generate a new one (see derby status)",
        "team_token_expired": "⚠ team “{team}”'s access token ({env}) has expired: its account is not read; "
                              "generate a new one (see derby status)",
        "last_failed": "⚠ last poll {status}", "failed": "failed", "partial": "partial",
        "skipped": "skipped (platform cool-down)", "interrupted": "interrupted",
        "busy": "⚠ database busy: board read {rel}, retrying in {every} s",
        "unreadable": "⚠ cannot read ({error}): board read {rel}",
        "db_missing": "database not found: check --db", "not_derby": "this file is not a derby database",
        "db_error": "database unusable: run the command outside the board for details",
        "counts": "{entries} {entries_w} · {eligible} eligible · {disqualified} disqualified · "
                  "hidden likes: {hidden_likes}",
        "hidden": "hidden", "new": "new", "none": "No ranked entry yet.",
        "more": "… and {n} more (--top, or --format csv to see them all)",
        "waiting": "Waiting for the database…",
        "IMAGE": "photo", "VIDEO": "video", "CAROUSEL_ALBUM": "carousel", "REELS": "reel",
        "tied": "tie", "observed_late": "late", "hidden_likes": "likes hidden",
        "likes_not_counted": "likes not counted", "no_snapshot": "no reading", "capped": "capped",
        "no_timestamp": "no date", "before_start": "before start", "after_end": "after close",
        "no_caption": "no caption", "missing_hashtag": "no hashtag", "disqualified": "disqualified",
        "missing_mention": "no mention", "review": "to review", "over_entrant_cap": "entrant cap",
        "team": "Team", "account": "Account", "followers": "Followers", "gained": "Gained", "posts": "Posts",
        "team_counts": "{teams} {teams_w} · {ranked} ranked · {posts} {posts_w} of {posts_stored} · "
                       "{disqualified} disqualified",
        "no_team": "No ranked team yet.", "place": "Place", "value": "Value",
        "trophy": "Trophy “{name}”: {metric}",
        "followers_lost": "followers lost", "no_post": "no post yet", "no_reading": "account not read",
        "missing_like_count": "likes missing", "over_daily_cap": "daily cap",
        "neutral": "Entry no. {rank}", "flag_burst": "⚑ burst", "flag_ratio": "⚑ like/comment ratio",
        "flag_lockstep": "⚑ lock-step",
    },
}

WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "fr": {"entries": ("participation", "participations"), "eligible": ("admissible", "admissibles"),
           "disqualified": ("disqualifiée", "disqualifiées"), "other": ("autre", "autres"),
           "teams": ("équipe", "équipes"), "ranked": ("classée", "classées"),
           "posts": ("publication comptée", "publications comptées")},
    "en": {"entries": ("entry", "entries"), "other": ("more", "more"), "teams": ("team", "teams"),
           "posts": ("post counted", "posts counted")},
}
"""Words of the board that agree with a count: (singular, plural) by language."""


def _word(count: int, key: str, lang: str) -> str:
    one, many = WORDS[lang][key]
    return word(count, one, many, lang)


FLAG_LABELS: dict[str, dict[str, str]] = {
    "fr": {"stale": "figé", "gone": "disparue", "unseen": "absente", "edited": "modifiée",
           "entrant_mismatch": "auteur·e différent·e",
           "refresh_off": "⚠ relevés {source} désactivés : permission manquante (voir derby status)"},
    "en": {"stale": "stale", "gone": "gone", "unseen": "unseen", "edited": "edited",
           "entrant_mismatch": "entrant mismatch",
           "refresh_off": "⚠ {source} refreshes off: a permission is missing (see derby status)"},
}
"""Labels of the engagement-freshness flags (see :mod:`derby.freshness`); their keys
would clash with the header's labels."""


def sparkline(values: list[float], width: int = TREND_WIDTH) -> str:
    """Return ``values`` (oldest first) as at most ``width`` block characters, scaled
    between their minimum and maximum; more values than ``width`` are sampled evenly,
    the last one always kept. A flat series is a row of the lowest block."""
    if not values:
        return ""
    if len(values) > width:
        values = [values[round(i * (len(values) - 1) / (width - 1))] for i in range(width)]
    low, high = min(values), max(values)
    if high == low:
        return SPARK[0] * len(values)
    return "".join(SPARK[round((v - low) / (high - low) * (len(SPARK) - 1))] for v in values)


def _line(text: str, width: int, style: str = "") -> Text:
    line = Text(text, style=style, no_wrap=True, overflow="ellipsis")
    line.truncate(width, overflow="ellipsis")
    return line


def header(view: BoardView, lang: str, width: int, *, busy: str | None = None, public: bool = False) -> list[Text]:
    """Return the header lines of the board, each cut to ``width`` cells. The
    ``public`` board (the venue screen) has only the title and the phase line: no
    polling health, warnings or counts."""
    labels = LABELS[lang]
    contest, now, health = view.board.contest, view.now, view.health
    tz = contest.tz
    lines = [_line(terminal_text(contest.title), width, "bold")]
    phase = contest.phase(now)
    when = {"not_started": ("starts", contest.start), "running": ("closes", contest.end),
            "closed": ("closed_since", contest.end)}[phase]
    lines.append(_line(f"{labels['as_of'].format(when=clock.format_local(now, tz, lang))} · {labels[phase]}, "
                       f"{labels[when[0]].format(rel=clock.format_relative(when[1], now, lang))}", width))
    if public:
        return lines
    if health.last_success is None:
        lines.append(_line(labels["no_poll"], width, "bold yellow"))
    else:
        lines.append(_line(labels["last_poll"].format(when=clock.format_local(health.last_success, tz, lang),
                                                      rel=clock.format_relative(health.last_success, now, lang)),
                           width))
    if health.stale and health.age is not None:
        lines.append(_line(labels["stale"].format(age=clock.format_duration(health.age, lang)), width, "bold red"))
    if health.last_status in ("failed", "partial", "skipped", "interrupted"):
        lines.append(_line(labels["last_failed"].format(status=labels[health.last_status]), width, "bold red"))
    if health.expired_team:
        team, env = health.expired_team
        lines.append(_line(labels["team_token_expired"].format(team=team, env=env), width, "bold red"))
    elif health.token_expired:
        lines.append(_line(labels["token_expired"], width, "bold red"))
    for notice in health.tokens:
        lines.append(_line("⚠ " + expiry.message(notice, lang, tz), width, "bold red" if notice.expired else "bold yellow"))
    if health.gaps:
        tag, start, end = health.gaps[-1]
        text = labels["gap"].format(tag=f" #{tag}" if tag else "", start=clock.format_short(start, tz, lang),
                                    end=clock.format_short(end, tz, lang), length=clock.format_duration(end - start, lang))
        if len(health.gaps) > 1:
            more = len(health.gaps) - 1
            text += labels["more_gaps"].format(n=more, other_w=_word(more, "other", lang))
        lines.append(_line(text, width, "bold yellow"))
    for source in view.refresh_off:
        lines.append(_line(FLAG_LABELS[lang]["refresh_off"].format(source=source), width, "bold yellow"))
    if busy:
        lines.append(_line(busy, width, "bold yellow"))
    counts = {k: number(v, lang) for k, v in view.counts.items()}
    words = {f"{k}_w": _word(v, k, lang) for k, v in view.counts.items() if k in WORDS[lang]}
    key = "team_counts" if "teams" in counts else "counts"
    lines.append(_line(labels[key].format(**counts, **words), width, "dim"))
    return lines


@dataclass(frozen=True)
class _Column:
    key: str
    priority: int  # lower is kept longer
    cell: Callable[[BoardRow], Text]
    justify: str = "left"


def _columns(view: BoardView, lang: str, public: bool = False) -> list[_Column]:
    labels = LABELS[lang]
    tz = view.board.contest.tz

    def move(row: BoardRow) -> Text:
        if row.entry.rank is None:
            return Text("")
        if row.movement is None:
            return Text(labels["new"], style="cyan")
        if row.movement > 0:
            return Text(f"▲{row.movement}", style="green")
        if row.movement < 0:
            return Text(f"▼{-row.movement}", style="red")
        return Text("=", style="dim")

    def entrant(row: BoardRow) -> Text:
        e = row.entry
        if public:  # a name or username where known, never an id
            known = terminal_text(e.display_name) if e.display_name else ("@" + terminal_text(e.username)
                                                                          if e.username else "")
            return _line(known or labels["neutral"].format(rank=e.rank), ENTRANT_WIDTH)
        name = terminal_text(e.username) if e.username else (shortcode(e.permalink) or e.media_id)
        return _line(("@" if e.username else "") + name, ENTRANT_WIDTH)

    def likes(row: BoardRow) -> Text:
        if row.entry.like_count is None:
            return Text(labels["hidden"] if row.entry.observed_at else "—", style="italic yellow")
        return Text(number(row.entry.like_count, lang))

    def flags(row: BoardRow) -> Text:
        words = [FLAG_LABELS[lang].get(f) or labels.get(f, f) for f in row.flags]
        words[:0] = [labels.get(f"flag_{kind}", f"⚑ {kind}") for kind in row.judge_flags]
        if row.entry.rank is None:
            words.insert(0, labels.get(row.entry.status, row.entry.status))
        return Text(", ".join(words), style="yellow" if row.entry.rank is None else "")

    def media_type(row: BoardRow) -> Text:
        kind = row.entry.media_type or ""
        return Text(labels[kind] if kind in MEDIA_TYPES else terminal_text(kind).lower())

    # With unranked rows, the flags column carries why they are not ranked: it goes last.
    flags_priority = 0.5 if any(r.entry.rank is None for r in view.rows) else 4
    columns = [
        _Column("rank", 0, lambda r: Text(str(r.entry.rank) if r.entry.rank else "—", style="bold"), "right"),
        *([_Column("team", 0, lambda r: _line(terminal_text(r.entry.display_name or ""), ENTRANT_WIDTH, "bold"))]
          if view.of_teams else []),
        _Column("account" if view.of_teams else "entrant", 0.5 if view.of_teams else 0, entrant),
        _Column("score", 0, lambda r: Text(number(r.entry.score, lang), style="bold"), "right"),
        _Column("move", 1, move, "right"),
        _Column("likes", 2, likes, "right"),
        _Column("comments", 3, lambda r: Text("—" if r.entry.comments_count is None
                                              else number(r.entry.comments_count, lang)), "right"),
        _Column("flags", flags_priority, flags),
        _Column("trend", 5, lambda r: Text(sparkline(r.trend), style="cyan")),
        _Column("posted", 6, lambda r: Text(clock.format_short(r.entry.timestamp, tz, lang))),
        _Column("type", 7, media_type),
    ]
    return [c for c in columns if c.key != "flags"] if public else columns


def _table(columns: list[_Column], rows: list[BoardRow], view: BoardView, lang: str,
           caption_width: int = 0) -> Table:
    labels = LABELS[lang]
    tz = view.board.contest.tz
    # The posts' own offsets (a contest may span a DST change); one offset goes in the title.
    offsets = {clock.format_offset(r.entry.timestamp.astimezone(tz)) for r in rows if r.entry.timestamp}
    posted = f"{labels['posted']} ({offsets.pop()})" if len(offsets) == 1 else labels["posted"]
    if len(offsets) > 1:
        columns = [_Column(c.key, c.priority, _with_offset(c.cell, rows, tz), c.justify) if c.key == "posted" else c
                   for c in columns]
    table = Table(box=box.ROUNDED, header_style="bold", expand=False, pad_edge=True)
    for column in columns:
        title = posted if column.key == "posted" else labels[column.key]
        table.add_column(title, justify=column.justify, no_wrap=True, overflow="ellipsis")  # type: ignore[arg-type]
    if caption_width:
        table.add_column(labels["caption"], no_wrap=True, overflow="ellipsis", max_width=caption_width)
    for row in rows:
        cells = [c.cell(row) for c in columns]
        if caption_width:
            cells.append(_line(terminal_text(row.entry.caption), caption_width, "dim"))
        table.add_row(*cells)
    return table


def _with_offset(cell: Callable[[BoardRow], Text], rows: list[BoardRow], tz) -> Callable[[BoardRow], Text]:
    def with_offset(row: BoardRow) -> Text:
        text = cell(row)
        if row.entry.timestamp:
            text.append(f" ({clock.format_offset(row.entry.timestamp.astimezone(tz))})")
        return text
    return with_offset


def _width_of(console: Console, table: Table) -> int:
    return Measurement.get(console, console.options.update_width(10_000), table).maximum


def fit_table(view: BoardView, rows: list[BoardRow], lang: str, console: Console, width: int,
              public: bool = False) -> Table:
    """Return the table of ``rows`` at most ``width`` cells wide: columns dropped by
    priority (type, posted at, trend, flags, comments, likes, movement) until it fits,
    then a caption column in the room left (at least 12 cells), cut with an ellipsis."""
    columns = _columns(view, lang, public)
    while True:
        table = _table(columns, rows, view, lang)
        used = _width_of(console, table)
        droppable = [c for c in columns if c.priority > 0]
        if used <= width or not droppable:
            break
        columns.remove(max(droppable, key=lambda c: c.priority))
    room = min(width - used - 3, CAPTION_MAX)  # a column costs its width, 2 of padding and 1 rule
    if room >= CAPTION_MIN:
        table = _table(columns, rows, view, lang, caption_width=room)
    return table


def render(view: BoardView, lang: str, console: Console, *, width: int | None = None, height: int | None = None,
           busy: str | None = None, public: bool = False) -> RenderableType:
    """Return the whole board as one renderable, ``width`` cells wide at most (default:
    the console's) and, when ``height`` is given, never more lines than that: rows that
    do not fit are counted in a last line. The ``public`` board shows no operational
    warning, no flag and no id: entrants by name or username, else a neutral label."""
    width = width or console.width
    if isinstance(view, TeamBoardView):
        return render_teams(view, lang, console, width=width, height=height, busy=busy)
    lines = header(view, lang, width, busy=None if public else busy, public=public)
    labels = LABELS[lang]
    if not view.rows:
        return Group(*lines, Text(""), _line(labels["none"], width))
    rows = view.rows
    hidden = view.total_rows - len(rows)
    if height is not None:
        room = height - len(lines) - TABLE_OVERHEAD
        if room < len(rows) or hidden:
            room -= 1  # the "… and n more" line
        room = max(room, 1)
        hidden += max(len(rows) - room, 0)
        rows = rows[:room]
    parts: list[RenderableType] = [*lines, fit_table(view, rows, lang, console, width, public)]
    if hidden > 0 and not public:
        parts.append(_line(labels["more"].format(n=number(hidden, lang), other_w=_word(hidden, "other", lang)), width, "dim"))
    return Group(*parts)


def picture(view: BoardView, lang: str, kind: str, *, width: int = 132, public: bool = False) -> str:
    """Return the board as an SVG (``kind`` ``svg``) or HTML (``html``, ``htm``)
    document, ``width`` columns wide. Raises ConfigError for another kind."""
    if kind not in ("svg", "html", "htm"):
        raise ConfigError(f"--save: give a file ending in .svg or .html (not .{kind})" if kind else
                          "--save: give a file ending in .svg or .html")
    import io

    console = Console(record=True, width=width, file=io.StringIO(), force_terminal=True, color_system="truecolor",
                      legacy_windows=False)
    console.print(render(view, lang, console, public=public))
    if kind == "svg":
        return console.export_svg(title=terminal_text(view.board.contest.title))
    return console.export_html()


class LiveBoard:
    """Build one frame of the live board each time it is called.

    ``read`` returns a fresh :class:`BoardView` for at most ``rows`` rows (it opens the
    database read-only, so the poller is never blocked). When the database is busy or
    unreadable, the last good board stays on screen under a warning saying when it was
    read; before any good read a waiting line is shown. ``now`` gives the wall time
    (aware UTC) used for that warning.
    """

    def __init__(self, read: Callable[[int | None], BoardView], console: Console, lang: str | None, every: float,
                 now: Callable[[], datetime] = clock.utcnow, public: bool = False) -> None:
        self.read, self.console, self.lang, self.every, self.now = read, console, lang, every, now
        self.public = public
        self.last: BoardView | None = None
        self.read_at: datetime | None = None

    def __call__(self) -> RenderableType:
        height = self.console.height if self.console.is_terminal else None
        busy = None
        try:
            self.last = self.read(height)
            self.read_at = self.now()
        except (sqlite3.DatabaseError, DerbyError) as exc:
            lang = self.lang or (self.last.board.contest.language if self.last else "fr")
            labels = LABELS[lang]
            when = clock.format_relative(self.read_at, self.now(), lang) if self.read_at else "—"
            if isinstance(exc, sqlite3.OperationalError) and "lock" in str(exc).lower():
                busy = labels["busy"].format(rel=when, every=number(self.every, lang))
            else:
                busy = labels["unreadable"].format(error=_why_unreadable(exc, labels), rel=when)
            if self.last is None:
                if self.public:
                    return Group(Text(labels["waiting"]))
                return Group(Text(labels["waiting"]), _line(busy, self.console.width, "bold yellow"))
        lang = self.lang or self.last.board.contest.language
        return render(self.last, lang, self.console, height=height, busy=busy, public=self.public)


def _why_unreadable(exc: Exception, labels: dict[str, str]) -> str:
    """Why the database could not be read, in the board's language: derby's own
    reasons are translated; SQLite's text is quoted as it came."""
    if isinstance(exc, DatabaseMissing):
        return labels["db_missing"]
    if isinstance(exc, NotADerbyDatabase):
        return labels["not_derby"]
    if isinstance(exc, sqlite3.DatabaseError):
        return f"SQLite : « {terminal_text(str(exc))[:80]} »" if labels is LABELS["fr"] else \
            f"SQLite: “{terminal_text(str(exc))[:80]}”"
    return labels["db_error"]


def run_live(console: Console, frame: Callable[[], RenderableType], every: float, *,
             stop: threading.Event | None = None, frames: int | None = None) -> int:
    """Show ``frame()`` in a rich Live view, rebuilt every ``every`` seconds, until
    ``stop`` is set, ``frames`` frames were shown, or Ctrl-C, SIGTERM or SIGHUP (each
    ends it cleanly, the terminal restored: cursor shown again). Returns the number of
    frames shown.

    On a console that is not a terminal one frame is printed, plain, and it returns.
    """
    if not console.is_terminal:
        console.print(frame())
        return 1
    from rich.live import Live

    stop = stop or threading.Event()
    shown = 0
    previous = _interrupt_on_signals()
    try:
        with Live(console=console, auto_refresh=False, screen=False, transient=False,
                  vertical_overflow="crop") as live:
            live.update(frame(), refresh=True)
            shown = 1
            while (frames is None or shown < frames) and not stop.wait(every):
                live.update(frame(), refresh=True)
                shown += 1
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return shown


# -- the team board -------------------------------------------------------------------------

TEAM_WIDTH = 28


def _movement(rank: int | None, movement: int | None, labels: dict[str, str]) -> Text:
    if rank is None:
        return Text("")
    if movement is None:
        return Text(labels["new"], style="cyan")
    if movement > 0:
        return Text(f"▲{movement}", style="bold green")
    if movement < 0:
        return Text(f"▼{-movement}", style="bold red")
    return Text("=", style="dim")


def _team_columns(view: TeamBoardView, lang: str) -> list[tuple[str, int, Callable[[TeamRow], Text], str]]:
    labels = LABELS[lang]

    def gained(row: TeamRow) -> Text:
        value = row.team.followers_gained
        return Text(("+" if value > 0 else "") + number(value, lang), style="bold green" if value > 0 else
                    ("bold red" if value < 0 else ""))

    def flags(row: TeamRow) -> Text:
        words = [labels.get(f, f) for f in row.team.flags]
        if row.team.rank is None:
            words.insert(0, labels.get(row.team.status, row.team.status))
        return Text(", ".join(words), style="yellow")

    def followers(row: TeamRow) -> Text:
        count = row.team.followers_count
        return Text("—" if count is None else number(count, lang))

    place = (lambda r: Text(str(r.place) if r.place else "—", style="bold")) if view.trophy else \
        (lambda r: Text(str(r.team.rank) if r.team.rank else "—", style="bold"))
    columns = [
        ("place" if view.trophy else "rank", 0, place, "right"),
        ("team", 0, lambda r: _line(terminal_text(r.team.name), TEAM_WIDTH, "bold"), "left"),
        ("score", 0, lambda r: Text(number(r.team.score, lang), style="bold"), "right"),
        ("move", 1, lambda r: _movement(r.team.rank, r.movement, labels), "right"),
        ("account", 3, lambda r: _line("@" + terminal_text(r.team.username) if r.team.username else "—",
                                        ENTRANT_WIDTH), "left"),
        ("followers", 2, followers, "right"),
        ("gained", 1, gained, "right"),
        ("trend", 4, lambda r: Text(sparkline([float(v) for v in r.trend]), style="cyan"), "left"),
        ("posts", 2, lambda r: Text(number(len(r.team.counted), lang)), "right"),
        ("likes", 2, lambda r: Text(number(r.team.likes, lang)), "right"),
        ("comments", 3, lambda r: Text(number(r.team.comments, lang)), "right"),
        ("flags", 2.5, flags, "left"),
    ]
    if view.trophy:
        columns.insert(3, ("value", 0, lambda r: Text("—" if r.value is None else number(r.value, lang),
                                                      style="bold magenta"), "right"))
    return columns


def _team_table(columns, rows: list[TeamRow], lang: str) -> Table:
    labels = LABELS[lang]
    # heavy borders, padding and bold figures: it is read from across a room
    table = Table(box=box.HEAVY_HEAD, header_style="bold reverse", expand=False, pad_edge=True, padding=(0, 1),
                  row_styles=["", "on grey11"])
    for key, _, _, justify in columns:
        table.add_column(labels[key], justify=justify, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(*[cell(row) for _, _, cell, _ in columns],
                      style="bold yellow" if row.team.rank == 1 and not row.place else None)
    return table


def render_teams(view: TeamBoardView, lang: str, console: Console, *, width: int | None = None,
                 height: int | None = None, busy: str | None = None) -> RenderableType:
    """Return the team board: the header, then rank (or the trophy's place and value),
    movement, team, @username, followers with those gained and their trend, posts,
    likes, comments and score, columns dropped by priority to fit ``width`` and rows
    cut to ``height`` (when given)."""
    width = width or console.width
    labels = LABELS[lang]
    lines = header(view, lang, width, busy=busy)  # type: ignore[arg-type]
    if view.trophy is not None:
        lines.append(_line(labels["trophy"].format(name=terminal_text(view.trophy.name),
                                                    metric=metric_description(view.trophy.metric, lang)),
                           width, "bold magenta"))
    if not view.rows:
        return Group(*lines, Text(""), _line(labels["no_team"], width))
    rows, hidden = view.rows, view.total_rows - len(view.rows)
    if height is not None:
        room = max(height - len(lines) - TABLE_OVERHEAD - (1 if hidden or len(rows) > height else 0), 1)
        hidden += max(len(rows) - room, 0)
        rows = rows[:room]
    columns = _team_columns(view, lang)
    while True:
        table = _team_table(columns, rows, lang)
        droppable = [c for c in columns if c[1] > 0]
        if _width_of(console, table) <= width or not droppable:
            break
        columns.remove(max(droppable, key=lambda c: c[1]))
    parts: list[RenderableType] = [*lines, table]
    if hidden > 0:
        parts.append(_line(labels["more"].format(n=number(hidden, lang), other_w=_word(hidden, "other", lang)), width, "dim"))
    return Group(*parts)


def _interrupt_on_signals() -> dict:
    """Make SIGTERM and SIGHUP end the live view as Ctrl-C does (so rich restores the
    terminal), when called from the main thread; returns the handlers replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
        raise KeyboardInterrupt

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, interrupt)
    return previous
