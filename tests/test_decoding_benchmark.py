"""benchmarks/decoding.py times our image pipelines against torchvision's and prints the table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_tiny(monkeypatch: pytest.MonkeyPatch, *options: str) -> None:
    """``python benchmarks/decoding.py OPTIONS`` on 8 small images, one round, in this process."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import decoding

    tiny = ["--images=8", "--width=64", "--height=48", "--size=32", "--batch-size=4", "--rounds=1"]
    monkeypatch.setattr(sys, "argv", ["decoding.py", *options, *tiny])
    threads = torch.get_num_threads()
    try:
        decoding.main()
    finally:
        # The benchmark pins its process to one thread; run in-process, that process is the suite's,
        # and every later test would compute single-threaded (differently from its subprocesses).
        torch.set_num_threads(threads)


def test_a_tiny_run_prints_every_pipeline_its_ratio_and_output_statistics(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_tiny(monkeypatch)

    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "float32" in line]
    assert [row.split(" | ")[0] for row in rows] == [
        "| torchvision ImageFolder + transforms",
        "| ImageFolderDataModule",
        "| StreamingDataModule",
    ]
    assert all("(3, 32, 32) float32, mean [" in row for row in rows)
    ratios = [line for line in out.splitlines() if line.startswith("| ") and " / torchvision |" in line]
    assert [row.split(" / ")[0] for row in ratios] == ["| ImageFolderDataModule", "| StreamingDataModule"]
    assert "goal: ImageFolderDataModule / torchvision >= 1.5" in out


def test_evaluation_batches_are_the_same_pixels_as_torchvisions_evaluation_transforms(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_tiny(monkeypatch, "--evaluation")

    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "float32" in line]
    assert [row.split(" | ")[0] for row in rows] == [
        "| torchvision ImageFolder + transforms",
        "| ImageFolderDataModule",
    ]
    theirs, ours = (row.split(" | ")[2] for row in rows)
    assert "evaluation crops of 32" in out and ours == theirs  # the same mean and std, to 3 decimals
    assert "goal:" not in out


def test_each_ratio_is_printed_with_the_two_rates_of_the_round_it_comes_from(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import decoding

    args = decoding.argparse.Namespace(
        images=8, width=64, height=48, size=32, batch_size=4, rounds=3, save=False, evaluation=False
    )
    # A warm-up round, then rounds whose ratios are 2, 3 and 2.5: the median is the third round's.
    rates = {
        "torchvision ImageFolder + transforms": [1.0, 100, 100, 200],
        "ImageFolderDataModule": [1.0, 200, 300, 500],
    }

    decoding.report(args, rates, {name: "stats" for name in rates})

    lines = capsys.readouterr().out.splitlines()
    assert "| ImageFolderDataModule / torchvision | 2.50 (2.00-3.00) | 500 against 200 |" in lines
