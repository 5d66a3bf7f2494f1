"""Callbacks: the policies around the recipe, each one a Lightning callback that can be dropped.

The command line and ``train_model`` add ``DEFAULT_CALLBACKS``; each is configured on the command
line by its key (``--checkpoint.every_n_epochs 2``, ``--nonfinite.mode skip``, ``--plots.enabled
false``, ``--finetune.freeze_backbone_epochs 1``, ``--ema.decay 0.99``).
"""

from lightning.pytorch.callbacks import Callback

from lit_classifier.callbacks.checkpoint import RunCheckpoint
from lit_classifier.callbacks.ema import WeightEMA
from lit_classifier.callbacks.finetune import HeadFirstFinetuning
from lit_classifier.callbacks.interrupt import Interruption
from lit_classifier.callbacks.lr_range import LRRangeTest
from lit_classifier.callbacks.nonfinite import NonFiniteGuard, NonFiniteLossError
from lit_classifier.callbacks.plots import RunPlots
from lit_classifier.callbacks.predictions import PredictionWriter
from lit_classifier.callbacks.progress import ProgressBar
from lit_classifier.callbacks.reports import ClassReports
from lit_classifier.callbacks.speed import SpeedOptions
from lit_classifier.callbacks.summary import EpochSummary

#: Every run's callbacks, by the key that configures each on the command line.
DEFAULT_CALLBACKS: dict[str, type[Callback]] = {
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
    "checkpoint": RunCheckpoint,
    "speed": SpeedOptions,
}

__all__ = [
    "DEFAULT_CALLBACKS",
    "ClassReports",
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
]
