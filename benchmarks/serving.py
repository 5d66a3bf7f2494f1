"""Requests per second and latency of ``lit-classifier serve`` beside a plain FastAPI endpoint.

Both servers answer the same POSTs (one digit PNG per request, a multipart form) with the same
code: the same request checks in front (``serving.limits.RequestLimits``), and ``ClassifierAPI``'s
``decode_request`` (the image read and prepared as ``predict_images`` prepares a file), the
network and ``encode_response``. The difference is what LitServe adds: the FastAPI endpoint runs
the network once per request inside its event loop, as the plain way to write one; LitServe hands
the requests to an inference worker process that runs them in batches (``--max_batch_size``, within
``--batch_timeout``). LitServe's own claim is at least twice FastAPI's requests/s with batching.

An aiohttp client keeps ``c`` requests in flight (``c`` = each ``--concurrency``) for ``--requests``
requests after a warm-up, on one server at a time (the other stopped, so that neither's idle loop
takes CPU from the other); latency is each request's time from send to the whole answer. The
client runs on the same machine, so its own CPU time counts against both servers alike.

    python benchmarks/serving.py                        # trains a digits checkpoint first
    python benchmarks/serving.py --ckpt_path runs/lightning_logs/version_0/checkpoints/last.ckpt
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import io
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from contextlib import chdir
from importlib.metadata import version
from pathlib import Path

import aiohttp
import numpy as np
import torch
import uvicorn
from fastapi import FastAPI, Request, Response
from PIL import Image
from sklearn.datasets import load_digits

from lit_classifier import ClassifierModule
from lit_classifier.serving import ClassifierAPI
from lit_classifier.serving.background import background_server, free_port
from lit_classifier.serving.limits import FORM, RequestLimits

HERE = Path(__file__).resolve()
DIGITS = 16  # distinct images the client cycles through


def baseline_server(ckpt_path: str, port: int, max_body_mb: float) -> None:
    """The plain FastAPI endpoint: the same checks and the same work, one request at a time."""
    api = ClassifierAPI(ClassifierModule.load_from_checkpoint(ckpt_path))
    api.setup("cpu")
    app = FastAPI()
    app.add_middleware(RequestLimits, path="/predict", max_body_bytes=int(max_body_mb * 2**20))

    @app.get("/health")
    async def health() -> str:
        return "ok"

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        form = request.headers.get("content-type", "").startswith(FORM)
        payload = await (request.form() if form else request.json())
        return api.encode_response(api.predict(api.decode_request(payload)))

    # uvicorn raises SIGTERM again once it has shut down; this ends the process as a clean stop.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def digit_pngs() -> list[bytes]:
    """The first digits of scikit-learn's set, each as an 8x8 gray PNG file's bytes."""
    files = []
    for pixels in load_digits().images[:DIGITS] * (255 / 16):
        buffer = io.BytesIO()
        Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
        files.append(buffer.getvalue())
    return files


async def load(
    url: str, images: list[bytes], concurrency: int, requests: int
) -> tuple[float, list[float], float]:
    """Seconds for ``requests`` POSTs kept ``concurrency`` in flight, each one's latency, and the mean
    of the batch sizes the server reported (0 when it reports none)."""
    latencies: list[float] = []
    batches: list[int] = []
    sent = 0

    async def worker(session: aiohttp.ClientSession, count: int) -> None:
        nonlocal sent
        while sent < count:
            sent += 1
            form = aiohttp.FormData()
            form.add_field(
                "image", images[sent % len(images)], filename="digit.png", content_type="image/png"
            )
            start = time.perf_counter()
            async with session.post(url, data=form) as answer:
                await answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"{url} answered {answer.status}: {await answer.text()}")
            latencies.append(time.perf_counter() - start)
            batches.append(int(answer.headers.get("X-Batch-Size", 0)))

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout
    ) as session:
        await asyncio.gather(*(worker(session, concurrency) for _ in range(concurrency)))  # warm-up
        latencies.clear(), batches.clear()
        sent, start = 0, time.perf_counter()
        await asyncio.gather(*(worker(session, requests) for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    return seconds, latencies, statistics.mean(batches)


def measure(command: list[str], port: int, args: argparse.Namespace, images: list[bytes]) -> dict[int, tuple]:
    with background_server(command, port) as server:
        return {
            c: asyncio.run(load(f"{server.url}/predict", images, c, args.requests)) for c in args.concurrency
        }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(args: argparse.Namespace, ckpt: str, results: dict[str, dict[int, tuple]]) -> str:
    options = f"--max_batch_size {args.max_batch_size} --batch_timeout {args.batch_timeout}"
    lines = [
        f"python benchmarks/serving.py --requests {args.requests} --concurrency "
        + " ".join(map(str, args.concurrency)),
        "",
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU inference "
        f"({torch.get_num_threads()} torch threads); torch {torch.__version__}, litserve "
        f"{version('litserve')}, fastapi {version('fastapi')}, uvicorn {version('uvicorn')}; "
        f"{datetime.date.today()}",
        f"checkpoint: {ckpt}; lit-classifier serve {options}; one digit PNG per request (multipart); "
        f"{args.requests} requests per row after a warm-up",
        "",
        "| concurrency | LitServe req/s | p50 ms | p99 ms | mean batch | FastAPI req/s | p50 ms | p99 ms "
        "| LitServe / FastAPI req/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in args.concurrency:
        row = []
        rates = []
        for name in ("LitServe", "FastAPI"):
            seconds, latencies, batch = results[name][c]
            rates.append(len(latencies) / seconds)
            row += [f"{rates[-1]:.1f}", f"{1000 * percentile(latencies, 0.5):.1f}"]
            row += [f"{1000 * percentile(latencies, 0.99):.1f}"] + (
                [f"{batch:.1f}"] if name == "LitServe" else []
            )
        lines.append(f"| {c} | " + " | ".join(row) + f" | {rates[0] / rates[1]:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt_path", help="a digits checkpoint; by default one is trained (1 epoch)")
    parser.add_argument("--requests", type=int, default=400, help="measured requests per concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--max_batch_size", type=int, default=16)
    parser.add_argument("--batch_timeout", type=float, default=0.005)
    parser.add_argument("--max_body_mb", type=float, default=10)
    parser.add_argument("--fastapi-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fastapi_server:
        baseline_server(args.ckpt_path, args.fastapi_server, args.max_body_mb)
        return
    with tempfile.TemporaryDirectory() as scratch:
        ckpt = args.ckpt_path or train(Path(scratch))
        images, common = (
            digit_pngs(),
            ["--ckpt_path", str(Path(ckpt).resolve()), "--max_body_mb", str(args.max_body_mb)],
        )
        serve = [sys.executable, "-m", "lit_classifier", "serve", *common, "--accelerator", "cpu"]
        serve += ["--max_batch_size", str(args.max_batch_size), "--batch_timeout", str(args.batch_timeout)]
        baseline = [sys.executable, str(HERE), *common]
        ports = free_port(), free_port()
        results = {
            "LitServe": measure([*serve, "--port", str(ports[0])], ports[0], args, images),
            "FastAPI": measure([*baseline, "--fastapi-server", str(ports[1])], ports[1], args, images),
        }
    print(report(args, args.ckpt_path or "digits, SmallCNN, 1 epoch", results))


def train(folder: Path) -> str:
    """A digits checkpoint of one epoch of the default run: what is served does not matter here."""
    from lit_classifier.command.cli import run

    with chdir(folder):
        cli = run(
            ["fit", "--trainer.max_epochs=1", "--plots.enabled=false", "--trainer.enable_progress_bar=false"]
        )
        assert cli.trainer.checkpoint_callback is not None
        return str(folder / cli.trainer.checkpoint_callback.last_model_path)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
