"""TorchScript and ONNX exports give the module's own outputs on the same images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import FAST, cli, run_dir
from lit_classifier import ClassifierModule
from lit_classifier.export import export_onnx, export_torchscript, main
from lit_classifier.models import SmallCNN

pytestmark = [
    # torch deprecates TorchScript and its ONNX exporter; both still work and are what we test.
    pytest.mark.filterwarnings("ignore:.*torch.jit.* is deprecated:FutureWarning"),
    pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export"),
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A checkpoint of SmallCNN fitted a few steps on digits by the command line."""
    folder = tmp_path_factory.mktemp("fit")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        yield (run_dir(cli("fit", *FAST)) / "checkpoints" / "last.ckpt").resolve()


@pytest.fixture
def module(checkpoint: Path) -> ClassifierModule:
    return ClassifierModule.load_from_checkpoint(checkpoint, weights_only=True).eval()


def test_torchscript_file_gives_the_modules_logits(module: ClassifierModule, tmp_path: Path) -> None:
    path = export_torchscript(module, tmp_path / "model.pt")
    images = torch.randn(5, 1, 8, 8)  # another batch size than the traced one

    loaded = torch.jit.load(str(path))

    torch.testing.assert_close(loaded(images), module(images), rtol=1e-5, atol=1e-5)


def test_onnx_file_gives_the_modules_logits(module: ClassifierModule, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    path = export_onnx(module, tmp_path / "model.onnx")
    images = torch.randn(5, 1, 8, 8)

    onnx.checker.check_model(str(path))
    (logits,) = ReferenceEvaluator(str(path)).run(None, {"images": images.numpy()})

    np.testing.assert_allclose(logits, module(images).detach().numpy(), rtol=1e-4, atol=1e-4)


def test_export_leaves_the_module_as_it_was(module: ClassifierModule, tmp_path: Path) -> None:
    module.train()

    export_torchscript(module, tmp_path / "model.pt")

    assert module.model.training


def test_command_exports_a_checkpoint_by_suffix(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main([str(checkpoint), str(tmp_path / "model.onnx")])

    assert (tmp_path / "model.onnx").stat().st_size > 0
    assert f"wrote {tmp_path / 'model.onnx'}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([str(checkpoint), str(tmp_path / "model.zip")])
    assert "name it *.onnx, *.pt or *.ts" in capsys.readouterr().err


def test_a_module_without_an_input_shape_needs_an_example(tmp_path: Path) -> None:
    module = ClassifierModule(SmallCNN(), num_classes=10)

    with pytest.raises(ValueError, match="does not know its input shape"):
        export_onnx(module, tmp_path / "model.onnx")
    path = export_onnx(module, tmp_path / "model.onnx", example=torch.zeros(1, 1, 8, 8))
    assert path.is_file()
