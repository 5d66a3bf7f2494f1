"""benchmarks/throughput.py runs every configuration on the CPU and reports each goal's ratio."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def throughput(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import throughput

    return throughput


def test_fast_path_settings_are_the_configs(throughput: ModuleType) -> None:
    from throughput_configs import best_eager, fast_path

    fast = fast_path(torch.device("cpu"))
    options = dict(fast.optimizer)

    assert (fast.model, fast.data_path, fast.bf16, fast.channels_last) == (
        "fast_cifar",
        "resident",
        True,
        True,
    )
    assert fast.compile_mode == "reduce-overhead" and options["nesterov"] is True
    assert options["fused"] is False  # fused SGD on CUDA only
    assert best_eager(torch.device("cpu")).compile_mode is None


def test_tiny_cpu_run_prints_every_loop_and_ratio(
    throughput: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        sys,
        "argv",
        ["throughput.py", "--device=cpu", "--dataset=synthetic", "--image-size=8", "--train-size=128",
         "--batch-size=64", "--rounds=1", "--data-paths", "loader", "resident", "--fast-path",
         "--compile-modes", "none", "--bare", "--noise-floor"],
    )  # fmt: skip

    throughput.main()

    out = capsys.readouterr().out
    loops = ["Lightning small_cnn loader fp32", "hand-written small_cnn resident fp32"]
    loops += ["classic recipe (hand-written)", "best eager (hand-written)", "fast path (Lightning)"]
    assert all(loop in out for loop in loops)
    assert "parity small_cnn loader fp32" in out and "/ classic recipe (goal >= 2.5)" in out
    assert "/ best eager (goal >= 1.3)" in out and "n/a" in out  # no GPU memory on the CPU
    assert "bare Lightning small_cnn resident fp32 / hand-written (the Trainer's own cost)" in out
    assert "Lightning small_cnn resident fp32 / small_cnn loader fp32 (data path)" in out
    assert "hand-written small_cnn loader fp32, again / hand-written (noise floor, 1 ideally)" in out
