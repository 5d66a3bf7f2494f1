"""Shared fixtures: every test runs in its own empty folder; the commands' expected warnings are
ignored here too, for the tests that build a Trainer themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from lit_classifier.command.quiet import EXPECTED_WARNINGS


def pytest_configure(config: pytest.Config) -> None:
    for pattern in EXPECTED_WARNINGS:
        config.addinivalue_line("filterwarnings", f"ignore:{pattern}")


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run each test in its own empty folder, so `runs/` never leaks between tests."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkpoint of a short command-line run on digits (one per test process), for tests that
    read it or plant something into a copy of it: they never change the file itself."""
    from helpers import FAST, cli, run_dir

    folder = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        return folder / run_dir(cli("fit", *FAST, "--plots.enabled=false")) / "checkpoints" / "last.ckpt"
