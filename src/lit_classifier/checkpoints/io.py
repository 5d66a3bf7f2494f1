"""Checkpoint files that are never half-written, and loads that say what a bad file is.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction whose temporary file lives in
the system's temp folder; when that is another file system the final move is a copy, so a process
killed during it leaves a truncated ``last.ckpt``, and nothing is fsynced. ``AtomicCheckpointIO``
writes a temporary file beside the target, fsyncs it and renames it over the target
(``os.replace`` is atomic on POSIX and Windows): at every instant the target is either the old
complete file or the new complete file. A kill during the write can leave a stray
``.<name>.tmp-<pid>`` file behind, never a broken checkpoint; a full disk leaves neither
(``lit_classifier.outputs``, which every output of the package goes through). The folder
is not fsynced after the rename: after a power loss the name may still point at the previous
(complete) file, which is all the atomicity promised.

Loads read plain data only (``weights_only=True`` unless the caller opts out), and a file that is not
a checkpoint is named for what it is (a text file, an image, a truncated archive) rather than
reported as "unsafe", which would steer users toward ``--weights_only false``. Before anything is
read, the archive's entries are sized (a small file must not inflate to gigabytes); after, the
file is upgraded as Lightning upgrades a checkpoint of its version, and its progress (epoch,
global step) must agree with the loops' state that Lightning restores.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from fsspec.utils import get_protocol
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.migration import migrate_checkpoint
from packaging.version import InvalidVersion, Version

from lit_classifier.errors import CheckpointError, OutputError, short_repr
from lit_classifier.framework import saved_counts
from lit_classifier.outputs import written_whole

#: The entry with which Lightning records the version that wrote a checkpoint.
LIGHTNING_VERSION = "pytorch-lightning_version"
#: How many times its own size a checkpoint's archive may inflate to. ``torch.save`` stores its entries
#: uncompressed, so they add up to less than the file; a copy that a zip tool recompressed inflates
#: by its compression ratio, 1.1 to 1.6 for weights and optimizer state (measured on a resnet18, a
#: ViT-tiny and the digits checkpoint). Deflate reaches 1000: a 2 MB file could fill gigabytes.
MAX_INFLATION = 8


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with atomic local writes, plain-data loads and clear load errors.

    Pass it to the Trainer as a plugin (``L.Trainer(plugins=[AtomicCheckpointIO()])``); the command
    line and ``train_model`` do. Remote paths (``s3://...``) keep Lightning's own writer.

    A command reads its ``--ckpt_path`` before the Trainer exists (to take the network and data
    from its record) and hands the loaded checkpoint over (``hand_over``), so that restoring the run
    does not read the file a second time.
    """

    def __init__(self) -> None:
        super().__init__()
        self._handed_over: tuple[Path, dict[str, Any]] | None = None

    def hand_over(self, path: str | Path, checkpoint: dict[str, Any]) -> None:
        """Give the next ``load_checkpoint(path)`` this checkpoint, already read and checked."""
        self._handed_over = (Path(path).resolve(), checkpoint)

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or not is_local(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        atomic_save(checkpoint, Path(path))

    def load_checkpoint(
        self,
        path: str | Path,
        map_location: Callable | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        if not is_local(path):
            return super().load_checkpoint(path, map_location, weights_only is not False)
        handed_over, self._handed_over = self._handed_over, None
        if handed_over is not None and handed_over[0] == Path(path).resolve():
            return handed_over[1]
        return load_checkpoint_file(Path(path), map_location=map_location, weights_only=weights_only)


def atomic_save(checkpoint: dict[str, Any], path: Path) -> None:
    """``torch.save`` to ``path`` through a temporary file in the same folder and a rename."""
    kept = path.exists()
    try:
        with written_whole(path, "wb") as file:
            torch.save(checkpoint, file)
    except OutputError as error:
        intact = f"; the previous {path.name} is intact" if kept else ""
        raise CheckpointError(f"{error}, then resume with --ckpt_path last{intact}") from error


def load_checkpoint_file(
    path: Path, map_location: Any = None, weights_only: bool | None = True
) -> dict[str, Any]:
    """``torch.load`` of a Lightning checkpoint, plain data only unless ``weights_only`` is ``False``.

    Anything else (a missing file, a file of another kind, a truncated copy, pickled objects, a
    PyTorch file that is not a checkpoint) raises a ``CheckpointError`` that names the file and
    says what it is.
    """
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    kind = file_kind(path)
    if kind is not None:
        raise CheckpointError(f"{path} is not a PyTorch checkpoint: it is {kind}")
    check_inflated_size(path)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=weights_only is not False)
    except pickle.UnpicklingError as error:
        first_line = str(error).strip().splitlines()[0]
        raise CheckpointError(
            f"refused to load {path}: it holds pickled objects other than plain data, which could run "
            f"code when loaded ({first_line}). Checkpoints written by lit-classifier never do; only if "
            "you wrote this file yourself and trust it, pass --weights_only false"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as error:
        raise CheckpointError(
            f"cannot read {path}: it is truncated or damaged ({error}); copy it again, or use another "
            "checkpoint of the run"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        holds = type(checkpoint).__name__
        raise CheckpointError(
            f"{path} is a PyTorch file holding a {holds}, not a checkpoint written by Lightning (it has "
            "no state_dict)"
        )
    check_lightning_version(checkpoint, path)
    upgrade(checkpoint, path)
    check_progress(checkpoint, path)
    return checkpoint


def check_inflated_size(path: Path) -> None:
    """Refuse an archive whose entries would inflate to more than ``MAX_INFLATION`` times its size,
    before ``torch.load`` reads any of them (it allocates each entry whole). The sizes are those
    of the archive's directory, which the reader allocates by, so a directory that lies about them
    cannot slip through either."""
    if not zipfile.is_zipfile(path):
        return  # the legacy format, a pickle stream: no archive, nothing compressed
    size = path.stat().st_size
    with zipfile.ZipFile(path) as archive:
        inflated = sum(entry.file_size for entry in archive.infolist())
    if inflated > MAX_INFLATION * size:
        raise CheckpointError(
            f"refused to load {path}: its {size / 2**20:.1f} MiB inflate to {inflated / 2**20:,.0f} MiB "
            "(a compressed archive; torch.save never compresses, and copies compressed by a zip tool "
            f"inflate to less than {MAX_INFLATION} times their size): use the file that torch.save wrote"
        )


def check_lightning_version(checkpoint: dict[str, Any], path: Path) -> None:
    """Lightning migrates a checkpoint by the version that wrote it: a missing or garbled one would
    end the load in a traceback of its migration code, so it is one error naming the file here."""
    version = checkpoint.get(LIGHTNING_VERSION)
    try:
        Version(str(version))
    except InvalidVersion:
        said = "has no" if version is None else f"has {short_repr(version)} as its"
        raise CheckpointError(
            f"{path} {said} {LIGHTNING_VERSION}, which every checkpoint Lightning writes carries: it was "
            "not written by Lightning, or was edited"
        ) from None


def upgrade(checkpoint: dict[str, Any], path: Path) -> None:
    """Upgrade ``checkpoint`` in place as Lightning upgrades a checkpoint of an older version when
    it restores one (``migrate_checkpoint``), here where a failure can name the file: a file whose
    contents are not those of its version (``0.0.1`` over today's loops) fails inside that code."""
    version = checkpoint[LIGHTNING_VERSION]
    try:
        migrate_checkpoint(checkpoint)
    except (LookupError, TypeError, ValueError, AttributeError) as error:
        raise CheckpointError(
            f"{path} has {short_repr(version)} as its {LIGHTNING_VERSION}, but does not hold what a "
            f"checkpoint of that version holds (upgrading it fails: {type(error).__name__} {error}): it was "
            "edited, or not written by Lightning"
        ) from None


def check_progress(checkpoint: dict[str, Any], path: Path) -> None:
    """The ``epoch`` and ``global_step`` of ``checkpoint`` are whole numbers that agree with the loops'
    state, which is what Lightning restores (``restored_progress``): the entries are what a resume
    reports, so one edited alone would misreport where a run continues."""
    restored = restored_progress(checkpoint, path)
    for entry in ("epoch", "global_step"):
        value = checkpoint.get(entry, 0)
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise CheckpointError(f"{path}: its {entry} is {short_repr(value)}, not a whole number")
        if restored is not None and value not in restored[entry]:
            raise CheckpointError(
                f"{path}: its {entry} is {value} but its training loop's state says {max(restored[entry])}; "
                "Lightning writes them together, so the file was edited"
            )


def restored_progress(checkpoint: dict[str, Any], path: Path) -> dict[str, set[int]] | None:
    """What Lightning may restore from ``checkpoint``'s loops as its ``current_epoch`` and
    ``global_step``: the epochs finished, and the optimizer steps taken as counted for automatic and
    for manual optimization (a module's own kind counts, the other stays 0; a file upgraded from
    before Lightning 1.6 has both); ``None`` for a file without loops (``framework.saved_counts``)."""
    try:
        counts = saved_counts(checkpoint)
    except (LookupError, TypeError) as error:
        raise CheckpointError(
            f"{path}: its loops' state is not as Lightning writes it ({type(error).__name__}: {error}): it "
            "was edited, or not written by Lightning"
        ) from None
    if counts is None:
        return None
    epochs, steps = counts
    if not all(isinstance(count, int) for count in (epochs, *steps)):
        raise CheckpointError(f"{path}: its loops' state counts in other than whole numbers: it was edited")
    return {"epoch": {epochs}, "global_step": set(steps)}


#: The first bytes of files people mistake for checkpoints, and what to call them.
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
}


def file_kind(path: Path) -> str | None:
    """What ``path`` is when it cannot be a PyTorch checkpoint; ``None`` when it may be one.

    PyTorch writes a zip archive holding ``*/data.pkl`` (or, before 1.6, a bare pickle stream).
    """
    with path.open("rb") as file:
        head = file.read(512)
    if not head:
        return "an empty file"
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return "a truncated or damaged zip archive (an incomplete copy of a checkpoint?)"
        return None if any(name.endswith("data.pkl") for name in names) else "a zip archive of other files"
    if head.startswith(b"\x80"):  # a pickle stream: the legacy torch.save format
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # not just a character cut at the end of the sample
            return "binary data of an unknown kind"
    return "a text file"


def is_local(path: str | Path) -> bool:
    """Whether ``path`` is on this machine's file system (not ``s3://`` and the like)."""
    return get_protocol(str(path)) in ("file", "local")
