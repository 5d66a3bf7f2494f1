"""The installed ``lit-classifier`` command in a real process (the one place a subprocess matters)."""

from __future__ import annotations

import subprocess
import sys


def test_console_script_fits_and_exits_zero() -> None:
    finished = subprocess.run(
        ["lit-classifier", "fit", "--trainer.fast_dev_run=true"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert finished.returncode == 0, finished.stderr
    assert "epoch 1" in finished.stdout


def test_python_dash_m_reports_a_bad_value_with_exit_code_2() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "lit_classifier", "fit", "--model.optimizer.lr=-1"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert finished.returncode == 2
    assert "Invalid learning rate: -1.0" in finished.stderr


def test_a_misspelt_option_is_one_line_with_exit_code_2() -> None:
    finished = subprocess.run(
        ["lit-classifier", "fit", "--trainer.max_epoch", "3"], capture_output=True, text=True, timeout=120
    )

    assert finished.returncode == 2
    assert (
        finished.stderr == "error: unknown option --trainer.max_epoch (did you mean --trainer.max_epochs?)\n"
    )
    assert finished.stdout == ""
