"""``fit`` in a terminal, read off the screen as a person sees it: the bar, the epoch lines, and where
the pictures went. The command runs as a real process on a pseudo-terminal that reports no size, as
a bare one does (``os.openpty``; some containers and tools open such terminals); a terminal
emulator (pyte) turns what it wrote into the lines left on the screen."""

from __future__ import annotations

import os
import re
import select
import subprocess
import time
from pathlib import Path

import pyte

SHORT = ["--trainer.max_epochs=2", "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=2"]


def screen_of(command: list[str], cwd: Path, timeout: float = 240) -> tuple[int, list[str]]:
    """Run ``command`` with a new pseudo-terminal as its standard streams; its exit status and the
    non-empty lines of a 100x50 screen that received its output."""
    terminal, child_side = os.openpty()
    process = subprocess.Popen(command, cwd=cwd, stdin=child_side, stdout=child_side, stderr=child_side)
    os.close(child_side)
    written = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([terminal], [], [], 1)[0]:
                try:
                    chunk = os.read(terminal, 65536)
                except OSError:  # the command has closed the terminal: it has exited
                    break
                written += chunk
            elif process.poll() is not None:
                break
        else:
            process.kill()
    finally:
        os.close(terminal)
    screen = pyte.Screen(100, 50)
    pyte.Stream(screen).feed(written.decode(errors="replace"))
    return process.wait(timeout=60), [line.rstrip() for line in screen.display if line.strip()]


def test_fit_in_a_terminal_shows_the_bar_the_epoch_lines_and_the_pictures_line(tmp_path: Path) -> None:
    status, lines = screen_of(["lit-classifier", "fit", *SHORT], tmp_path)

    assert status == 0, lines
    assert [line.split(" |")[0] for line in lines[:2]] == ["epoch 1/2", "epoch 2/2"]
    # The training bar of the last epoch stays, numbered as the epoch lines are, with loss and speed.
    assert re.fullmatch(r"epoch 2/2: 100%\|█+\| 3/3 \[.*loss=\d\.\d{4}, img/s=\d+\]", lines[2]), lines
    assert lines[3:] == [
        "wrote learning_curves.png, confusion_matrix.png, misclassified.png to runs/lightning_logs/version_0"
    ]
