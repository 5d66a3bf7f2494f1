"""Outputs written whole: a file or folder a command writes is complete, or absent, or the old one.

A process killed mid-write, or a full disk, must not leave a file that looks finished (a CSV cut
mid-row, a chunk folder holding an earlier conversion's split). So:

- a file is written to ``.<name>.tmp-<pid>-<random>`` beside it, fsynced, then renamed over the
  target (``os.replace`` is atomic on POSIX and Windows): ``written_whole``, or ``replaced_file`` for
  a writer that takes a file name;
- a folder is written into ``.<name>.partial-<pid>-<random>`` beside it and swapped in when complete,
  the old one removed after: ``replaced_folder``. Linux cannot swap two folders in one step, so for an
  instant the name is absent; it never holds a mix of the two. Staging folders of processes that
  died are removed by the next write (never through a link).

Temporary names are unpredictable and created exclusively (``O_EXCL``: an existing name, a link
included, is an error, never opened): a name that only took the process id let anyone who can write
in the folder plant links there for the next process ids, through which ``predict`` or ``fit``
overwrote the file they pointed at. They are not ``tempfile.mkstemp``'s or ``mkdtemp``'s, which
create with mode 0600 or 0700: the outputs keep the permissions that the umask gives.

A full disk, a quota, a read-only or forbidden folder end the write with ``OutputError``, one line
naming the folder and the file, and no temporary file left behind; also when the writer reports the
disk's error as another error (torch's zip writer: ``RuntimeError: ... unexpected pos``).

CSV files are opened in spreadsheets, which run a cell that starts with ``=``, ``+``, ``-``, ``@``
or a tab as a formula; class names and file names come from folders and checkpoints, so every
text cell goes through ``spreadsheet_cell`` (OWASP's advice on CSV injection).
"""

from __future__ import annotations

import csv
import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from lit_classifier.errors import OutputError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
# A new file, never one that exists nor a link (O_EXCL alone refuses them; O_NOFOLLOW where there is one).
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def output_error(error: BaseException, folder: Path, name: str) -> OutputError | None:
    """The ``OutputError`` that says why ``name`` could not be written in ``folder``, or ``None`` for
    an error of another kind (a bug, not the user's disk). The disk's ``OSError`` may also be the
    cause or context of ``error``: torch's zip writer raises a ``RuntimeError`` over it."""
    reason = _disk_errno(error)
    if reason in _NO_SPACE:
        return OutputError(f"no space left in {folder} to write {name}: free some space")
    if reason in _NOT_WRITABLE:
        return OutputError(f"cannot write {name} in {folder}: the folder is read-only or not yours")
    return None


def _disk_errno(error: BaseException) -> int | None:
    """The ``errno`` of the first ``OSError`` in ``error``'s chain; ``None`` for an interrupt (a
    ``KeyboardInterrupt`` while a full disk was reported is still an interrupt) or a chain without one."""
    link: BaseException | None = error
    seen: set[int] = set()
    while isinstance(link, Exception) and id(link) not in seen:
        if isinstance(link, OSError) and link.errno is not None:
            return link.errno
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return None


def _temporary_name(target: Path, kind: str) -> Path:
    """``.<name>.<kind>-<pid>-<random>`` beside ``target``: the process id says whose it is (a dead
    process's staging folder is removed), 64 random bits make it one nobody can plant beforehand."""
    return target.with_name(f".{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(8)}")


@contextmanager
def _reported(target: Path, cleanup: Callable[[], object] = lambda: None) -> Iterator[None]:
    """The block's disk error (a full disk, a read-only folder: ``output_error``) as an ``OutputError``
    naming ``target`` and its folder, after ``cleanup``; any other error as it was, after ``cleanup``."""
    try:
        yield
    except BaseException as error:
        cleanup()
        if reason := output_error(error, target.parent, target.name):
            raise reason from error
        raise


@contextmanager
def replaced_file(path: Path) -> Iterator[Path]:
    """A new empty file beside ``path``, for a writer that takes a file name; it is fsynced and
    becomes ``path`` when the block ends without an error, and is removed otherwise."""
    temporary = _temporary_name(path, "tmp")
    with _reported(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(temporary, _NEW_FILE, 0o666))  # the umask applies, as to any file written
    # A read-only folder refuses the removal too: the error to report is the first.
    with _reported(path, cleanup=lambda: _unlink_if_possible(temporary)):
        yield temporary
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)  # the bytes are on disk before the name points at them
        finally:
            os.close(descriptor)
        os.replace(temporary, path)


def _unlink_if_possible(path: Path) -> None:
    with suppress(OSError):
        path.unlink()


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
    staging = _temporary_name(target, "partial")
    with _reported(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(target)
        staging.mkdir()  # a new folder: an existing one or a link is an error (the umask applies)
    with _reported(target, cleanup=lambda: shutil.rmtree(staging, ignore_errors=True)):
        yield staging
        old = staging.with_name(f"{staging.name}-old")
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)


def _remove_stale(target: Path) -> None:
    """Remove the staging folders beside ``target`` of processes that died (a kill mid-write). A link
    with such a name is left alone, and ``shutil.rmtree`` removes links inside, never what they name."""
    prefix = f".{target.name}.partial-"
    for stale in target.parent.iterdir():
        owner = stale.name.removeprefix(prefix).split("-")[0]
        if stale.name.startswith(prefix) and not stale.is_symlink() and not process_alive(owner):
            shutil.rmtree(stale, ignore_errors=True)


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


def process_alive(pid: str) -> bool:
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
