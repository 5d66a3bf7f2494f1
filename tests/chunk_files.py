"""litdata chunks for the tests: a folder converted as a user would, and splits of any samples."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from data_files import write_image_folder
from lit_classifier.command.optimize import main as optimize_command


def write_chunks(output: Path, samples: list[dict[str, Any]]) -> None:
    """``samples`` as one litdata split at ``output``, each field with the serializer litdata picks."""
    from litdata import optimize

    optimize(
        samples.__getitem__,
        list(range(len(samples))),
        str(output),
        num_workers=1,
        chunk_bytes="1MB",
        mode="overwrite",
        verbose=False,
        start_method="fork" if "fork" in multiprocessing.get_all_start_methods() else None,
    )


def converted_photos(folder: Path) -> Path:
    """photos/ converted by ``lit-classifier-optimize``, as a user would: chunks that are fine."""
    write_image_folder(folder.parent / "photos", per_class=4)
    source = ["--data=lit_classifier.ImageFolderDataModule", f"--data.root={folder.parent / 'photos'}"]
    optimize_command([*source, f"--output_dir={folder}", "--num_workers=1"])
    return folder
