"""Helpers of the end-to-end tests: the CLI in-process or as real processes (DDP on two CPU
processes, one node of a two-node job), and the run folder's files."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch
from torch import Tensor

from lit_classifier.command.cli import ClassifierCLI, run
from processes import STARTED, end_sessions

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DDP_YAML = str(REPO / "configs" / "trainer" / "ddp.yaml")
MULTINODE_YAML = str(REPO / "configs" / "trainer" / "multinode.yaml")
# Two processes on this machine's CPU; one of them is started by Lightning itself.
TWO_PROCESSES = ["--config", DDP_YAML, "--trainer.accelerator=cpu", "--trainer.devices=2"]

# Keeps end-to-end runs to a second or two: one epoch of a few batches per stage, and no pictures
# (drawing them is half of such a run; the tests of pictures ask for them with --plots.enabled=true).
FAST = [
    "--trainer.limit_train_batches=3",
    "--trainer.limit_val_batches=2",
    "--trainer.max_epochs=1",
    "--plots.enabled=false",
]


def cli(*args: str) -> ClassifierCLI:
    """``lit-classifier ARGS`` in this process."""
    return run(list(args))


def run_dir(cli_run: ClassifierCLI) -> Path:
    """The folder of a finished run: metrics, config and checkpoints."""
    assert cli_run.trainer.log_dir is not None
    return Path(cli_run.trainer.log_dir)


def read_metrics(folder: Path) -> list[dict[str, str]]:
    """Rows of the CSV logger's ``metrics.csv``."""
    with (folder / "metrics.csv").open() as file:
        return list(csv.DictReader(file))


def last_value(rows: list[dict[str, str]], key: str) -> float:
    """The last logged value of ``key``."""
    return float([row[key] for row in rows if row.get(key)][-1])


def assert_same_tensors(tensors: Mapping[str, Tensor], reference: Mapping[str, Tensor]) -> None:
    """Each tensor of ``tensors`` (a state dict) equals, bit for bit, its namesake in ``reference``."""
    for name, tensor in tensors.items():
        assert torch.equal(tensor, reference[name]), name


def start(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``command`` in ``cwd`` in its own process group (DDP's children join it). The tests'
    modules are importable there, so that a command can name a test's callback by its class path."""
    cwd.mkdir(exist_ok=True)
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    STARTED.append(process)  # ended after the test, whatever its outcome (conftest.py)
    return process


def finish(*processes: subprocess.Popen[str], timeout: float = 240) -> list[str]:
    """Wait for ``processes`` and return their standard outputs; a hang ends every group and fails."""
    outputs = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            end_sessions(list(processes))
            pytest.fail(f"{' '.join(map(str, process.args))} hung for {timeout} s")
        if process.returncode != 0:  # its peers would wait for it until the test run ends
            end_sessions(list(processes))
            pytest.fail(f"{' '.join(map(str, process.args))} exited {process.returncode}: {err[-3000:]}")
        outputs.append(out)
    return outputs


def lit_classifier(*args: str, cwd: Path) -> str:
    """``lit-classifier ARGS`` as a real process in ``cwd``; its standard output."""
    return finish(start([sys.executable, "-m", "lit_classifier", *args], cwd))[0]


def only_run(folder: Path) -> Path:
    """The one run folder the command wrote under ``folder/runs``."""
    runs = sorted((folder / "runs" / "lightning_logs").glob("version_*"))
    assert len(runs) == 1, runs
    return runs[0]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free now: a job's MASTER_PORT."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def torchrun_node(rank: int, port: int, fit_args: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    """One "machine" of a two-node job, started as the README says with torchrun."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node_rank={rank}"]
    torchrun += ["--nproc_per_node=1", "--master_addr=127.0.0.1", f"--master_port={port}"]
    fit = ["-m", "lit_classifier", "fit", "--config", DDP_YAML, "--config", MULTINODE_YAML]
    return start([*torchrun, *fit, "--trainer.devices=1", *fit_args], tmp_path / f"node{rank}")
