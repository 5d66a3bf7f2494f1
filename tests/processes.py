"""No test leaves a process behind: the processes the tests start, and what still runs of them.

``helpers.start`` starts each command in a session of its own (DDP's and LitServe's children join it),
and records it here. After each test, ``conftest.py`` ends every session that test started and fails
it if one still ran (a DDP node waiting forever for its peer was found running 15 minutes after a
failed test); when the test run ends, it fails the run if a process started by a test still runs.
Linux's ``/proc`` says which session each process is in; a zombie (ended, not yet waited for) runs
nothing and does not count.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

#: Every process a test started through ``helpers.start``, in order.
STARTED: list[subprocess.Popen[str]] = []


def running(sessions: set[int] | None = None, parent: int | None = None) -> dict[int, str]:
    """The live processes (pid: command line) in one of ``sessions``, or children of ``parent``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # it ended while we looked
            continue
        state, parent_pid, _group, session = stat.rsplit(")", 1)[1].split()[:4]
        if state == "Z":
            continue
        if (sessions and int(session) in sessions) or int(parent_pid) == parent:
            found[int(entry.name)] = command.strip()
    return found


def end_sessions(processes: list[subprocess.Popen[str]]) -> dict[int, str]:
    """SIGKILL whatever still runs in the sessions of ``processes``; what it was."""
    left = running(sessions={process.pid for process in processes})
    for pid in left:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(pid, signal.SIGKILL)
    for process in processes:
        if process.poll() is None:
            process.wait()
    # A SIGKILL is delivered, not done: a killed process shows as running until the kernel has ended
    # it, and a child of a killed parent is reaped by whoever adopts it. Wait until none shows.
    deadline = time.monotonic() + 10
    while set(running(sessions={process.pid for process in processes})) & set(left):
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return left
