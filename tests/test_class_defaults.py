"""A class chosen on the command line gets its own defaults, however it is chosen: the arguments of
the class it replaces never carry over (``--data MNISTDataModule`` over the default digits)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import cli

NO_AUGMENTATION = {"flip": False, "crop_padding": 0, "crop_scale": None}
FLIP = {"flip": True, "crop_padding": 0, "crop_scale": None}
OWN_DEFAULTS = {
    "lit_classifier.MNISTDataModule": {"batch_size": 64, "val_fraction": 0.1, "augment": NO_AUGMENTATION},
    "lit_classifier.FashionMNISTDataModule": {
        "batch_size": 64,
        "val_fraction": 0.1,
        "augment": NO_AUGMENTATION,
    },
    "lit_classifier.CIFAR10DataModule": {"batch_size": 64, "val_fraction": 0.1, "augment": FLIP},
    "lit_classifier.CIFAR100DataModule": {"batch_size": 64, "val_fraction": 0.1, "augment": FLIP},
    "lit_classifier.ImageFolderDataModule": {
        "batch_size": 32,
        "val_fraction": 0.2,
        "augment": {"flip": True, "crop_padding": 0, "crop_scale": [0.35, 1.0]},
    },
    "lit_classifier.DigitsDataModule": {"batch_size": 64, "val_fraction": 0.15, "augment": NO_AUGMENTATION},
}
CHOSEN_BY = {
    "--data X": lambda path: [f"--data={path}"],
    "--data.class_path X": lambda path: [f"--data.class_path={path}"],
    "a config file": lambda path: ["--config", write_config({"data": {"class_path": path}})],
}


def write_config(content: dict) -> str:
    Path("chosen.yaml").write_text(yaml.safe_dump(content))
    return "chosen.yaml"


def printed_config(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    with pytest.raises(SystemExit):
        cli("fit", *args, "--print_config")
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("how", CHOSEN_BY)
@pytest.mark.parametrize("data", OWN_DEFAULTS)
def test_each_data_module_gets_its_own_defaults(
    data: str, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["--data.root=photos"] if "ImageFolder" in data else []

    config = printed_config(capsys, *CHOSEN_BY[how](data), *extra)

    init_args = config["data"]["init_args"]
    assert {key: init_args[key] for key in OWN_DEFAULTS[data]} == OWN_DEFAULTS[data]


def test_an_option_given_before_the_class_still_applies(capsys: pytest.CaptureFixture[str]) -> None:
    config = printed_config(capsys, "--data.batch_size=16", "--data=lit_classifier.MNISTDataModule")

    assert config["data"]["init_args"]["batch_size"] == 16
    assert config["data"]["init_args"]["val_fraction"] == 0.1


def test_one_augmentation_option_given_before_the_class_keeps_the_classs_others(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = printed_config(
        capsys, "--data.augment.crop_padding=4", "--data=lit_classifier.CIFAR10DataModule"
    )

    assert config["data"]["init_args"]["augment"] == {"flip": True, "crop_padding": 4, "crop_scale": None}


def test_another_optimizer_gets_its_own_learning_rate(capsys: pytest.CaptureFixture[str]) -> None:
    config = printed_config(capsys, "--model.optimizer=torch.optim.AdamW")

    optimizer = config["model"]["init_args"]["optimizer"]
    assert optimizer["class_path"] == "torch.optim.AdamW"
    assert optimizer["init_args"]["lr"] == 0.001  # AdamW's, not the recipe SGD's 0.05
