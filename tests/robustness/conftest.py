"""Settings for the robustness tests: one torch thread, here and in the processes they start.

The images are tiny (32x48, the network at 64x64): a second thread buys nothing, and on a
busy machine OpenMP's waiting between threads made each image take 0.7 s instead of 0.02 s.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    threads, environment = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"  # for the CLI processes the tests start
    yield
    torch.set_num_threads(threads)
    if environment is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = environment
