"""The board: header states, movement, trend, fitting, languages, live refresh and
hostile text, drawn on fixed-size consoles."""

from __future__ import annotations

import io
import sqlite3
import threading
from datetime import timedelta

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from derby import board as drawing
from derby import leaderboard, store
from derby.text import terminal_text

from helpers import contest, media, page, utc

START = utc(2017, 4, 1, 4)  # 1 April 2017, 0 h 00 in Québec (UTC−4)
END = utc(2017, 4, 10, 3, 59, 59)


def poll(db, when, *items, status="ok", took=timedelta(0)):
    """Store one poll run started at ``when`` holding ``items`` (one page of
    #socialderby), finished ``took`` later."""
    run_id = store.start_poll_run(db, "fixture", when)
    if items:
        store.save_page(db, run_id, "socialderby", "recent_media", page(*items), when)
    store.finish_poll_run(db, run_id, when + took, status=status, requests=1)
    return run_id


@pytest.fixture
def db(tmp_path):
    database = store.open_db(tmp_path / "b.db")
    store.save_contest(database, contest(), START)
    yield database
    database.close()


def draw(view, lang="fr", width=120, height=None):
    console = Console(file=io.StringIO(), width=width, height=height or 25, force_terminal=False, color_system=None)
    console.print(drawing.render(view, lang, console, height=height))
    return console.file.getvalue()


def lines_of(view, lang="fr", width=120, height=None):
    return draw(view, lang, width, height).splitlines()


def body(lines):
    """The table's rows, without its header row."""
    return [line for line in lines if line.startswith("│")][1:]


def column(lines, index):
    return [line.split("│")[index].strip() for line in body(lines)]


# -- header states ---------------------------------------------------------------------

def test_header_before_any_poll_and_before_the_start(db):
    view = leaderboard.board_view(db, utc(2017, 3, 30, 4))
    assert lines_of(view) == [
        "Test Derby",
        "Classement au 30 mars 2017, 0 h 00 (UTC−4) · à venir, début dans 2 j",
        "Aucune relève réussie pour l'instant",
        "0 participation · 0 admissible · 0 disqualifiée · J'aime masqués : 0",
        "",
        "Aucune participation classée pour l'instant.",
    ]
    assert lines_of(view, "en")[1:4] == [
        "Leaderboard as of 2017-03-30 00:00 (UTC−4) · not started, starts in 2 d",
        "No successful poll yet",
        "0 entries · 0 eligible · 0 disqualified · hidden likes: 0",
    ]


def test_header_running_and_fresh(db):
    for hour in (12, 13):
        poll(db, utc(2017, 4, 1, hour), media("1"), media("2", like_count=None))
    view = leaderboard.board_view(db, utc(2017, 4, 1, 13, 5))
    assert lines_of(view)[:4] == [
        "Test Derby",
        "Classement au 1 avril 2017, 9 h 05 (UTC−4) · en cours, clôture dans 8 j 14 h",
        "Dernière relève réussie : 1 avril 2017, 9 h 00 (UTC−4), il y a 5 min",
        "2 participations · 2 admissibles · 0 disqualifiée · J'aime masqués : 1",
    ]
    assert lines_of(view, "en")[1:3] == [
        "Leaderboard as of 2017-04-01 09:05 (UTC−4) · running, closes in 8 d 14 h",
        "Last successful poll: 2017-04-01 09:00 (UTC−4), 5 min ago",
    ]
    assert not view.health.stale and view.health.gaps == []


def test_header_warns_when_stale(db):
    for minute in (0, 30):
        poll(db, utc(2017, 4, 1, 12, minute), media("1"))
    assert leaderboard.board_view(db, utc(2017, 4, 1, 13, 30)).health.stale is False  # 1 h = twice the interval
    view = leaderboard.board_view(db, utc(2017, 4, 1, 14, 45))
    assert view.health.stale_after == timedelta(hours=1)
    assert lines_of(view)[3] == "⚠ données périmées : aucune relève réussie depuis 2 h 15"
    assert lines_of(view, "en")[3] == "⚠ stale: no successful poll for 2 h 15"


def test_header_warns_of_a_failed_last_poll(db):
    poll(db, utc(2017, 4, 1, 12), media("1"))
    poll(db, utc(2017, 4, 1, 12, 30), status="failed")
    view = leaderboard.board_view(db, utc(2017, 4, 1, 12, 31))
    assert lines_of(view)[3] == "⚠ dernière relève : échec"
    assert lines_of(view, "en")[3] == "⚠ last poll failed"
    poll(db, utc(2017, 4, 1, 12, 35), status="skipped")
    view = leaderboard.board_view(db, utc(2017, 4, 1, 12, 36))
    assert lines_of(view)[3] == "⚠ dernière relève : sautée (pause imposée par la plateforme)"


def test_header_warns_of_coverage_gaps(db):
    poll(db, utc(2017, 4, 1, 10), media("1"))
    poll(db, utc(2017, 4, 3, 10), media("1"))
    view = leaderboard.board_view(db, utc(2017, 4, 3, 11))
    # the read at 3 April 10 h reaches back to 2 April 10 h: posts of the day before may be lost
    assert view.health.gaps == [(None, utc(2017, 4, 1, 10), utc(2017, 4, 2, 10))]
    assert lines_of(view)[3] == ("⚠ trou de couverture : publications du 1 avr. 6 h 00 au 2 avr. 6 h 00 "
                                 "peut-être manquées (1 j)")
    assert lines_of(view, "en")[3] == "⚠ coverage gap: posts from Apr 1 06:00 to Apr 2 06:00 may be missing (1 j)".replace(
        "(1 j)", "(1 d)")
    # a gap still open counts too (no poll for more than 24 h), and the older one is mentioned
    later = leaderboard.board_view(db, utc(2017, 4, 5, 10))
    assert later.health.gaps == [(None, utc(2017, 4, 1, 10), utc(2017, 4, 2, 10)),
                                 (None, utc(2017, 4, 3, 10), utc(2017, 4, 4, 10))]
    assert not later.health.stale  # polls 2 days apart: stale after 4
    assert lines_of(later, "en")[3] == ("⚠ coverage gap: posts from Apr 3 06:00 to Apr 4 06:00 may be missing "
                                        "(1 d) and 1 more")


def test_coverage_gaps_recorded_by_the_daemon_are_shown_per_hashtag(db):
    for day in (1, 2):
        run_id = poll(db, utc(2017, 4, day, 10), media("1"))
        for tag in ("socialderby", "snq17"):
            if (day, tag) != (2, "snq17"):  # the second poll could not read #snq17 in full
                store.record_coverage(db, run_id, tag, utc(2017, 4, day, 10), (START, END))
    run_id = poll(db, utc(2017, 4, 3, 16), media("1"))
    for tag in ("socialderby", "snq17"):
        store.record_coverage(db, run_id, tag, utc(2017, 4, 3, 16), (START, END))
    view = leaderboard.board_view(db, utc(2017, 4, 3, 17))
    assert view.health.gaps == [("snq17", utc(2017, 4, 1, 10), utc(2017, 4, 2, 16)),
                                ("socialderby", utc(2017, 4, 2, 10), utc(2017, 4, 2, 16))]
    assert lines_of(view, "en")[3] == ("⚠ coverage gap #socialderby: posts from Apr 2 06:00 to Apr 2 12:00 may be "
                                       "missing (6 h 00) and 1 more")
    # as of before the third poll, both gaps are still open: they run to 24 h before then
    assert leaderboard.board_view(db, utc(2017, 4, 3, 15), as_of=utc(2017, 4, 3, 15)).health.gaps == [
        ("snq17", utc(2017, 4, 1, 10), utc(2017, 4, 2, 15)), ("socialderby", utc(2017, 4, 2, 10), utc(2017, 4, 2, 15))]
    assert leaderboard.board_view(db, utc(2017, 4, 2, 11), as_of=utc(2017, 4, 2, 11)).health.gaps == [
        ("snq17", utc(2017, 4, 1, 10), utc(2017, 4, 1, 11))]


def test_header_after_the_close_with_a_final_poll_is_not_stale(db):
    for day in range(1, 10):
        poll(db, utc(2017, 4, day, 20), media("1"))
    poll(db, utc(2017, 4, 10, 20), media("1", like_count=12))
    view = leaderboard.board_view(db, utc(2017, 4, 20, 12))
    assert view.health.stale is False and view.health.gaps == []
    assert lines_of(view)[1:4] == [
        "Classement au 20 avril 2017, 8 h 00 (UTC−4) · terminé, clôture il y a 10 j 8 h",
        "Dernière relève réussie : 10 avril 2017, 16 h 00 (UTC−4), il y a 9 j 16 h",
        "1 participation · 1 admissible · 0 disqualifiée · J'aime masqués : 0",
    ]


def test_counts_and_flags(db):
    poll(db, utc(2017, 4, 3, 12), media("1", like_count=None, comments_count=4), media("2", like_count=9, comments_count=1),
         media("3", like_count=9, comments_count=0, caption="pas de mot-clic"),
         media("4", like_count=3, comments_count=1, timestamp=utc(2017, 4, 3, 11)))
    poll(db, utc(2017, 4, 10, 12), media("5", timestamp=utc(2017, 4, 9, 23)))  # in time, found after the close
    view = leaderboard.board_view(db, utc(2017, 4, 10, 13), show_all=True)
    assert view.counts == {"entries": 5, "eligible": 4, "disqualified": 0, "hidden_likes": 1}
    assert {r.entry.media_id: r.flags for r in view.rows} == {
        # 1 to 4 were last read on the 3rd, over 24 hours before engagement stopped counting
        "5": ["observed_late"], "1": ["hidden_likes", "tied", "stale"], "2": ["tied", "stale"], "4": ["stale"],
        "3": []}
    store.moderate(db, "4", "disqualify", "compte en double", "Hélène", utc(2017, 4, 10, 12, 30))
    judged = leaderboard.board_view(db, utc(2017, 4, 10, 13), show_all=True)
    assert judged.counts == {"entries": 5, "eligible": 3, "disqualified": 1, "hidden_likes": 1}
    assert lines_of(judged)[4] == "5 participations · 3 admissibles · 1 disqualifiée · J'aime masqués : 1"
    assert column(lines_of(judged), 7)[-2:] == ["mot-clic absent", "disqualifiée"]  # unranked: by media id
    table = lines_of(view, "en", width=160)
    row = next(line for line in table if "C1" in line)
    assert "hidden" in row and "likes hidden, tie" in row
    assert "no hashtag" in next(line for line in table if "C3" in line)


# -- movement and trend -----------------------------------------------------------------

def test_movement_since_the_previous_successful_poll(db):
    poll(db, utc(2017, 4, 2, 12), media("a", like_count=50, comments_count=0), media("b", like_count=20, comments_count=0),
         media("c", like_count=10, comments_count=0), took=timedelta(minutes=4))  # a poll takes time
    poll(db, utc(2017, 4, 2, 18), status="failed")  # failed polls are not "the previous poll"
    poll(db, utc(2017, 4, 3, 0), media("a", like_count=55, comments_count=0), media("b", like_count=80, comments_count=0),
         media("c", like_count=10, comments_count=0), media("d", like_count=30, comments_count=0),
         took=timedelta(minutes=4))
    view = leaderboard.board_view(db, utc(2017, 4, 3, 1))
    assert view.previous_poll == utc(2017, 4, 2, 12)
    assert [(r.entry.media_id, r.entry.rank, r.movement) for r in view.rows] == [
        ("b", 1, 1), ("a", 2, -1), ("d", 3, None), ("c", 4, -1)]
    assert column(lines_of(view), 4) == ["▲1", "▼1", "nouv.", "▼1"]
    assert column(lines_of(view, "en"), 4) == ["▲1", "▼1", "new", "▼1"]
    # as of the first poll, everything is new; as of between polls, compared with the one before
    first = leaderboard.board_view(db, utc(2017, 4, 2, 13), as_of=utc(2017, 4, 2, 13))
    assert [r.movement for r in first.rows] == [None, None, None]
    # a poll still running at the as-of time is not seen yet: neither its standings nor its snapshots
    running = leaderboard.board_view(db, utc(2017, 4, 3, 0, 2), as_of=utc(2017, 4, 3, 0, 2))
    assert [(r.entry.media_id, r.movement, r.trend) for r in running.rows] == [
        ("a", None, [50.0]), ("b", None, [20.0]), ("c", None, [10.0])]


def test_unchanged_rank_shows_equal(db):
    poll(db, utc(2017, 4, 2, 12), media("a", like_count=5), media("b", like_count=1))
    poll(db, utc(2017, 4, 2, 13), media("a", like_count=6), media("b", like_count=2))
    view = leaderboard.board_view(db, utc(2017, 4, 2, 14))
    assert [r.movement for r in view.rows] == [0, 0]
    assert column(lines_of(view), 4) == ["=", "="]


def test_trend_from_snapshots(db):
    for hour, likes, comments in ((10, 3, 0), (11, 3, 0), (12, 10, 1), (13, 20, 4), (14, 50, 5)):
        poll(db, utc(2017, 4, 2, hour), media("a", like_count=likes, comments_count=comments))
    view = leaderboard.board_view(db, utc(2017, 4, 2, 15))
    # the unchanged reading at 11 h writes no snapshot: 3, 13, 32, 65
    assert view.rows[0].trend == [3.0, 13.0, 32.0, 65.0]
    assert drawing.sparkline(view.rows[0].trend) == "▁▂▄█"
    assert "▁▂▄█" in draw(view)
    as_of = leaderboard.board_view(db, utc(2017, 4, 2, 12, 30), as_of=utc(2017, 4, 2, 12, 30))
    assert as_of.rows[0].trend == [3.0, 13.0]


def test_sparkline_shapes():
    assert drawing.sparkline([]) == ""
    assert drawing.sparkline([4, 4, 4]) == "▁▁▁"
    assert drawing.sparkline([0, 7]) == "▁█"
    assert drawing.sparkline(list(range(15))) == "▁▂▃▄▅▆▇█"  # sampled to 8, the last kept
    assert drawing.sparkline([10, 0, 10], width=8) == "█▁█"


def test_numbers_in_each_language():
    assert drawing.number(1234, "fr") == "1\u202f234" and drawing.number(1234, "en") == "1,234"
    assert drawing.number(2.5, "fr") == "2,5" and drawing.number(2.5, "en") == "2.5"
    assert drawing.number(12.0, "fr") == "12"


# -- fitting the terminal ----------------------------------------------------------------

@pytest.fixture
def crowded(db):
    long = "Une très longue légende qui raconte toute la journée au Vieux-Québec #socialderby " * 3
    for hour in (10, 11):
        poll(db, utc(2017, 4, 1, hour), *[media(str(i), like_count=i * hour, comments_count=i, caption=long,
                                                media_type="CAROUSEL_ALBUM") for i in range(1, 41)])
    return db


@pytest.mark.parametrize("width,height", [(40, 12), (60, 15), (80, 24), (100, 30), (132, 40), (200, 60)])
def test_fits_the_console(crowded, width, height):
    view = leaderboard.board_view(crowded, utc(2017, 4, 1, 12), limit=height)
    lines = lines_of(view, width=width, height=height)
    assert len(lines) <= height
    assert all(cell_len(line) <= width for line in lines)
    rows = body(lines)
    room = height - 4 - 4  # header lines, table frame
    if room >= 40:
        assert len(rows) == 40 and lines[-1].startswith("╰")
    else:
        assert len(rows) == room - 1 and lines[-1].startswith(f"… et {40 - len(rows)} autres")
    table = [line for line in lines if line[:1] in "╭│├╰"]
    assert len({cell_len(line) for line in table}) == 1  # straight right border


def test_columns_dropped_by_priority(crowded):
    view = leaderboard.board_view(crowded, utc(2017, 4, 1, 12), top=3)

    def headers(width):
        head = next(line for line in lines_of(view, "en", width) if "Rank" in line)
        return [cell.strip() for cell in head.strip("│").split("│")]

    assert headers(200) == ["Rank", "Entrant", "Score", "±", "Likes", "Comm.", "Flags", "Trend", "Posted (UTC−4)",
                            "Type", "Caption"]
    assert headers(100) == ["Rank", "Entrant", "Score", "±", "Likes", "Comm.", "Flags", "Trend", "Posted (UTC−4)",
                            "Type"]
    assert headers(80) == ["Rank", "Entrant", "Score", "±", "Likes", "Comm.", "Flags", "Trend", "Posted (UTC−4)"]
    assert headers(60) == ["Rank", "Entrant", "Score", "±", "Likes", "Comm.", "Flags"]
    assert headers(40) == ["Rank", "Entrant", "Score", "±", "Likes"]
    assert headers(30) == ["Rank", "Entrant", "Score", "±"]
    caption = body(lines_of(view, "en", 200))[0].split("│")[-2]
    assert caption.rstrip().endswith("…") and cell_len(caption) == drawing.CAPTION_MAX + 2


def test_without_height_every_selected_row_is_drawn(crowded):
    view = leaderboard.board_view(crowded, utc(2017, 4, 1, 12))
    assert len(body(lines_of(view))) == 40


# -- saving pictures ---------------------------------------------------------------------

def test_picture_svg_and_html(crowded):
    view = leaderboard.board_view(crowded, utc(2017, 4, 1, 12), top=5)
    text = drawing.picture(view, "fr", "svg")
    assert text.startswith("<svg") and "Test&#160;Derby" in text and "Pointage" in text
    html = drawing.picture(view, "en", "html")
    assert "<!DOCTYPE html>" in html and "Score" in html
    from derby.errors import DerbyError

    with pytest.raises(DerbyError, match="ending in .svg or .html"):
        drawing.picture(view, "fr", "png")


# -- hostile text ------------------------------------------------------------------------

HOSTILE = {
    "markup": "[bold red]GAGNANT[/bold red] [link=https://evil.example]clic[/link] #socialderby",
    "ansi": "\x1b[31m\x1b[2Jrouge\x1b[0m\x1b]8;;https://evil.example\x07lien\x1b]8;;\x07 #socialderby",
    "control": "a\x00b\x07c\x08d\x7fe\x9bf\rg\nh\ti #socialderby",
    "bidi_override": "\u202eredro\u202c \u202aLRE\u202c \u202bRLE\u202c \u202dLRO\u202c #socialderby",
    "bidi_isolate": "\u2066LRI\u2069 \u2067RLI\u2069 \u2068FSI\u2069 #socialderby",
    "zero_width": "in\u200bvis\u200cible\ufeff\u2060 #socialderby",
    "emoji_zwj_skin": "👨‍👩‍👧‍👦 famille 👍🏽👋🏿 ❤️ 🏳️‍🌈 #socialderby",
    "cjk": "漢字とかなの混じった文章です、とても長いキャプション #socialderby",
    "rtl": "مرحبا بالعالم שלום עולם #socialderby",
}
FORBIDDEN = {0x1B, 0x07, 0x00, 0x08, 0x7F, 0x9B, 0x200B, 0x200C, 0x200D, 0xFEFF, 0x2060, 0xFE0F,
             *range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0x1F3FB, 0x1F400)}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_text_stays_text(db, tmp_path, case):
    hostile = HOSTILE[case]
    views = []
    for database, caption in ((db, hostile), (store.open_db(tmp_path / "calm.db"), "Bonjour #socialderby")):
        store.save_contest(database, contest(), START)
        poll(database, utc(2017, 4, 2, 12), media("1", like_count=40, caption=caption),
             media("2", like_count=30), media("3", like_count=20, caption="Bonjour #socialderby"))
        views.append(leaderboard.board_view(database, utc(2017, 4, 2, 13)))
    view, calm = views
    view.rows[1].entry.username = hostile  # usernames come from an entrant list: just as hostile
    calm.rows[1].entry.username = "calme"
    for console_kwargs in ({"force_terminal": False, "color_system": None},
                           {"force_terminal": True, "color_system": "truecolor"}):
        console = Console(file=io.StringIO(), width=160, height=40, **console_kwargs)
        console.print(drawing.render(view, "fr", console))
        out = console.file.getvalue()
        if console_kwargs["force_terminal"]:  # rich's own styles only: SGR sequences, no cursor moves or links
            assert "\x1b[2J" not in out and "\x1b]8" not in out and "evil" not in out.replace("evil.example]", "")
        else:
            assert not {ord(ch) for ch in out} & FORBIDDEN, case
    plain, baseline = lines_of(view, width=160), lines_of(calm, width=160)
    table = [line for line in plain if line[:1] in "╭│├╰"]
    assert len({cell_len(line) for line in table}) == 1, case  # the right border never moves
    assert len(table) == len([line for line in baseline if line[:1] in "╭│├╰"])  # nothing wrapped to a new line
    separators = [[i for i, ch in enumerate(Text(line).plain) if ch == "│"] for line in table if line[:1] == "│"]
    assert len({len(s) for s in separators}) == 1, case  # no cell swallowed or added a border
    for row, calm_row in zip(body(plain), body(baseline)):
        cells, calm_cells = row.split("│"), calm_row.split("│")
        # every cell but the entrant and the caption reads as without the hostile text
        assert [c for i, c in enumerate(cells) if i not in (2, 11)] == \
               [c for i, c in enumerate(calm_cells) if i not in (2, 11)], case
    assert plain[:4] == baseline[:4]
    if case == "markup":
        assert "[bold red]GAGNANT[/bold red]" in "\n".join(plain)
    if case == "cjk":
        assert "漢字とかなの混じった" in "\n".join(plain)
    if case == "rtl":
        assert "مرحبا بالعالم" in "\n".join(plain)


def test_terminal_text_cases():
    assert terminal_text(HOSTILE["ansi"]) == "rougelien #socialderby"
    assert terminal_text(HOSTILE["control"]) == "abcdef g h i #socialderby"
    assert terminal_text(HOSTILE["bidi_override"]) == "redro LRE RLE LRO #socialderby"
    assert terminal_text(HOSTILE["bidi_isolate"]) == "LRI RLI FSI #socialderby"
    assert terminal_text(HOSTILE["zero_width"]) == "invisible #socialderby"
    assert terminal_text(HOSTILE["emoji_zwj_skin"]) == "👨👩👧👦 famille 👍👋 ❤ 🏳🌈 #socialderby"
    assert terminal_text("Z\u0301\u0302\u0303\u0304a") == "Z\u0301\u0302a"
    assert terminal_text(HOSTILE["rtl"]) == HOSTILE["rtl"]
    assert terminal_text(None) == ""


def test_hostile_contest_title_is_text(db):
    hostile = contest(title="[red]Derby[/red] \x1b[5m\u202e!")
    store.save_contest(db, hostile, START)
    view = leaderboard.board_view(db, utc(2017, 4, 2, 13))
    assert lines_of(view)[0] == "[red]Derby[/red] !"


# -- live ---------------------------------------------------------------------------------

def _tty(width=100, height=20):
    return Console(file=io.StringIO(), width=width, height=height, force_terminal=True, color_system="truecolor")


def test_live_refreshes_and_keeps_the_board_while_the_database_is_busy(db):
    poll(db, utc(2017, 4, 2, 12), media("1"))
    console = _tty()
    calls = {"n": 0}

    def read(rows):
        calls["n"] += 1
        if calls["n"] == 2:
            raise sqlite3.OperationalError("database is locked")
        return leaderboard.board_view(db, utc(2017, 4, 2, 12, 1), limit=rows)

    live = drawing.LiveBoard(read, console, "fr", 10, now=lambda: utc(2017, 4, 2, 12, 0, 30))
    shown = drawing.run_live(console, live, 0, frames=3)
    assert shown == 3 and calls["n"] == 3
    out = console.file.getvalue()
    assert out.count("Test Derby") >= 3
    assert "⚠ base de données occupée : classement lu à l'instant, nouvel essai dans 10 s" in out


def test_live_waits_when_the_first_read_fails(db):
    console = Console(file=io.StringIO(), width=100, height=20, color_system=None)

    def read(rows):
        raise sqlite3.OperationalError("database is locked")

    frame = drawing.LiveBoard(read, console, "en", 5)
    console.print(frame())
    assert console.file.getvalue().splitlines() == ["Waiting for the database…",
                                                    "⚠ database busy: board read —, retrying in 5 s"]


def test_live_height_limits_rows(crowded):
    console = _tty(width=100, height=14)
    asked = []

    def read(rows):
        asked.append(rows)
        return leaderboard.board_view(crowded, utc(2017, 4, 1, 12), limit=rows)

    frame = drawing.LiveBoard(read, console, "fr", 10)()
    plain = Console(file=io.StringIO(), width=100, color_system=None)
    plain.print(frame)
    assert asked == [14] and len(plain.file.getvalue().splitlines()) == 14


def test_ctrl_c_ends_live_cleanly(db):
    poll(db, utc(2017, 4, 2, 12), media("1"))
    console = _tty()
    calls = {"n": 0}

    def frame():
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return Text("board")

    assert drawing.run_live(console, frame, 0) == 1
    stop = threading.Event()
    stop.set()
    assert drawing.run_live(console, lambda: Text("board"), 0, stop=stop) == 1


def test_live_on_a_pipe_prints_one_frame():
    console = Console(file=io.StringIO(), width=80)
    assert drawing.run_live(console, lambda: Text("un seul"), 0) == 1
    assert console.file.getvalue() == "un seul\n"


def test_a_real_lock_is_reported_not_raised(tmp_path):
    path = tmp_path / "locked.db"
    database = store.open_db(path)
    store.save_contest(database, contest(), START)
    poll(database, utc(2017, 4, 2, 12), media("1"))
    database.execute("PRAGMA journal_mode = DELETE")  # in WAL readers never wait; force a real lock
    database.close()
    console = Console(file=io.StringIO(), width=100, height=20, color_system=None)

    def read(rows):
        reader = store.open_reader(path, timeout=0.05)
        try:
            return leaderboard.board_view(reader, utc(2017, 4, 2, 12, 5), limit=rows)
        finally:
            reader.close()

    frame = drawing.LiveBoard(read, console, "en", 10, now=lambda: utc(2017, 4, 2, 12, 6))
    console.print(frame())
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        console.print(frame())
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    out = console.file.getvalue()
    assert "⚠ database busy: board read just now, retrying in 10 s" in out
    assert out.count("Test Derby") == 2  # the last good board stays on screen


def test_a_french_board_says_why_it_cannot_read_in_french(tmp_path):
    path = tmp_path / "gone.db"
    database = store.open_db(path)
    store.save_contest(database, contest(), START)
    poll(database, utc(2017, 4, 2, 12), media("1"))
    database.close()
    console = Console(file=io.StringIO(), width=120, height=20, color_system=None)

    def read(rows):
        reader = store.open_reader(path)
        try:
            return leaderboard.board_view(reader, utc(2017, 4, 2, 12, 5), limit=rows)
        finally:
            reader.close()

    frame = drawing.LiveBoard(read, console, "fr", 10, now=lambda: utc(2017, 4, 2, 12, 6))
    console.print(frame())
    path.rename(tmp_path / "moved.db")  # the file went away (a USB key pulled out)
    console.print(frame())
    (tmp_path / "gone.db").write_bytes(b"")  # an empty file in its place
    console.print(frame())
    out = console.file.getvalue()
    assert "⚠ lecture impossible (base de données introuvable : vérifiez --db) : classement lu à l'instant" in out
    assert "⚠ lecture impossible (ce fichier n'est pas une base derby) : classement lu à l'instant" in out
    assert "derby init" not in out and "not found" not in out and "pass --db" not in out


def test_reader_never_writes(db, tmp_path):
    poll(db, utc(2017, 4, 2, 12), media("1"))
    reader = store.open_reader(tmp_path / "b.db")
    with pytest.raises(sqlite3.OperationalError):
        reader.execute("DELETE FROM media")
    # while the reader holds a read transaction, the poller still writes (WAL)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM media").fetchone() == (1,)
    poll(db, utc(2017, 4, 2, 13), media("2"))
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM media").fetchone() == (2,)
    reader.close()
    from derby.errors import StoreError

    with pytest.raises(StoreError, match="not found"):
        store.open_reader(tmp_path / "missing.db")


def test_posted_offset_follows_the_posts_not_today(tmp_path):
    database = store.open_db(tmp_path / "dst.db")
    # a contest across the end of daylight time in Québec (5 November 2017, 2 h 00)
    store.save_contest(database, contest(start=utc(2017, 11, 1, 4), end=utc(2017, 11, 10, 5)), utc(2017, 11, 1))
    poll(database, utc(2017, 11, 3, 12), media("1", like_count=9, timestamp=utc(2017, 11, 3, 12)))
    view = leaderboard.board_view(database, utc(2017, 11, 8, 12))  # today is UTC−5, the post is UTC−4
    assert "Publiée (UTC−4)" in draw(view, width=160)
    poll(database, utc(2017, 11, 7, 12), media("2", like_count=5, timestamp=utc(2017, 11, 7, 12)))
    both = lines_of(leaderboard.board_view(database, utc(2017, 11, 8, 12)), width=160)
    assert column(both, 9) == ["3 nov. 8 h 00 (UTC−4)", "7 nov. 7 h 00 (UTC−5)"]


def test_live_in_a_real_terminal_ends_cleanly_on_ctrl_c(db, tmp_path):
    """The whole path: a pseudo-terminal (so rich sees a TTY), the read-only reader,
    rich Live, then SIGINT as Ctrl-C sends it: exit 0, no traceback, cursor restored."""
    pty = pytest.importorskip("pty")
    import os
    import select
    import signal
    import sys
    import time

    poll(db, utc(2017, 4, 2, 12), media("1"))
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execv(sys.executable, [sys.executable, "-m", "derby", "--db", str(tmp_path / "b.db"), "leaderboard",
                                  "--live", "--every", "1"])
    out = b""
    deadline = time.monotonic() + 30
    while b"Test Derby" not in out and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    assert b"Test Derby" in out, out
    os.kill(pid, signal.SIGINT)
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"Traceback" not in out and out.rstrip().endswith(b"\x1b[?25h")
