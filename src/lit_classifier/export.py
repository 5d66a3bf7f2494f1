"""Export a trained network to TorchScript or ONNX, for serving without this package.

From Python::

    from lit_classifier import ClassifierModule
    from lit_classifier.export import export_onnx, export_torchscript

    module = ClassifierModule.load_from_checkpoint("runs/.../last.ckpt")
    export_torchscript(module, "model.pt")    # torch.jit.load("model.pt")(images) -> logits
    export_onnx(module, "model.onnx")         # input "images", output "logits", any batch size

From the shell::

    python -m lit_classifier.export runs/lightning_logs/version_0/checkpoints/last.ckpt model.onnx

Both files hold the network alone: images in, logits out (no softmax, no class names; the names
are in the checkpoint's ``hyper_parameters``). Both are traced on one example batch, so a network
whose control flow depends on its input's values exports only the path that batch took. torch
2.14 marks TorchScript and this ONNX exporter deprecated (a FutureWarning); both still work, and
ONNX files stay readable by any ONNX runtime.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from jsonargparse import auto_cli
from torch import Tensor, nn

from lit_classifier.errors import InputError, command_errors
from lit_classifier.module import ClassifierModule


def example_input(module: nn.Module, batch_size: int = 2) -> Tensor:
    """Zeros shaped like the module's images: ``input_shape`` as the data module gave it."""
    shape = getattr(module, "hparams", {}).get("input_shape")
    if shape is None:
        raise ValueError(
            f"{type(module).__name__} does not know its input shape: pass example=torch.zeros(1, C, H, W), "
            "or export a module that was trained with a data module (its checkpoint stores the shape)"
        )
    return torch.zeros(batch_size, *shape)


@torch.no_grad()
def _network(module: nn.Module, example: Tensor) -> nn.Module:
    """A copy of the bare network, on the CPU, in evaluation mode (batch norm uses its running
    statistics), run once on ``example`` (which gives lazy layers their shapes); the module itself
    stays where and as it was."""
    network = module.model if isinstance(module, ClassifierModule) else module
    network = copy.deepcopy(network).cpu().eval()
    network(example)
    return network


def export_torchscript(module: nn.Module, path: str | Path, example: Tensor | None = None) -> Path:
    """Trace the network to a TorchScript file that ``torch.jit.load`` runs without this package."""
    example = example_input(module) if example is None else example
    path = Path(path)
    with torch.no_grad():
        traced = torch.jit.trace(_network(module, example.cpu()), example.cpu())
    traced.save(str(path))
    return path


def export_onnx(module: nn.Module, path: str | Path, example: Tensor | None = None, opset: int = 17) -> Path:
    """Export the network to ONNX: input ``images``, output ``logits``, the batch size left free.

    Uses torch's TorchScript-based exporter, which needs only the ``onnx`` package (the newer
    ``torch.export``-based one also needs ``onnxscript``).
    """
    example = example_input(module) if example is None else example
    path = Path(path)
    with torch.no_grad():
        torch.onnx.export(
            _network(module, example.cpu()),
            (example.cpu(),),
            str(path),
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    return path


def export(checkpoint: Path, output: Path, trusted_modules: list[str] | None = None) -> Path:
    """Export a checkpoint's network; the format follows ``output``'s suffix.

    Args:
        checkpoint: a checkpoint written by ``lit-classifier fit``.
        output: ``model.onnx`` (ONNX) or ``model.pt`` / ``model.ts`` (TorchScript).
        trusted_modules: modules whose network classes the checkpoint may name.
    """
    exporters = {".onnx": export_onnx, ".pt": export_torchscript, ".ts": export_torchscript}
    exporter = exporters.get(Path(output).suffix)
    if exporter is None:
        raise InputError(f"unknown format of {output}: name it *.onnx, *.pt or *.ts")
    module = ClassifierModule.load_from_checkpoint(Path(checkpoint), trusted_modules=trusted_modules or [])
    return exporter(module, output)


def main(args: list[str] | None = None) -> None:
    """``python -m lit_classifier.export CHECKPOINT OUTPUT``."""
    with command_errors():
        print(f"wrote {auto_cli(export, args=args)}")


if __name__ == "__main__":
    main()
