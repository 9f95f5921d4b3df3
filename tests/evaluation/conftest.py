"""Synthetic images of known colours for the evaluation tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
import torch

from masterpiece.evaluation.data import EvalImage


def striped_rgb(
    colours: Sequence[tuple[float, float, float]], widths: Sequence[int], height: int = 8
) -> torch.Tensor:
    """``(1, 3, height, sum(widths))`` RGB made of vertical bands of the given colours."""
    bands = [
        torch.tensor(c, dtype=torch.float32).view(3, 1, 1).expand(3, height, w)
        for c, w in zip(colours, widths)
    ]
    return torch.cat(bands, dim=-1).unsqueeze(0).contiguous()


def striped_image(
    colours: Sequence[tuple[float, float, float]], widths: Sequence[int], name: str = "stripes.png"
) -> EvalImage:
    return EvalImage.from_rgb(name, striped_rgb(colours, widths))


def random_images(count: int, height: int = 24, width: int = 32, seed: int = 0) -> list[EvalImage]:
    generator = torch.Generator().manual_seed(seed)
    return [
        EvalImage.from_rgb(f"random_{i}.png", torch.rand(1, 3, height, width, generator=generator))
        for i in range(count)
    ]


@pytest.fixture(scope="session")
def make_striped_image() -> Callable[..., EvalImage]:
    """``make_striped_image(colours, widths)``: an :class:`EvalImage` of vertical colour bands."""
    return striped_image


@pytest.fixture(scope="session")
def make_random_images() -> Callable[..., list[EvalImage]]:
    """``make_random_images(count)``: seeded random-noise :class:`EvalImage` objects."""
    return random_images
