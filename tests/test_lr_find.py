"""``lit-classifier-lr-find``: Lightning's learning-rate finder on a config, saved in a run folder."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from torch import Tensor, nn

from helpers import cli
from lit_classifier import ClassifierModule
from lit_classifier.callbacks.lr_range import LIGHTNING_BETA
from lit_classifier.command import lr_find
from lit_classifier.module import Batch

REPO = Path(__file__).resolve().parents[1]


def test_lr_find_on_the_digits_config_saves_plot_and_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lr_find.main(["--config", str(REPO / "configs" / "digits.yaml"), "--lr_find.num_training=20"])

    folder = tmp_path / "runs" / "lightning_logs" / "version_0"
    saved = json.loads((folder / "lr_find.json").read_text())
    assert len(saved["lr"]) == len(saved["loss"]) == 20
    assert saved["min_lr"] <= saved["suggested_lr"] <= saved["max_lr"]
    with Image.open(folder / "lr_find.png") as image:
        assert image.width > 300 and image.height > 200
    assert f"pass --model.optimizer.lr {saved['suggested_lr']:.3g}" in capsys.readouterr().out
    assert not list(tmp_path.glob(".lr_find_*.ckpt"))  # Lightning's temporary checkpoint is gone
    assert not (folder / "learning_curves.png").exists()  # a range test is not a training run
    assert not list(tmp_path.glob("*.csv"))  # nothing outside the run folder
    assert not (folder / "checkpoints").exists()


def test_fit_at_the_suggested_rate_learns_the_digits(capsys: pytest.CaptureFixture[str]) -> None:
    lr_find.main([])
    suggested = json.loads(Path("runs/lightning_logs/version_0/lr_find.json").read_text())["suggested_lr"]

    trained = cli("fit", f"--model.optimizer.lr={suggested}", "--plots.enabled=false")

    # Lightning's own suggestion() was 6e-6 here, at which fit ends at chance (0.107).
    assert float(trained.trainer.callback_metrics["val_acc"]) >= 0.95, suggested


class LossRecorder(ClassifierModule):
    """``ClassifierModule`` that keeps each training loss as it came, before any smoothing."""

    def __init__(self, model: nn.Module, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.raw_losses: list[float] = []

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = super().training_step(batch, batch_idx)
        self.raw_losses.append(float(loss.detach()))
        return loss


def test_the_smoothed_curve_starts_at_the_first_loss_and_averages_the_losses_so_far() -> None:
    result = cli(
        "fit", "--model=test_lr_find.LossRecorder", "--lr_find.enabled=true", "--lr_find.num_training=20"
    )

    saved = json.loads((Path(result.trainer.log_dir or "") / "lr_find.json").read_text())
    raw = torch.tensor(result.model.raw_losses, dtype=torch.float64)
    # An exponential moving average from 0, divided by 1 - beta ** n after n losses (bias correction).
    weights = [LIGHTNING_BETA ** torch.arange(n - 1, -1, -1, dtype=torch.float64) for n in range(1, 21)]
    expected = [
        (1 - LIGHTNING_BETA) * (w * raw[: len(w)]).sum() / (1 - LIGHTNING_BETA ** len(w)) for w in weights
    ]
    assert len(raw) == 20
    assert saved["loss"][0] == pytest.approx(float(raw[0]), rel=1e-6)  # an untrained net: about ln 10
    assert saved["loss"] == pytest.approx([float(value) for value in expected], rel=1e-6)


@pytest.mark.filterwarnings("ignore:Skipping learning rate finder")
def test_lr_find_refuses_fast_dev_run_with_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        lr_find.main(["--trainer.fast_dev_run=true"])

    assert exit_info.value.code == 2
    assert "does not run with --trainer.fast_dev_run" in capsys.readouterr().err


def test_lit_classifier_lr_find_is_an_installed_command() -> None:
    scripts = {script.name: script.value for script in entry_points(group="console_scripts")}

    assert scripts["lit-classifier-lr-find"] == "lit_classifier.command.lr_find:main"
