"""Spirograph: a differentiable, GPU-batched synthetic benchmark for representation learning."""

from ._version import __version__
from .factors import DEFAULT_CONTENT, DEFAULT_NUISANCE, DEFAULT_RANGES, FACTOR_GROUPS, FACTOR_NAMES, Factor, FactorSpace
from .generator import Spirograph
from .render import render
from .harness.score import score

__all__ = [
    "__version__",
    "DEFAULT_CONTENT",
    "DEFAULT_NUISANCE",
    "DEFAULT_RANGES",
    "FACTOR_GROUPS",
    "FACTOR_NAMES",
    "Factor",
    "FactorSpace",
    "render",
    "Spirograph",
    "score",
]

# Datasets over split files (spirograph.splits) and rendered on demand.
from .splits import SpirographH5, SpirographRendered  # noqa: E402

__all__ += ["SpirographH5", "SpirographRendered"]
