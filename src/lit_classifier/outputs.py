"""Outputs written whole: a file or folder a command writes is complete, or absent, or the old one.

A process killed mid-write, or a full disk, must not leave a file that looks finished (a CSV cut
mid-row, a chunk folder holding an earlier conversion's split). So:

- a file is written to ``.<name>.tmp-<pid>`` beside it, fsynced, then renamed over the target
  (``os.replace`` is atomic on POSIX and Windows): ``written_whole``, or ``replaced_file`` for a
  writer that takes a file name;
- a folder is written into ``.<name>.partial-<pid>`` beside it and swapped in when complete, the old
  one removed after: ``replaced_folder``. Linux cannot swap two folders in one step, so for an
  instant the name is absent; it never holds a mix of the two. Staging folders of processes that
  died are removed by the next write.

A full disk, a quota, a read-only or forbidden folder end the write with ``OutputError``, one line
naming the folder and the file, and no temporary file left behind.

CSV files are opened in spreadsheets, which run a cell that starts with ``=``, ``+``, ``-``, ``@``
or a tab as a formula; class names and file names come from folders and checkpoints, so every
text cell goes through ``spreadsheet_cell`` (OWASP's advice on CSV injection).
"""

from __future__ import annotations

import csv
import errno
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from lit_classifier.errors import OutputError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def output_error(error: OSError, folder: Path, name: str) -> OutputError | None:
    """The ``OutputError`` that says why ``name`` could not be written in ``folder``, or ``None`` for
    an ``OSError`` of another kind (a bug, not the user's disk)."""
    if error.errno in _NO_SPACE:
        return OutputError(f"no space left in {folder} to write {name}: free some space")
    if error.errno in _NOT_WRITABLE:
        return OutputError(f"cannot write {name} in {folder}: the folder is read-only or not yours")
    return None


@contextmanager
def replaced_file(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, for a writer that takes a file name; it is fsynced and
    becomes ``path`` when the block ends without an error, and is removed otherwise."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)  # the bytes are on disk before the name points at them
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError) and (reason := output_error(error, path.parent, path.name)):
            raise reason from error
        raise


@contextmanager
def written_whole(path: Path, mode: str = "w", **open_args: Any) -> Iterator[IO[Any]]:
    """A file opened for writing in place of ``path``; ``path`` becomes it only when the block ends
    without an error (``mode``: ``"w"`` or ``"wb"``; ``open_args`` go to ``open``)."""
    with replaced_file(path) as temporary, temporary.open(mode, **open_args) as file:
        yield file


@contextmanager
def replaced_folder(target: Path) -> Iterator[Path]:
    """An empty staging folder beside ``target`` that replaces it when the block ends without an
    error; on an error the staging folder is removed and ``target`` is left as it was."""
    for stale in target.parent.glob(f".{target.name}.partial-*"):
        if not _alive(stale.name.rsplit("-", 1)[-1]):
            shutil.rmtree(stale, ignore_errors=True)
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        yield staging
        old = target.with_name(f".{target.name}.partial-{os.getpid()}-old")
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, OSError) and (reason := output_error(error, target.parent, target.name)):
            raise reason from error
        raise


#: The first characters with which a spreadsheet reads a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> object:
    """``value`` as a CSV cell that a spreadsheet shows as it is: a text that starts like a formula
    gets a leading ``'`` (which spreadsheets hide); numbers are written as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def write_csv(path: Path, header: list[str], rows: Iterable[Iterable[object]]) -> Path:
    """Write ``header`` and ``rows`` as the CSV file ``path``, whole (``written_whole``), each text
    cell made safe to open in a spreadsheet (``spreadsheet_cell``)."""
    with written_whole(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([spreadsheet_cell(cell) for cell in header])
        writer.writerows([spreadsheet_cell(cell) for cell in row] for row in rows)
    return path


def _alive(pid: str) -> bool:
    """Whether the process ``pid`` (a staging folder's suffix) still runs."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
