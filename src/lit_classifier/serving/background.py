"""A server command run in the background, for a client in the same script (a benchmark, a test)::

    with background_server(["lit-classifier", "serve", "--ckpt_path", "last"], port=8000) as server:
        requests.post(f"{server.url}/predict", files={"image": open("photo.png", "rb")})

The command runs in a process group of its own; the block starts once ``GET /health`` answers 200,
and on leaving it SIGTERM stops the server (or Ctrl+C, as a terminal sends it to every process of
the group: ``stop_signal``), which must end, with every process of its group (the HTTP server, the
inference workers, multiprocessing's helpers), within ``stop_seconds``, with exit code 0 after
SIGTERM and 130 after Ctrl+C.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class BackgroundServer:
    """The server's base URL and process id; once it has stopped, what it wrote to stderr."""

    url: str
    pid: int
    stderr: str = ""


class ServerError(RuntimeError):
    """The server exited early, was not ready in time, failed to stop, or left processes behind."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def background_server(
    command: Sequence[str],
    port: int,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    start_seconds: float = 240,
    stop_seconds: float = 60,
    headers: Mapping[str, str] | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
) -> Iterator[BackgroundServer]:
    """Run ``command`` (which listens on 127.0.0.1 at ``port``) until the block ends.

    Args:
        command: the server's command line, its port included.
        port: the port it listens on.
        cwd: its working folder.
        env: its environment (this process's by default).
        start_seconds: how long it may take to answer ``/health`` (imports, workers, the model).
        stop_seconds: how long it may take to stop after SIGTERM.
        headers: sent with ``GET /health`` (the ``X-API-Key`` of a server that takes one).
        stop_signal: SIGTERM (to the server) or SIGINT (Ctrl+C: to every process of its group).
    """
    process = subprocess.Popen(
        list(command), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    server = BackgroundServer(f"http://127.0.0.1:{port}", process.pid)
    try:
        _wait_until_healthy(process, server.url, start_seconds, dict(headers or {}))
        yield server
    finally:
        server.stderr = _stop(process, stop_seconds, stop_signal)


def _wait_until_healthy(
    process: subprocess.Popen[str], url: str, seconds: float, headers: dict[str, str]
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.communicate()[1]
            raise ServerError(f"the server exited with {process.returncode}: {err[-3000:]}")
        try:
            with urllib.request.urlopen(
                urllib.request.Request(f"{url}/health", headers=headers), timeout=5
            ) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or its workers not ready (503)
        time.sleep(0.5)
    raise ServerError(f"the server at {url} was not ready after {seconds:g} s")


def _stop(process: subprocess.Popen[str], seconds: float, signum: signal.Signals) -> str:
    """SIGTERM or Ctrl+C, then wait for the server and for every process of its group; its stderr."""
    if process.poll() is None:
        if signum == signal.SIGINT:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
    try:
        _, err = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise ServerError(f"the server did not stop within {seconds:g} s of SIGTERM") from None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.killpg(process.pid, signal.SIGKILL)
        raise ServerError(f"processes of the server were still running {seconds:g} s after it stopped")
    expected = 128 + signal.SIGINT if signum == signal.SIGINT else 0
    if process.returncode != expected:
        raise ServerError(f"the server ended with exit code {process.returncode}: {err[-3000:]}")
    return err
