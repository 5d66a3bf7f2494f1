"""What ``throughput.py`` runs: the hand-written loops, the Lightning runs, and the settings of each.

A ``Setup`` is one way of training (network, data path, precision, memory format, optimizer,
compile mode). The same ``Setup`` gives a hand-written loop (``HandLoop``) and a
``ClassifierModule`` + ``Trainer`` (``lightning_run``) that do the same work: same network and
initial weights, same batches, same optimizer, same precision, loss and correct predictions
counted every step on the device, one host sync per epoch.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback
from torch import nn

from lit_classifier import ClassifierModule
from lit_classifier.callbacks.speed import CompileMode, SpeedOptions
from lit_classifier.data import ClassificationDataModule
from lit_classifier.models import CifarResNet18, FastCifarNet, SmallCNN


class LinearNet(nn.Sequential):
    """One linear layer on the flattened image (10 classes): a step that costs almost nothing, so
    with device-resident data a loop's own per-step overhead is what the table shows."""

    def __init__(self) -> None:
        super().__init__(nn.Flatten(), nn.LazyLinear(10))


ModelName = Literal["small_cnn", "resnet18", "fast_cifar", "linear"]
DataPath = Literal["loader", "resident"]
NETWORKS = {"small_cnn": SmallCNN, "resnet18": CifarResNet18, "fast_cifar": FastCifarNet, "linear": LinearNet}
FAST_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "cifar10_fast.yaml"


@dataclass(frozen=True)
class Setup:
    """One way of training; ``label`` names it in the table."""

    model: ModelName
    data_path: DataPath
    bf16: bool = False
    channels_last: bool = False
    compile_mode: CompileMode | None = None
    # The classic recipe's SGD unless ``optimizer`` holds other keyword arguments (the fast path's).
    optimizer: tuple[tuple[str, Any], ...] = (("lr", 0.05), ("momentum", 0.9))
    label_smoothing: float = 0.0

    @property
    def label(self) -> str:
        parts = [self.model, self.data_path, "bf16" if self.bf16 else "fp32"]
        if self.channels_last:
            parts.append("channels_last")
        if self.compile_mode:
            parts.append(f"compile {self.compile_mode}")
        return " ".join(parts)

    def make_optimizer(self, parameters: Iterable[Any]) -> torch.optim.Optimizer:
        return torch.optim.SGD(parameters, **dict(self.optimizer))


def parity_setups(models: list[ModelName], paths: list[DataPath], precisions: list[str]) -> list[Setup]:
    """The parity pairs' settings: every network x data path x precision asked for."""
    return [
        Setup(model, path, bf16=precision == "bf16", channels_last=precision == "bf16")
        for model in models
        for path in paths
        for precision in precisions
    ]


def classic_recipe() -> Setup:
    """The hand-written baseline of the fast path: FastCifarNet, DataLoader, fp32, plain SGD."""
    return Setup("fast_cifar", "loader")


def best_eager(device: torch.device) -> Setup:
    """The best hand-written eager loop: the fast path's settings (device-resident data, bf16,
    channels_last, fused SGD on CUDA) without compiling."""
    return replace(fast_path(device), compile_mode=None)


def fast_path(device: torch.device, compile_mode: CompileMode | Literal["config"] | None = "config") -> Setup:
    """The settings of ``configs/cifar10_fast.yaml`` (read from it, so the two cannot drift apart);
    ``compile_mode`` replaces the config's. The fused SGD is kept on CUDA only."""
    config = yaml.safe_load(FAST_CONFIG.read_text())
    module = config["model"]["init_args"]
    options = dict(module["optimizer"]["init_args"])
    options["fused"] = bool(options.get("fused")) and device.type == "cuda"
    speed = config["speed"]
    return Setup(
        "fast_cifar",
        "resident",
        bf16=config["trainer"]["precision"] == "bf16-mixed",
        channels_last=speed["channels_last"],
        compile_mode=speed.get("compile_mode") if compile_mode == "config" else compile_mode,
        optimizer=tuple(sorted(options.items())),
        label_smoothing=module.get("label_smoothing", 0.0),
    )


def batches(data: ClassificationDataModule, path: DataPath, device: torch.device) -> Iterable:
    """The training batches: the DataLoader (made on the host, copied per batch) or device-resident."""
    return data.train_dataloader() if path == "loader" else data.device_batches("train", device)


class HandLoop:
    """The hand-written training loop of ``setup``, one epoch per call; starts from ``model``'s weights."""

    def __init__(self, setup: Setup, model: nn.Module, loader: Iterable, device: torch.device) -> None:
        self.setup = setup
        self.model = copy.deepcopy(model).to(device)
        if setup.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = setup.make_optimizer(self.model.parameters())
        self.criterion = nn.CrossEntropyLoss(label_smoothing=setup.label_smoothing)
        self.loader = loader
        self.device = device

    def images_per_epoch(self) -> int:
        return sum(len(labels) for _, labels in self.loader)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.setup.bf16):
            logits = self.model(images)
            loss = self.criterion(logits, labels)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), logits.detach()

    def epoch(self) -> None:
        self.model.train()
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen = 0
        for images, labels in self.loader:
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            loss, logits = self.step(images, labels)
            loss_sum += loss.double() * labels.shape[0]
            correct += (logits.argmax(dim=1) == labels).sum()
            seen += labels.shape[0]
        _ = (loss_sum / seen).item(), correct.item()  # the epoch's print: one sync per epoch


class BareModule(L.LightningModule):
    """The least a LightningModule can do: ``training_step`` returns the loss; nothing is counted
    or logged. Its ratio to the hand-written loop is the Trainer's own cost, the ceiling of parity."""

    def __init__(self, setup: Setup, model: nn.Module) -> None:
        super().__init__()
        self.training_setup = setup
        self.model = model
        self.criterion = nn.CrossEntropyLoss(label_smoothing=setup.label_smoothing)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.criterion(self.model(batch[0]), batch[1])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.training_setup.make_optimizer(self.parameters())


def lightning_run(
    setup: Setup,
    model: nn.Module,
    data: ClassificationDataModule,
    loader: Iterable,
    device: torch.device,
    epochs: int,
    callback: Callback,
    bare: bool = False,
) -> None:
    """``ClassifierModule`` (or ``BareModule``) + ``Trainer``: ``epochs`` epochs of ``setup`` on
    ``loader``, with ``callback``."""
    module: L.LightningModule
    if bare:
        module = BareModule(setup, model)
    else:
        module = ClassifierModule(
            model,
            num_classes=data.num_classes,
            input_shape=data.dims,
            label_smoothing=setup.label_smoothing,
            optimizer=functools.partial(torch.optim.SGD, **dict(setup.optimizer)),
        )
    trainer = L.Trainer(
        accelerator=device.type,
        devices=1,
        max_epochs=epochs,
        precision="bf16-mixed" if setup.bf16 else "32-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[SpeedOptions(setup.channels_last, setup.compile_mode), callback],
    )
    trainer.fit(module, train_dataloaders=loader)


def network(setup: Setup, data: ClassificationDataModule) -> nn.Module:
    """A fresh network for ``setup``, its lazy layers built and its head sized for ``data``; seeded,
    so every loop of the same network starts from the same weights."""
    torch.manual_seed(0)
    module = ClassifierModule(NETWORKS[setup.model](), num_classes=data.num_classes, input_shape=data.dims)
    return module.model
