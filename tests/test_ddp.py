"""Several processes (DDP with gloo on the CPU), through the real command: the same answers as one.

Each run here starts real processes (about 6 s of imports each on the 2-core test machine), so the
checks are few and each run carries several of them. Splits are chosen not to divide by 2, so a
sampler that padded them with repeated images would change the numbers.
"""

from __future__ import annotations

import csv
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
from torch.utils.data import TensorDataset

from helpers import (
    FAST,
    REPO,
    TWO_PROCESSES,
    cli,
    finish,
    free_port,
    last_value,
    lit_classifier,
    only_run,
    read_metrics,
    run_dir,
    start,
    torchrun_node,
)
from lit_classifier import train_model
from lit_classifier.command.process_group import released_process_group, wait_for_launched
from lit_classifier.data.splits import distributed_sampler
from lit_classifier.models import SmallCNN

# 271 validation and 359 test images: shards of 136 + 135 and 180 + 179; with batches of 45 the two
# processes run 4 and 3 validation batches (a process that waited on the other's batch would hang).
UNEVEN = ["--data.init_args.val_fraction=0.1506", "--data.init_args.batch_size=45"]
VAL_SIZE, TEST_SIZE = 271, 359


def epoch_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("epoch ")]


def shards(dataset_size: int, train: bool, epoch: int = 0, seed: int = 0) -> list[list[int]]:
    """The indices each of two processes sees in one epoch."""
    dataset = TensorDataset(torch.arange(dataset_size))
    samplers = [distributed_sampler(dataset, 2, rank, train=train, seed=seed, split="val") for rank in (0, 1)]
    for sampler in samplers:
        assert sampler is not None
        sampler.set_epoch(epoch)
    return [list(sampler) for sampler in samplers if sampler is not None]


def test_evaluation_shards_hold_every_sample_exactly_once() -> None:
    first, second = shards(7, train=False)

    assert sorted(first + second) == list(range(7))
    assert (len(first), len(second)) == (4, 3)


def test_training_shards_are_disjoint_and_reshuffle_every_epoch_like_a_restart() -> None:
    epoch_0, epoch_1 = shards(100, train=True, epoch=0), shards(100, train=True, epoch=1)

    assert sorted(epoch_0[0] + epoch_0[1]) == list(range(100))
    assert epoch_0 != epoch_1
    assert shards(100, train=True, epoch=1) == epoch_1  # the same seed gives the same order again
    assert shards(100, train=True, epoch=1, seed=1) != epoch_1


def test_a_resumed_epoch_goes_on_at_the_next_batch_of_each_shard() -> None:
    dataset = TensorDataset(torch.arange(100))
    uninterrupted = shards(100, train=True, epoch=1)
    for rank in (0, 1):
        # A checkpoint written after 2 batches of 10 in epoch 1, read back by a resumed run.
        sampler = distributed_sampler(
            dataset, 2, rank, train=True, seed=0, split="train", batch_size=10, resume_at=(1, 2)
        )
        assert sampler is not None
        sampler.set_epoch(1)
        assert list(sampler) == uninterrupted[rank][20:]
        assert len(sampler) == 50  # Lightning still counts the whole epoch's batches
        sampler.set_epoch(2)
        assert list(sampler) == shards(100, train=True, epoch=2)[rank]


def test_one_process_evaluates_in_plain_order() -> None:
    dataset = TensorDataset(torch.arange(5))

    assert distributed_sampler(dataset, 1, 0, train=False, seed=0, split="val") is None


def test_a_split_smaller_than_the_process_count_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="the val split has 1 samples for 2 processes"):
        shards(1, train=False)


def test_a_batch_larger_than_a_process_shard_is_refused() -> None:
    dataset = TensorDataset(torch.arange(100))

    with pytest.raises(ValueError, match="batch_size=64 is larger than the 50 training images each of the 2"):
        distributed_sampler(dataset, 2, 0, train=True, seed=0, split="train", batch_size=64)
    assert distributed_sampler(dataset, 2, 0, train=True, seed=0, split="train", batch_size=50) is not None


@pytest.fixture
def own_environment() -> Iterator[None]:
    """Lightning's launcher writes MASTER_PORT, WORLD_SIZE, ... into this process's environment."""
    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)


ONE_PROCESS_DDP = {"accelerator": "cpu", "strategy": "ddp", "devices": 1}


@pytest.mark.usefixtures("own_environment")
def test_commands_and_train_model_destroy_the_process_group_they_started() -> None:
    # A gloo group left to the interpreter's exit can abort a run that succeeded (exit status -6).
    cli("fit", *[f"--trainer.{key}={value}" for key, value in ONE_PROCESS_DDP.items()], *FAST)
    assert not dist.is_initialized()

    train_model(SmallCNN(), epochs=1, limit_train_batches=2, limit_val_batches=1, **ONE_PROCESS_DDP)
    assert not dist.is_initialized()


def test_a_process_group_started_by_the_caller_is_left_to_the_caller() -> None:
    store = dist.HashStore()
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        with released_process_group():
            pass
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()

    with released_process_group():
        dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    assert not dist.is_initialized()


def test_the_command_ends_after_the_processes_lightning_launched_for_it() -> None:
    # Lightning's launcher leaves the other ranks' processes to end on their own: a command returned
    # to the shell while one was still shutting down.
    launched = [subprocess.Popen(["sleep", "0.5"]), subprocess.Popen(["sleep", "0.2"])]
    strategy = SimpleNamespace(launcher=SimpleNamespace(procs=launched))

    wait_for_launched(SimpleNamespace(strategy=strategy))  # type: ignore[arg-type]  # what it reads

    assert [process.poll() for process in launched] == [0, 0]


@pytest.mark.slow
@pytest.mark.parametrize("sampling", ["shuffle", "balanced"])
def test_two_processes_fit_and_validate_like_one(sampling: str, tmp_path: Path) -> None:
    fit_stdout = lit_classifier(
        "fit",
        *TWO_PROCESSES,
        *UNEVEN,
        f"--data.init_args.sampling={sampling}",  # balanced: each process takes its share of one draw
        "--data.init_args.gpu_resident=true",  # each process holds its shard as a tensor (CPU here)
        "--trainer.limit_train_batches=3",
        "--trainer.max_epochs=1",
        cwd=tmp_path / "fit",
    )
    fit_run = only_run(tmp_path / "fit")
    checkpoint = fit_run / "checkpoints" / "last.ckpt"
    lit_classifier(
        "validate", *TWO_PROCESSES, *UNEVEN, f"--ckpt_path={checkpoint}", cwd=tmp_path / "validate"
    )
    on_one = cli("validate", "--trainer.accelerator=cpu", *UNEVEN, f"--ckpt_path={checkpoint}")

    # Rank zero alone prints the summary and writes the run folder.
    assert len(epoch_lines(fit_stdout)) == 1
    written = {path.name for path in fit_run.iterdir()}
    assert written >= {"metrics.csv", "config.yaml", "checkpoints", "learning_curves.png"}
    assert len(on_one.datamodule.val_set) == VAL_SIZE
    one = read_metrics(run_dir(on_one))
    two_dir = only_run(tmp_path / "validate")
    two = read_metrics(two_dir)
    during_fit = read_metrics(fit_run)
    # Every image counted once: the accuracy is the same fraction of 271, the loss the same mean,
    # whether the two processes read batches from a DataLoader or from device-resident tensors.
    assert last_value(two, "val_acc") == last_value(one, "val_acc")
    assert last_value(two, "val_loss") == pytest.approx(last_value(one, "val_loss"), rel=1e-6)
    per_class = [(folder / "val_per_class_accuracy.csv").read_text() for folder in (two_dir, run_dir(on_one))]
    assert per_class[0] == per_class[1]
    assert last_value(during_fit, "val_acc") == last_value(one, "val_acc")
    assert last_value(during_fit, "val_loss") == pytest.approx(last_value(one, "val_loss"), rel=1e-6)


@pytest.mark.slow
def test_predict_on_two_processes_writes_every_input_once_in_order(tmp_path: Path) -> None:
    checkpoint = (run_dir(cli("fit", *FAST, *UNEVEN)) / "checkpoints" / "last.ckpt").resolve()
    one_run = run_dir(cli("predict", *UNEVEN, f"--ckpt_path={checkpoint}"))

    lit_classifier("predict", *TWO_PROCESSES, *UNEVEN, f"--ckpt_path={checkpoint}", cwd=tmp_path / "predict")

    with (only_run(tmp_path / "predict") / "predictions.csv").open() as file:
        two = list(csv.DictReader(file))
    with (one_run / "predictions.csv").open() as file:
        one = list(csv.DictReader(file))
    assert [int(row["index"]) for row in two] == list(range(TEST_SIZE))
    assert [row["prediction"] for row in two] == [row["prediction"] for row in one]
    for row_two, row_one in zip(two, one, strict=True):
        assert float(row_two["probability"]) == pytest.approx(float(row_one["probability"]), abs=1e-5)


NodeLauncher = Callable[[int, int, list[str], Path], "subprocess.Popen[str]"]


def slurm_node(rank: int, port: int, fit_args: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    """One task of ``scripts/slurm/train.sbatch`` on 2 nodes x 1 task, with the variables SLURM sets;
    ``srun`` (which would start the task on its node) just runs the command here."""
    fake_bin = tmp_path / f"bin{rank}"  # one per node: rewriting a shared one while the other node
    fake_bin.mkdir()  # runs it made that exec fail with "Text file busy"
    (fake_bin / "srun").write_text('#!/bin/sh\nexec "$@"\n')
    (fake_bin / "srun").chmod(0o755)
    node = tmp_path / f"node{rank}"
    node.mkdir()
    (node / "configs").symlink_to(REPO / "configs")  # sbatch runs where the job was submitted
    env = {
        **os.environ,
        "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "lit-classifier",
        "SLURM_NODELIST": "127.0.0.1",
        "MASTER_PORT": str(port),  # on a cluster: derived from the job id
        "SLURM_JOB_NUM_NODES": "2",
        "SLURM_NNODES": "2",
        "SLURM_NTASKS": "2",
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_NODEID": str(rank),
        "SLURM_PROCID": str(rank),
        "SLURM_LOCALID": "0",
    }
    return start(["bash", str(REPO / "scripts" / "slurm" / "train.sbatch"), *fit_args], node, env)


@pytest.mark.slow
@pytest.mark.parametrize("launch_node", [torchrun_node, slurm_node], ids=["torchrun", "slurm"])
def test_two_nodes_train_as_one_job(launch_node: NodeLauncher, tmp_path: Path) -> None:
    port = free_port()
    fit_args = ["--trainer.accelerator=cpu", *FAST, "--trainer.limit_val_batches=1.0", *UNEVEN]
    nodes = [tmp_path / "node0", tmp_path / "node1"]  # each "machine" has its own disk

    outputs = finish(*[launch_node(rank, port, fit_args, tmp_path) for rank in (0, 1)])

    run = only_run(nodes[0])
    checkpoint = run / "checkpoints" / "last.ckpt"
    on_one = cli("validate", "--trainer.accelerator=cpu", *UNEVEN, f"--ckpt_path={checkpoint}")
    # One metrics file, whose validation covers both nodes' shards: all 271 images, once each.
    assert last_value(read_metrics(run), "val_acc") == last_value(read_metrics(run_dir(on_one)), "val_acc")
    assert not (nodes[1] / "runs").exists()  # the second node wrote nothing
    assert len(epoch_lines(outputs[0])) == 1
    assert epoch_lines(outputs[1]) == []
