"""A sweep's YAML file, read as data and checked before any trial runs: one error names the entry.

study_name: digits               # the study in the storage; --study_name overrides
storage: sqlite:///sweeps.db     # where trials are kept; --storage overrides
n_trials: 8                      # finished trials to end with (complete, pruned or diverged)
metric: val_acc                  # val_acc (maximized) or val_loss (minimized); others name a direction
args: [--config, configs/digits.yaml, --trainer.max_epochs=3]   # given to every trial
space:                           # any option of `lit-classifier fit`, without its leading --
  model.optimizer.lr: {type: float, low: 0.01, high: 0.3, log: true}
  data.batch_size: {type: categorical, choices: [32, 64, 128]}
sampler: {type: tpe, seed: 0}    # tpe or random, with their options
pruner: {type: median}           # median, percentile, hyperband, successive_halving, threshold, none
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import optuna
import yaml

from lit_classifier.errors import ConfigError

#: The metrics whose direction is known; any other logged metric needs ``direction``.
DIRECTIONS = {"val_acc": "maximize", "val_loss": "minimize"}
SAMPLERS: dict[str, type[optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
}
PRUNERS: dict[str, type[optuna.pruners.BasePruner]] = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "threshold": optuna.pruners.ThresholdPruner,
    "none": optuna.pruners.NopPruner,
}
#: What each kind of search-space entry takes, besides ``type``.
PARAMETERS = {"float": {"low", "high", "log", "step"}, "int": {"low", "high", "log", "step"}}
PARAMETERS["categorical"] = {"choices"}
_KEYS = {"study_name", "storage", "n_trials", "metric", "direction", "args", "space", "sampler", "pruner"}
Fail = Callable[[str, str], NoReturn]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # a study name is also its runs' folder name


@dataclass
class SweepConfig:
    """What a sweep runs: ``space`` maps an option of ``fit`` to the keyword arguments of the
    matching ``optuna.Trial.suggest_*`` (with ``type``); ``args`` are every trial's own options."""

    space: dict[str, dict[str, Any]]
    study_name: str = "sweep"
    storage: str = "sqlite:///sweeps.db"
    n_trials: int = 8
    metric: str = "val_acc"
    direction: str | None = None
    args: list[str] = field(default_factory=list)
    sampler: dict[str, Any] = field(default_factory=lambda: {"type": "tpe", "seed": 0})
    pruner: dict[str, Any] = field(default_factory=lambda: {"type": "median"})
    source: str = "sweep"  # the file it came from, for the errors

    def __post_init__(self) -> None:
        if self.direction is None and self.metric not in DIRECTIONS:
            self._fail("metric", f"{self.metric}: which direction? add direction: minimize or maximize")
        self.direction = self.direction or DIRECTIONS[self.metric]
        if self.direction not in ("minimize", "maximize"):
            self._fail("direction", f"{self.direction!r}: minimize or maximize")
        if not _NAME.fullmatch(self.study_name):
            self._fail("study_name", f"{self.study_name!r}: letters, digits, '_', '.' and '-' only")
        if not isinstance(self.n_trials, int) or self.n_trials < 1:
            self._fail("n_trials", f"{self.n_trials!r}: a whole number of at least 1")
        if not isinstance(self.args, list) or not all(isinstance(a, str | int | float) for a in self.args):
            self._fail("args", "a list of the options every trial gets, such as [--trainer.max_epochs=3]")
        self.args = [str(arg) for arg in self.args]
        if not isinstance(self.space, dict) or not self.space:
            self._fail(
                "space", "a mapping of options to search, such as model.optimizer.lr: {type: float, ...}"
            )
        for name, entry in self.space.items():
            _check_entry(name, entry, self._fail)
        for key in ("sampler", "pruner"):  # `pruner: none` is {type: none}
            value = getattr(self, key)
            value = {"type": value} if isinstance(value, str) else value
            if not isinstance(value, dict):
                self._fail(key, f"{value!r}: a type and its options, such as {{type: median}}")
            setattr(self, key, value)
        self.sampler_factory(0)
        self.pruner_factory()

    def _fail(self, entry: str, reason: str) -> NoReturn:
        raise ConfigError(f"{self.source}: {entry}: {reason}")

    def sampler_factory(self, seed_offset: int) -> optuna.samplers.BaseSampler:
        """The sampler; its seed moves on by ``seed_offset`` (the trials the study already has), so
        that a restarted sweep does not propose its first trials again."""
        options = dict(self.sampler)
        if isinstance(options.get("seed"), int):
            options["seed"] += seed_offset
        return _build("sampler", SAMPLERS, options, self._fail)

    def pruner_factory(self) -> optuna.pruners.BasePruner:
        return _build("pruner", PRUNERS, dict(self.pruner), self._fail)


def load_config(path: Path, **overrides: Any) -> SweepConfig:
    """The sweep file ``path``, with the command's options (``storage``, ...) where they are given."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read the sweep file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"{path}: not YAML{line}: {getattr(error, 'problem', error)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a mapping of {', '.join(sorted(_KEYS))}")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(f"{path}: {unknown[0]}: not a sweep entry (known: {', '.join(sorted(_KEYS))})")
    if "space" not in data:
        raise ConfigError(f"{path}: space: missing: the options to search")
    data.update({key: value for key, value in overrides.items() if value is not None})
    return SweepConfig(**data, source=str(path))


def _check_entry(name: Any, entry: Any, fail: Fail) -> None:
    where = f"space: {name}"
    if not isinstance(name, str) or name.startswith("-"):
        fail(where, "name an option of fit without its leading -- (model.optimizer.lr)")
    kind = entry.get("type") if isinstance(entry, dict) else None
    if kind not in PARAMETERS:
        fail(where, f"needs a type: {', '.join(PARAMETERS)} (got {entry!r})")
    extra = sorted(set(entry) - PARAMETERS[kind] - {"type"})
    if extra:
        fail(where, f"{extra[0]}: not an option of a {kind} entry ({', '.join(sorted(PARAMETERS[kind]))})")
    options = {key: value for key, value in entry.items() if key != "type"}
    distributions = {
        "float": optuna.distributions.FloatDistribution,
        "int": optuna.distributions.IntDistribution,
        "categorical": optuna.distributions.CategoricalDistribution,
    }
    try:  # Optuna's own checks: low <= high, log needs low > 0, choices are plain values
        distributions[kind](**options)
    except (TypeError, ValueError) as error:
        fail(where, str(error).splitlines()[0])


def _build(entry: str, kinds: dict[str, Any], options: dict[str, Any], fail: Fail) -> Any:
    kind = options.pop("type", None)
    if kind not in kinds:
        fail(entry, f"type {kind!r}: one of {', '.join(kinds)}")
    try:
        return kinds[kind](**options)
    except (TypeError, ValueError) as error:
        fail(entry, f"{kind}: {str(error).splitlines()[0]}")
