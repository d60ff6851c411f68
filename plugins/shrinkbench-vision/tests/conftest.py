"""Fixtures of the vision tests (dataset writers live in ``vision_data_writers``)."""

from __future__ import annotations

import pytest


@pytest.fixture
def no_datapath(monkeypatch):
    """Run without ``$DATAPATH`` so only explicit roots are searched."""
    monkeypatch.delenv("DATAPATH", raising=False)


@pytest.fixture
def one_thread():
    """Run torch on one thread: for small models a second OpenMP thread only adds contention on 2 busy cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
