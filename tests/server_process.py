"""``lit-classifier serve`` as a real server process on 127.0.0.1, for the tests that talk HTTP to it.

A server costs several seconds to start here (its inference worker is a fresh Python process), so the
tests that need no other options share one (conftest's ``trained_server``). Every request has a
timeout and every wait a deadline (``serving.background``): the server is stopped with SIGTERM, and
a process of it still alive afterwards, an exit code other than 0 or a traceback in its stderr fails
the test.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from lit_classifier.serving.background import BackgroundServer, background_server, free_port

#: The shared server's options (conftest's ``trained_server``), and those of the tests that start
#: another: requests that arrive within 50 ms of each other share a batch, so concurrent ones surely do.
OPTIONS = ["--max_batch_size=8", "--batch_timeout=0.05", "--max_body_mb=1", "--accelerator=cpu"]


@contextmanager
def served(args: list[str], cwd: Path) -> Iterator[str]:
    """``lit-classifier serve ARGS --port FREE`` started in ``cwd``: its base URL once ready."""
    with served_process(args, cwd) as server:
        yield server.url


@contextmanager
def served_process(args: list[str], cwd: Path) -> Iterator[BackgroundServer]:
    """``served``, with the server's process id beside its URL."""
    port = free_port()
    command = [sys.executable, "-m", "lit_classifier", "serve", *args, f"--port={port}"]
    with background_server(command, port, cwd) as server:
        yield server
    assert "Traceback" not in server.stderr, server.stderr[-3000:]


def digit_png(index: int = 0) -> bytes:
    """Digit number ``index`` of scikit-learn's set as an 8x8 gray PNG file's bytes."""
    pixels = load_digits().images[index] * (255 / 16)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
