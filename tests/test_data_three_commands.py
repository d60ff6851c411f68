"""The README's three commands from nothing to a first CIFAR-10 result: ``data download``, ``bench``, ``report``.

The download runs in process against a local file server serving a tiny CIFAR-10 in the real archive format
(torchvision's URL and MD5s pointed at it; every other connection refused); bench and report run as the real
command in a subprocess on what it wrote.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from shrinkbench.plugins import reset_registry

VISION_TESTS = Path(__file__).resolve().parents[1] / "plugins" / "shrinkbench-vision" / "tests"

README_COMMANDS = (
    ("data", "download", "cifar10", "--root", "{data}"),
    ("bench", "-d", "cifar10", "-m", "resnet20", "--data-root", "{data}", "-s", "global-magnitude", "-c", "2",
     "--pretrain-epochs", "1", "--finetune-epochs", "1", "--out", "{out}"),
    ("report", "{out}"),
)


@pytest.fixture
def vision_mirror(monkeypatch):
    """The vision plugin's test server helpers (``plugins/shrinkbench-vision/tests/vision_mirror.py``)."""
    if not (VISION_TESTS / "vision_mirror.py").is_file():
        pytest.skip("needs the source tree's plugins/shrinkbench-vision/tests")
    monkeypatch.syspath_prepend(str(VISION_TESTS))
    import vision_mirror

    yield vision_mirror
    for name in ("vision_mirror", "vision_data_writers"):
        sys.modules.pop(name, None)


def test_download_bench_report(tmp_path, monkeypatch, shrinkbench, shared_cache, vision_mirror):
    from click.testing import CliRunner

    from shrinkbench_cli.main import cli

    data, out = tmp_path / "data", tmp_path / "results"
    download, bench, report = [[a.format(data=data, out=out) for a in command] for command in README_COMMANDS]
    monkeypatch.setenv("SHRINKBENCH_CACHE", str(shared_cache))
    monkeypatch.delenv("DATAPATH", raising=False)
    with vision_mirror.offline(monkeypatch), vision_mirror.Mirror(tmp_path / "server") as mirror:
        vision_mirror.serve_cifar(mirror, monkeypatch, tmp_path / "source", per_batch=8)
        reset_registry()
        try:
            fetched = CliRunner().invoke(cli, download)
        finally:
            reset_registry()
    assert fetched.exit_code == 0, fetched.output
    assert "downloaded and verified" in fetched.stdout and (data / "cifar-10-batches-py" / "test_batch").is_file()

    ran = shrinkbench(*bench)
    assert ran.returncode == 0, ran.stderr
    summary = shrinkbench(*report)
    assert summary.returncode == 0, summary.stderr
    assert "global-magnitude" in summary.stdout and (out / "report.html").is_file()
