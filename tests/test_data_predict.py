"""New images (``predict_root``) are found, checked, and prepared as each data module prepares its own."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from data_files import add_bad_images, write_cifar10, write_image_folder, write_mnist
from helpers import FAST, cli, run_dir
from lit_classifier import CIFAR10DataModule, DigitsDataModule, ImageFolderDataModule, MNISTDataModule
from lit_classifier.data import PredictImages
from lit_classifier.errors import DataError, InputError


def save_images(folder: Path, pixels: torch.Tensor, mode: str) -> list[Path]:
    """Each uint8 image of ``pixels`` (N, C, H, W) as a PNG in ``folder``, in order."""
    paths = []
    for n, image in enumerate(pixels):
        array = image.permute(1, 2, 0).numpy()
        paths.append(folder / f"{n:02d}.png")
        Image.fromarray(array[..., 0] if mode == "L" else array, mode).save(paths[-1])
    return paths


def predicted(
    data: DigitsDataModule | MNISTDataModule | CIFAR10DataModule | ImageFolderDataModule,
) -> torch.Tensor:
    data.setup("predict")
    images, labels = next(iter(data.predict_dataloader()))
    assert set(labels.tolist()) == {-1}
    return images


def test_a_folder_is_searched_at_any_depth_and_served_sorted_by_path(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "new", classes=("b", "a"), per_class=2)
    (tmp_path / "new" / "notes.txt").write_text("not an image")
    data = DigitsDataModule(predict_root=str(tmp_path / "new"), batch_size=3)
    data.setup("predict")

    batches = list(data.predict_dataloader())

    names = [str(path.relative_to(tmp_path / "new")) for path, _ in data.predict_set.samples]  # type: ignore[union-attr]
    assert names == ["a/000.jpg", "a/001.png", "b/000.jpg", "b/001.png"]
    assert [label for _, label in data.predict_set.samples] == [-1] * 4  # type: ignore[union-attr]
    assert [tuple(images.shape) for images, _ in batches] == [(3, 1, 8, 8), (1, 1, 8, 8)]


def test_new_images_equal_the_image_folders_own_evaluation_images(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "photos", per_class=5)
    data = ImageFolderDataModule(
        str(root), image_size=12, batch_size=100, num_workers=0, predict_root=str(root)
    )
    images = predicted(data)
    new = dict(zip([path for path, _ in data.predict_set.samples], images, strict=True))  # type: ignore[union-attr]

    data.setup("validate")  # predicting new images alone does not read the labelled splits
    val_images, _ = next(iter(data.val_dataloader()))

    for (path, _), image in zip(data.val_set.samples, val_images, strict=True):  # type: ignore[union-attr]
        torch.testing.assert_close(new[path], image, atol=1e-5, rtol=0)


def test_new_images_equal_cifars_test_images_and_larger_ones_are_resized(tmp_path: Path) -> None:
    write_cifar10(tmp_path / "data")
    (tmp_path / "new").mkdir()
    data = CIFAR10DataModule(
        data_dir=str(tmp_path / "data"), batch_size=8, predict_root=str(tmp_path / "new")
    )
    data.setup("test")
    originals = data.test_set.images[:4]  # type: ignore[union-attr]
    save_images(tmp_path / "new", originals, "RGB")
    Image.fromarray(np.zeros((64, 48, 3), np.uint8)).save(tmp_path / "new" / "zz_large.jpg")

    images = predicted(data)
    test_images, _ = next(iter(data.test_dataloader()))

    torch.testing.assert_close(images[:4], test_images[:4], atol=1e-5, rtol=0)
    assert images.shape == (5, 3, 32, 32)


def test_mnist_converts_colour_images_to_its_one_gray_channel(tmp_path: Path) -> None:
    write_mnist(tmp_path / "data")
    (tmp_path / "new").mkdir()
    data = MNISTDataModule(data_dir=str(tmp_path / "data"), batch_size=8, predict_root=str(tmp_path / "new"))
    data.setup("test")
    save_images(tmp_path / "new", data.test_set.images[:3], "L")  # type: ignore[union-attr]
    Image.fromarray(np.full((28, 28, 3), 255, np.uint8)).save(tmp_path / "new" / "zz_white.png")

    images = predicted(data)
    test_images, _ = next(iter(data.test_dataloader()))

    torch.testing.assert_close(images[:3], test_images[:3], atol=1e-5, rtol=0)
    assert images.shape == (4, 1, 28, 28)
    assert torch.allclose(images[3], torch.tensor((1 - 0.1307) / 0.3081))  # white: 255 is 1.0


@pytest.mark.parametrize("to_rgb", [False, True])
def test_digits_scale_0_to_255_as_their_0_to_16(tmp_path: Path, to_rgb: bool) -> None:
    (tmp_path / "new").mkdir()
    data = DigitsDataModule(to_rgb=to_rgb, batch_size=8, predict_root=str(tmp_path / "new"))
    data.setup("test")
    sixteenths = data.test_set.images[:5, :1]  # type: ignore[union-attr]
    save_images(tmp_path / "new", sixteenths.mul(255).round().to(torch.uint8), "L")

    images = predicted(data)
    test_images, _ = next(iter(data.test_dataloader()))

    assert images.shape == (5, 3 if to_rgb else 1, 8, 8)
    torch.testing.assert_close(images, test_images[:5], atol=0.01, rtol=0)  # 1/255 rounding, standardised


def test_a_single_file_is_a_predict_root_and_the_resident_path_still_reads_it(tmp_path: Path) -> None:
    write_image_folder(tmp_path, classes=("x", "y"), per_class=2)
    data = DigitsDataModule(gpu_resident=True, predict_root=str(tmp_path / "y" / "001.png"))
    data.setup("predict")

    loader = data.predict_dataloader()

    assert isinstance(loader, DataLoader)
    assert data.predict_set.samples == [(tmp_path / "y" / "001.png", -1)]  # type: ignore[union-attr]


def test_missing_empty_and_unreadable_new_images_are_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "empty").mkdir()
    bad = add_bad_images(write_image_folder(tmp_path / "mixed"))

    with pytest.raises(InputError, match=f"predict_root {tmp_path / 'nowhere'} does not exist"):
        DigitsDataModule(predict_root=str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=f"no images under {tmp_path / 'empty'}"):
        DigitsDataModule(predict_root=str(tmp_path / "empty")).setup("predict")
    with caplog.at_level(logging.WARNING, logger="lit_classifier.data.images"):
        mixed = PredictImages(tmp_path / "mixed", DigitsDataModule().evaluation_decoder())
    reports = [record.getMessage() for record in caplog.records]
    with pytest.raises(DataError, match=f"cannot read image {bad[0]}"):
        PredictImages(tmp_path / "mixed", DigitsDataModule().evaluation_decoder(), strict=True)
    with pytest.raises(DataError, match="none of the 1 image"):
        PredictImages(bad[0], DigitsDataModule().evaluation_decoder())

    assert sorted(report.split(":")[0] for report in reports) == [
        f"skipping unreadable image {path}" for path in sorted(bad)
    ]
    assert len(mixed) == 18


def test_predict_on_new_images_writes_one_row_per_file(tmp_path: Path) -> None:
    new = write_image_folder(tmp_path / "new", classes=("p", "q"), per_class=3)
    checkpoint = run_dir(cli("fit", *FAST)) / "checkpoints" / "last.ckpt"

    result = cli("predict", f"--ckpt_path={checkpoint}", f"--data.predict_root={new}")

    with (run_dir(result) / "predictions.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [row["path"] for row in rows] == [str(path) for path in sorted(new.rglob("*.*"))]
    assert {row["prediction"] for row in rows} <= {str(digit) for digit in range(10)}
