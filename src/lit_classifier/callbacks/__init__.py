"""Callbacks: the policies around the recipe, each one a Lightning callback that can be dropped.

``default_callbacks()`` gives every run its callbacks, the command line's and ``train_model``'s
alike; on the command line each is configured by its key in ``CALLBACKS`` (``--checkpoint.every_n_epochs
2``, ``--nonfinite.mode skip``, ``--plots.enabled false``, ``--finetune.freeze_backbone_epochs 1``,
``--ema.decay 0.99``, ``--early_stopping.patience 3``). The learning-rate range test, fine-tuning,
early stopping and the speed options do nothing unless asked for (``WhenAskedFor``), and a run
without them does not carry them.
"""

from collections.abc import Collection, Iterable
from typing import Protocol, runtime_checkable

from lightning.pytorch.callbacks import Callback

from lit_classifier.callbacks.checkpoint import BestCheckpoint, RunCheckpoint
from lit_classifier.callbacks.early_stopping import EarlyStop
from lit_classifier.callbacks.ema import WeightEMA
from lit_classifier.callbacks.finetune import HeadFirstFinetuning
from lit_classifier.callbacks.interrupt import Interruption
from lit_classifier.callbacks.lr_range import LRRangeTest
from lit_classifier.callbacks.nonfinite import NonFiniteGuard
from lit_classifier.callbacks.plots import RunPlots
from lit_classifier.callbacks.predictions import PredictionWriter
from lit_classifier.callbacks.progress import ProgressBar
from lit_classifier.callbacks.reports import ClassReports
from lit_classifier.callbacks.speed import SpeedOptions
from lit_classifier.callbacks.summary import EpochSummary
from lit_classifier.errors import NonFiniteLossError

#: Every run's callbacks, in the order they run, by the key that configures each on the command line.
CALLBACKS: dict[str, type[Callback]] = {
    "summary": EpochSummary,
    "progress_bar": ProgressBar,
    "predictions": PredictionWriter,
    "plots": RunPlots,
    "reports": ClassReports,
    "interruption": Interruption,
    "nonfinite": NonFiniteGuard,
    "finetune": HeadFirstFinetuning,
    "lr_find": LRRangeTest,
    "ema": WeightEMA,  # before speed: the average copies the network before it is compiled
    "early_stopping": EarlyStop,
    "checkpoint": RunCheckpoint,
    "best": BestCheckpoint,  # after the run's own: Lightning's `trainer.checkpoint_callback` is the first
    "speed": SpeedOptions,
}


@runtime_checkable
class WhenAskedFor(Protocol):
    """A callback that does nothing unless its options ask for it."""

    @property
    def asked_for(self) -> bool: ...


def default_callbacks(
    given: Iterable[Callback] = (), *, restoring: Collection[str] = (), progress_bar: bool = True
) -> list[Callback]:
    """The run's callbacks: those ``given`` of other kinds first, then one of each kind of
    ``CALLBACKS`` in its order, the first ``given`` of that kind or one with its defaults.

    Left out: those not asked for (unless the checkpoint a run restores holds their state:
    ``restoring``, its callbacks' ``state_key``s), and the progress bar without ``progress_bar``.
    """
    given = list(given)
    ours = [next((c for c in given if isinstance(c, kind)), None) or kind() for kind in CALLBACKS.values()]
    others = [c for c in given if not isinstance(c, tuple(CALLBACKS.values()))]
    return others + [
        callback
        for callback in ours
        if (progress_bar or not isinstance(callback, ProgressBar))
        and (not isinstance(callback, WhenAskedFor) or callback.asked_for or callback.state_key in restoring)
    ]


__all__ = [
    "CALLBACKS",
    "BestCheckpoint",
    "ClassReports",
    "EarlyStop",
    "EpochSummary",
    "HeadFirstFinetuning",
    "Interruption",
    "LRRangeTest",
    "NonFiniteGuard",
    "NonFiniteLossError",
    "PredictionWriter",
    "ProgressBar",
    "RunCheckpoint",
    "RunPlots",
    "SpeedOptions",
    "WeightEMA",
    "WhenAskedFor",
    "default_callbacks",
]
