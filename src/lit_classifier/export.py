"""Export a trained network to ONNX or to a ``torch.export`` program, for serving without this package.

From Python::

    from lit_classifier import ClassifierModule
    from lit_classifier.export import export_onnx, export_program

    module = ClassifierModule.load_from_checkpoint("runs/.../last.ckpt")
    export_program(module, "model.pt2")   # torch.export.load("model.pt2").module()(images) -> logits
    export_onnx(module, "model.onnx")     # input "images", output "logits", any batch size

From the shell::

    python -m lit_classifier.export runs/lightning_logs/version_0/checkpoints/last.ckpt model.onnx

Both files hold the network: images in, logits out (no softmax), with the batch size left free. The
ONNX file also carries, in its ``metadata_props`` (onnxruntime: ``custom_metadata_map``), what
preparing an image takes, each value as JSON (``preparation``): ``class_names``, ``image_mode`` ("RGB"
or "L"), ``channels``, ``resize`` (the shorter side), ``crop`` (the centre crop's height and width),
``interpolation``, ``mean`` and ``std`` (of pixels scaled to [0, 1]); the README shows the lines that
use them. Both go through
``torch.export``, which records the operations one example batch runs: a network whose control flow
depends on its input's values exports only the path that batch took. These are torch's current
exporters; its older ones (TorchScript's ``torch.jit.trace`` and the TorchScript-based ONNX
exporter) are deprecated. ONNX export needs ``pip install -e ".[export]"`` (``onnx`` and
``onnxscript``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from jsonargparse import auto_cli
from torch import Tensor
from torch.export import Dim
from torchvision.transforms import InterpolationMode, v2

from lit_classifier.data.decode import EvaluationImage
from lit_classifier.errors import InputError, command_errors
from lit_classifier.inference import evaluation_transform
from lit_classifier.module import ClassifierModule
from lit_classifier.outputs import replaced_file, written_whole


def example_input(module: ClassifierModule, batch_size: int = 2) -> Tensor:
    """Zeros shaped like the module's images: ``input_shape`` as the data module gave it."""
    shape = module.record.input_shape
    if shape is None:
        raise ValueError(
            f"{type(module).__name__} does not know its input shape: pass example=torch.zeros(1, C, H, W), "
            "or export a module that was trained with a data module (its checkpoint stores the shape)"
        )
    return torch.zeros(batch_size, *shape)


@torch.no_grad()
def _exportable(module: ClassifierModule, example: Tensor | None) -> tuple[ClassifierModule, Tensor]:
    """A module around a copy of the network, on the CPU, in evaluation mode (batch norm uses its
    running statistics), run once on the example (which gives lazy layers their shapes), and that
    example: two images at least, since ``torch.export`` fixes a dimension that is 1 in it. The
    module itself stays where and as it was."""
    example = (example_input(module) if example is None else example).cpu()
    if len(example) == 1:
        example = torch.cat([example, example])
    exportable = ClassifierModule(copy.deepcopy(module.model)).cpu().eval()
    exportable(example)
    return exportable, example


#: The dynamic shape of the one input: its first dimension, the batch, is any size.
BATCH_FREE = ({0: Dim("batch")},)


def export_program(module: ClassifierModule, path: str | Path, example: Tensor | None = None) -> Path:
    """Save the network as a ``torch.export`` program (a ``.pt2`` file), which
    ``torch.export.load(path).module()`` runs without this package."""
    path = Path(path)
    if path.suffix != ".pt2":
        raise InputError(f"a torch.export program is a .pt2 file, not {path.name}")
    exportable, example = _exportable(module, example)
    with torch.no_grad():
        program = torch.export.export(exportable.model, (example,), dynamic_shapes=BATCH_FREE)
    with written_whole(path, "wb") as file:  # a file cut short by a full disk is never left
        torch.export.save(program, file)
    return path


def preparation(module: ClassifierModule, trusted_modules: Sequence[str] = ()) -> dict[str, Any]:
    """What preparing an image for the network takes (see the module docstring), read from the
    evaluation transform that ``predict`` uses (``inference.evaluation_transform``), so that a file's
    user prepares images as ``predict`` does. A module that records no data module has its class
    names only; one whose data module decodes images another way has no resize or crop."""
    prepared: dict[str, Any] = {"class_names": module.class_names}
    if module.record.data is None:
        return prepared
    transform = evaluation_transform(module, trusted_modules)
    decode = transform.decode
    prepared["mean"] = transform.standardize.mean.flatten().tolist()
    prepared["std"] = transform.standardize.std.flatten().tolist()
    if isinstance(decode, EvaluationImage):
        resize = next(step for step in decode.geometry.transforms if isinstance(step, v2.Resize))
        prepared.update(
            image_mode=decode.mode,
            channels=decode.channels,
            resize=decode.resize,
            crop=list(decode.size),
            # torchvision names it as a string or as an InterpolationMode; antialiased, as Pillow's is
            interpolation=InterpolationMode(resize.interpolation).value,
        )
    return prepared


def with_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Write ``metadata`` into the ONNX file at ``path`` as its ``metadata_props``, each value as JSON."""
    import onnx

    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {key: json.dumps(value) for key, value in metadata.items()})
    onnx.save(model, str(path))


def export_onnx(
    module: ClassifierModule,
    path: str | Path,
    example: Tensor | None = None,
    trusted_modules: Sequence[str] = (),
) -> Path:
    """Export the network to ONNX: input ``images``, output ``logits``, the batch size left free, and
    in its metadata what preparing an image takes (``preparation``).

    Lightning's ``LightningModule.to_onnx`` with torch's ``torch.export``-based exporter
    (``dynamo=True``); it needs ``onnx`` and ``onnxscript``.
    """
    metadata = preparation(module, trusted_modules)
    exportable, example = _exportable(module, example)
    try:
        with replaced_file(Path(path)) as temporary:  # a file cut short by a full disk is never left
            exportable.to_onnx(
                temporary,
                example,
                input_names=["images"],
                output_names=["logits"],
                dynamo=True,
                dynamic_shapes=BATCH_FREE,
                external_data=False,  # one file, weights inside (a classifier is far below 2 GB)
                verbose=False,  # no progress lines of the exporter's steps
            )
            with_metadata(temporary, metadata)
    except ImportError as error:  # Lightning's ModuleNotFoundError among them
        raise InputError(
            f"ONNX export needs the onnx and onnxscript packages ({error}): pip install -e '.[export]'"
        ) from error
    return Path(path)


def export(checkpoint: Path, output: Path, trusted_modules: list[str] | None = None) -> Path:
    """Export a checkpoint's network; the format follows ``output``'s suffix.

    Args:
        checkpoint: a checkpoint written by ``lit-classifier fit``.
        output: ``model.onnx`` (ONNX) or ``model.pt2`` (a ``torch.export`` program).
        trusted_modules: modules whose network classes the checkpoint may name.
    """
    suffix = Path(output).suffix
    if suffix not in (".onnx", ".pt2"):
        deprecated = suffix in (".pt", ".ts")
        hint = " (TorchScript, which torch deprecates, is no longer written)" if deprecated else ""
        raise InputError(f"unknown format of {output}: name it *.onnx or *.pt2{hint}")
    trusted = trusted_modules or []
    module = ClassifierModule.load_from_checkpoint(Path(checkpoint), trusted_modules=trusted)
    if suffix == ".onnx":
        return export_onnx(module, output, trusted_modules=trusted)
    return export_program(module, output)


def main(args: list[str] | None = None) -> None:
    """``python -m lit_classifier.export CHECKPOINT OUTPUT``."""
    with command_errors():
        print(f"wrote {auto_cli(export, args=args, prog='python -m lit_classifier.export')}")


if __name__ == "__main__":
    main()
