"""``lit-classifier serve``: a checkpoint's predictions over HTTP, with LitServe.

    lit-classifier serve --ckpt_path last                        # http://127.0.0.1:8000/predict
    lit-classifier serve --ckpt_path model.ckpt --host 0.0.0.0 --max_batch_size 32 --devices 2

The checkpoint is read as every command reads one: plain data (``--weights_only``), its network and
data module rebuilt only if ``lit_classifier.checkpoints.trust`` allows them (``--trusted_modules``). A bad
option or checkpoint stops the command before the server starts: one ``error:`` line, exit code 2.
Ctrl+C or SIGTERM stops the server and its worker processes (exit code 130 after Ctrl+C, as ``fit``
has; 0 after SIGTERM, a service's usual stop).

With ``--api_key_file`` (or LitServe's ``LIT_SERVER_API_KEY`` in the environment) every request must
carry the key in its ``X-API-Key`` header. No option takes the key itself: a command line is visible
to every user of the machine (``ps``).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import litserve as ls
from jsonargparse import auto_cli

from lit_classifier.checkpoints.runs import check_ckpt_path, resolve_named
from lit_classifier.command.help import SUBCOMMANDS
from lit_classifier.command.parser import ClassifierParser
from lit_classifier.data.augment import TTA
from lit_classifier.errors import CheckpointError, InputError, command_errors
from lit_classifier.module import ClassifierModule
from lit_classifier.serving.api import FIELD, ClassifierAPI
from lit_classifier.serving.limits import RequestLimits

#: Where ``lit-classifier fit`` writes its runs by default: ``--ckpt_path last`` looks there.
RUNS = Path("runs", "lightning_logs")
#: The hosts LitServe binds to; 127.0.0.1 (this machine only) unless the user opens the server up.
HOSTS = ("127.0.0.1", "0.0.0.0", "::")


def classifier_server(api: ClassifierAPI, max_body_mb: float = 10, **kwargs: Any) -> ls.LitServer:
    """A ``LitServer`` of ``api`` whose HTTP process refuses, in a 4xx JSON answer, bodies over
    ``max_body_mb``, content types other than a form or JSON, and bodies that do not parse
    (``limits.RequestLimits``); ``kwargs`` go to ``LitServer`` (``accelerator``, ``devices``, ...)."""
    if not max_body_mb > 0:
        raise InputError(f"max_body_mb must be positive, not {max_body_mb}")
    limits = {"path": api.api_path, "max_body_bytes": int(max_body_mb * 2**20)}
    callbacks = [*kwargs.pop("callbacks", []), QuietCtrlC()]
    return ls.LitServer(api, middlewares=[(RequestLimits, limits)], callbacks=callbacks, **kwargs)


class QuietCtrlC(ls.Callback):
    """Ctrl+C reaches every process of the terminal's group, and an inference worker would die of it
    with a KeyboardInterrupt traceback. From its setup on, a worker ends quietly instead (a
    ``SystemExit``, which multiprocessing reports without one); the main process stops the rest."""

    def on_before_setup(self, *args: Any, **kwargs: Any) -> None:
        signal.signal(signal.SIGINT, _end_quietly)


def _end_quietly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def serve(
    ckpt_path: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key_file: Path | None = None,
    top_k: int = 3,
    max_batch_size: int = 16,
    batch_timeout: float = 0.005,
    accelerator: Literal["auto", "cpu", "cuda", "mps"] = "auto",
    devices: int | Literal["auto"] = "auto",
    workers_per_device: int = 1,
    max_body_mb: float = 10,
    timeout: float = 30,
    log_level: Literal["debug", "info", "warning", "error"] = "warning",
    trusted_modules: list[str] | None = None,
    weights_only: bool = True,
    tta: TTA | None = None,
) -> None:
    """Answer POSTs of image files with the checkpoint's predictions, until Ctrl+C or SIGTERM.

    Args:
        ckpt_path: a checkpoint file, ``last`` (the newest of the runs under runs/lightning_logs) or
            ``best`` (that run's best epoch by validation accuracy).
        host: the address to listen on: 127.0.0.1 (this machine only), 0.0.0.0 or :: (every network).
        port: the TCP port (1024 to 65535).
        api_key_file: a file holding the key that every request must send in its X-API-Key header
            (default: LIT_SERVER_API_KEY from the environment, if set; else none).
        top_k: how many classes each answer ranks.
        max_batch_size: the most requests the network runs together.
        batch_timeout: seconds a batch waits for more requests (a few ms: batches fill under load,
            and a lone request waits no longer than that).
        accelerator: where the network runs.
        devices: how many devices (GPUs) to use, or auto.
        workers_per_device: inference processes per device.
        max_body_mb: requests with a larger body are refused (413).
        timeout: seconds a request may wait for its answer (504 after).
        log_level: LitServe's and uvicorn's logging (info logs every request).
        trusted_modules: modules whose network and data module classes the checkpoint may name.
        weights_only: read the checkpoint as plain data only; false only for a file you trust.
        tta: test-time augmentation (``ClassifierModule``'s ``tta``: ``flip``, ``crops``, ``none``);
            by default the checkpoint's.
    """
    check_options(host, port, max_batch_size, batch_timeout, workers_per_device, timeout)
    key = read_api_key(api_key_file) if api_key_file is not None else None
    path = resolve_named(ckpt_path, RUNS, None, "serve")
    check_ckpt_path(path)
    if not Path(path).is_file():  # a URL: Lightning's loaders fetch those, this command does not
        raise CheckpointError(f"checkpoint file not found: {path} (--ckpt_path)")
    trusted = trusted_modules or []
    chosen: dict[str, Any] = {} if tta is None else {"tta": tta}
    module = ClassifierModule.load_from_checkpoint(
        path, weights_only=weights_only, trusted_modules=trusted, **chosen
    )
    try:
        api = ClassifierAPI(module, top_k, trusted, max_batch_size, batch_timeout, api_key=key)
    except InputError as error:  # the record's data module: refused, or none to prepare images with
        raise CheckpointError(f"{path}: {error}") from None
    server = classifier_server(
        api, max_body_mb, accelerator=accelerator, devices=devices, workers_per_device=workers_per_device,
        timeout=timeout,
    )  # fmt: skip
    print(
        f"serving {path} at http://{host}:{port}{api.api_path}: POST an image as the multipart field "
        f'{FIELD}, or JSON {{"{FIELD}": "<base64>"}}; ready when GET /health answers ok; Ctrl+C stops'
        + ("; every request sends the key in its X-API-Key header" if api.api_key else "")
    )
    received: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop_handler(os.getpid(), received))
    server.run(host=host, port=port, log_level=log_level, generate_client_file=False)
    if signal.SIGINT in received:
        raise SystemExit(128 + signal.SIGINT)  # the shell's "stopped by Ctrl+C", as `fit` exits


def check_options(
    host: str, port: int, max_batch_size: int, batch_timeout: float, workers: int, timeout: float
) -> None:
    """Refuse, naming the option, what LitServe would refuse with a traceback once started."""
    problems = {
        "--host": (host in HOSTS, f"{host!r} is none of {', '.join(HOSTS)}"),
        "--port": (1024 <= port <= 65535, f"{port} is not in 1024..65535"),
        "--max_batch_size": (max_batch_size >= 1, f"{max_batch_size} is less than 1"),
        "--batch_timeout": (batch_timeout >= 0, f"{batch_timeout} is negative"),
        "--workers_per_device": (workers >= 1, f"{workers} is less than 1"),
        "--timeout": (timeout > 0, f"{timeout} is not positive"),
    }
    for option, (fine, why) in problems.items():
        if not fine:
            raise InputError(f"{option}: {why}")


def read_api_key(path: Path) -> str:
    """The API key in the file ``path`` (its one line, without the line's end)."""
    try:
        key = Path(path).read_text().strip()
    except OSError as error:
        raise InputError(f"--api_key_file {path}: cannot read the key: {error.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"--api_key_file {path}: not a text file: write the key in it") from None
    if not key:
        raise InputError(f"--api_key_file {path}: the file is empty: write the key in it")
    return key


def _stop_handler(main: int, received: list[int]) -> Callable[[int, FrameType | None], None]:
    """SIGTERM as Ctrl+C in the main process, which records the signal: LitServe stops its workers on
    KeyboardInterrupt only. Its HTTP processes are forked with this handler, and uvicorn raises the
    signal again once it has shut one down gracefully: there, it ends the process quietly."""

    def stop(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != main:
            raise SystemExit(0)
        received.append(signum)
        raise KeyboardInterrupt

    return stop


#: The help's text atop the options: the line the top-level help lists, and how a client uses it.
DESCRIPTION = (
    f"{SUBCOMMANDS['serve']} Clients POST an image to http://HOST:PORT/predict as the multipart field "
    f'{FIELD} or as JSON {{"{FIELD}": "<base64>"}}; GET /health answers ok once it is ready. Ctrl+C or '
    "SIGTERM stops it."
)


def main(args: list[str] | None = None) -> None:
    """``lit-classifier serve ARGS``; its help has the one-line usage of the other subcommands."""
    with command_errors():
        auto_cli(
            serve,
            args=args,
            as_positional=False,
            parser_class=ClassifierParser,
            prog="lit-classifier serve",
            description=DESCRIPTION,
            usage="%(prog)s --ckpt_path CKPT [options]",
        )
