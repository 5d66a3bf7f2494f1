"""Loggers: CSV by default, TensorBoard one option (or one config file) away."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import FAST, cli, run_dir

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
    folder = run_dir(cli("fit", *choice, *FAST))

    events = list(folder.glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    assert not (folder / "metrics.csv").exists()
    assert (folder / "confusion_matrix.png").is_file()  # the pictures do not need the CSV logger
    assert (folder / "checkpoints" / "last.ckpt").is_file()
