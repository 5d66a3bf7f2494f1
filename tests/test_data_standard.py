"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 from tiny files in their real on-disk formats."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from data_files import write_cifar10, write_cifar100, write_mnist
from helpers import FAST, cli, run_dir
from lit_classifier import CIFAR10DataModule, CIFAR100DataModule, FashionMNISTDataModule, MNISTDataModule
from lit_classifier.errors import UnavailableError

REPO = Path(__file__).resolve().parents[1]

# config file, data module, writer of its files, number of classes
SETS: list[tuple[str, type, Callable[[Path], Path], int]] = [
    ("mnist", MNISTDataModule, write_mnist, 10),
    ("fashion_mnist", FashionMNISTDataModule, lambda root: write_mnist(root, "FashionMNIST"), 10),
    ("cifar10", CIFAR10DataModule, write_cifar10, 10),
    ("cifar100", CIFAR100DataModule, write_cifar100, 100),
]
TINY = ["--data.batch_size=8", "--data.num_workers=0"]


@pytest.mark.parametrize(("config", "module", "write", "classes"), SETS, ids=[s[0] for s in SETS])
def test_fit_with_the_sets_config_trains_on_files_in_the_real_format(
    tmp_path: Path, config: str, module: type, write: Callable[[Path], Path], classes: int
) -> None:
    write(tmp_path / "data")

    result = cli("fit", "--config", str(REPO / "configs" / f"{config}.yaml"), *TINY, *FAST)

    assert isinstance(result.datamodule, module)
    assert result.trainer.global_step == 3
    hparams = torch.load(run_dir(result) / "checkpoints" / "last.ckpt", weights_only=True)["hyper_parameters"]
    assert hparams["num_classes"] == classes
    assert hparams["class_names"] == result.datamodule.class_names


@pytest.mark.parametrize("config", ["mnist", "cifar10"])
def test_gpu_resident_flag_trains_from_device_batches(tmp_path: Path, config: str) -> None:
    (write_mnist if config == "mnist" else write_cifar10)(tmp_path / "data")

    result = cli(
        "fit", "--config", str(REPO / "configs" / f"{config}.yaml"), *TINY, *FAST, "--data.gpu_resident=true"
    )

    assert type(result.trainer.train_dataloader).__name__ == "DeviceBatches"
    assert result.trainer.global_step == 3


def test_validation_is_carved_from_training_with_a_fixed_seed_and_test_is_the_official_split(
    tmp_path: Path,
) -> None:
    write_mnist(tmp_path, train=100, test=30)
    first, again, other = (
        MNISTDataModule(data_dir=str(tmp_path), val_fraction=0.2, seed=s) for s in (0, 0, 1)
    )
    for data in (first, again, other):
        data.setup("fit")

    train, val, test = (first.splits[name] for name in ("train", "val", "test"))
    assert (len(train.labels), len(val.labels), len(test.labels)) == (80, 20, 30)
    assert torch.equal(val.images, again.splits["val"].images)
    assert not torch.equal(val.images, other.splits["val"].images)
    # No validation image is also a training image (each tiny image is unique: noise).
    assert not (val.images.flatten(1)[:, None] == train.images.flatten(1)[None]).all(-1).any()


def test_cifar_reads_its_class_names_and_shape_from_the_files(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    data = CIFAR10DataModule(data_dir=str(tmp_path))
    data.setup("fit")

    assert data.dims == (3, 32, 32)
    assert data.class_names[:3] == ["airplane", "automobile", "bird"]  # read from batches.meta


def test_loader_workers_default_to_the_main_process_for_sets_in_memory_without_augmentation(
    tmp_path: Path,
) -> None:
    write_mnist(tmp_path)
    write_cifar10(tmp_path)
    mnist, cifar = (
        module(data_dir=str(tmp_path), batch_size=8) for module in (MNISTDataModule, CIFAR10DataModule)
    )
    mnist.setup("fit")
    cifar.setup("fit")

    assert mnist.train_dataloader().num_workers == 0  # type: ignore[attr-defined]  # a gather per batch
    assert cifar.train_dataloader().num_workers >= 1  # type: ignore[attr-defined]  # augmentation: workers
    assert cifar.num_workers is None  # the option keeps what was given, for hparams


def test_missing_files_without_download_name_what_was_expected_where(tmp_path: Path) -> None:
    data = CIFAR10DataModule(data_dir=str(tmp_path / "nowhere"), download=False)

    with pytest.raises(UnavailableError) as error:
        data.setup("fit")

    message = str(error.value)
    assert "download is off" in message
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py" / "data_batch_1") in message
    assert "test_batch" in message and "--data.download true" in message


@pytest.mark.parametrize("module", [MNISTDataModule, CIFAR100DataModule])
def test_offline_download_fails_with_the_file_list_not_a_network_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], module: type
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)  # as on a machine without network
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "other.txt").write_text("what was there before stays")
    data = module(data_dir=str(tmp_path / "data"))

    with pytest.raises(UnavailableError) as error:
        data.prepare_data()
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", f"--data={module.__module__}.{module.__name__}", "--data.data_dir=new", *FAST)

    message = str(error.value)
    assert "the download failed (<urlopen error" in message and "these files are missing" in message
    assert str(tmp_path / "data" / module.spec.folder) in message
    # Nothing half-made is left: no empty folder for the set, no new data_dir.
    assert [path.name for path in (tmp_path / "data").iterdir()] == ["other.txt"]
    assert not (tmp_path / "new").exists()
    assert error.value.__cause__ is None and error.value.__suppress_context__  # no chained trace
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"error: {module.__name__}: the download failed" in err and "Traceback" not in err
