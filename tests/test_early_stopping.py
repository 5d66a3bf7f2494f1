"""``--early_stopping.patience N``: off by default, a stop said with its reason and epoch, the best
epoch's checkpoint kept, and every later command working from the run's checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import FAST, cli, run_dir
from lit_classifier.callbacks import EarlyStop
from lit_classifier.export import main as export_main

TINY = [*FAST, "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1"]
#: No epoch improves on the first by 100: training stops after its second epoch.
STOPS = ["--early_stopping.patience=1", "--early_stopping.min_delta=100", "--trainer.max_epochs=5"]


def stop_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("stopped", "the best epoch"))]


def test_a_run_without_the_option_never_stops_early(capsys: pytest.CaptureFixture[str]) -> None:
    fit = cli("fit", *TINY, "--trainer.max_epochs=3", "--early_stopping.min_delta=100")

    assert fit.trainer.current_epoch == 3
    assert not any(isinstance(callback, EarlyStop) for callback in fit.trainer.callbacks)
    assert stop_lines(capsys.readouterr().out) == []


def test_a_stop_says_why_when_and_where_the_best_epoch_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    folder = run_dir(cli("fit", *TINY, *STOPS))

    stopped, best = stop_lines(capsys.readouterr().out)
    assert stopped.startswith(
        "stopped early at epoch 2/5: EarlyStopping: Monitored metric val_loss did not improve in the last 1 "
        "records."
    )
    assert best.startswith("the best epoch (val_acc ")
    assert best.endswith(f"is kept in {folder / 'checkpoints' / 'best.ckpt'}")
    assert (folder / "checkpoints" / "best.ckpt").is_file()


def test_the_mode_follows_the_monitor_unless_given() -> None:
    assert (EarlyStop(3).mode, EarlyStop(3, monitor="val_acc").mode) == ("min", "max")
    assert EarlyStop(3, monitor="val_acc", mode="min").mode == "min"


@pytest.mark.parametrize(
    ("option", "named"),
    [
        ("--early_stopping.patience=-1", "--early_stopping.patience"),
        ("--early_stopping.mode=lowest", "--early_stopping.mode"),
    ],
)
def test_a_bad_value_is_one_error_line_naming_the_option(
    option: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", *TINY, option)

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {named}: ") and err.count("\n") == 1, err
    assert not Path("runs").exists()


def test_the_checkpoints_of_an_early_stop_serve_every_later_command(tmp_path: Path) -> None:
    folder = run_dir(cli("fit", *TINY, *STOPS))
    best, last = folder / "checkpoints" / "best.ckpt", folder / "checkpoints" / "last.ckpt"

    tested = cli("test", f"--ckpt_path={best}", "--trainer.limit_test_batches=1")
    predicted = cli("predict", f"--ckpt_path={last}", "--trainer.limit_predict_batches=1")
    export_main([str(best), str(tmp_path / "model.onnx")])

    assert "test_acc" in tested.trainer.callback_metrics
    assert (run_dir(predicted) / "predictions.csv").is_file()
    assert (tmp_path / "model.onnx").stat().st_size > 0


def test_a_resumed_run_keeps_its_early_stopping_state() -> None:
    folder = run_dir(cli("fit", *TINY, *STOPS))
    last = folder / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)["callbacks"]
    state = next(value for key, value in saved.items() if key.startswith("EarlyStop"))

    resumed = cli("fit", *TINY, *STOPS[:2], "--trainer.max_epochs=8", f"--ckpt_path={last}")

    early_stop = next(c for c in resumed.trainer.callbacks if isinstance(c, EarlyStop))
    assert state["wait_count"] == 1 and state["patience"] == 1
    assert resumed.trainer.current_epoch == 3  # one more epoch without improvement, and it stops
    assert early_stop.stopped_epoch == 2
