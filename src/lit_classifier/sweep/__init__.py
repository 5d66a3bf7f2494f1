"""Sweeps: Optuna searches the options of ``lit-classifier fit``, each trial a normal run.

    lit-classifier-sweep --config configs/sweeps/digits.yaml
    lit-classifier-sweep --config sweep.yaml --storage sqlite:///sweeps.db --study_name lr
    lit-classifier-sweep --config sweep.yaml --trainer.max_epochs 3     # options for every trial

The study lives in a database (SQLite by default), so a sweep that is killed and started again goes
on with the trials it has: the one that was running runs again, a finished one never does
(``study.py``). Each trial reports its validation metric after every epoch and is stopped when the
pruner says so, also under DDP (``trial.py``). At the end the best trial's checkpoint and config are
named, beside a picture of the study (``plot.py``). The YAML file is described in ``config.py``.

From Python::

    from lit_classifier.sweep import SweepConfig, sweep

    space = {"model.optimizer.lr": {"type": "float", "low": 0.01, "high": 0.3, "log": True}}
    result = sweep(SweepConfig(space=space, n_trials=4, args=["--trainer.max_epochs=2"]))
    result.best.params, result.checkpoint
"""

from lit_classifier.errors import ConfigError
from lit_classifier.sweep.command import SweepResult, main, sweep
from lit_classifier.sweep.config import SweepConfig, load_config

__all__ = ["ConfigError", "SweepConfig", "SweepResult", "load_config", "main", "sweep"]
