"""``wikitext2``, ``c4`` and ``ptb`` read from data directories: the papers' joins, the search path, the one-line
"not found" error, and the status checks against (test-pointed) published checksums. No network."""

from __future__ import annotations

import os

import pytest
from corpora_fakes import (
    C4_TEST_TEXTS,
    C4_TRAIN_TEXTS,
    PTB_LINES,
    WIKI_ROWS,
    c4_contents,
    ptb_contents,
    publish,
    wikitext_zip,
    write_files,
    write_wikitext,
)

from shrinkbench.errors import DataNotFoundError
from shrinkbench_text.corpora import files, status


@pytest.fixture(autouse=True)
def no_datapath(monkeypatch):
    """Only explicit roots are searched."""
    monkeypatch.delenv("DATAPATH", raising=False)


def hf_rows(text: str) -> list[str]:
    """Hugging Face's wikitext rows, written out independently: each line keeps its newline, blank ones are ''."""
    return [line + "\n" if line.strip() else "" for line in text.split("\n")[:-1]]


def test_wikitext2_joins_as_the_papers(tmp_path):
    write_wikitext(tmp_path)
    assert files.wikitext2("test", tmp_path) == "\n\n".join(hf_rows(WIKI_ROWS["test"]))
    assert files.wikitext2("validation", tmp_path) == "\n\n".join(hf_rows(WIKI_ROWS["valid"]))
    assert files.wikitext2("train", tmp_path) == " ".join(hf_rows(WIKI_ROWS["train"]))
    assert files.wikitext2("test", tmp_path) == " = Test article = \n\n\n\n\n Alpha beta .\n\n\n\n\n Gamma delta .\n"
    with pytest.raises(ValueError, match="train, validation, test"):
        files.wikitext2("valid", tmp_path)


def test_search_path_first_directory_that_has_it_wins(tmp_path, monkeypatch):
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    write_wikitext(full)
    assert files.wikitext2("test", f"{empty}{os.pathsep}{full}")
    monkeypatch.setenv("DATAPATH", f"{empty}{os.pathsep}{full}")
    assert files.wikitext2("test") == files.wikitext2("test", full)


def test_not_found_names_every_directory_and_the_layout(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    with pytest.raises(DataNotFoundError) as info:
        files.c4("test", f"{a}{os.pathsep}{b}")
    message = str(info.value)
    assert "\n" not in message and f"{a}/c4/en" in message and f"{b}/allenai/c4/en" in message
    assert "c4-validation.00000-of-00008.json.gz" in message and "shrinkbench data download" in message
    with pytest.raises(DataNotFoundError, match="DATAPATH is not set"):
        files.ptb("test", None)


def test_wikitext2_status(tmp_path, monkeypatch):
    publish(monkeypatch, "wikitext2", {"wikitext-2-raw-v1.zip": wikitext_zip()})
    folder = write_wikitext(tmp_path)
    found = status.wikitext2(tmp_path)
    assert found.present and found.verified is True and found.path == folder and found.root == tmp_path
    assert found.size == sum(p.stat().st_size for p in folder.iterdir())
    assert status.wikitext2(tmp_path, verify=False).verified is None

    (folder / "wiki.test.raw").write_text("changed\n")
    changed = status.wikitext2(tmp_path)
    assert changed.verified is False and "wiki.test.raw differs" in changed.detail

    (folder / "wikitext-2-raw-v1.zip").unlink()
    unverifiable = status.wikitext2(tmp_path)
    assert unverifiable.present and unverifiable.verified is None and "not there" in unverifiable.detail

    (folder / "wiki.train.raw").unlink()
    partial = status.wikitext2(tmp_path)
    assert not partial.present and partial.path == folder and "lacks wiki.train.raw" in partial.detail
    assert not status.wikitext2(tmp_path / "nothing").present


def test_wikitext2_status_real_checksum_rejects_a_fake_zip(tmp_path):
    write_wikitext(tmp_path)  # the published SHA-256 is the real archive's: this zip is not it
    found = status.wikitext2(tmp_path)
    assert found.present and found.verified is False
    assert "ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11" in found.detail


def test_c4_joins_as_the_papers(tmp_path):
    write_files(tmp_path / "allenai" / "c4" / "en", c4_contents())
    test = files.c4("test", tmp_path)
    assert test == " ".join(C4_TEST_TEXTS[:1100]) and "document 1099." in test and "document 1100." not in test
    assert files.c4("train", tmp_path) == "\n\n".join(C4_TRAIN_TEXTS)


def test_c4_train_is_the_first_documents_of_its_shard(tmp_path, monkeypatch):
    write_files(tmp_path / "c4" / "en", c4_contents())
    monkeypatch.setattr(files, "C4_TRAIN_DOCUMENTS", 1)
    assert files.c4("train", tmp_path) == C4_TRAIN_TEXTS[0] and len(C4_TRAIN_TEXTS) > 1
    with pytest.raises(ValueError, match="train, test"):
        files.c4("validation", tmp_path)


def test_c4_status(tmp_path, monkeypatch):
    contents = c4_contents()
    folder = write_files(tmp_path / "c4" / "en", contents)
    assert status.c4(tmp_path).verified is False  # real published SHA-256s, fake shards
    publish(monkeypatch, "c4", contents)
    found = status.c4(tmp_path)
    assert found.present and found.verified is True and found.path == folder
    assert found.size == sum(len(d) for d in contents.values())
    (folder / "c4-train.00000-of-01024.json.gz").unlink()
    partial = status.c4(tmp_path)
    assert not partial.present and "lacks c4-train.00000-of-01024.json.gz" in partial.detail


def test_ptb(tmp_path, monkeypatch):
    contents = ptb_contents()
    write_files(tmp_path / "simple-examples" / "data", contents)
    assert files.ptb("test", tmp_path) == "test line one test line two"
    assert files.ptb("train", tmp_path) == " ".join(line.strip() for line in PTB_LINES["train"].splitlines())
    assert files.ptb("validation", tmp_path) == "valid line"
    publish(monkeypatch, "ptb", contents)
    found = status.ptb(tmp_path)
    assert found.present and found.verified is True and "3 files match" in found.detail


def test_published_checksums_are_well_formed():
    for corpus in files.CORPORA.values():
        for published in (*corpus.published, *([corpus.archive] if corpus.archive else [])):
            assert len(published.sha256) == 64 and int(published.sha256, 16) >= 0 and published.size > 0
        assert set(corpus.files) <= {"train", "validation", "test"} and {"train", "test"} <= set(corpus.files)
