"""Every data module: a shallow class tree, its typed signature as the command line's schema, and
``hparams`` that build the same module again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from jsonargparse import ArgumentParser

import lit_classifier
from data_files import write_image_folder
from helpers import run_dir
from lit_classifier.checkpoints.trust import build
from lit_classifier.command.cli import run
from lit_classifier.data import (
    CIFAR10DataModule,
    CIFAR100DataModule,
    ClassificationDataModule,
    DigitsDataModule,
    FashionMNISTDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
    SyntheticDataModule,
)
from lit_classifier.data.augment import Augmentation
from lit_classifier.specs import as_data, is_plain

MODULES = [
    DigitsDataModule,
    MNISTDataModule,
    FashionMNISTDataModule,
    CIFAR10DataModule,
    CIFAR100DataModule,
    ImageFolderDataModule,
    SyntheticDataModule,
]
# What each signature says where the modules differ: batch_size, val_fraction, augment.
NO_AUGMENTATION = {"flip": False, "crop_padding": 0, "crop_scale": None}
DEFAULTS = {
    DigitsDataModule: (64, 0.15, NO_AUGMENTATION),
    MNISTDataModule: (64, 0.1, NO_AUGMENTATION),
    FashionMNISTDataModule: (64, 0.1, NO_AUGMENTATION),
    CIFAR10DataModule: (64, 0.1, {**NO_AUGMENTATION, "flip": True}),
    CIFAR100DataModule: (64, 0.1, {**NO_AUGMENTATION, "flip": True}),
    ImageFolderDataModule: (32, 0.2, {"flip": True, "crop_padding": 0, "crop_scale": [0.35, 1.0]}),
}
SHARED = {"num_workers": None, "seed": 0, "gpu_resident": False, "predict_root": None, "strict": False}


def schema_defaults(module: type) -> dict[str, Any]:
    """The defaults jsonargparse reads from ``module``'s signature, following ``**kwargs`` upwards."""
    parser = ArgumentParser()
    parser.add_class_arguments(module, "data")
    return parser.get_defaults()["data"].as_dict()


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_each_module_is_at_most_three_classes_below_lightning(module: type) -> None:
    own = [cls for cls in module.__mro__ if issubclass(cls, ClassificationDataModule)]

    assert len(own) <= 3, own
    assert module.__name__ in lit_classifier.data.__all__


@pytest.mark.parametrize("module", list(DEFAULTS), ids=lambda m: m.__name__)
def test_the_signature_gives_each_sets_own_defaults_and_every_shared_option(module: type) -> None:
    defaults = schema_defaults(module)

    chosen = (defaults["batch_size"], defaults["val_fraction"], as_data(defaults["augment"]))
    assert chosen == DEFAULTS[module]
    assert SHARED.items() <= defaults.items()


def test_synthetic_and_standard_sets_keep_their_own_options() -> None:
    synthetic, mnist, digits = (
        schema_defaults(m) for m in (SyntheticDataModule, MNISTDataModule, DigitsDataModule)
    )

    assert (synthetic["batch_size"], synthetic["train_size"], synthetic["channels"]) == (512, 50_000, 3)
    assert (mnist["data_dir"], mnist["download"]) == ("data", True)
    assert (digits["test_fraction"], digits["to_rgb"]) == (0.2, False)


@pytest.mark.parametrize("module", [CIFAR10DataModule, MNISTDataModule], ids=lambda m: m.__name__)
def test_print_config_shows_the_chosen_sets_defaults(
    module: type, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        run(["fit", f"--data={module.__name__}", "--print_config"])

    printed = yaml.safe_load(capsys.readouterr().out)["data"]["init_args"]
    augment = {**NO_AUGMENTATION, **printed["augment"]}  # a null is not printed
    assert (printed["batch_size"], printed["val_fraction"], augment) == DEFAULTS[module]


def built(tmp_path: Path) -> list[ClassificationDataModule]:
    photos = write_image_folder(tmp_path / "photos")
    return [
        DigitsDataModule(val_fraction=0.25, to_rgb=True, batch_size=16, gpu_resident=True),
        MNISTDataModule(data_dir=tmp_path / "data", download=False, seed=3),  # type: ignore[arg-type]
        FashionMNISTDataModule(augment=Augmentation(crop_padding=2)),
        CIFAR10DataModule(augment={"flip": False}, num_workers=0, predict_root=str(photos)),  # type: ignore[arg-type]
        CIFAR100DataModule(val_fraction=0.2),
        ImageFolderDataModule(str(photos), image_size=48, mean=(0.5, 0.5, 0.5), strict=True),
        SyntheticDataModule(num_classes=3, channels=1, image_size=8, train_size=64, val_size=8),
    ]


def test_hparams_are_exactly_the_init_arguments_as_plain_data_and_rebuild_the_module(tmp_path: Path) -> None:
    for data in built(tmp_path):
        again = type(data)(**data.hparams)

        assert dict(again.hparams) == dict(data.hparams), type(data).__name__
        assert set(data.hparams) == set(schema_defaults(type(data))), type(data).__name__
        assert is_plain(dict(data.hparams))
        assert (again.batch_size, again.seed, again.dims) == (data.batch_size, data.seed, data.dims)
    mnist = built(tmp_path)[1]
    assert mnist.hparams["data_dir"] == str(tmp_path / "data")  # a Path given in Python is kept as text


@pytest.mark.parametrize("module", ["DigitsDataModule", "CIFAR10DataModule", "ImageFolderDataModule"])
def test_the_command_lines_data_module_rebuilds_from_its_hparams(
    module: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_image_folder(tmp_path / "photos")
    options = ["--data.root=photos"] if module == "ImageFolderDataModule" else []
    with pytest.raises(SystemExit):
        run(["fit", f"--data={module}", "--data.seed=7", *options, "--print_config"])

    data = build(yaml.safe_load(capsys.readouterr().out)["data"])  # as the command builds it
    again = type(data)(**data.hparams)

    assert "_class_path" not in data.hparams and data.hparams["seed"] == 7
    assert dict(again.hparams) == dict(data.hparams)


def test_a_checkpoint_records_the_data_modules_hparams_as_plain_data(tmp_path: Path) -> None:
    fit = run(["fit", "--data.batch_size=32", "--trainer.max_epochs=1", "--trainer.limit_train_batches=2",
               "--trainer.limit_val_batches=1", "--plots.enabled=false"])  # fmt: skip

    checkpoint = torch.load(run_dir(fit) / "checkpoints" / "last.ckpt", weights_only=True)

    assert checkpoint["datamodule_hyper_parameters"] == dict(fit.datamodule.hparams)
    assert checkpoint["datamodule_hyper_parameters"]["batch_size"] == 32
