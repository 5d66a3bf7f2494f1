"""Data files are data: reading one never runs code its author put in it.

Each bad data set below holds, where the real format has pickled data, a pickle of an object whose
``__reduce__`` calls ``os.system`` to create a canary file: CIFAR batches, litdata chunks (in an
image field, and in the info sample), and a Hugging Face folder whose loading script would create
it on import. Every way of reaching the data (the command line, ``train_model``, a checkpoint's
stored data module) must stop with one error naming the file, and the canary must not exist.
Images are decoded only as image formats.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import datasets

from chunk_files import converted_photos, write_chunks
from data_files import write_cifar10
from helpers import FAST, cli
from lit_classifier import (
    CIFAR10DataModule,
    HuggingFaceDataModule,
    StreamingDataModule,
    train_model,
)
from lit_classifier.data.chunks import SAFE_SERIALIZERS
from lit_classifier.data.decode import decode
from lit_classifier.data.images import decode_problem
from lit_classifier.data.standard_files import read_batches, read_class_names
from lit_classifier.errors import InputError
from lit_classifier.models import SmallCNN

TINY = ["--data.batch_size=4", "--plots.enabled=false"]


class RunsCode:
    """Pickles as a call of ``os.system``: unpickling it would create ``canary``."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return os.system, (f"touch {self.canary}",)


def cifar_with_code(folder: Path, canary: Path) -> Path:
    write_cifar10(folder)
    batch = {"data": RunsCode(canary), "labels": [0]}
    (folder / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    return folder


def chunks_with_code_in_images(folder: Path, canary: Path) -> Path:
    converted_photos(folder)
    write_chunks(folder / "train", [{"image": RunsCode(canary), "label": n % 3} for n in range(8)])
    return folder


def chunks_with_code_in_info(folder: Path, canary: Path) -> Path:
    converted_photos(folder)
    write_chunks(folder / "info", [{"info": RunsCode(canary)}])
    return folder


def hub_folder_with_a_script(folder: Path, canary: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / f"{folder.name}.py").write_text(f"open({str(canary)!r}, 'w').close()\n")
    return folder


@dataclass(frozen=True)
class BadData:
    """A data set that would run code, how to choose it, and what its error must name."""

    write: Callable[[Path, Path], Path]
    module: type
    option: str  # the data module's argument that points at the files
    extra: tuple[str, ...]
    names: tuple[str, ...]  # what the error message names


BAD_DATA = {
    "cifar batch": BadData(
        cifar_with_code, CIFAR10DataModule, "data_dir", ("download",), ("data_batch_1", "posix.system")
    ),
    "chunk image": BadData(
        chunks_with_code_in_images, StreamingDataModule, "input_dir", (), ("chunk-0-0.bin", "'pickle'")
    ),
    "chunk info": BadData(
        chunks_with_code_in_info, StreamingDataModule, "input_dir", (), ("info", "'pickle'")
    ),
    "hub script": BadData(
        hub_folder_with_a_script, HuggingFaceDataModule, "path", (), ("loading script", "set.py")
    ),
}


def options(bad: BadData, folder: Path) -> dict[str, Any]:
    return {bad.option: str(folder), **{name: False for name in bad.extra}}


@pytest.fixture(params=BAD_DATA, ids=list(BAD_DATA))
def bad(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[BadData, Path, Path]:
    """A bad data set, its folder, and the canary it would create."""
    data = BAD_DATA[request.param]
    canary = tmp_path / "canary"
    return data, data.write(tmp_path / "set", canary), canary


def assert_one_error_line(err: str, bad: BadData, folder: Path) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert str(folder) in err and all(name in err for name in bad.names), err


def test_the_command_refuses_it_with_one_error_line(
    bad: tuple[BadData, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, folder, canary = bad
    given = [f"--data.{name}={value}" for name, value in options(data, folder).items()]
    module = f"--data=lit_classifier.{data.module.__name__}"

    with pytest.raises(SystemExit) as exit_info:
        cli("fit", module, *given, *TINY, *FAST)

    assert exit_info.value.code == 2
    assert_one_error_line(capsys.readouterr().err, data, folder)
    assert not canary.exists()


def test_train_model_refuses_it(bad: tuple[BadData, Path, Path]) -> None:
    data, folder, canary = bad

    with pytest.raises(InputError) as error:
        train_model(SmallCNN(), epochs=1, datamodule=data.module(**options(data, folder), batch_size=4))

    assert str(folder) in str(error.value) and all(name in str(error.value) for name in data.names)
    assert not canary.exists()


def test_a_checkpoints_stored_data_module_refuses_it(
    bad: tuple[BadData, Path, Path], trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, folder, canary = bad
    checkpoint = torch.load(trained, weights_only=True)
    # The file also claims its user trusted the data: only the user of this command can say so.
    init_args = {**options(data, folder), "batch_size": 4, "trusted_data": True}
    class_path = f"lit_classifier.{data.module.__name__}"
    checkpoint["hyper_parameters"]["data"] = {"class_path": class_path, "init_args": init_args}
    torch.save(checkpoint, "planted.ckpt")

    with pytest.raises(SystemExit) as exit_info:
        cli("validate", "--ckpt_path=planted.ckpt", *FAST)

    assert exit_info.value.code == 2
    assert_one_error_line(capsys.readouterr().err, data, folder)
    assert not canary.exists()


class _TorchvisionReader(datasets.CIFAR10):
    """torchvision's own CIFAR-10 reader (``pickle.load``), without the md5 sums of the full files."""

    train_list: ClassVar = [[name, None] for name, _ in datasets.CIFAR10.train_list]
    test_list: ClassVar = [[name, None] for name, _ in datasets.CIFAR10.test_list]
    meta: ClassVar = {**datasets.CIFAR10.meta, "md5": None}


@pytest.mark.parametrize("numpy_module", ["numpy._core.multiarray", "numpy.core.multiarray"])
def test_real_format_batches_read_as_torchvision_reads_them(tmp_path: Path, numpy_module: str) -> None:
    folder = write_cifar10(tmp_path)
    for path in folder.iterdir():  # the downloaded files name numpy 1's module: both names read
        path.write_bytes(
            path.read_bytes().replace(b"numpy._core.multiarray\n", numpy_module.encode() + b"\n")
        )
    names = [name for name, _ in datasets.CIFAR10.train_list]

    images, labels = read_batches(folder, names, "labels")
    reference = _TorchvisionReader(str(tmp_path), train=True)

    assert torch.equal(images.permute(0, 2, 3, 1), torch.as_tensor(reference.data))
    assert labels.tolist() == reference.targets
    assert read_class_names(folder / "batches.meta", "label_names") == reference.classes


def test_a_malformed_batch_is_one_error_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_cifar10(tmp_path)
    (folder / "test_batch").write_bytes(pickle.dumps({"data": np.zeros((2, 100)), "labels": [0, 1]}))

    with pytest.raises(SystemExit):
        cli("test", "--data=lit_classifier.CIFAR10DataModule", f"--data.data_dir={tmp_path}", *FAST)

    err = capsys.readouterr().err
    assert err.startswith(f"error: {folder / 'test_batch'}: its 'data' must be a uint8 array")
    assert err.count("\n") == 1


def test_trusted_data_reads_chunks_stored_with_pickle(tmp_path: Path) -> None:
    folder = converted_photos(tmp_path / "chunks")
    photo = next((tmp_path / "photos" / "cat").iterdir()).read_bytes()
    # Labels as fractions: harmless objects, which litdata can store only with pickle.
    write_chunks(folder / "train", [{"image": photo, "label": Fraction(1)} for _ in range(8)])

    with pytest.raises(InputError, match="'label' with litdata's 'pickle' serializer"):
        StreamingDataModule(str(folder)).setup("fit")
    data = StreamingDataModule(str(folder), trusted_data=True, batch_size=4)
    data.setup("fit")
    images, labels = next(iter(data.train_dataloader()))

    assert images.shape[0] == 4 and labels.tolist() == [1, 1, 1, 1]


def test_optimize_writes_only_serializers_that_run_no_code(tmp_path: Path) -> None:
    folder = converted_photos(tmp_path / "chunks")

    for split in ("train", "val", "info"):
        config = json.loads((folder / split / "index.json").read_text())["config"]
        assert config["data_format"] and set(config["data_format"]) <= SAFE_SERIALIZERS, split


def test_an_image_file_is_decoded_only_as_an_image_format(tmp_path: Path) -> None:
    postscript = tmp_path / "photo.png"  # PIL's EPS plugin would hand it to Ghostscript
    postscript.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n")

    assert Image.open(postscript).format == "EPS"  # what PIL makes of it when any plugin may read it
    assert "not an image file" in str(decode_problem(postscript))
    with pytest.raises(InputError, match="not an image file"):
        decode(postscript.read_bytes(), source=str(postscript))
