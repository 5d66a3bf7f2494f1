"""Shared fixtures: every test runs in its own empty folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run each test in its own empty folder, so `runs/` never leaks between tests."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
