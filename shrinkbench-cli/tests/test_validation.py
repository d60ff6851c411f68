"""What the commands check before they write: ``new-plugin`` writes its skeleton whole or not at all,
``check-models`` refuses an output file it could not write before any model runs, and the group turns a file
system error no check foresaw into one line."""

from __future__ import annotations

import os

import pytest

from shrinkbench.errors import ShrinkBenchError
from shrinkbench_cli.app import check_output_file
from shrinkbench_cli.commands import new_plugin
from shrinkbench_cli.commands.new_plugin import write_plugin


def test_the_skeleton_is_written_whole_into_new_folders(tmp_path):
    files = write_plugin("my-pruner", tmp_path / "a" / "b")
    root = tmp_path / "a" / "b" / "shrinkbench-my-pruner"
    assert all(path.is_file() and root in path.parents for path in files) and len(files) == 6
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["shrinkbench-my-pruner"]  # no temporary left


@pytest.mark.parametrize("broken", ["write_text", "rename"])
def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch, broken):
    if broken == "rename":
        monkeypatch.setattr(new_plugin.os, "rename", lambda *_: (_ for _ in ()).throw(OSError(28, "No space left")))
    else:
        real, calls = type(tmp_path).write_text, []

        def write_text(self, *args, **kwargs):  # the third file fails: a half-written skeleton must not stay
            calls.append(self)
            if len(calls) == 3:
                raise OSError(28, "No space left on device")
            return real(self, *args, **kwargs)

        monkeypatch.setattr(type(tmp_path), "write_text", write_text)
    with pytest.raises(ShrinkBenchError, match="No space left.*nothing was written"):
        write_plugin("my-pruner", tmp_path / "new" / "deeper")
    assert list(tmp_path.iterdir()) == []  # the folders made for --dir are removed again


def test_an_empty_target_folder_is_replaced_a_file_or_full_one_is_refused(tmp_path):
    (tmp_path / "shrinkbench-empty").mkdir()
    assert write_plugin("empty", tmp_path)
    (tmp_path / "shrinkbench-filed").write_text("mine")
    with pytest.raises(ShrinkBenchError, match="already exists and is a file"):
        write_plugin("filed", tmp_path)
    with pytest.raises(ShrinkBenchError, match="already exists and is not empty"):
        write_plugin("empty", tmp_path)
    with pytest.raises(ShrinkBenchError, match="use at most 64 characters"):
        write_plugin("a" * 65, tmp_path)


def test_check_output_file(tmp_path):
    check_output_file(None, "--csv")
    check_output_file(str(tmp_path / "rows.csv"), "--csv")
    (tmp_path / "rows.csv").write_text("old")
    check_output_file(str(tmp_path / "rows.csv"), "--csv")  # replaced when the command finishes
    (tmp_path / "afile").write_text("")
    for path, message in ((tmp_path, "is a directory"), (tmp_path / "afile" / "x.csv", "afile is a file"),
                          (tmp_path / "no" / "x.csv", f"{tmp_path / 'no'} does not exist")):
        with pytest.raises(ShrinkBenchError, match=message):
            check_output_file(str(path), "--csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "rows.csv"]
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o500)
        with pytest.raises(ShrinkBenchError, match="is not writable"):
            check_output_file(str(tmp_path / "ro" / "x.csv"), "--json")


def test_an_unforeseen_file_system_error_is_one_line(monkeypatch, capsys):
    import click

    from shrinkbench_cli.app import ShrinkBenchGroup

    @click.group(cls=ShrinkBenchGroup)
    def group() -> None:
        pass

    @group.command()
    def broken() -> None:
        raise PermissionError(13, "Permission denied", "/somewhere/file")

    with pytest.raises(SystemExit) as exited:
        group.main(["broken"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == "error: Permission denied (/somewhere/file)\n"
