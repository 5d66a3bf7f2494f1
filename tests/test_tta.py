"""Test-time augmentation (``tta``): ``test``, ``predict``, ``serve`` and ``predict_images`` rank the
mean logits of each image and its mirror (and shifted crops), only for data whose training mirrors
its images; a resumed ``fit`` may change it, and validation in training never uses it."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import torch

from helpers import FAST, cli, run_dir
from lit_classifier import ClassifierModule, DigitsDataModule, predict_images
from lit_classifier.data.augment import Augmentation, tta_views
from lit_classifier.models import SmallCNN
from server_process import digit_png, served

MIRRORED = "--data.augment.flip=true"  # digits as if their class survived a mirror, for the tests' sake


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkpoint of a short run on digits trained with flips."""
    folder = tmp_path_factory.mktemp("mirrored")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        return folder / run_dir(cli("fit", *FAST, MIRRORED)) / "checkpoints" / "last.ckpt"


def by_hand(module: ClassifierModule, images: torch.Tensor) -> torch.Tensor:
    """The mean of the network's logits for the images and their mirrors, as a reader would write it."""
    with torch.no_grad():
        return (module.model(images) + module.model(images.flip(-1))) / 2


def test_the_views_are_the_images_their_mirrors_and_four_shifted_crops_of_both() -> None:
    images = torch.rand(3, 2, 32, 32)

    flips, crops = tta_views(images, "flip"), tta_views(images, "crops")

    assert torch.equal(flips, torch.cat([images, images.flip(-1)]))
    assert crops.shape == (10 * 3, 2, 32, 32) and torch.equal(crops[:6], flips)
    top_left, bottom_right = crops[6:9], crops[24:27]  # shifted 2 pixels (32 / 16) down-right, up-left
    assert torch.equal(top_left[..., 2:, 2:], images[..., :-2, :-2])
    assert torch.equal(bottom_right[..., :-2, :-2], images[..., 2:, 2:])
    assert torch.equal(crops[9:12], top_left.flip(-1))


def test_the_module_ranks_the_mean_logits_of_the_views_and_trains_on_the_images_alone() -> None:
    module = ClassifierModule(SmallCNN(), num_classes=10, input_shape=(1, 8, 8), tta="flip").eval()
    images = torch.rand(5, 1, 8, 8)

    with torch.no_grad():
        assert torch.allclose(module.evaluation_logits(images), by_hand(module, images), atol=1e-6)
        assert torch.equal(module(images), module.model(images))  # what training and validation call


def test_test_takes_the_mean_logits_of_each_image_and_its_mirror(mirrored: Path) -> None:
    tested = cli("test", f"--ckpt_path={mirrored}", "--model.tta=flip")

    module = ClassifierModule.load_from_checkpoint(mirrored).eval()
    data = DigitsDataModule(augment=Augmentation(flip=True))
    data.setup("test")
    correct = sum(
        int((by_hand(module, images).argmax(dim=1) == labels).sum())
        for images, labels in data.test_dataloader()
    )
    assert tested.model.tta == "flip"
    assert float(tested.trainer.callback_metrics["test_acc"]) == pytest.approx(correct / len(data.test_set))


def test_predict_writes_the_probabilities_of_the_mean_logits(mirrored: Path) -> None:
    plain = cli("predict", f"--ckpt_path={mirrored}", "--trainer.limit_predict_batches=1")
    averaged = cli(
        "predict", f"--ckpt_path={mirrored}", "--trainer.limit_predict_batches=1", "--model.tta=flip"
    )

    rows = (run_dir(plain) / "predictions.csv").read_text().splitlines()
    assert len(rows) > 1 and rows != (run_dir(averaged) / "predictions.csv").read_text().splitlines()
    assert averaged.model.tta == "flip" and plain.model.tta == "none"


def test_predict_images_and_serve_rank_the_same_mean_logits(mirrored: Path, tmp_path: Path) -> None:
    image = tmp_path / "digit.png"
    image.write_bytes(digit_png(3))
    module = ClassifierModule.load_from_checkpoint(mirrored, tta="flip").eval()

    predicted = predict_images(module, [image], top_k=3)[0]
    with served([f"--ckpt_path={mirrored}", "--tta=flip", "--top_k=3"], tmp_path) as base:
        answer = requests.post(f"{base}/predict", files={"image": ("d.png", image.read_bytes())}, timeout=30)

    plain = predict_images(ClassifierModule.load_from_checkpoint(mirrored), [image], top_k=3)[0]
    assert answer.status_code == 200, answer.text
    assert answer.json()["class_name"] == predicted.class_name
    assert answer.json()["probability"] == pytest.approx(predicted.probability, abs=1e-6)
    assert predicted.probability != pytest.approx(plain.probability, abs=1e-6)


@pytest.mark.parametrize("command", ["test", "predict"])
def test_data_whose_training_does_not_mirror_refuses_tta_before_any_work(
    command: str, trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(command, f"--ckpt_path={trained}", "--model.tta=flip")

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "error: tta=flip: DigitsDataModule does not mirror its training images (augment.flip), so a "
        "mirrored image is not one of its kind: evaluate without tta, or train with "
        "--data.augment.flip true\n"
    )
    assert not (trained.parent.parent / command).exists()


def test_crops_need_data_whose_training_crops(mirrored: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli("test", f"--ckpt_path={mirrored}", "--model.tta=crops")

    assert capsys.readouterr().err.startswith(
        "error: tta=crops: DigitsDataModule does not crop its training images at random"
    )


def test_a_resumed_fit_may_change_tta(mirrored: Path) -> None:
    resumed = cli(
        "fit", *FAST, MIRRORED, "--trainer.max_epochs=2", "--model.tta=flip", f"--ckpt_path={mirrored}"
    )

    assert resumed.trainer.current_epoch == 2 and resumed.model.tta == "flip"


def test_validation_is_left_as_it_is(mirrored: Path) -> None:
    plain = cli("validate", f"--ckpt_path={mirrored}").trainer.callback_metrics
    averaged = cli("validate", f"--ckpt_path={mirrored}", "--model.tta=flip").trainer.callback_metrics

    assert float(averaged["val_acc"]) == float(plain["val_acc"])
    assert float(averaged["val_loss"]) == float(plain["val_loss"])
