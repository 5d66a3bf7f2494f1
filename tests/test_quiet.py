"""A command prints one line per epoch and its own messages: none of Lightning's start-up chatter,
tips or warnings about choices that are deliberate here."""

from __future__ import annotations

import subprocess
import sys

from helpers import cli

SHORT = ["--trainer.max_epochs=2", "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=2"]


def command(*args: str) -> subprocess.CompletedProcess[str]:
    finished = subprocess.run(
        [sys.executable, "-m", "lit_classifier", *args], capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr
    return finished


def test_fit_prints_one_line_per_epoch_and_where_the_pictures_went() -> None:
    fit = command("fit", *SHORT)

    lines = fit.stdout.splitlines()
    assert [line.split(" |")[0] for line in lines[:2]] == ["epoch 1/2", "epoch 2/2"]
    assert lines[2:] == [
        "wrote learning_curves.png, confusion_matrix.png, misclassified.png to runs/lightning_logs/version_0"
    ]
    assert fit.stderr == ""


def test_evaluation_prints_its_results_and_no_warnings() -> None:
    cli("fit", *SHORT, "--plots.enabled=false")  # the checkpoint; its own output is the test above

    validate = command("validate", "--ckpt_path=last", "--trainer.limit_val_batches=2")

    assert "val_acc" in validate.stdout
    assert validate.stderr == ""


def test_the_learning_rate_finder_prints_its_suggestion_only() -> None:
    finished = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lit_classifier.command.lr_find import main; main()",
            "--lr_find.num_training=20",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith("suggested learning rate ")
    assert finished.stderr == ""
