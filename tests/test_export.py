"""Exports read back the way Excel and the jury's scripts read them, every field compared;
and the board through the command line (plain when piped, --live, --save)."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner
from helpers import contest, media, page, utc

from derby import store
from derby.cli import cli
from derby.export import WINNER_COLUMNS
from derby.text import spreadsheet_safe

ACCENTS = "Été à Québec : ça œuvre « fort » è"
FORMULAS = {"f=": "=HYPERLINK(\"http://evil\",\"clic\")", "f+": "+1+1", "f-": "-2+3", "f@": "@SUM(A1)",
            "ftab": "\t=1+1", "fcr": "\r=1+1"}


def poll(db, when, *items):
    run_id = store.start_poll_run(db, "fixture", when)
    store.save_page(db, run_id, "socialderby", "recent_media", page(*items), when)
    store.finish_poll_run(db, run_id, when, status="ok", requests=1)


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "e.db"
    db = store.open_db(path)
    store.save_contest(db, contest(title="Derby d'été"), utc(2017, 4, 1))
    items = [
        media("10", caption=f"{ACCENTS} #socialderby", like_count=50, comments_count=4, timestamp=utc(2017, 4, 2, 14, 5, 9)),
        media("11", caption="ligne 1\r\nligne 2, \"citée\"\n#socialderby", like_count=None, comments_count=7,
              media_type="VIDEO", timestamp=utc(2017, 4, 3, 9)),
        media("12", caption="hors concours", like_count=3, comments_count=0, timestamp=utc(2017, 4, 4, 9)),
        media("13", caption="#socialderby trop tôt", like_count=8, comments_count=1, timestamp=utc(2017, 3, 30, 9)),
    ] + [media(key, caption=f"{text} #socialderby", like_count=1, comments_count=0, timestamp=utc(2017, 4, 5, 9))
         for key, text in FORMULAS.items()]
    poll(db, utc(2017, 4, 6, 12), *items)
    store.moderate(db, "12", "disqualify", "photo reprise d'un autre compte, « sans droits »", "Hélène", utc(2017, 4, 6, 14))
    db.close()
    return path


def read_csv(path):
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_entries_csv_every_field(db_path, tmp_path):
    out = tmp_path / "entries.csv"
    result = CliRunner().invoke(cli, ["--db", str(db_path), "export", str(out), "--all"])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote 10 entries (8 ranked) to {out}\n"
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = read_csv(out)
    assert list(rows[0]) == ["rank", "media_id", "permalink", "username", "display_name", "status", "reason",
                             "moderation", "score", "points.points_per_like", "points.points_per_comment", "like_count",
                             "comments_count", "posted_at", "observed_at", "engagement_source", "media_type", "flags",
                             "tie_break", "caption"]
    by_id = {r["media_id"]: r for r in rows}
    assert by_id["10"] == {
        "rank": "1", "media_id": "10", "permalink": "https://www.instagram.com/p/C10/", "username": "",
        "display_name": "", "status": "eligible", "reason": "", "moderation": "", "score": "62",
        "points.points_per_like": "50", "points.points_per_comment": "12", "like_count": "50", "comments_count": "4",
        "posted_at": "2017-04-02T10:05:09-04:00", "observed_at": "2017-04-06T08:00:00-04:00",
        "engagement_source": "recent_media", "media_type": "IMAGE",
        # read on the 6th, more than 24 hours before engagement stopped counting on the 10th
        "flags": "stale", "tie_break": "", "caption": f"{ACCENTS} #socialderby",
    }
    assert by_id["11"] == {
        "rank": "2", "media_id": "11", "permalink": "https://www.instagram.com/p/C11/", "username": "",
        "display_name": "", "status": "eligible", "reason": "", "moderation": "", "score": "21",
        "points.points_per_like": "0", "points.points_per_comment": "21", "like_count": "", "comments_count": "7",
        "posted_at": "2017-04-03T05:00:00-04:00", "observed_at": "2017-04-06T08:00:00-04:00",
        "engagement_source": "recent_media", "media_type": "VIDEO", "flags": "hidden_likes;stale", "tie_break": "", "caption": "ligne 1\r\nligne 2, \"citée\"\n#socialderby",
    }
    assert (by_id["12"]["status"], by_id["12"]["rank"]) == ("disqualified", "")
    assert by_id["12"]["reason"] == "disqualified by Hélène: photo reprise d'un autre compte, « sans droits »"
    assert by_id["12"]["moderation"] == ("disqualify by Hélène at 2017-04-06T10:00:00-04:00: "
                                         "photo reprise d'un autre compte, « sans droits »")
    assert (by_id["13"]["status"], by_id["13"]["reason"], by_id["13"]["score"]) == \
           ("before_start", "posted before the contest started", "11")
    for key, text in FORMULAS.items():
        assert by_id[key]["caption"] == "'" + text + " #socialderby", key
        assert by_id[key]["score"] == "1" and by_id[key]["flags"] == "tied;stale"
    assert [by_id[key]["tie_break"] for key in FORMULAS] == ["media_id"] * 6
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4", "5", "6", "7", "8", "", ""]


def test_entries_csv_without_bom_and_numbers_stay_numbers(db_path, tmp_path):
    out = tmp_path / "entries.csv"
    assert CliRunner().invoke(cli, ["--db", str(db_path), "export", str(out), "--all", "--encoding", "utf-8"]).exit_code == 0
    raw = out.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8").startswith("rank,media_id,")
    # numbers are written bare (never quoted nor prefixed); the CRLF inside a caption is kept in its quoted cell
    assert b"\r\n1,10,https://www.instagram.com/p/C10/,,,eligible,,,62,50,12,50,4," in raw
    assert "\"ligne 1\r\nligne 2, \"\"citée\"\"\n#socialderby\"".encode() in raw


def test_entries_json_every_field(db_path, tmp_path):
    out = tmp_path / "entries.json"
    assert CliRunner().invoke(cli, ["--db", str(db_path), "export", str(out), "--all"]).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert ACCENTS in text  # written as UTF-8, not \\u escapes
    data = json.loads(text)
    assert data["contest"]["title"] == "Derby d'été" and data["contest"]["entries_stored"] == 10
    first = data["entries"][0]
    assert first == {
        "rank": 1, "media_id": "10", "permalink": "https://www.instagram.com/p/C10/", "username": None, "score": 62,
        "like_count": 50, "comments_count": 4, "posted_at": "2017-04-02T10:05:09-04:00", "media_type": "IMAGE",
        "status": "eligible", "reason": None, "flags": ["stale"], "observed_at": "2017-04-06T08:00:00-04:00",
        "engagement_source": "recent_media",
        "caption": f"{ACCENTS} #socialderby", "points": {"points_per_like": 50, "points_per_comment": 12},
        "moderation": None, "display_name": None, "tie_break": None,
    }
    moderated = next(e for e in data["entries"] if e["media_id"] == "12")
    assert moderated["moderation"] == {"action": "disqualify", "by": "Hélène", "at": "2017-04-06T10:00:00-04:00",
                                       "reason": "photo reprise d'un autre compte, « sans droits »"}
    assert data["entries"][1]["like_count"] is None and data["entries"][1]["points"]["points_per_like"] == 0
    # JSON keeps raw text: formula neutralisation is for spreadsheets only
    assert {e["caption"] for e in data["entries"]} >= {f"{t} #socialderby" for t in FORMULAS.values()}


def test_winners_csv_gives_the_key_that_decided_a_tie(db_path, tmp_path):
    out = tmp_path / "winners.csv"
    assert CliRunner().invoke(cli, ["--db", str(db_path), "export", str(out), "--top", "3",
                                    "--alternates", "5"]).exit_code == 0
    rows = read_csv(out)
    assert [(r["media_id"], r["flags"], r["tie_break"]) for r in rows[:2]] == [("10", "stale", ""),
                                                                            ("11", "hidden_likes;stale", "")]
    tied = rows[2:]  # the six formula posts: same score and same time, so the media id decides
    assert len(tied) == 6 and all("tied" in r["flags"] and r["tie_break"] == "media_id" for r in tied)


def test_winners_csv_keeps_its_columns(db_path, tmp_path):
    out = tmp_path / "winners.csv"
    assert CliRunner().invoke(cli, ["--db", str(db_path), "export", str(out), "--top", "1", "--alternates", "1"]).exit_code == 0
    rows = read_csv(out)
    assert tuple(rows[0]) == WINNER_COLUMNS
    assert [(r["rank"], r["role"], r["media_id"], r["score"], r["like_count"], r["flags"]) for r in rows] == [
        ("1", "winner", "10", "62", "50", "stale"), ("2", "alternate", "11", "21", "", "hidden_likes;stale")]
    out_json = tmp_path / "winners.json"
    assert CliRunner().invoke(cli, ["--db", str(db_path), "export", str(out_json), "--top", "1", "--alternates", "0"]).exit_code == 0
    assert json.loads(out_json.read_text(encoding="utf-8"))["contest"]["title"] == "Derby d'été"


@pytest.mark.parametrize("text,safe", [
    ("=1+1", "'=1+1"), ("+33 6", "'+33 6"), ("-5", "'-5"), ("@moi", "'@moi"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("a=1", "a=1"), ("é=1", "é=1"), ("", ""), (None, ""),
])
def test_spreadsheet_safe(text, safe):
    assert spreadsheet_safe(text) == safe


@pytest.mark.parametrize("text", ["＝1+1", "﹦1+1", "＋33", "－5", "＠SUM(A1)", " =1+1", "  +1", "\n=1+1",
                                  "\r\n=HYPERLINK(\"x\")", "\u3000=1+1", "\n"])
def test_spreadsheet_safe_sees_through_full_width_forms_and_leading_blanks(text):
    assert spreadsheet_safe(text) == "'" + text


def test_derbys_own_reason_starting_with_a_username_gets_no_apostrophe():
    import io

    from derby.export import write_csv

    out = io.StringIO()
    write_csv(out, [{"reason": "@alice already has 1 better-ranked entry", "caption": "@alice already has 1"},
                    {"reason": "@=1+1 x", "caption": "x"}], ["reason", "caption"])
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[1] == ["@alice already has 1 better-ranked entry", "'@alice already has 1"]
    assert rows[2][0] == "'@=1+1 x"  # not a checked username: neutralised even in derby's own column


# -- the board through the command line --------------------------------------------------

def test_board_piped_is_plain(db_path):
    result = CliRunner().invoke(cli, ["--db", str(db_path), "leaderboard", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    lines = result.output.splitlines()
    assert lines[0] == "Derby d'été" and lines[1].startswith("Leaderboard as of ")
    assert "Score" in result.output and "hidden" in result.output


def test_live_piped_prints_one_frame_and_exits(db_path):
    result = CliRunner().invoke(cli, ["--db", str(db_path), "leaderboard", "--live", "--every", "1"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    assert result.output.count("Derby d'été") == 1 and "Pointage" in result.output


def test_save_svg_from_the_cli(db_path, tmp_path):
    out = tmp_path / "board.svg"
    result = CliRunner().invoke(cli, ["--db", str(db_path), "leaderboard", "--save", str(out), "--as-of",
                                      "2017-04-06T09:00"])
    assert result.exit_code == 0, result.output
    svg = out.read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "Pointage" in svg and "6&#160;avril&#160;2017" in svg
    bad = CliRunner().invoke(cli, ["--db", str(db_path), "leaderboard", "--save", str(tmp_path / "b.png")])
    assert bad.exit_code == 2 and "ending in .svg or .html" in bad.output


def test_live_or_save_with_another_format_is_refused(db_path):
    result = CliRunner().invoke(cli, ["--db", str(db_path), "leaderboard", "--live", "--format", "json"])
    assert result.exit_code == 2
    assert result.output == "derby: --live and --save draw the table; drop --format json\n"
