"""What a test starts ends with it: the sessions ``helpers.start`` opens are found and ended whole."""

from __future__ import annotations

import time
from pathlib import Path

from helpers import start
from processes import end_sessions, running


def test_a_started_command_and_its_children_are_found_and_ended(tmp_path: Path) -> None:
    parent = start(["sh", "-c", "sleep 300 & sleep 300; wait"], tmp_path)
    started = ["sh -c sleep 300 & sleep 300; wait", "sleep 300", "sleep 300"]  # the shell, its two sleeps
    deadline = time.monotonic() + 60
    while sorted(running(sessions={parent.pid}).values()) != started and time.monotonic() < deadline:
        time.sleep(0.01)  # until both children have replaced the shell's copy with sleep

    left = end_sessions([parent])

    assert sorted(left.values()) == started
    assert running(sessions={parent.pid}) == {}
    assert parent.returncode is not None
