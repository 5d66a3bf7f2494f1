"""An ONNX file carries what preparing an image takes, and the README's lines that use it (onnxruntime,
Pillow and numpy, no lit_classifier) classify every image as ``predict`` does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_files import write_image_folder
from helpers import FAST, cli, run_dir
from lit_classifier import ClassifierModule, predict_images
from lit_classifier.data.base import IMAGENET_MEAN, IMAGENET_STD
from lit_classifier.export import main
from server_process import digit_png
from test_readme import REPO, readme_blocks

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

#: The README's block that prepares an image by the file's metadata and prints its top class.
README_LINES = next(
    block.code
    for block in readme_blocks((REPO / "README.md").read_text())
    if "onnxruntime.InferenceSession" in block.code
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Path, Path]]]:
    """By name, a checkpoint of a short fit and a folder of images to classify with it: a photo
    folder (its own images, at the size they choose) and the digits (8x8 gray PNGs)."""
    folder = tmp_path_factory.mktemp("trained")
    photos = write_image_folder(folder / "photos")
    digits = folder / "digits"
    digits.mkdir()
    for index in range(20):
        (digits / f"{index:02d}.png").write_bytes(digit_png(index))
    on_photos = ["--data=lit_classifier.ImageFolderDataModule", f"--data.root={photos}"]
    on_photos += ["--data.batch_size=4", "--data.num_workers=0"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        photo_fit, digits_fit = cli("fit", *FAST, *on_photos), cli("fit", *FAST)
        yield {
            "photo folder": ((run_dir(photo_fit) / "checkpoints" / "last.ckpt").resolve(), photos),
            "digits": ((run_dir(digits_fit) / "checkpoints" / "last.ckpt").resolve(), digits),
        }


def metadata(path: Path) -> dict[str, object]:
    return {prop.key: json.loads(prop.value) for prop in onnx.load(str(path)).metadata_props}


@pytest.mark.parametrize("name", ["photo folder", "digits"])
def test_the_readme_lines_classify_every_image_as_predict_does(
    name: str, trained: dict[str, tuple[Path, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint, images = trained[name]
    main([str(checkpoint), "model.onnx"])
    predicted = predict_images(ClassifierModule.load_from_checkpoint(checkpoint), images)
    capsys.readouterr()

    for prediction in predicted:
        exec(README_LINES.replace("photo.jpg", str(prediction.path)), {"__name__": "readme"})

    assert capsys.readouterr().out.splitlines() == [p.class_name for p in predicted]


def test_the_file_names_the_classes_and_how_predict_prepares_an_image(
    trained: dict[str, tuple[Path, Path]],
) -> None:
    main([str(trained["photo folder"][0]), "photos.onnx"])
    main([str(trained["digits"][0]), "digits.onnx"])

    photos = metadata(Path("photos.onnx"))
    assert photos["class_names"] == ["cat", "dog", "fish"]
    assert (photos["image_mode"], photos["channels"], photos["interpolation"]) == ("RGB", 3, "bilinear")
    assert (photos["resize"], photos["crop"]) == (18, [16, 16])  # the size its images chose
    assert photos["mean"] == pytest.approx(IMAGENET_MEAN) and photos["std"] == pytest.approx(IMAGENET_STD)
    digits = metadata(Path("digits.onnx"))
    assert digits["class_names"] == [str(digit) for digit in range(10)]
    assert (digits["image_mode"], digits["channels"], digits["resize"], digits["crop"]) == ("L", 1, 8, [8, 8])
    assert digits["mean"] == pytest.approx([0.3053]) and digits["std"] == pytest.approx([0.3760])
