"""``lit-classifier-lr-find``: Lightning's learning-rate finder on a config, saved in a run folder."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from PIL import Image

from lit_classifier import lr_find

REPO = Path(__file__).resolve().parents[1]


def test_lr_find_on_the_digits_config_saves_plot_and_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lr_find.main(["--config", str(REPO / "configs" / "digits.yaml"), "--lr_find.num_training=20"])

    folder = tmp_path / "runs" / "lightning_logs" / "version_0"
    saved = json.loads((folder / "lr_find.json").read_text())
    assert len(saved["lr"]) == len(saved["loss"]) == 20
    assert saved["min_lr"] <= saved["suggested_lr"] <= saved["max_lr"]
    with Image.open(folder / "lr_find.png") as image:
        assert image.width > 300 and image.height > 200
    assert f"pass --model.optimizer.lr {saved['suggested_lr']:.3g}" in capsys.readouterr().out
    assert not list(tmp_path.glob(".lr_find_*.ckpt"))  # Lightning's temporary checkpoint is gone
    assert not (folder / "learning_curves.png").exists()  # a range test is not a training run
    assert not list(tmp_path.glob("*.csv"))  # nothing outside the run folder
    assert not (folder / "checkpoints").exists()


@pytest.mark.filterwarnings("ignore:Skipping learning rate finder")
def test_lr_find_refuses_fast_dev_run_with_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        lr_find.main(["--trainer.fast_dev_run=true"])

    assert exit_info.value.code == 2
    assert "does not run with --trainer.fast_dev_run" in capsys.readouterr().err


def test_lit_classifier_lr_find_is_an_installed_command() -> None:
    scripts = {script.name: script.value for script in entry_points(group="console_scripts")}

    assert scripts["lit-classifier-lr-find"] == "lit_classifier.lr_find:main"
