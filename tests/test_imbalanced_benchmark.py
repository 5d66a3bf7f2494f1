"""``benchmarks/imbalanced.py``: the image folder it writes, and its table, run tiny."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
ROW = r"^\| (.+?) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+)x \|$"


@pytest.fixture
def imbalanced(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import imbalanced

    return imbalanced


def test_the_folder_cuts_three_classes_to_a_tenth_and_tests_on_all_alike(
    imbalanced: ModuleType, tmp_path: Path
) -> None:
    root = imbalanced.write_folder(tmp_path / "objects", per_class=20, test=3)

    train = {folder.name: len(list(folder.iterdir())) for folder in (root / "train").iterdir()}
    test = {folder.name: len(list(folder.iterdir())) for folder in (root / "test").iterdir()}
    assert train == {name: 2 if name in imbalanced.RARE else 20 for name in imbalanced.SHAPE_NAMES}
    assert test == dict.fromkeys(imbalanced.SHAPE_NAMES, 3)


def test_the_benchmark_prints_each_option_beside_the_defaults(
    imbalanced: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["imbalanced.py", "--per-class=40", "--test=4", "--epochs=1", "--seeds=1"]
    monkeypatch.setattr(sys, "argv", argv)

    imbalanced.main()

    rows = re.findall(ROW, capsys.readouterr().out, re.M)
    assert [row[0] for row in rows] == list(imbalanced.OPTIONS)
    assert rows[0][4] == "1.00"  # the defaults against themselves
    for _, balanced, rare, accuracy, _ in rows:
        assert all(0 <= float(value) <= 1 for value in (balanced, rare, accuracy))
