"""Speed options (channels-last, torch.compile), synthetic data, and no host syncs in the step."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from helpers import cli, last_value, read_metrics, run_dir
from lit_classifier import ClassifierModule
from lit_classifier.callbacks.speed import SpeedOptions
from lit_classifier.data import SyntheticDataModule
from lit_classifier.models import SmallCNN


def digits_val_acc(*options: str) -> float:
    """Validation accuracy of the default 8-epoch digits run with ``options`` added."""
    return last_value(read_metrics(run_dir(cli("fit", "--progress_bar.refresh_rate=0", *options))), "val_acc")


def test_channels_last_trains_to_the_same_accuracy() -> None:
    eager = digits_val_acc()
    channels_last = digits_val_acc("--speed.channels_last=true")

    assert channels_last >= 0.97
    assert abs(channels_last - eager) <= 0.02  # within noise: a few of the 270 val images


def test_compiled_network_trains_to_the_same_accuracy() -> None:
    result = cli("fit", "--progress_bar.refresh_rate=0", "--speed.compile_mode=default")

    assert hasattr(result.model.model, "_compiled_call_impl")  # compiled in place: same state-dict keys
    assert last_value(read_metrics(run_dir(result)), "val_acc") >= 0.97
    assert all(not key.startswith("model._orig_mod") for key in result.model.state_dict())


def test_speed_options_apply_once_to_the_built_network() -> None:
    module = ClassifierModule(SmallCNN())
    trainer = L.Trainer(
        fast_dev_run=True,
        logger=False,
        enable_progress_bar=False,
        callbacks=[SpeedOptions(channels_last=True)],
    )

    trainer.fit(module, datamodule=SyntheticDataModule(train_size=64, val_size=16, batch_size=16))

    convolution = module.model.features[2][0].weight  # the second block's, a materialised lazy layer
    assert convolution.is_contiguous(memory_format=torch.channels_last)


def test_synthetic_data_is_seeded_and_shaped_like_cifar10() -> None:
    first, again = (
        SyntheticDataModule(train_size=32, val_size=8),
        SyntheticDataModule(train_size=32, val_size=8),
    )
    first.setup("fit")
    again.setup("fit")

    assert first.dims == (3, 32, 32)
    assert first.num_classes == 10
    assert first.splits["train"].images.dtype == torch.uint8
    assert torch.equal(first.splits["train"].images, again.splits["train"].images)


def test_synthetic_data_rejects_an_impossible_shape() -> None:
    with pytest.raises(ValueError, match="channels must be 1 or 3, got 2"):
        SyntheticDataModule(channels=2)


class NoSyncDuringSteps(Callback):
    """Turns CUDA's sync debugging to "error" from the start to the end of every training batch."""

    def on_train_batch_start(self, *args: object) -> None:
        torch.cuda.set_sync_debug_mode("error")

    def on_train_batch_end(self, *args: object) -> None:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("gpu_resident", [False, True])
def test_training_steps_make_no_host_sync_on_cuda(gpu_resident: bool) -> None:
    module = ClassifierModule(SmallCNN())
    data = SyntheticDataModule(train_size=2048, val_size=256, batch_size=256, gpu_resident=gpu_resident)
    trainer = L.Trainer(
        accelerator="cuda",
        devices=1,
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        callbacks=[NoSyncDuringSteps()],
    )

    trainer.fit(module, datamodule=data)  # raises on the first synchronising call inside a step

    assert trainer.global_step == 2 * (2048 // 256)
