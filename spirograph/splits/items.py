"""How the items of a split are made: drawn from ``(seed, split, i)``, rendered, stored as in a file.

Shared by the writer (what goes into a file) and ``SpirographRendered`` (the same items without a
file), so the two cannot drift apart.
"""

from __future__ import annotations

import numpy as np
import torch

from .._validate import bad_value
from ..factors import FactorSpace
from ..generator import Generator
from ..generators import get as get_generator
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


def resolve_generator(space, generator, resolution, options, **named) -> tuple[FactorSpace, dict]:
    """The factor space and complete, validated render options of a request.

    ``named`` options that are None are left to the generator's defaults (Spirograph's
    ``n_points``, ``extent``, ``normalize`` keep their 0.2 keywords); an option the generator does
    not have is refused in one line naming it.

    Raises:
        ValueError: unknown generator or option, a bad option value, or a ``space`` of another generator.
    """
    if space is not None and not isinstance(space, FactorSpace):
        raise bad_value("space", type(space).__name__, "a spirograph.FactorSpace")
    spec = get_generator(generator) if generator is not None else (space.spec if space is not None else get_generator())
    if space is None:
        space = FactorSpace(generator=spec)
    elif space.spec is not spec:
        raise bad_value("space", f"a space of generator {space.generator!r}", f"a space of generator {spec.name!r}")
    if options is not None and not isinstance(options, dict):
        raise bad_value("options", options, "a dict of render options")
    requested = {"resolution": resolution, **{k: v for k, v in named.items() if v is not None}, **(options or {})}
    return space, spec.render_options(requested)
