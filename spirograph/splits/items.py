"""How the items of a split are made: drawn from ``(seed, split, i)``, rendered, stored as in a file.

Shared by the writer (what goes into a file) and ``SpirographRendered`` (the same items without a
file), so the two cannot drift apart.
"""

from __future__ import annotations

import numpy as np
import torch

from ..generator import Generator
from .schema import FACTOR_DTYPE, SplitSpec, encode, storage_dtype


def render_items(
    spec: SplitSpec, seed: int, render_options: dict, dtype: str, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items ``lo .. hi-1`` of a split as storage arrays.

    Returns:
        ``(images (n, 3, R, R) of the split's storage dtype, content (n, n_content) float32,
        nuisance (n, n_nuisance) float32)`` as numpy arrays.
    """
    gen = Generator(space=spec.space, **render_options)
    with torch.no_grad():
        images, content, nuisance = gen.items(hi - lo, seed=seed, stream=spec.stream, start=lo)
    return encode(images, storage_dtype(dtype, spec.space)), content.numpy().astype(FACTOR_DTYPE), nuisance.numpy().astype(FACTOR_DTYPE)
