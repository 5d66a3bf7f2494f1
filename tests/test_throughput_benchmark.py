"""benchmarks/throughput.py reads the fast path from the configs; tests/test_gpu_session.py runs
every loop and ratio of it on the CPU."""

from __future__ import annotations

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
