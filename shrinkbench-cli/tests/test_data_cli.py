"""``shrinkbench data`` with a torch-free toy plugin (``data_toy_plugin``): the DatasetSpec status/download
contract as the CLI applies it -- listing, idempotence, the move into place, and every failure leaving nothing
behind with one line on stderr and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shrinkbench.plugins import reset_registry


@pytest.fixture
def data(monkeypatch, tmp_path):
    """Run ``shrinkbench data ARGS`` in process with the toy plugin; returns click's Result."""
    from click.testing import CliRunner

    from shrinkbench_cli.main import cli

    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    monkeypatch.setenv("SHRINKBENCH_PLUGINS", "data_toy_plugin")
    monkeypatch.setenv("SHRINKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SHRINKBENCH_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("DATAPATH", raising=False)
    reset_registry()
    yield lambda *args: CliRunner().invoke(cli, ["data", *args])
    reset_registry()


def one_error(result) -> str:
    """The one ``error:`` line, last on stderr (a download that started says so first)."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and len(lines) <= 2, result.stderr
    assert "Traceback" not in result.output
    return errors[0]


def rows(result) -> dict[str, dict]:
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)["datasets"]}


def test_list_shows_what_each_dataset_declares(tmp_path, data):
    found = rows(data("list", "--json", "--root", str(tmp_path)))
    assert found["toy-files"]["present"] is False and found["toy-files"]["downloadable"] is True
    assert found["toy-nostatus"]["present"] is None and "no status check" in found["toy-nostatus"]["detail"]
    assert found["toy-broken"]["present"] is None and "RuntimeError: boom" in found["toy-broken"]["detail"]
    assert found["toy-kept"]["present"] is True and found["toy-kept"]["bundled"] is True
    table = data("list", "--root", str(tmp_path))
    assert table.exit_code == 0 and "toy-broken" in table.stdout


def test_download_moves_into_place_once(tmp_path, data):
    root = tmp_path / ("a-rather-long-directory-name-" * 4) / "data"
    first = data("download", "toy-files", "--root", str(root))
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in root.iterdir()) == ["toy-files"]
    assert f"downloaded and verified into {root / 'toy-files'}" in first.stdout  # one line, not wrapped
    assert "already present and verified" in data("download", "toy-files", "--root", str(root)).stdout
    assert data("path", "toy-files", "--root", str(root)).stdout == f"{root / 'toy-files'}\n"
    (root / "toy-files" / "data.txt").write_bytes(b"changed")
    assert "does not verify" in one_error(data("download", "toy-files", "--root", str(root)))
    assert data("download", "toy-files", "--root", str(root), "--force").exit_code == 0
    assert (root / "toy-files" / "data.txt").read_bytes() == b"toy data\n"


@pytest.mark.parametrize("mode, message", [
    ("fail", "toy-files download failed: http://127.0.0.1:9/data.txt: HTTP 404"),
    ("crash", "raised ValueError: unexpected"),
    ("wrong", "did not produce the layout its loader reads: MD5 mismatch"),
])
def test_failed_download_leaves_nothing(tmp_path, data, monkeypatch, mode, message):
    monkeypatch.setenv("TOY_DOWNLOAD", mode)
    assert message in one_error(data("download", "toy-files", "--root", str(tmp_path / "new" / "deeper")))
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    one_error(data("download", "toy-files", "--root", str(tmp_path / "old")))
    assert list((tmp_path / "old").iterdir()) == []


def test_interrupted_download_leaves_nothing(tmp_path, data, monkeypatch):
    monkeypatch.setenv("TOY_DOWNLOAD", "interrupt")
    (tmp_path / "d").mkdir()
    result = data("download", "toy-files", "--root", str(tmp_path / "d"))
    assert result.exit_code == 130 and "nothing was written" in result.stderr
    assert list((tmp_path / "d").iterdir()) == []


def test_a_file_in_the_way_needs_force(tmp_path, data):
    (tmp_path / "toy-files").write_text("mine")
    error = one_error(data("download", "toy-files", "--root", str(tmp_path)))
    assert "is in the way" in error and (tmp_path / "toy-files").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "toy-files"]
    assert data("download", "toy-files", "--root", str(tmp_path), "--force").exit_code == 0
    assert (tmp_path / "toy-files" / "data.txt").is_file()


@pytest.mark.parametrize("args, message", [
    (("download", "toy-nostatus"), "cannot be downloaded"),
    (("path", "toy-nostatus"), "declares no status check"),
    (("path", "toy-broken"), "raised RuntimeError: boom"),
    (("download", "toy-file"), "did you mean 'toy-files'"),
])
def test_bad_input(tmp_path, data, args, message):
    result = data(*args, "--root", str(tmp_path))
    assert message in one_error(result) and len(result.stderr.strip().splitlines()) == 1


def test_bundled_without_status(data):
    assert "nothing to download" in data("download", "toy-kept").stdout
