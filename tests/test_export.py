"""ONNX and ``torch.export`` files give the module's own outputs on the same images, and the export
command says nothing but what it wrote."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import FAST, cli, run_dir
from lit_classifier import ClassifierModule
from lit_classifier.export import export_onnx, export_program, main
from lit_classifier.models import SmallCNN


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A checkpoint of SmallCNN fitted a few steps on digits by the command line."""
    folder = tmp_path_factory.mktemp("fit")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        yield (run_dir(cli("fit", *FAST, "--plots.enabled=false")) / "checkpoints" / "last.ckpt").resolve()


@pytest.fixture
def module(checkpoint: Path) -> ClassifierModule:
    return ClassifierModule.load_from_checkpoint(checkpoint, weights_only=True).eval()


def test_program_file_gives_the_modules_logits(module: ClassifierModule, tmp_path: Path) -> None:
    path = export_program(module, tmp_path / "model.pt2")
    images = torch.randn(5, 1, 8, 8)  # another batch size than the exported one

    loaded = torch.export.load(str(path)).module()

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

    export_program(module, tmp_path / "model.pt2")

    assert module.model.training


def test_the_command_exports_by_suffix_with_no_warning_and_no_progress_lines(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # deprecations included, whatever pytest's filters say
        for name in ("model.onnx", "model.pt2"):
            main([str(checkpoint), str(tmp_path / name)])

    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
    out = capsys.readouterr()
    assert out.out.splitlines() == [f"wrote {tmp_path / 'model.onnx'}", f"wrote {tmp_path / 'model.pt2'}"]
    assert out.err == ""
    assert (tmp_path / "model.onnx").stat().st_size > 0 and (tmp_path / "model.pt2").stat().st_size > 0


def test_the_command_names_the_formats_it_writes(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("model.zip", "model.pt"):
        with pytest.raises(SystemExit):
            main([str(checkpoint), str(tmp_path / name)])

    err = capsys.readouterr().err
    assert f"unknown format of {tmp_path / 'model.zip'}: name it *.onnx or *.pt2\n" in err
    assert (
        "model.pt: name it *.onnx or *.pt2 (TorchScript, which torch deprecates, is no longer written)" in err
    )


def test_a_module_without_an_input_shape_needs_an_example(tmp_path: Path) -> None:
    module = ClassifierModule(SmallCNN(), num_classes=10)

    with pytest.raises(ValueError, match="does not know its input shape"):
        export_onnx(module, tmp_path / "model.onnx")
    path = export_program(module, tmp_path / "model.pt2", example=torch.zeros(1, 1, 8, 8))
    assert torch.export.load(str(path)).module()(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
