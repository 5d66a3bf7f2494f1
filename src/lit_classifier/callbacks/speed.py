"""Speed options that change how the network runs, not what it computes.

Small classifiers are launch-bound: on one H200 a hand-written loop for a small CIFAR CNN ran 165k
images/s eager, 144k with ``torch.compile``'s default mode, and 254k with ``mode="reduce-overhead"``
(CUDA graphs, which replay a whole step's kernels with one launch). So both options here are
switches to measure (``benchmarks/throughput.py``), not defaults to trust.
"""

from __future__ import annotations

from typing import Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from lit_classifier.callbacks.finetune import network_of

CompileMode = Literal["default", "reduce-overhead", "max-autotune"]


class SpeedOptions(Callback):
    """Puts the network in channels-last memory format and/or compiles it, once it is built.

    Applied when fitting, validating, testing or predicting starts: after ``ClassifierModule.setup``
    has sized the head and materialised lazy layers, and after the move to the device. Both act on
    the network in place, so checkpoints keep their usual parameter names.

    Args:
        channels_last: store convolution weights as NHWC; with bf16 on a recent GPU convolutions
            run faster, and activations follow the weights' layout.
        compile_mode: ``torch.compile`` the network with this mode; ``None`` runs it eagerly.
    """

    def __init__(self, channels_last: bool = False, compile_mode: CompileMode | None = None) -> None:
        self.channels_last = channels_last
        self.compile_mode = compile_mode
        self._applied_to: nn.Module | None = None

    @property
    def asked_for(self) -> bool:
        return self.channels_last or self.compile_mode is not None

    def _apply(self, pl_module: L.LightningModule) -> None:
        network = network_of(pl_module)
        if network is self._applied_to:
            return
        if self.channels_last:
            network.to(memory_format=torch.channels_last)
        if self.compile_mode is not None:
            network.compile(mode=self.compile_mode)
        self._applied_to = network

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._apply(pl_module)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._apply(pl_module)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._apply(pl_module)

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._apply(pl_module)
