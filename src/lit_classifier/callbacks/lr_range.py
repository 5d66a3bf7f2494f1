"""Lightning's learning-rate range test, reported in the run folder.

With ``enabled``, ``fit`` starts with Lightning's ``LearningRateFinder``: ``num_training`` steps while
the learning rate rises from ``min_lr`` to ``max_lr``, after which Lightning puts the network and
optimizer back as they were. The curve goes to ``lr_find.png`` (the suggestion marked), the numbers
to ``lr_find.json``, and the run stops: it is a measurement, not training. ``lit-classifier-lr-find``
is ``lit-classifier fit`` with this switched on.

The curve is Lightning's smoothed loss with its bias correction set right (``debiased``): it starts
at the first loss, not at half of it. The suggestion is the rate where the smoothed loss falls
fastest per decade of rate, before its lowest point (``steepest_descent``); a starting point to check
with a short run, not a verdict. The finder sets the optimizer's rate directly, so it works with any
``--model.optimizer``; pass the suggestion on as ``--model.optimizer.lr``.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import LearningRateFinder
from matplotlib.figure import Figure

from lit_classifier.errors import InputError
from lit_classifier.outputs import written_whole

PNG = "lr_find.png"
JSON = "lr_find.json"


class LRRangeTest(LearningRateFinder):
    """A learning-rate range test instead of training, with its curve and suggestion in the run folder.

    With ``enabled``, ``fit`` runs Lightning's ``LearningRateFinder``, writes ``lr_find.png`` and
    ``lr_find.json``, and stops.

    Args:
        enabled: run the test and stop (``lit-classifier-lr-find`` switches it on).
        min_lr: first learning rate tried.
        max_lr: last learning rate tried.
        num_training: training steps, one learning rate each (100: Lightning's default).
        mode: ``exponential`` or ``linear`` spacing of the rates.
    """

    def __init__(
        self,
        enabled: bool = False,
        min_lr: float = 1e-6,
        max_lr: float = 1.0,
        num_training: int = 100,
        mode: Literal["exponential", "linear"] = "exponential",
    ) -> None:
        super().__init__(min_lr, max_lr, num_training, mode, update_attr=False)
        self.enabled = enabled
        self.settings = {"min_lr": min_lr, "max_lr": max_lr, "num_training": num_training, "mode": mode}

    @property
    def asked_for(self) -> bool:
        return self.enabled

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled:
            return
        if trainer.fast_dev_run:  # type: ignore[attr-defined]  # set by Lightning, not declared
            raise InputError(
                "the learning-rate finder does not run with --trainer.fast_dev_run: drop it, and "
                "shrink the test with --lr_find.num_training instead"
            )
        first_step = trainer.global_step
        with quiet_progress():
            self.lr_find(trainer, pl_module)
        if self.optimal_lr is not None:
            results = self.optimal_lr.results
            results["loss"] = debiased(results["loss"], first_step)
        folder = Path(trainer.log_dir or ".")  # every process asks: a broadcast under DDP
        if self.optimal_lr is not None and trainer.is_global_zero:
            results = self.optimal_lr.results
            report(steepest_descent(results["lr"], results["loss"]), results, self.settings, folder)
        trainer.should_stop = True  # a measurement, not a training run


#: The smoothing of Lightning's finder: each loss it records is this much the running average so far.
LIGHTNING_BETA = 0.98


def debiased(smoothed: list[float], first_step: int) -> list[float]:
    """Lightning's smoothed losses with the bias correction of an average of the losses seen so far.

    The finder keeps ``avg = beta * avg + (1 - beta) * loss`` from 0 and records
    ``avg / (1 - beta ** (global_step + 1))``, but the Trainer's ``global_step`` has already counted
    the batch's own step, and started at ``first_step``: the first value came out as half the first
    loss (1.17 for the 2.30 of an untrained 10-class network), and the curve rose to a false hump.
    After ``n`` losses the correction is ``1 - beta ** n``, which makes the first value the first loss.
    """
    return [
        value * (1 - LIGHTNING_BETA ** (first_step + n + 1)) / (1 - LIGHTNING_BETA**n)
        for n, value in enumerate(smoothed, start=1)
    ]


#: The first rates of the range, where the loss moves by noise only, are never suggested (Lightning's
#: ``skip_begin``).
SKIP_BEGIN = 10


def steepest_descent(rates: Sequence[float], losses: Sequence[float]) -> float | None:
    """The rate at which the smoothed loss falls fastest per decade of rate, before its lowest point;
    ``None`` when too few rates come before it.

    Lightning's ``suggestion()`` takes the slope against the rate itself: between two tiny rates a
    noise of 0.001 in the loss is a steep slope, so on the digits it suggested 6e-6, at which ``fit``
    learns nothing (10% accuracy), while the loss falls fastest near 0.13. Per decade (the axis the
    rates are spaced on and the curve is drawn on), the noise at tiny rates is as flat as it looks.
    """
    lowest = int(np.nanargmin(losses))
    if lowest - SKIP_BEGIN < 2:
        return None
    decades = np.log10(np.asarray(rates[SKIP_BEGIN : lowest + 1], dtype=np.float64))
    slopes = np.gradient(np.asarray(losses[SKIP_BEGIN : lowest + 1], dtype=np.float64), decades)
    return float(rates[SKIP_BEGIN + int(np.argmin(slopes))])


@contextmanager
def quiet_progress() -> Iterator[None]:
    """Lightning's finder draws its own progress bar on standard error; outside a terminal (a log
    file, a pipe) that is noise, so there its output is dropped while the finder runs."""
    if sys.stderr.isatty():
        yield
        return
    with redirect_stderr(io.StringIO()):
        yield


def report(
    suggestion: float | None, results: Mapping[str, list[float]], settings: Mapping[str, object], folder: Path
) -> None:
    """Write ``lr_find.png`` and ``lr_find.json`` into ``folder`` and print the suggestion."""
    folder.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    axes.plot(results["lr"], results["loss"])
    axes.set(xscale="log", xlabel="learning rate", ylabel="loss (smoothed)")
    if suggestion is not None:
        axes.plot(suggestion, results["loss"][results["lr"].index(suggestion)], "o", color="tab:red")
        axes.set_title(f"learning-rate range test: suggested lr {suggestion:.3g}")
    with written_whole(folder / PNG, "wb") as file:
        figure.savefig(file, format="png", dpi=100)
    saved = {"suggested_lr": suggestion, **settings, "lr": results["lr"], "loss": results["loss"]}
    with written_whole(folder / JSON) as text:
        text.write(json.dumps(saved, indent=2) + "\n")
    if suggestion is None:
        print(f"no suggestion (too few steps before the lowest loss); the curve is in {folder / PNG}")
    else:
        print(f"suggested learning rate {suggestion:.3g}: pass --model.optimizer.lr {suggestion:.3g}")
    print(f"wrote {folder / PNG} and {folder / JSON}")
