"""The .xlsx export read back with openpyxl (and, where LibreOffice is installed, through a
headless LibreOffice round trip): every cell keeps its type."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import datetime

import pytest
from click.testing import CliRunner
from helpers import contest, media, page, utc

from derby import export, store
from derby.cli import cli

openpyxl = pytest.importorskip("openpyxl", reason="openpyxl is a test dependency: pip install -e '.[test]'")

LONG_ID = "17850823225969783"  # 17 digits: a spreadsheet's float would keep 15
TRICKY = {"17850823225969001": "00123", "17850823225969002": "2017-04-05", "17850823225969003": "1e5",
          "17850823225969004": '=HYPERLINK("http://evil","clic")', "17850823225969005": "+1+1"}


def poll(db, when, *items):
    run_id = store.start_poll_run(db, "fixture", when)
    store.save_page(db, run_id, "socialderby", "recent_media", page(*items), when)
    store.finish_poll_run(db, run_id, when, status="ok", requests=1)


@pytest.fixture
def db_path(tmp_path):
    """A contest with a 17-digit id, a fractional score and captions a spreadsheet would
    turn into numbers, dates or formulas (those lack the hashtag: only --all has them)."""
    path = tmp_path / "x.db"
    db = store.open_db(path)
    store.save_contest(db, contest(title="Derby d'été", rules={"points_per_comment": 0.5}), utc(2017, 4, 1))
    items = [media(LONG_ID, caption="Été #socialderby", like_count=250, comments_count=3,
                   timestamp=utc(2017, 4, 2, 14, 5, 9)),
             media("17850823225969784", caption="Bonjour #socialderby", like_count=None, comments_count=8,
                   timestamp=utc(2017, 4, 3, 9))]
    items += [media(key, caption=text, like_count=1, comments_count=0, timestamp=utc(2017, 4, 5, 9))
              for key, text in TRICKY.items()]
    poll(db, utc(2017, 4, 6, 12), *items)
    store.moderate(db, "17850823225969784", "disqualify", "=photo reprise", "Hélène", utc(2017, 4, 6, 14))
    db.close()
    return path


def derby(db_path, *args):
    result = CliRunner().invoke(cli, ["--db", str(db_path), *args])
    assert result.exit_code == 0, result.output
    return result


def rows(sheet):
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def test_winners_xlsx_has_typed_cells_and_a_frozen_french_header(db_path, tmp_path):
    out = tmp_path / "winners.xlsx"
    result = derby(db_path, "export", str(out))
    assert result.stdout == "" and result.stderr == f"wrote 1 row (1 winner, 0 alternates) to {out}\n"
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["winners", "contest"]
    sheet = book["winners"]
    assert sheet.freeze_panes == "A2"
    header, first = rows(sheet)
    assert header == ["Rang", "Rôle", "ID du média", "Lien", "Compte", "Pointage", "J'aime", "Commentaires",
                      "Publiée (UTC−4)", "Type", "Notes", "Bris d'égalité"]
    assert first == [1, "winner", LONG_ID, f"https://www.instagram.com/p/C{LONG_ID}/", None, 251.5, 250, 3,
                     datetime(2017, 4, 2, 10, 5, 9), "IMAGE", "stale", None]  # read 4 days before the freeze
    assert sheet["C2"].data_type == "s" and sheet["F2"].data_type == "n" and sheet["I2"].is_date
    assert sheet.column_dimensions["D"].width > 30 and sheet.column_dimensions["A"].width < 10
    contest_rows = dict(rows(book["contest"]))
    assert contest_rows["Concours"] == "Derby d'été" and contest_rows["Participations"] == 7


def test_entries_xlsx_keeps_every_user_text_as_text(db_path, tmp_path):
    out = tmp_path / "entries.xlsx"
    derby(db_path, "export", str(out), "--all", "--lang", "en")
    sheet = openpyxl.load_workbook(out)["entries"]
    header, *body = rows(sheet)
    assert header[:12] == ["Rank", "Media ID", "Permalink", "Username", "Name", "Status", "Reason", "Moderation",
                           "Moderated by", "Moderated at (UTC−4)", "Moderation reason", "Score"]
    by_id = {r[1]: dict(zip(header, r)) for r in body}
    for media_id, caption in TRICKY.items():
        cell = by_id[media_id]
        assert cell["Caption"] == caption and cell["Status"] == "missing_hashtag"  # no ', not a number or formula
    for row in sheet.iter_rows(min_row=2):
        assert all(c.data_type != "f" for c in row)
    judged = by_id["17850823225969784"]
    assert (judged["Moderation"], judged["Moderated by"], judged["Moderation reason"]) == \
           ("disqualify", "Hélène", "=photo reprise")
    assert judged["Moderated at (UTC−4)"] == datetime(2017, 4, 6, 10)
    assert judged["Likes"] is None and judged["Comments"] == 8 and judged["Rank"] is None


def test_times_across_a_dst_change_carry_their_own_offset(tmp_path):
    path = tmp_path / "dst.db"
    db = store.open_db(path)
    store.save_contest(db, contest(start=utc(2017, 3, 10, 5), end=utc(2017, 3, 15, 4)), utc(2017, 3, 10))
    poll(db, utc(2017, 3, 14, 12), media("1", timestamp=utc(2017, 3, 11, 15), like_count=5),
         media("2", timestamp=utc(2017, 3, 13, 15), like_count=9))
    db.close()
    out = tmp_path / "w.xlsx"
    derby(path, "export", str(out))
    sheet = openpyxl.load_workbook(out)["winners"]
    assert sheet["I1"].value == "Publiée"  # no single offset for the column
    assert (sheet["I2"].value, sheet["I3"].value) == (datetime(2017, 3, 13, 11), datetime(2017, 3, 11, 10))
    assert "UTC−4" in sheet["I2"].number_format and "UTC−5" in sheet["I3"].number_format


def test_xlsx_to_stdout_and_the_row_limit(db_path, tmp_path, monkeypatch):
    result = derby(db_path, "export", "-", "--format", "xlsx")
    assert result.stdout_bytes.startswith(b"PK")
    assert rows(openpyxl.load_workbook(io.BytesIO(result.stdout_bytes))["winners"])[1][2] == LONG_ID
    monkeypatch.setattr(export, "XLSX_MAX_ROWS", 7)  # a header and 6 of the 7 entries
    out = tmp_path / "big.xlsx"
    refused = CliRunner().invoke(cli, ["--db", str(db_path), "export", str(out), "--all"])
    assert refused.exit_code == 2 and not out.exists()
    assert refused.stderr == ("derby: 7 rows do not fit a spreadsheet: Excel and LibreOffice stop at 7 rows a sheet; "
                              "export CSV instead (derby export entries.csv --all)\n")


def _soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if not found:
        pytest.skip("LibreOffice (soffice) is not installed: the headless round trip needs it")
    return found


def test_libreoffice_round_trip(db_path, tmp_path):
    soffice = _soffice()
    out = tmp_path / "entries.xlsx"
    derby(db_path, "export", str(out), "--all")
    back = tmp_path / "back"
    profile = (tmp_path / "lo-profile").as_uri()
    subprocess.run([soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "xlsx",
                    "--outdir", str(back), str(out)], check=True, capture_output=True, timeout=180)
    sheet = openpyxl.load_workbook(back / "entries.xlsx")["entries"]
    header, *body = rows(sheet)
    by_id = {r[1]: dict(zip(header, r)) for r in body}
    assert set(by_id) == {LONG_ID, "17850823225969784", *TRICKY}  # every id kept to the last digit, as text
    assert by_id[LONG_ID]["Pointage"] == 251.5 and by_id[LONG_ID]["Publiée (UTC−4)"] == datetime(2017, 4, 2, 10, 5, 9)
    assert {k: by_id[k]["Légende"] for k in TRICKY} == TRICKY


def test_a_team_contest_exports_typed_xlsx_sheets(tmp_path):
    from test_team_standings import seed
    from test_teams_config import TEAMS

    hostile = '=HYPERLINK(\\"http://evil\\",\\"x\\")'
    db = seed(tmp_path, TEAMS.replace('name = "3e Avenue"', f'name = "{hostile}"'))
    out = tmp_path / "winners.xlsx"
    result = derby(db, "export", str(out), "--top", "1", "--alternates", "1")
    assert "wrote 4 rows (1 winner, 1 alternate, winners of 1 trophy)" in result.stderr
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["winners", "contest"]
    header, first, *rest = rows(book["winners"])
    assert header[:6] == ["Trophée", "Place", "Rôle", "Équipe", "Compte", "ID du compte"]
    assert first[:4] == [None, 1, "winner", '=HYPERLINK("http://evil","x")']
    sheet = book["winners"]
    assert sheet["D2"].data_type == "s" and sheet["F2"].data_type == "s" and sheet["B2"].data_type == "n"
    assert dict(zip(header, first))["Abonnés gagnés"] == 20 and len(rest) == 3
    assert dict(rows(book["contest"]))["Équipes"] == 2

    every = tmp_path / "all.xlsx"
    derby(db, "export", str(every), "--all", "--lang", "en")
    book = openpyxl.load_workbook(every)
    assert book.sheetnames == ["teams", "posts", "contest"]
    header, *teams = rows(book["teams"])
    assert header[:5] == ["Rank", "Team", "Username", "Account ID", "Score"] and "Points: points_per_follower" in header
    assert teams[0][1] == '=HYPERLINK("http://evil","x")' and teams[0][3] == "17841400000000101"
    posts = book["posts"]
    header, *post_rows = rows(posts)
    posted = header.index("Posted (UTC−4)")
    assert {r[header.index("Media ID")] for r in post_rows} == {"201", "202", "203", "301"}
    assert all(isinstance(r[posted], datetime) for r in post_rows)
    assert posts.cell(2, header.index("Media ID") + 1).data_type == "s"
    assert posts.cell(2, posted + 1).is_date
