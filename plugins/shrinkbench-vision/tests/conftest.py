"""Fixtures of the vision tests (dataset writers live in ``vision_data_writers``)."""

from __future__ import annotations

import pytest


@pytest.fixture
def no_datapath(monkeypatch):
    """Run without ``$DATAPATH`` so only explicit roots are searched."""
    monkeypatch.delenv("DATAPATH", raising=False)


