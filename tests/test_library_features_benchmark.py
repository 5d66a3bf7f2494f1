"""benchmarks/library_features.py times each library feature beside the hand-written piece it
replaced (or did not) and prints one table; the pairs it compares do the same work."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import library_features

    return library_features


def test_a_quick_run_prints_every_row_with_both_times_and_the_ratio(bench) -> None:  # type: ignore[no-untyped-def]
    threads = torch.get_num_threads()

    text = bench.main(["--quick", "--only", "evaluation", "training", "split"])  # the ONNX row: seconds

    assert torch.get_num_threads() == threads  # the suite's own thread count is given back
    rows = [line for line in text.splitlines() if line.startswith("| ") and " against " in line]
    assert [row.split(" | ")[0] for row in rows] == [
        "| evaluation image",
        "| training crop",
        "| split of 50,000",
    ]
    assert all(float(row.split(" | ")[5].split()[0]) > 0 for row in rows)  # a ratio per row


def test_each_pair_does_the_same_work(bench) -> None:  # type: ignore[no-untyped-def]
    pixels = bench.decode(bench.photo_bytes())

    assert torch.equal(bench.EvaluationImage(256, (224, 224)).geometry(pixels), bench.hand_evaluation(pixels))
    ours = bench.random_split_indices(50_000, (0.1,), seed=0)
    assert all(torch.equal(a, b) for a, b in zip(ours, bench.library_split(50_000, 0.1, 0), strict=True))
