"""benchmarks/gpu_session.sh, the one command a GPU machine runs, runs every step in its CPU form."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = ["gpu-tests", "throughput", "augment", "augment-test", "fast-config"]


def test_the_cpu_form_runs_every_step_and_leaves_nothing_in_the_tree(tmp_path: Path) -> None:
    before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    env = {**os.environ, "OUT": str(tmp_path)}

    done = subprocess.run(
        ["bash", "benchmarks/gpu_session.sh", "--device", "cpu"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )

    rows = re.findall(r"^\| ([a-z-]+) \| (\d+) \| \d+ \|$", done.stdout, re.M)
    assert rows == [(step, "0") for step in STEPS], done.stdout[-3000:]
    assert done.returncode == 0
    assert {f"{step}.log" for step in STEPS} <= {path.name for path in tmp_path.iterdir()}
    throughput = (tmp_path / "throughput.log").read_text()  # every loop and ratio of the benchmark
    loops = ["Lightning small_cnn loader fp32", "hand-written small_cnn resident fp32"]
    loops += ["classic recipe (hand-written)", "best eager (hand-written)", "fast path (Lightning)"]
    assert all(loop in throughput for loop in loops)
    assert "parity small_cnn loader fp32" in throughput and "/ classic recipe (goal >= 2.5)" in throughput
    assert "/ best eager (goal >= 1.3)" in throughput and "n/a" in throughput  # no GPU memory on the CPU
    assert "bare Lightning small_cnn resident fp32 / hand-written (the Trainer's own cost)" in throughput
    assert "Lightning small_cnn resident fp32 / small_cnn loader fp32 (data path)" in throughput
    assert "hand-written small_cnn loader fp32, again / hand-written (noise floor, 1 ideally)" in throughput
    assert "epoch 1/1 | train loss" in (tmp_path / "fast-config.log").read_text()
    assert "test_acc" in (tmp_path / "augment-test.log").read_text()
    after = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    assert after == before  # no run folder, table or cache written into the repository


def test_a_device_it_does_not_know_is_refused_before_any_step() -> None:
    done = subprocess.run(
        ["bash", "benchmarks/gpu_session.sh", "--device", "tpu"], cwd=ROOT, capture_output=True, text=True
    )

    assert done.returncode == 2
    assert done.stderr.strip() == "gpu_session.sh: --device must be cuda or cpu, got tpu"
