"""Per-class results of an evaluation, as CSV files in the run folder.

A top-1 accuracy hides which classes fail; the confusion matrix says which classes are taken for
which, and per-class accuracy (the matrix's diagonal over its row sums) ranks them.
"""

from __future__ import annotations

import csv
from pathlib import Path

from torch import Tensor


def write_class_report(folder: Path, stage: str, confusion: Tensor, class_names: list[str]) -> list[Path]:
    """Write ``{stage}_confusion_matrix.csv`` and ``{stage}_per_class_accuracy.csv`` into ``folder``.

    ``confusion[i, j]`` counts the images of class ``i`` predicted as class ``j``.
    """
    counts = confusion.cpu().tolist()
    folder.mkdir(parents=True, exist_ok=True)
    matrix_path = folder / f"{stage}_confusion_matrix.csv"
    with matrix_path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["true \\ predicted", *class_names])
        for name, row in zip(class_names, counts, strict=True):
            writer.writerow([name, *row])
    accuracy_path = folder / f"{stage}_per_class_accuracy.csv"
    with accuracy_path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["class", "correct", "total", "accuracy"])
        for index, (name, row) in enumerate(zip(class_names, counts, strict=True)):
            total = sum(row)
            accuracy = f"{row[index] / total:.6f}" if total else ""
            writer.writerow([name, row[index], total, accuracy])
    return [matrix_path, accuracy_path]
