"""Without ``--data.image_size`` a photo folder's images choose the size the network sees: small
images are not blown up to 224, the command says what it chose, and the checkpoint keeps it."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image

from helpers import FAST, cli, run_dir
from lit_classifier import ClassifierModule, ImageFolderDataModule
from lit_classifier.models import SmallCNN

FOLDER = ["--data=lit_classifier.ImageFolderDataModule", "--data.batch_size=4", "--data.num_workers=0"]


def write_photos(root: Path, sizes: list[tuple[int, int]], classes: tuple[str, ...] = ("cat", "dog")) -> Path:
    """``root/<class>/<n>.png``: one image of each (width, height) in ``sizes`` per class."""
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for n, (width, height) in enumerate(sizes):
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{n}.png")
    return root


def test_small_images_choose_their_size_which_the_checkpoint_keeps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = write_photos(tmp_path / "photos", [(48, 64), (64, 48), (48, 48), (50, 47)])

    fit = cli("fit", *FOLDER, f"--data.root={photos}", *FAST)

    assert (
        "image size 48 (the median shorter side of 8 training images, 48 pixels, rounded to a multiple "
        "of 8 within 16 to 224; --data.image_size to change)"
    ) in capsys.readouterr().out.splitlines()
    checkpoint = run_dir(fit) / "checkpoints" / "last.ckpt"
    saved = torch.load(checkpoint, weights_only=True)["hyper_parameters"]
    assert saved["data"]["init_args"]["image_size"] == 48 and tuple(saved["input_shape"]) == (3, 48, 48)
    predicted = cli("predict", f"--ckpt_path={checkpoint}", f"--data.predict_root={photos / 'cat'}")
    assert predicted.datamodule.dims == (3, 48, 48)
    assert "image size" not in capsys.readouterr().out  # the checkpoint's size: nothing chosen


def test_a_given_size_is_kept_and_nothing_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = write_photos(tmp_path / "photos", [(48, 48)] * 3)

    fit = cli("fit", *FOLDER, f"--data.root={photos}", "--data.image_size=24", *FAST)

    assert fit.datamodule.dims == (3, 24, 24)
    assert "image size" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ([(300, 400), (640, 480), (20, 20)], 224),  # large photos: capped
        ([(10, 10), (12, 9), (300, 300)], 16),  # tiny icons: the smallest size
        ([(37, 40), (90, 38), (39, 39)], 40),  # a multiple of 8
    ],
)
def test_the_median_shorter_side_is_rounded_and_bounded(
    sizes: list[tuple[int, int]], expected: int, tmp_path: Path
) -> None:
    photos = write_photos(tmp_path / "photos", sizes)

    assert ImageFolderDataModule(str(photos)).dims == (3, expected, expected)


def test_a_pretrained_network_keeps_the_size_of_its_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class PretrainedAt32(SmallCNN):
        pretrained_image_size = 32  # as TorchvisionModel and TimmModel say it for pretrained weights

    photos = write_photos(tmp_path / "photos", [(48, 48)] * 4)
    data = ImageFolderDataModule(str(photos), batch_size=4, num_workers=0)
    module = ClassifierModule(PretrainedAt32())

    L.Trainer(fast_dev_run=1, logger=False, enable_progress_bar=False).fit(module, datamodule=data)

    assert data.hparams["image_size"] == 32 and module.record.input_shape == (3, 32, 32)
    assert (
        "image size 32 (the size the pretrained network's weights were trained on; --data.image_size to "
        "change)" in capsys.readouterr().out
    )
