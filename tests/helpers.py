"""Helpers of the end-to-end tests: the CLI in-process, and the run folder's files."""

from __future__ import annotations

import csv
from pathlib import Path

from lit_classifier.cli import ClassifierCLI, run

# Keeps end-to-end runs to a second or two: one epoch of a few batches per stage.
FAST = ["--trainer.limit_train_batches=3", "--trainer.limit_val_batches=2", "--trainer.max_epochs=1"]


def cli(*args: str) -> ClassifierCLI:
    """``lit-classifier ARGS`` in this process."""
    return run(list(args))


def run_dir(cli_run: ClassifierCLI) -> Path:
    """The folder of a finished run: metrics, config and checkpoints."""
    assert cli_run.trainer.log_dir is not None
    return Path(cli_run.trainer.log_dir)


def read_metrics(folder: Path) -> list[dict[str, str]]:
    """Rows of the CSV logger's ``metrics.csv``."""
    with (folder / "metrics.csv").open() as file:
        return list(csv.DictReader(file))


def last_value(rows: list[dict[str, str]], key: str) -> float:
    """The last logged value of ``key``."""
    return float([row[key] for row in rows if row.get(key)][-1])
