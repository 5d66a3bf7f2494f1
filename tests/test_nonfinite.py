"""A NaN or infinite training loss stops the run at that step, or skips that batch when asked."""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from helpers import cli, read_metrics
from lit_classifier.callbacks.nonfinite import NonFiniteGuard, NonFiniteLossError

RUN = ["--trainer.limit_train_batches=4", "--trainer.limit_val_batches=1", "--trainer.max_epochs=3"]
RUN += ["--model.model=test_nonfinite.PoisonedNet", "--plots.enabled=false"]


class PoisonedNet(nn.Module):
    """A linear classifier whose ``poisoned``-th training forward pass (from 1) returns NaN logits."""

    def __init__(self, poisoned: int = 6) -> None:
        super().__init__()
        self.poisoned = poisoned
        self.calls = 0
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def forward(self, images: Tensor) -> Tensor:
        logits = self.body(images)
        if self.training and torch.is_grad_enabled():
            self.calls += 1
            if self.calls == self.poisoned:
                return logits * float("nan")
        return logits


def test_nan_loss_stops_at_that_step_naming_it_and_keeps_the_last_good_checkpoint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Four steps per epoch: the 6th training step is epoch 2's second batch.
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", *RUN)

    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "error: the training loss is NaN or infinite at epoch 2, batch_idx 1, global_step 5" in err
    last = Path("runs/lightning_logs/version_0/checkpoints/last.ckpt")
    assert f"the last good checkpoint is {last}" in err
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["global_step"] == 4  # written after epoch 1, nothing after the bad step
    assert all(torch.isfinite(tensor).all() for tensor in checkpoint["state_dict"].values())


def test_skip_mode_skips_the_batch_and_reports_the_count(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli("fit", *RUN, "--nonfinite.mode=skip")

    out = capsys.readouterr().out
    assert "epoch 2: skipped 1 batch with a non-finite loss (the first at batch_idx 1, global_step 5)" in out
    assert result.trainer.current_epoch == 3
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    rows = read_metrics(Path(result.trainer.log_dir or ""))
    train_losses = [float(row["train_loss"]) for row in rows if row.get("train_loss")]
    assert len(train_losses) == 3 and all(torch.isfinite(torch.tensor(train_losses)))


def test_unknown_mode_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", "--nonfinite.mode=ignore")

    assert exit_info.value.code != 0
    assert "nonfinite" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_the_bad_step_is_named_one_step_later_without_a_host_sync() -> None:
    guard = NonFiniteGuard("stop")
    trainer: Any = SimpleNamespace(current_epoch=2, global_step=41)
    nan = torch.tensor(float("nan"), device="cuda")

    torch.cuda.set_sync_debug_mode("error")  # any blocking copy or stream sync raises
    try:
        assert guard.accept(nan, trainer, batch_idx=5)  # queued, not yet read
    finally:
        torch.cuda.set_sync_debug_mode("default")

    with pytest.raises(NonFiniteLossError, match="at epoch 3, batch_idx 5, global_step 41"):
        guard.check()  # what the next step, the epoch end or a checkpoint save does


def test_skip_mode_refuses_several_processes() -> None:
    trainer: Any = SimpleNamespace(current_epoch=0, global_step=0, world_size=2)

    with pytest.raises(ValueError, match="one process only; use 'stop' under DDP"):
        NonFiniteGuard("skip").setup(trainer, nn.Module(), stage="fit")


def test_exploded_weights_write_no_checkpoint_and_the_one_named_is_good(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The learning rate jumps by 1e30 at step 35 (in epoch 2): every training loss before it is
    # finite, the weights after it are not.
    explode = ["--model.scheduler=torch.optim.lr_scheduler.MultiStepLR", "--model.scheduler.milestones=[35]"]
    explode += ["--model.scheduler.gamma=1e30", "--model.scheduler_interval=step"]

    with pytest.raises(SystemExit) as exit_info:
        cli("fit", *explode, "--trainer.max_epochs=4", "--plots.enabled=false")

    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "became NaN or infinite by epoch 2" in err
    named = Path(re.search(r"the last good checkpoint is (\S+)", err).group(1))  # type: ignore[union-attr]
    assert sorted(path.name for path in named.parent.iterdir()) == [
        "best.ckpt",
        "epoch=0-step=18.ckpt",
        "last.ckpt",
    ]
    validated = cli("validate", f"--ckpt_path={named}", "--plots.enabled=false")
    assert math.isfinite(float(validated.trainer.callback_metrics["val_loss"]))


def test_the_state_is_checked_once_per_epoch_not_once_per_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    checks: list[int] = []
    ruined_state = NonFiniteGuard.ruined_state

    def counted(trainer: Any, pl_module: Any) -> str | None:
        checks.append(trainer.global_step)
        return ruined_state(trainer, pl_module)

    monkeypatch.setattr(NonFiniteGuard, "ruined_state", staticmethod(counted))
    cli("fit", "--trainer.limit_train_batches=4", "--trainer.max_epochs=3", "--plots.enabled=false")

    # Validation end, the checkpoint it triggers and the epoch end share one check per epoch.
    assert checks == [4, 8, 12]
