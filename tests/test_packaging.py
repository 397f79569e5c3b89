"""Starting from nothing: the examples ship in the wheel, and a real (non-editable) install
into a fresh virtual environment, as pipx makes one, writes an example contest and loads it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from importlib.resources import files as resources
from pathlib import Path

from click.testing import CliRunner

from derby.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def test_example_contest_and_env_are_written_and_the_contest_loads(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(cli, ["init", "--example"])
    assert shown.exit_code == 0 and shown.stdout == resources("derby.examples").joinpath("contest.toml").read_text("utf-8")
    assert shown.stdout.startswith("# Exemple de concours derby")  # French first
    written = runner.invoke(cli, ["init", "--example", "contest.toml"])
    assert written.exit_code == 0 and written.stdout == ""
    assert written.stderr == "wrote the example contest to contest.toml; edit it, then load it: derby init contest.toml\n"
    assert (tmp_path / "contest.toml").read_text("utf-8") == shown.stdout
    again = runner.invoke(cli, ["init", "--example", "contest.toml"])
    assert again.exit_code == 2 and "contest.toml already exists" in again.stderr
    assert runner.invoke(cli, ["init", "--example", "--force", "contest.toml"]).exit_code == 0
    loaded = runner.invoke(cli, ["--db", "c.db", "init", "contest.toml"])
    assert loaded.exit_code == 0 and "Mon concours Instagram" in loaded.stdout
    env = runner.invoke(cli, ["init", "--example-env", ".env"])
    assert env.exit_code == 0 and "INSTAGRAM_ACCESS_TOKEN=" in (tmp_path / ".env").read_text("utf-8")
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600


def test_init_without_a_file_points_at_the_examples_and_writes_the_team_example(tmp_path):
    bare = CliRunner().invoke(cli, ["init"])
    assert bare.exit_code == 2 and "derby init --example contest.toml" in bare.stderr and "--example-env" in bare.stderr
    teams = CliRunner().invoke(cli, ["init", "--example", "teams", "teams.toml"])
    assert teams.exit_code == 0, teams.output
    loaded = CliRunner().invoke(cli, ["--db", "t.db", "init", "teams.toml"],
                                env={"DERBY_TOKEN_3E_AVENUE": "a", "INSTAGRAM_ACCESS_TOKEN": "b"})
    assert loaded.exit_code == 0 and "2 équipes" in loaded.stdout


def test_wheel_installed_into_a_fresh_venv_starts_a_contest(tmp_path):
    """Build the wheel (offline: this venv's setuptools), install it without its
    dependencies into a fresh venv that borrows this one's site-packages for them (the
    way pipx installs, minus the download), then run it from an empty folder."""
    dist, fresh, work, source = tmp_path / "dist", tmp_path / "fresh", tmp_path / "work", tmp_path / "source"
    work.mkdir()
    # Built from a copy of what a checkout holds, so the build leaves nothing in the working tree.
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "derby", source / "derby", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DERBY_", "INSTAGRAM_", "PYTHON"))}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(source)], check=True, capture_output=True, timeout=300, env=env)
    wheel = next(dist.glob("derby-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True, timeout=120, env=env)
    fresh_site = Path(sysconfig.get_path("purelib", vars={"base": str(fresh), "platbase": str(fresh)}))
    deps = Path(sysconfig.get_path("purelib"))
    (fresh_site / "deps.pth").write_text(f"{deps}\n")  # a bare path: the editable derby's own .pth is not run
    subprocess.run([sys.executable, "-m", "pip", "--python", str(fresh / "bin" / "python"), "install", "--no-deps",
                    "--no-index", "-q", str(wheel)], check=True, capture_output=True, timeout=300, env=env)

    def derby(*args):
        return subprocess.run([str(fresh / "bin" / "derby"), *args], cwd=work, env=env, capture_output=True, text=True,
                              timeout=120)

    where = subprocess.run([str(fresh / "bin" / "python"), "-c", "import derby; print(derby.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(fresh_site)), where  # the wheel, not the working tree
    assert derby("--version").stdout.startswith("derby 0.1.0 (SQLite ")
    assert derby("init", "--example", "contest.toml").returncode == 0
    assert derby("init", "--example-env", ".env").returncode == 0
    loaded = derby("init", "contest.toml", "--lang", "en")
    assert loaded.returncode == 0, loaded.stderr
    assert "Contest “Mon concours Instagram” loaded into derby.db" in loaded.stdout
    assert (work / "derby.db").exists()
    metadata = next(fresh_site.glob("derby-*.dist-info")) / "METADATA"
    text = metadata.read_text("utf-8")
    assert "License-Expression: Apache-2.0" in text and "Project-URL" not in text  # no made-up address
    assert (metadata.parent / "licenses" / "LICENSE").read_text("utf-8").lstrip().startswith("Apache License")


def test_example_kind_team_is_the_team_example_and_an_unknown_kind_is_refused(tmp_path):
    singular = CliRunner().invoke(cli, ["init", "--example", "team", "t.toml"])
    assert singular.exit_code == 0, singular.output
    assert (tmp_path / "t.toml").read_bytes() == resources("derby.examples").joinpath("teams.toml").read_bytes()
    shown = CliRunner().invoke(cli, ["init", "--example", "team"])
    assert shown.exit_code == 0 and shown.stdout == resources("derby.examples").joinpath("teams.toml").read_text("utf-8")
    unknown = CliRunner().invoke(cli, ["init", "--example", "equipes"])
    assert unknown.exit_code == 2 and not (tmp_path / "equipes").exists()
    assert "unknown example 'equipes'; examples: hashtag, teams" in unknown.stderr
    assert "derby init --example teams FILE.toml" in unknown.stderr


def test_project_urls_point_only_at_addresses_the_readme_gives():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    readme = (ROOT / "README.md").read_text("utf-8")
    for name, url in project.get("urls", {}).items():
        assert url.split("#")[0] in readme, f"{name} = {url} is not an address the project gives"
