"""Seeded splits: the same seed gives the same split on every machine and every process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch.utils.data import Dataset, Subset, random_split


def random_split_indices(size: int, fractions: Sequence[float], seed: int) -> tuple[torch.Tensor, ...]:
    """Split ``range(size)`` into a remainder and one part per fraction, in a seeded random order
    (``torch.utils.data.random_split``; each part's size rounded, the remainder first).

    ``random_split_indices(100, (0.1, 0.2), seed=0)`` gives index tensors of 70, 10 and 20.
    """
    if any(not 0 <= f < 1 for f in fractions) or sum(fractions) >= 1:
        raise ValueError(
            f"split fractions must each be in [0, 1) and sum to less than 1, got {list(fractions)}"
        )
    sizes = [round(size * f) for f in fractions]
    numbers = cast("Dataset[int]", range(size))  # what random_split needs: a length and indexing
    parts: list[Subset[int]] = random_split(
        numbers, [size - sum(sizes), *sizes], torch.Generator().manual_seed(seed)
    )
    return tuple(torch.as_tensor(part.indices, dtype=torch.long) for part in parts)
