"""A run folder holds the whole story of one model: evaluating one of its checkpoints writes beside it,
a resumed fit continues it, and it keeps the best epoch's checkpoint as well as the last one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import FAST, cli, read_metrics, run_dir
from lit_classifier.checkpoints.runs import run_history
from lit_classifier.command.cli import main

RUNS = Path("runs", "lightning_logs")
TWO_EPOCHS = [*FAST, "--trainer.max_epochs=2"]


def epochs_logged(folder: Path) -> list[int]:
    """The 0-based epochs of ``metrics.csv`` that logged a validation accuracy."""
    return [int(row["epoch"]) for row in read_metrics(folder) if row.get("val_acc")]


def test_test_of_a_runs_checkpoint_writes_into_that_run_and_says_where(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fitted = run_dir(cli("fit", *TWO_EPOCHS))
    capsys.readouterr()

    tested = cli("test", "--ckpt_path=last", "--trainer.limit_test_batches=2")

    out = capsys.readouterr().out
    assert run_dir(tested) == fitted / "test"
    assert sorted(path.name for path in RUNS.iterdir()) == ["version_0"]  # no new run folder
    assert f"wrote test_confusion_matrix.csv, test_per_class_accuracy.csv to {fitted / 'test'}\n" in out
    assert (fitted / "test" / "test_per_class_accuracy.csv").is_file()
    assert epochs_logged(fitted) == [0, 1]  # the fit's own metrics.csv is untouched


def test_a_checkpoint_outside_a_run_folder_gets_a_new_run_folder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fitted = run_dir(cli("fit", *FAST))
    Path("loose.ckpt").write_bytes((fitted / "checkpoints" / "last.ckpt").read_bytes())
    capsys.readouterr()

    tested = cli("test", "--ckpt_path=loose.ckpt", "--trainer.limit_test_batches=2")

    assert run_dir(tested) == RUNS / "version_1"
    assert f"test_per_class_accuracy.csv to {RUNS / 'version_1'}\n" in capsys.readouterr().out


def test_a_resumed_fit_continues_its_run_folder_and_its_metrics(
    capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    fitted = run_dir(cli("fit", *TWO_EPOCHS))
    capsys.readouterr()

    resumed = cli("fit", *FAST, "--trainer.max_epochs=4", "--ckpt_path=last", "--plots.enabled=true")

    out = capsys.readouterr().out
    # Lightning's warning that the checkpoint folder is not empty is no news to a fit that continues it
    assert not [w for w in recwarn if "exists and is not empty" in str(w.message)]
    assert run_dir(resumed) == fitted
    assert f"continues its run in {fitted}" in out
    assert sorted(path.name for path in RUNS.iterdir()) == ["version_0"]
    assert epochs_logged(fitted) == [0, 1, 2, 3]
    history = run_history(fitted)
    assert history is not None and [row["epoch"] for row in history] == [1, 2, 3, 4]  # the curves' epochs
    assert (fitted / "learning_curves.png").is_file()
    assert sorted(path.name for path in (fitted / "checkpoints").iterdir()) == [
        "best.ckpt",
        "epoch=3-step=12.ckpt",
        "last.ckpt",
    ]


def test_the_best_epochs_checkpoint_is_kept_and_test_best_loads_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A learning rate this high makes validation accuracy rise and fall: the last epoch need not be the best.
    fitted = run_dir(cli("fit", *FAST, "--trainer.max_epochs=4", "--model.optimizer.lr=0.5"))
    capsys.readouterr()

    best = fitted / "checkpoints" / "best.ckpt"
    rows = [row for row in read_metrics(fitted) if row.get("val_acc")]
    accuracy = {int(row["epoch"]): float(row["val_acc"]) for row in rows}
    best_epoch = max(accuracy, key=lambda epoch: accuracy[epoch])  # the first of equals, as Lightning keeps
    assert torch.load(best, weights_only=True)["epoch"] == best_epoch

    tested = cli("test", "--ckpt_path=best", "--trainer.limit_test_batches=2")

    assert f"--ckpt_path best: {best}\n" in capsys.readouterr().out
    assert tested.trainer.ckpt_path == str(best)
    assert run_dir(tested) == fitted / "test"


def test_best_without_a_run_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("test", "--ckpt_path=best")

    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"error: --ckpt_path best: no run with checkpoints under {RUNS}/*/checkpoints\n"
    )


def test_serve_takes_best_as_the_other_commands_do(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--ckpt_path=best"])  # no run yet: refused before any server starts

    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"error: --ckpt_path best: no run with checkpoints under {RUNS}/*/checkpoints\n"
    )


def test_resuming_a_run_that_has_finished_says_there_is_nothing_to_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fitted = run_dir(cli("fit", *TWO_EPOCHS))
    capsys.readouterr()

    cli("fit", *TWO_EPOCHS, "--ckpt_path=last")

    last = fitted / "checkpoints" / "last.ckpt"
    assert capsys.readouterr().out.endswith(f"nothing to do: {last} has finished its 2 epochs\n")
    assert epochs_logged(fitted) == [0, 1]
