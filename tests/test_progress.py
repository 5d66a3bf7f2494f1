"""The progress bar: running loss and images/s while training, quiet when stderr is not a terminal."""

from __future__ import annotations

import sys
from typing import Any

import lightning as L
import pytest
from lightning.pytorch.callbacks import Callback

from lit_classifier import ClassifierModule, DigitsDataModule
from lit_classifier.callbacks import ProgressBar
from lit_classifier.models import SmallCNN


class Peek(Callback):
    """Reads what the bar would show after each training step."""

    def __init__(self, bar: ProgressBar) -> None:
        self.bar = bar
        self.shown: list[dict[str, Any]] = []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self.shown.append(self.bar.get_metrics(trainer, pl_module))


def test_bar_is_quiet_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert ProgressBar().is_disabled

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert ProgressBar().is_enabled


def test_bar_shows_running_loss_and_images_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    bar = ProgressBar(refresh_rate=1)
    peek = Peek(bar)
    trainer = L.Trainer(
        callbacks=[bar, peek],
        max_epochs=1,
        limit_train_batches=3,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )

    trainer.fit(ClassifierModule(SmallCNN()), datamodule=DigitsDataModule(batch_size=32))

    assert len(peek.shown) == 3
    last = peek.shown[-1]
    assert "v_num" not in last
    assert 0 < float(last["loss"]) < 5
    assert float(last["img/s"]) > 0
    assert bar._images == 3 * 32  # counted from the batch shapes
