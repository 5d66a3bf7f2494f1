"""Callbacks: the epoch summary line, the progress bar, the prediction writer and the run's pictures."""

from lit_classifier.callbacks.plots import RunPlots
from lit_classifier.callbacks.predictions import PredictionWriter
from lit_classifier.callbacks.progress import ProgressBar
from lit_classifier.callbacks.summary import EpochSummary

__all__ = ["EpochSummary", "PredictionWriter", "ProgressBar", "RunPlots"]
