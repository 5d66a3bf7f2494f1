"""StageMetrics against torchmetrics' own metrics: time per update and per epoch end, host syncs.

``lit_classifier.metrics.StageMetrics`` is hand-written (``LossAccuracy``: sample-weighted mean loss
and top-1 accuracy in one update, with ``skip_nonfinite``; ``ConfusionMatrix``: ``index_add_``) beside
torchmetrics' top-5 ``MulticlassAccuracy``. Each row sets it against the closest set of torchmetrics'
own metrics (``MeanMetric`` weighted by the batch size, ``MulticlassAccuracy(average="micro",
validate_args=False)`` top-1 and top-5, ``MulticlassConfusionMatrix(validate_args=False)``), on the
same batches of logits, labels and loss, on the CPU, one thread:

- **update**: seconds per ``update``, for the training stage (``skip_nonfinite``; torchmetrics:
  ``MeanMetric(nan_strategy="ignore")``, the option that leaves a NaN batch's loss out), the
  evaluation stage (``detailed``: top-5 and the confusion matrix; torchmetrics:
  ``MeanMetric(nan_strategy="disable")``, the one without a check) and the two hand-written pieces
  alone; **compute + reset**: seconds per epoch end of each stage. Rounds alternate the two sides; a
  ratio (torchmetrics over hand-written: above 1, torchmetrics is slower) is the median of the
  per-round ratios, printed with its range and the two times of the round that gave it (the lower
  middle one for an even count), so that the three figures agree.
- **host syncs**: on the CPU there is none to see, so each call runs once on fake tensors
  (``FakeTensorMode``, constant propagation off), where an operation whose result depends on the
  values (on CUDA: a host sync: ``.item()``, ``if tensor``, boolean-mask indexing, ``nonzero``,
  ``bincount``, ``unique``) raises; the table names the first such operation and its line. Positive
  and negative controls check the detector in the same run.
- **skip non-finite**: whether each torchmetrics option leaves a batch with a NaN or infinite loss
  out of the loss, the accuracy and the count (as ``skip_nonfinite`` does), whether its weighted
  mean is exact, and whether it syncs.

    python benchmarks/metrics.py            # batches of 64 and 256, 10 and 100 classes, < 1 min
    python benchmarks/metrics.py --quick    # smoke run, seconds
    python benchmarks/metrics.py --save     # ... and the tables in benchmarks/results/
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torchmetrics
from torch import Tensor, nn
from torch._subclasses.fake_tensor import (
    DataDependentOutputException,
    DynamicOutputShapeException,
    FakeTensorMode,
)
from torch.nn import functional as F
from torchmetrics import MeanMetric, Metric, SumMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from lit_classifier.metrics import ConfusionMatrix, LossAccuracy, StageMetrics

RESULTS = Path(__file__).resolve().parent / "results"
TORCH_DIR = str(Path(torch.__file__).resolve().parent) + os.sep
PLAIN_NAMES = {"aten._local_scalar_dense": ".item() / bool(tensor)", "aten._unique2": "unique"}


# --- the torchmetrics-only side ------------------------------------------------------------------


class TorchmetricsStage(nn.Module):
    """The closest StageMetrics built of torchmetrics' metrics only: mean loss weighted by the batch
    size, micro top-1 accuracy and, when ``detailed``, top-5 (more than 5 classes) and the confusion
    matrix. ``skip_nonfinite`` has no equivalent (see the skip table); ``nan_strategy`` is
    ``MeanMetric``'s."""

    def __init__(self, num_classes: int, detailed: bool, nan_strategy: str | float) -> None:
        super().__init__()
        self.loss = MeanMetric(nan_strategy=nan_strategy)
        self.top1 = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.top5 = (
            MulticlassAccuracy(num_classes, top_k=5, average="micro", validate_args=False)
            if detailed and num_classes > 5
            else None
        )
        self.confusion = MulticlassConfusionMatrix(num_classes, validate_args=False) if detailed else None

    def update(self, loss: Tensor, logits: Tensor, target: Tensor) -> None:
        loss, logits = loss.detach(), logits.detach()
        mean_loss_update(self.loss, loss, target.shape[0])
        self.top1.update(logits, target)
        if self.top5 is not None:
            self.top5.update(logits, target)
        if self.confusion is not None:
            self.confusion.update(logits, target)

    def compute(self) -> dict[str, Tensor]:
        values = {"loss": self.loss.compute(), "acc": self.top1.compute()}
        self.loss.reset()
        self.top1.reset()
        if self.top5 is not None:
            values["top5_acc"] = self.top5.compute()
            self.top5.reset()
        if self.confusion is not None:
            values["confusion"] = self.confusion.compute()
            self.confusion.reset()
        return values


def mean_loss_update(metric: MeanMetric, loss: Tensor, size: int) -> None:
    """A batch's mean loss into ``metric``, weighted by the batch size. torchmetrics 1.9 replaces
    ``weight`` by ones under ``nan_strategy="disable"`` (Lightning-AI/torchmetrics#3434), so there
    the loss goes in once per sample instead (an expanded view: no copy)."""
    if metric.nan_strategy == "disable":
        metric.update(loss.expand(size))
    else:
        metric.update(loss, weight=size)


class LossTop1(nn.Module):
    """torchmetrics' equivalent of ``LossAccuracy()``: ``MeanMetric`` and micro top-1 accuracy."""

    def __init__(self, num_classes: int, nan_strategy: str | float = "disable") -> None:
        super().__init__()
        self.loss = MeanMetric(nan_strategy=nan_strategy)
        self.top1 = MulticlassAccuracy(num_classes, average="micro", validate_args=False)

    def update(self, loss: Tensor, logits: Tensor, target: Tensor) -> None:
        mean_loss_update(self.loss, loss.detach(), target.shape[0])
        self.top1.update(logits.detach(), target)


# --- timing ---------------------------------------------------------------------------------------


@dataclass
class Pair:
    """One table row: a hand-written object and its torchmetrics counterpart, fed the same batches."""

    label: str
    hand: Any
    theirs: Any
    update: Callable[[Any, Tensor, Tensor, Tensor], object]
    epoch_end: bool = False  # time compute + reset instead of update
    training: bool = False  # fed training batches (logits and loss that require grad)
    seconds: dict[str, list[float]] = field(default_factory=lambda: {"hand": [], "theirs": []})


def batches(size: int, classes: int, count: int, grad: bool) -> list[tuple[Tensor, Tensor, Tensor]]:
    """``count`` batches of (mean loss, logits, labels), as a training (``grad``) or evaluation step
    hands them to the metrics."""
    out = []
    for _ in range(count):
        logits = torch.randn(size, classes, requires_grad=grad)
        target = torch.randint(0, classes, (size,))
        out.append((F.cross_entropy(logits, target), logits, target))
    return out


def stage_update(metrics: Any, loss: Tensor, logits: Tensor, target: Tensor) -> None:
    metrics.update(loss, logits, target)


def confusion_update(metrics: Any, loss: Tensor, logits: Tensor, target: Tensor) -> None:
    metrics.update(logits.detach(), target)


def pairs_for(size: int, classes: int) -> list[Pair]:
    shape = f"batch {size}, {classes} classes"
    train = f"train stage: StageMetrics(skip_nonfinite) vs MeanMetric(ignore) + top-1, {shape}"
    evaluate = f"eval stage: StageMetrics(detailed) vs MeanMetric(disable) + top-1, top-5, confusion, {shape}"
    return [
        Pair(train, StageMetrics(classes, skip_nonfinite=True), TorchmetricsStage(classes, False, "ignore"),
             stage_update, training=True),
        Pair(evaluate, StageMetrics(classes, detailed=True), TorchmetricsStage(classes, True, "disable"),
             stage_update),
        Pair(f"loss + top-1: LossAccuracy vs MeanMetric(disable) + MulticlassAccuracy, {shape}",
             LossAccuracy(), LossTop1(classes), stage_update),
        Pair(f"confusion: ConfusionMatrix vs MulticlassConfusionMatrix, {shape}",
             ConfusionMatrix(classes), MulticlassConfusionMatrix(classes, validate_args=False),
             confusion_update),
        Pair(f"epoch end (compute + reset), {train.removeprefix('train stage: ')}",
             StageMetrics(classes, skip_nonfinite=True), TorchmetricsStage(classes, False, "ignore"),
             stage_update, epoch_end=True, training=True),
        Pair(f"epoch end (compute + reset), {evaluate.removeprefix('eval stage: ')}",
             StageMetrics(classes, detailed=True), TorchmetricsStage(classes, True, "disable"),
             stage_update, epoch_end=True),
    ]  # fmt: skip


def compute_and_reset(metrics: Any) -> object:
    if isinstance(metrics, StageMetrics | TorchmetricsStage):
        return metrics.compute()  # both reset inside
    value = metrics.compute()
    metrics.reset()
    return value


def time_side(pair: Pair, side: str, data: list[tuple[Tensor, Tensor, Tensor]], repeats: int) -> float:
    """Seconds per update (or per compute + reset after one untimed update) over ``repeats`` calls."""
    metrics = pair.hand if side == "hand" else pair.theirs
    if not pair.epoch_end:
        start = time.perf_counter()
        for i in range(repeats):
            pair.update(metrics, *data[i % len(data)])
        return (time.perf_counter() - start) / repeats
    total = 0.0
    for i in range(repeats):
        pair.update(metrics, *data[i % len(data)])
        start = time.perf_counter()
        compute_and_reset(metrics)
        total += time.perf_counter() - start
    return total / repeats


def run_timings(args: argparse.Namespace) -> list[Pair]:
    torch.manual_seed(0)
    rows: list[Pair] = []
    data: dict[str, list[tuple[Tensor, Tensor, Tensor]]] = {}
    for size in args.batch_sizes:
        for classes in args.classes:
            train, evaluate = batches(size, classes, 8, grad=True), batches(size, classes, 8, grad=False)
            for pair in pairs_for(size, classes):
                rows.append(pair)
                data[pair.label] = train if pair.training else evaluate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # none expected; a stray one would not be timed
        for round_ in range(args.rounds + 1):  # the first round warms up
            for pair in rows:
                repeats = args.epoch_ends if pair.epoch_end else args.updates
                sides = ("hand", "theirs") if round_ % 2 == 0 else ("theirs", "hand")
                for side in sides:
                    seconds = time_side(pair, side, data[pair.label], repeats)
                    if round_ > 0:
                        pair.seconds[side].append(seconds)
    return rows


def median_round(theirs: Sequence[float], hand: Sequence[float]) -> tuple[float, float, float, int]:
    """The median of the per-round ratios theirs / hand (the lower middle one for an even count),
    their lowest and highest, and the index of the round that gave the median."""
    ratios = [a / b for a, b in zip(theirs, hand, strict=True)]
    middle = ratios.index(statistics.median_low(ratios))
    return ratios[middle], min(ratios), max(ratios), middle


# --- data-dependent operations (host syncs on CUDA) ------------------------------------------------


@dataclass(frozen=True)
class Finding:
    op: str  # the aten operation, e.g. "aten.bincount"
    where: str  # the first line outside torch that called it, e.g. "torchmetrics/aggregation.py:93"

    def __str__(self) -> str:
        return f"{PLAIN_NAMES.get(self.op, self.op.removeprefix('aten.'))} at {self.where}"


def caller_outside_torch(tb: Any) -> str:
    for frame in reversed(traceback.extract_tb(tb)):
        path = str(Path(frame.filename).resolve())
        if not path.startswith(TORCH_DIR):
            short = path.split("site-packages/")[-1]
            for root in (str(Path(__file__).resolve().parents[1]) + "/", "src/"):
                short = short.removeprefix(root)
            return f"{short}:{frame.lineno}"
    return "?"


def data_dependent_op(call: Callable[..., object], *arguments: Any) -> Finding | None:
    """Runs ``call(*arguments)`` once on fake tensors: copies of the tensors among ``arguments`` and of
    the states of the torchmetrics ``Metric``s in the modules among them (whose real states stay as
    they were). Returns the first operation whose output (its value, or its shape) depends on the
    values of tensors, and the line that called it; None if there is none.

    Two shortcuts of FakeTensorMode are off, as each would let an ``.item()`` through that is a sync
    on CUDA: constant propagation (one-element tensors made inside the call, ``torch.tensor(0.0)``,
    are computed for real) and the memo of a 0-d tensor's real value (a metric's scalar state, the
    loss). The controls (``positive_controls``, ``negative_controls``) check both.
    """
    mode = FakeTensorMode(allow_fallback_kernels=False)  # an op without a fake kernel: an error, not a guess
    mode.may_turn_const = lambda t: False  # type: ignore[method-assign]

    def fake(value: Any) -> Any:
        if isinstance(value, Tensor):
            out = mode.from_tensor(value)
            out.item_memo = None  # else a 0-d tensor's .item() answers its real value, without raising
            return out
        if isinstance(value, list):
            return [fake(v) for v in value]
        return value

    faked = []
    for argument in arguments:
        if isinstance(argument, nn.Module):
            argument = copy.deepcopy(argument)
            for module in argument.modules():
                if isinstance(module, Metric):
                    for name, default in module._defaults.items():
                        setattr(module, name, fake(getattr(module, name)))
                        module._defaults[name] = fake(default)
        faked.append(fake(argument))
    try:
        with mode, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call(*faked)
    except (DataDependentOutputException, DynamicOutputShapeException) as error:
        func = error.func  # type: ignore[attr-defined]
        return Finding(f"aten.{func._opname}", caller_outside_torch(error.__traceback__))
    return None


def positive_controls() -> dict[str, Callable[[Tensor, Tensor, Tensor], object]]:
    """Calls that are host syncs on CUDA, each on (mean loss, logits, labels)."""

    def if_any(loss: Tensor, x: Tensor, t: Tensor) -> object:
        if torch.any(x > 0):
            return x
        return t

    return {
        "loss.item()": lambda loss, x, t: loss.item(),
        "x[0, 0].item()": lambda loss, x, t: x[0, 0].item(),
        "torch.tensor(2.0).item()": lambda loss, x, t: torch.tensor(2.0).item(),
        "x[x > 0]": lambda loss, x, t: x[x > 0],
        "t.nonzero()": lambda loss, x, t: t.nonzero(),
        "torch.bincount(t, minlength=C)": lambda loss, x, t: torch.bincount(t, minlength=x.shape[1]),
        "torch.unique(t)": lambda loss, x, t: torch.unique(t),
        "if torch.any(x > 0): ...": if_any,
    }


def negative_controls() -> dict[str, Callable[[Tensor, Tensor, Tensor], object]]:
    """Calls that are not: fixed output shapes, decided on the device."""

    def index_add(loss: Tensor, x: Tensor, t: Tensor) -> Tensor:
        counts = torch.zeros(x.shape[1] ** 2, dtype=torch.long)
        return counts.index_add_(0, t * x.shape[1] + x.argmax(1), torch.ones_like(t))

    return {
        "(x.argmax(1) == t).sum()": lambda loss, x, t: (x.argmax(1) == t).sum(),
        "torch.where(torch.isfinite(loss), loss, 0.0)": lambda loss, x, t: torch.where(
            torch.isfinite(loss), loss, 0.0
        ),
        "x.masked_fill(x > 0, 0.0)": lambda loss, x, t: x.masked_fill(x > 0, 0.0),
        "zeros.index_add_(0, t * C + x.argmax(1), ones)": index_add,
        "x.topk(5, dim=1)": lambda loss, x, t: x.topk(5, dim=1),
    }


def sync_checks(size: int, classes: int) -> list[tuple[str, str, Finding | None]]:
    """(object, call, finding) for the controls and every metric of the tables."""
    loss, logits, target = batches(size, classes, 1, grad=False)[0]
    rows: list[tuple[str, str, Finding | None]] = []
    for kind, controls in (
        ("positive control", positive_controls()),
        ("negative control", negative_controls()),
    ):
        for name, control in controls.items():
            rows.append((kind, f"`{name}`", data_dependent_op(control, loss, logits, target)))

    def update(metric: Any, *tensors: Tensor) -> None:
        metric.update(*tensors)

    def after_one_update(metric: Any) -> Any:
        metric = copy.deepcopy(metric)
        metric.update(loss, logits, target)
        return metric

    hand = {
        "StageMetrics(skip_nonfinite=True)": StageMetrics(classes, skip_nonfinite=True),
        "StageMetrics(detailed=True)": StageMetrics(classes, detailed=True),
    }
    for name, metric in hand.items():
        rows.append((name, "update", data_dependent_op(update, metric, loss, logits, target)))
    for name, metric in hand.items():
        rows.append((name, "compute + reset", data_dependent_op(compute_and_reset, after_one_update(metric))))
    rows.append(
        (
            "StageMetrics",
            "running_loss (the progress bar's, a sync by design)",
            data_dependent_op(
                lambda m: m.running_loss(), after_one_update(hand["StageMetrics(detailed=True)"])
            ),
        )
    )
    for strategy in ("error", "warn", "ignore", 0.0, "disable"):
        rows.append(
            (
                f"MeanMetric(nan_strategy={strategy!r})",
                f"update(loss, weight={size})",
                data_dependent_op(
                    lambda m, v: m.update(v, weight=size), MeanMetric(nan_strategy=strategy), loss
                ),
            )
        )
    rows.append(
        (
            "MeanMetric(nan_strategy='disable')",
            f"update(loss.expand({size}))",
            data_dependent_op(
                lambda m, v: m.update(v.expand(size)), MeanMetric(nan_strategy="disable"), loss
            ),
        )
    )
    theirs: dict[str, Metric] = {
        'MulticlassAccuracy(average="micro", validate_args=False)': MulticlassAccuracy(
            classes, average="micro", validate_args=False
        ),
        'MulticlassAccuracy(top_k=5, average="micro", validate_args=False)': MulticlassAccuracy(
            classes, top_k=5, average="micro", validate_args=False
        ),
        'MulticlassAccuracy(average="micro") (validate_args=True)': MulticlassAccuracy(
            classes, average="micro"
        ),
        "MulticlassConfusionMatrix(validate_args=False)": MulticlassConfusionMatrix(
            classes, validate_args=False
        ),
        "MulticlassConfusionMatrix() (validate_args=True)": MulticlassConfusionMatrix(classes),
    }
    for name, metric in theirs.items():
        rows.append((name, "update(logits, labels)", data_dependent_op(update, metric, logits, target)))
    stages = {
        'torchmetrics train stage (MeanMetric "ignore" + top-1)': TorchmetricsStage(classes, False, "ignore"),
        'torchmetrics eval stage (MeanMetric "disable" + top-1, top-5, confusion)': TorchmetricsStage(
            classes, True, "disable"
        ),
    }
    for name, metric in stages.items():
        rows.append((name, "compute + reset", data_dependent_op(compute_and_reset, after_one_update(metric))))
    return rows


# --- skip non-finite --------------------------------------------------------------------------------


@dataclass
class SkipOption:
    label: str
    make: Callable[[int], Any]
    update: Callable[[Any, Tensor, Tensor, Tensor], None]
    values: Callable[[Any], tuple[float, float, float]]  # mean loss, accuracy, loss's count


def skip_options() -> list[SkipOption]:
    def stage_values(m: StageMetrics) -> tuple[float, float, float]:
        acc = m.loss_acc
        return (acc.loss_sum / acc.count).item(), (acc.correct / acc.count).item(), float(acc.count)

    def their_values(m: LossTop1) -> tuple[float, float, float]:
        return m.loss.compute().item(), m.top1.compute().item(), m.loss.weight.item()

    def plain(m: LossTop1, loss: Tensor, logits: Tensor, target: Tensor) -> None:
        m.loss.update(loss, weight=target.shape[0])
        m.top1.update(logits, target)

    def masked(m: LossTop1, loss: Tensor, logits: Tensor, target: Tensor) -> None:
        finite = torch.isfinite(loss)
        m.loss.update(torch.where(finite, loss, 0.0), weight=finite * target.shape[0])
        m.top1.update(logits, torch.where(finite, target, -1))

    def masked_top1(classes: int, strategy: str) -> LossTop1:
        m = LossTop1(classes, strategy)
        m.top1 = MulticlassAccuracy(classes, average="micro", ignore_index=-1, validate_args=False)
        return m

    def sums(classes: int) -> nn.ModuleDict:
        return nn.ModuleDict({k: SumMetric(nan_strategy="disable") for k in ("loss", "correct", "count")})

    def sums_update(m: nn.ModuleDict, loss: Tensor, logits: Tensor, target: Tensor) -> None:
        finite = torch.isfinite(loss)
        m["loss"].update(torch.where(finite, loss, 0.0) * target.shape[0])
        m["correct"].update((logits.argmax(1) == target).sum() * finite)
        m["count"].update(finite * target.shape[0])

    def sums_values(m: nn.ModuleDict) -> tuple[float, float, float]:
        loss, correct, count = (m[k].compute().item() for k in ("loss", "correct", "count"))
        return loss / count, correct / count, count

    options = [
        SkipOption("StageMetrics(skip_nonfinite=True) (hand-written)",
                   lambda c: StageMetrics(c, skip_nonfinite=True), stage_update, stage_values),
    ]  # fmt: skip
    for strategy in ("error", "warn", "ignore", 0.0, "disable"):
        options.append(
            SkipOption(
                f"MeanMetric(nan_strategy={strategy!r}).update(loss, weight=n) + top-1",
                lambda c, s=strategy: LossTop1(c, s),
                plain,
                their_values,
            )
        )
    for strategy in ("warn", "disable"):
        options.append(
            SkipOption(
                f"MeanMetric(nan_strategy={strategy!r}).update(where(finite, loss, 0), weight=finite * n)"
                " + top-1 with ignore_index=-1, labels where(finite, t, -1)",
                lambda c, s=strategy: masked_top1(c, s),
                masked,
                their_values,
            )
        )
    options.append(
        SkipOption(
            "SumMetric(nan_strategy='disable') x 3: where(finite, loss, 0) * n, correct * finite, finite * n"
            " (LossAccuracy's arithmetic in three metrics)",
            sums,
            sums_update,
            sums_values,
        )
    )
    return options


def skip_checks(size: int, classes: int) -> list[tuple[str, str, str, Finding | None]]:
    """(option, weighted mean of finite batches exact, non-finite batches left out, first data-dependent op).

    Batches: ``size`` samples at chance accuracy, ``size // 2`` more (a smaller last batch, another
    mean loss), then a NaN-loss and an inf-loss batch whose predictions are all right: counting either
    would move the loss, the accuracy and the count.
    """
    torch.manual_seed(1)
    finite = batches(size, classes, 1, grad=False) + batches(max(1, size // 2), classes, 1, grad=False)
    finite[1] = (finite[1][0] + 1.0, finite[1][1], finite[1][2])  # a mean loss away from the first's
    right = torch.arange(size) % classes
    logits_right = F.one_hot(right, classes).float() * 10
    bad = [
        (torch.tensor(float("nan")), logits_right, right),
        (torch.tensor(float("inf")), logits_right, right),
    ]
    seen = sum(t.shape[0] for _, _, t in finite)
    want_loss = sum(loss.item() * t.shape[0] for loss, _, t in finite) / seen
    want_acc = sum((x.argmax(1) == t).sum().item() for _, x, t in finite) / seen

    def near(values: tuple[float, float, float]) -> bool:
        loss, acc, count = values
        return abs(loss - want_loss) < 1e-5 and abs(acc - want_acc) < 1e-6 and count == seen

    rows = []
    for option in skip_options():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric = option.make(classes)
            for batch in finite:
                option.update(metric, *batch)
            got = option.values(metric)
            exact = "yes" if near(got) else f"no: loss {got[0]:.4f} (want {want_loss:.4f})"
            try:
                for loss, logits, target in bad:
                    # A copy each time: MeanMetric(nan_strategy=<float>) writes into the loss it is given.
                    option.update(metric, loss.clone(), logits, target)
                loss, acc, count = option.values(metric)
                if near((loss, acc, count)):
                    skipped = "yes"
                else:
                    skipped = f"no: loss {loss:.4f}, acc {acc:.4f}, count {count:.0f}"
            except RuntimeError as error:
                skipped = f"no: raises {type(error).__name__} ({error})"
        finding = data_dependent_op(option.update, option.make(classes), *finite[0])
        rows.append((option.label, exact, skipped, finding))
    return rows


# --- the report ---------------------------------------------------------------------------------------


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f}"


def report(
    args: argparse.Namespace,
    rows: list[Pair],
    syncs: list[tuple[str, str, Finding | None]],
    skips: list[tuple[str, str, str, Finding | None]],
) -> str:
    command = " ".join(["python benchmarks/metrics.py", *args.argv])
    lines = [
        "```",
        command.strip(),
        "```",
        "",
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, one thread; "
        f"torch {torch.__version__}, torchmetrics {torchmetrics.__version__}, python "
        f"{platform.python_version()}, {datetime.date.today()}",
        f"µs per call on the CPU: median of {args.rounds} rounds of {args.updates} updates (epoch end: "
        f"{args.epoch_ends} compute + reset, each after one update) after a warm-up round; ratio: "
        "torchmetrics / hand-written, the median of the per-round ratios (range), and that round's two "
        "times. The CPU pays no host sync: on CUDA, each call flagged below also waits for the GPU",
        "",
        "| what: hand-written vs torchmetrics, shape | hand-written µs | torchmetrics µs "
        "| torchmetrics / hand-written (range) | that round: torchmetrics against hand-written µs |",
        "|---|---|---|---|---|",
    ]
    for pair in rows:
        theirs, hand = pair.seconds["theirs"], pair.seconds["hand"]
        ratio, low, high, middle = median_round(theirs, hand)
        lines.append(
            f"| {pair.label} | {us(statistics.median(hand))} | {us(statistics.median(theirs))} "
            f"| {ratio:.2f} ({low:.2f}-{high:.2f}) | {us(theirs[middle])} against {us(hand[middle])} |"
        )
    lines += [
        "",
        f"Data-dependent operations (host syncs on CUDA), one call on fake tensors (batch {args.sync_batch}, "
        f"{args.sync_classes} classes); the first one found:",
        "",
        "| object | call | data-dependent op |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {call} | {finding or 'none'} |" for name, call, finding in syncs]
    lines += [
        "",
        "Skip non-finite: batches of n and n/2 samples, then a NaN-loss and an inf-loss batch "
        "(all predicted right):",
        "",
        "| option | weighted mean of finite batches exact | NaN and inf batches left out of loss, "
        "accuracy and count | data-dependent op in update |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {label} | {exact} | {skipped} | {finding or 'none'} |" for label, exact, skipped, finding in skips
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--classes", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds, after a warm-up round")
    parser.add_argument("--updates", type=int, default=200, help="updates per side per row per round")
    parser.add_argument("--epoch-ends", type=int, default=40, help="compute + reset per side per round")
    parser.add_argument("--sync-batch", type=int, default=64, help="batch size of the sync and skip checks")
    parser.add_argument("--sync-classes", type=int, default=100, help="classes of the sync and skip checks")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: batch 16, 10 classes, 3 short rounds"
    )
    parser.add_argument("--save", action="store_true", help="write the tables to benchmarks/results/")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.batch_sizes, args.classes, args.rounds, args.updates, args.epoch_ends = [16], [10], 3, 10, 3
        args.sync_batch, args.sync_classes = 16, 10
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread, as a training step's metrics run
    try:
        rows = run_timings(args)
        syncs = sync_checks(args.sync_batch, args.sync_classes)
        skips = skip_checks(args.sync_batch, args.sync_classes)
    finally:
        torch.set_num_threads(threads)  # run in-process (tests), the process is not ours to keep
    text = report(args, rows, syncs, skips)
    print(text)
    if args.save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"cpu-1-thread_{datetime.date.today()}_metrics.md"
        path.write_text(text + "\n")
        print(f"saved {path}")


if __name__ == "__main__":
    main()
