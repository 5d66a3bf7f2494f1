"""What the documented commands leave in a clone of the repository is ignored by git."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import REPO
from lit_classifier.command import optimize


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """An empty repository in the test's folder with the project's ``.gitignore``."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    git("init", "-q")
    shutil.copy(REPO / ".gitignore", tmp_path / ".gitignore")
    return tmp_path


def test_the_chunks_of_the_documented_optimize_command_are_ignored(clone: Path) -> None:
    documented = next(
        line for line in (REPO / "docs" / "data.md").read_text().splitlines()
        if line.startswith("lit-classifier-optimize --data lit_classifier.DigitsDataModule")
    )  # fmt: skip

    optimize.main(shlex.split(documented)[1:])

    assert any((clone / "chunks").rglob("*"))
    assert git("status", "--porcelain", "--untracked-files=all").splitlines() == ["?? .gitignore"]


def test_the_files_the_readme_writes_beside_the_code_are_ignored(clone: Path) -> None:
    written = ["digits.ckpt", "model.onnx", "model.pt2", "sweeps.db", "runs/digits/version_0/metrics.csv"]
    for name in written:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_bytes(b"")

    assert git("check-ignore", *written).splitlines() == written
