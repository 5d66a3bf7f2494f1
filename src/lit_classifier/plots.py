"""Pictures of a run: learning curves, confusion matrix, the most confidently wrong images.

Every ``lit-classifier fit`` writes them into its run folder (``callbacks/plots.py``); for a finished
run folder ``lit-classifier-plot runs/lightning_logs/version_0`` draws them again (``command/plot.py``).

Figures are built with matplotlib's object API (``Figure``, no ``pyplot``), so nothing needs a display
and a notebook's own matplotlib backend is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor, nn

from lit_classifier.data.interfaces import Standardizes
from lit_classifier.outputs import written_whole

#: File names written into the run folder.
CURVES_PNG = "learning_curves.png"
CONFUSION_PNG = "confusion_matrix.png"
MISCLASSIFIED_PNG = "misclassified.png"


@dataclass
class Mistakes:
    """The wrong predictions a network was surest of, surest first, on the CPU: the input images,
    their labels and class probabilities; ``total`` counts every wrong prediction seen."""

    images: Tensor
    targets: Tensor
    probabilities: Tensor
    total: int


class SurestMistakes:
    """Keeps the ``count`` wrong predictions with the highest top probability, batch after batch.

    Everything stays on the batches' device and nothing is read back until ``result``: kept rows
    and a batch's rows are ranked together with ``topk`` (right answers rank last), so a GPU is
    never made to wait, and memory holds ``count`` images whatever the size of the set.
    """

    def __init__(self, count: int = 16) -> None:
        self.count = count
        self._kept: list[Tensor] | None = None  # score, image, target, probabilities
        self._wrong: Tensor | None = None

    def add(self, images: Tensor, targets: Tensor, logits: Tensor) -> None:
        probabilities = logits.detach().float().softmax(dim=1)
        confidence, predicted = probabilities.max(dim=1)
        wrong = predicted != targets
        wrong_count = wrong.sum()
        self._wrong = wrong_count if self._wrong is None else self._wrong + wrong_count
        columns = [torch.where(wrong, confidence, -1.0), images.detach(), targets, probabilities]
        if self._kept is not None:
            columns = [torch.cat([kept, new]) for kept, new in zip(self._kept, columns, strict=True)]
        order = columns[0].topk(min(self.count, len(columns[0]))).indices
        self._kept = [column[order] for column in columns]

    def result(self) -> Mistakes | None:
        """The mistakes kept, on the CPU; ``None`` before any batch."""
        if self._kept is None or self._wrong is None:
            return None
        score, images, targets, probabilities = (column.cpu() for column in self._kept)
        wrong = score >= 0
        return Mistakes(images[wrong].float(), targets[wrong], probabilities[wrong], int(self._wrong))


@torch.no_grad()
def surest_mistakes(
    model: nn.Module, batches: Iterable[Sequence[Tensor]], device: torch.device | str = "cpu", count: int = 16
) -> Mistakes:
    """Run ``model`` in eval mode over ``(images, labels)`` batches and keep its ``count`` surest mistakes."""
    was_training = model.training
    model.eval()
    mistakes = SurestMistakes(count)
    try:
        for batch in batches:
            images, targets = batch[0].to(device), batch[1].to(device)
            mistakes.add(images, targets, model(images))
    finally:
        model.train(was_training)
    result = mistakes.result()
    if result is None:
        raise ValueError("no batches to predict on: the validation set is empty")
    return result


def learning_curves(history: Sequence[dict[str, float]]) -> Figure:
    """Loss and accuracy per epoch, train and validation, side by side."""
    figure = Figure(figsize=(10, 4))
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.84, wspace=0.2)
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
    labelled = size <= 30  # beyond that, tick labels and counts overlap
    # Fixed margins, sized for the longest class name: a layout engine costs more than the drawing.
    names_width = 0.08 * max(map(len, class_names), default=1) + 0.3 if labelled else 0.3  # inches
    names_height = names_width if labelled and size > 10 else 0.35  # names under it are turned upright
    side = min(4 + 0.45 * size, 24)
    width, height = side + 1.6 + names_width, 0.8 * side + 0.9 + names_height  # the colour bar: a fifth
    figure = Figure(figsize=(width, height))
    figure.subplots_adjust(
        left=(names_width + 0.35) / width,
        right=1 - 1.4 / width,
        bottom=(names_height + 0.45) / height,
        top=1 - 0.45 / height,
    )
    axes = figure.subplots()
    image = axes.imshow(matrix.numpy(), cmap="Blues")
    figure.colorbar(image, ax=axes, shrink=0.8)
    if labelled:
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


#: One picture's cell in the misclassified grid, in inches: the image and its two-line title.
CELL_WIDTH, CELL_HEIGHT, IMAGE_SIDE = 1.6, 1.8, 1.3


def misclassified_grid(
    mistakes: Mistakes,
    class_names: Sequence[str],
    count: int = 16,
    denormalize: Callable[[Tensor], Tensor] | None = None,
) -> Figure:
    """The ``count`` wrong predictions the network was surest of, each titled true / predicted (p).

    One axes whose units are inches holds every picture at its place (a grid of axes costs more to
    lay out and draw than the pictures themselves).
    """
    shown = min(count, len(mistakes.targets))
    columns = 8 if shown > 4 else max(shown, 1)
    rows = max(1, -(-shown // columns))
    width, height = CELL_WIDTH * columns + 0.4, CELL_HEIGHT * rows + 0.6
    figure = Figure(figsize=(width, height))
    figure.suptitle(f"most confidently wrong validation images ({mistakes.total} wrong in all)")
    axes = figure.add_axes((0.2 / width, 0.1 / height, 1 - 0.4 / width, 1 - 0.7 / height))
    axes.set_xlim(0, CELL_WIDTH * columns)
    axes.set_ylim(CELL_HEIGHT * rows, 0)
    axes.axis("off")
    if shown == 0:
        axes.text(CELL_WIDTH * columns / 2, CELL_HEIGHT / 2, "none: every image is right", ha="center")
    images = display_images(mistakes.images[:shown], denormalize) if shown else torch.empty(0)
    for index, image in enumerate(images):
        left = (index % columns) * CELL_WIDTH + (CELL_WIDTH - IMAGE_SIDE) / 2
        top = (index // columns) * CELL_HEIGHT + CELL_HEIGHT - IMAGE_SIDE - 0.05
        gray = image.shape[-1] == 1
        pixels = (image.squeeze(-1) if gray else image).numpy()
        extent = (left, left + IMAGE_SIDE, top + IMAGE_SIDE, top)
        axes.imshow(pixels, cmap="gray" if gray else None, vmin=0, vmax=1, extent=extent, aspect="auto")
        probability = float(mistakes.probabilities[index].max())
        true = class_names[int(mistakes.targets[index])]
        guess = class_names[int(mistakes.probabilities[index].argmax())]
        title = f"true {true}\npred {guess} ({probability:.2f})"
        axes.text(left + IMAGE_SIDE / 2, top - 0.04, title, ha="center", va="bottom", fontsize=9)
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
    """Undoes the data module's standardisation (``interfaces.Standardizes``), if it says what it was."""
    if not isinstance(datamodule, Standardizes):
        return None
    mean_t = torch.as_tensor(datamodule.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std_t = torch.as_tensor(datamodule.std, dtype=torch.float32).view(1, -1, 1, 1)
    return lambda images: images * std_t + mean_t


def write_plots(
    folder: Path,
    class_names: Sequence[str],
    history: Sequence[dict[str, float]] | None = None,
    confusion: Tensor | None = None,
    mistakes: Mistakes | None = None,
    denormalize: Callable[[Tensor], Tensor] | None = None,
    count: int = 16,
) -> list[Path]:
    """Write the PNGs there is data for into ``folder``; returns their paths."""
    figures: list[tuple[str, Figure]] = []
    if history:
        figures.append((CURVES_PNG, learning_curves(history)))
    if confusion is not None:
        figures.append((CONFUSION_PNG, confusion_figure(confusion.cpu(), class_names)))
    if mistakes is not None:
        figures.append((MISCLASSIFIED_PNG, misclassified_grid(mistakes, class_names, count, denormalize)))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, figure in figures:
        with written_whole(folder / name, "wb") as file:  # whole, or not there
            figure.savefig(file, format="png", dpi=100)
        paths.append(folder / name)
    return paths
