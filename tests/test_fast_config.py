"""configs/cifar10_fast.yaml: the fast path's config parses and trains with synthetic data in its place."""

from __future__ import annotations

from pathlib import Path

import torch

from helpers import cli
from lit_classifier.data import SyntheticDataModule
from lit_classifier.models import FastCifarNet

FAST_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "cifar10_fast.yaml"
SYNTHETIC = (
    "--data=lit_classifier.data.SyntheticDataModule",
    "--data.gpu_resident=true",
    "--data.augment.crop_padding=4",
    "--data.augment.flip=true",
    "--data.train_size=64",
    "--data.val_size=16",
    "--data.batch_size=32",
)


def test_fast_config_trains_on_synthetic_data_of_the_same_shape() -> None:
    # On this CPU, bf16 autocast and compiling would take most of the test's time, so they are
    # turned off here; benchmarks/gpu_session.sh measures them on a GPU.
    result = cli(
        "fit",
        f"--config={FAST_CONFIG}",
        *SYNTHETIC,
        "--trainer.precision=32-true",
        "--speed.compile_mode=null",
        "--trainer.max_epochs=1",
        "--trainer.limit_val_batches=1",
        "--progress_bar.refresh_rate=0",
    )

    assert isinstance(result.model.model, FastCifarNet)
    assert isinstance(result.datamodule, SyntheticDataModule) and result.datamodule.gpu_resident
    assert result.trainer.global_step == 2  # 64 images, batches of 32
    optimizer = result.trainer.optimizers[0]
    assert optimizer.defaults["nesterov"] and optimizer.defaults["fused"]
    assert type(result.trainer.lr_scheduler_configs[0].scheduler).__name__ == "OneCycleLR"
    convolution = result.model.model.features[3][0].weight
    assert convolution.is_contiguous(memory_format=torch.channels_last)
