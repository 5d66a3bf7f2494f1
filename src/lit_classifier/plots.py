"""Pictures of a run: learning curves, confusion matrix, the most confidently wrong images.

Every ``lit-classifier fit`` writes them into its run folder (``callbacks/plots.py``); for a finished
run folder ``lit-classifier-plot runs/lightning_logs/version_0`` draws them again (``plot_command.py``).

Figures are built with matplotlib's object API (``Figure``, no ``pyplot``), so nothing needs a display
and a notebook's own matplotlib backend is left alone.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor, nn

#: File names written into the run folder.
CURVES_PNG = "learning_curves.png"
CONFUSION_PNG = "confusion_matrix.png"
MISCLASSIFIED_PNG = "misclassified.png"


@dataclass
class Predictions:
    """What the network said about a set of images: labels and probabilities of every image, and
    the pictures of some of them (``images[i]`` is row ``image_rows[i]``), on the CPU."""

    targets: Tensor
    probabilities: Tensor
    images: Tensor
    image_rows: Tensor

    @property
    def predicted(self) -> Tensor:
        return self.probabilities.argmax(dim=1)


@torch.no_grad()
def collect_predictions(
    model: nn.Module,
    batches: Iterable[Sequence[Tensor]],
    device: torch.device | str = "cpu",
    max_batches: int | float | None = None,
    keep_images: int = 16,
) -> Predictions:
    """Run ``model`` in eval mode over ``(images, labels)`` batches, at most ``max_batches`` of them.

    Only the ``keep_images`` most confidently wrong images are kept, so a large validation set
    costs memory for its labels and probabilities, not for its pictures.
    """
    was_training = model.training
    model.eval()
    targets, probabilities = [], []
    kept: Predictions | None = None
    seen = 0
    try:
        for index, batch in enumerate(batches):
            if max_batches is not None and index >= max_batches:
                break
            x, y = batch[0].to(device), batch[1].cpu()
            p = model(x).float().softmax(dim=1).cpu()
            wrong = p.argmax(dim=1) != y
            rows = seen + wrong.nonzero().flatten()
            mistakes = Predictions(y[wrong], p[wrong], x[wrong.to(x.device)].float().cpu(), rows)
            kept = _surest(mistakes if kept is None else _join(kept, mistakes), keep_images)
            targets.append(y)
            probabilities.append(p)
            seen += len(y)
    finally:
        model.train(was_training)
    if kept is None:
        raise ValueError("no batches to predict on: the validation set is empty")
    return Predictions(torch.cat(targets), torch.cat(probabilities), kept.images, kept.image_rows)


def _join(a: Predictions, b: Predictions) -> Predictions:
    return Predictions(
        torch.cat([a.targets, b.targets]),
        torch.cat([a.probabilities, b.probabilities]),
        torch.cat([a.images, b.images]),
        torch.cat([a.image_rows, b.image_rows]),
    )


def _surest(part: Predictions, count: int) -> Predictions:
    """The ``count`` rows of ``part`` with the highest top probability."""
    order = part.probabilities.max(dim=1).values.argsort(descending=True)[:count]
    return Predictions(
        part.targets[order], part.probabilities[order], part.images[order], part.image_rows[order]
    )


def read_confusion(matrix_csv: Path) -> Tensor:
    """The counts of ``val_confusion_matrix.csv`` (``callbacks/reports.py``): rows true, columns predicted."""
    with matrix_csv.open() as file:
        rows = list(csv.reader(file))[1:]
    return torch.tensor([[int(count) for count in row[1:]] for row in rows])


def read_history(metrics_csv: Path) -> list[dict[str, float]]:
    """One dict per epoch (1-based ``epoch``) from the CSV logger's file: the last value of each key."""
    epochs: dict[int, dict[str, float]] = {}
    with metrics_csv.open() as file:
        for row in csv.DictReader(file):
            if not row.get("epoch"):
                continue
            epoch = int(float(row["epoch"])) + 1
            values = epochs.setdefault(epoch, {"epoch": float(epoch)})
            values.update({key: float(value) for key, value in row.items() if value and key != "epoch"})
    return [epochs[epoch] for epoch in sorted(epochs)]


def learning_curves(history: Sequence[dict[str, float]]) -> Figure:
    """Loss and accuracy per epoch, train and validation, side by side."""
    figure = Figure(figsize=(10, 4), layout="constrained")
    for axes, metric in zip(figure.subplots(1, 2), ("loss", "acc"), strict=True):
        for stage, style in (("train", "o-"), ("val", "s--")):
            points = [
                (row["epoch"], row[f"{stage}_{metric}"]) for row in history if f"{stage}_{metric}" in row
            ]
            if points:
                epochs, values = zip(*points, strict=True)
                axes.plot(epochs, values, style, label=stage)
        axes.set_title("loss" if metric == "loss" else "accuracy")
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle("learning curves")
    return figure


def confusion_figure(matrix: Tensor, class_names: Sequence[str]) -> Figure:
    """The confusion matrix as a heat map; counts written in the cells while they stay legible."""
    size = len(class_names)
    side = min(4 + 0.45 * size, 24)
    figure = Figure(figsize=(side + 1, side), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(matrix.numpy(), cmap="Blues")
    figure.colorbar(image, ax=axes, shrink=0.8)
    if size <= 30:  # beyond that, tick labels and counts overlap
        axes.set_xticks(range(size), labels=class_names, rotation=90 if size > 10 else 0)
        axes.set_yticks(range(size), labels=class_names)
        threshold = matrix.max().item() / 2
        for (true, pred), count in zip(_cells(size), matrix.flatten().tolist(), strict=True):
            if count:
                color = "white" if count > threshold else "black"
                axes.text(pred, true, str(count), ha="center", va="center", color=color, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    correct = int(matrix.trace().item())
    axes.set_title(f"confusion matrix (validation): {correct}/{int(matrix.sum().item())} correct")
    return figure


def _cells(size: int) -> list[tuple[int, int]]:
    return [(row, column) for row in range(size) for column in range(size)]


def misclassified_grid(
    predictions: Predictions,
    class_names: Sequence[str],
    count: int = 16,
    denormalize: Callable[[Tensor], Tensor] | None = None,
) -> Figure:
    """The ``count`` wrong predictions the network was surest of, each titled true / predicted (p)."""
    predicted = predictions.predicted
    total_wrong = int((predicted != predictions.targets).sum())
    image_rows = predictions.image_rows
    wrong = (predicted[image_rows] != predictions.targets[image_rows]).nonzero().flatten()
    confidence = predictions.probabilities[image_rows[wrong]].max(dim=1).values
    chosen = wrong[confidence.argsort(descending=True)][:count]  # positions in `images`
    columns = 8 if len(chosen) > 4 else max(len(chosen), 1)
    rows = max(1, -(-len(chosen) // columns))
    figure = Figure(figsize=(1.6 * columns + 0.4, 1.8 * rows + 0.6), layout="constrained")
    figure.suptitle(f"most confidently wrong validation images ({total_wrong} wrong in all)")
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    if len(chosen) == 0:
        grid[0, 0].text(0.5, 0.5, "none: every image is right", ha="center", va="center")
    images = display_images(predictions.images[chosen], denormalize)
    for axes, index, image in zip(grid.flat, image_rows[chosen].tolist(), images, strict=False):
        true = class_names[int(predictions.targets[index])]
        guess = class_names[int(predicted[index])]
        probability = float(predictions.probabilities[index].max())
        gray = image.shape[-1] == 1
        pixels = (image.squeeze(-1) if gray else image).numpy()
        axes.imshow(pixels, cmap="gray" if gray else None, vmin=0, vmax=1)
        axes.set_title(f"true {true}\npred {guess} ({probability:.2f})", fontsize=9)
    return figure


def display_images(images: Tensor, denormalize: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """(N, C, H, W) model inputs as (N, H, W, 1 or 3) pictures in [0, 1].

    With the data module's ``denormalize`` the original pixels come back; without it each image is
    stretched to [0, 1], which shows any normalised image sensibly.
    """
    if denormalize is not None:
        images = denormalize(images).clamp(0, 1)
    else:
        low = images.amin(dim=(1, 2, 3), keepdim=True)
        high = images.amax(dim=(1, 2, 3), keepdim=True)
        images = (images - low) / (high - low).clamp_min(1e-8)
    if images.shape[1] not in (1, 3):
        images = images[:, :1]
    return images.permute(0, 2, 3, 1)


def denormalizer(datamodule: object) -> Callable[[Tensor], Tensor] | None:
    """Undoes the data module's normalisation: its ``denormalize``, else its ``mean`` and ``std``."""
    method = getattr(datamodule, "denormalize", None)
    if callable(method):
        return method
    mean, std = getattr(datamodule, "mean", None), getattr(datamodule, "std", None)
    if mean is None or std is None:
        return None
    mean_t = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return lambda images: images * std_t + mean_t


def write_plots(
    folder: Path,
    class_names: Sequence[str],
    history: Sequence[dict[str, float]] | None = None,
    confusion: Tensor | None = None,
    predictions: Predictions | None = None,
    denormalize: Callable[[Tensor], Tensor] | None = None,
    count: int = 16,
) -> list[Path]:
    """Write the PNGs there is data for into ``folder``; returns their paths."""
    figures: list[tuple[str, Figure]] = []
    if history:
        figures.append((CURVES_PNG, learning_curves(history)))
    if confusion is not None:
        figures.append((CONFUSION_PNG, confusion_figure(confusion.cpu(), class_names)))
    if predictions is not None:
        figures.append((MISCLASSIFIED_PNG, misclassified_grid(predictions, class_names, count, denormalize)))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, figure in figures:
        figure.savefig(folder / name, dpi=100)
        paths.append(folder / name)
    return paths
