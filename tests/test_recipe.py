"""``train_model``: the notebook recipe with a user's own network."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from lit_classifier import DigitsDataModule, train_model


class TutorialNet(nn.Module):
    """The kind of network a user writes in a notebook (no lazy layers, its own class count)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(x))


def test_train_model_trains_a_user_network_and_returns_its_history(
    capsys: pytest.CaptureFixture[str],
) -> None:
    torch.manual_seed(0)  # the network's initial weights: a notebook user's run is seeded the same way
    result = train_model(TutorialNet(), epochs=3, lr=0.05)

    assert [row["epoch"] for row in result.history] == [1.0, 2.0, 3.0]
    assert result.history[-1]["val_acc"] > 0.9
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert isinstance(result.model, TutorialNet)
    assert capsys.readouterr().out.count("epoch ") == 3


def test_train_model_takes_a_data_module_and_trainer_options() -> None:
    result = train_model(
        TutorialNet(), epochs=1, datamodule=DigitsDataModule(batch_size=32), limit_train_batches=2
    )

    assert result.trainer is not None
    assert result.trainer.global_step == 2
    assert len(result.history) == 1
