"""Shared fixtures: every test runs in its own empty folder and leaves no process behind; the
commands' expected warnings are ignored here too, for the tests that build a Trainer themselves."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from lit_classifier.command.quiet import EXPECTED_WARNINGS
from processes import STARTED, end_sessions, running


def pytest_configure(config: pytest.Config) -> None:
    for pattern in EXPECTED_WARNINGS:
        config.addinivalue_line("filterwarnings", f"ignore:{pattern}")
    share_the_cores()


def share_the_cores() -> None:
    """Under ``pytest -n N``, each test process (and every command it starts) gets its share of the
    cores for torch's threads. torch takes every core in each process by default: two workers on
    two cores then run four threads that spin waiting for each other, and the suite took 1.4x as
    long (``tests/test_real_data.py tests/test_cli.py tests/test_module.py``: 61 s, 43 s shared)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)  # for the commands a test starts
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """End every process the test started (and their children), and fail the test if one still ran.
    Processes of wider fixtures (a module's shared server) started before this one, and are theirs."""
    before = len(STARTED)
    yield
    left = end_sessions(STARTED[before:])
    assert not left, f"the test left these running (now killed): {left}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The test run fails if a command a test started outlives it: a check on the fixture above, and
    on the commands started without ``helpers.start`` (children of this process, beside its own
    pools of loader and compiler workers, which end with it)."""
    children = running(parent=os.getpid())
    commands = {
        pid: line for pid, line in children.items() if "lit_classifier" in line or "lit-classifier" in line
    }
    left = {**end_sessions(STARTED), **commands}
    if left:
        print(f"\nprocesses left running by the tests (now killed): {left}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run each test in its own empty folder, so `runs/` never leaks between tests."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def never_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    """``lit-classifier serve`` fails the test if it starts serving: for the refusals before it."""
    import litserve

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server started")

    monkeypatch.setattr(litserve.LitServer, "run", started)


@pytest.fixture(scope="session")
def trained_server(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of ``lit-classifier serve`` of ``trained`` with ``server_process.OPTIONS``: one
    server (per test process) for every test that needs no other options, as each start costs seconds
    of imports. The modules that use it share an ``xdist_group``, so that ``-n 2`` starts it once."""
    from server_process import OPTIONS, served

    with served([f"--ckpt_path={trained}", *OPTIONS], tmp_path_factory.mktemp("server")) as base:
        yield base


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkpoint of a short command-line run on digits (one per test process), for tests that
    read it or plant something into a copy of it: they never change the file itself."""
    from helpers import FAST, cli, run_dir

    folder = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        return folder / run_dir(cli("fit", *FAST, "--plots.enabled=false")) / "checkpoints" / "last.ckpt"
