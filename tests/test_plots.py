"""Pictures of a run: written by every fit, and again from a finished run folder."""

from __future__ import annotations

import threading
from importlib.metadata import entry_points
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from PIL import Image, ImageStat
from torch import nn

from helpers import FAST, cli, run_dir
from lit_classifier import plots, train_model
from lit_classifier.callbacks.reports import write_class_report
from lit_classifier.checkpoints import runs
from lit_classifier.command import plot as plot_command
from lit_classifier.models import SmallCNN

PNGS = (plots.CURVES_PNG, plots.CONFUSION_PNG, plots.MISCLASSIFIED_PNG)
TWO_EPOCHS = ["--trainer.limit_train_batches=4", "--trainer.max_epochs=2"]


def assert_is_a_picture(path: Path) -> None:
    """A PNG of sensible size that is not one flat colour."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 300 and image.height > 200, image.size
        spread = ImageStat.Stat(image.convert("L")).stddev[0]
    assert spread > 5, f"{path.name} is (nearly) one flat colour"


def test_fit_writes_the_three_pictures_into_the_run_folder() -> None:
    folder = run_dir(cli("fit", *TWO_EPOCHS))

    for name in PNGS:
        assert_is_a_picture(folder / name)
    history = runs.read_history(folder / "metrics.csv")
    assert [row["epoch"] for row in history] == [1.0, 2.0]  # two epochs of curves
    assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= history[-1].keys()


def test_plot_command_redraws_a_finished_run_folder(capsys: pytest.CaptureFixture[str]) -> None:
    folder = run_dir(cli("fit", *FAST, "--plots.enabled=false"))
    assert not any((folder / name).exists() for name in PNGS)

    plot_command.main([str(folder), "--count", "4"])

    for name in PNGS:
        assert_is_a_picture(folder / name)
    assert f"wrote {folder / plots.MISCLASSIFIED_PNG}" in capsys.readouterr().out


def test_plot_command_names_a_folder_that_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        plot_command.main([str(tmp_path)])

    assert exit_info.value.code == 2
    assert f"error: {tmp_path}: no checkpoint in {tmp_path / 'checkpoints'}" in capsys.readouterr().err


def test_fast_dev_run_writes_no_pictures(tmp_path: Path) -> None:
    cli("fit", "--trainer.fast_dev_run=true")

    assert not list(tmp_path.rglob("*.png"))


def test_read_history_gives_one_row_per_epoch(tmp_path: Path) -> None:
    csv = tmp_path / "metrics.csv"
    csv.write_text(
        "epoch,step,train_acc,train_loss,val_acc,val_loss\n"
        "0,17,,,0.70,1.30\n0,17,0.60,1.60,,\n1,35,,,0.95,0.20\n1,35,0.97,0.30,,\n"
    )

    history = runs.read_history(csv)

    assert history == [
        {"epoch": 1.0, "step": 17.0, "train_acc": 0.6, "train_loss": 1.6, "val_acc": 0.7, "val_loss": 1.3},
        {"epoch": 2.0, "step": 35.0, "train_acc": 0.97, "train_loss": 0.3, "val_acc": 0.95, "val_loss": 0.2},
    ]


def two_mistakes() -> plots.Mistakes:
    """Of four images, 0 and 3 were right; 2 wrong with p=0.9 and 1 wrong with p=0.6, surest first."""
    probabilities = torch.tensor([[0.1, 0.9], [0.6, 0.4]])
    return plots.Mistakes(torch.rand(2, 1, 8, 8), torch.tensor([0, 1]), probabilities, total=2)


def test_the_confusion_matrix_written_in_validation_is_read_back(tmp_path: Path) -> None:
    matrix = torch.tensor([[5, 1, 0], [0, 7, 2], [3, 0, 9]])
    (path, _) = write_class_report(tmp_path, "val", matrix, ["a", "b", "c"])

    assert torch.equal(runs.read_confusion(path), matrix)


def test_misclassified_grid_shows_the_surest_mistakes_first() -> None:
    figure = plots.misclassified_grid(two_mistakes(), ["cat", "dog"], count=1)

    (axes,) = figure.axes
    assert [text.get_text() for text in axes.texts] == ["true cat\npred dog (0.90)"]
    assert len(axes.get_images()) == 1
    assert "2 wrong in all" in figure.get_suptitle()


def test_display_images_undo_the_normalisation_of_the_data_module() -> None:
    class Normalised:
        mean, std = (0.5,), (0.25,)

    pixels = torch.tensor([0.0, 0.25, 0.5, 1.0]).view(1, 1, 2, 2)
    normalised = (pixels - 0.5) / 0.25

    shown = plots.display_images(normalised, plots.denormalizer(Normalised()))

    assert shown.shape == (1, 2, 2, 1)
    assert torch.allclose(shown.flatten(), pixels.flatten())
    stretched = plots.display_images(normalised)  # no statistics: stretched to [0, 1]
    assert stretched.min() == 0 and stretched.max() == 1


def test_misclassified_grid_shows_colour_images_in_colour() -> None:
    colour = torch.zeros(2, 3, 8, 8)
    colour[:, 0] = 1.0  # pure red, once un-normalised
    stats = SimpleNamespace(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))  # a data module's statistics
    mistakes = two_mistakes()
    mistakes.images = (colour - 0.5) / 0.5

    figure = plots.misclassified_grid(mistakes, ["cat", "dog"], denormalize=plots.denormalizer(stats))

    shown = [image.get_array() for image in figure.axes[0].get_images()]
    assert len(shown) == 2
    assert shown[0].shape == (8, 8, 3)
    assert (shown[0][..., 0] == 1).all() and (shown[0][..., 1:] == 0).all()


def test_lit_classifier_plot_is_an_installed_command() -> None:
    scripts = {script.name: script.value for script in entry_points(group="console_scripts")}

    assert scripts["lit-classifier-plot"] == "lit_classifier.command.plot:main"


def test_train_model_runs_get_the_pictures_too() -> None:
    result = train_model(SmallCNN(), epochs=1, limit_train_batches=2)

    pictures = result.pictures()  # drawn in the background: this waits for them

    assert result.trainer is not None and result.trainer.log_dir is not None
    folder = Path(result.trainer.log_dir)
    assert folder == Path("runs/train_model/version_0")
    assert pictures == [folder.absolute() / name for name in PNGS]
    for name in PNGS:
        assert_is_a_picture(folder / name)


def test_pictures_drawn_in_the_background_stay_in_the_run_folder_when_the_caller_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved = threading.Event()
    write_plots = plots.write_plots

    def after_the_move(*args: Any) -> list[Path]:
        assert moved.wait(timeout=60)
        return write_plots(*args)

    monkeypatch.setattr("lit_classifier.callbacks.plots.write_plots", after_the_move)
    result = train_model(SmallCNN(), epochs=1, limit_train_batches=2)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a notebook moving on while the pictures are drawn
    moved.set()

    assert result.pictures() == [tmp_path / "runs/train_model/version_0" / name for name in PNGS]
    assert list(elsewhere.iterdir()) == []


def test_the_surest_mistakes_are_kept_across_batches_and_nothing_else() -> None:
    # The "network" passes its input through: each image is its own logits, so the mistakes are known.
    first = (torch.tensor([[3.0, 0.0], [0.0, 1.0]]), torch.tensor([1, 1]))  # row 0 wrong (p=0.95)
    second = (torch.tensor([[0.0, 5.0], [2.0, 0.0]]), torch.tensor([0, 1]))  # wrong: p=0.99, p=0.88

    mistakes = plots.surest_mistakes(nn.Identity(), [first, second], count=2)

    assert mistakes.total == 3  # every wrong prediction is counted, two are kept
    assert mistakes.targets.tolist() == [0, 1]  # surest first: second[0] (0.99), then first[0] (0.95)
    assert torch.equal(mistakes.images[0], second[0][0]) and torch.equal(mistakes.images[1], first[0][0])
    assert mistakes.probabilities.argmax(dim=1).tolist() == [1, 0]


def test_a_set_without_mistakes_keeps_none() -> None:
    right = (torch.tensor([[3.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))

    mistakes = plots.surest_mistakes(nn.Identity(), [right, right], count=16)

    assert mistakes.total == 0 and len(mistakes.images) == 0
    figure = plots.misclassified_grid(mistakes, ["cat", "dog"])
    assert [text.get_text() for text in figure.axes[0].texts] == ["none: every image is right"]


def test_fit_keeps_the_last_validations_surest_mistakes_without_predicting_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn: list[plots.Mistakes] = []
    write_plots = plots.write_plots
    monkeypatch.setattr(
        "lit_classifier.callbacks.plots.write_plots",
        lambda *args: drawn.append(args[4]) or write_plots(*args),
    )
    result = train_model(SmallCNN(), epochs=2, limit_train_batches=3)
    result.pictures()

    # The trained network predicts the validation set again here, in the test only: same mistakes.
    datamodule = result.trainer.datamodule  # type: ignore[union-attr]
    again = plots.surest_mistakes(result.module, datamodule.val_dataloader(), count=16)
    (kept,) = drawn
    assert kept.total == again.total > 0
    assert torch.equal(kept.targets, again.targets)
    assert torch.allclose(kept.probabilities, again.probabilities, atol=1e-5)
    assert torch.allclose(kept.images, again.images)
