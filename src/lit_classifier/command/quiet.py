"""Quiet commands: one line per epoch and our own messages, not Lightning's start-up chatter.

Lightning logs at INFO what it found (GPU/TPU availability, the seed, a tip about a cloud logger,
"`Trainer.fit` stopped") and warns about choices that are deliberate here (no per-step logging, so
the logging interval does not matter; the checkpoint callback of an evaluation command finding the
training run's folder; a deprecation inside Lightning's own code). A command
raises Lightning's loggers to WARNING and ignores those warnings while it runs, then puts everything
back, so a notebook that runs a command in-process keeps its own settings. What an option asks for
(a model summary, a profiler's report) is still printed.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: Warnings about deliberate choices, by the start of their message (regular expressions).
EXPECTED_WARNINGS = (
    r"The number of training batches .* is smaller than the logging interval",
    r".*does not have many workers which may be a bottleneck",
    r"The dirpath has changed from",
    r".*isinstance\(treespec, LeafSpec\)",
    r"LightningCLI's args parameter is intended to run from within Python",
    # A mid-epoch resume prints its own line, which says what happens to that epoch (interrupt.py).
    r"You're resuming from a checkpoint that ended before the epoch ended",
    # litdata's loader gives each process and worker its own share, and the length of that share.
    r"Your `IterableDataset` has `__len__` defined",
    # PIL's note on an image over its pixel limit, whose size the data module refuses itself, in a
    # line naming the file (data.images.pixel_excess), or lets through where --data.max_image_pixels says.
    r"Image size \(\d+ pixels\) exceeds limit of \d+ pixels",
)
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")
#: Lightning's loggers of output that an option asks for, kept at INFO: the table of
#: ``--trainer.enable_model_summary true`` or a ``ModelSummary`` callback, a profiler's report.
ASKED_FOR_LOGGERS = ("lightning.pytorch.callbacks.model_summary", "lightning.pytorch.profilers")


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's INFO logs and the expected warnings off inside the block, as before after it."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    asked_for = [logging.getLogger(name) for name in ASKED_FOR_LOGGERS]
    levels = [logger.level for logger in (*loggers, *asked_for)]
    with warnings.catch_warnings():
        for pattern in EXPECTED_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        for logger in asked_for:
            logger.setLevel(logger.level or logging.INFO)  # a level of the caller's own stays
        try:
            yield
        finally:
            for logger, level in zip((*loggers, *asked_for), levels, strict=True):
                logger.setLevel(level)
