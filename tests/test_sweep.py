"""``lit-classifier-sweep``: trials are normal runs, pruned per epoch (on two DDP processes too), and a
sweep killed mid-trial and started again ends with its trials done once each."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import lightning as L
import optuna
import pytest
import yaml
from optuna.trial import TrialState

from helpers import TWO_PROCESSES, cli, finish, last_value, read_metrics, run_dir, start
from lit_classifier.sweep import SweepConfig, main, sweep

# Short trials on digits: 5 steps an epoch, 3 validation batches.
TRIALS = ["--trainer.limit_train_batches=5", "--trainer.limit_val_batches=3", "--plots.enabled=false"]
LR = {"model.optimizer.lr": {"type": "float", "low": 0.01, "high": 0.5, "log": True}}
HOLD_MARKER = "HOLD_MARKER"


class HoldSecondFit(L.Callback):
    """Where ``HOLD_MARKER`` is set: the process's second run stops in its second step, writes the
    marker file and waits there, to be killed."""

    fits = 0  # across the runs of one process, each of which builds its own instance

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        HoldSecondFit.fits += 1

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        marker = os.environ.get(HOLD_MARKER)
        if marker and HoldSecondFit.fits == 2 and batch_idx == 1:
            Path(marker).write_text(str(os.getpid()))
            threading.Event().wait()


def sweep_file(path: Path, **entries: Any) -> Path:
    path.write_text(yaml.safe_dump({"space": LR, "storage": "sqlite:///sweeps.db", **entries}))
    return path


def trials(study_name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study_name, storage="sqlite:///sweeps.db").get_trials()


def test_a_small_sweep_finds_a_config_at_least_as_good_as_the_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [*TRIALS, "--trainer.max_epochs=2"]
    default = last_value(read_metrics(run_dir(cli("fit", *args))), "val_acc")
    config = SweepConfig(space=LR, study_name="lr", n_trials=3, args=args, storage="sqlite:///sweeps.db")

    result = sweep(config)

    assert result.best is not None and result.best.value is not None
    assert result.best.value >= default
    out = capsys.readouterr().out
    assert f"best: trial {result.best.number}, val_acc {result.best.value:.4f} (3 trials: 3 complete)" in out
    assert result.run_dir == Path("runs/lr") / f"version_{result.best.number}"
    assert result.checkpoint == result.run_dir / "checkpoints" / "last.ckpt" and result.checkpoint.is_file()
    assert f"checkpoint: {result.checkpoint}" in out and f"config: {result.config}" in out
    assert result.plot == Path("runs/lr/study.png")
    assert result.plot.read_bytes().startswith(b"\x89PNG")
    for trial in result.study.trials:  # each trial is a normal run folder, with its options in its config
        saved = yaml.safe_load((Path(trial.user_attrs["run_dir"]) / "config.yaml").read_text())
        assert (
            saved["model"]["init_args"]["optimizer"]["init_args"]["lr"] == trial.params["model.optimizer.lr"]
        )


@pytest.mark.parametrize(
    ("metric", "pruner"),
    [("val_acc", {"type": "threshold", "lower": 0.99}), ("val_loss", {"type": "threshold", "upper": 0.01})],
)
def test_a_trial_the_pruner_rejects_stops_after_that_epoch(
    metric: str, pruner: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*TRIALS, "--trainer.max_epochs=3"]
    sweep_file(Path("sweep.yaml"), n_trials=1, metric=metric, pruner=pruner, args=args, study_name="p")

    main(["--config", "sweep.yaml"])

    [trial] = trials("p")
    assert trial.state == TrialState.PRUNED
    rows = read_metrics(Path(trial.user_attrs["run_dir"]))
    assert trial.intermediate_values == {0: last_value(rows, metric)}
    assert {row["epoch"] for row in rows} == {"0"}  # one epoch of the three
    out = capsys.readouterr().out
    assert f"trial 0: pruned after epoch 1 | {trial.user_attrs['run_dir']}" in out
    assert "no trial completed (1 pruned); plot: runs/p/study.png" in out


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("space: [", "sweep.yaml: not YAML (line 1)"),
        ("n_trials: 2", "sweep.yaml: space: missing"),
        ("trials: 3\nspace: {}", "sweep.yaml: trials: not a sweep entry"),
        (
            "space: {model.optimizer.lr: {type: floats}}",
            "sweep.yaml: space: model.optimizer.lr: needs a type",
        ),
        (
            "space: {model.optimizer.lr: {type: float, low: 0.1, hi: 1}}",
            "model.optimizer.lr: hi: not an option",
        ),
        (
            "space: {model.optimizer.lr: {type: float, low: 1, high: 0.1}}",
            "model.optimizer.lr: `low <= high` must hold",
        ),
        (
            "space: {model.optimizer.lr: {type: float, low: 0, high: 1, log: true}}",
            "lr: `low > 0` must hold for `log=True`",
        ),
        ("space: {--model.optimizer.lr: {type: float, low: 0.1, high: 1}}", "without its leading --"),
        (
            "metric: val_f1\nspace: {a: {type: int, low: 1, high: 2}}",
            "sweep.yaml: metric: val_f1: which direction? add direction: minimize or maximize",
        ),
        ("pruner: medain\nspace: {a: {type: int, low: 1, high: 2}}", "pruner: type 'medain': one of median"),
        ("pruner: {type: median, warmup: 1}\nspace: {a: {type: int, low: 1, high: 2}}", "pruner: median: "),
        ("n_trials: 0\nspace: {a: {type: int, low: 1, high: 2}}", "sweep.yaml: n_trials: 0: a whole number"),
    ],
)
def test_a_bad_sweep_file_is_one_error_naming_the_entry(
    text: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("sweep.yaml").write_text(text)

    with pytest.raises(SystemExit) as exit_info:
        main(["--config", "sweep.yaml"])

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and error in err and err.count("\n") == 1
    assert not Path("sweeps.db").exists()


def test_an_option_fit_does_not_have_stops_the_sweep_at_its_first_trial(
    capsys: pytest.CaptureFixture[str],
) -> None:
    space = {"model.optimizer.lrr": {"type": "float", "low": 0.01, "high": 0.1}}
    Path("sweep.yaml").write_text(yaml.safe_dump({"space": space, "study_name": "typo"}))

    with pytest.raises(SystemExit) as exit_info:
        main(["--config", "sweep.yaml"])

    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: unknown option --model.optimizer.lrr")
    assert [trial.state for trial in trials("typo")] == [TrialState.FAIL]  # and not counted as done


def test_a_sweep_killed_mid_trial_and_started_again_reruns_that_trial_and_repeats_none(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "sweep"
    folder.mkdir()
    args = [*TRIALS, "--trainer.max_epochs=1", "--trainer.callbacks+=test_sweep.HoldSecondFit"]
    sweep_file(folder / "sweep.yaml", n_trials=3, study_name="killed", args=args)
    command = [shutil.which("lit-classifier-sweep") or "lit-classifier-sweep", "--config", "sweep.yaml"]
    marker = folder / "held"
    killed = start(command, folder, env={**os.environ, HOLD_MARKER: str(marker)})
    deadline = time.monotonic() + 240
    while not marker.exists():  # trial 1 is running, mid-epoch
        assert killed.poll() is None, killed.communicate()
        assert time.monotonic() < deadline, "the second trial never started"
        time.sleep(0.1)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    os.chdir(folder)
    assert [t.state for t in trials("killed")] == [TrialState.COMPLETE, TrialState.RUNNING]

    [out] = finish(start(command, folder))

    done = trials("killed")
    assert [t.state for t in done] == [
        TrialState.COMPLETE,
        TrialState.FAIL,
        TrialState.COMPLETE,
        TrialState.COMPLETE,
    ]
    assert done[2].system_attrs["failed_trial"] == 1 and done[2].params == done[1].params
    lrs = [t.params["model.optimizer.lr"] for t in done if t.state == TrialState.COMPLETE]
    assert len(set(lrs)) == 3  # no finished trial ran twice, and the sampler proposed none again
    assert "trial 1 stopped with its process: it runs again first" in out
    assert "study killed (sqlite:///sweeps.db): 1 of 3 trials done" in out
    assert "trial 2 (trial 1 again): val_acc" in out
    assert "best: trial " in out and "(4 trials: 3 complete, 1 failed)" in out


def test_two_ddp_processes_stop_a_pruned_trial_together(tmp_path: Path) -> None:
    folder = tmp_path / "ddp"
    folder.mkdir()
    args = [*TWO_PROCESSES, *TRIALS, "--trainer.max_epochs=3"]
    pruner = {"type": "threshold", "lower": 0.99}
    sweep_file(folder / "sweep.yaml", n_trials=1, study_name="ddp", args=args, pruner=pruner)

    [out] = finish(start([sys.executable, "-m", "lit_classifier.sweep", "--config", "sweep.yaml"], folder))

    os.chdir(folder)
    [trial] = trials("ddp")
    assert trial.state == TrialState.PRUNED
    rows = read_metrics(Path(trial.user_attrs["run_dir"]))
    assert trial.intermediate_values == {0: last_value(rows, "val_acc")}
    assert {row["epoch"] for row in rows} == {"0"}  # both processes stopped after epoch 1 of 3
    assert "trial 0: pruned after epoch 1" in out
    assert len([line for line in out.splitlines() if line.startswith("epoch ")]) == 1
