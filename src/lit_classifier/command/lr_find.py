"""``lit-classifier-lr-find``: Lightning's learning-rate range test on any ``lit-classifier`` config.

It takes the options of ``lit-classifier fit`` (``--config``, ``--model.*``, ``--data.*``,
``--trainer.*``) and the range test's own (``--lr_find.num_training``, ``min_lr``, ``max_lr``,
``mode``), and writes ``lr_find.png`` and ``lr_find.json`` into a new run folder
(``callbacks/lr_range.py``)::

    lit-classifier-lr-find --config configs/digits.yaml
    lit-classifier fit --config configs/digits.yaml --model.optimizer.lr 0.02    # what it suggested
"""

from __future__ import annotations

import sys

from lit_classifier.command.cli import run


def main(args: list[str] | None = None) -> None:
    """Entry point of ``lit-classifier-lr-find``: ``lit-classifier fit ARGS --lr_find.enabled true``."""
    given = sys.argv[1:] if args is None else list(args)
    run(["fit", *given, "--lr_find.enabled=true"])
