"""Spirograph: a differentiable, GPU-batched synthetic benchmark for representation learning."""

from ._version import __version__
from .factors import DEFAULT_CONTENT, DEFAULT_NUISANCE, DEFAULT_RANGES, FACTOR_GROUPS, FACTOR_NAMES, Factor, FactorSpace
from .generator import Spirograph
from .generators.spirograph.render import render
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


def __getattr__(name: str):
    # spirograph.viz needs matplotlib: imported on first use, so `import spirograph` stays light and
    # `spirograph.viz.sample_grid(...)` works after a plain `import spirograph`.
    if name == "viz":
        import importlib

        return importlib.import_module(".viz", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
