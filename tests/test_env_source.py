"""The ``.env`` file: read literally, and a refused token says where it came from."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from derby import cli as cli_module
from derby.cli import cli

ROOT = Path(__file__).resolve().parents[1]
GRAPH_TOML = ROOT / "config" / "socialderby.toml"


@pytest.fixture
def env_loaded(monkeypatch):
    """Run ``cli._load_env`` with every variable it may set restored afterwards."""
    for name in ("INSTAGRAM_ACCESS_TOKEN", "INSTAGRAM_APP_SECRET", "INSTAGRAM_APP_ID", "INSTAGRAM_USER_ID",
                 "DERBY_GRAPH_URL"):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    monkeypatch.setattr(cli_module, "_ENV_SOURCES", [])

    def load(path: Path) -> None:
        cli_module._load_env(path)

    return load


def test_dotenv_values_are_read_literally(tmp_path, env_loaded, monkeypatch):
    monkeypatch.setenv("HOME", "/root")
    (tmp_path / ".env").write_text('INSTAGRAM_ACCESS_TOKEN=EAAGab${HOME}cd\nINSTAGRAM_APP_SECRET="s3${HOME}x"\n'
                                   "INSTAGRAM_USER_ID='17841405309211844'\n", encoding="utf-8")
    env_loaded(tmp_path / ".env")
    assert os.environ["INSTAGRAM_ACCESS_TOKEN"] == "EAAGab${HOME}cd"
    assert os.environ["INSTAGRAM_APP_SECRET"] == "s3${HOME}x"


def test_appsecret_proof_is_built_from_the_literal_values(tmp_path, env_loaded, monkeypatch, httpserver):
    monkeypatch.setenv("HOME", "/root")
    (tmp_path / ".env").write_text("INSTAGRAM_ACCESS_TOKEN=EAAGab${HOME}cd\nINSTAGRAM_APP_SECRET=s3${HOME}x\n"
                                   "INSTAGRAM_USER_ID=17841405309211844\n", encoding="utf-8")
    env_loaded(tmp_path / ".env")
    monkeypatch.setenv("DERBY_GRAPH_URL", httpserver.url_for("/v24.0"))
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json({"data": []})
    db = str(tmp_path / "d.db")
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", db, "init", str(GRAPH_TOML)]).exit_code == 0
    runner.invoke(cli, ["--db", db, "poll"])
    request = httpserver.log[0][0]
    assert request.args["access_token"] == "EAAGab${HOME}cd"
    expected = hmac.new(b"s3${HOME}x", b"EAAGab${HOME}cd", hashlib.sha256).hexdigest()
    assert request.args["appsecret_proof"] == expected


def _refused_poll(tmp_path, monkeypatch, httpserver) -> str:
    monkeypatch.setenv("DERBY_GRAPH_URL", httpserver.url_for("/v24.0"))
    httpserver.expect_request("/v24.0/ig_hashtag_search").respond_with_json(
        {"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190,
                   "error_subcode": 463, "fbtrace_id": "AbC"}}, status=400)
    db = str(tmp_path / "d.db")
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", db, "init", str(GRAPH_TOML)]).exit_code == 0
    result = runner.invoke(cli, ["--db", db, "poll"])
    assert result.exit_code == 4, result.output
    return result.output


def test_a_refused_token_from_the_shell_says_it_beat_the_env_file(tmp_path, env_loaded, monkeypatch, httpserver):
    (tmp_path / ".env").write_text("INSTAGRAM_ACCESS_TOKEN=EAAGrightONE\nINSTAGRAM_USER_ID=17841405309211844\n",
                                   encoding="utf-8")
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", "EAAGstaleONE")
    env_loaded(tmp_path / ".env")
    output = _refused_poll(tmp_path, monkeypatch, httpserver)
    assert ("note: the refused INSTAGRAM_ACCESS_TOKEN came from the environment (a value set in the shell wins "
            "over .env; run: unset INSTAGRAM_ACCESS_TOKEN, to use the one in .env)") in output
    assert "EAAGstaleONE" not in output


def test_a_refused_token_from_the_env_file_names_the_file(tmp_path, env_loaded, monkeypatch, httpserver):
    (tmp_path / ".env").write_text("INSTAGRAM_ACCESS_TOKEN=EAAGrightONE\nINSTAGRAM_USER_ID=17841405309211844\n",
                                   encoding="utf-8")
    env_loaded(tmp_path / ".env")
    output = _refused_poll(tmp_path, monkeypatch, httpserver)
    assert f"note: the refused INSTAGRAM_ACCESS_TOKEN came from {tmp_path / '.env'}" in output
