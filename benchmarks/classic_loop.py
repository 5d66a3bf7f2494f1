"""The classic hand-written recipe that lit-classifier replaces: the yardstick of ``user_wait.py``.

``train_model(model, epochs=8, lr=0.05)`` as tutorials write it: SGD with momentum 0.9,
``nn.CrossEntropyLoss``, ``model.train()`` / ``model.eval()``, batches moved to the device, correct
predictions counted with ``torch.max``, a running loss, and training and validation loss and
accuracy printed every epoch. The data is scikit-learn's digits in plain ``TensorDataset`` loaders,
split and standardised as ``DigitsDataModule`` does (1,168 training and 270 validation images,
batches of 64), and the network is lit-classifier's ``SmallCNN``, loaded from its file so that this
script imports no Lightning: as a process it costs what a user's own script costs.

    python benchmarks/classic_loop.py            # 8 epochs (--epochs), one line each
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

SMALL_CNN = Path(__file__).resolve().parents[1] / "src" / "lit_classifier" / "models" / "small_cnn.py"
DIGITS_MEAN, DIGITS_STD = 0.3053, 0.3760  # DigitsDataModule's statistics


def small_cnn() -> nn.Module:
    """lit-classifier's default network, without importing the package (and so Lightning)."""
    spec = importlib.util.spec_from_file_location("small_cnn", SMALL_CNN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    network: nn.Module = module.SmallCNN(num_classes=10)
    network(torch.zeros(1, 1, 8, 8))  # materialise the lazy first convolution
    return network


def digits_splits(seed: int = 0) -> dict[str, TensorDataset]:
    """scikit-learn's digits split as ``DigitsDataModule`` splits them: the same 1,168 training, 270
    validation and 359 test images for a seed, standardised with its statistics."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images).float().div_(16.0).unsqueeze(1)
    images = (images - DIGITS_MEAN) / DIGITS_STD
    labels = torch.from_numpy(digits.target).long()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    parts = {"train": order[:1168], "val": order[1168 : 1168 + 270], "test": order[1168 + 270 :]}
    return {name: TensorDataset(images[part], labels[part]) for name, part in parts.items()}


def digits_loaders(batch_size: int = 64, seed: int = 0) -> tuple[DataLoader, DataLoader]:
    """Training and validation loaders of scikit-learn's digits, the sizes of ``DigitsDataModule``'s."""
    splits = digits_splits(seed)
    shuffle = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(splits["train"], batch_size=batch_size, shuffle=True, generator=shuffle)
    return train_loader, DataLoader(splits["val"], batch_size=batch_size)


def evaluate(model: nn.Module, loader: DataLoader, criterion: nn.Module | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``loader``, in eval mode, on the model's device."""
    criterion = criterion or nn.CrossEntropyLoss()
    device = next(model.parameters()).device
    model.eval()
    loss, correct, total = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            outputs = model(images)
            loss += criterion(outputs, labels).item() * labels.size(0)
            _, predicted = torch.max(outputs, 1)
            correct += (predicted == labels).sum().item()
            total += labels.size(0)
    return loss / total, correct / total


def train_model(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    epochs: int = 8,
    lr: float = 0.05,
    verbose: bool = True,
) -> list[float]:
    """The recipe; returns the seconds of each epoch (training and validation)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    seconds = []
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train()
        running_loss, correct, total = 0.0, 0, 0
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * labels.size(0)
            _, predicted = torch.max(outputs, 1)
            correct += (predicted == labels).sum().item()
            total += labels.size(0)
        train_loss, train_acc = running_loss / total, correct / total
        val_loss, val_acc = evaluate(model, val_loader, criterion)
        seconds.append(time.perf_counter() - start)
        if verbose:
            print(
                f"epoch {epoch + 1}/{epochs} | train loss {train_loss:.4f} acc {train_acc:.4f} | "
                f"val loss {val_loss:.4f} acc {val_acc:.4f} | {seconds[-1]:.1f} s"
            )
    return seconds


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the classic hand-written recipe on the digits")
    parser.add_argument("--epochs", type=int, default=8)
    torch.manual_seed(0)
    train_model(small_cnn(), *digits_loaders(), epochs=parser.parse_args().epochs)
