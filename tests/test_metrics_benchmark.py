"""benchmarks/metrics.py times StageMetrics against torchmetrics' metrics and finds host syncs."""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

import lit_classifier.metrics

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    # Loaded by path, under a name of its own: "metrics" alone would be any module of that name.
    spec = importlib.util.spec_from_file_location("metrics_benchmark", BENCHMARKS / "metrics.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_a_tiny_run_prints_every_row_with_its_ratio_and_the_round_it_came_from(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    threads = torch.get_num_threads()

    bench.main(["--batch-sizes", "8", "--classes", "10", "--rounds", "2", "--updates", "2",
                "--epoch-ends", "1", "--sync-batch", "8", "--sync-classes", "10"])  # fmt: skip

    assert torch.get_num_threads() == threads  # run in-process, it gives the thread count back
    lines = capsys.readouterr().out.splitlines()
    ratio = r" \| \d+\.\d \| \d+\.\d \| \d+\.\d\d \(\d+\.\d\d-\d+\.\d\d\) \| \d+\.\d against \d+\.\d \|$"
    timed = [line for line in lines if re.search(ratio, line)]
    shape = "batch 8, 10 classes"
    assert [row.split(" | ")[0] for row in timed] == [
        f"| train stage: StageMetrics(skip_nonfinite) vs MeanMetric(ignore) + top-1, {shape}",
        f"| eval stage: StageMetrics(detailed) vs MeanMetric(disable) + top-1, top-5, confusion, {shape}",
        f"| loss + top-1: LossAccuracy vs MeanMetric(disable) + MulticlassAccuracy, {shape}",
        f"| confusion: ConfusionMatrix vs MulticlassConfusionMatrix, {shape}",
        f"| epoch end (compute + reset), StageMetrics(skip_nonfinite) vs MeanMetric(ignore) + top-1, {shape}",
        "| epoch end (compute + reset), StageMetrics(detailed) vs MeanMetric(disable) + top-1, top-5, "
        f"confusion, {shape}",
    ]
    syncs = {tuple(line.split(" | ")[:2]): line.split(" | ")[2] for line in lines if line.count(" | ") == 2}
    assert syncs[("| positive control", "`x[x > 0]`")].startswith("nonzero at ")
    assert syncs[("| positive control", "`loss.item()`")].startswith(".item() / bool(tensor) at ")
    assert syncs[("| negative control", "`(x.argmax(1) == t).sum()`")] == "none |"
    # The project's own claim: its per-step updates and epoch ends have none, its progress bar one.
    for stage in ("StageMetrics(skip_nonfinite=True)", "StageMetrics(detailed=True)"):
        assert syncs[(f"| {stage}", "update")] == "none |"
        assert syncs[(f"| {stage}", "compute + reset")] == "none |"
    source, first = inspect.getsourcelines(lit_classifier.metrics.StageMetrics.running_loss)
    item = first + next(n for n, line in enumerate(source) if ".item()" in line and "count" in line)
    assert syncs[("| StageMetrics", "running_loss (the progress bar's, a sync by design)")] == (
        f".item() / bool(tensor) at lit_classifier/metrics.py:{item} |"
    )
    # torchmetrics' NaN check: `if nans.any() or ...`, located in torchmetrics (not cut as torch's own).
    error_check = syncs[("| MeanMetric(nan_strategy='error')", "update(loss, weight=8)")]
    assert error_check.startswith(".item() / bool(tensor) at torchmetrics/aggregation.py:")
    assert "| StageMetrics(skip_nonfinite=True) (hand-written) | yes | yes | none |" in lines

    # The printed ratio is the median round's, beside that round's own two times (ratios 2, 3, 2.5).
    assert bench.median_round([2.0, 6.0, 5.0], [1.0, 2.0, 2.0]) == (2.5, 2.0, 3.0, 2)


def test_the_sync_detector_flags_data_dependent_operations_and_nothing_else(bench: ModuleType) -> None:
    loss, logits, target = bench.batches(16, 10, 1, grad=False)[0]
    found = {
        name: bench.data_dependent_op(control, loss, logits, target)
        for name, control in bench.positive_controls().items()
    }
    assert {name: finding.op for name, finding in found.items() if finding} == {
        "loss.item()": "aten._local_scalar_dense",  # a 0-d input: FakeTensorMode's value memo is off
        "x[0, 0].item()": "aten._local_scalar_dense",
        "torch.tensor(2.0).item()": "aten._local_scalar_dense",  # constant propagation is off
        "x[x > 0]": "aten.nonzero",
        "t.nonzero()": "aten.nonzero",
        "torch.bincount(t, minlength=C)": "aten.bincount",
        "torch.unique(t)": "aten._unique2",
        "if torch.any(x > 0): ...": "aten._local_scalar_dense",
    }
    assert found["x[x > 0]"].where.startswith("benchmarks/metrics.py:")  # the caller's line, not torch's
    for name, control in bench.negative_controls().items():
        assert bench.data_dependent_op(control, loss, logits, target) is None, name

    # Metric objects: their states are faked too (a sync on a state is found), and stay untouched.
    from lit_classifier.metrics import StageMetrics

    metrics = StageMetrics(10, detailed=True)
    metrics.update(loss, logits, target)
    finding = bench.data_dependent_op(lambda m: m.running_loss(), metrics)
    assert finding is not None and finding.op == "aten._local_scalar_dense"
    assert bench.data_dependent_op(lambda m, *batch: m.update(*batch), metrics, loss, logits, target) is None
    assert int(metrics.loss_acc.count) == 16 and int(metrics.confusion_counts.counts.sum()) == 16
