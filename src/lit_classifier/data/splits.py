"""Seeded splits: the same seed gives the same split on every machine and every process."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def random_split_indices(size: int, fractions: Sequence[float], seed: int) -> tuple[torch.Tensor, ...]:
    """Split ``range(size)`` into a remainder and one part per fraction, in a seeded random order.

    ``random_split_indices(100, (0.1, 0.2), seed=0)`` gives index tensors of 70, 10 and 20. These are
    the parts ``torch.utils.data.random_split`` gives for the same sizes and seed, which took 15 times
    as long here, making Python lists (``benchmarks/library_features.py``).
    """
    if any(not 0 <= f < 1 for f in fractions) or sum(fractions) >= 1:
        raise ValueError(
            f"split fractions must each be in [0, 1) and sum to less than 1, got {list(fractions)}"
        )
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    sizes = [round(size * f) for f in fractions]
    return tuple(torch.split(order, [size - sum(sizes), *sizes]))
