"""derby leaderboard --public: the venue screen shows no operational warning, flag or
id; entrants by name or username where known, otherwise a neutral label."""

from __future__ import annotations

import io
import json
import sqlite3

from rich.console import Console

from derby import board as drawing
from contest_db import derby, fake_clock  # noqa: F401 - fixtures


def test_public_board_has_no_ids_warnings_or_flags(derby, tmp_path):
    entries = json.loads(derby("leaderboard", "--format", "json").output)["entries"]
    csv = tmp_path / "i.csv"
    csv.write_text(f"username,permalink,display_name\nmarie.q,{entries[0]['permalink']},Marie Quintal\n"
                   f"jean_t,{entries[1]['permalink']},\n", encoding="utf-8")
    derby("entrants", "import", str(csv), "--by", "Marie")
    text = derby("leaderboard", "--public", "--top", "5").output
    assert "Marie Quintal" in text and "@jean_t" in text and "Participation n°\u00a03" in text
    for e in entries[:5]:
        assert e["media_id"] not in text and e["permalink"].rstrip("/").rsplit("/", 1)[1] not in text
    for operational in ("Dernière relève", "admissibles", "Notes", "égalité", "⚠"):
        assert operational not in text
    judges = derby("leaderboard", "--top", "5").output
    assert "Dernière relève" in judges and "admissibles" in judges


def test_public_save_writes_the_same_board(derby, tmp_path):
    out = tmp_path / "screen.html"
    derby("leaderboard", "--public", "--save", str(out))
    page = out.read_text(encoding="utf-8")
    assert "Participation n" in page and "Dernière relève" not in page


def test_public_refuses_all_and_formats(derby):
    result = derby("leaderboard", "--public", "--all", ok=False)
    assert result.exit_code == 2 and "--public" in result.stderr


def test_a_busy_database_shows_no_warning_on_the_public_screen():
    console = Console(file=io.StringIO(), width=100)

    def read(rows):
        raise sqlite3.OperationalError("database is locked")

    frame = drawing.LiveBoard(read, console, "fr", 10, public=True)()
    console.print(frame)
    assert "occupée" not in console.file.getvalue() and "attente" in console.file.getvalue()
