"""Top-5 accuracy, per-class accuracy and the confusion matrix of validation and test runs."""

from __future__ import annotations

import csv

import pytest
import torch

from helpers import FAST, cli, last_value, read_metrics, run_dir
from lit_classifier.metrics import ConfusionMatrix, StageMetrics, balanced_accuracy


def read_rows(path: object) -> list[list[str]]:
    with open(str(path), newline="") as file:
        return list(csv.reader(file))


def test_confusion_matrix_counts_true_against_predicted() -> None:
    metric = ConfusionMatrix(num_classes=3)
    logits = torch.tensor([[9.0, 0, 0], [0, 9.0, 0], [0, 9.0, 0], [0, 0, 9.0]])

    metric.update(logits, torch.tensor([0, 1, 2, 2]))

    assert metric.compute().tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


@pytest.mark.parametrize(("classes", "has_top5"), [(5, False), (6, True)])
def test_top5_only_where_there_are_more_than_5_classes(classes: int, has_top5: bool) -> None:
    metrics = StageMetrics(classes, detailed=True)
    # The right class always ranks second: top-1 misses, top-5 hits.
    logits = torch.arange(classes, dtype=torch.float).repeat(4, 1)
    metrics.update(torch.tensor(1.0), logits, torch.full((4,), classes - 2))

    values = metrics.compute()

    assert values["acc"] == 0
    assert ("top5_acc" in values) is has_top5
    if has_top5:
        assert values["top5_acc"] == 1


def test_training_metrics_stay_lean() -> None:
    metrics = StageMetrics(10)

    assert metrics.top5 is None and metrics.confusion_counts is None


def test_fit_and_test_write_the_confusion_matrix_and_per_class_accuracy() -> None:
    fitted = cli("fit", *FAST)
    folder = run_dir(fitted)
    tested = cli(
        "test", *FAST, "--trainer.limit_test_batches=2", f"--ckpt_path={folder}/checkpoints/last.ckpt"
    )

    val_matrix = read_rows(folder / "val_confusion_matrix.csv")
    assert val_matrix[0] == ["true \\ predicted", *[str(d) for d in range(10)]]
    assert sum(int(n) for row in val_matrix[1:] for n in row[1:]) == 2 * 64  # limit_val_batches=2
    per_class = read_rows(folder / "val_per_class_accuracy.csv")
    assert per_class[0] == ["class", "correct", "total", "recall", "precision"]
    correct = sum(int(row[1]) for row in per_class[1:])
    assert correct / (2 * 64) == pytest.approx(last_value(read_metrics(folder), "val_acc"), abs=1e-6)
    assert last_value(read_metrics(folder), "val_top5_acc") >= last_value(read_metrics(folder), "val_acc")
    test_folder = run_dir(tested)
    assert (test_folder / "test_confusion_matrix.csv").is_file()
    assert (test_folder / "test_per_class_accuracy.csv").is_file()


def test_balanced_accuracy_is_the_mean_recall_of_the_classes_seen() -> None:
    confusion = torch.tensor([[8, 2, 0], [1, 1, 0], [0, 0, 0]])  # no image of the third class

    assert balanced_accuracy(confusion).item() == pytest.approx((8 / 10 + 1 / 2) / 2)


def test_each_evaluation_logs_balanced_accuracy_and_writes_recall_and_precision() -> None:
    folder = run_dir(cli("fit", *FAST, "--best.monitor=val_balanced_acc"))

    rows = read_rows(folder / "val_per_class_accuracy.csv")[1:]
    matrix = [[int(n) for n in row[1:]] for row in read_rows(folder / "val_confusion_matrix.csv")[1:]]
    recalls = [int(correct) / int(total) for _, correct, total, *_ in rows if int(total)]
    assert last_value(read_metrics(folder), "val_balanced_acc") == pytest.approx(
        sum(recalls) / len(recalls), abs=1e-6
    )
    for index, (_, correct, total, recall, precision) in enumerate(rows):
        predicted = sum(row[index] for row in matrix)
        assert recall == (f"{int(correct) / int(total):.6f}" if int(total) else "")
        assert precision == (f"{int(correct) / predicted:.6f}" if predicted else "")
    assert (folder / "checkpoints" / "best.ckpt").is_file()  # ranked by it
