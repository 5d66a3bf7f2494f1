"""A data option out of range is one error naming the option, its range and the value, before any work."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from data_files import write_image_folder
from helpers import FAST, cli
from lit_classifier import (
    CIFAR10DataModule,
    DigitsDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
)
from lit_classifier.data import SyntheticDataModule
from lit_classifier.errors import InputError

MODULES: dict[str, Callable[..., object]] = {
    "digits": DigitsDataModule,
    "mnist": MNISTDataModule,
    "cifar10": CIFAR10DataModule,
    "image_folder": lambda **options: ImageFolderDataModule("photos", **options),
}


@pytest.mark.parametrize("value", [1.0, -0.1])
@pytest.mark.parametrize("module", list(MODULES))
def test_val_fraction_out_of_range_names_the_option_and_the_range(module: str, value: float) -> None:
    allowed = r"\[0, 1\)" if module == "digits" else r"\(0, 1\)"  # digits may hold out nothing

    with pytest.raises(InputError, match=rf"^val_fraction must be in {allowed}, .* got {value}$"):
        MODULES[module](val_fraction=value)


@pytest.mark.parametrize("value", [1.0, -0.1])
def test_digits_test_fraction_out_of_range_names_the_option(value: float) -> None:
    with pytest.raises(InputError, match=rf"^test_fraction must be in \[0, 1\), .* got {value}$"):
        DigitsDataModule(test_fraction=value)


def test_digits_fractions_that_leave_no_training_images_are_refused() -> None:
    with pytest.raises(InputError, match=r"val_fraction \+ test_fraction must be below 1, .* got 0.5 \+ 0.5"):
        DigitsDataModule(val_fraction=0.5, test_fraction=0.5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
        ({"num_workers": -1}, "num_workers must be at least 0, got -1"),
        ({"augment": {"crop_padding": -2}}, "augment.crop_padding must be at least 0, got -2"),
        ({"channels": 2}, "channels must be 1 or 3, got 2"),
    ],
)
def test_counts_below_their_minimum_are_refused(options: dict[str, int], message: str) -> None:
    with pytest.raises(InputError, match=message):
        SyntheticDataModule(**options)


@pytest.mark.parametrize(
    ("augment", "message"),
    [
        ({"crop_scale": [0.5, 1.0]}, "augment.crop_scale: SyntheticDataModule holds its images as tensors"),
        ({"crop_scale": [0.9, 0.5]}, r"augment.crop_scale must be \(low, high\) with 0 < low <= high <= 1"),
    ],
)
def test_an_augmentation_the_data_cannot_take_is_refused_naming_it(augment: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        SyntheticDataModule(augment=augment)  # type: ignore[arg-type]


def test_the_command_line_refuses_a_crop_scale_for_digits_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", "--data.augment.crop_scale=[0.5, 1.0]", *FAST)

    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: augment.crop_scale: DigitsDataModule holds its images")


def test_an_image_folder_cannot_live_on_the_device() -> None:
    with pytest.raises(
        InputError, match="gpu_resident: ImageFolderDataModule decodes image files as it loads"
    ):
        ImageFolderDataModule("photos", gpu_resident=True)


def test_the_command_prints_a_bad_fraction_as_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", "--data.val_fraction=1.0", *FAST)

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "val_fraction must be in [0, 1)" in err and "got 1.0" in err and "Traceback" not in err


def test_a_batch_larger_than_the_training_split_stops_fit_naming_both_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_image_folder(tmp_path / "photos", per_class=4)  # 3 classes: 12 images, 10 for training

    with pytest.raises(SystemExit) as exit_info:
        cli(
            "fit",
            "--data=lit_classifier.ImageFolderDataModule",
            "--data.root=photos",
            "--data.image_size=16",
            "--data.batch_size=64",
            "--data.num_workers=0",
            *FAST,
        )

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error: batch_size=64 is larger than the 10 training images there are" in err
    assert "set batch_size to 10 or less" in err and "Traceback" not in err


def test_a_batch_larger_than_the_training_split_is_an_input_error_from_python() -> None:
    data = SyntheticDataModule(train_size=20, val_size=4, batch_size=32)
    data.setup("fit")

    with pytest.raises(InputError, match="batch_size=32 is larger than the 20 training images"):
        data.train_dataloader()
