"""``shrinkbench new-plugin``: the skeleton it writes is complete, discoverable, and its own tests pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from shrinkbench_cli.commands.new_plugin import plugin_names, write_plugin

EXPECTED_FILES = {
    "README.md",
    "pyproject.toml",
    "src/shrinkbench_my_pruner/__init__.py",
    "src/shrinkbench_my_pruner/plugin.py",
    "src/shrinkbench_my_pruner/strategies.py",
    "tests/test_my_pruner.py",
}


@pytest.fixture
def generated(run_cli, tmp_path) -> Path:
    """``shrinkbench new-plugin my-pruner --dir <tmp>/plugins``; returns the skeleton's folder."""
    result = run_cli("new-plugin", "my-pruner", "--dir", str(tmp_path / "plugins"), toy=False)
    assert result.returncode == 0, result.stderr
    assert "shrinkbench-my-pruner" in result.stdout and "pytest" in result.stdout
    return tmp_path / "plugins" / "shrinkbench-my-pruner"


def _plugin_env(root: Path) -> dict[str, str]:
    """Use the skeleton without installing it: its src on PYTHONPATH, its module named in SHRINKBENCH_PLUGINS."""
    return {"PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")]),
            "SHRINKBENCH_PLUGINS": "shrinkbench_my_pruner.plugin"}


def test_skeleton_has_every_file_filled_in(generated):
    files = {p.relative_to(generated).as_posix() for p in generated.rglob("*") if p.is_file()}
    assert files == EXPECTED_FILES
    for name in files:
        assert "${" not in (generated / name).read_text(), f"{name} has an unfilled placeholder"
    project = tomllib.loads((generated / "pyproject.toml").read_text())
    assert project["project"]["name"] == "shrinkbench-my-pruner"
    assert project["project"]["entry-points"]["shrinkbench"] == {"my-pruner": "shrinkbench_my_pruner.plugin"}
    assert any(d.startswith("shrinkbench-core>=") for d in project["project"]["dependencies"])
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/shrinkbench_my_pruner"]
    for name in files - {"README.md", "pyproject.toml"}:
        compile((generated / name).read_text(), name, "exec")
    assert "torch" not in (generated / "src/shrinkbench_my_pruner/plugin.py").read_text().replace("no torch", "")


def test_skeleton_tests_pass_out_of_the_box(generated, tmp_path):
    env = {**os.environ, **_plugin_env(generated), "SHRINKBENCH_CACHE": str(tmp_path / "cache")}
    env.pop("SHRINKBENCH_DISABLE_PLUGINS", None)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                            cwd=generated, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_skeleton_strategy_is_listed(generated, run_cli):
    result = run_cli("list", "strategies", "--json", toy=False, env=_plugin_env(generated))
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["strategies"]}
    assert rows["my-pruner"]["plugin"] == "shrinkbench_my_pruner.plugin"
    assert not rows["my-pruner"]["needs_data"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("My_Pruner", "invalid plugin name 'My_Pruner'"),
        ("2bit", "starting with a letter"),
        ("a--b", "single hyphens"),
        ("toy-magnitude", "already provides a strategy called 'toy-magnitude'"),
    ],
)
def test_bad_names_are_one_line_exit_2(run_cli, tmp_path, name, message):
    result = run_cli("new-plugin", name, "--dir", str(tmp_path / "out"))  # with the toy plugin installed
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_refuses_an_existing_non_empty_folder(run_cli, tmp_path):
    (tmp_path / "shrinkbench-my-pruner").mkdir()
    (tmp_path / "shrinkbench-my-pruner" / "notes.txt").write_text("mine")
    result = run_cli("new-plugin", "my-pruner", "--dir", str(tmp_path), toy=False)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "already exists and is not empty" in result.stderr
    assert [p.name for p in (tmp_path / "shrinkbench-my-pruner").iterdir()] == ["notes.txt"]


def test_an_empty_existing_folder_is_filled(tmp_path):
    (tmp_path / "shrinkbench-my-pruner").mkdir()
    files = write_plugin("my-pruner", tmp_path)
    assert {p.relative_to(tmp_path / "shrinkbench-my-pruner").as_posix() for p in files} == EXPECTED_FILES


def test_names_derive_from_the_plugin_name():
    names = plugin_names("shrinkbench-for")  # the prefix is optional; a keyword gets a trailing underscore
    assert {k: names[k] for k in ("name", "dist", "module", "function")} == {
        "name": "for", "dist": "shrinkbench-for", "module": "shrinkbench_for", "function": "for_"}
    assert plugin_names("l1-norm2")["module"] == "shrinkbench_l1_norm2"
