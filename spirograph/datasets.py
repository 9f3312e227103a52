"""The 0.1 import path of the torch Datasets, kept so existing code runs: the code lives in ``spirograph.splits.datasets``."""

from .splits.datasets import TARGETS, SpirographH5, SpirographRendered

__all__ = ["TARGETS", "SpirographH5", "SpirographRendered"]
