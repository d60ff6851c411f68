"""Downloads of ``wikitext2`` and ``c4`` from a local HTTP server (``$SHRINKBENCH_TEXT_MIRROR``), directly and
through ``shrinkbench data download / list / path`` in process: a correct file installs, verifies and loads; a
wrong checksum or a missing file fails in one line and leaves nothing in the data root. No internet."""

from __future__ import annotations

import json

import pytest
from corpora_fakes import Server, c4_contents, publish, serve, wikitext_zip

from shrinkbench.errors import ShrinkBenchError
from shrinkbench.plugins import reset_registry
from shrinkbench_text.corpora import download, files, status

main = pytest.importorskip("shrinkbench_cli.main")
ZIP = "wikitext-2-raw-v1.zip"


@pytest.fixture(autouse=True)
def no_datapath(monkeypatch):
    monkeypatch.delenv("DATAPATH", raising=False)


@pytest.fixture
def server(tmp_path):
    with Server(tmp_path / "server") as running:
        yield running


@pytest.fixture
def data(monkeypatch, tmp_path):
    """Run ``shrinkbench data ARGS`` in process with every installed plugin; returns click's Result."""
    from click.testing import CliRunner

    monkeypatch.setenv("SHRINKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("SHRINKBENCH_DISABLE_PLUGINS", "SHRINKBENCH_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    reset_registry()
    yield lambda *args: CliRunner().invoke(main.cli, ["data", *args])
    reset_registry()


def one_error(result) -> str:
    """The single ``error:`` line of a failed command (exit 2)."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("downloading ")]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


def test_wikitext2_download_installs_and_loads(tmp_path, monkeypatch, server):
    archive = wikitext_zip()
    publish(monkeypatch, "wikitext2", {ZIP: archive})
    serve(monkeypatch, server, {ZIP: archive})
    dest = tmp_path / "dest"
    dest.mkdir()
    download.wikitext2(dest)
    assert sorted(p.name for p in dest.iterdir()) == ["wikitext-2-raw"]
    assert sorted(p.name for p in (dest / "wikitext-2-raw").iterdir()) == [
        "wiki.test.raw", "wiki.train.raw", "wiki.valid.raw", ZIP]
    assert status.wikitext2(dest).verified is True
    assert "Alpha beta" in files.wikitext2("test", dest)


def test_wrong_checksum_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, server):
    serve(monkeypatch, server, {ZIP: wikitext_zip()})  # the real published SHA-256 cannot match this zip
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ShrinkBenchError) as info:
        download.wikitext2(dest)
    message = str(info.value)
    assert "\n" not in message and message.startswith("wikitext2 download failed:")
    assert "is not the published file" in message and files.WIKITEXT2.archive.sha256 in message
    assert list(dest.iterdir()) == []


def test_c4_download(tmp_path, monkeypatch, server):
    contents = c4_contents()
    publish(monkeypatch, "c4", contents)
    serve(monkeypatch, server, contents)
    download.c4(tmp_path)
    assert status.c4(tmp_path).verified is True
    assert files.c4("train", tmp_path).startswith("Training document one.")


def test_c4_missing_file_names_the_url(tmp_path, monkeypatch, server):
    contents = c4_contents()
    publish(monkeypatch, "c4", contents)
    serve(monkeypatch, server, {"c4-validation.00000-of-00008.json.gz": contents["c4-validation.00000-of-00008.json.gz"]})
    with pytest.raises(ShrinkBenchError, match=r"c4-train.00000-of-01024.json.gz: HTTP 404") as info:
        download.c4(tmp_path)
    assert "\n" not in str(info.value) and list(tmp_path.iterdir()) == [server.directory]


def test_sources():
    archive = files.WIKITEXT2.archive
    assert download.sources(archive, download.WIKITEXT2_URLS) == download.WIKITEXT2_URLS
    assert download.C4_URL.format(name="x").startswith(
        "https://huggingface.co/datasets/allenai/c4/resolve/1ddc917116b730e1859edef32896ec5c16be51d0/en/")


def test_cli_download_list_path(tmp_path, monkeypatch, server, data):
    archive = wikitext_zip()
    publish(monkeypatch, "wikitext2", {ZIP: archive})
    serve(monkeypatch, server, {ZIP: archive})
    root = tmp_path / "data"
    first = data("download", "wikitext2", "--root", str(root))
    assert first.exit_code == 0, first.output
    assert f"downloaded and verified into {root / 'wikitext-2-raw'}" in first.stdout
    assert sorted(p.name for p in root.iterdir()) == ["wikitext-2-raw"]  # no temporary directory left
    again = data("download", "wikitext2", "--root", str(root))
    assert again.exit_code == 0 and "already present and verified" in again.stdout

    rows = {r["name"]: r for r in json.loads(data("list", "--root", str(root), "--json").stdout)["datasets"]}
    assert rows["wikitext2"]["present"] is True and rows["wikitext2"]["verified"] is True
    assert rows["c4"]["present"] is False and rows["c4"]["downloadable"] is True
    assert rows["ptb"]["downloadable"] is False and rows["shakespeare"]["bundled"] is True
    assert rows["shakespeare"]["verified"] is True
    found = data("path", "wikitext2", "--root", str(root))
    assert found.exit_code == 0 and found.stdout == f"{root / 'wikitext-2-raw'}\n"


def test_cli_wrong_checksum_writes_nothing(tmp_path, monkeypatch, server, data):
    serve(monkeypatch, server, {ZIP: wikitext_zip()})
    root = tmp_path / "data"
    root.mkdir()
    error = one_error(data("download", "wikitext2", "--root", str(root)))
    assert "wikitext2 download failed" in error and "published" in error
    assert list(root.iterdir()) == []
    created = tmp_path / "new" / "data"
    one_error(data("download", "wikitext2", "--root", str(created)))
    assert not (tmp_path / "new").exists()


def test_cli_ptb_cannot_be_downloaded(tmp_path, data):
    error = one_error(data("download", "ptb", "--root", str(tmp_path)))
    assert "cannot be downloaded by shrinkbench" in error and "LDC" in error
    assert not (tmp_path / "ptb").exists() and not list(tmp_path.glob(".shrinkbench-download-*"))
