"""The defaults learn real-looking images as well as the hand-written recipe does, on the same files.

Through the real command (``fit`` then ``test --ckpt_path last``, in this process) on rendered
handwritten-style digits in MNIST's idx files, beside ``benchmarks/classic_loop.py``'s recipe; and
``benchmarks/real_data.py``, which prints the table of every set, run tiny.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from real_looking import SHAPE_NAMES, render_digits, render_objects, write_rendered_mnist

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# | data set | data module | training images: defaults (recipe) / test images | ours | recipe | ratio |
ROW = r"^\| ([^|]+) \| `(\w+)` \| ([\d,]+) \(([\d,]+)\) / ([\d,]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+)x \|$"


@pytest.fixture
def real_data(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import real_data

    return real_data


def nearest_mean_accuracy(render: Callable[[np.ndarray, int], np.ndarray]) -> float:
    """Test accuracy of a template matcher (each class's mean training image) on rendered images."""
    train, test = np.arange(300) % 10, np.arange(200) % 10
    images = render(train, 5).reshape(300, -1).astype(np.float64)
    means = np.stack([images[train == label].mean(axis=0) for label in range(10)])
    distances = ((render(test, 6).reshape(200, 1, -1) - means[None]) ** 2).sum(axis=-1)
    return float((distances.argmin(axis=1) == test).mean())


def test_rendered_images_are_no_templates_a_matcher_could_read() -> None:
    assert 0.3 < nearest_mean_accuracy(render_digits) < 0.85  # strokes, fonts, slant and place vary
    assert nearest_mean_accuracy(render_objects) < 0.4  # colour, size, tilt, ground and light vary
    assert render_digits(np.arange(3)).shape == (3, 28, 28)
    assert render_objects(np.arange(3)).shape == (3, 32, 32, 3) and len(SHAPE_NAMES) == 10


def test_fit_defaults_reach_the_hand_written_recipe_on_rendered_mnist_digits(
    tmp_path: Path, real_data: ModuleType
) -> None:
    data = tmp_path / "data"
    write_rendered_mnist(data, train=3000, test=500)
    mnist = real_data.SETS["mnist"]

    ours, trained, _ = real_data.defaults_accuracy(mnist, data, epochs=8)  # fit, then test --ckpt_path last
    hand, _ = real_data.recipe_accuracy(mnist, data, epochs=8)

    assert trained == 2700  # val_fraction 0.1 held out of the 3,000 training files
    # Counts of the 500 test images each got right: the two accuracies are float32 and float64, so
    # equal counts could compare as unequal fractions.
    correct = round(ours * 500), round(hand * 500)
    assert correct[0] >= correct[1] > 400, correct


def test_the_benchmark_prints_each_sets_defaults_beside_the_recipe(
    real_data: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sets = ["digits", "fashion", "cifar10"]
    argv = ["real_data.py", "--sets", *sets, "--train=150", "--test=20", "--epochs=1", "--seeds=1"]
    monkeypatch.setattr(sys, "argv", argv)

    real_data.main()

    rows = re.findall(ROW, capsys.readouterr().out, re.M)
    assert [row[1] for row in rows] == [real_data.SETS[name].data_module for name in sets]
    assert rows[0][2:5] == ("1,168", "1,168", "359")  # DigitsDataModule's splits, on both sides
    for *_, ours, hand, ratio in rows:
        assert float(ratio) == pytest.approx(float(ours) / float(hand), abs=0.01)
    assert [row[2:5] for row in rows[1:]] == [("135", "150", "20")] * 2


def test_the_benchmark_tests_each_checkpoint_with_the_tta_its_data_allows(
    real_data: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["real_data.py", "--sets", "cifar10", "--train=150", "--test=20", "--epochs=1", "--seeds=1"]
    monkeypatch.setattr(sys, "argv", [*argv, "--tta", "flip", "crops"])

    real_data.main()

    out = capsys.readouterr().out
    assert "| defaults with --model.tta flip | defaults with --model.tta crops |" in out
    row = next(line for line in out.splitlines() if "`CIFAR10DataModule`" in line)
    flip, crops = row.strip(" |").split(" | ")[-2:]
    assert 0 <= float(flip) <= 1  # CIFAR-10's training mirrors its images
    assert crops == real_data.NOT_ALLOWED  # but does not crop them at random
