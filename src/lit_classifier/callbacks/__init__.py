"""Callbacks: the epoch summary line, the progress bar and the prediction writer."""

from lit_classifier.callbacks.predictions import PredictionWriter
from lit_classifier.callbacks.progress import ProgressBar
from lit_classifier.callbacks.summary import EpochSummary

__all__ = ["EpochSummary", "PredictionWriter", "ProgressBar"]
