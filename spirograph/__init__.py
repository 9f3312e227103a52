"""Spirograph: differentiable, GPU-batched synthetic-image generators (Spirograph first) for representation learning."""

from . import (
    _startup,  # noqa: F401  (first: a command interrupted while torch imports says so in one line)
    generators,
)
from ._version import __version__
from .factors import DEFAULT_CONTENT, DEFAULT_NUISANCE, DEFAULT_RANGES, FACTOR_GROUPS, FACTOR_NAMES, Factor, FactorSpace
from .generator import Generator, Spirograph
from .generators import GeneratorSpec
from .harness.score import score

# The 0.2 module path spirograph.render.<name> is imported first, then the name is bound to the
# function, as in 0.1/0.2.
from .render import render  # noqa: E402, I001

__all__ = [
    "__version__",
    "DEFAULT_CONTENT",
    "DEFAULT_NUISANCE",
    "DEFAULT_RANGES",
    "FACTOR_GROUPS",
    "FACTOR_NAMES",
    "Factor",
    "FactorSpace",
    "Generator",
    "GeneratorSpec",
    "generators",
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
