"""Loggers: CSV by default, TensorBoard one option (or one config file) away, with the same pictures."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import FAST, cli, run_dir
from lit_classifier.checkpoints import runs
from lit_classifier.command import plot as plot_command

REPO = Path(__file__).resolve().parents[1]
TENSORBOARD = [
    "--trainer.logger",
    "lightning.pytorch.loggers.TensorBoardLogger",
    "--trainer.logger.save_dir",
    "runs",
]


def test_csv_logger_is_the_default() -> None:
    folder = run_dir(cli("fit", *FAST))

    assert folder == Path("runs/lightning_logs/version_0")
    assert (folder / "metrics.csv").read_text().startswith("epoch,")


@pytest.mark.parametrize(
    "choice",
    [TENSORBOARD, ["--config", str(REPO / "configs" / "trainer" / "tensorboard.yaml")]],
    ids=["options", "config-file"],
)
def test_tensorboard_logger_writes_an_event_file_in_the_run_folder(choice: list[str]) -> None:
    folder = run_dir(cli("fit", *choice, *FAST, "--plots.enabled=true"))

    events = list(folder.glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    assert not (folder / "metrics.csv").exists()
    # The pictures do not need the CSV logger: the curves come from the event file.
    assert (folder / "learning_curves.png").is_file() and (folder / "confusion_matrix.png").is_file()
    assert (folder / "checkpoints" / "last.ckpt").is_file()


def test_the_curves_of_a_tensorboard_run_are_its_logged_metrics_and_the_plot_command_redraws_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fit = cli("fit", *TENSORBOARD, *FAST, "--trainer.max_epochs=2", "--plots.enabled=false")
    folder = run_dir(fit)

    history = runs.run_history(folder)
    plot_command.main([str(folder)])

    assert history is not None and [row["epoch"] for row in history] == [1, 2]
    logged = fit.trainer.callback_metrics
    assert history[-1]["val_acc"] == float(logged["val_acc"]) and "train_loss" in history[-1]
    assert f"wrote {folder / 'learning_curves.png'}" in capsys.readouterr().out
