"""``shrinkbench.errors.one_line``: the one-line form of an exception that every error message embeds."""

from __future__ import annotations

from shrinkbench.errors import PluginError, one_line


def test_type_and_message_with_whitespace_collapsed():
    assert one_line(ValueError("bad\n   shape\t(3, 4)")) == "ValueError: bad shape (3, 4)"
    assert one_line(ValueError("bad\n shape"), with_type=False) == "bad shape"


def test_a_long_message_is_cut_to_the_limit():
    line = one_line(RuntimeError("x" * 500), 50, with_type=False)
    assert len(line) == 50 and line.endswith("...")
    assert one_line(RuntimeError("x" * 50), 50, with_type=False) == "x" * 50


def test_no_message_gives_the_type_name():
    assert one_line(KeyboardInterrupt()) == "KeyboardInterrupt"
    assert one_line(KeyboardInterrupt(), with_type=False) == "KeyboardInterrupt"


def test_plugin_errors_embed_it():
    error = PluginError.wrap("strategy 'x' (pkg)", RuntimeError("blew\nup"))
    assert str(error) == "strategy 'x' (pkg) raised RuntimeError: blew up"
