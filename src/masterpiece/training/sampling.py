"""Data order that a stopped run can resume exactly, in the middle of an epoch.

The order of each epoch is a permutation drawn from ``(seed, epoch)`` alone, and every
item carries the key ``(epoch, index)`` from which the dataset draws its augmentation
(scale, crop, flip). A run that stops after ``k`` samples of an epoch therefore resumes by
starting the same permutation at position ``k``: the samples, their crops and their order
are those of an uninterrupted run, whatever happened in between (and whichever worker
process loads them).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


def epoch_permutation(size: int, seed: int, epoch: int) -> list[int]:
    """The order of ``range(size)`` in ``epoch`` (a function of ``seed`` and ``epoch`` only)."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(size, generator=generator).tolist()


class ResumableEpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)`` keys for one epoch, from a start position.

    Args:
        size: number of items in the dataset.
        seed: the run's seed.
        rank, world_size: this process's share under data parallelism (every ``world_size``-th
            item of the permutation, as :class:`~torch.utils.data.DistributedSampler` does
            without padding).

    Call :meth:`set_epoch` before each epoch; ``start`` counts the samples this process
    already consumed in that epoch (resume), in units of items.
    """

    def __init__(self, size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.seed, self.rank, self.world_size = size, seed, rank, world_size
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def _own_indices(self) -> list[int]:
        order = epoch_permutation(self.size, self.seed, self.epoch)
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index in self._own_indices()[self.start :]:
            yield (self.epoch, index)

    def __len__(self) -> int:
        return max(0, len(self._own_indices()) - self.start)

    def items_per_epoch(self) -> int:
        """Items this process sees in a whole epoch (independent of ``start``)."""
        return len(self._own_indices())
